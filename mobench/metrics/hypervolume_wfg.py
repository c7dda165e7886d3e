"""Exact hypervolumes of many fronts at once, for the leaderboard's bootstrap, by pygmo's compiled
algorithms (its ``hv3d`` for three objectives, WFG above; While, Bradstreet & Barone, IEEE TEVC
2012).

The bootstrap of ``mobench report`` needs the hypervolume of every resampled front (10,800 fronts
of 40 points in 10 objectives for chat10 alone), and :mod:`mobench.metrics.hypervolume` runs its
WFG recursion in Python above moocore's sizes, about 43 ms a front; pygmo runs the same
recursion in C++, about 13 ms (``bench/bench_hypervolume.py``), and 3-objective fronts 30 times
faster. The values are the same volumes summed in another order: they agree with
:func:`~mobench.metrics.hypervolume.hypervolume` to within 1e-12 relative
(``tests/metrics/test_batch.py``), far below the six significant digits a leaderboard prints.
Runs keep :mod:`mobench.metrics.hypervolume` for their own metrics; two objectives (a sort) stay
there too, where pygmo gains nothing.
"""

from __future__ import annotations

import numpy as np

from mobench.metrics.hypervolume import checked_hypervolume

PYGMO_FROM_OBJECTIVES = 3


def batch_hypervolumes(fronts: np.ndarray, reference_point: np.ndarray) -> np.ndarray:
    """(B,) hypervolume of each front of ``fronts`` (B, n, m), all objectives maximized, bounded
    by ``reference_point`` (m,); inputs already checked (finite, shapes that fit)."""
    n_fronts, _, n_objectives = fronts.shape
    if n_objectives < PYGMO_FROM_OBJECTIVES:
        return np.array([checked_hypervolume(front, reference_point) for front in fronts])
    import pygmo

    # pygmo minimizes and wants every point strictly better than the reference point: shift so
    # the reference point is the origin, and leave out the points that bound no volume.
    shifted = reference_point - fronts
    inside = np.all(shifted < 0.0, axis=2)
    origin = np.zeros(n_objectives)
    volumes = np.zeros(n_fronts)
    for b in range(n_fronts):
        points = shifted[b][inside[b]]
        if points.shape[0]:
            volumes[b] = pygmo.hypervolume(points).compute(origin)
    return volumes
