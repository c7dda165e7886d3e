"""The HHC conciseness reward of Panacea: ``r(L) = r_max`` if ``L <= c``, else ``r_max + 1 - L/c``.

``L`` is the response length in tokens. Reimplementations of the paper use ``c = 50`` and
``r_max = 4`` on responses of a few hundred tokens; the miniatures scale ``c`` to their own lengths.
"""

from __future__ import annotations

import numpy as np


def check_conciseness_parameters(c: float, r_max: float) -> None:
    if not c > 0:
        raise ValueError(f"the conciseness threshold c must be positive, got {c}")
    if not np.isfinite(r_max):
        raise ValueError(f"r_max must be a finite number, got {r_max}")


def conciseness_reward(lengths: np.ndarray, c: float, r_max: float) -> np.ndarray:
    """``r(L)`` for each length ``L`` (tokens)."""
    check_conciseness_parameters(c, r_max)
    lengths = np.asarray(lengths, dtype=np.float64)
    return np.where(lengths <= c, r_max, r_max + 1.0 - lengths / c)


def conciseness_bounds(max_length: int, c: float, r_max: float) -> tuple[float, float]:
    """Worst and best reward of a response of at most ``max_length`` tokens."""
    return round(float(conciseness_reward(np.asarray(max_length), c, r_max)), 10), float(r_max)
