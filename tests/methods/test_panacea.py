"""Panacea through the harness on the toy task: fit, save, reload, serve per-row preferences."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from mobench.cli import main
from mobench.core import registry
from mobench.core.errors import ConfigError
from mobench.core.specs import DecodingConfig, TrainingSpec
from mobench.engine import TrainingConfig
from mobench.methods.panacea import PanaceaConfig, PanaceaMethod, resolve_preference_sampling
from mobench.run.runner import load_run, load_trained_policy


def spec_of(task: str, scale: str):  # type: ignore[no-untyped-def]
    cls = registry.tasks.get(task)
    return cls(cls.config_class()).spec(scale)


@pytest.mark.parametrize("task, scale, expected", [
    ("hhc", "tiny", "dpo-ls"),   # PPO did not beat base within the CPU budget (hhc's docstring)
    ("hhc", "paper", "ppo-ls"),  # the paper's RLHF setting
    ("hh", "paper", "dpo-ls"),
    ("chat10", "tiny", "sft-ls"),
    ("toy", "tiny", "dpo-ls"),
])
def test_auto_signal_is_the_tasks_and_names_the_variant(task, scale, expected):
    spec = spec_of(task, scale)
    assert PanaceaMethod(PanaceaConfig()).variant(spec) == expected
    chosen = PanaceaConfig(train=TrainingConfig(signal="sft"))
    assert PanaceaMethod(chosen).variant(spec) == "sft-ls"


def test_a_signal_the_task_does_not_offer_is_refused():
    spec = dataclasses.replace(spec_of("toy", "tiny"),
                               training=TrainingSpec(default_signal="dpo", rl_prompts=False))
    method = PanaceaMethod(PanaceaConfig(train=TrainingConfig(signal="ppo")))
    with pytest.raises(ConfigError, match="offers no training prompts and reward scorers"):
        method.variant(spec)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="vertex_probability"):
        PanaceaConfig(vertex_probability=1.5)
    with pytest.raises(ValueError, match="rank"):
        PanaceaConfig(rank=0)


@pytest.fixture(scope="module")
def panacea_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "toy-panacea"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("CI", "true")
        assert main(["run", "--method", "panacea", "--task", "toy", "--output", str(folder),
                     "method.train.steps=12", "method.train.batch_size=4",
                     "eval.n_bootstrap=5"]) == 0
    return folder


def test_run_records_an_adapter_and_its_cost(panacea_run):
    policy_dir = panacea_run / "policy"
    saved = json.loads((policy_dir / "panacea.json").read_text())
    assert saved["signal"] == "dpo" and saved["objectives"] == ["vowels", "length"]
    assert (policy_dir / "adapter" / "adapter_model.safetensors").is_file()
    cost = json.loads((panacea_run / "metrics.json").read_text())["cost"]
    assert cost["adapters_trained"] == 1 and cost["models_trained"] == 0
    assert cost["trainable_parameters"] > 0 and cost["train_seconds"] > 0


def test_reloaded_policy_serves_a_front_in_one_batch(panacea_run, tmp_path, monkeypatch):
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path))
    spec, _ = load_run(panacea_run)
    policy, _ = load_trained_policy(panacea_run, spec)
    prompts = ["apple dog", "kite sun", "river tree"]
    grid = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    greedy = DecodingConfig(max_new_tokens=8, do_sample=False)
    batched = policy.generate(prompts * 3, np.repeat(grid, 3, axis=0), greedy, seed=0)
    one_by_one = [g for pref in grid
                  for g in policy.generate(prompts, np.tile(pref, (3, 1)), greedy, seed=0)]
    assert batched == one_by_one
    # the records the run wrote came from the same trained adapter
    records = [json.loads(x) for x in (panacea_run / "records.jsonl").read_text().splitlines()]
    assert len(records) == 3 * 6


@pytest.mark.parametrize("configured, signal, expected", [
    ("auto", "sft", "row"), ("auto", "dpo", "step"), ("auto", "ppo", "step"),
    ("step", "sft", "step"), ("row", "dpo", "row")])
def test_preference_sampling_defaults_to_rows_for_sft_only(configured, signal, expected):
    config = PanaceaConfig(preference_sampling=configured)
    assert resolve_preference_sampling(config, signal) == expected
