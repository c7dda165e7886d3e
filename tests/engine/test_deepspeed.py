"""The DeepSpeed path on CPU (gloo): a real engine, in one and in two processes, ZeRO-2 and
ZeRO-3, gives the plain path's losses and weights; a DeepSpeed checkpoint resumes exactly."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import torch

pytest.importorskip("deepspeed")

from safetensors.torch import load_file, save_file  # noqa: E402

from mobench.engine import DPOConfig, LoopConfig, OptimConfig  # noqa: E402
from mobench.engine.config import DeepSpeedConfig  # noqa: E402
from mobench.engine.distributed import spawn_local  # noqa: E402
from mobench.engine.dpo import DPOObjective, prepare_pairs  # noqa: E402
from mobench.engine.preferences import PreferenceSampler  # noqa: E402
from mobench.engine.reference import FrozenReference  # noqa: E402
from mobench.engine.trainer import LOG_FILE, Trainer  # noqa: E402

from .conftest import build_model, format_prompt, make_tokenizer, toy_pairs  # noqa: E402

STEPS, ROWS_PER_MICRO_BATCH, ACCUMULATION, LEARNING_RATE = 4, 4, 2, 1e-2
# Two processes sum gradients in another order than one. Adam's update is about lr * sign(g)
# for every element, so where a gradient is near zero a float-rounding difference can move an
# element by a fraction of lr (observed: at most 5e-5 here); 1% of one step bounds that.
WEIGHT_ATOL = 0.01 * LEARNING_RATE
OBJECTIVES = ["good", "short"]


def dpo_trainer(work_dir: Path, world_size: int, deepspeed: DeepSpeedConfig | None,
                interrupt_at: int | None = None) -> tuple[torch.nn.Module, Trainer]:
    tokenizer = make_tokenizer()
    model = build_model("gpt2", tokenizer)
    table = prepare_pairs(toy_pairs(16), OBJECTIVES, tokenizer, format_prompt, 64)
    # Per-row λ: each process's share of the batch has its own preferences.
    loop = LoopConfig(steps=STEPS, batch_size=ROWS_PER_MICRO_BATCH // world_size,
                      gradient_accumulation=ACCUMULATION, checkpoint_every=2, seed=1)
    from mobench.engine.config import PreferenceConfig

    sampler = PreferenceSampler(2, loop.seed, PreferenceConfig(per_row=True))
    objective = DPOObjective(table, OBJECTIVES, tokenizer.pad_token_id, DPOConfig(beta=0.5),
                             sampler, FrozenReference(copy.deepcopy(model)), seed=loop.seed)
    if interrupt_at is not None:
        from .test_resume import InterruptAt

        objective = InterruptAt(objective, interrupt_at)
    return model, Trainer(model, objective, optim=OptimConfig(learning_rate=LEARNING_RATE,
                                                              max_grad_norm=0.5),
                          loop=loop, work_dir=work_dir, deepspeed=deepspeed)


def full_weights(model: torch.nn.Module, stage: int) -> dict[str, torch.Tensor]:
    if stage == 3:
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(model.parameters())):
            return {n: p.detach().clone() for n, p in model.named_parameters()}
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def deepspeed_worker(rank: int, world_size: int, out: str, stages: list[int],
                     with_resume: bool) -> None:
    out_dir = Path(out)
    for stage in stages:
        config = DeepSpeedConfig(stage=stage, backend="gloo")
        model, trainer = dpo_trainer(out_dir / f"zero{stage}", world_size, config)
        trainer.train()
        weights = full_weights(model, stage)
        if rank == 0:
            save_file(weights, str(out_dir / f"zero{stage}.safetensors"))
    if with_resume:
        from .test_resume import Interrupted

        work = out_dir / "resumed"
        config = DeepSpeedConfig(stage=2, backend="gloo")
        _, interrupted = dpo_trainer(work, world_size, config, interrupt_at=3)
        try:
            interrupted.train()
        except Interrupted:
            pass
        model, trainer = dpo_trainer(work, world_size, config)
        result = trainer.train()
        if rank == 0:
            save_file(full_weights(model, 2), str(out_dir / "resumed.safetensors"))
            (out_dir / "resumed_from.json").write_text(json.dumps(result.resumed_from))


def logged_losses(work_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (work_dir / LOG_FILE).read_text().splitlines()]


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("plain")
    model, trainer = dpo_trainer(work, 1, None)
    trainer.train()
    return logged_losses(work), {n: p.detach().clone() for n, p in model.named_parameters()}


def assert_matches_plain(plain_run, work_dir: Path, weights_file: Path) -> None:
    losses, weights = plain_run
    assert logged_losses(work_dir) == pytest.approx(losses, abs=1e-5)
    assert len(set(losses)) == len(losses)  # the losses do move: the comparison has teeth
    deepspeed_weights = load_file(str(weights_file))
    for name, tensor in weights.items():
        assert torch.allclose(deepspeed_weights[name], tensor, atol=WEIGHT_ATOL, rtol=0), name


@pytest.fixture(autouse=True)
def cpu_accelerator(monkeypatch):
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")


def test_deepspeed_one_process_matches_plain_path(plain_run, tmp_path):
    spawn_local(deepspeed_worker, 1, str(tmp_path), [2], False)
    assert_matches_plain(plain_run, tmp_path / "zero2", tmp_path / "zero2.safetensors")


def test_deepspeed_two_processes_match_plain_path_and_resume(plain_run, tmp_path):
    spawn_local(deepspeed_worker, 2, str(tmp_path), [2, 3], True)
    for stage in (2, 3):
        assert_matches_plain(plain_run, tmp_path / f"zero{stage}",
                             tmp_path / f"zero{stage}.safetensors")
    assert json.loads((tmp_path / "resumed_from.json").read_text()) == 2
    straight = load_file(str(tmp_path / "zero2.safetensors"))
    resumed = load_file(str(tmp_path / "resumed.safetensors"))
    for name, tensor in straight.items():
        assert torch.allclose(resumed[name], tensor, atol=1e-6, rtol=0), name
    assert os.listdir(tmp_path / "resumed" / "checkpoints") == ["step-00000004"]
