"""``pama``: Noon PPO with the closed-form O(n) weighting (He and Maghsudi, ECML-PKDD 2025).

PPO with one value head per objective gives the advantages A'_1..A'_n of every response token.
Noon PPO keeps only their positive part, A_i = max(A'_i, 0); PAMA then combines them with the
weights c* ∈ Δ minimizing ‖Σ c_i A_i‖², the scalar stand-in for MGDA's min-norm problem over
gradients, solved in closed form (:func:`mobench.engine.min_norm.project_zero_onto_range`). The
combined advantage enters the engine's clipped surrogate. One LoRA adapter trains; the policy
takes no preference (``serves = "point"``): one Pareto-stationary policy per seed, drawn by the
leaderboards as one point, not a front.

Variants (the run's variant name):

- ``per-sample`` (default): the projection per response token, the unit of PPO's surrogate and of
  Noon's clip. Every A_i is at least 0, so the projection is min_i A_i: a token moves only where
  every objective's advantage is positive, by the smallest of them. Clipping first or projecting
  first gives the same number (both are max(min_i A'_i, 0)).
- ``batch-scalar``: one c* for the whole rollout, from the rollout's mean clipped advantage of each
  objective (what a public reimplementation does); every A_i ≥ 0 makes c* the objective(s) of the
  smallest mean, so each rollout trains on the objective currently gaining least. Here the order
  matters: the means of the unclipped, standardized advantages are all exactly 0, which would
  leave c* undetermined.

No λ-weighted variant is offered: the policy is one adapter that ignores λ, so weighting the
advantages with the λ drawn for each rollout would average over λ, not serve one.

What the weighting does on tiny hh (seed 0, defaults; the engine logs ``advantage/nonzero_share``
and ``advantage/mean_abs`` per step in ``train_log.jsonl``): a token moves only where both
objectives' whitened advantages are positive, 29% of response tokens (14% on hhc's three
objectives), with a mean |combined advantage| of 0.115 (0.048 on hhc) against 0.71 to 0.74 for LS
PPO on the same engine and settings (``mobench run --method dps --task hh method.train.signal=ppo
method.train.ppo.kl_coef=0.2 method.grid_points=3``). The objectives agree on harmless requests and
conflict on harmful ones, so PAMA learns from the first only: its exact scores (normalized helpful,
harmless) go from base's (0.57, 0.98) to (0.69, 0.98) on harmless requests, and on harmful ones
from (0.53, 0.46) to (0.54, 0.33): it never learns to refuse (a refusal's helpfulness advantage is
negative, so its update is 0) and the added helpfulness spills over. LS PPO's λ = (0.5, 0.5) model,
as far from the reference (KL 0.94 against PAMA's 0.89), reaches (0.72, 0.99) and (0.36, 0.81) (its
answers for λ from 0.3 to 0.7), and its three-model front beats base beyond the intervals (exact
hypervolume 0.719 [0.659, 0.763] against base's 0.492 [0.402, 0.506]), so the engine, the budget
and the KL setting can move this task; PAMA's point, 0.550 [0.453, 0.608], does not part from
base's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import torch

from mobench.adapters import LoRASettings, activate_adapter, add_lora_adapter
from mobench.core.method import FitContext
from mobench.core.specs import TaskSpec
from mobench.engine import CombineAdvantages, TrainingConfig, combined_advantages, train_on_task
from mobench.engine.min_norm import project_zero_onto_range, scalar_min_norm_weights
from mobench.toolkit.policies import SingleAdapterPolicy

Weighting = Literal["per-sample", "batch-scalar"]
ADAPTER = "pama"


def _with_kl(train: TrainingConfig, kl_coef: float) -> TrainingConfig:
    return replace(train, ppo=replace(train.ppo, kl_coef=kl_coef))


@dataclass(frozen=True)
class PAMAConfig:
    """Hyper-parameters of PAMA.

    Attributes:
        train: the shared training config. PAMA is a PPO method: ``signal`` ``auto`` (default)
            or ``ppo`` both train with PPO whatever the task's default signal; ``sft`` and
            ``dpo`` are refused. Advantage whitening (``ppo.whiten_advantages``, on by default)
            standardizes each objective's advantages over the rollout before the Noon clip and
            the projection, and nothing after: the projection compares advantages across
            objectives, which needs them on one scale, and the engine's usual whitening of the
            combined advantage would turn Noon's zeros (no update) into negative advantages.
            This is the reading where each objective runs the standard PPO pipeline (whitened
            advantages) and Noon PPO then clips them; ``whiten_advantages=false`` combines the
            raw advantages in units of normalized reward.
            The KL coefficient is 0.2, ten times the paper's 0.02 and four times the shared PPO
            default (0.05): with 0.02 PAMA over-optimized the tiny reward models (seed 0,
            defaults otherwise: hh reward-model hypervolume 0.970 but exact 0.123 [0.079,
            0.164], against base's 0.492 [0.402, 0.506]; hhc exact 0.343 [0.249, 0.387] against
            base's 0.475), and with 0.05 too (hh reward model 0.824, exact 0.303). With 0.2: hh
            exact 0.550 [0.453, 0.608] (reward model 0.586), hhc 0.473 [0.403, 0.490]. Two more
            settings, KL 0.2 with the reward scale at 1 and the learning rate at 2e-3 or 5e-4,
            gave hh 0.533 / 0.521 and hhc 0.460 / 0.498: with no setting tried do PAMA's and
            base's intervals part on hh or hhc, so the shared rate and scale stay. PAMA is the
            only method that trains with PPO on the tiny tasks, so this is its setting alone;
            at paper scale, where the others train with PPO too, set
            ``method.train.ppo.kl_coef=0.02`` to compare like with like.
        lora: the adapter's shape.
        variant: ``per-sample`` (the projection per token) or ``batch-scalar`` (one weight
            vector per rollout); see the module docstring.
    """

    train: TrainingConfig = field(default_factory=lambda: _with_kl(TrainingConfig(), 0.2))
    lora: LoRASettings = field(default_factory=LoRASettings)
    variant: Weighting = "per-sample"

    def __post_init__(self) -> None:
        if self.train.signal not in ("auto", "ppo"):
            raise ValueError(f"PAMA trains with PPO; train.signal must be auto or ppo, "
                             f"got {self.train.signal!r}")
        if self.variant not in ("per-sample", "batch-scalar"):
            raise ValueError(f"variant must be per-sample or batch-scalar, got {self.variant!r}")

    def ppo_training(self) -> TrainingConfig:
        """The training config with its signal resolved to PPO."""
        return replace(self.train, signal="ppo")


def noon_clip(advantages: torch.Tensor) -> torch.Tensor:
    """Noon PPO's advantages: max(A', 0), so no sample's probability is pushed down."""
    return advantages.clamp(min=0)


