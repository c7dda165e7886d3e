"""Bradley-Terry training of a scalar reward model on (chosen, rejected) pairs.

The model maps a text to one score (logit 0 of a sequence classifier); the loss is
``-log σ(r(chosen) - r(rejected))`` averaged over the batch's pairs, the chosen and the rejected
texts of a batch scored in one forward. Used by the asset builders for the tiny tasks' reward
models, on the shared trainer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mobench.engine.data import LengthGroupedOrder, pad_right
from mobench.engine.trainer import RunContext, StatelessObjective


class BradleyTerryObjective(StatelessObjective):
    """A :class:`~mobench.engine.trainer.TrainingObjective`: the pairwise reward-model loss.

    Args:
        chosen_ids: token ids of each pair's preferred text.
        rejected_ids: token ids of each pair's other text.
        order: which pairs each step takes.
        pad_id: the tokenizer's pad token id.
    """

    def __init__(self, chosen_ids: Sequence[list[int]], rejected_ids: Sequence[list[int]],
                 order: LengthGroupedOrder, pad_id: int) -> None:
        if len(chosen_ids) != len(rejected_ids):
            raise ValueError(f"{len(chosen_ids)} chosen but {len(rejected_ids)} rejected texts")
        self.chosen_ids = list(chosen_ids)
        self.rejected_ids = list(rejected_ids)
        self.order = order
        self.pad_id = pad_id

    def micro_batches(self, step: int, run: RunContext) -> list[tuple[torch.Tensor, ...]]:
        if run.loop.gradient_accumulation != 1 or run.world_size != 1:
            raise ValueError("the Bradley-Terry objective runs on one process without "
                             "accumulation")
        rows = self.order.batch(step)
        ids, mask = pad_right([self.chosen_ids[i] for i in rows] +
                              [self.rejected_ids[i] for i in rows], self.pad_id)
        return [(ids, mask)]

    def loss(self, batch: tuple[torch.Tensor, ...],
             run: RunContext) -> tuple[torch.Tensor, dict[str, float]]:
        ids, mask = batch
        rewards = run.forward(input_ids=ids, attention_mask=mask).logits[:, 0]
        n_pairs = ids.shape[0] // 2
        margin = rewards[:n_pairs] - rewards[n_pairs:]
        loss = -torch.nn.functional.logsigmoid(margin).mean()
        return loss, {"tokens": float(mask.sum()), "accuracy": float((margin > 0).float().mean())}
