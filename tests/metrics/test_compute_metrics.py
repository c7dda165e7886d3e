"""compute_metrics end to end: golden values on a hand-computed front, the bootstrap, edge cases
and bad input."""

from __future__ import annotations

import dataclasses
import json
import math

import moocore
import numpy as np
import pytest

from mobench.metrics import METRICS, MetricsReport, compute_metrics

PREFERENCES = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
FRONT = np.array([[0.9, 0.1], [0.6, 0.5], [0.2, 0.8]])
REFERENCE_FRONT = np.array([[1.0, 0.0], [0.0, 1.0]])
REQUIRED_NAMES = ["hypervolume", "hypervolume_share", "inner_product", "sparsity", "spacing",
                  "gd", "igd", "igd_plus", "non_dominated_count", "non_dominated_share", "eum",
                  "controllability"]


def two_prompt_scores(front: np.ndarray, spread: float = 0.05) -> np.ndarray:
    """Scores on two prompts whose mean is exactly ``front`` (front +- spread)."""
    return np.stack([front + spread, front - spread], axis=1)


def noisy_scores(front: np.ndarray, n_prompts: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return front[:, None, :] + rng.normal(0.0, noise, size=(front.shape[0], n_prompts,
                                                            front.shape[1]))


def test_golden_values_on_a_hand_computed_front():
    report = compute_metrics(two_prompt_scores(FRONT), PREFERENCES, np.zeros(2),
                             reference_front=REFERENCE_FRONT, n_bootstrap=0)
    expected = {
        # Sweep along x: [0, 0.2] under 0.8, (0.2, 0.6] under 0.5, (0.6, 0.9] under 0.1:
        # 0.16 + 0.2 + 0.03 = 0.39.
        "hypervolume": 0.39,
        # (0.9 + 0.55 + 0.8) / 3.
        "inner_product": 0.75,
        # Sorted x: 0.2, 0.6, 0.9 (gaps 0.4, 0.3); sorted y: 0.1, 0.5, 0.8 (gaps 0.4, 0.3):
        # (0.16 + 0.09) * 2 / (3 - 1) = 0.25.
        "sparsity": 0.25,
        # Nearest-neighbour distances all 0.5 (|(0.3, 0.4)| and |(0.4, 0.3)|): std 0.
        "spacing": 0.0,
        # Nearest reference distances: sqrt(0.02), sqrt(0.41), sqrt(0.08).
        "gd": (math.sqrt(0.02) + math.sqrt(0.41) + math.sqrt(0.08)) / 3,
        # (1, 0) -> sqrt(0.02); (0, 1) -> sqrt(0.08).
        "igd": (math.sqrt(0.02) + math.sqrt(0.08)) / 2,
        # Shortfalls: (1, 0) vs (0.9, 0.1) -> 0.1; (0, 1) vs (0.2, 0.8) -> 0.2.
        "igd_plus": 0.15,
        "non_dominated_count": 3,
        "non_dominated_share": 1.0,
        # max over points for w = (1,0), (.5,.5), (0,1): 0.9, 0.55, 0.8.
        "eum": 0.75,
        # Both objectives rise with their weights.
        "controllability": 1.0,
    }
    assert list(report.metrics) == REQUIRED_NAMES
    for name, value in expected.items():
        assert report[name].value == pytest.approx(value, abs=1e-12), name
        assert report[name].ci_low is None and report[name].ci_high is None
        assert report[name].direction == METRICS[name][0]
        assert report[name].definition


def test_without_reference_front_distances_are_none():
    report = compute_metrics(two_prompt_scores(FRONT), PREFERENCES, np.zeros(2), n_bootstrap=20)
    for name in ("gd", "igd", "igd_plus"):
        assert report[name].value is None
        assert report[name].ci_low is None and report[name].ci_high is None


def test_bootstrap_is_seeded():
    scores = noisy_scores(FRONT, n_prompts=30, noise=0.05, seed=1)
    first = compute_metrics(scores, PREFERENCES, np.zeros(2), REFERENCE_FRONT, n_bootstrap=50,
                            seed=3)
    again = compute_metrics(scores, PREFERENCES, np.zeros(2), REFERENCE_FRONT, n_bootstrap=50,
                            seed=3)
    other = compute_metrics(scores, PREFERENCES, np.zeros(2), REFERENCE_FRONT, n_bootstrap=50,
                            seed=4)
    assert first == again
    assert first.to_dict() == again.to_dict()
    assert first["hypervolume"].ci_low != other["hypervolume"].ci_low


@pytest.mark.parametrize("interval", ["auto", "basic", "percentile", "hull"])
def test_interval_contains_the_point_estimate_in_a_well_behaved_case(interval):
    # Many prompts, small noise, a clean front: the front's metrics are smooth means.
    scores = noisy_scores(FRONT, n_prompts=200, noise=0.05, seed=2)
    report = compute_metrics(scores, PREFERENCES, np.zeros(2), REFERENCE_FRONT, n_bootstrap=200,
                             confidence=0.95, seed=0, interval=interval)
    assert report.interval == interval
    for name in ("hypervolume", "inner_product", "eum", "gd", "igd", "igd_plus", "sparsity"):
        metric = report[name]
        assert metric.ci_low is not None and metric.ci_high is not None
        assert metric.ci_low <= metric.value <= metric.ci_high, name
        assert metric.ci_high - metric.ci_low < 0.05, name
    assert report.n_bootstrap == 200 and report.confidence == 0.95 and report.seed == 0


def test_no_bootstrap_gives_no_intervals():
    report = compute_metrics(noisy_scores(FRONT, 10, 0.05, 0), PREFERENCES, np.zeros(2),
                             REFERENCE_FRONT, n_bootstrap=0)
    assert all(m.ci_low is None and m.ci_high is None for m in report.metrics.values())
    assert report.n_bootstrap == 0


def test_report_is_json_without_nan_and_frozen():
    report = compute_metrics(noisy_scores(FRONT[:1], 5, 0.05, 0), PREFERENCES[1:2], np.zeros(2),
                             n_bootstrap=10)
    text = json.dumps(report.to_dict(), allow_nan=False)
    data = json.loads(text)
    assert list(data["metrics"]) == REQUIRED_NAMES
    assert data["metrics"]["sparsity"] == {
        "value": None, "ci_low": None, "ci_high": None, "direction": "lower",
        "definition": METRICS["sparsity"][1]}
    assert (data["n_bootstrap"], data["confidence"], data["seed"], data["interval"]) == (
        10, 0.95, 0, "auto")
    assert isinstance(report, MetricsReport)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        report.metrics["hypervolume"] = report["eum"]  # type: ignore[index]


def test_format_table_lists_every_metric():
    report = compute_metrics(noisy_scores(FRONT, 20, 0.05, 0), PREFERENCES, np.zeros(2),
                             n_bootstrap=20)
    table = report.format_table()
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "value", "95%", "CI", "better"]
    for name in REQUIRED_NAMES:
        assert any(line.startswith(name + " ") for line in lines), name
    assert "gd " in table and "n/a" in table  # no reference front
    assert lines[-1] == "bootstrap: auto intervals from 20 prompt resamples, seed 0"


