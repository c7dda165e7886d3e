"""The training loop shared by SFT, DPO and PPO: steps, accumulation, checkpoints, resume, logs.

An objective (:class:`TrainingObjective`) says what a step's micro-batches are and what their loss
is; the loop does the rest. Everything random is a function of (seed, step) or restored from the
checkpoint (torch, numpy and python generator states), so a run resumed from its last checkpoint
ends with the same weights as one that was never interrupted.

Files in ``work_dir``: ``checkpoints/step-NNNNNNNN/`` (see :mod:`mobench.engine.checkpoint`),
``train_log.jsonl``, one line of metrics per logged step, cut back to the checkpoint on resume,
and ``meter_at_start.json``, the cost counters as they were when this training first began.
Give each training run its own ``work_dir`` (one per expert, say).

Resuming says where it continues. A checkpoint that cannot be read is set aside
(``step-N.damaged``) with a message, and training resumes from the newest readable one, or starts
over from step 0 with the counters put back to ``meter_at_start.json``, so that the steps redone
are counted once.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import torch

from mobench.core.progress import progress
from mobench.core.store import atomic_directory, write_json_atomic, write_text_atomic
from mobench.engine.checkpoint import (
    STATE_FILE,
    WEIGHTS_FILE,
    checkpoint_dir,
    checkpoint_problem,
    checkpoints_newest_first,
    load_tensors,
    prune_checkpoints,
    read_state,
    rng_state,
    save_tensors,
    set_aside,
    set_rng_state,
    write_state,
)
from mobench.engine.config import DeepSpeedConfig, LoopConfig, OptimConfig
from mobench.engine.distributed import DEEPSPEED_DIR, build_backend

if TYPE_CHECKING:
    from mobench.core.cost import CostMeter

LOG_FILE = "train_log.jsonl"
METER_AT_START_FILE = "meter_at_start.json"
CountsAs = Literal["adapter", "model"] | None
logger = logging.getLogger("mobench")


@dataclass(frozen=True)
class RunContext:
    """What an objective may use during a step.

    Attributes:
        forward: the module to call for the policy's training forward (a DeepSpeed engine, or the
            model itself on the plain path).
        module: the model underneath (for generation and no-grad forwards).
        rank: this process's rank.
        world_size: processes training together.
        loop: the loop config.
    """

    forward: torch.nn.Module
    module: torch.nn.Module
    rank: int
    world_size: int
    loop: LoopConfig


class TrainingObjective(Protocol):
    """A training signal: SFT, DPO or PPO (see their modules)."""

    def micro_batches(self, step: int, run: RunContext) -> Sequence[Any]:
        """This process's ``loop.gradient_accumulation`` micro-batches of optimizer step
        ``step``; a function of the seed, the step and the current weights only."""
        ...

    def loss(self, batch: Any, run: RunContext) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss to minimize on one micro-batch, and metrics to log."""
        ...

    def at_boundary(self, step: int) -> bool:
        """Whether a checkpoint may follow step ``step`` (PPO: only between rollouts)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state that must survive a resume (PPO's running ideal point, say)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class StatelessObjective:
    """The checkpoint side of a :class:`TrainingObjective` whose steps are a function of the
    seed and the step alone: a checkpoint may follow any step, and there is no state to save."""

    def at_boundary(self, step: int) -> bool:
        return True

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class TrainResult:
    """What a finished training run reports.

    Attributes:
        steps: optimizer steps done in total.
        resumed_from: the step the run resumed from (0 for a fresh run).
        seconds: wall-clock of this call's steps.
        history: the logged metrics of this call's steps, one dict per logged step.
        log_path: the JSONL log holding every logged step of the run.
    """

    steps: int
    resumed_from: int
    seconds: float
    log_path: Path
    history: list[dict[str, float]] = field(default_factory=list)


class Trainer:
    """Runs an objective for ``loop.steps`` optimizer steps on ``model`` (trained in place).

    Args:
        model: the module whose ``requires_grad`` parameters train (a policy, or a policy with
            value heads for PPO).
        objective: the training signal.
        optim: optimizer and schedule.
        loop: steps, batch sizes, seed, checkpoints.
        work_dir: where checkpoints and the log go; an existing checkpoint there is resumed.
        deepspeed: wrap the model in a DeepSpeed engine (``None``: the plain PyTorch path).
        meter: the run's cost counters. Their state is saved in every checkpoint and put back
            when training resumes from it, so the tokens and reward calls of steps redone after
            a kill are counted once; a persistent meter is saved after each checkpoint too.
        counts_as: with a meter, count this run as one ``adapter`` or one ``model`` trained,
            with the trainable parameters of ``model`` (value heads included).
    """

    def __init__(self, model: torch.nn.Module, objective: TrainingObjective, *,
                 optim: OptimConfig, loop: LoopConfig, work_dir: Path,
                 deepspeed: DeepSpeedConfig | None = None,
                 meter: CostMeter | None = None, counts_as: CountsAs = None) -> None:
        self.model = model
        self.objective = objective
        self.optim = optim
        self.loop = loop
        self.work_dir = Path(work_dir)
        self.deepspeed = deepspeed
        self.meter = meter
        self.counts_as = counts_as

    def train(self) -> TrainResult:
        if self.loop.seed_generators:
            seed_everything(self.loop.seed)
        if self.loop.disable_dropout:
            disable_dropout(self.model)
        backend = build_backend(self.model, self.optim, self.loop, self.deepspeed)
        run = RunContext(forward=backend.forward_module, module=backend.module,
                         rank=backend.rank, world_size=backend.world_size, loop=self.loop)
        start = self._resume(backend)
        log_path = self.work_dir / LOG_FILE
        history: list[dict[str, float]] = []
        pending_checkpoint = False
        saved_at = start
        began = time.perf_counter()
        self.model.train()
        bar = progress(range(start, self.loop.steps), desc=self.loop.progress_desc,
                       total=self.loop.steps - start, unit="step")
        for step in bar:
            metrics = self._step(step, run, backend)
            if (step + 1) % self.loop.log_every == 0 or step + 1 == self.loop.steps:
                history.append(metrics)
                if backend.rank == 0:
                    _append_log(log_path, metrics)
            every = self.loop.checkpoint_every
            pending_checkpoint |= bool(every) and (step + 1) % every == 0
            if pending_checkpoint and self.objective.at_boundary(step):
                self._save(backend, step + 1)
                saved_at, pending_checkpoint = step + 1, False
        if saved_at != self.loop.steps:
            self._save(backend, self.loop.steps)
        return TrainResult(steps=self.loop.steps, resumed_from=start,
                           seconds=round(time.perf_counter() - began, 3), log_path=log_path,
                           history=history)

    def _count_training(self) -> None:
        # Counted before the first step; a resume then puts back the checkpoint's counters.
        if self.meter is None or self.counts_as is None:
            return
        trainable = sum(p.numel() for p in {id(p): p for p in self.model.parameters()}.values()
                        if p.requires_grad)
        if self.counts_as == "adapter":
            self.meter.add(adapters_trained=1, trainable_parameters=trainable)
        else:
            self.meter.add(models_trained=1, trainable_parameters=trainable)

    def _step(self, step: int, run: RunContext, backend: Any) -> dict[str, float]:
        batches = self.objective.micro_batches(step, run)
        if len(batches) != self.loop.gradient_accumulation:
            raise RuntimeError(f"the objective gave {len(batches)} micro-batches for one step, "
                               f"expected {self.loop.gradient_accumulation}")
        totals: dict[str, float] = {}
        for index, batch in enumerate(batches):
            loss, metrics = self.objective.loss(batch, run)
            backend.micro_backward(loss, last=index == len(batches) - 1)
            for key, value in {"loss": float(loss.detach()), **metrics}.items():
                totals[key] = totals.get(key, 0.0) + value / len(batches)
        keys = sorted(totals)
        values = backend.all_reduce_mean(torch.tensor([totals[k] for k in keys],
                                                      dtype=torch.float64))
        out = {"step": step + 1, "learning_rate": backend.learning_rate,
               "grad_norm": backend.last_grad_norm}
        out.update({k: float(v) for k, v in zip(keys, values.tolist(), strict=True)})
        return out

    def _save(self, backend: Any, steps_done: int) -> None:
        target = checkpoint_dir(self.work_dir, steps_done)
        state = {"step": steps_done, "world_size": backend.world_size,
                 "objective": self.objective.state_dict(),
                 "meter": None if self.meter is None else self.meter.snapshot()}
        if backend.world_size == 1:
            with atomic_directory(target) as tmp:
                self._write(backend, tmp, state)
        else:
            # Every rank writes its part into one temporary folder, renamed once all are done.
            tmp = target.with_name(f".{target.name}.tmp")
            if backend.rank == 0:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
            backend.barrier()
            self._write(backend, tmp, state)
            backend.barrier()
            if backend.rank == 0:
                if target.exists():
                    shutil.rmtree(target)
                os.replace(tmp, target)
            backend.barrier()
        if backend.rank == 0:
            prune_checkpoints(self.work_dir, self.loop.keep_checkpoints)
            save_meter = getattr(self.meter, "save", None)
            if callable(save_meter):
                save_meter()
        backend.barrier()

    def _write(self, backend: Any, folder: Path, state: dict[str, Any]) -> None:
        backend.save(folder)
        save_tensors(rng_state(), folder / f"rng-rank{backend.rank}.pt")
        if backend.rank == 0:
            write_state(folder / STATE_FILE, state)

    def _usable_checkpoint(self, backend: Any) -> Path | None:
        """The newest checkpoint whose files all read back; damaged newer ones are set aside.

        Every rank reads the same files, so every rank picks the same checkpoint.
        """
        damaged: list[tuple[Path, str]] = []
        chosen = None
        for candidate in checkpoints_newest_first(self.work_dir):
            problem = checkpoint_problem(candidate, DEEPSPEED_DIR)
            if problem is None:
                chosen = candidate
                break
            damaged.append((candidate, problem))
        backend.barrier()
        if damaged and backend.rank == 0:
            for folder, problem in damaged:
                logger.warning("%s: checkpoint %s is damaged (%s); set aside as %s",
                               self.loop.progress_desc, folder.name, problem,
                               set_aside(folder).name)
            if chosen is None:
                logger.warning("%s: no readable checkpoint is left; training starts over from "
                               "step 0", self.loop.progress_desc)
        backend.barrier()
        return chosen

    def _rewind_meter(self, backend: Any) -> None:
        """Without a checkpoint, training starts at step 0: put the counters back to what they
        were when this training first began (its earlier steps are redone), or remember that."""
        if self.meter is None:
            return
        path = self.work_dir / METER_AT_START_FILE
        if path.exists():
            self.meter.restore(json.loads(path.read_text(encoding="utf-8")))
        elif backend.rank == 0:
            write_json_atomic(path, self.meter.snapshot())
        backend.barrier()

    def _resume(self, backend: Any) -> int:
        """Count this training's cost and continue from the newest usable checkpoint (0: none)."""
        checkpoint = self._usable_checkpoint(backend)
        if checkpoint is None:
            self._rewind_meter(backend)
        self._count_training()  # a checkpoint's counters, restored below, include this count
        if checkpoint is None:
            if backend.rank == 0:
                if (self.work_dir / LOG_FILE).exists():  # an earlier leg stopped before a save
                    logger.info("restarting %s from step 0 of %d: the earlier attempt wrote no "
                                "readable checkpoint", self.loop.progress_desc, self.loop.steps)
                (self.work_dir / LOG_FILE).unlink(missing_ok=True)
            backend.barrier()
            return 0
        state = read_state(checkpoint / STATE_FILE)
        _check_compatible(checkpoint, state, backend, self.deepspeed is not None)
        backend.load(checkpoint)
        self.objective.load_state_dict(state["objective"])
        if self.meter is not None and state.get("meter") is not None:
            self.meter.restore(state["meter"])
        if backend.rank == 0 and int(state["step"]) < self.loop.steps:
            logger.info("resuming %s from step %d of %d (%s)", self.loop.progress_desc,
                        int(state["step"]), self.loop.steps, checkpoint)
        elif backend.rank == 0:
            logger.info("%s finished its %d steps before; not redone", self.loop.progress_desc,
                        self.loop.steps)
        set_rng_state(load_tensors(checkpoint / f"rng-rank{backend.rank}.pt"))
        if backend.rank == 0:
            _cut_log(self.work_dir / LOG_FILE, state["step"])
        backend.barrier()
        return int(state["step"])


