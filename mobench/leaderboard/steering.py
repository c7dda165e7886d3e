"""Does λ steer? The numbers behind the page's steering views, readable at any number of
objectives (pairwise fronts are not, beyond three).

The steering matrix of a front answered on a preference grid holds, at row ``i`` and column ``j``,
Spearman's rho between the weight ``λ_i`` and the score ``f_j`` across the grid. A method that
steers perfectly raises an objective's score exactly as its weight rises: a bright diagonal, and
off the diagonal the price paid on the other objectives. Its diagonal's mean is the
``controllability`` metric (same conventions: a weight that never changes gives no row, NaN; a
score that never changes while the weight does gives rho = 0).

The optimal policy answers each λ with the point of the task's optimal front that maximizes
``<λ, f>`` (linear scalarization, the first such point where several tie): its matrix is what
the grid allows a method to reach.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def _rho(weight: np.ndarray, score: np.ndarray) -> float:
    if np.ptp(weight) == 0.0:
        return float("nan")
    if np.ptp(score) == 0.0:
        return 0.0
    return float(spearmanr(weight, score).statistic)


def steering_matrix(front: np.ndarray, preferences: np.ndarray) -> np.ndarray:
    """(m, m): ``[i, j]`` = Spearman rho of ``λ_i`` with ``f_j`` over the grid's rows."""
    front = np.asarray(front, dtype=float)
    preferences = np.asarray(preferences, dtype=float)
    if front.ndim != 2 or front.shape != preferences.shape:
        raise ValueError(f"front {front.shape} and preferences {preferences.shape} must both be "
                         "(n preferences, m objectives)")
    m = front.shape[1]
    return np.array([[_rho(preferences[:, i], front[:, j]) for j in range(m)] for i in range(m)])


def optimal_answers(reference_front: np.ndarray, preferences: np.ndarray) -> np.ndarray:
    """(n, m): for each preference, the reference-front point maximizing ``<λ, f>``."""
    reference_front = np.asarray(reference_front, dtype=float)
    preferences = np.asarray(preferences, dtype=float)
    if reference_front.ndim != 2 or len(reference_front) == 0 or (
            reference_front.shape[1] != preferences.shape[1]):
        raise ValueError(f"reference front {reference_front.shape} must be (k >= 1, m) for "
                         f"preferences {preferences.shape}")
    return reference_front[np.argmax(preferences @ reference_front.T, axis=1)]


def steering_curve(front: np.ndarray, preferences: np.ndarray,
                   objective: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``λ_objective`` on the grid (ascending) and the mean score on that
    objective over the grid's rows at each."""
    weights = np.asarray(preferences, dtype=float)[:, objective]
    scores = np.asarray(front, dtype=float)[:, objective]
    levels = np.unique(weights)
    return levels, np.array([scores[weights == level].mean() for level in levels])
