"""Golden values for the exact hypervolume (maximization), and agreement with moocore on every path:
moocore directly, and the recursion down to its one- and two-point closed forms."""

from __future__ import annotations

import importlib
import math

import moocore
import numpy as np
import pytest
from pymoo.util.ref_dirs import get_reference_directions

from mobench.metrics import hypervolume

# The package re-exports the function under the module's name, so reach the module explicitly.
hv_module = importlib.import_module("mobench.metrics.hypervolume")


def spherical_front(n_points: int, n_objectives: int, seed: int) -> np.ndarray:
    """Points on the positive orthant of the unit sphere (directions |N(0, I)|, normalized)."""
    directions = np.abs(np.random.default_rng(seed).normal(size=(n_points, n_objectives)))
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def moocore_hv(points: np.ndarray, reference: np.ndarray) -> float:
    return float(moocore.hypervolume(points, ref=reference, maximise=True))


# --- by hand ----------------------------------------------------------------------------------

def test_two_objectives_staircase_by_hand():
    # Boxes [0,1]x[0,3], [0,2]x[0,2], [0,3]x[0,1]. Sweep along x:
    # x in [0,1]: height 3 -> 3; x in [1,2]: height 2 -> 2; x in [2,3]: height 1 -> 1. Total 6.
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(points, np.zeros(2)) == pytest.approx(6.0, abs=1e-12)


def test_three_objectives_by_inclusion_exclusion():
    # Each box has volume 2*1*1 = 2. Any two boxes meet in [0,1]^3 (volume 1), and so do all three.
    # Inclusion-exclusion: 3*2 - 3*1 + 1 = 4.
    points = np.array([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0], [1.0, 1.0, 2.0]])
    assert hypervolume(points, np.zeros(3)) == pytest.approx(4.0, abs=1e-12)


def test_reference_point_shifts_the_boxes():
    # One point: (0.5-0.1) * (0.25-0.05) * (0.4-0.2) = 0.4 * 0.2 * 0.2 = 0.016.
    value = hypervolume(np.array([[0.5, 0.25, 0.4]]), np.array([0.1, 0.05, 0.2]))
    assert value == pytest.approx(0.016, abs=1e-15)


def test_dominated_and_duplicate_points_change_nothing():
    # (0.5, 0.5) lies inside the box of (2, 2); the repeated (2, 2) adds no volume: still 6.
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [0.5, 0.5], [2.0, 2.0]])
    assert hypervolume(points, np.zeros(2)) == pytest.approx(6.0, abs=1e-12)


def test_points_beyond_or_on_the_reference_point_contribute_nothing():
    # (-1, 5) is worse than the reference in objective 0 and (5, 0) only ties it in objective 1:
    # neither dominates a region above the reference. Only (1, 1) counts: volume 1.
    points = np.array([[-1.0, 5.0], [5.0, 0.0], [1.0, 1.0]])
    assert hypervolume(points, np.zeros(2)) == pytest.approx(1.0, abs=1e-12)
    assert hypervolume(np.array([[-1.0, 5.0], [5.0, -2.0]]), np.zeros(2)) == 0.0


def test_all_points_equal_is_one_box():
    # Six copies of (0.5, 0.5, 0.5, 0.5, 0.5, 0.5): 0.5^6 = 0.015625, in 6 objectives so that the
    # duplicates reach this module's own code path rather than moocore's 2-D routine.
    points = np.full((6, 6), 0.5)
    assert hypervolume(points, np.zeros(6)) == pytest.approx(0.015625, abs=1e-15)


def test_empty_front_has_zero_volume():
    assert hypervolume(np.zeros((0, 3)), np.zeros(3)) == 0.0


def test_one_objective_is_the_best_excess():
    # max(0.7, 0.5) - 0.2 = 0.5
    assert hypervolume(np.array([[0.5], [0.7]]), np.array([0.2])) == pytest.approx(0.5, abs=1e-15)


def test_linear_front_staircase():
    # Points (i/n, 1 - i/n), i = 0..n, reference 0. Sweeping x, the strip (x_{i-1}, x_i] has height
    # y_i = 1 - i/n, so HV = (1/n) * sum_{i=1..n} (1 - i/n) = (n - 1) / (2n); n = 10 gives 0.45.
    n = 10
    x = np.arange(n + 1) / n
    points = np.column_stack([x, 1.0 - x])
    assert hypervolume(points, np.zeros(2)) == pytest.approx(0.45, abs=1e-12)


def test_linear_front_in_three_objectives_matches_the_lattice_count():
    # Simplex lattice x + y + z = 1 with step 1/n (reference 0). The dominated region is a union
    # of cells of side 1/n: cell (a, b, c) (a, b, c >= 0 integer corners) is covered iff some
    # lattice point (i, j, k) with i+j+k = n has i > a, j > b, k > c, i.e. iff a + b + c <= n - 3.
    # The number of such cells is C(n, 3), so HV = C(n, 3) / n^3; n = 12 gives 220/1728.
    n = 12
    lattice = get_reference_directions("das-dennis", 3, n_partitions=n)
    assert hypervolume(lattice, np.zeros(3)) == pytest.approx(math.comb(n, 3) / n**3, abs=1e-12)


