"""Exact scorers: the ground truth of a miniature, served through the Scorer protocol."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from mobench.data.miniature.conciseness import check_conciseness_parameters, conciseness_reward

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class ExactScorer:
    """Applies a per-response ground-truth function to each (prompt, response) pair.

    Attributes:
        objective: the objective's name (for messages and reports).
        score_one: ``score_one(prompt, response) -> float`` in the objective's raw units.
    """

    def __init__(self, objective: str, score_one: Callable[[str, str], float]) -> None:
        self.objective = objective
        self.score_one = score_one

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        return np.asarray([self.score_one(p, r) for p, r in zip(prompts, responses,
                                                                              strict=True)],
                          dtype=np.float64)


class TokenLengthCounter:
    """Length of a response in tokens of the task's tokenizer (special tokens excluded).

    Scorers see text, not token ids, so the length is that of the re-tokenized text; for the
    miniature's words this equals the generated count except where a sample spelled a word with
    unusual sub-word pieces.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> int:
        if not text.strip():
            return 0
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


class ConcisenessScorer:
    """The conciseness reward ``r(L)`` of the response length in tokens (a rule, not a model).

    Attributes:
        length_of: counts a response's tokens.
        c: length threshold in tokens.
        r_max: reward at or below the threshold.
    """

    def __init__(self, length_of: Callable[[str], int], c: float, r_max: float) -> None:
        check_conciseness_parameters(c, r_max)
        self.length_of = length_of
        self.c = c
        self.r_max = r_max

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        lengths = np.asarray([self.length_of(r) for r in responses], dtype=np.float64)
        return conciseness_reward(lengths, self.c, self.r_max)
