"""Helpers shared by the hardening tests (issue 17): in-process CLI runs on the toy plugin task,
and the check that a command failed with exactly one clear line."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobench.cli import main

# Small enough for seconds per run, large enough that training moves the adapters.
QUICK_TRAIN = ("method.train.steps=8", "method.train.batch_size=4", "eval.n_bootstrap=5")


def run_toy(folder: Path, cache: Path, method: str, *overrides: str) -> None:
    """``mobench run`` of ``method`` on the toy task into ``folder``, in this process."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOBENCH_CACHE", str(cache))
        mp.setenv("CI", "true")
        code = main(["run", "--method", method, "--task", "toy", "--output", str(folder),
                     *overrides])
    assert code == 0


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 1) -> str:
    """Run ``mobench ARGV``; it must exit with ``code`` after one ``mobench: error:`` line, its
    last, and no traceback. Returns that line."""
    try:
        exit_code = main(argv)
    except SystemExit as stop:  # argparse's usage errors exit from inside main
        exit_code = stop.code
    assert exit_code == code
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("mobench: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"expected one error line: {err!r}"
    return errors[0]


def writes_into_read_only_folders() -> bool:
    """Whether this process ignores folder permissions (root with CAP_DAC_OVERRIDE does; CI runs
    the read-only tests once more with that capability dropped: .ci/run)."""
    with tempfile.TemporaryDirectory() as scratch:
        locked = Path(scratch) / "locked"
        locked.mkdir(mode=0o555)
        try:
            (locked / "probe").touch()
        except PermissionError:
            return False
        finally:
            locked.chmod(0o755)
        return True


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def harness_messages() -> Iterator[list[str]]:
    """The harness's own messages (logger ``mobench``, which the CLI prints as "mobench: ..."
    lines) logged within the block."""
    logger = logging.getLogger("mobench")
    handler = _Collect()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
