"""A damaged training checkpoint (issue 17): the trainer sets it aside and resumes from the newest
readable one, or starts over, and ends with the weights and cost counters of a run that was never
interrupted."""

from __future__ import annotations

import copy
import logging

import pytest

from mobench.core.cost import CostMeter
from mobench.engine import DPOConfig, LoopConfig, OptimConfig
from mobench.engine.checkpoint import checkpoint_problem, checkpoints_newest_first
from mobench.engine.dpo import DPOObjective, prepare_pairs
from mobench.engine.preferences import PreferenceSampler
from mobench.engine.reference import FrozenReference
from mobench.engine.trainer import Trainer

from .conftest import build_model, format_prompt, toy_pairs
from .test_resume import InterruptAt, Interrupted, assert_same_weights


def dpo_run(tokenizer, work_dir, meter: CostMeter, interrupt_at: int | None = None):
    model = build_model("gpt2", tokenizer)
    table = prepare_pairs(toy_pairs(16), ["good", "short"], tokenizer, format_prompt, 64)
    loop = LoopConfig(steps=6, batch_size=4, checkpoint_every=2, keep_checkpoints=2, seed=5,
                      disable_dropout=False, progress_desc="dpo test")
    objective = DPOObjective(table, ["good", "short"], tokenizer.pad_token_id,
                             DPOConfig(aggregation="ls"), PreferenceSampler(2, loop.seed),
                             FrozenReference(copy.deepcopy(model)), seed=loop.seed)
    if interrupt_at is not None:
        objective = InterruptAt(objective, interrupt_at)
    trainer = Trainer(model, objective, optim=OptimConfig(learning_rate=1e-3), loop=loop,
                      work_dir=work_dir, meter=meter)
    return model, trainer


def interrupted_after_two_checkpoints(tokenizer, work_dir) -> CostMeter:  # type: ignore[no-untyped-def]
    meter = CostMeter()
    _, trainer = dpo_run(tokenizer, work_dir, meter, interrupt_at=5)
    with pytest.raises(Interrupted):
        trainer.train()
    assert [p.name for p in checkpoints_newest_first(work_dir)] == ["step-00000004",
                                                                    "step-00000002"]
    return meter


@pytest.fixture(scope="module")
def straight(tokenizer, tmp_path_factory):  # type: ignore[no-untyped-def]
    meter = CostMeter()
    model, trainer = dpo_run(tokenizer, tmp_path_factory.mktemp("straight"), meter)
    trainer.train()
    return model, meter


def test_falls_back_to_the_previous_checkpoint(tokenizer, tmp_path, straight, caplog):
    interrupted_after_two_checkpoints(tokenizer, tmp_path)
    weights = tmp_path / "checkpoints" / "step-00000004" / "trainable.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert checkpoint_problem(weights.parent, "deepspeed").startswith(
        "trainable.safetensors cannot be read (SafetensorError")
    meter = CostMeter()
    model, trainer = dpo_run(tokenizer, tmp_path, meter)
    with caplog.at_level(logging.INFO, logger="mobench"):
        assert trainer.train().resumed_from == 2
    assert any(m.startswith("dpo test: checkpoint step-00000004 is damaged (trainable."
                            "safetensors cannot be read") and m.endswith(
                                "set aside as step-00000004.damaged") for m in caplog.messages)
    assert "resuming dpo test from step 2 of 6" in caplog.text
    assert (tmp_path / "checkpoints" / "step-00000004.damaged").is_dir()
    assert_same_weights(straight[0], model)


def test_starts_over_when_no_checkpoint_is_readable(tokenizer, tmp_path, straight, caplog):
    interrupted_after_two_checkpoints(tokenizer, tmp_path)
    for checkpoint in checkpoints_newest_first(tmp_path):
        (checkpoint / "rng-rank0.pt").write_bytes(b"")
    # the next process's meter holds what the damaged checkpoints had counted
    meter = CostMeter()
    meter.add(adapters_trained=1, trainable_parameters=10, generated_tokens=99)
    model, trainer = dpo_run(tokenizer, tmp_path, meter)
    with caplog.at_level(logging.INFO, logger="mobench"):
        assert trainer.train().resumed_from == 0
    assert "dpo test: no readable checkpoint is left; training starts over from step 0" in \
        caplog.messages
    assert_same_weights(straight[0], model)
    # put back to what it was when the training first began, then counted once
    assert meter.snapshot() == straight[1].snapshot()
