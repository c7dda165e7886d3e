"""Decoding from a mixture of experts' next-token distributions (MOD, Shi et al., NeurIPS 2024).

m expert adapters on one frozen reference model answer together: at every step the next-token
scores of batch row r are ``Σ_i λ_ri log π_i(· | x_r, y_<t)`` (the reverse-KL form of the paper),
and the token is picked from them exactly as :func:`mobench.core.policy.generate_texts` picks it
under the same :class:`~mobench.core.specs.DecodingConfig`: transformers' own temperature and top-p
warpers (top_k = 0), then a seeded multinomial draw, or the argmax when decoding greedily.

The scores are computed as ``Σ_i λ_ri logits_i``: since ``log π_i = logits_i − logsumexp_i``,
the two differ by a per-row constant ``Σ_i λ_ri logsumexp_i``, which the softmax, the argmax, the
temperature and top-p all ignore. Skipping the log-softmax makes a one-hot λ give that expert's
logits unchanged (1·x + 0·y = x), so MOD at a vertex picks the expert's own tokens; the logits
themselves come from an m-times larger batch, which can move them by float rounding (about 1e-7
on the tiny models), so only a near-tie could pick differently.

Every expert runs for every token: the batch is expanded m times (rows ``[expert 0 on all
prompts; expert 1 on all prompts; ...]``) and one forward per step serves them all through peft's
mixed-adapter batches (``adapter_names`` per row), each row with its own key-value cache entries.
The m forward passes per generated token are counted
(``count_generated_tokens(n, models_per_token=m)``), so the evaluation cost shows MOD's
inference cost.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

from mobench.core.cost import count_generated_tokens
from mobench.core.policy import (
    Generation,
    generation_from_ids,
    left_padded_batch,
    seeded_inference,
)
from mobench.core.specs import DecodingConfig

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedTokenizerBase


def mix_expert_logits(expert_logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ_i weights[r, i] · expert_logits[i, r]``: (m, n, V) logits and (n, m) weights -> (n, V).

    Equal to ``Σ_i λ_ri log π_i`` up to a per-row constant (see the module docstring).
    """
    if expert_logits.ndim != 3 or weights.shape != (expert_logits.shape[1],
                                                   expert_logits.shape[0]):
        raise ValueError(f"expert logits of shape (m, n, V) need (n, m) weights; got "
                         f"{tuple(expert_logits.shape)} and {tuple(weights.shape)}")
    return (weights.T.to(expert_logits.dtype)[:, :, None] * expert_logits).sum(dim=0)


class ExpertMixtureScores:
    """Next-token scores of m expert adapters mixed per row, one forward per step, cached.

    Call :meth:`prefill` once with the left-padded prompts, then :meth:`extend` with each chosen
    token; both return the mixed scores (n, V) of the next token.

    Args:
        model: the peft model holding the experts (eval mode, no gradients: the caller's job).
        experts: the adapter names, in the order of the weights' columns.
        weights: (n, m) mixture weights, one row per prompt.
    """

    def __init__(self, model: PeftModel, experts: Sequence[str], weights: torch.Tensor) -> None:
        unknown = sorted(set(experts) - set(model.peft_config))
        if unknown:
            raise ValueError(f"no adapter named {unknown[0]!r}; the model has "
                             f"{sorted(model.peft_config)}")
        if weights.ndim != 2 or weights.shape[1] != len(experts):
            raise ValueError(f"{len(experts)} experts need (n, {len(experts)}) weights, got "
                             f"{tuple(weights.shape)}")
        self.model = model
        self.experts = list(experts)
        self.weights = weights.float()
        self.n_rows = weights.shape[0]
        self.adapter_names = [name for name in self.experts for _ in range(self.n_rows)]
        self._cache: Any = None
        self._attention: torch.Tensor | None = None
        self._last_position: torch.Tensor | None = None
        parameters = _forward_parameters(model)
        # the cache's name in forward and output: ``cache`` from transformers 5, else the old one
        self._cache_keyword = "cache" if "cache" in parameters else "past_key_values"
        # generate computes the last position's logits only; the same here, for the same numbers
        self._last_logits_only = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}

    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Run the prompts (n, T) through every expert; the mixed scores of the first token."""
        if input_ids.shape[0] != self.n_rows or attention_mask.shape != input_ids.shape:
            raise ValueError(f"{self.n_rows} weight rows for input ids of shape "
                             f"{tuple(input_ids.shape)} and a mask of shape "
                             f"{tuple(attention_mask.shape)}")
        m = len(self.experts)
        mask = attention_mask.repeat(m, 1)
        # generate's positions for left padding: count real tokens, pads at position 0
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
        # generate drops an all-ones mask (no padding); doing the same keeps generate_texts'
        # attention path, so the logits agree with its own to float rounding
        self._attention = None if bool((mask == 1).all()) else mask
        self._last_position = positions[:, -1:]
        return self._forward(input_ids.repeat(m, 1), positions)

    def extend(self, next_tokens: torch.Tensor) -> torch.Tensor:
        """Append each row's chosen token (n,); the mixed scores of the token after it."""
        if self._last_position is None:
            raise RuntimeError("prefill the prompts before extending them")
        if next_tokens.shape != (self.n_rows,):
            raise ValueError(f"one token per row ({self.n_rows}) expected, got shape "
                             f"{tuple(next_tokens.shape)}")
        self._last_position = self._last_position + 1
        if self._attention is not None:
            self._attention = torch.cat([self._attention,
                                         self._attention.new_ones((len(self._attention), 1))],
                                        dim=-1)
        tokens = next_tokens.repeat(len(self.experts))[:, None]
        return self._forward(tokens, self._last_position)

    def _forward(self, input_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        output = self.model(input_ids=input_ids, attention_mask=self._attention,
                            position_ids=positions, use_cache=True,
                            adapter_names=self.adapter_names, **self._last_logits_only,
                            **{self._cache_keyword: self._cache})
        self._cache = getattr(output, self._cache_keyword)
        logits = output.logits[:, -1].to(dtype=torch.float32)
        return mix_expert_logits(logits.view(len(self.experts), self.n_rows, -1), self.weights)


def sampling_warpers(decoding: DecodingConfig) -> LogitsProcessorList:
    """The warpers ``generate`` applies under ``decoding`` with top_k = 0, in its order: the
    temperature (when it is not 1), then top-p (when it is below 1); none when greedy."""
    warpers = LogitsProcessorList()
    if not decoding.do_sample:
        return warpers
    if decoding.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(decoding.temperature))
    if decoding.top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=decoding.top_p, min_tokens_to_keep=1))
    return warpers


