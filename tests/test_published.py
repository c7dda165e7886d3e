"""Committed results: provenance a program checks, published runs that rebuild the tables byte for
byte, reuse of current published runs (the incremental regeneration), refusal to rank runs of
different protocols together, and ``mobench check`` on a part of a baseline."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mobench.cli import main
from mobench.core import store
from mobench.core.errors import ConfigError, RunFolderError
from mobench.leaderboard.aggregate import build_leaderboards
from mobench.leaderboard.collect import find_run_folders, load_runs
from mobench.leaderboard.table import to_csv, to_text
from mobench.run import code_fingerprint
from mobench.run.provenance import git_revision
from mobench.run.published import (
    COMPRESSED_METRICS,
    COMPRESSED_RECORDS,
    is_current,
    publish_runs,
    unreproducible_reason,
)
from mobench.run.sweep import plan_sweep, reuse_current_results

EVAL = ["eval.n_bootstrap=20", "eval.batch_size=6"]
CLEAN = {"commit": "0" * 40, "dirty": False}


def as_if_clean(folder: Path) -> None:
    """Record a clean checkout in a run made from this one (which may have uncommitted changes
    while the suite runs); the code fingerprint stays the real one."""
    spec_file = folder / store.SPEC_FILE
    spec = store.read_json(spec_file)
    spec["provenance"]["git"] = dict(CLEAN)
    spec["finished_git"] = dict(CLEAN)
    store.write_json_atomic(spec_file, spec)


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep of base and toy-steer on the toy task, seeds 0 and 1, at one thread."""
    root = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("CI", "true")
        assert main(["sweep", "--methods", "base,toy-steer", "--tasks", "toy", "--seeds", "0,1",
                     "--threads", "1", "--output", str(root), *EVAL]) == 0
    for folder in find_run_folders([root]):
        as_if_clean(folder)
    return root


def test_a_run_records_its_assets_code_and_checkout(sweep_root):
    spec = store.read_json(find_run_folders([sweep_root])[0] / store.SPEC_FILE)
    assert set(spec["provenance"]) >= {"git", "packages", "torch_threads", "cpu_kernels"}
    assert spec["provenance"]["torch_threads"] == 1
    modules = spec["code"]["modules"]
    assert "mobench.run.runner" in modules and "mobench_testplugin" in modules
    toy_steer = store.read_json(next(sweep_root.glob("toy/toy-steer/*")) / store.SPEC_FILE)
    # the worker had base loaded too; a toy-steer run does not depend on it
    assert "mobench.methods.base" not in toy_steer["code"]["modules"]
    assert "mobench.methods" in toy_steer["code"]["modules"]  # the package itself stays
    assert not any(m.startswith(("mobench.cli", "mobench.leaderboard")) for m in modules)
    assert code_fingerprint.code_unchanged(spec["code"])
    assert spec["assets"] == {}  # the toy task builds no assets


def test_git_revision_hashes_the_uncommitted_changes(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = git_revision(tmp_path)
    assert clean is not None and clean["dirty"] is False and "diff_sha256" not in clean
    (tmp_path / "a.py").write_text("x = 2\n")
    first = git_revision(tmp_path)
    (tmp_path / "a.py").write_text("x = 3\n")
    second = git_revision(tmp_path)
    assert first["dirty"] and second["dirty"]
    assert first["diff_sha256"] != second["diff_sha256"]  # which changes, not only that some did
    assert git_revision(tmp_path / "nowhere") is None
    # the leaderboards' outputs, which a regeneration rewrites as it goes, are not the code
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "reports" / "results").mkdir(parents=True)
    (tmp_path / "reports" / "results" / "spec.json").write_text("{}\n")
    git("add", "reports")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "two")
    (tmp_path / "reports" / "results" / "spec.json").write_text('{"new": 1}\n')
    assert git_revision(tmp_path / "reports")["dirty"] is False
    (tmp_path / "a.py").write_text("x = 4\n")
    assert git_revision(tmp_path / "reports")["dirty"] is True


def test_a_changed_module_is_told_from_an_unchanged_one(tmp_path, monkeypatch):
    package = tmp_path / "fingerprint_probe"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import fingerprint_probe  # noqa: F401

    recorded = code_fingerprint.loaded_code(["fingerprint_probe"])
    assert "fingerprint_probe" in recorded["modules"]
    assert code_fingerprint.code_unchanged(recorded)
    (package / "__init__.py").write_text("VALUE = 2\n")
    assert not code_fingerprint.code_unchanged(recorded)
    assert not code_fingerprint.code_unchanged(None)  # an older run cannot be told current
    sys.modules.pop("fingerprint_probe")


