"""``mod``: multi-objective decoding, mixing experts' next-token scores (Shi et al., NeurIPS 2024).

m single-objective experts from one reference, expert i trained on objective i alone with the
task's training signal (:mod:`mobench.experts`: the same recipe as Rewarded Soups, so an
identical expert in the asset cache is reused and the cost record lists it under ``reused``).
Nothing is trained per λ: at each decoding step row r's next-token scores are
``Σ_i λ_ri log π_i`` (the paper's reverse-KL form), sampled or decoded greedily under the task's
decoding config (:mod:`mobench.decoding`). Rewarded Soups mixes the same experts in weight space,
MOD in logit space.

Cost: m adapters trained (or reused); at inference every expert runs for every token, m forward
passes per token over an m-times expanded batch, counted in the evaluation cost
(``model_token_passes``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mobench.adapters import LoRASettings, load_adapters, save_adapters
from mobench.decoding import generate_expert_mixture
from mobench.engine import TrainingConfig
from mobench.experts import train_objective_experts
from mobench.method import FitContext
from mobench.policies import ADAPTERS_DIR, POLICY_FILE, read_policy_file
from mobench.policy import Generation
from mobench.specs import DecodingConfig, TaskSpec

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedTokenizerBase


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


class ExpertLogitMixturePolicy:
    """Per-objective expert adapters whose next-token scores are mixed with each row's λ."""

    kind = "expert-logit-mixture"

    def __init__(self, method: str, model: PeftModel, tokenizer: PreTrainedTokenizerBase,
                 spec: TaskSpec, experts: Sequence[str]) -> None:
        if len(experts) != len(spec.objectives):
            raise ValueError(f"{len(experts)} experts for {len(spec.objectives)} objectives")
        self.method = method
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.experts = list(experts)

    def generate(self, prompts: Sequence[str], preferences: np.ndarray, decoding: DecodingConfig,
                 seed: int) -> list[Generation]:
        texts = [self.spec.format_prompt(p) for p in prompts]
        return generate_expert_mixture(self.model, self.tokenizer, texts, self.experts,
                                       np.asarray(preferences), decoding, seed)

    def save(self, directory: Path) -> None:
        save_adapters(self.model, directory / ADAPTERS_DIR, self.experts)
        (directory / POLICY_FILE).write_text(json.dumps({
            "method": self.method, "kind": self.kind, "task": self.spec.name,
            "objectives": list(self.spec.objective_names), "experts": self.experts}, indent=2),
            encoding="utf-8")

    @classmethod
    def load(cls, method: str, directory: Path, context: FitContext) -> ExpertLogitMixturePolicy:
        saved = read_policy_file(directory, method, cls.kind)
        model, tokenizer = context.reference_policy()
        peft_model = load_adapters(model, directory / ADAPTERS_DIR, saved["experts"])
        return cls(method, peft_model, tokenizer, context.task.spec, saved["experts"])


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
