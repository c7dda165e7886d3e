"""Does λ steer: the steering matrix, the optimal policy's answers and the per-objective curves,
and the figures built on them (readable at ten objectives, every built-in method its own look)."""

from __future__ import annotations

import io
from itertools import product

import numpy as np
import pytest
from PIL import Image

from mobench.leaderboard import figures
from mobench.leaderboard.aggregate import Leaderboard, LeaderboardRow, Summary
from mobench.leaderboard.steering import optimal_answers, steering_curve, steering_matrix
from mobench.metrics.preference import controllability

BUILT_IN = ("base", "best-of-n", "dps", "mod", "modpo", "pama", "panacea", "rewarded-soups",
            "ric")


def simplex_grid(m: int, parts: int) -> np.ndarray:
    rows = [c for c in product(range(parts + 1), repeat=m) if sum(c) == parts]
    return np.array(rows, dtype=float) / parts


def test_a_front_that_follows_its_weights_has_a_full_diagonal():
    grid = simplex_grid(3, 4)  # 15 preferences
    matrix = steering_matrix(0.2 + 0.8 * grid, grid)
    assert np.diag(matrix) == pytest.approx([1.0, 1.0, 1.0])
    # on the simplex one weight rising lowers the others on average
    assert (matrix[~np.eye(3, dtype=bool)] < 0).all()
    assert np.diag(matrix).mean() == pytest.approx(controllability(0.2 + 0.8 * grid, grid))


def test_undefined_and_unmoved_entries_follow_controllability():
    grid = np.array([[0.5, 0.5, 0.0], [0.7, 0.3, 0.0], [0.9, 0.1, 0.0]])
    front = np.array([[0.1, 0.4, 0.3], [0.2, 0.5, 0.3], [0.3, 0.2, 0.3]])
    matrix = steering_matrix(front, grid)
    assert np.isnan(matrix[2]).all()  # λ_3 never changes: no row
    assert matrix[0, 2] == 0.0 and matrix[1, 2] == 0.0  # f_3 never moves: rho 0
    assert matrix[0, 0] == pytest.approx(1.0) and matrix[1, 0] == pytest.approx(-1.0)
    assert matrix[0, 1] == pytest.approx(-0.5)
    assert np.nanmean(np.diag(matrix)) == pytest.approx(controllability(front, grid))


def test_the_optimal_policy_answers_each_weight_with_its_best_front_point():
    reference = np.array([[1.0, 0.0], [0.8, 0.7], [0.0, 1.0]])
    grid = np.array([[1.0, 0.0], [0.6, 0.4], [0.5, 0.5], [0.2, 0.8], [0.0, 1.0]])
    answers = optimal_answers(reference, grid)
    assert answers.tolist() == [[1.0, 0.0], [0.8, 0.7], [0.8, 0.7], [0.0, 1.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match="reference front"):
        optimal_answers(np.empty((0, 2)), grid)
    with pytest.raises(ValueError, match="reference front"):
        optimal_answers(reference[:, :1], grid)
    with pytest.raises(ValueError, match="must both be"):
        steering_matrix(reference, grid)


def test_a_steering_curve_averages_the_score_at_each_weight():
    grid = np.array([[0.0, 1.0], [0.5, 0.5], [0.5, 0.5], [1.0, 0.0]])
    front = np.array([[0.1, 0.9], [0.4, 0.6], [0.6, 0.4], [0.9, 0.1]])
    levels, means = steering_curve(front, grid, 0)
    assert levels.tolist() == [0.0, 0.5, 1.0] and means == pytest.approx([0.1, 0.5, 0.9])


def board_of(m: int, names=BUILT_IN) -> Leaderboard:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(m)
    grid = simplex_grid(m, 2 if m > 3 else 4)
    rows = []
    for k, name in enumerate(names):
        strength = k / len(names)
        front = np.clip(0.3 + strength * grid + 0.05 * rng.standard_normal(grid.shape), 0, 1)
        summary = Summary(0.5 + strength / 4, 0.45 + strength / 4, 0.55 + strength / 4)
        rows.append(LeaderboardRow(
            method=name, variant="default", scale="tiny",
            serves="point" if name == "pama" else "front", seeds=[0],
            metrics={"hypervolume": summary}, runs=[f"/runs/{name}"], front=front,
            preferences=grid,
            cost={"train_seconds": 10.0 * k, "generated_tokens": 100.0 * k, "reward_calls": 0.0,
                  "reused_train_seconds": 0.0, "models_trained": 0.0, "adapters_trained": 1.0,
                  "trainable_parameters": 1000.0},
            evaluation_cost={"seconds": 2.0, "sampled_tokens": 500.0, "reward_calls": 0.0,
                             "model_token_passes": 0.0, "generated_tokens": 500.0}))
    reference = np.vstack([np.eye(m), np.full((1, m), 0.9 / np.sqrt(m))])
    return Leaderboard(task=f"chat{m}", scorer_set="exact",
                       objectives=tuple(f"style{i}" for i in range(m)), rows=rows,
                       distance_reference="task reference front", reference_front=reference,
                       n_bootstrap=2, confidence=0.95)


def drawn(png: bytes) -> int:
    """How many distinct colours the image has (1: blank)."""
    return len(Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 20) or [])


def test_every_built_in_method_gets_its_own_colour_and_marker_on_every_figure():
    styles = figures.Styles([*BUILT_IN, "ric (no-digits)"])
    looks = [styles[name] for name in BUILT_IN]
    assert len({look["color"] for look in looks}) == len(BUILT_IN)
    assert len({look["marker"] for look in looks}) == len(BUILT_IN)
    assert figures.Styles(BUILT_IN)["panacea"] == figures.Styles(reversed(BUILT_IN))["panacea"]


@pytest.mark.parametrize("m", [2, 3, 10])
def test_a_task_gets_fronts_only_up_to_three_objectives_and_steering_views_always(m):
    board = board_of(m)
    drawn_figures = figures.task_figures(board, figures.Styles.of([board]))
    stems = [stem for stem, _, _ in drawn_figures]
    assert stems == (["fronts"] if m <= 3 else []) + ["steering", "steering-curves", "cost"]
    assert all(drawn(png) > 50 for _, _, png in drawn_figures)
    if m > 3:
        with pytest.raises(ValueError, match="up to 3 objectives"):
            figures.fronts_figure(board)


def test_figures_drawn_in_worker_processes_are_the_same_bytes_in_the_same_order():
    boards = [board_of(2), board_of(3)]
    boards[1].task = "three"
    styles = figures.Styles.of(boards)
    alone = figures.all_figures(boards, styles)
    assert list(alone) == [boards[0].task, "three"]
    assert alone == figures.all_figures(boards, styles, workers=2)
    assert alone["three"] == figures.task_figures(boards[1], styles)
    with pytest.raises(ValueError, match="at least 1"):
        figures.all_figures(boards, styles, workers=0)


def test_front_limits_hold_the_whole_optimal_front():
    points = np.array([[0.2, 0.9], [0.5, 0.5], [1.0, 0.0], [0.78, 1.0]])
    (x_low, x_high), (y_low, y_high) = figures.front_limits(points)
    assert x_low < 0.2 and x_high > 1.0 and y_low < 0.0 and y_high > 1.0