def test_one_preference_row():
    # One point: nothing to spread or correlate; it is its own non-dominated set.
    report = compute_metrics(two_prompt_scores(np.array([[0.5, 0.25]])), np.array([[0.5, 0.5]]),
                             np.zeros(2), n_bootstrap=10)
    assert report["hypervolume"].value == pytest.approx(0.125, abs=1e-12)  # 0.5 * 0.25
    assert report["sparsity"].value is None and report["sparsity"].ci_low is None
    assert report["spacing"].value is None
    assert report["controllability"].value is None
    assert report["non_dominated_count"].value == 1
    assert report["non_dominated_share"].value == 1.0


def test_all_points_equal():
    # Four preferences, the same answer: one distinct non-dominated point (share 1/4), no spread,
    # no response to the weights (rho = 0 for both objectives), HV of the one box 0.4 * 0.3.
    preferences = np.array([[1.0, 0.0], [2 / 3, 1 / 3], [1 / 3, 2 / 3], [0.0, 1.0]])
    scores = two_prompt_scores(np.tile([0.5, 0.4], (4, 1)))
    report = compute_metrics(scores, preferences, np.array([0.1, 0.1]), n_bootstrap=10)
    assert report["hypervolume"].value == pytest.approx(0.12, abs=1e-12)
    assert report["non_dominated_count"].value == 1
    assert report["non_dominated_share"].value == 0.25
    assert report["sparsity"].value is None and report["spacing"].value is None
    assert report["controllability"].value == 0.0
    # Every weight picks the same point: EUM = mean of <w, (0.5, 0.4)> = 0.5 * mean(w0) + 0.4 *
    # mean(w1) = 0.5 * 0.5 + 0.4 * 0.5 = 0.45.
    assert report["eum"].value == pytest.approx(0.45, abs=1e-12)


def test_dominated_point_and_point_beyond_the_reference():
    # Row 1 (0.3, 0.3) is dominated by row 2 (0.6, 0.5); row 0 (0.95, -0.2) is below the reference
    # point 0 in objective 1, so it adds no hypervolume, yet it is non-dominated (best in x).
    preferences = np.array([[1.0, 0.0], [0.5, 0.5], [0.25, 0.75], [0.0, 1.0]])
    front = np.array([[0.95, -0.2], [0.3, 0.3], [0.6, 0.5], [0.2, 0.8]])
    report = compute_metrics(two_prompt_scores(front), preferences, np.zeros(2), n_bootstrap=0)
    # Only (0.6, 0.5) and (0.2, 0.8) count: 0.2 * 0.8 + 0.4 * 0.5 = 0.36.
    assert report["hypervolume"].value == pytest.approx(0.36, abs=1e-12)
    assert report["non_dominated_count"].value == 3
    assert report["non_dominated_share"].value == 0.75


