"""MODPO's objective: DPO on one objective's pairs, the other objectives' rewards as a margin.

Multi-objective DPO (Zhou et al., 2024) trains the policy of one preference λ on objective k's
pairs (x, y_w, y_l). With the implicit reward gap h = β[(log π(y_w) − log π_ref(y_w)) −
(log π(y_l) − log π_ref(y_l))] and the other objectives' reward gaps Δr_j = r_j(x, y_w) −
r_j(x, y_l), the loss of a pair is

    −log σ((h − Σ_{j≠k} λ_j Δr_j) / λ_k),

so the policy's implicit reward fits λ_k r_k + Σ_{j≠k} λ_j r_j: the λ-scalarized reward,
without a reward model for objective k and without sampling. With the margin weights zero and
λ_k = 1 it is DPO's loss on objective k's pairs (:func:`~mobench.engine.dpo.dpo_loss`).

The reward gaps come with the training table (computed once by the caller, with counted scorers:
see :mod:`mobench.toolkit.pair_rewards`); each batch scores its 2n sequences in one policy and one
reference forward, as DPO does. β, the sequence reduction and the length limit are DPO's
(:class:`~mobench.engine.config.DPOConfig`; its aggregation has nothing to aggregate here: one
objective's pairs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import datasets
import numpy as np
import torch
import torch.nn.functional as F

from mobench.engine.config import DeepSpeedConfig, DPOConfig, LoopConfig, OptimConfig
from mobench.engine.data import (
    BatchOrder,
    TokenBatch,
    collate,
    encode_pair_table,
    step_micro_batches,
)
from mobench.engine.logprobs import reduce_sequence, token_logprobs
from mobench.engine.reference import (
    FrozenReference,
    PairDigests,
    pair_sequences,
    reference_cache_for,
)
from mobench.engine.trainer import CountsAs, RunContext, StatelessObjective, Trainer, TrainResult

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from mobench.core.cost import CostMeter


@dataclass(frozen=True)
class MarginPairBatch:
    """One micro-batch of pairs with their reward gaps.

    Attributes:
        tokens: 2n sequences, the n chosen responses then the n rejected ones.
        reward_gaps: (n, m) r_j(chosen) − r_j(rejected) per objective j (objective k's column
            is not used: its margin weight is 0).
        sequence_keys: the 2n sequences' digests in the reference's store (empty: no store).
    """

    tokens: TokenBatch
    reward_gaps: torch.Tensor
    sequence_keys: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class MarginWeights:
    """How one preference λ weighs objective k's pairs and the other objectives' margins.

    Attributes:
        trained_objective: k, the objective whose pairs train the model.
        objective_weight: λ_k (positive: the loss divides by it).
        margin_weights: (m,) λ with its k-th entry zeroed.
    """

    trained_objective: int
    objective_weight: float
    margin_weights: tuple[float, ...]

    @classmethod
    def of(cls, preference: Sequence[float] | np.ndarray, trained_objective: int) -> MarginWeights:
        weights = np.asarray(preference, dtype=np.float64)
        if weights.ndim != 1 or not 0 <= trained_objective < len(weights):
            raise ValueError(f"objective index {trained_objective} is not one of the "
                             f"{weights.size} weights of {weights.tolist()}")
        if not weights[trained_objective] > 0:
            raise ValueError(f"MODPO divides by the trained objective's weight; λ_"
                             f"{trained_objective} = {weights[trained_objective]} in "
                             f"{weights.tolist()}")
        margins = weights.copy()
        margins[trained_objective] = 0.0
        return cls(trained_objective, float(weights[trained_objective]),
                   tuple(float(w) for w in margins))


def trained_objective(preference: Sequence[float] | np.ndarray) -> int:
    """The objective whose pairs train the model at ``preference``: the largest weight (the
    first on ties), so λ_k ≥ 1/m and the loss's division by λ_k never blows up."""
    return int(np.argmax(np.asarray(preference, dtype=np.float64)))


def margin_objectives(grid: np.ndarray, names: Sequence[str]) -> list[str]:
    """The objectives some preference of ``grid`` weighs as a margin (λ_j > 0, j not its trained
    objective), in the task's order: only their rewards are needed."""
    used = {j for preference in np.asarray(grid) for j in np.flatnonzero(preference > 0)
            if j != trained_objective(preference)}
    return [name for j, name in enumerate(names) if j in used]


def modpo_loss(policy_token_logps: torch.Tensor, reference_token_logps: torch.Tensor,
               batch: MarginPairBatch, config: DPOConfig,
               weights: MarginWeights) -> tuple[torch.Tensor, dict[str, float]]:
    """The mean MODPO loss of a batch, from per-token log-probs of [chosen; rejected]."""
    reference = reduce_sequence(reference_token_logps, batch.tokens.response_mask,
                                config.reduction)
    return modpo_sequence_loss(policy_token_logps, reference, batch, config, weights)


def modpo_sequence_loss(policy_token_logps: torch.Tensor, reference_logps: torch.Tensor,
                        batch: MarginPairBatch, config: DPOConfig,
                        weights: MarginWeights) -> tuple[torch.Tensor, dict[str, float]]:
    """:func:`modpo_loss` with the reference already reduced per sequence (2n,)."""
    policy = reduce_sequence(policy_token_logps, batch.tokens.response_mask, config.reduction)
    ratio_chosen, ratio_rejected = (policy - reference_logps).chunk(2)
    implicit_gap = config.beta * (ratio_chosen - ratio_rejected)
    margin_weights = torch.tensor(weights.margin_weights, dtype=implicit_gap.dtype,
                                  device=implicit_gap.device)
    margin = batch.reward_gaps.to(implicit_gap) @ margin_weights
    logits = (implicit_gap - margin) / weights.objective_weight
    loss = -F.logsigmoid(logits).mean()
    metrics = {"implicit_reward_gap": float(implicit_gap.detach().mean()),
               "margin": float(margin.mean()),
               "accuracy": float((logits.detach() > 0).float().mean())}
    return loss, metrics


