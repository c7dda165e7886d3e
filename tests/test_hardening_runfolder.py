"""Run folders under faults (issue 17): evaluations rerun and resumed, unwritable outputs, damaged
policies and training checkpoints, wrong records, a corrupt metrics file, file modes, and what a
resumed training says."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli
from hardening_support import (
    QUICK_TRAIN,
    harness_messages,
    one_error_line,
    run_toy,
    writes_into_read_only_folders,
)

from mobench.cli import main
from mobench.core import store
from mobench.core.errors import RunFolderError

STEER = ("eval.batch_size=4", "eval.n_bootstrap=5")  # 18 cells: batches of 4, 4, 4, 4, 2


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def steer_run(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "steer"
    run_toy(folder, cache, "toy-steer", *STEER)
    return folder


@pytest.fixture(scope="module")
def panacea_run(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "panacea"
    run_toy(folder, cache, "panacea", *QUICK_TRAIN)
    return folder


@pytest.fixture
def env(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOBENCH_CACHE", str(cache))
    monkeypatch.setenv("CI", "true")


def copy_run(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(store.LOCK_FILE))
    return copy


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / store.RECORDS_FILE).read_text().splitlines()]


def cells(folder: Path) -> list[tuple[int, str, str]]:
    return sorted((r["preference_index"], r["prompt_id"], r["response"]) for r in records(folder))


def metrics(folder: Path) -> dict:
    return json.loads((folder / store.METRICS_FILE).read_text())["metrics"]


def resume_argv(folder: Path, method: str = "toy-steer", *settings: str) -> list[str]:
    return ["run", "--method", method, "--task", "toy", "--output", str(folder), "--resume",
            *(settings or STEER)]


# ---------------------------------------------------------------- eval: rerun and resume
@pytest.mark.parametrize("choice", ["prompts", "preferences"])
def test_eval_with_files_reruns_and_resumes(steer_run, tmp_path, capsys, env, cli_env, choice):
    run = copy_run(steer_run, tmp_path)
    files = {"prompts": tmp_path / "prompts.jsonl", "preferences": tmp_path / "prefs.txt"}
    files["prompts"].write_text("".join(json.dumps({"prompt_id": f"q{i}", "prompt": text}) + "\n"
                                        for i, text in enumerate(["apple sun", "dog tree kite",
                                                                  "egg fig", "water yak"])))
    files["preferences"].write_text("1,0\n0.25,0.75\n0,1\n")
    argv = ["eval", str(run), f"--{choice}", str(files[choice]), "--name", "mine",
            "eval.batch_size=2", "eval.n_bootstrap=5"]
    assert main(argv) == 0
    out = run / "evals" / "mine"
    first = metrics(out)
    assert main(argv) == 0  # the same evaluation again: shown, not refused
    assert metrics(out) == first
    # killed after two batches, the same command continues it to the same records and metrics
    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed, ignore=shutil.ignore_patterns("evals", store.LOCK_FILE))
    argv[1] = str(resumed)
    killed = run_cli(argv, {**cli_env, "MOBENCH_TEST_KILL": "generate:3"}, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(records(resumed / "evals" / "mine")) == 4
    again = run_cli(argv, cli_env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert cells(resumed / "evals" / "mine") == cells(out)
    assert metrics(resumed / "evals" / "mine") == first


# ------------------------------------------------------------------- unwritable --output
def test_output_under_a_regular_file(capsys, tmp_path, env):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "run"
    line = one_error_line(capsys, ["run", "--method", "base", "--task", "toy", "--output",
                                   str(out)])
    assert line == (f"mobench: error: cannot create {str(out)!r}: "
                    f"{str(tmp_path / 'afile')!r} is a file, not a folder")


@pytest.mark.skipif(writes_into_read_only_folders(),
                    reason="this process writes into read-only folders (root)")
def test_read_only_output_folder(capsys, tmp_path, env):
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    line = one_error_line(capsys, ["run", "--method", "base", "--task", "toy", "--output",
                                   str(folder / "run")])
    assert "is not writable" in line and not (folder / "run").exists()


@pytest.mark.skipif(writes_into_read_only_folders(),
                    reason="this process writes into read-only folders (root)")
def test_sweep_into_a_read_only_output_folder(capsys, tmp_path, env, monkeypatch):
    # refused before any run is planned or started (issue 26): one line, and no "it resumes"
    monkeypatch.setattr("mobench.run.sweep.run_sweep",
                        lambda *a, **k: pytest.fail("the sweep started its runs"))
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    line = one_error_line(capsys, ["sweep", "--methods", "base", "--tasks", "toy", "--output",
                                   str(folder / "runs")])
    assert "is not writable" in line and not (folder / "runs").exists()


def test_immutable_output_folder(capsys, tmp_path, env):
    folder = tmp_path / "immutable"
    folder.mkdir()
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        line = one_error_line(capsys, ["run", "--method", "base", "--task", "toy", "--output",
                                       str(folder)])
        assert line == (f"mobench: error: cannot write to {str(folder)!r}: {str(folder)!r} is "
                        "not writable (permissions, a read-only file system or an immutable "
                        "folder); choose another folder")
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_lock_on_a_read_only_file_system_is_one_line(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / store.LOCK_FILE))

    monkeypatch.setattr(store.os, "open", read_only)
    with pytest.raises(RunFolderError) as error:
        store.RunLock(tmp_path).acquire()
    assert str(error.value) == (f"cannot write to {str(tmp_path)!r}: Read-only file system "
                                f"({tmp_path / store.LOCK_FILE})")


# ----------------------------------------------------------------------- damaged policy
@pytest.mark.parametrize("damage, named", [
    ("truncate", "adapter_model.safetensors"), ("empty", "adapter_model.safetensors"),
    ("bad-config", "adapter_config.json")])
def test_a_damaged_policy_is_named_with_its_recovery(panacea_run, tmp_path, capsys, env, damage,
                                                     named):
    run = copy_run(panacea_run, tmp_path)
    target = run / "policy" / "adapter" / named
    original = target.read_bytes()
    target.write_bytes({"truncate": original[: len(original) // 2], "empty": b"",
                        "bad-config": original[:-5]}[damage])
    for argv in (["generate", str(run), "--preference", "0.5,0.5", "--prompt", "apple"],
                 ["eval", str(run), "--name", "again", "eval.n_bootstrap=5"]):
        line = one_error_line(capsys, argv)
        assert f"the trained policy is damaged: {str(target)!r}" in line
        assert f"to rebuild it, remove {str(run / 'policy')!r}" in line
    assert not (run / "evals" / "again" / store.SPEC_FILE).exists()  # nothing blocks a rerun
    (run / store.METRICS_FILE).unlink()
    line = one_error_line(capsys, resume_argv(run, "panacea", *QUICK_TRAIN))
    assert f"the trained policy is damaged: {str(target)!r}" in line
    # the recovery the message gives works: the policy is rebuilt from work/'s checkpoint
    shutil.rmtree(run / "policy")
    assert main(resume_argv(run, "panacea", *QUICK_TRAIN)) == 0
    assert metrics(run) == metrics(panacea_run)
    assert main(["eval", str(run), "--name", "again", "eval.n_bootstrap=5"]) == 0


# ------------------------------------------------------ damaged training checkpoint (CLI)
RS = ("method.reuse_experts=false", *QUICK_TRAIN)


@pytest.fixture(scope="module")
def soups_run(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "soups"
    run_toy(folder, cache, "rewarded-soups", *RS)
    return folder


def soups_killed_between_experts(tmp_path: Path, cli_env: dict[str, str]) -> Path:
    folder = tmp_path / "soups"
    argv = ["run", "--method", "rewarded-soups", "--task", "toy", "--output", str(folder), *RS]
    killed = run_cli(argv, {**cli_env, "MOBENCH_TEST_KILL": "train:2"}, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    return folder


def test_resumed_training_says_where_it_continues(soups_run, tmp_path, cli_env):
    folder = soups_killed_between_experts(tmp_path, cli_env)
    resumed = run_cli(resume_argv(folder, "rewarded-soups", *RS), cli_env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "mobench: expert vowels finished its 8 steps before; not redone" in resumed.stderr
    assert metrics(folder) == metrics(soups_run)


@pytest.mark.parametrize("damaged_file", ["trainable.safetensors", "optimizer.pt",
                                          "trainer_state.json"])
def test_a_damaged_checkpoint_restarts_its_training(soups_run, tmp_path, cli_env, damaged_file):
    folder = soups_killed_between_experts(tmp_path, cli_env)
    checkpoint = folder / "work" / "expert-vowels" / "checkpoints" / "step-00000008"
    target = checkpoint / damaged_file
    target.write_bytes(target.read_bytes()[:20])
    resumed = run_cli(resume_argv(folder, "rewarded-soups", *RS), cli_env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (f"mobench: expert vowels: checkpoint step-00000008 is damaged ({damaged_file} "
            "cannot be read") in resumed.stderr
    assert "mobench: expert vowels: no readable checkpoint is left; training starts over from " \
        "step 0" in resumed.stderr
    assert (checkpoint.parent / "step-00000008.damaged" / damaged_file).exists()
    assert metrics(folder) == metrics(soups_run)
    counters = ("adapters_trained", "trainable_parameters", "generated_tokens", "reward_calls")
    got, want = (json.loads((f / store.METRICS_FILE).read_text())["cost"]
                 for f in (folder, soups_run))
    assert {k: got[k] for k in counters} == {k: want[k] for k in counters}  # counted once


# --------------------------------------------------------------------------- records
def damaged_copy(steer_run: Path, tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    run = copy_run(steer_run, tmp_path)
    lines = (run / store.RECORDS_FILE).read_text().splitlines(keepends=True)
    (run / store.RECORDS_FILE).write_text("".join(edit(lines)))
    (run / store.METRICS_FILE).unlink()
    return run


def without_key(line: str, key: str) -> str:
    record = json.loads(line)
    del record[key]
    return json.dumps(record) + "\n"


@pytest.mark.parametrize("edit, dropped, redone", [
    (lambda lines: [*lines[:5], "this is not json\n", *lines[5:]],
     "line 5 (cut short: batch 1); line 6 (not JSON); lines 7-9 (cut short: batch 1)", 1),
    (lambda lines: [*lines[:5], without_key(lines[5], "scores"), *lines[6:]],
     "lines 5-8 (a record without 'scores': batch 1)", 1),
    (lambda lines: [*lines[:5], lines[4], *lines[6:]],
     "lines 5-8 (not the cells the plan puts in this batch: batch 1)", 1),
    (lambda lines: [*lines[:8], *lines[4:8], *lines[8:]],
     "lines 9-12 (repeated: batch 1)", None),
])
def test_wrong_records_are_dropped_said_and_recomputed(steer_run, tmp_path, env, edit, dropped,
                                                       redone):
    run = damaged_copy(steer_run, tmp_path, edit)
    with harness_messages() as messages:
        assert main(resume_argv(run)) == 0
    assert f"{run / store.RECORDS_FILE}: dropped {dropped}; the batches they held are " \
        "recomputed" in messages
    assert cells(run) == cells(steer_run) and len(records(run)) == len(records(steer_run))
    assert metrics(run) == metrics(steer_run)
    # the batches after the damage were kept, not redone: only the dropped one comes back, last
    order = [r["batch"] for r in records(run)]
    assert order == ([0] * 4 + [2] * 4 + [3] * 4 + [4] * 2 + [1] * 4 if redone == 1
                     else [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 2)


def test_a_record_of_another_plan_is_refused_with_its_line(steer_run, tmp_path, capsys, env):
    def foreign(lines: list[str]) -> list[str]:
        record = json.loads(lines[6])
        record["batch"] = 40
        return [*lines[:6], json.dumps(record) + "\n", *lines[7:]]

    run = damaged_copy(steer_run, tmp_path, foreign)
    line = one_error_line(capsys, resume_argv(run))
    assert f"{str(run / store.RECORDS_FILE)!r} line 7 holds a record of batch 40" in line


def test_records_replaced_by_a_folder(steer_run, tmp_path, capsys, env):
    run = copy_run(steer_run, tmp_path)
    (run / store.RECORDS_FILE).unlink()
    (run / store.RECORDS_FILE).mkdir()
    (run / store.METRICS_FILE).unlink()
    line = one_error_line(capsys, resume_argv(run))
    assert line == (f"mobench: error: {str(run / store.RECORDS_FILE)!r} is not a file; move it "
                    "away and run again to recompute the records")


@pytest.mark.parametrize("content", [b"", b"{\"metrics\": ", b"[1, 2]"])
def test_a_corrupt_metrics_file_is_recomputed_on_resume(steer_run, tmp_path, env, content):
    run = copy_run(steer_run, tmp_path)
    (run / store.METRICS_FILE).write_bytes(content)
    with harness_messages() as messages:
        assert main(resume_argv(run)) == 0
    assert any(m.endswith("; recomputing it from the records") and "metrics.json" in m
               for m in messages)
    assert metrics(run) == metrics(steer_run)


# -------------------------------------------------------------------------- file modes
def test_files_and_folders_honour_the_umask(tmp_path, cli_env):
    folder = tmp_path / "run"
    argv = ["run", "--method", "panacea", "--task", "toy", "--output", str(folder), *QUICK_TRAIN]
    result = subprocess.run([sys.executable, "-m", "mobench.cli", *argv], env=cli_env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            preexec_fn=lambda: os.umask(0o002))
    assert result.returncode == 0, result.stderr
    modes = {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode)
             for p in folder.rglob("*")}
    # mkstemp and mkdtemp would have made these 0600 and 0700
    assert {"spec.json", "metrics.json", "front.csv", "policy", "policy/cost.json",
            "work/cost_meter.json", "work/panacea-dpo/checkpoints/step-00000008"} <= set(modes)
    wrong = {path: oct(mode) for path, mode in modes.items()
             if mode != (0o775 if (folder / path).is_dir() else 0o664)}
    assert not wrong
