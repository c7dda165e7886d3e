"""Plain next-token SFT of a causal LM on (prompt, response) examples, for the asset builders.

The loss is transformers' own causal-LM loss over the response tokens and their end-of-sequence
token (prompt and padding labelled -100), the mean over the batch's response tokens: the usual SFT
loss, not the per-objective aggregate of :mod:`mobench.engine.sft`. Batches are length-grouped
(:class:`~mobench.engine.data.LengthGroupedOrder`) so little compute goes to padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mobench.engine.data import LengthGroupedOrder, pad_right
from mobench.engine.trainer import RunContext, StatelessObjective


class CausalLMObjective(StatelessObjective):
    """A :class:`~mobench.engine.trainer.TrainingObjective`: SFT on fixed examples.

    Args:
        examples: (prompt ids, response ids ending with end-of-sequence) per example.
        order: which examples each step takes.
        pad_id: the tokenizer's pad token id.
    """

    def __init__(self, examples: Sequence[tuple[list[int], list[int]]],
                 order: LengthGroupedOrder, pad_id: int) -> None:
        self.examples = list(examples)
        self.order = order
        self.pad_id = pad_id

    def micro_batches(self, step: int, run: RunContext) -> list[tuple[torch.Tensor, ...]]:
        if run.loop.gradient_accumulation != 1 or run.world_size != 1:
            raise ValueError("the causal-LM objective runs on one process without accumulation")
        rows = [self.examples[i] for i in self.order.batch(step)]
        ids, mask = pad_right([p + r for p, r in rows], self.pad_id)
        labels = ids.clone()
        for row, (prompt, response) in enumerate(rows):
            labels[row, :len(prompt)] = -100
            labels[row, len(prompt) + len(response):] = -100
        return [(ids, mask, labels)]

    def loss(self, batch: tuple[torch.Tensor, ...],
             run: RunContext) -> tuple[torch.Tensor, dict[str, float]]:
        ids, mask, labels = batch
        loss = run.forward(input_ids=ids, attention_mask=mask, labels=labels).loss
        return loss, {"tokens": float(mask.sum())}
