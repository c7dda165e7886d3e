"""The task contract: what a task hands to methods and to the evaluation protocol.

A task is registered by name (see :mod:`mobench.core.registry`). For each scale it states a
:class:`~mobench.core.specs.TaskSpec` (objectives, grid, reference point, base model) cheaply, and
``load`` builds or reads its assets into a :class:`TaskInstance`: data, scorers and the reference
policy. Methods train only on what the instance gives them; evaluation scores with its scorers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from mobench.core.specs import TaskSpec

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@runtime_checkable
class Scorer(Protocol):
    """Scores responses on one objective in its raw units (see ``Objective.bounds``)."""

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """One float per (prompt, response) pair."""
        ...


@dataclass(frozen=True)
class TaskData:
    """The data a task offers to methods, in one schema whatever the source.

    Attributes:
        preference_pairs: per objective name, a dataset with columns ``prompt``, ``chosen``,
            ``rejected`` (the task converts its source schema, PKU-SafeRLHF say, into this).
        sft_corpus: a dataset with columns ``prompt``, ``response`` for supervised fine-tuning,
            with optional per-objective style columns; ``None`` when the task has none.
        eval_prompts: a dataset with columns ``prompt_id`` (str, unique) and ``prompt``.
        train_prompts: prompts for on-policy training (PPO rollouts), columns as ``eval_prompts``.
    """

    preference_pairs: Mapping[str, datasets.Dataset]
    eval_prompts: datasets.Dataset
    train_prompts: datasets.Dataset
    sft_corpus: datasets.Dataset | None = None


@dataclass(frozen=True)
class TaskInstance:
    """A task's loaded assets at one scale and seed.

    Attributes:
        spec: the task spec at this scale.
        data: training and evaluation data.
        scorer_sets: named sets of per-objective scorers, for example ``{"reward_model": {...},
            "exact": {...}}``. Evaluation scores every response with every set, so reward
            over-optimization shows as a gap between the sets. ``spec.primary_scorer`` names the
            set the leaderboard ranks by.
        load_reference_policy: builds the reference policy (model, tokenizer) on demand, since it
            is large at paper scale and some commands never need it.
        training_scorer_set: the scorer set methods may train against (reward models, as in the
            papers); empty means the primary set. See :attr:`training_scorers`.
        reference_fronts: per scorer set, the task's known optimal front in raw units (an
            (k, m) array), for GD/IGD/IGD+; sets without one are measured against the union of
            all runs' fronts by the leaderboard instead.
        reference_hypervolumes: per scorer set with a reference front, the normalized
            hypervolume of the region that front bounds (for a convex front, more than its
            sampled points cover), the denominator of the ``hypervolume_share`` metric.
        extras: task-specific assets a method may use by name (documented by the task).
    """

    spec: TaskSpec
    data: TaskData
    scorer_sets: Mapping[str, Mapping[str, Scorer]]
    load_reference_policy: Callable[[], tuple[PreTrainedModel, PreTrainedTokenizerBase]]
    training_scorer_set: str = ""
    reference_fronts: Mapping[str, np.ndarray] = field(default_factory=dict)
    reference_hypervolumes: Mapping[str, float] = field(default_factory=dict)
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = set(self.spec.objective_names)
        if self.spec.primary_scorer not in self.scorer_sets:
            raise ValueError(f"task {self.spec.name!r}: primary scorer set "
                             f"{self.spec.primary_scorer!r} not among {sorted(self.scorer_sets)}")
        for set_name, scorers in self.scorer_sets.items():
            if set(scorers) != names:
                raise ValueError(f"task {self.spec.name!r}: scorer set {set_name!r} covers "
                                 f"{sorted(scorers)}, expected {sorted(names)}")
        unmatched = set(self.reference_hypervolumes) - set(self.reference_fronts)
        if unmatched:
            raise ValueError(f"task {self.spec.name!r}: reference hypervolumes for "
                             f"{sorted(unmatched)} without a reference front")
        if self.training_scorer_set and self.training_scorer_set not in self.scorer_sets:
            raise ValueError(f"task {self.spec.name!r}: unknown training scorer set "
                             f"{self.training_scorer_set!r}")
        self._check_training_data()

    def _check_training_data(self) -> None:
        """The data must hold what ``spec.training`` says the task offers."""
        training, names = self.spec.training, self.spec.objective_names
        if training.preference_pairs:
            missing = [o for o in names if o not in self.data.preference_pairs]
            if missing:
                raise ValueError(f"task {self.spec.name!r} declares preference pairs but has "
                                 f"none for {', '.join(missing)}")
        if training.sft_data == "objective_columns":
            corpus = self.data.sft_corpus
            columns = [] if corpus is None else corpus.column_names
            missing = [o for o in names if f"response_{o}" not in columns]
            if missing:
                raise ValueError(f"task {self.spec.name!r} declares per-objective SFT columns but "
                                 f"its corpus lacks response_{missing[0]}")

    @property
    def training_scorers(self) -> Mapping[str, Scorer]:
        return self.scorer_sets[self.training_scorer_set or self.spec.primary_scorer]


class Task(Protocol):
    """A benchmark task. Implementations are registered under ``mobench.tasks``.

    ``config_class`` is a frozen dataclass of the task's options (sizes, sources); ``spec`` must be
    cheap (no training, no download) because ``mobench list`` and the CLI's checks call it.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    config_class: ClassVar[type]
    scales: ClassVar[tuple[str, ...]]

    def __init__(self, config: Any) -> None: ...

    def spec(self, scale: str) -> TaskSpec:
        """The task's spec at ``scale``; raises ``MobenchError`` for a scale it does not offer."""
        ...

    def load(self, scale: str, seed: int, cache_dir: Path) -> TaskInstance:
        """Build (once, then cached under ``cache_dir``) or read the task's assets."""
        ...


def check_scale(task: str, scale: str, scales: tuple[str, ...], hint: str = "") -> None:
    """The one check every task runs: ``scale`` must be one the task offers, else one line."""
    from mobench.core.errors import MobenchError

    if scale not in scales:
        extra = f" ({hint})" if hint else ""
        raise MobenchError(f"task {task!r} has no scale {scale!r}; it offers "
                           f"{', '.join(scales)}{extra}")