def test_published_results_rebuild_the_tables_byte_for_byte(sweep_root, tmp_path):
    results = tmp_path / "results"
    written = publish_runs(find_run_folders([sweep_root]), results)
    assert len(written) == 4
    for folder in written:
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [store.SPEC_FILE, COMPRESSED_METRICS, COMPRESSED_RECORDS])
        assert folder.relative_to(results).parts[:2] == ("toy", folder.parts[-2])
    boards_runs = build_leaderboards(load_runs([sweep_root]), n_bootstrap=30)
    boards_published = build_leaderboards(load_runs([results]), n_bootstrap=30)
    assert [to_csv(b) for b in boards_published] == [to_csv(b) for b in boards_runs]
    assert [to_text(b) for b in boards_published] == [to_text(b) for b in boards_runs]
    assert "(not reproducible)" not in to_text(boards_published[0])
    assert to_csv(boards_published[0]).splitlines()[1].endswith(",yes")


def test_publishing_refuses_dirty_runs_and_two_runs_of_one_key(sweep_root, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(sweep_root, runs)
    folders = find_run_folders([runs])
    spec_file = folders[0] / store.SPEC_FILE
    spec = store.read_json(spec_file)
    spec["finished_git"] = {"commit": "1" * 40, "dirty": True, "diff_sha256": "ab"}
    store.write_json_atomic(spec_file, spec)
    with pytest.raises(RunFolderError, match="uncommitted changes at 1111111111"):
        publish_runs(folders, tmp_path / "results")
    assert not (tmp_path / "results").exists()  # refused before writing anything
    twin = folders[1].parent / "copy-of-seed"
    shutil.copytree(folders[1], twin)
    with pytest.raises(RunFolderError, match="are both"):
        publish_runs([folders[1], twin], tmp_path / "results")
    shutil.rmtree(twin)
    # and the report marks the dirty run's row, on the CSV and under the table
    (board,) = build_leaderboards(load_runs([runs / "toy"]), n_bootstrap=10)
    flagged = [row for row in board.rows if not row.reproducible]
    assert len(flagged) == 1 and "uncommitted changes" in to_text(board)
    assert ",no" in to_csv(board)


def test_publishing_replaces_the_older_run_of_the_same_key(sweep_root, tmp_path):
    results = tmp_path / "results"
    folders = find_run_folders([sweep_root])
    publish_runs(folders, results)
    older = results / "toy" / "base" / "tiny-seed0-older"
    shutil.copytree(next(results.glob("toy/base/*seed0*")), older)
    assert len(find_run_folders([results])) == 5
    publish_runs(folders[:1], results)  # republishing base seed 0 drops the other base seed 0
    assert len(find_run_folders([results])) == 4 and not older.exists()


def test_current_published_runs_are_reused_and_changed_ones_rerun(sweep_root, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CI", "true")
    results = tmp_path / "results"
    publish_runs(find_run_folders([sweep_root]), results)
    # one published run ran other code: its recorded digest no longer matches the files
    stale = next(results.glob("toy/toy-steer/*seed1*"))
    spec = store.read_json(stale / store.SPEC_FILE)
    spec["code"]["digest"] = "0" * 64
    store.write_json_atomic(stale / store.SPEC_FILE, spec)
    assert is_current(spec, 1) == "a module it ran has changed since"
    fresh = store.read_json(next(results.glob("toy/base/*seed0*")) / store.SPEC_FILE)
    assert is_current(fresh, 1) == ""
    assert "torch threads" in is_current(fresh, 2)
    moved = json.loads(json.dumps(fresh))
    moved["provenance"]["cpu_kernels"]["torch_capability"] = "AVX512"
    assert "CPU kernels" in is_current(moved, 1)

    root = tmp_path / "again"
    jobs = plan_sweep(["base", "toy-steer"], ["toy"], [0, 1], scale="tiny", root=root,
                      overrides=EVAL, threads=1)
    outcome = reuse_current_results(jobs, root, results)
    assert sorted(bool(reason) for reason in outcome.values()) == [False, False, False, True]
    assert outcome[str(next(j.folder for j in jobs if j.method == "toy-steer" and j.seed == 1))]
    assert len(find_run_folders([root])) == 3  # the fourth must run
    assert main(["sweep", "--methods", "base,toy-steer", "--tasks", "toy", "--seeds", "0,1",
                 "--threads", "1", "--output", str(root), "--reuse", str(results), *EVAL]) == 0
    rerun = find_run_folders([root / "toy" / "toy-steer"])
    assert len(rerun) == 2
    # the rerun reproduces the published numbers: same code, threads and kernels
    original = build_leaderboards(load_runs([sweep_root]), n_bootstrap=30)
    again = build_leaderboards(load_runs([root]), n_bootstrap=30)
    assert [[(r.method, r.metrics) for r in b.rows] for b in again] == \
        [[(r.method, r.metrics) for r in b.rows] for b in original]  # wall-clock aside


def test_runs_of_other_protocols_are_not_ranked_together(sweep_root, tmp_path, monkeypatch):
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CI", "true")
    other = tmp_path / "other"
    assert main(["run", "--method", "toy-steer", "--task", "toy", "--seed", "2", "--threads",
                 "1", "--output", str(other), "eval.n_bootstrap=20", "eval.batch_size=4"]) == 0
    with pytest.raises(ConfigError, match=r"differ in their evaluation settings \(batch_size\)"):
        build_leaderboards(load_runs([sweep_root, other]), n_bootstrap=10)
    assert main(["report", str(sweep_root), str(other), "--n-bootstrap", "5"]) == 1  # one line
    spec_file = other / store.SPEC_FILE
    spec = store.read_json(spec_file)
    spec["identity"]["eval"]["batch_size"] = 6
    spec["assets"] = {"policy": "f" * 64}
    store.write_json_atomic(spec_file, spec)
    # a tiny task builds its assets from the seed: seeds 0, 1 and 2 hold other assets, and rank
    # together; two runs of one seed must hold the same
    folders = find_run_folders([sweep_root])
    specs = {f: store.read_json(f / store.SPEC_FILE) for f in folders}
    seeds = {f: specs[f]["identity"]["seed"] for f in folders}
    for folder in folders:
        monkeypatch.setitem(specs[folder], "assets", {"policy": str(seeds[folder]) * 64})

    def with_specs(runs):  # type: ignore[no-untyped-def]
        return [r.__class__(**{**r.__dict__, "spec": specs[r.folder]}) if r.folder in specs
                else r for r in runs]

    boards = build_leaderboards(with_specs(load_runs([sweep_root, other])), n_bootstrap=10)
    assert sorted(seed for row in boards[0].rows for seed in row.seeds) == [0, 0, 1, 1, 2]
    seed_zero = sorted(f for f in folders if seeds[f] == 0)
    monkeypatch.setitem(specs[seed_zero[-1]], "assets", {"policy": "e" * 64})
    with pytest.raises(ConfigError, match=r"differ in their task assets \(policy\)"):
        build_leaderboards(with_specs(load_runs([sweep_root, other])), n_bootstrap=10)


def test_unreproducible_reasons():
    assert unreproducible_reason({"provenance": {"git": None}}) == \
        "started outside a git checkout"
    assert "recorded no code fingerprint" in unreproducible_reason(
        {"provenance": {"git": CLEAN}, "finished_git": CLEAN})
    assert unreproducible_reason({"provenance": {"git": CLEAN}, "finished_git": CLEAN,
                                  "code": {"modules": ["m"], "digest": "d"}}) == ""


def test_check_on_part_of_a_baseline(sweep_root, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    assert main(["check", str(sweep_root), "--baseline", str(baseline), "--update"]) == 0
    one = str(find_run_folders([sweep_root])[0])
    assert main(["check", one, "--baseline", str(baseline)]) == 1
    assert "is in the baseline but no run was given for it" in capsys.readouterr().out
    assert main(["check", one, "--baseline", str(baseline), "--given-only"]) == 0
    assert "check passed: 1 run within" in capsys.readouterr().out
    # a given run without an entry is still a problem
    entries = json.loads(baseline.read_text())
    key = next(k for k in entries["runs"] if k.startswith("base/") and k.endswith("seed0"))
    del entries["runs"][key]
    baseline.write_text(json.dumps(entries))
    assert main(["check", one, "--baseline", str(baseline), "--given-only"]) == 1
    # --update --given-only rewrites the given run's entry and keeps the others
    assert main(["check", one, "--baseline", str(baseline), "--given-only", "--update"]) == 0
    assert len(json.loads(baseline.read_text())["runs"]) == 4


def test_stale_run_folders_of_a_regeneration_are_run_again(sweep_root, tmp_path, monkeypatch,
                                                           capsys):
    """A regeneration's own run folders are judged too, not only the published runs: a finished
    run whose code changed, or an interrupted one begun from another commit, runs again from
    scratch (a second regeneration after a change reran nothing before)."""
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CI", "true")
    root = tmp_path / "runs"
    shutil.copytree(sweep_root, root)
    finished = next(root.glob("toy/toy-steer/*seed1*"))
    spec = store.read_json(finished / store.SPEC_FILE)
    spec["code"]["digest"] = "0" * 64  # it ran other code
    store.write_json_atomic(finished / store.SPEC_FILE, spec)
    begun = next(root.glob("toy/base/*seed1*"))  # interrupted, begun from another commit
    (begun / store.METRICS_FILE).unlink()
    spec = store.read_json(begun / store.SPEC_FILE)
    spec["provenance"]["git"] = {"commit": "1" * 40, "dirty": False}
    store.write_json_atomic(begun / store.SPEC_FILE, spec)
    jobs = plan_sweep(["base", "toy-steer"], ["toy"], [0, 1], scale="tiny", root=root,
                      overrides=EVAL, threads=1)
    outcome = reuse_current_results(jobs, root, tmp_path / "no-results")
    assert outcome == {
        str(begun): "the run there was begun from commit 1111111111, not this checkout's "
                    f"{git_revision()['commit'][:10]}",
        str(finished): "the run there a module it ran has changed since"}
    assert not finished.exists() and not begun.exists()
    assert len(find_run_folders([root])) == 2  # the two current ones stay
    assert main(["sweep", "--methods", "base,toy-steer", "--tasks", "toy", "--seeds", "0,1",
                 "--threads", "1", "--output", str(root), "--reuse", str(tmp_path / "none"),
                 *EVAL]) == 0
    assert "4 runs: 2 done, 2 already complete" in capsys.readouterr().out  # the two removed
    assert len(find_run_folders([root])) == 4
