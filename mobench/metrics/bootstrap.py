"""Bootstrap over prompts: the evaluation prompts are a sample, so every metric gets a confidence
interval from fronts rebuilt on resampled prompts.

One resample draws ``n_prompts`` prompt indices with replacement and applies the same indices to
every preference row (the prompts are the sampled unit, not the (preference, prompt) cells).

Two interval methods. ``percentile`` takes the resamples' quantiles as they are. ``basic`` (the
default) reflects them around the estimate, ``[2θ̂ − q_hi, 2θ̂ − q_lo]``, which carries the
estimator's bias over from the bootstrap world. Most front metrics are biased by prompt noise:
noisier means push points outward, so hypervolume is biased up, and controllability (a
correlation) is biased toward 0. A percentile interval then sits on the wrong side of the truth,
often excluding the estimate itself. Measured by simulation (a known 2- to 5-objective front,
Gaussian prompt noise, 48 prompts, 200 resamples, seeded): the 95% percentile interval covered
the true hypervolume in 3% to 70% of repetitions, the basic interval in 95% to 97%
(``tests/metrics/test_bootstrap.py`` keeps a small version of that check).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, get_args

import numpy as np

IntervalMethod = Literal["basic", "percentile"]
INTERVAL_METHODS: tuple[str, ...] = get_args(IntervalMethod)


def resample_prompt_indices(n_prompts: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, n_prompts) prompt indices drawn with replacement from
    ``numpy.random.default_rng(seed)``; the same seed gives the same draws."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_prompts, size=(n_bootstrap, n_prompts))


def resampled_fronts(scores: np.ndarray, indices: np.ndarray) -> Iterator[np.ndarray]:
    """For each row of ``indices``, the front (mean over the chosen prompts) of ``scores``
    (n_preferences, n_prompts, m)."""
    for prompt_indices in indices:
        yield scores[:, prompt_indices, :].mean(axis=1)


def bootstrap_interval(method: IntervalMethod, estimate: float, samples: Sequence[float | None],
                       confidence: float,
                       valid_range: tuple[float | None, float | None] = (None, None),
                       ) -> tuple[float | None, float | None]:
    """The ``method`` interval (see the module docstring) of a metric whose full-sample value is
    ``estimate``, clipped to the metric's ``valid_range`` (a basic interval can leave it, e.g. a
    correlation above 1); (None, None) when no resample is defined."""
    check_interval_method(method)
    low, high = percentile_interval(samples, confidence)
    if low is None or high is None:
        return None, None
    if method == "basic":
        low, high = 2.0 * estimate - high, 2.0 * estimate - low
    floor, ceiling = valid_range
    if floor is not None:
        low, high = max(low, floor), max(high, floor)
    if ceiling is not None:
        low, high = min(low, ceiling), min(high, ceiling)
    return low, high


def check_interval_method(method: str) -> None:
    """Refuse an interval method other than ``basic`` and ``percentile``."""
    if method not in INTERVAL_METHODS:
        raise ValueError(f"unknown interval method {method!r}; interval must be one of "
                         f"{', '.join(INTERVAL_METHODS)}")


def percentile_interval(samples: Sequence[float | None],
                        confidence: float) -> tuple[float | None, float | None]:
    """Equal-tailed percentile interval of the defined (not None) samples, numpy's default linear
    interpolation between order statistics; (None, None) when no sample is defined.

    Resamples where a metric is undefined (e.g. spacing when a resample leaves one non-dominated
    point) are left out rather than counted as a value.
    """
    defined = np.array([s for s in samples if s is not None], dtype=float)
    if defined.size == 0:
        return None, None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(defined, [tail, 1.0 - tail])
    return float(low), float(high)
