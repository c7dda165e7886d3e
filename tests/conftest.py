"""Shared fixtures: the out-of-tree test plugin (toy task, toy-steer method) and CLI runners."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).parent / "plugin"

# The plugin is found through its entry points, as an installed third-party package would be.
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))

from mobench.core import registry  # noqa: E402

registry.methods.refresh()
registry.tasks.refresh()


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the default tiny assets (hh's and the chat world's), built the first time a
    test asks for it and shared by the whole session: the builds take minutes.
    ``MOBENCH_TEST_TINY_CACHE`` names one filled before (CI passes the one its reproduction of
    committed runs built: the same default assets, read instead of built again)."""
    given = os.environ.get("MOBENCH_TEST_TINY_CACHE")
    return Path(given) if given else tmp_path_factory.mktemp("tiny-cache")


@pytest.fixture
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cli_env(cache_dir: Path) -> dict[str, str]:
    """Environment for a ``mobench`` subprocess that sees the test plugin."""
    env = dict(os.environ)
    paths = [str(PLUGIN_DIR), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["MOBENCH_CACHE"] = str(cache_dir)
    env["CI"] = "true"
    env.pop("MOBENCH_TEST_KILL", None)
    env.pop("MOBENCH_TEST_HANG", None)
    return env


def run_cli(args: Sequence[str], env: dict[str, str], cwd: Path,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``mobench ARGS`` in a subprocess (the installed console script's entry function)."""
    return subprocess.run([sys.executable, "-m", "mobench.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


# The sweep tests' micro grid: two methods by two seeds on the toy task at one torch thread, a
# few seconds a run. Panacea trains with PPO there and checkpoints every rollout (step 4, 8, 12,
# 16), so a run stopped after a checkpoint resumes from it.
MICRO_SWEEP = ("--methods", "panacea,toy-steer", "--tasks", "toy", "--seeds", "0,1",
               "--threads", "1", "eval.n_bootstrap=5", "method.train.signal=ppo",
               "method.train.steps=16", "method.train.batch_size=4", "method.train.checkpoints=4",
               "method.train.ppo.rollout_prompts=8", "method.train.ppo.max_new_tokens=6")


@pytest.fixture(scope="session")
def micro_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root of :data:`MICRO_SWEEP` run by the local executor (two workers), once a session:
    the reference the SLURM executor must match, and the runs the repair tests damage copies
    of. Read only."""
    from mobench.cli import main

    root = tmp_path_factory.mktemp("micro-sweep") / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("CI", "true")
        mp.delenv("MOBENCH_TEST_KILL", raising=False)
        mp.delenv("MOBENCH_TEST_HANG", raising=False)
        assert main(["sweep", *MICRO_SWEEP, "--jobs", "2", "--output", str(root)]) == 0
    return root
