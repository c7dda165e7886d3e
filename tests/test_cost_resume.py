"""A Panacea run killed during training and resumed reports the cost an uninterrupted run does.

Panacea trains with PPO on the toy task here, so training generates tokens and calls the reward
scorers; the kill (``kill -9`` from inside the third rollout's scoring) lands after the second
rollout's checkpoint. On resume the trainer restarts from that checkpoint with the counters saved
in it, so the redone rollout is counted once, and the training clock adds the time of both legs.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from conftest import PLUGIN_DIR, run_cli

ARGS = ["run", "--method", "panacea", "--task", "toy", "eval.n_bootstrap=5",
        "method.train.signal=ppo", "method.train.steps=16", "method.train.batch_size=4",
        "method.train.checkpoints=4", "method.train.ppo.rollout_prompts=8",
        "method.train.ppo.max_new_tokens=6"]
# 8 rollout samples, 2 epochs of batches of 4: 4 steps a rollout, a checkpoint after each; the
# two toy scorers are called once each per rollout, so scorer call 6 is the third rollout's.
KILL_AT = "score:6"
COUNTERS = ("models_trained", "adapters_trained", "trainable_parameters", "generated_tokens",
            "reward_calls")


def cost(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())["cost"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    folder = tmp_path_factory.mktemp("reference") / "run"
    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR), CI="true",
               MOBENCH_CACHE=str(tmp_path_factory.mktemp("cache")))
    env.pop("MOBENCH_TEST_KILL", None)
    result = run_cli([*ARGS, "--output", str(folder)], env, cwd=folder.parent)
    assert result.returncode == 0, result.stderr
    return folder


def test_cost_after_a_kill_during_training_equals_an_uninterrupted_runs(uninterrupted, tmp_path,
                                                                        cli_env):
    folder = tmp_path / "run"
    killed = run_cli([*ARGS, "--output", str(folder)], {**cli_env, "MOBENCH_TEST_KILL": KILL_AT},
                     cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    work = folder / "work"
    checkpoints = sorted(p.name for p in (work / "panacea-ppo" / "checkpoints").iterdir())
    assert checkpoints == ["step-00000008"]  # killed in the third rollout, after two
    first_leg = json.loads((work / "train_clock.json").read_text())["legs"]
    assert len(first_leg) == 1

    resumed = run_cli([*ARGS, "--output", str(folder), "--resume"], cli_env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming panacea ppo from step 8 of 16" in resumed.stderr
    got, want = cost(folder), cost(uninterrupted)
    assert {k: got[k] for k in COUNTERS} == {k: want[k] for k in COUNTERS}
    assert want["generated_tokens"] > 0 and want["reward_calls"] == 4 * 2 * 8
    legs = json.loads((work / "train_clock.json").read_text())["legs"]
    assert len(legs) == 2 and legs[0] >= first_leg[0] and legs[1] > 0
    assert got["train_seconds"] == pytest.approx(sum(legs), abs=2e-3)
    # same counters, same training: the resumed run also evaluates to the same metrics
    assert json.loads((folder / "metrics.json").read_text())["metrics"] == json.loads(
        (uninterrupted / "metrics.json").read_text())["metrics"]


@pytest.mark.parametrize("kill_at", ["generate:3", "finalize"])
def test_evaluation_seconds_count_every_leg_of_a_resumed_run(tmp_path, cli_env, kill_at):
    """Killed during evaluation (after two batches) or after it (before the metrics), the
    resumed run records the evaluation time of both legs, not only the last's."""
    folder = tmp_path / "run"
    args = ["run", "--method", "toy-steer", "--task", "toy", "--output", str(folder),
            "eval.n_bootstrap=5", "eval.batch_size=4"]
    killed = run_cli(args, {**cli_env, "MOBENCH_TEST_KILL": kill_at}, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    clock = folder / "work" / "evaluation_clock.json"
    first_leg = json.loads(clock.read_text())["legs"]
    assert len(first_leg) == 1 and first_leg[0] > 0
    resumed = run_cli([*args, "--resume"], cli_env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    legs = json.loads(clock.read_text())["legs"]
    assert len(legs) == 2 and legs[0] >= first_leg[0]
    seconds = json.loads((folder / "metrics.json").read_text())["evaluation_cost"]["seconds"]
    assert seconds == pytest.approx(sum(legs), abs=2e-3)
    assert seconds >= first_leg[0]
