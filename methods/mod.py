"""``mod``: multi-objective decoding, mixing experts' next-token scores (Shi et al., NeurIPS 2024).

m single-objective experts from one reference, expert i trained on objective i alone with the
task's training signal (:mod:`mobench.toolkit.experts`: the same recipe as Rewarded Soups, so an
identical expert in the asset cache is reused and the cost record lists it under ``reused``).
Nothing is trained per λ: at each decoding step row r's next-token scores are
``Σ_i λ_ri log π_i`` (the paper's reverse-KL form), sampled or decoded greedily under the task's
decoding config (:mod:`mobench.toolkit.decoding`). Rewarded Soups mixes the same experts in weight
space, MOD in logit space.

Cost: m adapters trained (or reused); at inference every expert runs for every token, m forward
passes per token over an m-times expanded batch, counted in the evaluation cost
(``model_token_passes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mobench.adapters import LoRASettings
from mobench.core.method import FitContext
from mobench.engine import TrainingConfig
from mobench.toolkit.experts import train_objective_experts
from mobench.toolkit.policies import ExpertLogitMixturePolicy


@dataclass(frozen=True)
class MODConfig:
    """Hyper-parameters of MOD.

    Attributes:
        train: the shared training config of each expert (signal, steps, batch, optimizer).
        lora: each expert's adapter shape.
        reuse_experts: load experts trained before with the identical recipe from the asset
            cache (the cost record lists them as reused) instead of training them again.
    """

    train: TrainingConfig = field(default_factory=TrainingConfig)
    lora: LoRASettings = field(default_factory=LoRASettings)
    reuse_experts: bool = True


class MODMethod:
    """MOD: one LoRA expert per objective, next-token scores Σ λ_i log π_i at decoding."""

    name = "mod"
    description = "one LoRA expert per objective, next-token log-probs mixed with λ (NeurIPS'24)"
    config_class = MODConfig

    def __init__(self, config: MODConfig) -> None:
        self.config = config

    def fit(self, context: FitContext) -> ExpertLogitMixturePolicy:
        experts = train_objective_experts(context, self.config.train, self.config.lora,
                                          reuse=self.config.reuse_experts)
        return ExpertLogitMixturePolicy(self.name, experts.model, experts.tokenizer,
                                        context.task.spec, experts.names)

    def load_policy(self, directory: Path, context: FitContext) -> ExpertLogitMixturePolicy:
        return ExpertLogitMixturePolicy.load(self.name, directory, context)