class MODPOObjective(StatelessObjective):
    """The :class:`~mobench.engine.trainer.TrainingObjective` of MODPO at one preference.

    Args:
        table: objective k's pairs, tokenized (:func:`prepare_margin_pairs`).
        pad_id: the tokenizer's pad token id.
        config: β, reduction.
        weights: λ_k and the margin weights.
        reference: π_ref (a separate model, or the policy with its adapter disabled).
        seed: seeds the order of pairs.
    """

    def __init__(self, table: datasets.Dataset, pad_id: int, config: DPOConfig,
                 weights: MarginWeights, reference: FrozenReference, seed: int = 0) -> None:
        gaps = np.asarray(table["reward_gaps"], dtype=np.float64)
        if gaps.ndim != 2 or gaps.shape[1] != len(weights.margin_weights):
            raise ValueError(f"reward gaps of shape {gaps.shape} for "
                             f"{len(weights.margin_weights)} objectives")
        self.columns = table.select_columns(["prompt_ids", "a_ids", "b_ids", "reward_gaps"])
        self.pad_id = pad_id
        self.config = config
        self.weights = weights
        self.reference = reference
        self.order = BatchOrder(len(table), seed)
        self.digests = PairDigests.for_reference(reference, self.columns)

    def micro_batches(self, step: int, run: RunContext) -> list[MarginPairBatch]:
        parts = step_micro_batches(self.order, _no_preference_rows, step, run.loop.batch_size,
                                   run.loop.gradient_accumulation, run.rank, run.world_size)
        return [self._batch(indices) for indices, _ in parts]

    def _batch(self, indices: list[int]) -> MarginPairBatch:
        rows = self.columns[indices]
        tokens = collate(rows["prompt_ids"] + rows["prompt_ids"], rows["a_ids"] + rows["b_ids"],
                         self.pad_id)
        keys = self.digests.keys(indices) if self.digests is not None else ()
        return MarginPairBatch(tokens, torch.tensor(rows["reward_gaps"], dtype=torch.float32),
                               keys)

    def loss(self, batch: MarginPairBatch,
             run: RunContext) -> tuple[torch.Tensor, dict[str, float]]:
        policy, _ = token_logprobs(run.forward, batch.tokens)
        reference = self.reference.sequence_logprobs(run.module, batch.tokens,
                                                     self.config.reduction, batch.sequence_keys)
        return modpo_sequence_loss(policy, reference, batch, self.config, self.weights)


def _no_preference_rows(step: int, n_rows: int) -> torch.Tensor:
    """The rows' preferences the shared batching hands out: none, MODPO's λ is in its weights."""
    return torch.zeros((n_rows, 0))


def prepare_margin_pairs(pairs: datasets.Dataset, reward_gaps: np.ndarray,
                         tokenizer: PreTrainedTokenizerBase, format_prompt: Callable[[str], str],
                         max_length: int) -> datasets.Dataset:
    """Objective k's prompt/chosen/rejected pairs with their (n, m) reward gaps, tokenized."""
    reward_gaps = np.asarray(reward_gaps, dtype=np.float64)
    if reward_gaps.ndim != 2 or len(reward_gaps) != len(pairs):
        raise ValueError(f"{len(pairs)} pairs need (n, m) reward gaps, got shape "
                         f"{reward_gaps.shape}")
    if not np.all(np.isfinite(reward_gaps)):
        raise ValueError("reward gaps must be finite numbers")
    table = datasets.Dataset.from_dict({
        "prompt": list(pairs["prompt"]), "response_a": list(pairs["chosen"]),
        "response_b": list(pairs["rejected"]), "reward_gaps": reward_gaps.tolist()})
    return encode_pair_table(table, tokenizer, format_prompt, max_length)


def train_modpo(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase,
                table: datasets.Dataset, weights: MarginWeights, *, work_dir: Path,
                dpo: DPOConfig = DPOConfig(), optim: OptimConfig = OptimConfig(),
                loop: LoopConfig = LoopConfig(),
                reference_model: torch.nn.Module | None = None,
                deepspeed: DeepSpeedConfig | None = None, meter: CostMeter | None = None,
                counts_as: CountsAs = None, reference_cache: Path | None = None) -> TrainResult:
    """MODPO at one preference on a prepared table (:func:`prepare_margin_pairs`).
    ``reference_model=None``: the policy with its adapter disabled; ``meter`` and
    ``counts_as``: see :class:`~mobench.engine.trainer.Trainer`; ``reference_cache``: where
    stored reference log-probs live (see :func:`~mobench.engine.reference_cache_for`)."""
    reference = FrozenReference(reference_model, reference_cache_for(reference_cache, dpo, loop))
    reference.check_policy(model)
    reference.prepare(model, pair_sequences(table), tokenizer.pad_token_id, meter)
    objective = MODPOObjective(table, tokenizer.pad_token_id, dpo, weights, reference,
                               seed=loop.seed)
    return Trainer(model, objective, optim=optim, loop=loop, work_dir=work_dir,
                   deepspeed=deepspeed, meter=meter, counts_as=counts_as).train()
