"""``modpo``: multi-objective DPO, one model per preference vector (Zhou et al., 2024).

For each λ of a grid (the DPS grid: the task's evaluation grid by default, ``grid_points`` for a
coarser one of the same design), one LoRA adapter trains with DPO on one objective's pairs and the
other objectives' rewards as a margin (:mod:`mobench.engine.modpo`):
``−log σ((h − Σ_{j≠k} λ_j Δr_j) / λ_k)``. Any number of objectives.

- Which pairs: objective k = the one with the largest weight in λ (the first on ties), so λ_k ≥
  1/m and the division by λ_k never blows up; at a vertex it is plain DPO on that objective's
  pairs.
- The margins: every pair's two responses scored once by every objective's training scorer
  (counted, a durable stage of the run), normalized by the task's fixed bounds
  (``spec.normalize``) and put in Bradley-Terry units of each objective's own labels
  (``margin_units``; see :mod:`mobench.toolkit.pair_rewards`), the units of k's implicit DPO reward.
- It trains DPO whatever the task's default signal (on the chat tasks, which default to SFT, on
  their style pairs); a task without preference pairs or training scorers is refused.

The policy serves only its grid (like DPS): other λ are answered by the nearest grid model, and
the records say which. Cost: one adapter per grid point with the full training budget, plus the
reward calls of the margins.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mobench.adapters import LoRASettings, activate_adapter, add_lora_adapter
from mobench.core.errors import ConfigError
from mobench.core.method import FitContext
from mobench.core.specs import TaskSpec
from mobench.engine import TrainingConfig
from mobench.engine.modpo import (
    MarginWeights,
    margin_objectives,
    prepare_margin_pairs,
    train_modpo,
    trained_objective,
)
from mobench.engine.task_training import reference_cache_dir
from mobench.toolkit.grids import check_grid_points, grid_label, task_or_coarser_grid
from mobench.toolkit.pair_rewards import (
    MARGIN_UNITS,
    MarginUnits,
    pair_reward_gaps,
    score_pair_responses,
)
from mobench.toolkit.policies import AdapterGridPolicy

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger("mobench")
PAIR_SCORES_FILE = "pair_scores.json"


@dataclass(frozen=True)
class MODPOConfig:
    """Hyper-parameters of MODPO.

    Attributes:
        train: the shared training config of each grid model; its ``dpo`` settings (β, sequence
            reduction, length) are MODPO's, and ``signal`` must be ``auto`` or ``dpo``.
        lora: each grid model's adapter shape.
        grid_points: 0 trains one model per preference of the task's evaluation grid; N > 0 a
            coarser grid of at most N preferences of the same design (vertices included).
        margin_units: ``bradley-terry`` (default: normalized reward gaps scaled into log-odds of
            each objective's own labels, the units of the implicit DPO reward they are subtracted
            from) or ``normalized`` (the normalized gaps as they are).
    """

    train: TrainingConfig = field(default_factory=TrainingConfig)
    lora: LoRASettings = field(default_factory=LoRASettings)
    grid_points: int = 0
    margin_units: MarginUnits = "bradley-terry"

    def __post_init__(self) -> None:
        check_grid_points(self.grid_points)
        if self.margin_units not in MARGIN_UNITS:
            raise ValueError(f"margin_units must be one of {', '.join(MARGIN_UNITS)}, "
                             f"got {self.margin_units!r}")
        if self.train.signal not in ("auto", "dpo"):
            raise ValueError(f"MODPO trains with DPO; train.signal must be auto or dpo, "
                             f"got {self.train.signal!r}")

    def grid(self, spec: TaskSpec) -> np.ndarray:
        return task_or_coarser_grid(spec, self.grid_points)


class MODPOMethod:
    """MODPO: one LoRA adapter per grid preference, DPO on one objective with reward margins."""

    name = "modpo"
    description = "one LoRA model per preference, DPO with the other rewards as margin (MODPO)"
    config_class = MODPOConfig

    def __init__(self, config: MODPOConfig) -> None:
        self.config = config

    def variant(self, spec: TaskSpec) -> str:
        grid = grid_label(spec, self.config.grid_points)
        return f"{grid}-{self.config.margin_units}-margins"

    def fit(self, context: FitContext) -> AdapterGridPolicy:
        spec, train = context.task.spec, self.config.train
        if not (spec.training.preference_pairs and spec.training.reward_scorers):
            raise ConfigError(f"MODPO needs preference pairs and reward scorers for every "
                              f"objective; task {spec.name!r} does not offer both")
        grid = self.config.grid(spec)
        trained = [trained_objective(p) for p in grid]
        reference, tokenizer = context.reference_policy()
        tables = self._margin_tables(context, tokenizer,
                                     sorted({spec.objective_names[k] for k in trained}))
        names = [f"lambda-{k:02d}" for k in range(len(grid))]
        model = add_lora_adapter(reference, self.config.lora, names[0], seed=context.seed)
        for index, (name, preference, k) in enumerate(zip(names, grid, trained, strict=True)):
            if index:  # each grid model starts from the same adapter initialisation
                add_lora_adapter(model, self.config.lora, name, seed=context.seed)
            objective = spec.objective_names[k]
            train_modpo(model, tokenizer, tables[objective], MarginWeights.of(preference, k),
                        work_dir=context.work_dir / name, dpo=train.dpo, optim=train.optim,
                        loop=train.loop(context.seed, f"modpo {name} ({objective} pairs)"),
                        deepspeed=train.deepspeed, meter=context.meter, counts_as="adapter",
                        reference_cache=reference_cache_dir(context.task))
        for name in names:
            activate_adapter(model, name, trainable=False)
        return AdapterGridPolicy(self.name, model, tokenizer, spec, grid, names)

    def _margin_tables(self, context: FitContext, tokenizer: PreTrainedTokenizerBase,
                       objectives: Sequence[str]) -> dict[str, datasets.Dataset]:
        """Each trained objective's pairs with their reward gaps, tokenized; the responses are
        scored once for all of them (a stage of the run's work folder)."""
        spec, pairs = context.task.spec, context.task.data.preference_pairs
        margins = margin_objectives(self.config.grid(spec), spec.objective_names)
        scored = score_pair_responses(context, context.work_dir / PAIR_SCORES_FILE, margins,
                                      pair_sets=sorted({*objectives, *margins}))
        rewards = pair_reward_gaps(spec, pairs, scored, self.config.margin_units, margins,
                                   trained=objectives)
        logger.info("MODPO margin slopes (%s units): %s", rewards.units,
                    {name: rewards.slopes[j] for j, name in enumerate(spec.objective_names)
                     if name in margins})
        return {name: prepare_margin_pairs(pairs[name], rewards.gaps[name], tokenizer,
                                           spec.format_prompt, self.config.train.dpo.max_length)
                for name in objectives}

    def load_policy(self, directory: Path, context: FitContext) -> AdapterGridPolicy:
        return AdapterGridPolicy.load(self.name, directory, context)