def _check_compatible(checkpoint: Path, state: dict[str, Any], backend: Any,
                      uses_deepspeed: bool) -> None:
    written_by_deepspeed = (checkpoint / DEEPSPEED_DIR).is_dir()
    if written_by_deepspeed != uses_deepspeed or not (
            written_by_deepspeed or (checkpoint / WEIGHTS_FILE).is_file()):
        kind = "DeepSpeed" if written_by_deepspeed else "plain"
        raise ValueError(f"checkpoint {str(checkpoint)!r} was written by the {kind} path; resume "
                         "it with the same backend, or use another work dir")
    if state["world_size"] != backend.world_size:
        raise ValueError(f"checkpoint {str(checkpoint)!r} was written by {state['world_size']} "
                         f"processes; resume it with as many, not {backend.world_size}")


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def disable_dropout(model: torch.nn.Module) -> None:
    """Set every dropout of ``model`` to 0: modules, and attention dropout kept as a float."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            setattr(module, "attention_dropout", 0.0)  # noqa: B010 (typed as a module attribute)


def _append_log(path: Path, metrics: dict[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(metrics, allow_nan=True) + "\n")


def _cut_log(path: Path, steps_done: int) -> None:
    """Drop log lines of steps after the checkpoint: they are about to be redone."""
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and _line_step(line) <= steps_done]
    write_text_atomic(path, "".join(line + "\n" for line in kept))


def _line_step(line: str) -> int:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return 1 << 62  # a torn line: drop it
