"""Frozen, typed specs shared by tasks, methods, evaluation and the run store.

Every spec is a frozen dataclass with documented fields, so a resolved run can be written to JSON,
compared on resume and read back without executing anything.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mobench.core.errors import ConfigError, PreferenceError

Scale = Literal["tiny", "paper"]
SCALES: tuple[str, ...] = ("tiny", "paper")


@dataclass(frozen=True)
class Objective:
    """One objective of a task.

    Attributes:
        name: short identifier, used as a column name (``helpful``, ``harmless``...).
        description: one line saying what the objective rewards.
        direction: ``"max"`` when a higher raw score is better, ``"min"`` when lower is better
            (a cost model's output, say). Metrics always see the maximization convention.
        bounds: raw scores ``(low, high)`` mapped to 0 and 1 after the direction flip. Fixed per
            task and scale, never per run, so that numbers compare across runs and methods.
    """

    name: str
    description: str
    bounds: tuple[float, float]
    direction: Literal["max", "min"] = "max"

    def __post_init__(self) -> None:
        if self.direction not in ("max", "min"):
            raise ValueError(f"objective {self.name!r}: direction must be 'max' or 'min'")
        low, high = self.bounds
        if not high > low:
            raise ValueError(f"objective {self.name!r}: bounds need low < high, got {self.bounds}")

    def normalize(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores to the maximization convention: ``low -> 0``, ``high -> 1``, unclipped."""
        low, high = self.bounds
        raw = np.asarray(raw, dtype=np.float64)
        if self.direction == "max":
            return (raw - low) / (high - low)
        return (high - raw) / (high - low)


@dataclass(frozen=True)
class DecodingConfig:
    """Decoding used for every method's evaluation; seeded per batch by the evaluation protocol.

    Attributes:
        max_new_tokens: generation budget per response.
        temperature: sampling temperature (ignored when ``do_sample`` is false).
        top_p: nucleus sampling mass.
        do_sample: sample (true) or decode greedily (false).
    """

    max_new_tokens: int = 48
    temperature: float = 1.0
    top_p: float = 1.0
    do_sample: bool = True

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("decoding.max_new_tokens must be at least 1")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError("decoding.temperature must be a positive finite number")
        if not 0 < self.top_p <= 1:
            raise ValueError("decoding.top_p must lie in (0, 1]")


@dataclass(frozen=True)
class EvaluationConfig:
    """How a policy is evaluated: the same for every method on a task.

    Attributes:
        decoding: the decoding settings.
        batch_size: (preference, prompt) cells per generate call. Part of the protocol because each
            batch is seeded on its own: the same batches give the same samples for every method.
        max_prompts: evaluate on the first ``max_prompts`` eval prompts only (0: all of them).
        grid_points: 0 (default) evaluates the task's preference grid; N > 0 a coarser grid of
            at most N vectors of the same design, vertices included (quick checks, CI's micro
            runs; results on another grid do not compare with the leaderboards').
        n_bootstrap: bootstrap resamples over prompts for confidence intervals (0: none).
        confidence: the confidence level of those intervals.
        interval: ``auto`` (default: per metric, the form that covered in simulation; see
            :mod:`mobench.metrics.bootstrap`), ``basic``, ``percentile`` or ``hull``; every
            interval holds its estimate.
    """

    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    batch_size: int = 32
    max_prompts: int = 0
    grid_points: int = 0
    n_bootstrap: int = 200
    confidence: float = 0.95
    interval: Literal["auto", "basic", "percentile", "hull"] = "auto"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("eval.batch_size must be at least 1")
        if self.max_prompts < 0:
            raise ValueError("eval.max_prompts must be 0 (all) or positive")
        if self.grid_points < 0:
            raise ValueError("eval.grid_points must be 0 (the task's grid) or positive")
        if self.n_bootstrap < 0:
            raise ValueError("eval.n_bootstrap must be 0 or positive")
        if not 0 < self.confidence < 1:
            raise ValueError("eval.confidence must lie in (0, 1)")


TrainingSignal = Literal["sft", "dpo", "ppo"]
TRAINING_SIGNALS: tuple[str, ...] = ("sft", "dpo", "ppo")
SFTData = Literal["objective_columns", "chosen_responses", "none"]


@dataclass(frozen=True)
class TrainingSpec:
    """How a task trains methods at one scale: its default signal and the data it offers.

    Methods read this instead of knowing tasks: a method whose config says ``signal: auto``
    trains with ``default_signal``, and a method that needs a kind of data the task does not offer
    fails with one line before anything is trained.

    Attributes:
        default_signal: ``sft``, ``dpo`` or ``ppo``: the per-objective training signal of the
            papers' setting for this task and scale (or the one measured to work at tiny scale;
            the task's docstring says why).
        preference_pairs: the task offers ``prompt``/``chosen``/``rejected`` pairs for every
            objective (``TaskData.preference_pairs``), so DPO (and MODPO) can train.
        sft_data: where per-objective SFT data comes from: ``objective_columns`` (the SFT
            corpus's ``response_<objective>`` columns, one response per objective and prompt),
            ``chosen_responses`` (each objective's chosen responses of its pairs) or ``none``.
        rl_prompts: the task offers training prompts for on-policy training (PPO rollouts,
            online rounds).
        reward_scorers: the task offers training scorers (reward models) that methods may call.
    """

    default_signal: TrainingSignal = "dpo"
    preference_pairs: bool = True
    sft_data: SFTData = "chosen_responses"
    rl_prompts: bool = True
    reward_scorers: bool = True

    def __post_init__(self) -> None:
        if self.default_signal not in TRAINING_SIGNALS:
            raise ValueError(f"training signal must be one of {', '.join(TRAINING_SIGNALS)}, "
                             f"got {self.default_signal!r}")
        if self.sft_data not in ("objective_columns", "chosen_responses", "none"):
            raise ValueError(f"sft_data must be objective_columns, chosen_responses or none, "
                             f"got {self.sft_data!r}")
        if self.sft_data == "chosen_responses" and not self.preference_pairs:
            raise ValueError("sft_data 'chosen_responses' needs preference pairs")
        if not self.offers(self.default_signal):
            raise ValueError(f"the default signal {self.default_signal!r} needs data the task "
                             "does not offer")

    def offers(self, signal: str) -> bool:
        """Whether the task offers what ``signal`` trains on."""
        if signal == "dpo":
            return self.preference_pairs
        if signal == "sft":
            return self.sft_data != "none"
        if signal == "ppo":
            return self.rl_prompts and self.reward_scorers
        return False


@dataclass(frozen=True)
class TaskSpec:
    """What a task is at one scale: the part every method and metric agrees on.

    Attributes:
        name: the task's registry name.
        scale: ``tiny`` (self-contained, CPU) or ``paper`` (real datasets and models).
        objectives: the objectives, in the order of every preference vector and score column.
        preference_grid: the evaluation grid, one preference vector per row (on the simplex).
        reference_point: hypervolume reference point in normalized (maximization) space.
        base_model: hub id or local path of the default reference policy.
        primary_scorer: which scorer set (``reward_model``, ``exact``...) the leaderboard ranks by.
        prompt_template: how a raw prompt is shown to the policy; ``{prompt}`` marks the spot.
        training: the training signal and data the task offers methods at this scale.
    """

    name: str
    scale: str
    objectives: tuple[Objective, ...]
    preference_grid: tuple[tuple[float, ...], ...]
    reference_point: tuple[float, ...]
    base_model: str
    primary_scorer: str
    prompt_template: str = "{prompt}"
    training: TrainingSpec = field(default_factory=TrainingSpec)

    def __post_init__(self) -> None:
        m = len(self.objectives)
        if m < 2:
            raise ValueError(f"task {self.name!r} needs at least two objectives")
        names = [o.name for o in self.objectives]
        if len(set(names)) != m:
            raise ValueError(f"task {self.name!r} has repeated objective names: {names}")
        if len(self.reference_point) != m:
            raise ValueError(f"task {self.name!r}: reference point needs {m} coordinates")
        validate_preferences(np.asarray(self.preference_grid, dtype=np.float64), m)
        if "{prompt}" not in self.prompt_template:
            raise ValueError(f"task {self.name!r}: prompt_template lacks '{{prompt}}'")

    @property
    def objective_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objectives)

    @property
    def grid(self) -> np.ndarray:
        """The preference grid as an (n, m) float array."""
        return np.asarray(self.preference_grid, dtype=np.float64)

    def normalize(self, raw_scores: np.ndarray) -> np.ndarray:
        """Normalize a (..., m) array of raw scores objective by objective."""
        raw_scores = np.asarray(raw_scores, dtype=np.float64)
        return np.stack([o.normalize(raw_scores[..., j]) for j, o in enumerate(self.objectives)],
                        axis=-1)

    def format_prompt(self, prompt: str) -> str:
        return self.prompt_template.replace("{prompt}", prompt)


