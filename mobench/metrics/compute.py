"""From a run's normalized per-prompt scores to a MetricsReport: every metric on the front (mean
over prompts) and its bootstrap confidence interval over prompts."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from mobench.metrics.bootstrap import (
    IntervalMethod,
    bootstrap_interval,
    check_interval_method,
    interval_form,
    resample_prompt_indices,
    resampled_fronts,
)
from mobench.metrics.distance import (
    generational_distance,
    igd_plus,
    inverted_generational_distance,
)
from mobench.metrics.distribution import spacing, sparsity
from mobench.metrics.hypervolume import hypervolume
from mobench.metrics.pareto import distinct_non_dominated
from mobench.metrics.preference import controllability, expected_utility, inner_product
from mobench.metrics.report import Direction, MetricsReport, MetricValue
from mobench.metrics.validation import (
    as_reference_front,
    as_scores,
    as_simplex_rows,
    as_vector,
)

# Report order, which way is better, and the one-line definition stored beside each value.
METRICS: dict[str, tuple[Direction, str]] = {
    "hypervolume": ("higher", "volume weakly dominated by the front and dominating the task's "
                              "reference point (maximization, normalized rewards)"),
    "hypervolume_share": ("higher", "hypervolume divided by the reference front's (the task's "
                                    "optimal front: the most any policy can dominate on these "
                                    "prompts); the denominator is fixed, so the interval is the "
                                    "hypervolume's, scaled"),
    "inner_product": ("higher", "mean over preferences of <lambda, f(lambda)>"),
    "sparsity": ("lower", "sum over objectives of squared gaps between sorted values of the "
                          "distinct non-dominated points, divided by (n - 1)"),
    "spacing": ("lower", "Schott's spacing: sample std (ddof=1) of each distinct non-dominated "
                         "point's Euclidean distance to its nearest neighbour"),
    "gd": ("lower", "mean Euclidean distance from each front point to the nearest reference-front "
                    "point"),
    "igd": ("lower", "mean Euclidean distance from each reference-front point to the nearest "
                     "front point"),
    "igd_plus": ("lower", "IGD+: mean over reference-front points z of min over front points a of "
                          "||max(z - a, 0)||"),
    "non_dominated_count": ("higher", "number of distinct non-dominated points of the front"),
    "non_dominated_share": ("higher", "non_dominated_count divided by the number of preferences"),
    "eum": ("higher", "expected utility: mean over weights w of max over front points p of "
                      "<w, p>"),
    "controllability": ("higher", "mean over objectives j of Spearman rho(lambda_j, f_j) across "
                                  "the grid"),
}

# Where each metric can lie; a bootstrap interval is clipped to it. Unlisted: unbounded. The
# non-dominated share's floor depends on the grid (see valid_range).
VALID_RANGES: dict[str, tuple[float | None, float | None]] = {
    "hypervolume": (0.0, None), "hypervolume_share": (0.0, None), "sparsity": (0.0, None),
    "spacing": (0.0, None),
    "gd": (0.0, None), "igd": (0.0, None), "igd_plus": (0.0, None),
    "non_dominated_count": (1.0, None), "controllability": (-1.0, 1.0),
}


def valid_range(metric: str, n_preferences: int) -> tuple[float | None, float | None]:
    """Where ``metric`` can lie on a front of ``n_preferences`` points: a front always has at
    least one non-dominated point, so its share is at least 1/n."""
    if metric == "non_dominated_share":
        return 1.0 / n_preferences, 1.0
    return VALID_RANGES.get(metric, (None, None))

MetricValues = dict[str, float | None]


def compute_metrics(
    scores: np.ndarray,
    preferences: np.ndarray,
    reference_point: np.ndarray,
    reference_front: np.ndarray | None = None,
    reference_hypervolume: float | None = None,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    eum_weights: np.ndarray | None = None,
    interval: IntervalMethod = "auto",
) -> MetricsReport:
    """Every metric of the front ``scores.mean(axis=1)``, with bootstrap intervals over prompts.

    Args:
        scores: (n_preferences, n_prompts, m) per-prompt scores, already normalized by the task's
            fixed bounds to the maximization convention (roughly [0, 1]; values outside are fine).
        preferences: (n_preferences, m) preference vectors, rows on the simplex.
        reference_point: (m,) hypervolume reference point in the same normalized space.
        reference_front: (k, m) normalized reference front (the task's exact front, or the
            non-dominated union of all runs on the task); None reports gd, igd and igd_plus as None.
        reference_hypervolume: the hypervolume of the region the reference front bounds (a
            convex front bounds more than its sampled points cover, so the task states it);
            None reports hypervolume_share as None.
        n_bootstrap: prompt resamples for the intervals; 0 gives no intervals (None).
        confidence: coverage of the intervals, in (0, 1).
        seed: seed of ``numpy.random.default_rng`` for the resamples.
        eum_weights: (k, m) simplex rows over which EUM averages; default: ``preferences``, the
            grid the method was evaluated on, so EUM asks how well the front serves those users.
        interval: ``auto`` (per metric), ``basic``, ``percentile`` or ``hull`` (see
            :mod:`mobench.metrics.bootstrap`).

    Raises:
        ValueError: on shapes that do not fit together, NaN or infinite inputs, preference or
            weight rows off the simplex, or bootstrap settings out of range.
    """
    score_array = as_scores(scores)
    n_preferences, _, n_objectives = score_array.shape
    preference_rows = as_simplex_rows(preferences, "preferences", n_objectives)
    if preference_rows.shape[0] != n_preferences:
        raise ValueError(f"preferences has {preference_rows.shape[0]} rows but scores has "
                         f"{n_preferences} preference rows (axis 0)")
    reference = as_vector(reference_point, "reference_point", n_objectives)
    reference_set = (None if reference_front is None
                     else as_reference_front(reference_front, n_objectives))
    share_base = _check_reference_hypervolume(reference_hypervolume)
    weights = (preference_rows if eum_weights is None
               else as_simplex_rows(eum_weights, "eum_weights", n_objectives))
    _check_bootstrap_settings(n_bootstrap, confidence, seed)
    check_interval_method(interval)

    def metrics_of(front: np.ndarray) -> MetricValues:
        return front_metrics(front, preference_rows, reference, reference_set, weights,
                             reference_hypervolume=share_base)

    point = metrics_of(score_array.mean(axis=1))
    indices = resample_prompt_indices(score_array.shape[1], int(n_bootstrap), int(seed))
    resampled = [metrics_of(front) for front in resampled_fronts(score_array, indices)]

    values = {}
    for name, (direction, definition) in METRICS.items():
        low: float | None = None
        high: float | None = None
        estimate = point[name]
        if estimate is not None and resampled:
            low, high = bootstrap_interval(interval_form(interval, name), estimate,
                                           [r[name] for r in resampled], confidence,
                                           valid_range(name, n_preferences))
        values[name] = MetricValue(estimate, low, high, direction, definition)
    return MetricsReport(values, int(n_bootstrap), float(confidence), int(seed), interval)


def front_metrics(front: np.ndarray, preferences: np.ndarray, reference_point: np.ndarray,
                  reference_front: np.ndarray | None, eum_weights: np.ndarray,
                  reference_hypervolume: float | None = None) -> MetricValues:
    """Every metric of one front (n_preferences, m), keyed as in ``METRICS``; None = undefined."""
    n_non_dominated = distinct_non_dominated(front).shape[0]
    volume = hypervolume(front, reference_point)
    distances: MetricValues = {"gd": None, "igd": None, "igd_plus": None}
    if reference_front is not None:
        distances = {"gd": generational_distance(front, reference_front),
                     "igd": inverted_generational_distance(front, reference_front),
                     "igd_plus": igd_plus(front, reference_front)}
    return {
        "hypervolume": volume,
        "hypervolume_share": (None if reference_hypervolume is None
                              else volume / reference_hypervolume),
        "inner_product": inner_product(front, preferences),
        "sparsity": sparsity(front),
        "spacing": spacing(front),
        **distances,
        "non_dominated_count": n_non_dominated,
        "non_dominated_share": n_non_dominated / front.shape[0],
        "eum": expected_utility(front, eum_weights),
        "controllability": controllability(front, preferences),
    }


def _check_reference_hypervolume(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real) or not (
            math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"reference_hypervolume must be a positive finite number, got {value!r}")
    return float(value)


def _check_bootstrap_settings(n_bootstrap: object, confidence: object, seed: object) -> None:
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, Integral) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    if (isinstance(confidence, bool) or not isinstance(confidence, Real)
            or not 0.0 < float(confidence) < 1.0):
        raise ValueError(f"confidence must be a number strictly between 0 and 1, got "
                         f"{confidence!r}")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
