"""Rewarded Soups on the toy task: experts from one initialisation, the soup at a vertex is the
expert, factors and delta differ inside the simplex, a front in one batch equals per-λ merges,
resume between experts, and reuse of cached experts."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from mobench.adapters import activate_adapter, merge
from mobench.cli import main
from mobench.core.policy import generate_texts
from mobench.core.specs import DecodingConfig
from mobench.run.runner import load_run, load_trained_policy

GREEDY = DecodingConfig(max_new_tokens=8, do_sample=False)
SMALL = ["method.train.steps=12", "method.train.batch_size=4", "eval.n_bootstrap=5",
         "method.train.optim.learning_rate=0.02"]
PROMPTS = ["apple dog kite", "river tree sun", "igloo jam lemon"]


def run(folder: Path, cache: Path, *extra: str) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(cache))
        patch.setenv("CI", "true")
        assert main(["run", "--method", "rewarded-soups", "--task", "toy", "--output",
                     str(folder), *SMALL, *extra]) == 0
    return folder


@pytest.fixture(scope="module")
def soup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    return run(tmp_path_factory.mktemp("runs") / "soup", cache)


@pytest.fixture(scope="module")
def policy(soup, tmp_path_factory):  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(tmp_path_factory.mktemp("cache2")))
        spec, _ = load_run(soup)
        loaded, _ = load_trained_policy(soup, spec)
    return loaded


def test_one_expert_per_objective_is_trained_and_counted(soup):
    saved = json.loads((soup / "policy" / "policy.json").read_text())
    assert saved["experts"] == ["expert-vowels", "expert-length"]
    assert saved["variant"] == "factors"
    metrics = json.loads((soup / "metrics.json").read_text())
    assert metrics["run"]["variant"] == "factors"
    cost = metrics["cost"]
    assert cost["adapters_trained"] == 2 and cost["models_trained"] == 0
    assert cost["reused"] == {}
    assert sorted(p.name for p in (soup / "work").iterdir() if p.is_dir()) == \
        ["expert-length", "expert-vowels"]


def test_the_soup_at_a_vertex_generates_exactly_the_experts_tokens(policy):
    texts = [policy.spec.format_prompt(p) for p in PROMPTS]
    for index, expert in enumerate(policy.experts):
        vertex = np.zeros((len(PROMPTS), 2))
        vertex[:, index] = 1.0
        soup_tokens = policy.generate(PROMPTS, vertex, GREEDY, seed=0)
        activate_adapter(policy.model, expert, trainable=False)
        assert soup_tokens == generate_texts(policy.model, policy.tokenizer, texts, GREEDY,
                                             seed=0)


def test_a_front_in_one_batch_equals_one_merge_per_preference(policy):
    grid = np.array([[1.0, 0.0], [0.7, 0.3], [0.5, 0.5], [0.0, 1.0]])
    texts = [policy.spec.format_prompt(p) for p in PROMPTS]
    for variant in ("factors", "delta"):
        policy.mixture.variant = variant
        batched = policy.generate(PROMPTS * len(grid), np.repeat(grid, len(PROMPTS), axis=0),
                                  GREEDY, seed=0)
        for k, weights in enumerate(grid):
            merge(policy.model, variant, policy.experts, weights.tolist(), f"{variant}-{k}")
            activate_adapter(policy.model, f"{variant}-{k}", trainable=False)
            alone = generate_texts(policy.model, policy.tokenizer, texts, GREEDY, seed=0)
            assert batched[k * 3:(k + 1) * 3] == alone, (variant, weights)
    policy.mixture.variant = "factors"


def test_factors_and_delta_differ_inside_the_simplex_and_agree_at_the_vertices(policy):
    import torch

    batch = policy.tokenizer([policy.spec.format_prompt(p) for p in PROMPTS],
                             return_tensors="pt", padding=True)
    outputs = {}
    for variant in ("factors", "delta"):
        policy.mixture.variant = variant
        rows = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]])
        with policy.mixture.rows(rows), torch.no_grad():
            outputs[variant] = policy.model(**batch).logits
    policy.mixture.variant = "factors"
    torch.testing.assert_close(outputs["factors"][0], outputs["delta"][0], atol=1e-5, rtol=1e-5)
    assert (outputs["factors"][1:] - outputs["delta"][1:]).abs().max() > 1e-3


def test_a_second_soup_reuses_the_cached_experts_and_says_so(tmp_path):
    cache = tmp_path / "cache"
    first = run(tmp_path / "first", cache)
    second = run(tmp_path / "second", cache, "method.variant=delta")
    one = json.loads((first / "metrics.json").read_text())["cost"]
    two = json.loads((second / "metrics.json").read_text())["cost"]
    assert sorted(two["reused"]) == ["expert-length", "expert-vowels"]
    for key in ("adapters_trained", "trainable_parameters", "generated_tokens", "reward_calls"):
        assert two[key] == one[key], key
    assert not (second / "work" / "expert-vowels").exists()  # nothing trained here
    three = run(tmp_path / "third", cache, "method.reuse_experts=false")
    assert json.loads((three / "metrics.json").read_text())["cost"]["reused"] == {}


def test_resume_after_a_kill_between_two_experts_does_not_retrain_the_first(tmp_path, cli_env):
    args = ["run", "--method", "rewarded-soups", "--task", "toy", *SMALL,
            "method.reuse_experts=false", "--output", str(tmp_path / "run")]
    killed = run_cli(args, {**cli_env, "MOBENCH_TEST_KILL": "train:2"}, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    first = tmp_path / "run" / "work" / "expert-vowels"
    log = (first / "train_log.jsonl").read_text()
    finished = {p.name: p.stat().st_mtime_ns for p in (first / "checkpoints").iterdir()}
    assert list(finished) == ["step-00000012"]
    resumed = run_cli([*args, "--resume"], cli_env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (first / "train_log.jsonl").read_text() == log
    assert {p.name: p.stat().st_mtime_ns for p in (first / "checkpoints").iterdir()} == finished
    uninterrupted = run(tmp_path / "whole", tmp_path / "cache", "method.reuse_experts=false")
    got = json.loads((tmp_path / "run" / "metrics.json").read_text())
    want = json.loads((uninterrupted / "metrics.json").read_text())
    assert got["metrics"] == want["metrics"]
    assert {k: v for k, v in got["cost"].items() if k != "train_seconds"} == \
        {k: v for k, v in want["cost"].items() if k != "train_seconds"}