@dataclass(frozen=True)
class CostRecord:
    """What a method spent to produce its steerable policy; reported beside quality.

    Attributes:
        models_trained: full models trained (DPS trains one per preference vector).
        adapters_trained: adapters trained (an adapter per expert for Rewarded Soups, say).
        trainable_parameters: parameters updated by training, summed over models and adapters.
        train_seconds: wall-clock of ``fit``, measured by the harness, not by the method.
        generated_tokens: tokens the method generated while training (PPO rollouts, RiC's online
            rounds); evaluation tokens are counted apart.
        reward_calls: reward-model or scorer calls made while training, counted by the harness.
        reused: parts of the policy that were not trained in this run but reused (an expert
            found in the asset cache, say), each with the cost its own training recorded; the
            counters above include its counts (it is part of what the policy cost), while
            ``train_seconds`` is this run's wall-clock only; reuse is neither hidden nor charged
            twice.
    """

    models_trained: int = 0
    adapters_trained: int = 0
    trainable_parameters: int = 0
    train_seconds: float = 0.0
    generated_tokens: int = 0
    reward_calls: int = 0
    reused: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PREFERENCE_TOLERANCE = 1e-6


def validate_preferences(preferences: np.ndarray, n_objectives: int) -> np.ndarray:
    """Check that each row is a preference vector on the simplex of ``n_objectives``; return it.

    Accepts an (m,) vector or an (n, m) array. Raises :class:`PreferenceError` naming the problem.
    """
    prefs = np.asarray(preferences, dtype=np.float64)
    if prefs.ndim == 1:
        prefs = prefs[None, :]
    if prefs.ndim != 2 or prefs.shape[0] == 0:
        raise PreferenceError(f"preferences must be a vector or an (n, m) array, "
                              f"got shape {prefs.shape}")
    if prefs.shape[1] != n_objectives:
        raise PreferenceError(
            f"preference has {prefs.shape[1]} weights but the task has {n_objectives} objectives")
    if not np.all(np.isfinite(prefs)):
        raise PreferenceError("preference weights must be finite numbers")
    if np.any(prefs < 0):
        raise PreferenceError("preference weights must not be negative")
    sums = prefs.sum(axis=1)
    bad = np.abs(sums - 1.0) > PREFERENCE_TOLERANCE
    if np.any(bad):
        raise PreferenceError(f"preference weights must sum to 1, got {sums[bad][0]:.6g}")
    return prefs


