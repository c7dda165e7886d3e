"""A run on a full disk: one line saying so and what to do, exit 1, nothing half-written, and
the same run once space is back (``--resume``) comes out as an uninterrupted one.

On a real small filesystem (a tmpfs, which needs root with CAP_SYS_ADMIN; skipped elsewhere,
saying why), sized so that the disk fills while writing spec.json and the work files, during the
records append, and while writing the front's plot; and everywhere with the records append made
to fail as a full disk does.
"""

from __future__ import annotations

import errno
import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli

ARGS = ["run", "--method", "toy-steer", "--task", "toy", "eval.n_bootstrap=5", "eval.batch_size=4"]
FULL = "mobench: error: no space left on the device"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from mobench.cli import main

    folder = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("CI", "true")
        assert main([*ARGS, "--output", str(folder)]) == 0
    return json.loads((folder / "metrics.json").read_text())["metrics"]


def mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'mount failed'}):"
                    " needs root with CAP_SYS_ADMIN; the append case below runs everywhere")


@pytest.mark.parametrize(("size", "stage"), [("12k", "training"), ("24k", "evaluating"),
                                             ("40k", "computing metrics")])
def test_a_full_disk_stops_a_run_in_one_line_and_resume_finishes_it(tmp_path, cli_env,
                                                                    uninterrupted, size, stage):
    disk = tmp_path / "disk"
    mount_tmpfs(disk, size)
    try:
        folder = disk / "run"
        full = run_cli([*ARGS, "--output", str(folder)], cli_env, cwd=tmp_path)
        assert full.returncode == 1, full.stderr
        lines = full.stderr.strip().splitlines()
        assert lines[-1].startswith(FULL) and lines[-1].endswith("continue with --resume")
        assert f"mobench: {stage}" in full.stderr and "Traceback" not in full.stderr
        assert not list(folder.rglob("*.tmp"))  # no half-written file left behind
        subprocess.run(["mount", "-o", "remount,size=2m", str(disk)], check=True)
        resumed = run_cli([*ARGS, "--output", str(folder), "--resume"], cli_env, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads((folder / "metrics.json").read_text())["metrics"] == uninterrupted
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_full_disk_during_the_records_append_says_so_and_the_run_resumes(
        tmp_path, monkeypatch, capsys, uninterrupted):
    from mobench.cli import main
    from mobench.core.store import RecordsLog

    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
    append = RecordsLog.append_batch
    calls = {"n": 0}

    def append_until_full(self, records):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # half a line reaches the file, then the disk is full
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write('{"batch": 1, "preference_in')
            raise OSError(errno.ENOSPC, "No space left on device")
        return append(self, records)

    folder = tmp_path / "run"
    monkeypatch.setattr(RecordsLog, "append_batch", append_until_full)
    assert main([*ARGS, "--output", str(folder)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(FULL)
    monkeypatch.setattr(RecordsLog, "append_batch", append)
    assert main([*ARGS, "--output", str(folder), "--resume"]) == 0
    assert json.loads((folder / "metrics.json").read_text())["metrics"] == uninterrupted


def test_the_message_names_the_file_when_the_system_does():
    from mobench.cli.main import disk_full_message

    error = OSError(errno.ENOSPC, "No space left on device", "/runs/x/plots/front.png")
    assert disk_full_message(error, "run") == (
        "no space left on the device writing '/runs/x/plots/front.png'; free some space, then "
        "continue with --resume")
    assert disk_full_message(OSError(errno.EDQUOT, "Disk quota exceeded"), "report").endswith(
        "free some space and retry")