def test_eum_weights_default_to_the_preferences_and_can_be_given():
    scores = two_prompt_scores(FRONT)
    default = compute_metrics(scores, PREFERENCES, np.zeros(2), n_bootstrap=0)
    explicit = compute_metrics(scores, PREFERENCES, np.zeros(2), n_bootstrap=0,
                               eum_weights=np.array([[0.5, 0.5]]))
    assert default["eum"].value == pytest.approx(0.75, abs=1e-12)
    assert explicit["eum"].value == pytest.approx(0.55, abs=1e-12)  # max(0.5, 0.55, 0.5)


def test_ten_objectives_with_bootstrap():
    # A chat10-like grid: the 10 vertices, the centre and 19 Dirichlet draws; the hypervolume of
    # the front must equal moocore's on the same points.
    rng = np.random.default_rng(0)
    preferences = np.vstack([np.eye(10), np.full((1, 10), 0.1), rng.dirichlet(np.ones(10), 19)])
    front = 0.3 + 0.6 * np.sqrt(preferences)
    scores = noisy_scores(front, n_prompts=8, noise=0.02, seed=1)
    report = compute_metrics(scores, preferences, np.zeros(10), n_bootstrap=5, seed=0)
    expected = moocore.hypervolume(scores.mean(axis=1), ref=np.zeros(10), maximise=True)
    assert report["hypervolume"].value == pytest.approx(expected, rel=1e-12)
    assert report["hypervolume"].ci_low <= report["hypervolume"].ci_high
    assert report["controllability"].value > 0.5


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"scores": np.zeros((3, 2))}, "3-D"),
    ({"scores": np.zeros((3, 0, 2))}, "at least one"),
    ({"scores": np.where(two_prompt_scores(FRONT) > 0.9, np.nan, 0.5)}, "1 NaN"),
    ({"preferences": np.array([[1.0, 0.0, 0.0]] * 3)}, "3 objectives"),
    ({"preferences": PREFERENCES[:2]}, "2 rows but scores has 3"),
    ({"preferences": np.array([[1.0, 0.0], [0.5, 0.6], [0.0, 1.0]])}, "sum to 1"),
    ({"preferences": np.array([[1.5, -0.5], [0.5, 0.5], [0.0, 1.0]])}, "negative"),
    ({"reference_point": np.zeros(3)}, "reference_point must have shape"),
    ({"reference_front": np.ones((2, 3))}, "reference_front has 3 objectives"),
    ({"reference_front": np.zeros((0, 2))}, "no points"),
    ({"eum_weights": np.ones((2, 2))}, "eum_weights rows must sum to 1"),
    ({"n_bootstrap": -1}, "n_bootstrap"),
    ({"n_bootstrap": 2.5}, "n_bootstrap"),
    ({"confidence": 1.0}, "confidence"),
    ({"seed": -3}, "seed"),
    ({"interval": "bca"}, "interval must be one of auto, basic, percentile, hull"),
])
def test_bad_input_raises_value_error(kwargs, message):
    arguments = {"scores": two_prompt_scores(FRONT), "preferences": PREFERENCES,
                 "reference_point": np.zeros(2), "n_bootstrap": 0}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        compute_metrics(**arguments)


def test_basic_intervals_reflect_percentile_ones_around_the_estimate_and_stay_in_range():
    scores = noisy_scores(FRONT, n_prompts=12, noise=0.3, seed=4)
    basic = compute_metrics(scores, PREFERENCES, np.zeros(2), n_bootstrap=50, seed=1,
                            interval="basic")
    percentile = compute_metrics(scores, PREFERENCES, np.zeros(2), n_bootstrap=50, seed=1,
                                 interval="percentile")
    for name in ("inner_product", "eum"):  # unbounded: the percentile interval, reflected
        value = basic[name].value
        assert (basic[name].ci_low, basic[name].ci_high) == pytest.approx(
            (2 * value - percentile[name].ci_high, 2 * value - percentile[name].ci_low))
    hv = basic["hypervolume"]  # reflected, and never below 0
    assert hv.ci_low == pytest.approx(max(0.0, 2 * hv.value - percentile["hypervolume"].ci_high))
    share = basic["non_dominated_share"]  # never below one point of the grid
    assert 1.0 / len(PREFERENCES) <= share.ci_low <= share.ci_high <= 1.0
    control = basic["controllability"]
    assert -1.0 <= control.ci_low <= control.ci_high <= 1.0
