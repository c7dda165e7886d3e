"""Scores a reward-conditioned policy is asked for (Rewards-in-Context): the training set's score
statistics, the λ -> desired-score mappings, and the online rounds' (MORS) targets and selection.

Every score here is *normalised*: a raw training-scorer score z-normalised by the training set's
mean and standard deviation (population std, as the official code's ``np.std``), clipped to
``±clip`` and rounded to one decimal, the form written into prompts. ``low`` and ``high`` are the
smallest and largest normalised training score of each objective; both mappings and the MORS
targets stay inside ``[low, high]``, the range the policy saw during training.

λ -> desired scores, for m objectives (λ is rescaled to sum to 1 first):

- ``linf`` (the paper's formula, the default): the objective with the largest weight gets
  ``high``; every other one ``min(m·λ_i, 1)·(high_i − low_i) + low_i``;
- ``l2`` (the official evaluation script's): ``λ_i / ‖λ‖₂ · (high_i − low_i) + low_i``.

Both round to one decimal, as the official code does. They differ inside the simplex: at
λ = (0.5, 0.5) ``linf`` asks for the top on both objectives and ``l2`` for 71% of the range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ScoreMapping = Literal["linf", "l2"]
SCORE_MAPPINGS: tuple[str, ...] = ("linf", "l2")


@dataclass(frozen=True)
class ScoreStatistics:
    """Per objective, how raw training scores become the normalised scores of prompts.

    Attributes:
        mean: mean of the raw training scores.
        std: their population standard deviation (positive).
        low: smallest normalised training score.
        high: largest normalised training score.
        clip: normalised scores are clipped to ``[-clip, clip]`` before rounding.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    clip: float

    def __post_init__(self) -> None:
        m = len(self.mean)
        if m == 0 or any(len(v) != m for v in (self.std, self.low, self.high)):
            raise ValueError("mean, std, low and high need one value per objective each")
        if not all(s > 0 for s in self.std):
            raise ValueError(f"every standard deviation must be positive, got {self.std}")
        if any(lo > hi for lo, hi in zip(self.low, self.high, strict=True)):
            raise ValueError(f"low {self.low} exceeds high {self.high}")
        if not self.clip > 0:
            raise ValueError(f"clip must be positive, got {self.clip}")

    @classmethod
    def fit(cls, raw_scores: np.ndarray, clip: float) -> ScoreStatistics:
        """The statistics of an (n, m) array of raw training scores."""
        raw = np.asarray(raw_scores, dtype=np.float64)
        if raw.ndim != 2 or len(raw) < 2:
            raise ValueError(f"need an (n, m) array of raw scores with n >= 2, got {raw.shape}")
        if not np.isfinite(raw).all():
            raise ValueError("the raw training scores hold NaN or infinite values")
        std = raw.std(axis=0)
        constant = [j for j, s in enumerate(std) if not s > 0]
        if constant:
            raise ValueError(f"objective {constant[0]}'s training scores are all equal; "
                             "they cannot be z-normalised")
        mean = raw.mean(axis=0)
        normalised = normalise_scores(raw, mean, std, clip)
        return cls(mean=tuple(mean.tolist()), std=tuple(std.tolist()),
                   low=tuple(normalised.min(axis=0).tolist()),
                   high=tuple(normalised.max(axis=0).tolist()), clip=float(clip))

    @property
    def n_objectives(self) -> int:
        return len(self.mean)

    def normalise(self, raw_scores: np.ndarray) -> np.ndarray:
        """Raw (n, m) scores to the normalised scores written into prompts."""
        raw = np.asarray(raw_scores, dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != self.n_objectives:
            raise ValueError(f"expected (n, {self.n_objectives}) raw scores, got {raw.shape}")
        return normalise_scores(raw, np.asarray(self.mean), np.asarray(self.std), self.clip)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "low": list(self.low),
                "high": list(self.high), "clip": self.clip}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreStatistics:
        return cls(mean=tuple(float(v) for v in data["mean"]),
                   std=tuple(float(v) for v in data["std"]),
                   low=tuple(float(v) for v in data["low"]),
                   high=tuple(float(v) for v in data["high"]), clip=float(data["clip"]))


def normalise_scores(raw: np.ndarray, mean: np.ndarray, std: np.ndarray,
                     clip: float) -> np.ndarray:
    """``round(clip((raw − mean) / std, ±clip), 1)``, with ``-0.0`` written as ``0.0``."""
    z = np.clip((raw - mean) / std, -clip, clip)
    return np.round(z, 1) + 0.0


def desired_scores(preferences: np.ndarray, statistics: ScoreStatistics,
                   mapping: ScoreMapping) -> np.ndarray:
    """The (n, m) normalised scores asked for at each preference row (see the module doc)."""
    weights = _simplex_rows(preferences, statistics.n_objectives)
    low, high = np.asarray(statistics.low), np.asarray(statistics.high)
    m = statistics.n_objectives
    if mapping == "linf":
        shares = np.minimum(m * weights, 1.0)
        shares[np.arange(len(weights)), weights.argmax(axis=1)] = 1.0
    elif mapping == "l2":
        shares = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    else:
        raise ValueError(f"unknown mapping {mapping!r}; choose {' or '.join(SCORE_MAPPINGS)}")
    return np.round(shares * (high - low) + low, 1) + 0.0


def _simplex_rows(preferences: np.ndarray, m: int) -> np.ndarray:
    weights = np.asarray(preferences, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != m:
        raise ValueError(f"expected (n, {m}) preferences, got shape {weights.shape}")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("preference weights must be finite and non-negative")
    totals = weights.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise ValueError("every preference row needs a positive weight")
    return weights / totals


def mors_targets(n: int, statistics: ScoreStatistics, rng: np.random.Generator) -> np.ndarray:
    """(n, m) targets of an online round: every objective at ``high`` but one, which keeps a
    random value in ``[low, high]``.

    As the official code: each row draws one uniform share per objective; the objective with the
    smallest share keeps it (so its value is the minimum of m uniform draws, lower the more
    objectives there are) and every other objective is set to ``high``.
    """
    if n < 1:
        raise ValueError(f"need at least one target, got {n}")
    low, high = np.asarray(statistics.low), np.asarray(statistics.high)
    shares = rng.random((n, statistics.n_objectives))
    kept = shares.argmin(axis=1)
    targets = np.tile(high, (n, 1))
    rows = np.arange(n)
    targets[rows, kept] = low[kept] + shares[rows, kept] * (high[kept] - low[kept])
    return np.round(targets, 1) + 0.0


def above_quantile(scores: np.ndarray, quantile: float) -> np.ndarray:
    """MORS's selection: rows whose score reaches its objective's ``quantile`` on at least one
    objective (thresholds taken over these rows, objective by objective), as a boolean mask."""
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 2 or len(values) == 0:
        raise ValueError(f"need a non-empty (n, m) array of scores, got shape {values.shape}")
    if not 0 <= quantile <= 1:
        raise ValueError(f"the quantile must lie in [0, 1], got {quantile}")
    thresholds = np.quantile(values, quantile, axis=0)
    return np.asarray((values >= thresholds).any(axis=1))

