"""(prompt, response) rows scored by every objective's training scorer, kept as durable stages.

A method that scores a task's training data or its own samples (Rewards-in-Context's offline data
and online rounds) builds these here:

- :func:`task_responses`: every distinct (prompt, response) of a task's training data;
- :func:`sample_responses`: one response per prompt from a model, in counted batches;
- :func:`score_responses`: the rows scored by each objective's scorer (counted scorers count);
- :func:`load_or_run_stage`: a stage's rows saved in the run's work folder with the cost meter's
  state; a resumed run reloads them and puts the meter back to what it was when the stage
  finished, so it reports the same cost as an uninterrupted run and never scores twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mobench.core.cost import CostMeter, active_meters, metering
from mobench.core.policy import derive_seed, generate_texts
from mobench.core.store import read_json, write_json_atomic
from mobench.engine import objective_sft_sets

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from mobench.core.method import FitContext
    from mobench.core.specs import DecodingConfig
    from mobench.core.task import Scorer, TaskInstance

STAGE_FORMAT = 1


@dataclass(frozen=True)
class ScoredResponses:
    """Responses with their raw training scores.

    Attributes:
        prompts: the raw prompts (no template, no scores).
        responses: one response per prompt.
        scores: (n, m) raw scores, one column per objective in the task's order.
        conditions: (n, m) the normalised scores each response was generated under (a
            reward-conditioned policy's targets), or None for data the method did not generate.
    """

    prompts: tuple[str, ...]
    responses: tuple[str, ...]
    scores: np.ndarray
    conditions: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.prompts)
        if len(self.responses) != n or self.scores.ndim != 2 or len(self.scores) != n:
            raise ValueError(f"{n} prompts, {len(self.responses)} responses and scores of shape "
                             f"{self.scores.shape} do not match")
        if self.conditions is not None and self.conditions.shape != self.scores.shape:
            raise ValueError(f"conditions of shape {self.conditions.shape} for scores of shape "
                             f"{self.scores.shape}")

    def __len__(self) -> int:
        return len(self.prompts)

    def select(self, rows: np.ndarray | Sequence[int]) -> ScoredResponses:
        """The rows of a boolean mask or of integer indices, in that order."""
        index = np.asarray(rows)
        index = np.flatnonzero(index) if index.dtype == bool else index.astype(np.int64)
        return ScoredResponses(tuple(self.prompts[i] for i in index),
                               tuple(self.responses[i] for i in index), self.scores[index],
                               None if self.conditions is None else self.conditions[index])

    def concat(self, other: ScoredResponses) -> ScoredResponses:
        """These rows, then ``other``'s (conditions kept only when both have them)."""
        conditions = (None if self.conditions is None or other.conditions is None
                      else np.concatenate([self.conditions, other.conditions]))
        return ScoredResponses(self.prompts + other.prompts, self.responses + other.responses,
                               np.concatenate([self.scores, other.scores]), conditions)

    def to_dict(self) -> dict[str, Any]:
        return {"prompts": list(self.prompts), "responses": list(self.responses),
                "scores": self.scores.tolist(),
                "conditions": None if self.conditions is None else self.conditions.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoredResponses:
        conditions = data.get("conditions")
        return cls(tuple(data["prompts"]), tuple(data["responses"]),
                   np.asarray(data["scores"], dtype=np.float64),
                   None if conditions is None else np.asarray(conditions, dtype=np.float64))


def task_responses(task: TaskInstance, limit: int, seed: int) -> list[tuple[str, str]]:
    """Every distinct (prompt, response) of the task's training data: each objective's SFT data
    (when the task offers it) and both sides of every objective's preference pairs (when it
    offers them). More than ``limit`` rows: a seeded sample of ``limit``, in first-seen order."""
    if limit < 1:
        raise ValueError(f"the row limit must be positive, got {limit}")
    training, rows = task.spec.training, []
    if training.sft_data != "none":
        for data in objective_sft_sets(task).values():
            rows += list(zip(data["prompt"], data["response"], strict=True))
    if training.preference_pairs:
        for pairs in task.data.preference_pairs.values():
            rows += list(zip(pairs["prompt"], pairs["chosen"], strict=True))
            rows += list(zip(pairs["prompt"], pairs["rejected"], strict=True))
    distinct = list(dict.fromkeys(rows))
    if not distinct:
        raise ValueError(f"task {task.spec.name!r} offers no training responses")
    if len(distinct) <= limit:
        return distinct
    keep = np.sort(np.random.default_rng(seed).choice(len(distinct), size=limit, replace=False))
    return [distinct[i] for i in keep]


def score_responses(prompts: Sequence[str], responses: Sequence[str],
                    scorers: Mapping[str, Scorer], objectives: Sequence[str],
                    conditions: np.ndarray | None = None) -> ScoredResponses:
    """Score every row with every objective's scorer (one call per objective)."""
    missing = [o for o in objectives if o not in scorers]
    if missing:
        raise ValueError(f"no scorer for objectives {missing}")
    columns = [np.asarray(scorers[o](list(prompts), list(responses)), dtype=np.float64)
               for o in objectives]
    return ScoredResponses(tuple(prompts), tuple(responses), np.stack(columns, axis=1),
                           conditions)


@contextlib.contextmanager
def counted_by(meter: CostMeter) -> Iterator[None]:
    """Make ``meter`` count this block's generation, unless it already does (the runner makes the
    fit's meter active; a nested :func:`~mobench.core.cost.metering` would count every token
    twice)."""
    if any(active is meter for active in active_meters()):
        yield
        return
    with metering(meter):
        yield


def sample_responses(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                     texts: Sequence[str], decoding: DecodingConfig, seed: int, batch_size: int,
                     meter: CostMeter) -> list[str]:
    """One response per formatted prompt, ``batch_size`` per generate call (batch k seeded with
    ``derive_seed(seed, k)``), the generated tokens counted in ``meter``."""
    if batch_size < 1:
        raise ValueError(f"the batch size must be positive, got {batch_size}")
    responses: list[str] = []
    with counted_by(meter):
        for k, start in enumerate(range(0, len(texts), batch_size)):
            batch = list(texts[start:start + batch_size])
            responses += [g.text for g in generate_texts(model, tokenizer, batch, decoding,
                                                         derive_seed(seed, k))]
    return responses


def load_or_run_stage(path: Path, context: FitContext,
                      run: Callable[[], ScoredResponses]) -> ScoredResponses:
    """The rows a finished stage saved at ``path`` (the meter put back to its state then), or
    ``run()``'s, saved there with the meter's state and persisted cost."""
    if path.exists():
        saved = read_json(path)
        if saved.get("format") != STAGE_FORMAT:
            raise ValueError(f"{str(path)!r} was written by another version of this stage")
        context.meter.restore(saved["meter"])
        return ScoredResponses.from_dict(saved["rows"])
    rows = run()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"format": STAGE_FORMAT, "rows": rows.to_dict(),
                             "meter": context.meter.snapshot()})
    context.save_cost()
    return rows