def per_sample_weighting(advantages: torch.Tensor, preferences: torch.Tensor,
                         mask: torch.Tensor) -> torch.Tensor:
    """(n, m, T) advantages -> (n, T): per token, the minimum-norm combination of its clipped
    per-objective advantages. λ is ignored."""
    return project_zero_onto_range(noon_clip(advantages), dim=1) * mask


def batch_scalar_weighting(advantages: torch.Tensor, preferences: torch.Tensor,
                           mask: torch.Tensor) -> torch.Tensor:
    """(n, m, T) advantages -> (n, T): one c* for the batch, from each objective's mean clipped
    advantage over the response tokens, applied to every token's clipped advantages."""
    clipped = noon_clip(advantages) * mask[:, None, :]
    means = clipped.sum(dim=(0, 2)) / mask.sum().clamp(min=1)
    weights = scalar_min_norm_weights(means).to(clipped.dtype)
    return torch.einsum("m,nmt->nt", weights, clipped)


WEIGHTINGS: dict[str, CombineAdvantages] = {"per-sample": per_sample_weighting,
                                            "batch-scalar": batch_scalar_weighting}


class PAMAMethod:
    """PAMA: one LoRA adapter trained by Noon PPO with the closed-form min-norm weighting."""

    name = "pama"
    description = ("Noon PPO with closed-form O(n) min-norm advantage weighting; one point, "
                   "not a front (ECML-PKDD'25)")
    config_class = PAMAConfig
    serves = "point"

    def __init__(self, config: PAMAConfig) -> None:
        self.config = config

    def variant(self, spec: TaskSpec) -> str:
        return self.config.variant

    def fit(self, context: FitContext) -> SingleAdapterPolicy:
        spec = context.task.spec
        reference, tokenizer = context.reference_policy()
        model = add_lora_adapter(reference, self.config.lora, ADAPTER, seed=context.seed)
        strategy = combined_advantages(len(spec.objectives), context.seed,
                                       WEIGHTINGS[self.config.variant], whiten_per_objective=True)
        train_on_task(model, tokenizer, context.task, self.config.ppo_training(), strategy,
                      work_dir=context.work_dir / ADAPTER, seed=context.seed,
                      meter=context.meter, progress_desc=f"pama {self.config.variant}")
        activate_adapter(model, ADAPTER, trainable=False)
        return SingleAdapterPolicy(self.name, model, tokenizer, spec, ADAPTER)

    def load_policy(self, directory: Path, context: FitContext) -> SingleAdapterPolicy:
        return SingleAdapterPolicy.load(self.name, directory, context)
