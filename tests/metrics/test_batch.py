"""Every metric of a batch of fronts is bit for bit what front_metrics gives each front (the
hypervolume from three objectives, pygmo's WFG, within 1e-12 relative): on continuous and on tied
scores, with dominated and repeated points, collapsed fronts (one non-dominated point), constant
objectives, grids with a constant weight, with and without a reference front, in 2 to 10
objectives (10: the hypervolume's own recursion)."""

from __future__ import annotations

import numpy as np
import pytest

from mobench.metrics import METRICS, front_metrics
from mobench.metrics.batch import (
    BATCH_METRICS,
    batch_front_metrics,
    distinct_non_dominated_masks,
    generational_distances,
)
from mobench.metrics.distance import generational_distance
from mobench.metrics.pareto import distinct_non_dominated
from mobench.toolkit.grids import default_grid


def fronts_for(grid: np.ndarray, n_fronts: int, seed: int, ties: bool) -> np.ndarray:
    """Fronts around a steered mean; with ``ties`` the values sit on a coarse lattice, so points
    repeat, tie in single objectives and dominate one another."""
    rng = np.random.default_rng(seed)
    n, m = grid.shape
    fronts = 0.4 + 0.3 * grid[None] + rng.normal(0.0, 0.08, size=(n_fronts, n, m))
    if ties:
        fronts = np.round(fronts * 8) / 8
    fronts[0] = fronts[0, :1]  # one point for every preference: collapsed
    fronts[1, :, 0] = 0.5  # a constant objective
    fronts[2, 1] = fronts[2, 0]  # a repeated point
    fronts[3, 2] = fronts[3, 0] - 0.1  # a dominated point
    return fronts


def reference_for(m: int, seed: int) -> np.ndarray:
    directions = np.abs(np.random.default_rng(seed).normal(size=(60, m)))
    return 0.2 + 0.7 * directions / np.linalg.norm(directions, axis=1, keepdims=True)


# the hypervolume's summation order differs from three objectives on (pygmo's WFG); with two it
# is the same function, and so the same bits, which the tolerance does not need
HYPERVOLUME_RELATIVE = 1e-12


def assert_same(batch: dict[str, np.ndarray], singles: list[dict], names=BATCH_METRICS) -> None:
    for name in names:
        expected = np.array([np.nan if s[name] is None else s[name] for s in singles])
        if name in ("hypervolume", "hypervolume_share"):
            np.testing.assert_allclose(batch[name], expected, rtol=HYPERVOLUME_RELATIVE,
                                       atol=0, equal_nan=True, err_msg=name)
            continue
        assert np.array_equal(batch[name], expected, equal_nan=True), (
            name, batch[name], expected)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("with_reference", [False, True])
@pytest.mark.parametrize("m", [2, 3, 5, 10])
def test_every_metric_of_a_batch_is_the_single_front_value(m, with_reference, ties):
    grid = np.array(default_grid(m))
    if m == 10:
        grid = grid[:16]  # enough points for the hypervolume's recursion, few for the test
        grid = grid / grid.sum(axis=1, keepdims=True)
    fronts = fronts_for(grid, 12, seed=m, ties=ties)
    reference = reference_for(m, m) if with_reference else None
    volume = 0.9 if with_reference else None
    origin = np.zeros(m)
    batch = batch_front_metrics(fronts, grid, origin, reference, grid, volume)
    singles = [front_metrics(f, grid, origin, reference, grid, reference_hypervolume=volume)
               for f in fronts]
    assert list(batch) == list(METRICS)
    assert_same(batch, singles)


def test_a_grid_with_a_constant_weight_and_only_constant_weights():
    # A weight that never changes is skipped by controllability; a grid of one row skips all.
    grid = np.array([[0.5, 0.2, 0.3], [0.5, 0.4, 0.1], [0.5, 0.0, 0.5], [0.5, 0.3, 0.2]])
    fronts = fronts_for(grid, 8, seed=1, ties=True)
    origin = np.zeros(3)
    assert_same(batch_front_metrics(fronts, grid, origin, None, grid),
                [front_metrics(f, grid, origin, None, grid) for f in fronts])
    centre = np.full((1, 3), 1 / 3)
    single = fronts[:, :1, :]
    batch = batch_front_metrics(single, centre, origin, None, centre)
    assert np.isnan(batch["controllability"]).all()
    assert_same(batch, [front_metrics(f, centre, origin, None, centre) for f in single])


def test_a_subset_of_the_metrics():
    grid = np.array(default_grid(3))
    fronts = fronts_for(grid, 4, seed=2, ties=False)
    reference = reference_for(3, 0)
    batch = batch_front_metrics(fronts, grid, np.zeros(3), reference, grid,
                                names=("gd", "igd_plus"))
    assert list(batch) == ["gd", "igd_plus"]
    assert_same(batch, [front_metrics(f, grid, np.zeros(3), reference, grid) for f in fronts],
                names=("gd", "igd_plus"))


def test_distinct_non_dominated_masks_pick_the_same_rows_in_the_same_order():
    grid = np.array(default_grid(3))
    fronts = fronts_for(grid, 20, seed=3, ties=True)
    masks = distinct_non_dominated_masks(fronts)
    for front, mask in zip(fronts, masks, strict=True):
        assert np.array_equal(front[mask], distinct_non_dominated(front))


def test_gd_takes_the_nearest_among_near_ties():
    # Reference points at almost the same distance from a front point (differences far below
    # the candidate margin): the exact nearest must still be found among them.
    rng = np.random.default_rng(4)
    front = rng.random((30, 4))
    reference = np.repeat(front[::3], 5, axis=0) + rng.normal(0.0, 1e-13, size=(50, 4)) + 0.01
    value = generational_distances(front[None], reference)[0]
    assert value == generational_distance(front, reference)


def test_bad_batches_are_refused():
    grid = np.array(default_grid(2))
    with pytest.raises(ValueError, match="shape"):
        batch_front_metrics(np.zeros((2, 3, 2)), grid, np.zeros(2), None, grid)
    fronts = np.full((1, len(grid), 2), 0.5)
    fronts[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        batch_front_metrics(fronts, grid, np.zeros(2), None, grid)
    with pytest.raises(ValueError, match="unknown"):
        batch_front_metrics(np.full_like(fronts, 0.5), grid, np.zeros(2), None, grid,
                            names=("x",))


@pytest.mark.parametrize("m", [2, 3, 4, 7, 10])
def test_batch_hypervolumes_agree_with_the_exact_hypervolume(m):
    from mobench.metrics.hypervolume import hypervolume
    from mobench.metrics.hypervolume_wfg import batch_hypervolumes

    rng = np.random.default_rng(m)
    fronts = rng.uniform(-0.2, 1.0, size=(6, 14, m))  # some points bound no volume
    fronts[5] = -0.1  # none does
    reference = np.zeros(m)
    volumes = batch_hypervolumes(fronts, reference)
    expected = np.array([hypervolume(front, reference) for front in fronts])
    np.testing.assert_allclose(volumes, expected, rtol=HYPERVOLUME_RELATIVE, atol=0)
    assert volumes[5] == 0.0 and np.all(volumes[:5] > 0)
