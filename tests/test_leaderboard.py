"""Leaderboards from run folders alone: seeds aggregated with intervals over seeds and prompts,
rank groups, deterministic CSV, distances to the union of runs, and ``mobench check``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mobench.cli import main
from mobench.leaderboard.aggregate import LeaderboardRow, Summary, _rank, build_leaderboards
from mobench.leaderboard.check import check, read_baseline, updated
from mobench.leaderboard.collect import find_run_folders, load_runs
from mobench.leaderboard.table import csv_columns, to_csv, to_markdown
from mobench.run.results import read_result

EVAL = ["eval.n_bootstrap=20", "eval.batch_size=6"]


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("board")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("CI", "true")
        for method, seed, extra in (("base", 0, []), ("base", 1, []), ("toy-steer", 0, []),
                                    ("toy-steer", 1, []),
                                    ("toy-steer", 0, ["method.strength=0.5"])):
            name = f"{method}-{seed}" + ("-weak" if extra else "")
            assert main(["run", "--method", method, "--task", "toy", "--seed", str(seed),
                         "--output", str(root / name), *EVAL, *extra]) == 0
        (root / "not-a-run").mkdir()
    return root


def test_runs_are_found_below_the_paths_named(runs_root):
    folders = find_run_folders([runs_root])
    assert [f.name for f in folders] == ["base-0", "base-1", "toy-steer-0", "toy-steer-0-weak",
                                         "toy-steer-1"]


def test_seeds_are_aggregated_with_an_interval_that_holds_the_mean(runs_root):
    runs = load_runs([runs_root / "base-0", runs_root / "base-1", runs_root / "toy-steer-0",
                      runs_root / "toy-steer-1"])
    (board,) = build_leaderboards(runs, n_bootstrap=50)
    assert board.task == "toy" and board.scorer_set == "exact"
    assert board.distance_reference == "union of the report's runs"
    assert [(r.method, r.seeds) for r in board.rows] == [("toy-steer", [0, 1]), ("base", [0, 1])]
    for row in board.rows:
        per_seed = [read_result(Path(f)).metrics["exact"]["hypervolume"]["value"]
                    for f in row.runs]
        hv = row.metrics["hypervolume"]
        assert hv.value == pytest.approx(np.mean(per_seed), rel=1e-12)
        assert hv.ci_low <= hv.value <= hv.ci_high
        assert row.metrics["igd_plus"].value is not None  # measured to the union of the runs
    assert board.rows[0].rank == 1
    assert "reward_model" not in board.rows[0].other_sets  # the toy task has one scorer set


def test_report_refuses_a_run_given_twice(runs_root, tmp_path):
    import shutil

    shutil.copytree(runs_root / "base-0", tmp_path / "copy")
    with pytest.raises(ValueError, match="appears twice"):
        build_leaderboards(load_runs([runs_root / "base-0", tmp_path / "copy"]), n_bootstrap=5)


def test_the_csv_is_deterministic_and_has_every_column(runs_root):
    folders = [runs_root / name for name in ("base-0", "base-1", "toy-steer-0", "toy-steer-1")]
    first = to_csv(build_leaderboards(load_runs(folders), n_bootstrap=30)[0])
    again = to_csv(build_leaderboards(load_runs(folders[::-1]), n_bootstrap=30)[0])
    assert first == again
    header, *rows = first.splitlines()
    assert header.split(",") == csv_columns()
    assert [row.split(",")[1:3] for row in rows] == [["toy-steer", "default"],
                                                     ["base", "default"]]


def rows_with(intervals: list[tuple[float, float, float]]) -> list[LeaderboardRow]:
    rows = []
    for k, (value, low, high) in enumerate(intervals):
        rows.append(LeaderboardRow(
            method=f"m{k}", variant="default", scale="tiny", serves="front", seeds=[0],
            metrics={"hypervolume": Summary(value, low, high)}, cost={}, evaluation_cost={},
            runs=[], front=np.zeros((1, 2)), preferences=np.zeros((1, 2))))
    return rows


def test_rank_groups_share_a_rank_when_intervals_overlap():
    rows = rows_with([(0.9, 0.85, 0.95), (0.88, 0.8, 0.9), (0.7, 0.65, 0.75), (0.5, 0.3, 0.84)])
    _rank(rows)
    # m0 and m1 overlap; m2 is below both; m3's wide interval overlaps m1 and m2 but not m0
    assert [r.rank for r in rows] == [1, 1, 3, 2]


def test_markdown_marks_point_methods(runs_root):
    (board,) = build_leaderboards(load_runs([runs_root / "base-0"]), n_bootstrap=5)
    board.rows[0].serves = "point"
    board.rows[0].unreproducible.clear()  # made from this checkout, clean or not
    assert "| 1 | base (point) | default | 1 |" in to_markdown(board)


def test_check_passes_on_its_own_runs_and_names_what_moved(runs_root):
    folders = [runs_root / "base-0", runs_root / "toy-steer-0"]
    results = [read_result(f) for f in folders]
    baseline = updated(None, results)
    assert check(baseline, results) == []
    # a deliberately broken method: toy-steer at half its strength, under the same run key
    broken = [results[0], read_result(runs_root / "toy-steer-0-weak")]
    problems = check(baseline, broken)
    assert problems and all(p.run == "toy-steer/default/toy/tiny/seed0" for p in problems)
    assert any("exact.hypervolume moved" in p.message for p in problems)
    missing = check(baseline, results[:1])
    assert [p.message for p in missing] == ["is in the baseline but no run was given for it"]
    extra = check({"runs": {}}, results[:1])
    assert extra[0].message.startswith("has no baseline entry")


def test_check_tolerances_are_per_metric(runs_root):
    result = read_result(runs_root / "base-0")
    baseline = updated(None, [result])
    key = "base/default/toy/tiny/seed0"
    baseline["runs"][key]["exact.hypervolume"] += 0.004
    assert len(check(baseline, [result])) == 1
    baseline["tolerances"]["hypervolume"] = {"abs": 0.005, "rel": 0.0}
    assert check(baseline, [result]) == []


def test_check_from_the_command_line(runs_root, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    assert main(["check", str(runs_root / "base-0"), "--baseline", str(baseline),
                 "--update"]) == 0
    assert main(["check", str(runs_root / "base-0"), "--baseline", str(baseline)]) == 0
    data = read_baseline(baseline)
    data["runs"]["base/default/toy/tiny/seed0"]["exact.eum"] = 0.0
    baseline.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["check", str(runs_root / "base-0"), "--baseline", str(baseline)]) == 1
    assert "exact.eum moved 0 ->" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "nowhere"), "--baseline", str(baseline)]) == 1