def test_quarter_circle_approaches_pi_over_four():
    # Points (cos t_i, sin t_i), t_i = i*pi/(2n). Over x in (cos t_i, cos t_{i-1}] the highest box
    # is that of point i-1 (the points with x >= cos t_{i-1} are 0..i-1, and y grows with the
    # index), so the staircase has the exact area A_n = sum_{i=1..n} (cos t_{i-1} - cos t_i) *
    # sin t_{i-1}. The gap to the disc's quarter pi/4 is at
    # most one cell per step: sum dx_i * dy_i <= n * (pi/(2n))^2 = pi^2/(4n) (each |dx|, |dy| is at
    # most the arc length pi/(2n)); n = 2000 bounds it by 1.3e-3.
    n = 2000
    t = np.arange(n + 1) * np.pi / (2 * n)
    points = np.column_stack([np.cos(t), np.sin(t)])
    exact = float(np.sum((np.cos(t[:-1]) - np.cos(t[1:])) * np.sin(t[:-1])))
    value = hypervolume(points, np.zeros(2))
    assert value == pytest.approx(exact, abs=1e-12)
    assert 0.0 < np.pi / 4 - value <= np.pi**2 / (4 * n)


# --- against moocore --------------------------------------------------------------------------

@pytest.mark.parametrize(("n_points", "n_objectives"), [
    (40, 3), (200, 5), (140, 6), (70, 7), (40, 8), (30, 9), (30, 10),
])
def test_matches_moocore_on_spherical_fronts(n_points, n_objectives):
    # Sizes chosen above MOOCORE_MAX_POINTS from 6 objectives on, so the recursion runs.
    for seed in range(2):
        points = spherical_front(n_points, n_objectives, seed)
        reference = np.full(n_objectives, 0.05)
        expected = moocore_hv(points, reference)
        assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_matches_moocore_on_random_clouds_with_dominated_points_and_reference_violations():
    # Uniform clouds: many dominated points, some points below the reference in some objective.
    rng = np.random.default_rng(7)
    for n_objectives in (5, 6, 7, 8):
        points = rng.uniform(-0.1, 1.0, size=(60, n_objectives))
        reference = np.zeros(n_objectives)
        expected = moocore_hv(points, reference)
        assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_forced_deep_recursion_matches_moocore(monkeypatch):
    # With moocore allowed only 3 points, the recursion reaches its own one- and two-point closed
    # forms at every level; a Das-Dennis lattice adds many exact ties in the sliced objective.
    monkeypatch.setattr(hv_module, "MOOCORE_MAX_POINTS", {5: 3, 6: 3, 7: 3, 8: 3, 9: 3})
    monkeypatch.setattr(hv_module, "MOOCORE_MAX_POINTS_HIGH_DIM", 3)
    lattice = get_reference_directions("das-dennis", 6, n_partitions=4)  # 126 points, many ties
    cases = [
        (lattice, np.zeros(6)),
        (spherical_front(25, 5, 1), np.zeros(5)),
        (spherical_front(18, 10, 2), np.full(10, 0.01)),
        (np.vstack([spherical_front(12, 7, 3), spherical_front(12, 7, 3) * 0.9]), np.zeros(7)),
    ]
    for points, reference in cases:
        expected = moocore_hv(points, reference)
        assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_ten_objectives_never_hand_moocore_a_large_subproblem(monkeypatch):
    # The reason this module exists: moocore alone takes 45-51 s for 100 points in 10
    # objectives. Speed is measured in bench/bench_hypervolume.py; here the structure is pinned:
    # every sub-problem moocore sees stays within the size where it is fast.
    hv_module = importlib.import_module("mobench.metrics.hypervolume")

    sizes: list[tuple[int, int]] = []
    real = hv_module._moocore_hypervolume

    def recording(n_objectives):
        indicator = real(n_objectives)

        def call(points):
            sizes.append(points.shape)
            return indicator(points)

        return call

    points = spherical_front(100, 10, 0)
    expected = hypervolume(points, np.zeros(10))
    monkeypatch.setattr(hv_module, "_moocore_hypervolume", recording)
    assert hypervolume(points, np.zeros(10)) == expected
    assert sizes, "the recursion should hand small sub-problems to moocore"
    for n_points, n_objectives in sizes:
        limit = hv_module.MOOCORE_MAX_POINTS.get(n_objectives,
                                                 hv_module.MOOCORE_MAX_POINTS_HIGH_DIM)
        assert n_objectives <= hv_module.MOOCORE_ALWAYS_UP_TO_OBJECTIVES or n_points <= limit


def test_direct_calls_into_moocore_give_what_its_public_functions_give(monkeypatch):
    # The recursion calls moocore's compiled functions directly (its wrappers' overhead is most of
    # the time on small sub-problems); through the public functions the bits must be the same.
    assert hv_module._moocore_c() is not None, "this moocore's library was not recognized"
    fronts = [spherical_front(40, 10, seed) for seed in range(3)]
    fronts += [spherical_front(150, 6, 3), np.round(spherical_front(60, 8, 4) * 4) / 4]
    direct = [hypervolume(front, np.zeros(front.shape[1])) for front in fronts]
    hv_module._moocore_hypervolume.cache_clear()
    try:
        monkeypatch.setattr(hv_module, "_moocore_c", lambda: None)
        public = [hypervolume(front, np.zeros(front.shape[1])) for front in fronts]
    finally:
        hv_module._moocore_hypervolume.cache_clear()
    assert direct == public


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize(("points", "reference", "message"), [
    (np.array([1.0, 2.0]), np.zeros(2), "2-D"),
    (np.ones((3, 2)), np.zeros(3), "shape"),
    (np.array([[np.nan, 1.0]]), np.zeros(2), "NaN"),
    (np.ones((3, 2)), np.array([0.0, np.inf]), "NaN or infinite"),
])
def test_bad_input_raises_value_error(points, reference, message):
    with pytest.raises(ValueError, match=message):
        hypervolume(points, reference)
