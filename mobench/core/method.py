"""The method contract: ``fit(context) -> steerable policy``, with its cost counted by the harness.

A method is registered by name (see :mod:`mobench.core.registry`). The harness builds a
:class:`FitContext`, times ``fit`` (:class:`~mobench.core.cost.StageClock`), counts generated
tokens and reward calls where the shared code does the work (:mod:`mobench.core.cost`), and turns
the :class:`~mobench.core.cost.CostMeter` into a :class:`~mobench.core.specs.CostRecord`. Methods
never evaluate themselves: evaluation is :mod:`mobench.run.evaluation`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

from mobench.core.cost import CostMeter, CountingScorer
from mobench.core.policy import SteerablePolicy
from mobench.core.task import Scorer, TaskInstance

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["CostMeter", "CountingScorer", "FitContext", "Method"]


@dataclass(frozen=True)
class FitContext:
    """Everything a method may use to train.

    Attributes:
        task: the loaded task (data, reference policy, spec).
        seed: the run's seed; methods seed all their randomness from it.
        work_dir: a folder of the run for the method's checkpoints, kept across ``--resume``.
        meter: cost counters (the runner's is persisted in ``work_dir``; see
            :mod:`mobench.core.cost`). Generation and scoring done through the harness count into
            it.
        device: the torch device to train on (``cpu``; ``cuda`` at paper scale on a GPU machine),
            resolved by the runner from ``--device``.
        cache_dir: the asset cache, for parts a method may share across runs (experts).
    """

    task: TaskInstance
    seed: int
    work_dir: Path
    meter: CostMeter = field(default_factory=CostMeter)
    device: str = "cpu"
    cache_dir: Path | None = None

    @property
    def reward_scorers(self) -> Mapping[str, Scorer]:
        """The task's training scorers, counted: every call shows up in the cost record."""
        return {name: CountingScorer(scorer, self.meter)
                for name, scorer in self.task.training_scorers.items()}

    def reference_policy(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """A fresh copy of the task's reference policy (model, tokenizer) on :attr:`device`."""
        model, tokenizer = self.task.load_reference_policy()
        if self.device != "cpu":
            model = cast(Any, model).to(self.device)
        return model, tokenizer

    def save_cost(self) -> None:
        """Persist the meter with durable work just written (if the runner's meter persists)."""
        save = getattr(self.meter, "save", None)
        if callable(save):
            save()


class Method(Protocol):
    """An alignment method. Implementations are registered under ``mobench.methods``.

    ``config_class`` is a frozen dataclass of the method's hyper-parameters; the CLI fills it from
    YAML and ``key=value`` overrides and rejects unknown keys.

    Optional: ``variant(spec) -> str`` names the variant the config selects on that task (RS's
    ``factors``/``delta``, a signal and aggregation...); results and leaderboards carry it
    (:func:`method_variant`). ``serves = "point"`` says the method yields one policy that ignores
    the preference (PAMA), so leaderboards draw it as a point, not a front.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, config: Any) -> None: ...

    def fit(self, context: FitContext) -> SteerablePolicy:
        """Train and return a steerable policy (resuming from ``context.work_dir`` if it can)."""
        ...

    def load_policy(self, directory: Path, context: FitContext) -> SteerablePolicy:
        """Rebuild the policy that ``SteerablePolicy.save`` wrote to ``directory``."""
        ...


DEFAULT_VARIANT = "default"


def method_variant(method: Any, spec: Any) -> str:
    """The method's variant name on ``spec``'s task (``default`` when it names none)."""
    variant = getattr(method, "variant", None)
    return str(variant(spec)) if callable(variant) else DEFAULT_VARIANT


def method_serves(method: Any) -> str:
    """``front`` (one answer per preference) or ``point`` (one policy whatever the preference)."""
    return "point" if getattr(method, "serves", "front") == "point" else "front"