def parse_preference(text: str, n_objectives: int) -> np.ndarray:
    """Parse ``"0.2,0.8"`` into a validated (m,) preference vector."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise PreferenceError(
            f"preference {text!r} is not a comma-separated list of numbers") from None
    return validate_preferences(np.asarray(values), n_objectives)[0]


def as_tuple_grid(grid: Sequence[Sequence[float]] | np.ndarray) -> tuple[tuple[float, ...], ...]:
    """A hashable, JSON-friendly copy of a preference grid."""
    return tuple(tuple(float(v) for v in row) for row in np.asarray(grid, dtype=np.float64))


# numpy's legacy generators (RandomState, np.random.seed) take seeds below 2**32; every seed a
# run uses (training, data, decoding) must fit them.
MAX_SEED = 2**32 - 1


def check_seed(seed: object, where: str = "seed") -> int:
    """``seed`` as an int in [0, MAX_SEED], or a :class:`ConfigError` saying what is allowed."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{where} must be an integer from 0 to {MAX_SEED}, got {seed!r}")
    return seed


@dataclass(frozen=True)
class RunSpec:
    """A fully resolved run: what was asked for, and everything needed to redo it.

    Attributes:
        method: registry name of the method.
        task: registry name of the task.
        scale: ``tiny`` or ``paper``.
        seed: seeds training, data building and evaluation decoding.
        method_config: the method's config dataclass, every field resolved.
        task_config: the task's config dataclass, every field resolved.
        evaluation: the evaluation protocol's settings.
    """

    method: str
    task: str
    scale: str
    seed: int
    method_config: Any
    task_config: Any
    evaluation: EvaluationConfig
