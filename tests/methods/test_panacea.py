"""Panacea through the harness on the toy task: fit, save, reload, serve per-row preferences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mobench.cli import main
from mobench.methods.panacea import PanaceaConfig, resolve_algorithm, resolve_preference_sampling
from mobench.runner import load_run, load_trained_policy
from mobench.specs import DecodingConfig


@pytest.mark.parametrize("task, scale, has_pairs, expected", [
    ("hhc", "tiny", True, "dpo"),   # PPO did not beat base within the CPU budget
    ("hhc", "paper", True, "ppo"),  # the paper's RLHF setting
    ("hh", "paper", True, "dpo"),
    ("chat10", "tiny", True, "sft"),
    ("someone-elses", "tiny", True, "dpo"),
    ("someone-elses", "tiny", False, "sft"),
])
def test_auto_algorithm_follows_the_task(task, scale, has_pairs, expected):
    assert resolve_algorithm(PanaceaConfig(), task, scale, has_pairs) == expected
    assert resolve_algorithm(PanaceaConfig(algorithm="sft"), task, scale, has_pairs) == "sft"


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
                     "method.steps=12", "method.batch_size=4", "eval.n_bootstrap=5"]) == 0
    return folder


def test_run_records_an_adapter_and_its_cost(panacea_run):
    policy_dir = panacea_run / "policy"
    saved = json.loads((policy_dir / "panacea.json").read_text())
    assert saved["algorithm"] == "dpo" and saved["objectives"] == ["vowels", "length"]
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


@pytest.mark.parametrize("configured, algorithm, expected", [
    ("auto", "sft", "row"), ("auto", "dpo", "step"), ("auto", "ppo", "step"),
    ("step", "sft", "step"), ("row", "dpo", "row")])
def test_preference_sampling_defaults_to_rows_for_sft_only(configured, algorithm, expected):
    config = PanaceaConfig(preference_sampling=configured)
    assert resolve_preference_sampling(config, algorithm) == expected
