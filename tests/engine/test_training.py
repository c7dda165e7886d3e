"""SFT, DPO and PPO train tiny GPT-2 (Conv1D) and Llama (Linear) models: every trainable
parameter moves, DPO widens the implicit reward margin, PPO raises a toy reward."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from mobench.core.method import CostMeter
from mobench.core.specs import Objective
from mobench.engine import (
    DPOConfig,
    LoopConfig,
    OptimConfig,
    PPOConfig,
    constant_preferences,
    sft_sets_from_pairs,
    train_dpo,
    train_ppo,
    train_sft,
)

from .conftest import (
    build_model,
    format_prompt,
    toy_pairs,
    toy_prompts,
    trainable_snapshot,
    unchanged,
)

ARCHITECTURES = ["gpt2", "llama"]
OBJECTIVES = ["good", "short"]


class GoodWords:
    """Toy reward: how many times the response says "good"."""

    def __call__(self, prompts, responses):
        return np.array([r.split().count("good") for r in responses], dtype=float)


class Words:
    """Toy cost: response length in words."""

    def __call__(self, prompts, responses):
        return np.array([len(r.split()) for r in responses], dtype=float)


PPO_OBJECTIVES = [Objective("good", "says good", (0.0, 8.0)),
                  Objective("short", "few words", (0.0, 16.0), direction="min")]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_sft_moves_every_parameter(tokenizer, tmp_path, architecture):
    model = build_model(architecture, tokenizer)
    before = trainable_snapshot(model)
    result = train_sft(model, tokenizer, sft_sets_from_pairs(toy_pairs(16)), OBJECTIVES,
                       work_dir=tmp_path, format_prompt=format_prompt,
                       optim=OptimConfig(learning_rate=1e-3),
                       loop=LoopConfig(steps=3, batch_size=4))
    assert unchanged(before, model) == []
    assert result.history[-1]["loss"] < result.history[0]["loss"]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("aggregation", ["ls", "tche"])
def test_dpo_moves_every_parameter(tokenizer, tmp_path, architecture, aggregation):
    model = build_model(architecture, tokenizer)
    reference = copy.deepcopy(model)
    before = trainable_snapshot(model)
    train_dpo(model, tokenizer, toy_pairs(16), OBJECTIVES, work_dir=tmp_path,
              format_prompt=format_prompt, reference_model=reference,
              dpo=DPOConfig(aggregation=aggregation), optim=OptimConfig(learning_rate=1e-3),
              loop=LoopConfig(steps=3, batch_size=4))
    assert unchanged(before, model) == []


def test_dpo_widens_the_implicit_reward_margin(tokenizer, tmp_path):
    model = build_model("gpt2", tokenizer)
    result = train_dpo(model, tokenizer, toy_pairs(32), ["good"], work_dir=tmp_path,
                       format_prompt=format_prompt, reference_model=copy.deepcopy(model),
                       dpo=DPOConfig(beta=0.1), optim=OptimConfig(learning_rate=3e-3),
                       loop=LoopConfig(steps=30, batch_size=8),
                       preferences=constant_preferences([1.0]))
    first, last = result.history[0], result.history[-5:]
    assert first["reward_margin/good"] == pytest.approx(0.0, abs=1e-6)  # π = π_ref at step 0
    assert np.mean([h["reward_margin/good"] for h in last]) > 0.5
    assert np.mean([h["accuracy/good"] for h in last]) == 1.0


def test_dpo_with_an_adapter_uses_the_base_model_as_reference(tokenizer, tmp_path):
    from peft import LoraConfig, get_peft_model

    base = build_model("llama", tokenizer)
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))
    before = trainable_snapshot(model)
    result = train_dpo(model, tokenizer, toy_pairs(8), OBJECTIVES, work_dir=tmp_path,
                       format_prompt=format_prompt, optim=OptimConfig(learning_rate=1e-3),
                       loop=LoopConfig(steps=2, batch_size=4))
    assert unchanged(before, model) == []
    assert all(n.count("lora_") for n in before)
    # LoRA starts away from zero here, so the policy already differs from the base model.
    assert result.history[0]["reward_margin/good"] != 0.0


def test_preference_hook_sees_every_forward_batch(tokenizer, tmp_path):
    seen: list[torch.Tensor] = []
    model = build_model("gpt2", tokenizer)
    train_dpo(model, tokenizer, toy_pairs(8), OBJECTIVES, work_dir=tmp_path,
              format_prompt=format_prompt, reference_model=copy.deepcopy(model),
              loop=LoopConfig(steps=2, batch_size=4), apply_preferences=seen.append)
    assert [tuple(p.shape) for p in seen] == [(8, 2), (8, 2)]  # a and b rows of 4 pairs
    assert torch.allclose(seen[0].sum(dim=1), torch.ones(8))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("aggregation", ["ls", "tche"])
def test_ppo_moves_every_parameter_and_counts_costs(tokenizer, tmp_path, architecture,
                                                    aggregation):
    model = build_model(architecture, tokenizer)
    meter = CostMeter()
    from mobench.core.method import CountingScorer

    scorers = {"good": CountingScorer(GoodWords(), meter), "short": CountingScorer(Words(), meter)}
    before = trainable_snapshot(model)
    result = train_ppo(model, tokenizer, toy_prompts(16), PPO_OBJECTIVES, scorers,
                       work_dir=tmp_path, format_prompt=format_prompt,
                       reference_model=copy.deepcopy(model), meter=meter,
                       ppo=PPOConfig(rollout_prompts=8, ppo_epochs=2, max_new_tokens=8,
                                     aggregation=aggregation),
                       optim=OptimConfig(learning_rate=1e-3),
                       loop=LoopConfig(steps=8, batch_size=4))
    assert unchanged(before, model) == []
    assert meter.reward_calls == 2 * 2 * 8  # 2 rollouts of 8 responses, 2 objectives
    assert 0 < meter.generated_tokens <= 2 * 8 * 8
    assert {"policy_loss", "value_loss", "reward/good", "kl"} <= set(result.history[-1])


def test_ppo_raises_a_toy_reward(tokenizer, tmp_path):
    model = build_model("gpt2", tokenizer)
    result = train_ppo(model, tokenizer, toy_prompts(32), PPO_OBJECTIVES,
                       {"good": GoodWords(), "short": Words()}, work_dir=tmp_path,
                       format_prompt=format_prompt, reference_model=copy.deepcopy(model),
                       preferences=constant_preferences([1.0, 0.0]),
                       ppo=PPOConfig(rollout_prompts=16, ppo_epochs=2, max_new_tokens=8,
                                     kl_coef=0.01, reward_scale=5.0),
                       optim=OptimConfig(learning_rate=3e-3),
                       loop=LoopConfig(steps=60, batch_size=8, log_every=4))
    rewards = [h["reward/good"] for h in result.history]
    assert np.mean(rewards[-3:]) > np.mean(rewards[:3]) + 0.5
