"""Checkpoints and resume: a run interrupted and resumed ends with the weights of an
uninterrupted run (same seed), for DPO (with dropout on, so RNG states matter) and PPO."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from mobench.engine import DPOConfig, LoopConfig, OptimConfig, PPOConfig
from mobench.engine.checkpoint import latest_checkpoint
from mobench.engine.dpo import DPOObjective, prepare_pairs
from mobench.engine.preferences import PreferenceSampler
from mobench.engine.reference import FrozenReference
from mobench.engine.trainer import LOG_FILE, Trainer

from .conftest import build_model, format_prompt, toy_pairs, toy_prompts
from .test_training import PPO_OBJECTIVES, GoodWords, Words


class Interrupted(Exception):
    pass


class InterruptAt:
    """Wraps an objective and raises at the start of one step, as a kill would."""

    def __init__(self, objective, step: int) -> None:
        self.objective, self.step = objective, step

    def micro_batches(self, step, run):
        if step == self.step:
            raise Interrupted
        return self.objective.micro_batches(step, run)

    def __getattr__(self, name):
        return getattr(self.objective, name)


def dpo_run(tokenizer, work_dir, interrupt_at: int | None = None):
    model = build_model("gpt2", tokenizer)
    reference = copy.deepcopy(model)
    table = prepare_pairs(toy_pairs(16), ["good", "short"], tokenizer, format_prompt, 64)
    loop = LoopConfig(steps=6, batch_size=4, gradient_accumulation=2, checkpoint_every=2,
                      disable_dropout=False, seed=5)
    objective = DPOObjective(table, ["good", "short"], tokenizer.pad_token_id,
                             DPOConfig(aggregation="tche"), PreferenceSampler(2, loop.seed),
                             FrozenReference(reference), seed=loop.seed)
    if interrupt_at is not None:
        objective = InterruptAt(objective, interrupt_at)
    trainer = Trainer(model, objective, optim=OptimConfig(learning_rate=1e-3, warmup_steps=2,
                                                          schedule="cosine", weight_decay=0.1),
                      loop=loop, work_dir=work_dir)
    return model, trainer


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6, rtol=0), name


def test_dpo_resume_equals_uninterrupted(tokenizer, tmp_path):
    straight, trainer = dpo_run(tokenizer, tmp_path / "straight")
    trainer.train()
    _, interrupted = dpo_run(tokenizer, tmp_path / "resumed", interrupt_at=5)
    with pytest.raises(Interrupted):
        interrupted.train()
    assert latest_checkpoint(tmp_path / "resumed").name == "step-00000004"
    resumed, trainer = dpo_run(tokenizer, tmp_path / "resumed")
    result = trainer.train()
    assert result.resumed_from == 4
    assert_same_weights(straight, resumed)
    logs = [(tmp_path / d / LOG_FILE).read_text().splitlines() for d in ("straight", "resumed")]
    steps = [[json.loads(line)["step"] for line in log] for log in logs]
    assert steps[0] == steps[1] == [1, 2, 3, 4, 5, 6]
    losses = [[json.loads(line)["loss"] for line in log] for log in logs]
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)


def ppo_run(tokenizer, work_dir, interrupt_at: int | None = None):
    from mobench.engine import PolicyWithValueHeads
    from mobench.engine.ppo import PPOObjective

    model = build_model("gpt2", tokenizer)
    loop = LoopConfig(steps=8, batch_size=4, checkpoint_every=3, seed=2)
    ppo = PPOConfig(rollout_prompts=8, ppo_epochs=2, max_new_tokens=6, aggregation="tche")
    torch.manual_seed(loop.seed)
    critic = PolicyWithValueHeads(model, 2, ppo.value_head_hidden)
    objective = PPOObjective(toy_prompts(16), tokenizer, format_prompt, PPO_OBJECTIVES,
                             {"good": GoodWords(), "short": Words()}, ppo,
                             PreferenceSampler(2, loop.seed),
                             FrozenReference(copy.deepcopy(model)), seed=loop.seed)
    if interrupt_at is not None:
        objective = InterruptAt(objective, interrupt_at)
    return critic, Trainer(critic, objective, optim=OptimConfig(learning_rate=1e-3), loop=loop,
                           work_dir=work_dir)


def test_ppo_resume_equals_uninterrupted(tokenizer, tmp_path):
    straight, trainer = ppo_run(tokenizer, tmp_path / "straight")
    trainer.train()
    _, interrupted = ppo_run(tokenizer, tmp_path / "resumed", interrupt_at=6)
    with pytest.raises(Interrupted):
        interrupted.train()
    # 4 steps per rollout: the checkpoint due after step 3 waits for the rollout boundary.
    assert latest_checkpoint(tmp_path / "resumed").name == "step-00000004"
    resumed, trainer = ppo_run(tokenizer, tmp_path / "resumed")
    assert trainer.train().resumed_from == 4
    assert_same_weights(straight, resumed)


def test_resume_refuses_another_backend(tokenizer, tmp_path):
    _, trainer = dpo_run(tokenizer, tmp_path)
    trainer.train()
    from mobench.engine.config import DeepSpeedConfig

    model, again = dpo_run(tokenizer, tmp_path)
    again.deepspeed = DeepSpeedConfig(stage=2, backend="gloo")
    with pytest.raises(ValueError, match="plain path"):
        again._resume(type("Backend", (), {"world_size": 1, "rank": 0,
                                           "barrier": lambda self: None})())
