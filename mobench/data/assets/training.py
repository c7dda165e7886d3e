"""How the asset builders train: the shared engine's trainer with the builders' schedule.

The reference policy's SFT and each reward model run on :class:`mobench.engine.trainer.Trainer`
(the same optimizer, schedule, clipping and loop every method trains with), with AdamW, weight
decay on matrices, a linear warm-up over the first 5% of steps and a cosine decay to 10% of the
peak rate, gradient norm clipped at 1, dropout left on (these are ordinary training runs, not
log-ratio objectives), and no checkpoints kept (a build is redone whole if interrupted; the
trainer's work folder is temporary).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mobench.engine.config import LoopConfig, OptimConfig
from mobench.engine.trainer import Trainer, TrainResult

if TYPE_CHECKING:
    import torch

    from mobench.engine.trainer import TrainingObjective

WARMUP_SHARE = 20  # warm-up steps: 1/20 of the run
FINAL_LR_RATIO = 0.1  # the cosine decay ends at 10% of the peak


def train_asset(model: torch.nn.Module, objective: TrainingObjective, *, steps: int,
                batch_size: int, learning_rate: float, weight_decay: float, seed: int,
                progress_desc: str, seed_generators: bool = True) -> TrainResult:
    """Train ``model`` in place for ``steps`` steps of ``objective``.

    ``seed_generators=False`` keeps the caller's torch generator state (a reward model's fresh
    score head has just drawn from it, and dropout continues the same stream).
    """
    optim = OptimConfig(learning_rate=learning_rate, weight_decay=weight_decay,
                        warmup_steps=max(1, steps // WARMUP_SHARE), schedule="cosine",
                        min_lr_ratio=FINAL_LR_RATIO, max_grad_norm=1.0)
    loop = LoopConfig(steps=steps, batch_size=batch_size, seed=seed, checkpoint_every=0,
                      disable_dropout=False, seed_generators=seed_generators,
                      progress_desc=progress_desc)
    with tempfile.TemporaryDirectory(prefix="mobench-asset-") as work:
        return Trainer(model, objective, optim=optim, loop=loop, work_dir=Path(work)).train()


def final_loss(result: TrainResult, last: int = 20) -> float:
    """The mean loss of the last ``last`` steps (what the build record reports)."""
    import numpy as np

    return float(np.mean([entry["loss"] for entry in result.history[-last:]]))


def tokens_seen(result: TrainResult) -> int:
    return int(sum(entry["tokens"] for entry in result.history))
