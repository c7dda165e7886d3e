"""``dps``: one model per preference vector (DPS / MORLHF), the brute-force baseline.

For each λ of a grid (by default the task's evaluation grid, so every evaluated λ has its own
model, as in the papers; ``grid_points`` asks for a coarser grid), one LoRA adapter is trained on
the λ-scalarized objective with the task's signal: the LS aggregate of the per-objective DPO or
SFT losses, or PPO on Σ λ_i r_i with every reward normalized by its objective's bounds (the RiC
code used raw rewards, which makes λ incomparable across reward models).

The policy serves only its grid: another λ is answered by the nearest trained one, and the
records and ``mobench generate`` say which. All adapters sit on one copy of the base model and
answer a whole front in one batched generate call (peft's mixed-adapter batches), so evaluating
DPS costs about what evaluating one model costs; training costs one model's budget per grid
point, or one model's in all with ``equal_budget``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mobench.adapters import LoRASettings, activate_adapter, add_lora_adapter
from mobench.core.method import FitContext
from mobench.core.specs import TaskSpec
from mobench.engine import TrainingConfig, fixed_preference, train_on_task
from mobench.toolkit.grids import check_grid_points, grid_label, task_or_coarser_grid
from mobench.toolkit.policies import AdapterGridPolicy


@dataclass(frozen=True)
class DPSConfig:
    """Hyper-parameters of DPS.

    Attributes:
        train: the shared training config of each grid model.
        lora: each grid model's adapter shape.
        grid_points: 0 trains one model per preference of the task's evaluation grid; N > 0 a
            coarser grid of at most N preferences of the same design (vertices included).
        equal_budget: split one model's ``train.steps`` over the grid models (default false:
            each gets the full budget, as in the papers).
    """

    train: TrainingConfig = field(default_factory=TrainingConfig)
    lora: LoRASettings = field(default_factory=LoRASettings)
    grid_points: int = 0
    equal_budget: bool = False

    def __post_init__(self) -> None:
        check_grid_points(self.grid_points)

    def grid(self, spec: TaskSpec) -> np.ndarray:
        return task_or_coarser_grid(spec, self.grid_points)


class DPSMethod:
    """DPS / MORLHF: one LoRA adapter per grid preference, each trained at its fixed λ."""

    name = "dps"
    description = "one LoRA model per preference vector on a grid (DPS / MORLHF)"
    config_class = DPSConfig

    def __init__(self, config: DPSConfig) -> None:
        self.config = config

    def variant(self, spec: TaskSpec) -> str:
        grid = grid_label(spec, self.config.grid_points)
        return grid + ("-equal-budget" if self.config.equal_budget else "")

    def fit(self, context: FitContext) -> AdapterGridPolicy:
        spec = context.task.spec
        grid = self.config.grid(spec)
        train = self.config.train
        if self.config.equal_budget:
            train = train.with_steps(train.steps // len(grid))
        model, tokenizer = context.reference_policy()
        names = [f"lambda-{k:02d}" for k in range(len(grid))]
        for name, preference in zip(names, grid, strict=True):
            model = add_lora_adapter(model, self.config.lora, name, seed=context.seed)
            train_on_task(model, tokenizer, context.task, train, fixed_preference(preference),
                          work_dir=context.work_dir / name, seed=context.seed,
                          meter=context.meter, progress_desc=f"dps {name}")
        for name in names:
            activate_adapter(model, name, trainable=False)
        return AdapterGridPolicy(self.name, model, tokenizer, spec, grid, names)

    def load_policy(self, directory: Path, context: FitContext) -> AdapterGridPolicy:
        return AdapterGridPolicy.load(self.name, directory, context)
