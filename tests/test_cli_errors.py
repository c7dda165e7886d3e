"""Bad input: one clear line, a non-zero exit, no traceback, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobench.cli import main
from mobench.core import registry, store


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "toy-base"
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOBENCH_CACHE", str(cache))
        mp.setenv("CI", "true")
        assert main(["run", "--method", "base", "--task", "toy", "--output", str(folder),
                     "eval.n_bootstrap=10"]) == 0
    return folder


def fails_with(capsys: pytest.CaptureFixture[str], argv: list[str], *expected: str,
               code: int = 1) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("mobench: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"expected one error line, got: {err!r}"
    for text in expected:
        assert text in errors[0], f"{text!r} not in {errors[0]!r}"
    return errors[0]


def run_argv(out: Path, *extra: str) -> list[str]:
    return ["run", "--method", "base", "--task", "toy", "--output", str(out), *extra]


def test_unknown_method_lists_known_names_and_suggests(capsys, tmp_path):
    out = tmp_path / "run"
    fails_with(capsys, ["run", "--method", "panaceaa", "--task", "toy", "--output", str(out)],
               "unknown method 'panaceaa'", "Did you mean 'panacea'?",
               f"Known methods: {', '.join(registry.methods.names())}.")
    fails_with(capsys, ["run", "--method", "bas", "--task", "toy", "--output", str(out)],
               "Did you mean 'base'?")
    assert not out.exists()


def test_unknown_task(capsys, tmp_path):
    out = tmp_path / "run"
    fails_with(capsys, ["run", "--method", "base", "--task", "tyo", "--output", str(out)],
               "unknown task 'tyo'", "Did you mean 'toy'?")
    assert not out.exists()


def test_unknown_config_keys(capsys, tmp_path):
    out = tmp_path / "run"
    fails_with(capsys, run_argv(out, "method.lr=0.1"), "unknown config key method.lr")
    fails_with(capsys, run_argv(out, "eval.decoding.temprature=0.5"),
               "eval.decoding.temprature", "Did you mean eval.decoding.temperature?")
    fails_with(capsys, run_argv(out, "optimizer.lr=3"), "unknown config key 'optimizer'")
    fails_with(capsys, run_argv(out, "eval.batch_size=many"), "eval.batch_size must be an integer")
    fails_with(capsys, run_argv(out, "eval.batch_size=0"), "batch_size must be at least 1")
    fails_with(capsys, run_argv(out, "novalue"), "not of the form key=value")
    assert not out.exists()


def test_unreadable_or_malformed_config_file(capsys, tmp_path):
    out = tmp_path / "run"
    fails_with(capsys, run_argv(out, "--config", str(tmp_path / "missing.yaml")),
               "cannot read config file", "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("eval:\n  batch_size: [1,\n")
    fails_with(capsys, run_argv(out, "--config", str(broken)), "is not valid YAML")
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    fails_with(capsys, run_argv(out, "--config", str(listing)), "must hold a mapping")
    typo = tmp_path / "typo.yaml"
    typo.write_text("task:\n  n_eval_prompt: 3\n")
    fails_with(capsys, run_argv(out, "--config", str(typo)),
               "unknown config key task.n_eval_prompt",
               "Did you mean task.n_eval_prompts?")
    assert not out.exists()


def test_config_file_is_never_executed(capsys, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"seed: !!python/object/apply:os.system ['touch {marker}']\n")
    fails_with(capsys, run_argv(tmp_path / "run", "--config", str(evil)), "is not valid YAML")
    assert not marker.exists()


def test_output_folder_in_use_is_refused(capsys, tmp_path):
    out = tmp_path / "busy"
    with store.RunLock(out):
        fails_with(capsys, run_argv(out), "is in use by mobench pid")
    assert [p.name for p in out.iterdir()] == [store.LOCK_FILE]


def test_existing_run_needs_resume_and_a_matching_spec(capsys, finished_run):
    fails_with(capsys, run_argv(finished_run, "eval.n_bootstrap=10"), "already holds a run",
               "--resume")
    fails_with(capsys, run_argv(finished_run, "--resume", "eval.n_bootstrap=11"),
               "cannot resume", "differs in eval")
    assert main(run_argv(finished_run, "--resume", "eval.n_bootstrap=10")) == 0
    assert "already complete" in capsys.readouterr().err


def test_output_folder_with_foreign_files_is_refused(capsys, tmp_path):
    out = tmp_path / "other"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    fails_with(capsys, run_argv(out), "not empty and holds no mobench run")


@pytest.mark.parametrize("preference, message", [
    ("0.2,0.3,0.5", "has 3 weights but the task has 2 objectives"),
    ("0.5", "has 1 weights but the task has 2 objectives"),
    ("-0.2,1.2", "must not be negative"),
    ("0.3,0.3", "must sum to 1, got 0.6"),
    ("a,b", "is not a comma-separated list of numbers"),
    ("nan,0.5", "must be finite"),
])
def test_malformed_preference(capsys, finished_run, preference, message):
    fails_with(capsys, ["generate", str(finished_run), f"--preference={preference}",
                        "--prompt", "apple"], message)


def test_generate_and_eval_need_a_run_folder(capsys, tmp_path):
    fails_with(capsys, ["generate", str(tmp_path), "--preference", "0.5,0.5", "--prompt", "x"],
               "is not a mobench run folder")
    fails_with(capsys, ["eval", str(tmp_path / "nope")], "is not a mobench run folder")


def test_bad_eval_inputs_write_nothing(capsys, finished_run, tmp_path):
    prefs = tmp_path / "prefs.txt"
    prefs.write_text("0.5,0.5\n0.9,0.2\n")
    fails_with(capsys, ["eval", str(finished_run), "--preferences", str(prefs)],
               "prefs.txt:2", "must sum to 1")
    fails_with(capsys, ["eval", str(finished_run), "--prompts", str(tmp_path / "none.txt")],
               "cannot read prompts file")
    fails_with(capsys, ["eval", str(finished_run), "method.x=1"], "only eval.* keys apply")
    assert not (finished_run / "evals").exists()


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--method", "base"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mobench: error: the following arguments are required: --task")
    assert err.count("\n") == 0
