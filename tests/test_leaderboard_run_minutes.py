"""``mobench report --run-minutes``: what making a set of runs took, per task and seed, with the
cached work they reused counted once per group, and the numbers the READMEs quote about the
committed regeneration."""

from __future__ import annotations

import json
import lzma
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hardening_support import one_error_line

from mobench.cli.main import main
from mobench.leaderboard.collect import find_run_folders
from mobench.leaderboard.run_minutes import format_run_minutes, run_minutes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "reports" / "results"
SOURCE = sorted((RESULTS / "hh" / "base").glob("tiny-seed0-*"))[0]


def made_run(root: Path, name: str, *, seed: int, method: str, train: float, evaluation: float,
             reused: dict[str, Any] | None = None) -> Path:
    """A copy of a committed run whose label and seconds are set here (the rest stays real)."""
    folder = root / name
    folder.mkdir(parents=True)
    shutil.copy(SOURCE / "spec.json", folder / "spec.json")
    metrics = json.loads(lzma.decompress((SOURCE / "metrics.json.xz").read_bytes()))
    metrics["run"].update(seed=seed, method=method)
    metrics["cost"].update(train_seconds=train, reused=reused or {})
    metrics["evaluation_cost"]["seconds"] = evaluation
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return folder


def expert(seconds: float, here: bool = False) -> dict[str, Any]:
    return {"adapters_trained": 1, "train_seconds": seconds, "computed_here": here}


def test_reused_work_counts_once_per_task_and_seed_and_not_where_a_run_of_it_made_it(tmp_path):
    made_run(tmp_path, "a", seed=0, method="mod", train=60, evaluation=30,
             reused={"expert-1": expert(120), "expert-2": expert(90)})
    # read by a second run of the group: made once; the longest record counts
    made_run(tmp_path, "b", seed=0, method="soups", train=0, evaluation=60,
             reused={"expert-1": expert(126), "store": expert(30, here=True)})
    # made by run b of this group, so already in its seconds
    made_run(tmp_path, "c", seed=0, method="dpo", train=240, evaluation=30,
             reused={"store": expert(30)})
    made_run(tmp_path, "d", seed=1, method="mod", train=30, evaluation=30,
             reused={"expert-1": expert(60)})
    groups = run_minutes(find_run_folders([tmp_path]))
    assert [(g.task, g.seed, g.runs) for g in groups] == [("hh", 0, 3), ("hh", 1, 1)]
    assert groups[0].run_minutes == pytest.approx((90 + 60 + 270) / 60)
    assert groups[0].reused_minutes == pytest.approx((126 + 90) / 60)
    assert dict(groups[0].by_method) == pytest.approx({"dpo": 4.5, "mod": 1.5, "soups": 1.0})
    assert (groups[1].run_minutes, groups[1].reused_minutes) == pytest.approx((1.0, 1.0))
    text = format_run_minutes(groups)
    assert text.splitlines()[3].split() == ["all", "4", "8.0", "4.6"]
    assert text.splitlines()[-1] == ("run-minutes by method: dpo 4.5 (56%), mod 2.5 (31%), "
                                     "soups 1.0 (12%)")


def test_the_cli_prints_the_table_and_refuses_a_folder_without_runs(tmp_path, capsys):
    made_run(tmp_path / "runs", "a", seed=2, method="mod", train=6, evaluation=6)
    assert main(["report", str(tmp_path / "runs"), "--run-minutes"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == ["task  seed  runs  run-minutes  reused from the cache",
                                    "hh    2     1     0.2          0.0"]
    (tmp_path / "empty").mkdir()
    line = one_error_line(capsys, ["report", str(tmp_path / "empty"), "--run-minutes"])
    assert line == f"mobench: error: no finished runs under {tmp_path / 'empty'}"


@pytest.mark.parametrize("readme", ["README.md", "reports/README.md"])
def test_the_readmes_quote_the_committed_runs_minutes(readme):
    groups = run_minutes(find_run_folders([RESULTS]))
    text = " ".join((ROOT / readme).read_text(encoding="utf-8").split())
    total = re.search(r"(\d+) run-minutes", text)
    assert total, f"{readme} quotes no run-minutes"
    assert int(total.group(1)) == round(sum(g.run_minutes for g in groups))
    for task in ("hh", "hhc", "chat3", "chat10"):
        low, high = (min(g.run_minutes for g in groups if g.task == task),
                     max(g.run_minutes for g in groups if g.task == task))
        assert f"{task} {low:.1f} to {high:.1f}" in text, (readme, task, low, high)
    if readme == "README.md":
        reused = re.search(r"About (\d+) more minutes", text)
        assert reused and int(reused.group(1)) == round(sum(g.reused_minutes for g in groups))
        assert "four fifths of it DPS and MODPO" in text
        grid_methods = sum(g.by_method.get(m, 0.0) for g in groups for m in ("dps", "modpo"))
        assert round(5 * grid_methods / sum(g.run_minutes for g in groups)) == 4
