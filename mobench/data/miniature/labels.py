"""Bradley-Terry label noise: preference labels drawn from the ground truth as humans give them.

A labeller shown responses with true scores ``s_0`` and ``s_1`` prefers response 1 with probability
``sigmoid(beta * (s_1 - s_0))``. Large ``beta`` is a careful labeller; ties are coin flips.
"""

from __future__ import annotations

import numpy as np


def preference_probability(score_0: np.ndarray, score_1: np.ndarray, beta: float) -> np.ndarray:
    """Probability that response 1 is preferred over response 0."""
    diff = np.asarray(score_1, dtype=np.float64) - np.asarray(score_0, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-beta * diff))


def sample_preferred_ids(score_0: np.ndarray, score_1: np.ndarray, beta: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Id (0 or 1) of the preferred response of each pair, drawn with Bradley-Terry noise."""
    if beta <= 0:
        raise ValueError(f"the Bradley-Terry beta must be positive, got {beta}")
    p_one = preference_probability(score_0, score_1, beta)
    return (rng.random(p_one.shape) < p_one).astype(np.int64)


def expected_agreement(score_0: np.ndarray, score_1: np.ndarray, beta: float) -> float:
    """Expected share of noisy labels that agree with the truth, over pairs that are not tied."""
    diff = np.abs(np.asarray(score_1, dtype=np.float64) - np.asarray(score_0, dtype=np.float64))
    untied = diff > 0
    if not untied.any():
        raise ValueError("every pair is tied: agreement with the truth is undefined")
    return float(np.mean(1.0 / (1.0 + np.exp(-beta * diff[untied]))))


def agreement(preferred_ids: np.ndarray, score_0: np.ndarray, score_1: np.ndarray) -> float:
    """Share of labels that agree with the truth, over pairs that are not tied."""
    score_0, score_1 = np.asarray(score_0, dtype=np.float64), np.asarray(score_1, dtype=np.float64)
    untied = score_0 != score_1
    truth = (score_1 > score_0).astype(np.int64)
    return float(np.mean(np.asarray(preferred_ids)[untied] == truth[untied]))
