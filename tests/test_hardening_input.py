"""Bad input the CLI used to pass on (issue 17): each case ends in one line and a non-zero exit,
before anything is written."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hardening_support import one_error_line, run_toy

from mobench.cli.main import build_parser
from mobench.core import store
from mobench.core.config import load_yaml_file
from mobench.core.errors import ConfigError, UnknownNameError
from mobench.core.specs import MAX_SEED, DecodingConfig
from mobench.run.runspec import resolve_run_spec

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "toy-steer"
    run_toy(folder, tmp_path_factory.mktemp("cache"), "toy-steer", "eval.n_bootstrap=5")
    return folder


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", ".nan", ".inf"])
def test_non_finite_numbers_are_refused_before_the_folder_exists(capsys, tmp_path, value):
    out = tmp_path / "run"
    line = one_error_line(capsys, ["run", "--method", "base", "--task", "toy", "--output",
                                   str(out), f"eval.decoding.temperature={value}"])
    assert "eval.decoding.temperature must be a finite number" in line
    assert not out.exists()


def test_non_finite_numbers_in_a_config_file_and_in_code(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("eval:\n  confidence: .nan\n")
    with pytest.raises(ConfigError, match="eval.confidence must be a finite number"):
        resolve_run_spec("base", "toy", config_file=config)
    with pytest.raises(ValueError, match="positive finite"):
        DecodingConfig(temperature=float("inf"))


def test_eval_overrides_are_checked_too(capsys, finished_run):
    line = one_error_line(capsys, ["eval", str(finished_run), "eval.decoding.top_p=nan"])
    assert "eval.decoding.top_p must be a finite number" in line
    assert not (finished_run / "evals").exists()


@pytest.mark.parametrize("seed", [MAX_SEED + 1, 10**20, -1])
def test_seeds_are_bounded_by_what_every_generator_accepts(capsys, tmp_path, finished_run, seed):
    out = tmp_path / "run"
    expected = f"seed must be an integer from 0 to {MAX_SEED}, got {seed}"
    line = one_error_line(capsys, ["run", "--method", "base", "--task", "toy", "--output",
                                   str(out), "--seed", str(seed)], code=2)
    assert expected in line
    config = tmp_path / "c.yaml"
    config.write_text(f"seed: {seed}\n")
    line = one_error_line(capsys, ["run", "--method", "base", "--task", "toy", "--output",
                                   str(out), "--config", str(config)])
    assert expected in line
    for command in (["generate", str(finished_run), "--preference", "0.5,0.5", "--prompt", "x"],
                    ["eval", str(finished_run)]):
        assert expected in one_error_line(capsys, [*command, "--seed", str(seed)], code=2)
    assert not out.exists()


def test_the_bound_is_numpys_legacy_seed_range():
    import numpy as np
    import torch

    assert resolve_run_spec("base", "toy", seed=MAX_SEED).seed == MAX_SEED
    np.random.RandomState(MAX_SEED)
    torch.manual_seed(MAX_SEED)
    with pytest.raises(ValueError):
        np.random.RandomState(MAX_SEED + 1)


def test_non_utf8_config_file(tmp_path, capsys):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("eval:\n  batch_size: 4 # réglé\n".encode("latin-1"))
    line = one_error_line(capsys, ["run", "--method", "base", "--task", "toy", "--config",
                                   str(config), "--output", str(tmp_path / "run")])
    assert "is not UTF-8 text (byte 0xe9 at offset 25)" in line


@pytest.mark.parametrize("text, key, line_number", [
    ("seed: 1\nseed: 2\n", "seed", 2),
    ("eval:\n  batch_size: 4\n  n_bootstrap: 5\n  batch_size: 8\n", "batch_size", 4),
])
def test_duplicate_yaml_keys_are_refused(tmp_path, text, key, line_number):
    config = tmp_path / "dup.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_yaml_file(config)
    assert str(error.value) == (f"config file {str(config)!r} repeats the key {key!r} at line "
                                f"{line_number}; keep one")
    assert yaml.safe_load(text)  # plain YAML would have kept the last value without a word


def test_a_negative_preference_is_read_as_a_preference(capsys, finished_run):
    for value in ("-0.2,1.2", "-.5,1.5"):
        line = one_error_line(capsys, ["generate", str(finished_run), "--preference", value,
                                       "--prompt", "x"])
        assert line == "mobench: error: preference weights must not be negative"
    # a flag after --preference is still a missing value, not a preference
    line = one_error_line(capsys, ["generate", str(finished_run), "--preference", "--prompt",
                                   "x"], code=2)
    assert "argument --preference: expected one argument" in line


def documented_commands() -> list[list[str]]:
    """Every ``mobench run`` example of the README's code blocks and of ``run --help``."""
    commands = []
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    # A command continued with a trailing backslash is one command; a `for VAR in ...; do`
    # loop's body is checked once per value, as the shell would run it.
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    loop: tuple[str, list[str]] | None = None  # the variable of the loop we are in, its values
    for line in lines:
        text = line.split("#")[0].split("&&")[-1].strip()
        if match := re.fullmatch(r"for (\w+) in (.+); do", text):
            loop = (match.group(1), match.group(2).split())
        elif text == "done":
            loop = None
        elif text.startswith("mobench run"):
            name, values = loop or ("", [""])
            for value in values:
                commands.append(shlex.split(text.replace(f"${name}", value) if name else text)[2:])
    run_help = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    examples = re.search(r"e\.g\.\s+((?:\S+=\S+\s*)+)", run_help)
    assert examples is not None, run_help
    commands.append(["--method", "panacea", "--task", "hh", *examples.group(1).split()])
    return commands


def test_documented_examples_resolve():
    commands = documented_commands()
    assert len(commands) >= 5
    parser = build_parser()
    for argv in commands:
        args, extra = parser.parse_known_args(["run", *argv])
        config = args.config if args.config and Path(args.config).exists() else None
        spec = resolve_run_spec(args.method, args.task, scale=args.scale, seed=args.seed,
                                config_file=config, overrides=[*args.overrides, *extra])
        assert spec.method == args.method
    with pytest.raises(UnknownNameError, match="unknown config key method.lr"):
        resolve_run_spec("panacea", "hh", overrides=["method.lr=1e-4"])


def test_the_lock_message_of_eval_names_no_output_option(capsys, finished_run):
    with store.RunLock(finished_run):
        line = one_error_line(capsys, ["eval", str(finished_run)])
    assert line == (f"mobench: error: run folder {str(finished_run)!r} is in use by mobench pid "
                    f"{os.getpid()}; wait for it to finish")
    assert "--output" not in line


def test_sigterm_says_the_run_can_be_resumed(tmp_path, cli_env):
    folder = tmp_path / "run"
    argv = [sys.executable, "-m", "mobench.cli", "run", "--method", "toy-steer", "--task", "toy",
            "--output", str(folder), "eval.batch_size=1", "eval.n_bootstrap=5"]
    process = subprocess.Popen(argv, env=cli_env, cwd=tmp_path, stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True)
    assert process.stderr is not None
    for line in process.stderr:  # wait until records are being written
        if line.startswith("mobench: evaluating"):
            break
    deadline = time.monotonic() + 60
    while not (folder / store.RECORDS_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert rest.strip().splitlines()[-1] == "mobench: terminated (SIGTERM); continue with --resume"
    assert "Traceback" not in rest and not (folder / store.METRICS_FILE).exists()
    resumed = subprocess.run([*argv, "--resume"], env=cli_env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert (folder / store.METRICS_FILE).exists()
