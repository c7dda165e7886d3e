"""MODPO: its loss against the hand-computed margin loss on a fixed batch (three objectives), DPO's
loss when the margin weights are zero, the Bradley-Terry units of the margins, and on the toy task
one adapter per grid λ trained on the largest weight's pairs with the expected margin, the reward
calls counted once (also across a kill and resume), the grid served alone, the policy reloaded."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli

from mobench.cli import main
from mobench.core import registry
from mobench.core.specs import DecodingConfig
from mobench.engine.config import DPOConfig, TrainingConfig
from mobench.engine.data import TokenBatch
from mobench.engine.dpo import PairBatch, dpo_loss
from mobench.engine.modpo import MarginPairBatch, MarginWeights, margin_objectives, modpo_loss
from mobench.methods.modpo import MODPOConfig
from mobench.run.runner import load_run, load_trained_policy
from mobench.toolkit.pair_rewards import bradley_terry_slope, pair_reward_gaps
from mobench.toolkit.scored_responses import score_responses

GREEDY = DecodingConfig(max_new_tokens=8, do_sample=False)
SMALL = ["method.train.steps=8", "method.train.batch_size=4", "eval.n_bootstrap=5",
         "method.train.optim.learning_rate=0.02"]
PROMPTS = ["apple dog kite", "river tree sun"]

# 2 pairs = 4 sequences [chosen0, chosen1, rejected0, rejected1] of 3 tokens, 2 of them response.
# Policy sums: chosen (-2, -1), rejected (-3, -2); the reference gives -2 to every sequence. So the
# log-ratios are chosen (0, 1), rejected (-1, 0), and with β = 0.5 the implicit gaps h = (0.5, 0.5).
POLICY = torch.tensor([[-1.0, -1.0], [-0.5, -0.5], [-1.5, -1.5], [-1.0, -1.0]],
                      dtype=torch.float64)
REFERENCE = torch.full((4, 2), -1.0, dtype=torch.float64)
TOKENS = TokenBatch(torch.zeros(4, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.long),
                    torch.tensor([[0, 1, 1]] * 4))
# r_j(chosen) − r_j(rejected) for 3 objectives; column 0 is the trained objective's (not used).
GAPS = torch.tensor([[9.0, 1.0, -2.0], [-4.0, 0.5, 1.5]], dtype=torch.float64)


def test_the_loss_is_the_hand_computed_margin_loss_on_a_fixed_batch():
    # λ = (0.5, 0.3, 0.2), pairs of objective 0: margins 0.3·1 + 0.2·(−2) = −0.1 and
    # 0.3·0.5 + 0.2·1.5 = 0.45; logits (h − margin) / 0.5 = (1.2, 0.1);
    # loss = mean(log(1 + e^−1.2), log(1 + e^−0.1)) = 0.45383956370580103
    weights = MarginWeights.of([0.5, 0.3, 0.2], trained_objective=0)
    assert weights.margin_weights == (0.0, 0.3, 0.2) and weights.objective_weight == 0.5
    loss, metrics = modpo_loss(POLICY, REFERENCE, MarginPairBatch(TOKENS, GAPS),
                               DPOConfig(beta=0.5), weights)
    by_hand = (math.log1p(math.exp(-1.2)) + math.log1p(math.exp(-0.1))) / 2
    assert float(loss) == pytest.approx(by_hand, abs=1e-9)
    assert float(loss) == pytest.approx(0.45383956370580103, abs=1e-9)
    assert metrics["margin"] == pytest.approx(0.175, abs=1e-9)
    assert metrics["implicit_reward_gap"] == pytest.approx(0.5, abs=1e-9)
    assert metrics["accuracy"] == 1.0


def test_the_trained_objective_can_be_any_of_them():
    # pairs of objective 2 at λ = (0.3, 0.1, 0.6): margins 0.3·9 + 0.1·1 = 2.8 and
    # 0.3·(−4) + 0.1·0.5 = −1.15; logits ((0.5 − 2.8), (0.5 + 1.15)) / 0.6
    weights = MarginWeights.of([0.3, 0.1, 0.6], trained_objective=2)
    loss, metrics = modpo_loss(POLICY, REFERENCE, MarginPairBatch(TOKENS, GAPS),
                               DPOConfig(beta=0.5), weights)
    logits = [(0.5 - 2.8) / 0.6, (0.5 + 1.15) / 0.6]
    assert float(loss) == pytest.approx(np.mean([math.log1p(math.exp(-z)) for z in logits]),
                                        abs=1e-9)
    assert metrics["accuracy"] == 0.5


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_without_margins_it_is_dpo_on_the_objectives_pairs(reduction):
    generator = torch.Generator().manual_seed(0)
    policy = -torch.rand((8, 5), generator=generator, dtype=torch.float64)
    reference = -torch.rand((8, 5), generator=generator, dtype=torch.float64)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1]] * 4 + [[0, 1, 1, 1, 0, 0]] * 4)
    tokens = TokenBatch(torch.zeros(8, 6, dtype=torch.long), torch.ones(8, 6, dtype=torch.long),
                        mask)
    policy, reference = policy * mask[:, 1:], reference * mask[:, 1:]
    config = DPOConfig(beta=0.5, reduction=reduction)
    gaps = torch.randn((4, 2), generator=generator, dtype=torch.float64)
    modpo, _ = modpo_loss(policy, reference, MarginPairBatch(tokens, gaps), config,
                          MarginWeights.of([0.0, 1.0], trained_objective=1))
    labels = torch.tensor([[0, 1]] * 4)  # objective 1 prefers the first sequence of every pair
    dpo, _ = dpo_loss(policy, reference, PairBatch(tokens, labels, torch.tensor([[0.0, 1.0]] * 4)),
                      config, ["other", "trained"])
    assert float(modpo) == pytest.approx(float(dpo), abs=1e-12)


def test_margin_weights_refuse_what_the_loss_cannot_divide_by():
    with pytest.raises(ValueError, match="divides by the trained objective's weight"):
        MarginWeights.of([1.0, 0.0], trained_objective=1)
    with pytest.raises(ValueError, match="objective index 2"):
        MarginWeights.of([0.5, 0.5], trained_objective=2)


def test_the_bradley_terry_slope_on_known_counts():
    # 8 pairs won at gap 0.5, 2 lost (gap −0.5), and one pseudo-pair each way at the mean |gap|:
    # σ(0.5 s) = 9 / 12, so s = log(3) / 0.5
    gaps = np.array([0.5] * 8 + [-0.5] * 2)
    assert bradley_terry_slope(gaps) == pytest.approx(math.log(3) / 0.5, abs=1e-8)
    assert bradley_terry_slope(np.full(8, 0.25)) == pytest.approx(math.log(9) / 0.25, abs=1e-8)
    assert bradley_terry_slope(np.zeros(5)) == 0.0
    assert bradley_terry_slope(np.array([-0.5, -0.5, 0.5])) == 0.0  # against the labels
    with pytest.raises(ValueError, match="finite reward gap"):
        bradley_terry_slope(np.array([np.nan]))


def test_the_bradley_terry_slope_recovers_the_labellers_slope():
    rng = np.random.default_rng(0)
    score_gaps = rng.uniform(-1.0, 1.0, 20000)
    first_wins = rng.random(20000) < 1.0 / (1.0 + np.exp(-3.0 * score_gaps))
    chosen_minus_rejected = np.where(first_wins, score_gaps, -score_gaps)
    assert bradley_terry_slope(chosen_minus_rejected) == pytest.approx(3.0, abs=0.15)


def test_margins_are_normalized_gaps_in_each_objectives_bradley_terry_units(tmp_path):
    task_class = registry.tasks.get("toy")
    task = task_class(task_class.config_class()).load("tiny", 0, tmp_path)
    pairs = task.data.preference_pairs
    prompts = list(pairs["vowels"]["prompt"]) * 2
    responses = list(pairs["vowels"]["chosen"]) + list(pairs["vowels"]["rejected"])
    scored = score_responses(prompts, responses, task.training_scorers, ["vowels", "length"])
    normalized = pair_reward_gaps(task.spec, pairs, scored, "normalized")
    # vowels: "idea area audio" 10/13 vowels, "sun" 1/3, bounds (0, 0.6); length: 3 and 1 words,
    # bounds (0, 40) minimized
    vowel_gap, length_gap = (10 / 13 - 1 / 3) / 0.6, (1 - 3) / 40
    np.testing.assert_allclose(normalized.gaps["vowels"], [[vowel_gap, length_gap]] * 8)
    np.testing.assert_allclose(normalized.gaps["length"], [[-vowel_gap, -length_gap]] * 8)
    assert normalized.slopes == (1.0, 1.0)
    fitted = pair_reward_gaps(task.spec, pairs, scored, "bradley-terry")
    # every pair agrees with its labels: 8 wins and the pseudo-pairs, σ(s·gap) = 9/10
    np.testing.assert_allclose(fitted.slopes, [math.log(9) / vowel_gap, math.log(9) / 0.05])
    np.testing.assert_allclose(fitted.gaps["vowels"], [[math.log(9), -math.log(9)]] * 8)
    with pytest.raises(ValueError, match="unknown margin units"):
        pair_reward_gaps(task.spec, pairs, scored, "raw")


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="signal must be auto or dpo"):
        MODPOConfig(train=TrainingConfig(signal="sft"))
    with pytest.raises(ValueError, match="grid_points"):
        MODPOConfig(grid_points=-1)
    with pytest.raises(ValueError, match="margin_units"):
        MODPOConfig(margin_units="raw")  # type: ignore[arg-type]


def run(folder: Path, cache: Path, *extra: str) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(cache))
        patch.setenv("CI", "true")
        assert main(["run", "--method", "modpo", "--task", "toy", "--output", str(folder),
                     *SMALL, *extra]) == 0
    return folder


@pytest.fixture(scope="module")
def modpo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("runs") / "modpo", tmp_path_factory.mktemp("cache"))


def logged(folder: Path, adapter: str) -> list[dict]:
    log = folder / "work" / adapter / "train_log.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_one_adapter_per_grid_preference_on_the_largest_weights_pairs(modpo):
    saved = json.loads((modpo / "policy" / "policy.json").read_text())
    assert saved["adapters"] == ["lambda-00", "lambda-01", "lambda-02"]
    assert saved["grid"] == [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    metrics = json.loads((modpo / "metrics.json").read_text())
    assert metrics["run"]["variant"] == "task-grid-bradley-terry-margins"
    # the vertices are plain DPO; (0.5, 0.5) trains on the vowels pairs (the first of the tied
    # weights) with the length margin 0.5 · (−log 9) = −log 3 on every pair
    assert all(line["margin"] == 0.0 for name in ("lambda-00", "lambda-02")
               for line in logged(modpo, name))
    assert [line["margin"] for line in logged(modpo, "lambda-01")] == \
        pytest.approx([-math.log(3)] * 8, abs=1e-6)
    assert logged(modpo, "lambda-00")[-1]["step"] == 8


def test_the_margins_reward_calls_are_counted_once(modpo):
    cost = json.loads((modpo / "metrics.json").read_text())["cost"]
    # only (0.5, 0.5) has a margin, on length: the 16 distinct (prompt, response) rows of both
    # objectives' pairs (vowels' are trained on, length's fit its slope), one scorer each
    assert (cost["adapters_trained"], cost["reward_calls"], cost["generated_tokens"]) == (3, 16, 0)


def test_only_the_objectives_weighed_as_margins_are_scored():
    names = ("a", "b", "c")
    assert margin_objectives(np.eye(3), names) == []  # vertices: plain DPO, no margin
    assert margin_objectives(np.array([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8]]), names) == ["b"]
    assert margin_objectives(np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]), names) == ["a", "b"]


def test_a_grid_of_vertices_makes_no_reward_call(tmp_path):
    folder = run(tmp_path / "run", tmp_path / "cache", "method.grid_points=2")
    cost = json.loads((folder / "metrics.json").read_text())["cost"]
    assert (cost["adapters_trained"], cost["reward_calls"]) == (2, 0)


def test_only_the_grid_is_served_and_the_policy_reloads(modpo, tmp_path, monkeypatch):
    records = [json.loads(line) for line in (modpo / "records.jsonl").read_text().splitlines()]
    assert all(r["answered_preference"] == r["preference"] for r in records)
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path))
    spec, _ = load_run(modpo)
    policy, _ = load_trained_policy(modpo, spec)
    np.testing.assert_allclose(policy.served_preferences, [[0, 1], [0.5, 0.5], [1, 0]])
    answers = [policy.generate(PROMPTS, np.tile(row, (2, 1)), GREEDY, seed=0)
               for row in policy.served_preferences]
    assert answers[0] != answers[2]  # the grid's models differ


def test_resume_after_a_kill_between_two_grid_models_counts_the_margins_once(tmp_path, cli_env):
    args = ["run", "--method", "modpo", "--task", "toy", *SMALL,
            "--output", str(tmp_path / "run")]
    killed = run_cli(args, {**cli_env, "MOBENCH_TEST_KILL": "train:2"}, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (tmp_path / "run" / "work" / "pair_scores.json").exists()
    resumed = run_cli([*args, "--resume"], cli_env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    uninterrupted = run(tmp_path / "whole", tmp_path / "cache")
    got = json.loads((tmp_path / "run" / "metrics.json").read_text())
    want = json.loads((uninterrupted / "metrics.json").read_text())
    assert got["metrics"] == want["metrics"]
    assert {k: v for k, v in got["cost"].items() if k != "train_seconds"} == \
        {k: v for k, v in want["cost"].items() if k != "train_seconds"}
