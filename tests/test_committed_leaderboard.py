"""The committed reference leaderboards in reports/: every built-in method has a row on every
leaderboard task, with the seeds regenerate.sh runs; every built-in tiny task is on the
leaderboard or says why not; the README quotes the current hh and hhc tables; the committed page
names every method of every task. (The page itself is opened in a real browser by
tests/test_leaderboard_browser.py.)
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from mobench.core import registry

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
SCRIPT = REPORTS / "regenerate.sh"
# Built-in tasks left off the leaderboard, and why (a task added to mobench must be put on the
# leaderboard or listed here).
NOT_ON_LEADERBOARD = {
    "chat4": "lies between chat3 and chat10; its runs would add a third to the regeneration",
    "chat5": "lies between chat3 and chat10; its runs would add a third to the regeneration",
    "hh-rlhf": "paper scale only: needs the hub's data and reward models",
}
README_TASKS = ("hh", "hhc")


def script_default(name: str) -> list[str]:
    """A comma-separated default of regenerate.sh (``NAME=${NAME:-a,b}``)."""
    match = re.search(rf"^{name}=\$\{{{name}:-([^}}]*)\}}", SCRIPT.read_text(), re.MULTILINE)
    assert match, f"regenerate.sh sets no default {name}"
    return match.group(1).split(",")


def builtin(kind: registry.Registry) -> list[str]:
    prefix = "mobench.methods" if kind is registry.methods else "mobench.tasks"
    return [e.name for e in kind.entries() if e.target.__module__.startswith(prefix)]


def rows(task: str) -> list[dict[str, str]]:
    path = REPORTS / f"leaderboard-{task}.csv"
    assert path.exists(), f"no committed leaderboard for {task}: run bash reports/regenerate.sh"
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_builtin_task_is_on_the_leaderboard_or_says_why_not():
    on_board = set(script_default("TASKS"))
    missing = [t for t in builtin(registry.tasks)
               if t not in on_board and t not in NOT_ON_LEADERBOARD]
    assert not missing, f"built-in tasks neither on the leaderboard nor excused: {missing}"
    assert not on_board & set(NOT_ON_LEADERBOARD)


@pytest.mark.parametrize("task", script_default("TASKS"))
def test_every_builtin_method_has_a_row_with_every_seed(task):
    table = rows(task)
    seeds = sorted(script_default("SEEDS"))
    by_method = {row["method"]: row for row in table}
    missing = [m for m in builtin(registry.methods) if m not in by_method]
    assert not missing, f"{task}: no row for {missing}"
    for method, row in by_method.items():
        assert sorted(row["seeds"].split()) == seeds, (task, method, row["seeds"])
        assert float(row["hypervolume"]) >= 0, (task, method)
        assert row["hypervolume_share"], f"{task} {method}: no optimal-front share"


@pytest.mark.parametrize("task", script_default("TASKS"))
def test_the_page_and_figures_cover_every_method(task):
    page = (REPORTS / "leaderboard.html").read_text(encoding="utf-8")
    for method in builtin(registry.methods):
        assert method in page
    assert (REPORTS / f"fronts-{task}.png").stat().st_size > 0


@pytest.mark.parametrize("task", README_TASKS)
def test_the_readme_quotes_the_current_table(task):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = [line for line in (REPORTS / f"leaderboard-{task}.md").read_text().splitlines()
             if line.startswith("| ")]
    assert table, f"leaderboard-{task}.md holds no table"
    stale = [line for line in table if line not in readme]
    assert not stale, f"README's {task} table differs from reports/leaderboard-{task}.md: {stale}"
