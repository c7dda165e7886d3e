"""Serving many preferences in one batched ``generate`` call, whatever the adapter kind.

- SVD-LoRA (Panacea): λ per row written into the singular values (:func:`generate_at_preferences`).
- A grid of LoRA adapters (DPS, MODPO): one adapter per row through peft's mixed-adapter batches,
  ``generate(..., adapter_names=[...])`` (:func:`generate_with_adapters`).
- A mixture of LoRA experts (Rewarded Soups): the row's λ-mixture of the experts
  (:func:`generate_mixture`, on :class:`~mobench.adapters.combine.PerRowMixture`).

Each is one call of :func:`mobench.core.policy.generate_texts`: left-padded, seeded, RNG-isolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import nn

from mobench.adapters.combine import PerRowMixture
from mobench.adapters.svd_attach import (
    PreferenceInput,
    n_preferences_of,
    preference_tensor,
    preferences_set,
)
from mobench.core.policy import Generation, generate_texts
from mobench.core.specs import DecodingConfig

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def generate_at_preferences(model: nn.Module, tokenizer: PreTrainedTokenizerBase,
                            prompts: Sequence[str], preferences: PreferenceInput,
                            decoding: DecodingConfig, seed: int) -> list[Generation]:
    """Answer ``prompts[i]`` at ``preferences[i]`` with an SVD-LoRA model in one call.

    ``preferences`` is (len(prompts), m), or (m,) for all prompts.
    """
    lam = preference_tensor(preferences, n_preferences_of(model))
    if lam.shape[0] not in (1, len(prompts)):
        raise ValueError(f"{len(prompts)} prompts but {lam.shape[0]} preference rows")
    with preferences_set(model, lam):
        return generate_texts(model, tokenizer, prompts, decoding, seed)  # type: ignore[arg-type]


def generate_with_adapters(model: PeftModel, tokenizer: PreTrainedTokenizerBase,
                           prompts: Sequence[str], adapters: Sequence[str],
                           decoding: DecodingConfig, seed: int) -> list[Generation]:
    """Answer ``prompts[i]`` with adapter ``adapters[i]`` (peft's mixed-adapter batch)."""
    if len(adapters) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(adapters)} adapter names")
    unknown = sorted(set(adapters) - set(model.peft_config) - {"__base__"})
    if unknown:
        raise ValueError(f"no adapter named {unknown[0]!r}; the model has "
                         f"{sorted(model.peft_config)}")
    return generate_texts(cast("PreTrainedModel", model), tokenizer, prompts, decoding, seed,
                          adapter_names=list(adapters))


def generate_mixture(mixture: PerRowMixture, tokenizer: PreTrainedTokenizerBase,
                     prompts: Sequence[str], weights: np.ndarray, decoding: DecodingConfig,
                     seed: int) -> list[Generation]:
    """Answer ``prompts[i]`` with the experts mixed at ``weights[i]`` (Rewarded Soups)."""
    rows = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    if rows.ndim != 2 or rows.shape[0] != len(prompts):
        raise ValueError(f"{len(prompts)} prompts need ({len(prompts)}, m) weights, got "
                         f"{tuple(rows.shape)}")
    with mixture.rows(rows):
        return generate_texts(cast("PreTrainedModel", mixture.model), tokenizer, prompts, decoding,
                              seed)
