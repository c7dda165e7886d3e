"""``rewarded-soups``: interpolate single-objective experts with λ (Ramé et al., NeurIPS 2023).

m experts from one shared initialisation, expert i trained on objective i alone (λ = e_i) with the
task's training signal, as plain peft LoRA adapters (:mod:`mobench.toolkit.experts`); at inference
the policy at λ is the experts' λ-interpolation, in one of two readings that differ inside the
simplex (:mod:`mobench.adapters.combine`):

- ``factors`` (default, the official code): A = Σ λ_i A_i, B = Σ λ_i B_i, so
  ΔW = (Σ λ_i B_i)(Σ λ_j A_j);
- ``delta``: ΔW = Σ λ_i B_i A_i, the average of the experts' weight updates (what peft's
  ``add_weighted_adapter(..., "cat")`` builds).

A whole front is answered in one batched generate call, λ per row. Cost: m adapters, each trained
with the full training config (the papers' protocol, m times one model's budget), or
``equal_budget`` to split one model's steps between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mobench.adapters import LoRASettings
from mobench.core.method import FitContext
from mobench.core.specs import TaskSpec
from mobench.engine import TrainingConfig
from mobench.toolkit.experts import train_objective_experts
from mobench.toolkit.policies import ExpertMixturePolicy


@dataclass(frozen=True)
class RewardedSoupsConfig:
    """Hyper-parameters of Rewarded Soups.

    Attributes:
        train: the shared training config of each expert (signal, steps, batch, optimizer).
        lora: each expert's adapter shape.
        variant: ``factors`` (average the LoRA factors, the official code) or ``delta`` (average
            the experts' weight updates).
        equal_budget: give each of the m experts ``train.steps / m`` steps, so the soup costs
            what one model costs (default false: each expert gets the full budget, as in the
            papers).
        reuse_experts: load experts trained before with the identical recipe from the asset
            cache (the cost record lists them as reused) instead of training them again.
    """

    train: TrainingConfig = field(default_factory=TrainingConfig)
    lora: LoRASettings = field(default_factory=LoRASettings)
    variant: Literal["factors", "delta"] = "factors"
    equal_budget: bool = False
    reuse_experts: bool = True


class RewardedSoupsMethod:
    """Rewarded Soups: one LoRA expert per objective, interpolated with λ."""

    name = "rewarded-soups"
    description = "one LoRA expert per objective, weights interpolated with λ (NeurIPS'23)"
    config_class = RewardedSoupsConfig

    def __init__(self, config: RewardedSoupsConfig) -> None:
        self.config = config

    def variant(self, spec: TaskSpec) -> str:
        budget = "-equal-budget" if self.config.equal_budget else ""
        return f"{self.config.variant}{budget}"

    def fit(self, context: FitContext) -> ExpertMixturePolicy:
        train = self.config.train
        if self.config.equal_budget:
            train = train.with_steps(train.steps // len(context.task.spec.objectives))
        experts = train_objective_experts(context, train, self.config.lora,
                                          reuse=self.config.reuse_experts)
        return ExpertMixturePolicy(self.name, experts.model, experts.tokenizer,
                                   context.task.spec, experts.names, self.config.variant)

    def load_policy(self, directory: Path, context: FitContext) -> ExpertMixturePolicy:
        return ExpertMixturePolicy.load(self.name, directory, context)
