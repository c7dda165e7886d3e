"""Reward models as scorers: any transformers model that maps a text to one scalar.

Tiny tasks train small sequence classifiers; paper tasks load published reward models (GPT-2
sequence classifiers, Llama score models). Both are served by :class:`RewardModelScorer`, which
batches, truncates, and applies the sign convention (a cost model is negated into a reward).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# How a (prompt, response) pair becomes model input: one string, or a (text, text_pair) tuple
# for reward models trained on tokenizer pairs (the Ray2333 GPT-2 models).
PairFormatter = Callable[[str, str], "str | tuple[str, str]"]


def concatenate(prompt: str, response: str) -> str:
    """The default input: the prompt followed by the response."""
    return f"{prompt} {response}"


class RewardModelScorer:
    """Scores (prompt, response) pairs with a model whose output logit 0 is the reward.

    Attributes:
        model: a transformers model returning ``logits`` of shape (batch, >= 1), or a callable
            module with the same output (the score-model adapter).
        tokenizer: its tokenizer (a pad token is required for batching).
        format_pair: builds the model's input from a pair; see :data:`PairFormatter`.
        sign: +1 for a reward model, -1 for a cost model (lower cost is better).
        batch_size: pairs per forward pass.
        max_length: truncation length in tokens.
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *,
                 format_pair: PairFormatter = concatenate, sign: float = 1.0,
                 batch_size: int = 64, max_length: int = 512) -> None:
        if tokenizer.pad_token_id is None:
            raise ValueError("the reward model's tokenizer needs a pad token")
        self.model = model
        self.tokenizer = tokenizer
        self.format_pair = format_pair
        self.sign = float(sign)
        self.batch_size = batch_size
        self.max_length = max_length

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        import torch

        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        device = next(self.model.parameters()).device
        scores: list[np.ndarray] = []
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(prompts), self.batch_size):
                inputs = [self.format_pair(p, r) for p, r in
                          zip(prompts[start:start + self.batch_size],
                              responses[start:start + self.batch_size], strict=False)]
                if inputs and isinstance(inputs[0], tuple):
                    first, second = zip(*inputs, strict=False)
                    batch = self.tokenizer(list(first), list(second), return_tensors="pt",
                                           padding=True, truncation=True,
                                           max_length=self.max_length)
                else:
                    batch = self.tokenizer(inputs, return_tensors="pt", padding=True,
                                           truncation=True, max_length=self.max_length)
                with torch.no_grad():
                    logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits
                scores.append(logits[:, 0].float().cpu().numpy())
        finally:
            self.model.train(was_training)
        return self.sign * np.concatenate(scores) if scores else np.zeros(0)
