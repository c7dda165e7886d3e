"""Policies that serve only some preferences (one model per grid λ: DPS, MODPO).

Such a policy declares them as ``served_preferences``, an (k, m) array. The harness maps every
requested λ to the nearest served one (Euclidean distance on the simplex; ties go to the first in
the policy's order) before calling ``generate``, and the records and the CLI say which answered.
A policy without the attribute serves every λ.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def served_preferences(policy: Any) -> np.ndarray | None:
    """The (k, m) preferences ``policy`` serves, or None when it serves every λ."""
    served = getattr(policy, "served_preferences", None)
    if served is None:
        return None
    served = np.asarray(served, dtype=np.float64)
    if served.ndim != 2 or served.shape[0] == 0:
        raise ValueError(f"served_preferences must be a non-empty (k, m) array, got shape "
                         f"{served.shape}")
    return served


def nearest_served(served: np.ndarray, requested: np.ndarray) -> np.ndarray:
    """Index into ``served`` of the nearest served λ for each requested row (first on ties)."""
    requested = np.atleast_2d(np.asarray(requested, dtype=np.float64))
    if requested.shape[1] != served.shape[1]:
        raise ValueError(f"requested preferences have {requested.shape[1]} weights, the policy "
                         f"serves {served.shape[1]}")
    distances = np.linalg.norm(requested[:, None, :] - served[None, :, :], axis=2)
    return np.argmin(distances, axis=1)  # argmin returns the first minimum: ties go to the first


def answering_preferences(policy: Any, requested: np.ndarray) -> np.ndarray:
    """The λ that will answer each requested row: itself, or the nearest one the policy serves."""
    served = served_preferences(policy)
    requested = np.asarray(requested, dtype=np.float64)
    if served is None:
        return requested
    return served[nearest_served(served, requested)]
