"""Every metric of many fronts at once, bit for bit what :func:`front_metrics` gives each one (the
hypervolume from three objectives within 1e-12 relative: see the list below).

The leaderboard's two-stage bootstrap recomputes every metric on ``n_bootstrap x seeds`` resampled
fronts per row and scorer set (43,000 fronts for the committed leaderboards). One front at a time,
most of that goes to per-call overhead: scipy's ``spearmanr`` (argument checks,
``apply_along_axis``, ``corrcoef``) for every objective, pymoo building an indicator per call,
three non-dominated filters per front. Here the fronts are one array (B, n, m) and each metric
is computed for all of them with the same floating-point operations in the same order as for one
front, so the values are the same bits, not merely close (``tests/metrics/test_batch.py`` holds
every metric to equality with :func:`front_metrics`):

- inner product and EUM: the same numpy expressions with a leading batch axis (each reduction runs
  over the same contiguous axis, so it adds in the same order; the matrix products are the same
  BLAS calls, one per front);
- the distinct non-dominated points: dominance is exact comparisons, so a (B, n, n) comparison
  finds the same points as moocore; duplicates are kept once, the first, as ``np.unique`` does;
  sparsity and spacing then run on the fronts with the same number of such points together;
- controllability: Spearman's rho as scipy computes it (ranks, then ``np.corrcoef`` of the two rank
  vectors). Ranks are multiples of 1/2 and their sums and products are exact in floating point,
  so the covariances come out the same whatever the order of the additions; the few roundings
  after them (scaling by 1/(n - 1), the square roots, the two divisions, the clip) are done in
  scipy's order;
- GD: pymoo's distance (``sqrt(sum((-z) - (-a))**2)``), but only to the reference points that can
  be the nearest: the expansion ``|a|^2 - 2 a.z + |z|^2`` (a matrix product) gives every squared
  distance to well within a margin thousands of times its rounding error, and the exact distance
  is taken to every reference point within that margin of the nearest
  (:func:`generational_distances`);
- IGD and IGD+: per front, by the very functions :func:`front_metrics` calls (compiled code; the
  pymoo indicators are built once per batch instead of once per front);
- hypervolume: the one exception to "the same bits". From three objectives, pygmo's compiled WFG
  (:mod:`mobench.metrics.hypervolume_wfg`): the same volume summed in another order, within
  1e-12 relative of :func:`front_metrics`'s, three times faster at ten objectives.

Undefined values (None in :func:`front_metrics`) are NaN here.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from pymoo.indicators.igd import IGD
from pymoo.indicators.igd_plus import IGDPlus
from scipy.stats import rankdata

from mobench.metrics.hypervolume_wfg import batch_hypervolumes

BATCH_METRICS = ("hypervolume", "hypervolume_share", "inner_product", "sparsity", "spacing", "gd",
                 "igd", "igd_plus", "non_dominated_count", "non_dominated_share", "eum",
                 "controllability")
DISTANCES = ("gd", "igd", "igd_plus")
# Comparison tensors (fronts x n x n x m booleans) are built this many elements at a time.
CHUNK_ELEMENTS = 1 << 24
# Relative margin on squared distances when picking the reference points that can be nearest:
# the expansion's rounding error is below (m + 3) * 2**-53 * (|a| + |z|)^2, and the exact
# distance's below (m + 2) * 2**-53 * (|a| + |z|)^2, so 1e-10 leaves a factor of 1e4 up to
# m = 1000 objectives.
DISTANCE_MARGIN = 1e-10
# Rank deviations are multiples of 1/2 and their products of 1/4; sums of n of them stay exact in
# float64 while 4 * n * (n / 2)^2 < 2**53, i.e. up to about 200,000 points (with room to spare).
EXACT_RANK_SUMS_UP_TO = 100_000


def batch_front_metrics(fronts: np.ndarray, preferences: np.ndarray,
                        reference_point: np.ndarray, reference_front: np.ndarray | None,
                        eum_weights: np.ndarray, reference_hypervolume: float | None = None,
                        names: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """Each metric of each front of ``fronts`` (B, n, m), as (B,) arrays keyed as in ``METRICS``
    (NaN where :func:`front_metrics` gives None); ``names`` limits the metrics computed. The other
    arguments are :func:`front_metrics`'s, already checked (finite, shapes that fit)."""
    fronts = np.ascontiguousarray(fronts, dtype=float)
    if fronts.ndim != 3 or fronts.shape[1:] != preferences.shape:
        raise ValueError(f"fronts must be (B, n, m) with (n, m) = {preferences.shape}, got shape "
                         f"{fronts.shape}")
    if not np.all(np.isfinite(fronts)):
        raise ValueError("fronts contain NaN or infinite values")
    wanted = set(BATCH_METRICS if names is None else names)
    unknown = wanted - set(BATCH_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}")
    n_fronts, n_points, _ = fronts.shape
    out: dict[str, np.ndarray] = {}
    undefined = np.full(n_fronts, np.nan)

    if wanted & {"hypervolume", "hypervolume_share"}:
        volumes = batch_hypervolumes(fronts, reference_point)
        out["hypervolume"] = volumes
        out["hypervolume_share"] = (undefined.copy() if reference_hypervolume is None
                                    else volumes / reference_hypervolume)
    if "inner_product" in wanted:
        out["inner_product"] = np.mean(np.sum(fronts * preferences, axis=2), axis=1)
    if "eum" in wanted:
        out["eum"] = np.mean(np.max(eum_weights @ fronts.transpose(0, 2, 1), axis=2), axis=1)
    if wanted & {"sparsity", "spacing", "non_dominated_count", "non_dominated_share"}:
        keep = distinct_non_dominated_masks(fronts)
        counts = keep.sum(axis=1)
        out["non_dominated_count"] = counts.astype(float)
        out["non_dominated_share"] = counts / n_points
        out["sparsity"], out["spacing"] = _spreads(fronts, keep, counts)
    if wanted & set(DISTANCES):
        if reference_front is None:
            for name in DISTANCES:
                out[name] = undefined.copy()
        else:
            out["gd"] = generational_distances(fronts, reference_front)
            inverted, plus = IGD(-reference_front), IGDPlus(-reference_front)
            out["igd"] = np.array([float(inverted(-front)) for front in fronts])
            out["igd_plus"] = np.array([float(plus(-front)) for front in fronts])
    if "controllability" in wanted:
        out["controllability"] = controllabilities(fronts, preferences)
    return {name: out[name] for name in BATCH_METRICS if name in wanted}


