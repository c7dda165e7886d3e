"""The committed reference leaderboards in reports/: every built-in method has a row on every
leaderboard task, with the seeds published under reports/results (whole seeds of those
regenerate.sh runs, published a seed at a time); every built-in tiny task is on the
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


def published_seeds(task: str) -> list[str]:
    """The seeds published under reports/results for ``task`` (from the run folders' names)."""
    return sorted({folder.name.split("-")[1].removeprefix("seed")
                   for folder in (RESULTS / task).glob("*/*-seed*-*")})


@pytest.mark.parametrize("task", script_default("TASKS"))
def test_every_builtin_method_has_a_row_with_every_published_seed(task):
    table = rows(task)
    seeds = published_seeds(task)
    # a regeneration publishes a seed at a time: the tables hold whole seeds of the script's
    assert seeds and set(seeds) <= set(script_default("SEEDS")), (task, seeds)
    by_method = {row["method"]: row for row in table}
    missing = [m for m in builtin(registry.methods) if m not in by_method]
    assert not missing, f"{task}: no row for {missing}"
    for method, row in by_method.items():
        assert sorted(row["seeds"].split()) == seeds, (task, method, row["seeds"])
        value, low, high = (float(row[k]) for k in ("hypervolume", "hypervolume_low",
                                                     "hypervolume_high"))
        assert value > 0 and low <= value <= high, (task, method, low, value, high)
        share = float(row["hypervolume_share"])
        # the share divides by the optimal front's hypervolume, which no policy exceeds
        assert 0 < share <= 1 and share >= value, (task, method, share, value)
    # ranks: 1 plus the rows whose interval lies wholly above (aggregate.py), recomputed here
    for row in table:
        above = sum(float(other["hypervolume_low"]) > float(row["hypervolume_high"])
                    for other in table)
        assert int(row["rank"]) == 1 + above, (task, row["method"])


@pytest.mark.parametrize("task", script_default("TASKS"))
def test_the_page_and_figures_cover_every_method(task):
    page = (REPORTS / "leaderboard.html").read_text(encoding="utf-8")
    start = page.index(f'<table class="leaderboard quality" id="table-{task}">')
    table = page[start:page.index("</table>", start)]
    shown = re.findall(r'<tr><td data-value="\d+">\d+</td><td class="name" data-value="([^"]+)"',
                       table)
    assert sorted(shown) == sorted(builtin(registry.methods)), (task, shown)
    for stem in ("steering", "steering-curves", "cost"):
        assert (REPORTS / f"{stem}-{task}.png").stat().st_size > 0
    # pairwise fronts up to three objectives only (mobench/leaderboard/figures.py)
    assert (REPORTS / f"fronts-{task}.png").exists() == (n_objectives(task) <= 3), task


def n_objectives(task: str) -> int:
    """The task's number of objectives, from a published run's metrics."""
    from mobench.run.published import read_metrics

    return len(read_metrics(next((RESULTS / task).glob("*/*/spec.json")).parent)["objectives"])


@pytest.mark.parametrize("task", README_TASKS)
def test_the_readme_quotes_the_current_table(task):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = [line for line in (REPORTS / f"leaderboard-{task}.md").read_text().splitlines()
             if line.startswith("| ")]
    assert table, f"leaderboard-{task}.md holds no table"
    stale = [line for line in table if line not in readme]
    assert not stale, f"README's {task} table differs from reports/leaderboard-{task}.md: {stale}"
    seeds = published_seeds(task)
    said = (f"seed {seeds[0]}" if len(seeds) == 1
            else f"seeds {', '.join(seeds[:-1])} and {seeds[-1]}")
    assert f"exact scores, {said}:" in readme, f"README's {task} table should say: {said}"


# ------------------------------------------------------- committed results (reports/results)
RESULTS = REPORTS / "results"
RESULTS_BUDGET_BYTES = 15_000_000  # the whole committed leaderboard's results, every run included


def published() -> list[Path]:
    from mobench.leaderboard.collect import find_run_folders

    folders = find_run_folders([RESULTS])
    assert folders, "reports/results holds no published run: bash reports/regenerate.sh"
    return folders


def test_every_published_run_is_reproducible_from_a_clean_commit_at_one_thread():
    from mobench.core.store import SPEC_FILE, read_json
    from mobench.run.published import unreproducible_reason

    for folder in published():
        spec = read_json(folder / SPEC_FILE)
        assert unreproducible_reason(spec) == "", folder
        assert spec["provenance"]["torch_threads"] == 1, folder
        assert spec["assets"], f"{folder}: no asset digests recorded"


def test_every_published_run_is_the_method_with_its_defaults():
    # a method whose defaults changed (a new default variant, say) leaves its published runs a
    # superseded configuration: regenerate them
    from mobench.core.store import SPEC_FILE, read_json
    from mobench.run.runspec import resolve_run_spec, run_identity

    for folder in published():
        identity = read_json(folder / SPEC_FILE)["identity"]
        expected = run_identity(resolve_run_spec(identity["method"], identity["task"],
                                                 seed=identity["seed"]))
        assert identity == expected, f"{folder} is not {identity['method']}'s default run"


def test_the_baseline_holds_every_published_run_and_its_numbers():
    from mobench.leaderboard.check import check, read_baseline
    from mobench.run.results import read_result

    results = [read_result(folder) for folder in published()]
    problems = check(read_baseline(REPORTS / "reference-metrics.json"), results,
                     given_only=True)
    assert not problems, "\n".join(p.format() for p in problems)


def test_the_published_results_fit_their_budget_and_hold_only_what_a_report_reads():
    from mobench.run.published import PUBLISHED_FILES

    size = 0
    for folder in published():
        assert sorted(p.name for p in folder.iterdir()) == sorted(PUBLISHED_FILES), folder
        size += sum(p.stat().st_size for p in folder.iterdir())
    assert size <= RESULTS_BUDGET_BYTES


@pytest.mark.parametrize("task", README_TASKS)
def test_the_committed_tables_come_back_from_the_committed_results(task):
    """`mobench report reports/results` rebuilds the tables byte for byte (each task's
    bootstrap is seeded alone, so one task's runs rebuild its tables)."""
    from mobench.leaderboard.aggregate import build_leaderboards
    from mobench.leaderboard.collect import load_runs
    from mobench.leaderboard.table import to_csv, to_text

    (board,) = build_leaderboards(load_runs([RESULTS / task]), workers=1)
    assert to_csv(board) == (REPORTS / f"leaderboard-{task}.csv").read_text(encoding="utf-8")
    assert to_text(board) + "\n" == (REPORTS / f"leaderboard-{task}.md").read_text(
        encoding="utf-8")
