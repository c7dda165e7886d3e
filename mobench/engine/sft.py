"""Multi-objective SFT: per-objective log-likelihoods on shared log-probs, aggregated with λ.

Each merged (prompt, response) row is scored once per batch; its log π(y|x) (sum or mean over
response tokens) is its term for every objective whose data holds it. J_SFT,i is the mean over
objective i's rows and the loss is −aggregate(J; λ) (see :mod:`mobench.engine.aggregation`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import datasets
import torch

from mobench.engine.aggregation import aggregate, objective_means
from mobench.engine.config import SFTConfig
from mobench.engine.data import (
    BatchOrder,
    TokenBatch,
    collate,
    encode_response_table,
    step_micro_batches,
)
from mobench.engine.hooks import ApplyPreferences, no_preferences
from mobench.engine.logprobs import reduce_sequence, token_logprobs
from mobench.engine.pairs import merge_sft_sets
from mobench.engine.preferences import PreferenceSampler
from mobench.engine.trainer import RunContext, StatelessObjective

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class ResponseBatch:
    """One micro-batch of merged SFT rows.

    Attributes:
        tokens: n prompt + response sequences.
        labels: (n, m) 1 where the row belongs to the objective's data.
        preferences: (n, m) λ per row.
    """

    tokens: TokenBatch
    labels: torch.Tensor
    preferences: torch.Tensor


class SFTObjective(StatelessObjective):
    """The :class:`~mobench.engine.trainer.TrainingObjective` of multi-objective SFT.

    Args mirror :class:`~mobench.engine.dpo.DPOObjective` (no reference policy).
    """

    def __init__(self, table: datasets.Dataset, objectives: Sequence[str], pad_id: int,
                 config: SFTConfig, sampler: PreferenceSampler,
                 apply_preferences: ApplyPreferences = no_preferences, seed: int = 0) -> None:
        if sampler.n_objectives != len(objectives):
            raise ValueError(f"the preference sampler draws {sampler.n_objectives} weights for "
                             f"{len(objectives)} objectives")
        self.columns = table.select_columns(["prompt_ids", "response_ids", "labels"])
        self.objectives = tuple(objectives)
        self.pad_id = pad_id
        self.config = config
        self.sampler = sampler
        self.apply_preferences = apply_preferences
        self.order = BatchOrder(len(table), seed)

    def micro_batches(self, step: int, run: RunContext) -> list[ResponseBatch]:
        parts = step_micro_batches(self.order, self.sampler.sample, step, run.loop.batch_size,
                                   run.loop.gradient_accumulation, run.rank, run.world_size)
        batches = []
        for indices, preferences in parts:
            rows = self.columns[indices]
            batches.append(ResponseBatch(collate(rows["prompt_ids"], rows["response_ids"],
                                                 self.pad_id),
                                         torch.tensor(rows["labels"], dtype=torch.long),
                                         preferences))
        return batches

    def loss(self, batch: ResponseBatch, run: RunContext) -> tuple[torch.Tensor,
                                                                   dict[str, float]]:
        self.apply_preferences(batch.preferences)
        token_logps, _ = token_logprobs(run.forward, batch.tokens)
        return sft_loss(token_logps, batch, self.config, self.objectives)


def sft_loss(token_logps: torch.Tensor, batch: ResponseBatch, config: SFTConfig,
             objectives: Sequence[str]) -> tuple[torch.Tensor, dict[str, float]]:
    """−aggregate of the per-objective log-likelihoods."""
    logps = reduce_sequence(token_logps, batch.tokens.response_mask, config.reduction)
    terms = logps[:, None].expand(-1, len(objectives))
    labelled = batch.labels != 0
    objective = aggregate(config.aggregation, terms, labelled, batch.preferences,
                          config.tche_ideal)
    means, _ = objective_means(terms.detach(), labelled)
    metrics = {f"J/{name}": float(means[i]) for i, name in enumerate(objectives)}
    return -objective, metrics


def prepare_responses(sets: Mapping[str, datasets.Dataset], objectives: Sequence[str],
                      tokenizer: PreTrainedTokenizerBase, format_prompt: Callable[[str], str],
                      max_length: int) -> datasets.Dataset:
    """Merge per-objective SFT datasets (``prompt``, ``response``) and tokenize them."""
    table = merge_sft_sets(sets, objectives)
    return encode_response_table(table, tokenizer, format_prompt, max_length)
