"""CI's part of the mutation suite: the list applies to this tree, and the cheap mutations are
caught (``python tests/mutations/run.py --cheap``; the full matrix is ``python
tests/mutations/run.py``, see the README's "Development" section)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mutations.mutants import MUTATIONS, REPO, by_name

RUNNER = Path(__file__).with_name("run.py")


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_each_mutation_applies_to_this_tree(mutation):
    # exactly one occurrence of the snippet, a real change, checks that exist and that CI runs
    assert mutation.problems() == []
    source = mutation.source()
    mutated = mutation.mutate(source)
    assert mutated != source and mutated.count(mutation.mutated) >= 1
    for check in mutation.checks:
        assert check.startswith("tests/") and not check.startswith("tests/mutations/")


def test_the_list_has_unique_names_and_refuses_unknown_ones():
    names = [m.name for m in MUTATIONS]
    assert len(set(names)) == len(names)
    assert [m.name for m in by_name(["best-of-n-argmin"])] == ["best-of-n-argmin"]
    with pytest.raises(ValueError, match="unknown mutation"):
        by_name(["no-such-mutation"])


def test_a_snippet_that_is_missing_or_repeated_is_refused(tmp_path):
    mutation = next(m for m in MUTATIONS if m.name == "best-of-n-argmin")
    target = tmp_path / mutation.path
    target.parent.mkdir(parents=True)
    for check in mutation.checks:
        (tmp_path / check.split("::")[0]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / check.split("::")[0]).touch()
    target.write_text("nothing to mutate\n")
    assert mutation.problems(tmp_path) == [
        f"the original snippet occurs 0 times in {mutation.path}, not once"]
    target.write_text(f"{mutation.original}\n{mutation.original}\n")
    assert mutation.problems(tmp_path) == [
        f"the original snippet occurs 2 times in {mutation.path}, not once"]
    with pytest.raises(ValueError, match="exactly once"):
        mutation.mutate(target.read_text())


def test_the_cheap_mutations_are_all_caught():
    # about a minute and a half on one core: a copy of the tree and of the virtual environment, each
    # check run once unmutated and once per mutation
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("the runner copies the tree that git lists; no git checkout here")
    if sys.prefix == sys.base_prefix:
        pytest.skip("the runner copies the virtual environment; not running in one")
    result = subprocess.run([sys.executable, str(RUNNER), "--cheap"], cwd=REPO,
                            capture_output=True, text=True, timeout=1200)
    cheap = [m for m in MUTATIONS if m.cheap]
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert f"{len(cheap)} of {len(cheap)} mutations caught" in result.stdout
    rows = [line for line in result.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| mutation |")]
    assert len(rows) == len(cheap) and all(" caught " in row for row in rows), result.stdout