def generate_expert_mixture(model: PeftModel, tokenizer: PreTrainedTokenizerBase,
                            texts: Sequence[str], experts: Sequence[str], weights: np.ndarray,
                            decoding: DecodingConfig, seed: int) -> list[Generation]:
    """Answer ``texts[r]`` from the experts' next-token scores mixed with ``weights[r]``.

    Seeded and RNG-isolated like :func:`mobench.core.policy.generate_texts`; a row stops at the
    end-of-sequence token, the batch when every row has or at ``decoding.max_new_tokens``.
    """
    rows = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    if rows.ndim != 2 or rows.shape != (len(texts), len(experts)):
        raise ValueError(f"{len(texts)} prompts and {len(experts)} experts need weights of shape "
                         f"({len(texts)}, {len(experts)}), got {tuple(rows.shape)}")
    device = next(model.parameters()).device
    batch = left_padded_batch(tokenizer, texts, device)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    warpers = sampling_warpers(decoding)
    with seeded_inference(model, seed):
        mixture = ExpertMixtureScores(model, experts, rows.to(device))
        scores = mixture.prefill(batch["input_ids"], batch["attention_mask"])
        sequence = batch["input_ids"]
        unfinished = torch.ones(len(texts), dtype=torch.long, device=device)
        for step in range(decoding.max_new_tokens):
            scores = warpers(cast(torch.LongTensor, sequence), scores)
            if decoding.do_sample:
                probabilities = torch.softmax(scores, dim=-1)
                chosen = torch.multinomial(probabilities, num_samples=1).squeeze(1)
            else:
                chosen = torch.argmax(scores, dim=-1)
            chosen = chosen * unfinished + pad * (1 - unfinished)  # finished rows get padding
            sequence = torch.cat([sequence, chosen[:, None]], dim=-1)
            unfinished = unfinished * (chosen != eos).long()
            if not bool(unfinished.any()) or step + 1 == decoding.max_new_tokens:
                break
            scores = mixture.extend(chosen)
    new_tokens = sequence[:, batch["input_ids"].shape[1]:]
    generations = [generation_from_ids(row.tolist(), tokenizer) for row in new_tokens]
    count_generated_tokens(sum(g.n_tokens for g in generations), models_per_token=len(experts))
    return generations


def _forward_parameters(model: torch.nn.Module) -> set[str]:
    """The keyword arguments the forward of the model under the adapters takes."""
    base = cast(Any, model).get_base_model() if hasattr(model, "get_base_model") else model
    return set(inspect.signature(base.forward).parameters)
