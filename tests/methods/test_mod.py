"""MOD on the toy task: at a one-hot λ it generates exactly the expert's tokens (greedy and
sampled), its mixed scores equal the hand-computed Σ λ_i log π_i on a fixed prefix (up to the
per-row constant) through the cache, a front in one batch equals one λ per call, the inference
cost counts m passes per token, the saved policy reloads, and Rewarded Soups' cached experts are
reused and said to be."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mobench.adapters import activate_adapter, generate_with_adapters
from mobench.cli import main
from mobench.core.cost import CostMeter, metering
from mobench.core.policy import left_padded_batch
from mobench.core.specs import DecodingConfig
from mobench.run.runner import load_run, load_trained_policy
from mobench.toolkit.decoding import (
    ExpertMixtureScores,
    generate_expert_mixture,
    mix_expert_logits,
    sampling_warpers,
)

GREEDY = DecodingConfig(max_new_tokens=8, do_sample=False)
SAMPLED = DecodingConfig(max_new_tokens=8, temperature=0.7, top_p=0.9)
SMALL = ["method.train.steps=12", "method.train.batch_size=4", "eval.n_bootstrap=5",
         "method.train.optim.learning_rate=0.02"]
PROMPTS = ["apple dog kite", "river tree sun", "igloo jam lemon banana"]


def run(method: str, folder: Path, cache: Path, *extra: str) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(cache))
        patch.setenv("CI", "true")
        assert main(["run", "--method", method, "--task", "toy", "--output", str(folder),
                     *SMALL, *extra]) == 0
    return folder


@pytest.fixture(scope="module")
def mod_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run("mod", tmp_path_factory.mktemp("runs") / "mod", tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def policy(mod_run, tmp_path_factory):  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(tmp_path_factory.mktemp("cache2")))
        spec, _ = load_run(mod_run)
        loaded, _ = load_trained_policy(mod_run, spec)
    return loaded


def vertex(index: int, rows: int = len(PROMPTS)) -> np.ndarray:
    weights = np.zeros((rows, 2))
    weights[:, index] = 1.0
    return weights


def test_one_expert_per_objective_is_trained_saved_and_reloaded(mod_run, policy):
    saved = json.loads((mod_run / "policy" / "policy.json").read_text())
    assert (saved["kind"], saved["experts"]) == ("expert-logit-mixture",
                                                 ["expert-vowels", "expert-length"])
    assert policy.experts == saved["experts"]
    cost = json.loads((mod_run / "metrics.json").read_text())["cost"]
    assert (cost["adapters_trained"], cost["models_trained"], cost["reused"]) == (2, 0, {})


@pytest.mark.parametrize("decoding", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
def test_a_one_hot_preference_generates_exactly_the_experts_tokens(policy, decoding):
    texts = [policy.spec.format_prompt(p) for p in PROMPTS]
    answers = []
    for index, expert in enumerate(policy.experts):
        mixed = policy.generate(PROMPTS, vertex(index), decoding, seed=3)
        alone = generate_with_adapters(policy.model, policy.tokenizer, texts,
                                       [expert] * len(texts), decoding, seed=3)
        assert mixed == alone, expert
        answers.append(mixed)
    assert answers[0] != answers[1]  # the experts differ, so the check above means something


def test_the_mixed_scores_are_the_weighted_log_probs_on_a_fixed_prefix(policy):
    weights = torch.tensor([[1.0, 0.0], [0.3, 0.7], [0.5, 0.5]])
    texts = [policy.spec.format_prompt(p) for p in PROMPTS]
    batch = left_padded_batch(policy.tokenizer, texts, torch.device("cpu"))
    next_tokens = torch.tensor([5, 9, 17])
    policy.model.eval()
    with torch.no_grad():
        scores = ExpertMixtureScores(policy.model, policy.experts, weights)
        first = scores.prefill(batch["input_ids"], batch["attention_mask"])
        second = scores.extend(next_tokens)  # through the key-value cache
        ids = torch.cat([batch["input_ids"], next_tokens[:, None]], dim=1)
        mask = torch.cat([batch["attention_mask"], torch.ones(3, 1, dtype=torch.long)], dim=1)
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
        logits = []  # each expert alone on the whole prefix, no cache: (m, n, T + 1, V)
        for expert in policy.experts:
            activate_adapter(policy.model, expert, trainable=False)
            logits.append(policy.model(input_ids=ids, attention_mask=mask,
                                       position_ids=positions).logits)
    expert_logits = torch.stack(logits)
    for mixed, position in ((first, -2), (second, -1)):
        step = expert_logits[:, :, position]  # (m, n, V) next-token logits of each expert
        by_hand = sum(weights[:, i, None] * torch.log_softmax(step[i], -1) for i in range(2))
        # Σ λ_i logits_i = Σ λ_i log π_i + Σ λ_i logsumexp_i: the same up to a per-row constant
        constant = (weights * torch.logsumexp(step, dim=-1).T).sum(dim=1)
        torch.testing.assert_close(mixed, by_hand + constant[:, None], atol=1e-5, rtol=0)
        torch.testing.assert_close(mixed, mix_expert_logits(step, weights), atol=1e-5, rtol=0)


def test_mixing_logits_by_hand():
    logits = torch.tensor([[[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]],
                           [[3.0, 0.0, 1.0], [2.0, 2.0, 2.0]]])  # (m=2, n=2, V=3)
    weights = torch.tensor([[0.25, 0.75], [1.0, 0.0]])
    mixed = mix_expert_logits(logits, weights)
    torch.testing.assert_close(mixed, torch.tensor([[2.5, 0.5, 1.5], [0.0, -1.0, 4.0]]))
    assert torch.equal(mixed[1], logits[0, 1])  # a one-hot row is that expert's logits, exactly
    with pytest.raises(ValueError, match=r"need \(n, m\) weights"):
        mix_expert_logits(logits, weights.T[:1])


def test_a_front_in_one_batch_equals_one_preference_per_call(policy):
    grid = np.array([[1.0, 0.0], [0.7, 0.3], [0.4, 0.6], [0.0, 1.0]])
    batched = policy.generate(PROMPTS * len(grid), np.repeat(grid, len(PROMPTS), axis=0),
                              GREEDY, seed=0)
    for k, weights in enumerate(grid):
        alone = policy.generate(PROMPTS, np.tile(weights, (len(PROMPTS), 1)), GREEDY, seed=0)
        assert batched[k * 3:(k + 1) * 3] == alone, weights


def test_every_token_costs_one_forward_pass_per_expert(policy, mod_run):
    meter = CostMeter()
    with metering(meter):
        answers = policy.generate(PROMPTS, np.full((3, 2), 0.5), GREEDY, seed=0)
    assert meter.generated_tokens == sum(a.n_tokens for a in answers) > 0
    assert meter.model_token_passes == meter.generated_tokens  # m − 1 = 1 extra per token
    evaluation = json.loads((mod_run / "metrics.json").read_text())["evaluation_cost"]
    assert evaluation["model_token_passes"] == evaluation["sampled_tokens"] > 0


def test_bad_inputs_are_refused(policy):
    texts = [policy.spec.format_prompt(p) for p in PROMPTS]
    with pytest.raises(ValueError, match="need weights of shape"):
        generate_expert_mixture(policy.model, policy.tokenizer, texts, policy.experts,
                                np.full((2, 2), 0.5), GREEDY, seed=0)
    with pytest.raises(ValueError, match="no adapter named 'expert-nope'"):
        ExpertMixtureScores(policy.model, ["expert-vowels", "expert-nope"], torch.ones(3, 2))
    scores = ExpertMixtureScores(policy.model, policy.experts, torch.full((3, 2), 0.5))
    with pytest.raises(RuntimeError, match="prefill"):
        scores.extend(torch.tensor([1, 2, 3]))


def test_the_warpers_are_generates_own():
    assert len(sampling_warpers(GREEDY)) == 0
    assert len(sampling_warpers(DecodingConfig())) == 0  # temperature 1, top-p 1: plain softmax
    names = [type(w).__name__ for w in sampling_warpers(SAMPLED)]
    assert names == ["TemperatureLogitsWarper", "TopPLogitsWarper"]


def test_rewarded_soups_experts_in_the_cache_are_reused_and_said_to_be(tmp_path):
    cache = tmp_path / "cache"
    soup = run("rewarded-soups", tmp_path / "soup", cache)
    mod = run("mod", tmp_path / "mod", cache)
    soup_cost = json.loads((soup / "metrics.json").read_text())["cost"]
    mod_cost = json.loads((mod / "metrics.json").read_text())["cost"]
    assert sorted(mod_cost["reused"]) == ["expert-length", "expert-vowels"]
    for key in ("adapters_trained", "trainable_parameters", "generated_tokens", "reward_calls"):
        assert mod_cost[key] == soup_cost[key], key
    assert not (mod / "work" / "expert-vowels").exists()  # nothing trained here