def distinct_non_dominated_masks(fronts: np.ndarray) -> np.ndarray:
    """(B, n) mask of each front's distinct non-dominated points (maximization): the rows
    :func:`~mobench.metrics.pareto.distinct_non_dominated` returns, in the same order."""
    n_fronts, n_points, n_objectives = fronts.shape
    keep = np.empty((n_fronts, n_points), dtype=bool)
    earlier = np.triu(np.ones((n_points, n_points), dtype=bool), k=1)  # [j, i]: j < i
    step = max(1, CHUNK_ELEMENTS // max(1, n_points * n_points * n_objectives))
    for start in range(0, n_fronts, step):
        chunk = fronts[start:start + step]
        # at_least[b, j, i]: point j is >= point i in every objective
        at_least = np.all(chunk[:, :, None, :] >= chunk[:, None, :, :], axis=3)
        at_most = at_least.transpose(0, 2, 1)
        dominated = np.any(at_least & ~at_most, axis=1)
        repeated = np.any(at_least & at_most & earlier, axis=1)
        keep[start:start + step] = ~dominated & ~repeated
    return keep


def _spreads(fronts: np.ndarray, keep: np.ndarray,
             counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sparsity and spacing (see :mod:`mobench.metrics.distribution`) of each front's distinct
    non-dominated points, the fronts with the same number of them together."""
    n_fronts, _, n_objectives = fronts.shape
    sparsity = np.full(n_fronts, np.nan)
    spacing = np.full(n_fronts, np.nan)
    for count in np.unique(counts):
        if count < 2:
            continue
        rows = np.flatnonzero(counts == count)
        points = fronts[rows][keep[rows]].reshape(len(rows), int(count), n_objectives)
        gaps = np.diff(np.sort(points, axis=1), axis=1)
        sparsity[rows] = np.sum(gaps**2, axis=(1, 2)) / (count - 1)
        differences = points[:, :, None, :] - points[:, None, :, :]
        distances = np.sqrt(np.sum(differences**2, axis=3))
        distances[:, np.arange(count), np.arange(count)] = np.inf
        spacing[rows] = np.std(distances.min(axis=2), axis=1, ddof=1)
    return sparsity, spacing


def generational_distances(fronts: np.ndarray, reference_front: np.ndarray) -> np.ndarray:
    """GD of each front to ``reference_front`` (k, m), bit for bit pymoo's
    ``GD(-reference)(-front)`` (:func:`~mobench.metrics.distance.generational_distance`).

    pymoo takes the Euclidean distance from every front point ``a`` to every reference point ``z``
    and averages each front point's smallest. Here ``|z|^2 - 2 a.z`` (the squared distance less
    ``|a|^2``, one matrix product for all pairs) finds, for each front point, the reference points
    whose squared distance is within a margin of the least: ``DISTANCE_MARGIN * (|a| + max |z|)^2``,
    above the rounding error of both that expansion and the exact distance. The distance to those
    only is then computed as pymoo computes it, so the smallest is the same number.
    """
    n_fronts, n_points, n_objectives = fronts.shape
    points = fronts.reshape(-1, n_objectives)
    reference = np.ascontiguousarray(reference_front, dtype=float)
    reference_squares = np.sum(reference**2, axis=1)
    farthest = float(np.sqrt(reference_squares.max()))
    nearest = np.empty(points.shape[0])
    step = max(1, CHUNK_ELEMENTS // (4 * max(1, reference.shape[0])))
    for start in range(0, points.shape[0], step):
        chunk = points[start:start + step]
        shifted = reference_squares[None, :] - 2.0 * (chunk @ reference.T)
        margin = DISTANCE_MARGIN * (np.sqrt(np.sum(chunk**2, axis=1)) + farthest) ** 2
        ceiling = np.min(shifted, axis=1) + 2.0 * margin
        rows, columns = np.nonzero(shifted <= ceiling[:, None])
        # pymoo's euclidean_distance on (repeated reference, tiled front) rows: same expression
        exact = np.sqrt((((-reference[columns]) - (-chunk[rows])) ** 2).sum(axis=1))
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        nearest[start:start + step] = np.minimum.reduceat(exact, starts)
    return np.mean(nearest.reshape(n_fronts, n_points), axis=1)


def controllabilities(fronts: np.ndarray, preferences: np.ndarray) -> np.ndarray:
    """Controllability (:func:`~mobench.metrics.preference.controllability`) of each front: the
    mean over objectives of Spearman's rho between the weights and the scores, computed as scipy's
    ``spearmanr`` computes it (see the module docstring); NaN where every objective is skipped."""
    n_fronts, n_points, _ = fronts.shape
    if n_points > EXACT_RANK_SUMS_UP_TO:
        from mobench.metrics.preference import controllability

        return np.array([np.nan if (value := controllability(front, preferences)) is None
                         else value for front in fronts])
    correlations = []
    for j, weight in enumerate(preferences.T):
        if np.ptp(weight) == 0.0:
            continue
        scale = np.true_divide(1, n_points - 1)  # np.cov's 1 / (n - ddof)
        scores = fronts[:, :, j]
        constant = np.ptp(scores, axis=1) == 0.0
        weight_ranks = rankdata(weight)
        score_ranks = rankdata(scores, axis=1)
        # np.cov: deviations from the mean (exact: ranks sum to n (n + 1) / 2), their products
        # summed (exact: multiples of 1/4), then scaled
        weight_dev = weight_ranks - np.mean(weight_ranks)
        score_dev = score_ranks - np.mean(score_ranks, axis=1, keepdims=True)
        cross = np.sum(score_dev * weight_dev, axis=1) * scale
        weight_var = np.sum(weight_dev * weight_dev) * scale
        score_var = np.sum(score_dev * score_dev, axis=1) * scale
        # np.corrcoef: c /= stddev[:, None]; c /= stddev[None, :]; clip; rho = c[1, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = (cross / np.sqrt(score_var)) / np.sqrt(weight_var)
        rho = np.clip(rho, -1.0, 1.0)
        correlations.append(np.where(constant, 0.0, rho))
    if not correlations:
        return np.full(n_fronts, np.nan)
    return np.mean(np.stack(correlations, axis=1), axis=1)
