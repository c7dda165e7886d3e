"""Hardening, round three (issue 27), the leaderboard tools' part: ``mobench check`` on baselines
of the wrong shape, a metrics.json that is not an object, ``report`` and ``check --update``
writing where nothing can be written, and ``report --n-bootstrap`` below one. Each answers in one
line, exits non-zero and writes nothing. (Each failed with a traceback, or passed silently,
before these checks.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hardening_support import one_error_line, run_toy, writes_into_read_only_folders


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "base"
    run_toy(folder, tmp_path_factory.mktemp("cache"), "base", "eval.n_bootstrap=5")
    return folder


@pytest.mark.parametrize(("baseline", "message"), [
    ({"runs": {}, "metrics": 5}, "'metrics' must be a list of metric names, not 5"),
    ({"runs": {"base/default/toy/tiny/seed0": [1, 2]}},
     "runs['base/default/toy/tiny/seed0'] must be a mapping of metric names to numbers, "
     "not [1, 2]"),
    ({"runs": {"base/default/toy/tiny/seed0": {"exact.hypervolume": "abc"}}},
     "runs['base/default/toy/tiny/seed0']['exact.hypervolume'] must be a number or null, "
     'not "abc"'),
    ({"runs": {}, "tolerances": {"default": 5}},
     "tolerances['default'] must be a mapping like"),
    ({"runs": {}, "tolerances": {"default": {"abs": -1}}}, "non-negative numbers"),
    ({"runs": {}, "tolerances": [1]}, "'tolerances' must be a mapping"),
])
def test_a_baseline_of_the_wrong_shape_is_refused_in_one_line(capsys, tmp_path, toy_run,
                                                              baseline, message):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline))
    line = one_error_line(capsys, ["check", str(toy_run), "--baseline", str(path)])
    assert line.startswith(f"mobench: error: baseline {str(path)!r}: ") and message in line


@pytest.mark.parametrize("command", ["report", "check"])
def test_a_metrics_file_that_is_not_an_object_is_refused(capsys, tmp_path, toy_run, command):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("spec.json", "records.jsonl"):
        (run / name).write_bytes((toy_run / name).read_bytes())
    (run / "metrics.json").write_text("[]")
    extra = ["--baseline", str(tmp_path / "b.json")] if command == "check" else []
    line = one_error_line(capsys, [command, str(run), *extra])
    assert line == (f"mobench: error: the metrics of {str(run)!r} are not a JSON object "
                    "(written by something other than mobench, or damaged); re-run it")


@pytest.mark.skipif(writes_into_read_only_folders(),
                    reason="this process writes into read-only folders (root)")
def test_report_into_a_read_only_folder_writes_nothing(capsys, tmp_path, toy_run):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    line = one_error_line(capsys, ["report", str(toy_run), "--csv", str(locked / "out")])
    assert "is not writable" in line
    assert capsys.readouterr().out == ""  # no leaderboard printed before the failure


@pytest.mark.parametrize("flag", ["--csv", "--markdown", "--figures", "--html"])
def test_report_under_a_regular_file_is_refused_before_any_work(capsys, tmp_path, toy_run, flag):
    (tmp_path / "afile").write_text("x")
    target = tmp_path / "afile" / ("page.html" if flag == "--html" else "out")
    line = one_error_line(capsys, ["report", str(toy_run), flag, str(target)])
    assert line.endswith(f"{str(tmp_path / 'afile')!r} is a file, not a folder")
    assert capsys.readouterr().out == ""  # the leaderboard is not printed first


def test_report_html_onto_a_folder_and_check_update_under_a_file(capsys, tmp_path, toy_run):
    line = one_error_line(capsys, ["report", str(toy_run), "--html", str(tmp_path)])
    assert line == f"mobench: error: cannot write {str(tmp_path)!r}: it is a folder; name a file"
    (tmp_path / "afile").write_text("x")
    baseline = tmp_path / "afile" / "baseline.json"
    line = one_error_line(capsys, ["check", str(toy_run), "--baseline", str(baseline),
                                   "--update"])
    assert line.endswith("is a file, not a folder") and not baseline.exists()


@pytest.mark.parametrize("replicates", ["0", "-5"])
def test_report_refuses_fewer_than_one_bootstrap_replicate(capsys, toy_run, replicates):
    line = one_error_line(capsys, ["report", str(toy_run), "--n-bootstrap", replicates])
    assert line == ("mobench: error: --n-bootstrap must be at least 1 (the intervals are formed "
                    f"from the replicates), got {replicates}")
