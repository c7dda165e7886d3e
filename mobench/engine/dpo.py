"""Multi-objective DPO: per-objective DPO terms on shared log-probs, aggregated with λ.

Each merged pair (prompt, a, b, per-objective labels) is scored once per batch: one policy forward
and one reference forward over the 2n sequences [a rows; b rows], whatever the number of
objectives. With h = (log π(a) − log π_ref(a)) − (log π(b) − log π_ref(b)), objective i's term on
a row labelled ℓ_i ∈ {+1, −1} is log σ(β ℓ_i h) (the DPO log-likelihood of its winner), J_i is its
mean over the rows labelled for i, and the loss is −aggregate(J; λ) (see
:mod:`mobench.engine.aggregation`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import datasets
import torch
import torch.nn.functional as F

from mobench.engine.aggregation import aggregate, objective_means
from mobench.engine.config import DPOConfig
from mobench.engine.data import (
    BatchOrder,
    TokenBatch,
    collate,
    encode_pair_table,
    step_micro_batches,
)
from mobench.engine.hooks import ApplyPreferences, no_preferences
from mobench.engine.logprobs import reduce_sequence, token_logprobs
from mobench.engine.pairs import merge_preference_pairs
from mobench.engine.preferences import PreferenceSampler
from mobench.engine.reference import FrozenReference, PairDigests
from mobench.engine.trainer import RunContext, StatelessObjective

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class PairBatch:
    """One micro-batch of merged pairs.

    Attributes:
        tokens: 2n sequences, the n a-responses then the n b-responses.
        labels: (n, m) +1 (a wins), −1 (b wins), 0 (not labelled for that objective).
        preferences: (n, m) λ per pair.
        sequence_keys: the 2n sequences' digests in the reference's store (empty: no store).
    """

    tokens: TokenBatch
    labels: torch.Tensor
    preferences: torch.Tensor
    sequence_keys: tuple[bytes, ...] = ()


class DPOObjective(StatelessObjective):
    """The :class:`~mobench.engine.trainer.TrainingObjective` of multi-objective DPO.

    Args:
        table: merged pairs, tokenized (:func:`prepare_pairs`).
        objectives: objective names, in the order of λ and of ``labels``.
        pad_id: the tokenizer's pad token id.
        config: β, aggregation, reduction.
        sampler: draws λ for every step.
        reference: π_ref (a separate model, or the policy with its adapter disabled).
        apply_preferences: the method's hook, called before each policy forward.
        seed: seeds the order of pairs.
    """

    def __init__(self, table: datasets.Dataset, objectives: Sequence[str], pad_id: int,
                 config: DPOConfig, sampler: PreferenceSampler, reference: FrozenReference,
                 apply_preferences: ApplyPreferences = no_preferences, seed: int = 0) -> None:
        if sampler.n_objectives != len(objectives):
            raise ValueError(f"the preference sampler draws {sampler.n_objectives} weights for "
                             f"{len(objectives)} objectives")
        self.columns = table.select_columns(["prompt_ids", "a_ids", "b_ids", "labels"])
        self.objectives = tuple(objectives)
        self.pad_id = pad_id
        self.config = config
        self.sampler = sampler
        self.reference = reference
        self.apply_preferences = apply_preferences
        self.order = BatchOrder(len(table), seed)
        self.digests = PairDigests.for_reference(reference, self.columns)

    def micro_batches(self, step: int, run: RunContext) -> list[PairBatch]:
        parts = step_micro_batches(self.order, self.sampler.sample, step, run.loop.batch_size,
                                   run.loop.gradient_accumulation, run.rank, run.world_size)
        return [self._batch(indices, preferences) for indices, preferences in parts]

    def _batch(self, indices: list[int], preferences: torch.Tensor) -> PairBatch:
        rows = self.columns[indices]
        prompts = rows["prompt_ids"] + rows["prompt_ids"]
        tokens = collate(prompts, rows["a_ids"] + rows["b_ids"], self.pad_id)
        keys = self.digests.keys(indices) if self.digests is not None else ()
        return PairBatch(tokens, torch.tensor(rows["labels"], dtype=torch.long), preferences,
                         keys)

    def loss(self, batch: PairBatch, run: RunContext) -> tuple[torch.Tensor, dict[str, float]]:
        self.apply_preferences(torch.cat([batch.preferences, batch.preferences]))
        policy, _ = token_logprobs(run.forward, batch.tokens)
        reference = self.reference.sequence_logprobs(run.module, batch.tokens,
                                                     self.config.reduction, batch.sequence_keys)
        return dpo_sequence_loss(policy, reference, batch, self.config, self.objectives)


def dpo_loss(policy_token_logps: torch.Tensor, reference_token_logps: torch.Tensor,
             batch: PairBatch, config: DPOConfig,
             objectives: Sequence[str]) -> tuple[torch.Tensor, dict[str, float]]:
    """−aggregate of the per-objective DPO objectives, from per-token log-probs of [a; b]."""
    reference = reduce_sequence(reference_token_logps, batch.tokens.response_mask,
                                config.reduction)
    return dpo_sequence_loss(policy_token_logps, reference, batch, config, objectives)


def dpo_sequence_loss(policy_token_logps: torch.Tensor, reference_logps: torch.Tensor,
                      batch: PairBatch, config: DPOConfig,
                      objectives: Sequence[str]) -> tuple[torch.Tensor, dict[str, float]]:
    """:func:`dpo_loss` with the reference already reduced per sequence (2n,)."""
    mask = batch.tokens.response_mask
    policy = reduce_sequence(policy_token_logps, mask, config.reduction)
    ratio_a, ratio_b = (policy - reference_logps).chunk(2)
    margin = config.beta * (ratio_a - ratio_b)  # implicit reward of a minus that of b
    signed = batch.labels.to(margin.dtype) * margin[:, None]  # winner's margin, per objective
    labelled = batch.labels != 0
    terms = F.logsigmoid(signed)
    objective = aggregate(config.aggregation, terms, labelled, batch.preferences)
    means, _ = objective_means(terms.detach(), labelled)
    margins, _ = objective_means(signed.detach(), labelled)
    accuracy, _ = objective_means((signed > 0).to(terms.dtype), labelled)
    metrics: dict[str, float] = {}
    for i, name in enumerate(objectives):  # 0 for an objective without rows in the batch
        metrics[f"J/{name}"] = float(means[i])
        metrics[f"reward_margin/{name}"] = float(margins[i])
        metrics[f"accuracy/{name}"] = float(accuracy[i])
    return -objective, metrics


def prepare_pairs(pairs: Mapping[str, datasets.Dataset], objectives: Sequence[str],
                  tokenizer: PreTrainedTokenizerBase, format_prompt: Callable[[str], str],
                  max_length: int) -> datasets.Dataset:
    """Merge the per-objective pair datasets and tokenize them."""
    table = merge_preference_pairs(pairs, objectives)
    return encode_pair_table(table, tokenizer, format_prompt, max_length)
