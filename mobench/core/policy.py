"""The steerable-policy contract and the shared generation code for transformers models.

A steerable policy answers prompts at a trade-off: ``generate(prompts, preferences, ...)`` takes an
(n, m) preference array, one row per prompt, so a method that can serve a whole front in one batch
(Panacea) does so, and one that cannot groups rows by preference itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import numpy as np

from mobench.core.cost import count_generated_tokens
from mobench.core.specs import DecodingConfig

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class Generation:
    """One response: its text and the number of tokens generated (end-of-sequence excluded)."""

    text: str
    n_tokens: int


@runtime_checkable
class SteerablePolicy(Protocol):
    """A trained policy that answers at any preference it supports."""

    def generate(self, prompts: Sequence[str], preferences: np.ndarray, decoding: DecodingConfig,
                 seed: int) -> list[Generation]:
        """Answer ``prompts[i]`` at ``preferences[i]``; same seed and inputs, same outputs.

        ``prompts`` are raw task prompts: the policy applies the task's prompt template (and
        anything it adds, such as RiC's reward tokens) itself.
        """
        ...

    def save(self, directory: Path) -> None:
        """Write what the method's ``load_policy`` needs to rebuild this policy; no pickles."""
        ...


def generate_texts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                   texts: Sequence[str], decoding: DecodingConfig, seed: int,
                   **model_kwargs: object) -> list[Generation]:
    """Batched generation with a transformers causal LM, left-padded, seeded, RNG-isolated.

    The global torch RNG is forked so that evaluation never perturbs a method's own randomness.
    ``model_kwargs`` are passed to ``generate`` (a steerable layer's per-row inputs, say). The
    generated tokens count into the active cost meters (:mod:`mobench.core.cost`).
    """

    device = next(model.parameters()).device
    batch = left_padded_batch(tokenizer, texts, device)
    sampling = {"do_sample": True, "temperature": decoding.temperature, "top_p": decoding.top_p,
                "top_k": 0} if decoding.do_sample else {"do_sample": False}
    with seeded_inference(model, seed):
        output = cast(Any, model).generate(**batch, max_new_tokens=decoding.max_new_tokens,
                                           pad_token_id=tokenizer.pad_token_id,
                                           eos_token_id=tokenizer.eos_token_id, **sampling,
                                           **model_kwargs)
    new_tokens = output[:, batch["input_ids"].shape[1]:]
    generations = [generation_from_ids(row.tolist(), tokenizer) for row in new_tokens]
    count_generated_tokens(sum(g.n_tokens for g in generations))
    return generations


@contextlib.contextmanager
def seeded_inference(model: torch.nn.Module, seed: int) -> Iterator[None]:
    """Evaluation mode without gradients, torch's global RNG seeded with ``seed`` and restored on
    the way out (so generation never perturbs a method's own randomness)."""
    import torch

    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(seed)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            model.train(was_training)


def left_padded_batch(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                      device: torch.device) -> dict[str, torch.Tensor]:
    """``texts`` tokenized into left-padded ``input_ids`` and ``attention_mask`` on ``device``
    (decoder-only models continue from the right edge); the tokenizer's padding side is kept."""
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer needs a pad token for batched generation")
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        batch = tokenizer(list(texts), return_tensors="pt", padding=True)
    finally:
        tokenizer.padding_side = previous_side
    return {k: v.to(device) for k, v in batch.items()}


def generation_from_ids(token_ids: list[int], tokenizer: PreTrainedTokenizerBase) -> Generation:
    """A response from its generated token ids: cut at the first end-of-sequence or pad token."""
    stop = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    kept: list[int] = []
    for token in token_ids:
        if token in stop:
            break
        kept.append(token)
    text = cast(str, tokenizer.decode(kept, skip_special_tokens=True))
    return Generation(text=text.strip(),
                      n_tokens=len(kept))


def generate_grouped_by_preference(
        generate_one: Callable[[Sequence[str], np.ndarray, int], list[Generation]],
        prompts: Sequence[str], preferences: np.ndarray, seed: int) -> list[Generation]:
    """Serve per-row preferences with a policy that takes one preference per call.

    Rows sharing a preference vector go into one call of ``generate_one(prompts, preference,
    seed)``; each group gets its own seed derived from ``seed`` and the group's order of first
    appearance, and the answers come back in the original row order.
    """
    preferences = np.asarray(preferences, dtype=np.float64)
    if len(prompts) != len(preferences):
        raise ValueError(f"{len(prompts)} prompts but {len(preferences)} preference rows")
    groups: dict[tuple[float, ...], list[int]] = {}
    for row, pref in enumerate(preferences):
        groups.setdefault(tuple(pref.tolist()), []).append(row)
    answers: list[Generation | None] = [None] * len(prompts)
    for group_index, (pref, rows) in enumerate(groups.items()):
        outputs = generate_one([prompts[r] for r in rows], np.asarray(pref),
                               derive_seed(seed, group_index))
        for row, generation in zip(rows, outputs, strict=True):
            answers[row] = generation
    return [a for a in answers if a is not None]


def derive_seed(seed: int, *keys: int) -> int:
    """A 31-bit seed determined by ``seed`` and integer keys (stable across runs and platforms)."""
    sequence = np.random.SeedSequence([seed, *keys])
    return int(sequence.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)
