"""Prompt resampling, and basic and percentile intervals (with their coverage on a known front)."""

from __future__ import annotations

import numpy as np
import pytest

from mobench.metrics.bootstrap import (
    bootstrap_interval,
    interval_form,
    percentile_interval,
    resample_prompt_indices,
    resampled_fronts,
)
from mobench.metrics.hypervolume import hypervolume
from mobench.toolkit.grids import default_grid


def test_resampling_is_seeded():
    first = resample_prompt_indices(n_prompts=7, n_bootstrap=5, seed=11)
    again = resample_prompt_indices(n_prompts=7, n_bootstrap=5, seed=11)
    other = resample_prompt_indices(n_prompts=7, n_bootstrap=5, seed=12)
    assert first.shape == (5, 7)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.min() >= 0 and first.max() < 7


def test_every_preference_row_sees_the_same_prompts():
    # score[l, p, :] = p for every row l: if rows shared the drawn prompts, every row of every
    # resampled front is the same number, the mean of that resample's prompt indices.
    n_preferences, n_prompts = 4, 6
    scores = np.broadcast_to(np.arange(n_prompts, dtype=float)[None, :, None],
                             (n_preferences, n_prompts, 2))
    indices = resample_prompt_indices(n_prompts, n_bootstrap=3, seed=0)
    for drawn, front in zip(indices, resampled_fronts(scores, indices), strict=True):
        np.testing.assert_allclose(front, np.full((n_preferences, 2), drawn.mean()), atol=1e-12)


def test_percentile_interval_by_hand():
    # Samples 0..100, 90% interval: numpy's linear quantiles at 0.05 and 0.95 are 5 and 95.
    samples = [float(v) for v in range(101)]
    low, high = percentile_interval(samples, confidence=0.9)
    assert low == pytest.approx(5.0, abs=1e-12)
    assert high == pytest.approx(95.0, abs=1e-12)


def test_percentile_interval_leaves_out_undefined_samples():
    low, high = percentile_interval([None, 1.0, None, 3.0], confidence=0.5)
    # Defined samples 1 and 3; quantiles 0.25 and 0.75 by linear interpolation: 1.5 and 2.5.
    assert (low, high) == pytest.approx((1.5, 2.5), abs=1e-12)
    assert percentile_interval([None, None], confidence=0.95) == (None, None)


def test_basic_interval_by_hand():
    # Percentile 90% interval of 0..100 is (5, 95); reflected around the estimate 40: (-15, 75).
    samples = [float(v) for v in range(101)]
    assert bootstrap_interval("basic", 40.0, samples, 0.9) == pytest.approx((-15.0, 75.0))
    assert bootstrap_interval("percentile", 40.0, samples, 0.9) == pytest.approx((5.0, 95.0))
    # clipped to where the metric can lie
    assert bootstrap_interval("basic", 40.0, samples, 0.9, (0.0, 60.0)) == pytest.approx(
        (0.0, 60.0))
    assert bootstrap_interval("basic", 40.0, [None, None], 0.9) == (None, None)


def test_every_interval_holds_its_estimate_and_hull_holds_both_forms():
    samples = [float(v) for v in range(101)]  # 90% percentile interval (5, 95)
    # estimate 2: reflected (4 - 95, 4 - 5) = (-91, -1) would leave the estimate out
    assert bootstrap_interval("basic", 2.0, samples, 0.9) == pytest.approx((-91.0, 2.0))
    # estimate 98: percentile (5, 95) would leave it out
    assert bootstrap_interval("percentile", 98.0, samples, 0.9) == pytest.approx((5.0, 98.0))
    # hull of percentile (5, 95) and basic (-91, -1), with the estimate 2
    assert bootstrap_interval("hull", 2.0, samples, 0.9) == pytest.approx((-91.0, 95.0))
    # clipping to the valid range comes last
    assert bootstrap_interval("basic", 2.0, samples, 0.9, (0.0, None)) == pytest.approx(
        (0.0, 2.0))


def test_auto_picks_hull_for_sparsity_and_spacing_and_basic_elsewhere():
    assert interval_form("auto", "sparsity") == interval_form("auto", "spacing") == "hull"
    assert interval_form("auto", "hypervolume") == interval_form("auto", "eum") == "basic"
    assert interval_form("percentile", "sparsity") == "percentile"
    with pytest.raises(ValueError, match="resolve 'auto' per metric"):
        bootstrap_interval("auto", 1.0, [1.0, 2.0], 0.9)


def test_unknown_interval_method_is_refused():
    with pytest.raises(ValueError, match="unknown interval method 'bca'"):
        bootstrap_interval("bca", 1.0, [1.0, 2.0], 0.9)


def test_non_dominated_share_interval_is_floored_at_one_point():
    from mobench.metrics.compute import valid_range

    assert valid_range("non_dominated_share", 4) == (0.25, 1.0)
    # all but a few resamples collapse to one point: the interval still cannot go below 1/n
    low, _ = bootstrap_interval("basic", 0.25, [0.25] * 90 + [1.0] * 10, 0.95,
                                valid_range("non_dominated_share", 4))
    assert low == pytest.approx(0.25)


def test_basic_interval_covers_a_known_hypervolume_where_the_percentile_one_does_not():
    # A known 3-objective front on hhc's 28-point grid, observed through 48 noisy prompts:
    # prompt noise pushes the estimated front outward, so the hypervolume estimate is biased up
    # and the resamples even more. Over 40 seeded repetitions the basic 95% interval covers the
    # true hypervolume about as often as it should; the percentile interval mostly misses.
    rng = np.random.default_rng(0)
    grid = np.array(default_grid(3))
    true_front = 0.2 + 0.5 * grid ** 0.7
    truth = hypervolume(true_front, np.zeros(3))
    covered = {"basic": 0, "percentile": 0}
    held = {"basic": 0, "percentile": 0}
    repetitions = 40
    for _ in range(repetitions):
        scores = true_front[:, None, :] + 0.3 * rng.standard_normal((len(grid), 48, 3))
        estimate = hypervolume(scores.mean(axis=1), np.zeros(3))
        indices = rng.integers(0, 48, size=(100, 48))
        resampled = [hypervolume(front, np.zeros(3))
                     for front in resampled_fronts(scores, indices)]
        for method in covered:
            low, high = bootstrap_interval(method, estimate, resampled, 0.95)
            covered[method] += low <= truth <= high
            held[method] += low <= estimate <= high
    assert covered["basic"] / repetitions >= 0.85
    assert covered["percentile"] / repetitions <= 0.5
    assert held == {"basic": repetitions, "percentile": repetitions}


def test_every_reported_interval_holds_its_estimate_on_noisy_fronts():
    # sparsity, spacing and controllability are the metrics whose resamples lie wholly beside
    # the estimate on such fronts (their bias can exceed their spread)
    from mobench.metrics import compute_metrics

    rng = np.random.default_rng(1)
    for m in (2, 3):
        grid = np.array(default_grid(m))
        true_front = 0.2 + 0.5 * grid ** 2.0
        for _ in range(6):
            scores = true_front[:, None, :] + 0.3 * rng.standard_normal((len(grid), 48, m))
            report = compute_metrics(scores, grid, np.zeros(m), n_bootstrap=60, seed=0)
            for name, metric in report.metrics.items():
                if metric.value is not None and metric.ci_low is not None:
                    assert metric.ci_low <= metric.value <= metric.ci_high, name
