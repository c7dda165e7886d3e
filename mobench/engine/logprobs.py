"""Log-probabilities of response tokens under a causal LM, one forward per batch.

Token t is scored by the logits at t − 1; only response tokens count (the batch's
``response_mask``), so prompt and padding never enter a log-prob. ``log p = logit − logsumexp``
in float32 avoids materializing a second (n, T, vocab) tensor for the log-softmax.
"""

from __future__ import annotations

from typing import Literal

import torch

from mobench.engine.data import TokenBatch


def gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[target] per position: (n, T, V) and (n, T) -> (n, T)."""
    logits = logits.float()
    picked = torch.gather(logits, -1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def token_logprobs(model: torch.nn.Module, batch: TokenBatch, *, with_hidden: bool = False,
                   temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probs (n, T − 1) of ``batch.input_ids[:, 1:]``, zero outside the response,
    and, when asked, the final hidden states (n, T, H) of the same forward. ``temperature``
    divides the logits first (the tempered distribution a sampler drew from)."""
    output = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                   output_hidden_states=with_hidden, use_cache=False)
    logits = output.logits[:, :-1]
    if temperature != 1.0:
        logits = logits / temperature
    logps = gather_logprobs(logits, batch.input_ids[:, 1:])
    logps = logps * batch.response_mask[:, 1:]
    hidden = output.hidden_states[-1] if with_hidden else None
    return logps, hidden


def reduce_sequence(token_logps: torch.Tensor, response_mask: torch.Tensor,
                    reduction: Literal["sum", "mean"]) -> torch.Tensor:
    """Per sequence, the sum or the mean of its response tokens' log-probs: (n,)."""
    total = token_logps.sum(dim=-1)
    if reduction == "sum":
        return total
    return total / response_mask[:, 1:].sum(dim=-1).clamp(min=1)


def sequence_logprobs(model: torch.nn.Module, batch: TokenBatch,
                      reduction: Literal["sum", "mean"] = "sum") -> torch.Tensor:
    """log π(y|x) per row of ``batch`` (sum or mean over response tokens)."""
    logps, _ = token_logprobs(model, batch)
    return reduce_sequence(logps, batch.response_mask, reduction)
