"""A sweep survives its own faults (issue 26): its workers die with it, a damaged finished run
is repaired rather than counted complete (``mobench run --resume`` likewise), a second sweep on
the same output is refused naming the first, and an output that cannot be written is refused
before any worker starts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MICRO_SWEEP
from hardening_support import harness_messages, one_error_line

from mobench.cli import main
from mobench.core import store
from mobench.core.errors import RunFolderError

HUNG_SWEEP = ["sweep", "--methods", "toy-steer", "--tasks", "toy", "--seeds", "0,1", "--jobs",
              "2", "eval.n_bootstrap=5"]


def metrics(folder: Path) -> dict:
    return json.loads((folder / store.METRICS_FILE).read_text())["metrics"]


def run_folders(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob(store.SPEC_FILE))


def cut(path: Path, keep: float = 0.6) -> None:
    """Truncate ``path`` to ``keep`` of its bytes, as a copy cut short would."""
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def hung_sweep(tmp_path_factory: pytest.TempPathFactory, cli_env_module: dict[str, str]):
    """A local sweep of two runs whose two workers are stopped for good in the method's fit;
    yields (its process, the output root, every process under it: fork server, resource
    tracker, workers). Everything still running is killed afterwards."""
    if not Path("/proc/self/task").exists():
        pytest.skip("needs Linux's /proc")
    scratch = tmp_path_factory.mktemp("hung")
    hang = scratch / "hang"
    hang.mkdir()
    root = scratch / "runs"
    env = {**cli_env_module, "MOBENCH_TEST_HANG": "fit", "MOBENCH_TEST_HANG_DIR": str(hang)}
    log = scratch / "sweep.log"  # a file, not a pipe: orphans would hold a pipe open for good
    with open(log, "w") as output:
        sweep = subprocess.Popen([sys.executable, "-m", "mobench.cli", *HUNG_SWEEP, "--output",
                                  str(root)], env=env, cwd=scratch, stdout=output,
                                 stderr=subprocess.STDOUT)
    below: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while len(list(hang.iterdir())) < 2:
            assert sweep.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the sweep's runs never reached fit"
            time.sleep(0.2)
        below = children(sweep.pid)
        below += [pid for child in below for pid in children(child)]
        assert {int(p.name) for p in hang.iterdir()} <= set(below)
        yield sweep, root, below
    finally:
        kill_all([sweep.pid, *below])
        sweep.wait(timeout=30)


@pytest.fixture(scope="module")
def cli_env_module(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from conftest import PLUGIN_DIR

    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR), CI="true",
               MOBENCH_CACHE=str(tmp_path_factory.mktemp("cache")))
    for name in ("MOBENCH_TEST_KILL", "MOBENCH_TEST_HANG"):
        env.pop(name, None)
    return env


def test_a_second_sweep_on_the_same_output_is_refused_naming_the_first(hung_sweep, capsys,
                                                                       monkeypatch):
    sweep, root, _ = hung_sweep
    monkeypatch.chdir(root.parent)
    started = time.monotonic()
    line = one_error_line(capsys, [*HUNG_SWEEP, "--output", str(root)])
    assert line == (f"mobench: error: sweep output {str(root)!r} is in use by another sweep "
                    f"(mobench sweep pid {sweep.pid}); wait for it to finish, or stop it")
    assert time.monotonic() - started < 5  # refused up front, nothing planned or started


def test_killing_a_sweep_kills_its_workers_and_frees_their_runs(hung_sweep):
    sweep, root, below = hung_sweep
    assert len(below) >= 4  # the fork server, the resource tracker and the two workers
    sweep.kill()  # kill -9: the sweep cleans up nothing itself
    sweep.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in below if alive(pid)]
    assert not left, f"processes of the killed sweep still run: {left}"
    for folder in run_folders(root):  # no orphan holds a run: the next sweep may take them
        lock = store.RunLock(folder)
        lock.acquire()
        lock.release()


def test_a_sweep_repairs_damaged_runs_rather_than_counting_them_complete(micro_sweep, tmp_path,
                                                                         monkeypatch, capsys):
    root = tmp_path / "runs"
    shutil.copytree(micro_sweep, root, ignore=shutil.ignore_patterns(".*lock"))
    folders = run_folders(root)
    assert len(folders) == 4
    damaged = {folders[0]: store.METRICS_FILE, folders[1]: store.RECORDS_FILE,
               folders[2]: store.FRONT_FILE}
    for folder, name in damaged.items():
        cut(folder / name)
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CI", "true")
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", *MICRO_SWEEP, "--jobs", "2", "--output", str(root)]) == 0
    out = capsys.readouterr().out
    assert "sweep: 4 runs: 3 done, 1 already complete, 0 failed" in out
    for folder, name in damaged.items():
        assert f"repaired: {folder}: {name}" in out
    for folder in folders:
        original = micro_sweep / folder.relative_to(root)
        assert metrics(folder) == metrics(original)
        assert (folder / store.FRONT_FILE).read_text() == (
            original / store.FRONT_FILE).read_text()
    assert main(["report", str(root), "--n-bootstrap", "5"]) == 0


def test_run_resume_repairs_a_truncated_front_rather_than_calling_it_complete(
        micro_sweep, tmp_path, monkeypatch, capsys):
    original = next(micro_sweep.glob("toy/toy-steer/tiny-seed0-*"))
    folder = tmp_path / "run"
    shutil.copytree(original, folder, ignore=shutil.ignore_patterns(".lock"))
    cut(folder / store.FRONT_FILE)
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CI", "true")
    with harness_messages() as said:
        assert main(["run", "--method", "toy-steer", "--task", "toy", "--output", str(folder),
                     "--resume", "eval.n_bootstrap=5"]) == 0
    assert "already complete" not in capsys.readouterr().err
    assert f"{folder}: front.csv has 2 of its 3 rows; recomputing it from the records" in said
    assert (folder / store.FRONT_FILE).read_text() == (original / store.FRONT_FILE).read_text()
    assert metrics(folder) == metrics(original)


def test_a_sweep_refuses_an_unwritable_output_before_any_worker_starts(tmp_path, capsys,
                                                                       monkeypatch):
    (tmp_path / "afile").write_text("x")
    root = tmp_path / "afile" / "runs"
    monkeypatch.setattr("mobench.run.sweep.run_sweep",
                        lambda *a, **k: pytest.fail("the sweep started its runs"))
    line = one_error_line(capsys, [*HUNG_SWEEP, "--output", str(root)])
    assert line == (f"mobench: error: cannot create {str(root)!r}: "
                    f"{str(tmp_path / 'afile')!r} is a file, not a folder")
    assert "resume" not in line and capsys.readouterr().out == ""


def test_a_busy_run_is_not_repaired_under_its_runner(micro_sweep, tmp_path):
    from mobench.run.artifacts import repair_if_damaged

    folder = tmp_path / "run"
    shutil.copytree(next(micro_sweep.glob("toy/panacea/tiny-seed1-*")), folder,
                    ignore=shutil.ignore_patterns(".lock"))
    cut(folder / store.FRONT_FILE)
    with store.RunLock(folder), pytest.raises(RunFolderError, match="in use by mobench pid"):
        repair_if_damaged(folder)
    assert (folder / store.METRICS_FILE).exists()
