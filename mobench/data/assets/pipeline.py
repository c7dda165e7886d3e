"""The asset pipeline of a miniature, component by component, each built once into the cache.

A task calls these in order: the tokenizer first (later data, such as token-length labels, may need
it), then the reference policy, then one reward model per learned objective. Each returns a
:class:`~mobench.data.assets.cache.CachedAsset`; a component already complete in the cache is read,
not rebuilt.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mobench.data.assets.cache import CachedAsset, build_once
from mobench.data.assets.reward_model import HeldOutPairs, RewardModelSettings, train_reward_model
from mobench.data.assets.sft import PolicyShape, SFTSettings, train_reference_policy
from mobench.data.assets.tokenizer import build_tokenizer, load_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

TOKENIZER, POLICY = "tokenizer", "policy"


def reward_model_component(objective: str) -> str:
    return f"rm-{objective}"


def objective_seed(seed: int, objective: str) -> int:
    """A reward model's seed: fixed by the run seed and the objective's *name*, so that tasks
    sharing a world (chat3 ... chat10) build the very same model for a shared objective."""
    return (seed * 1_000_003 + zlib.crc32(objective.encode())) % (2**31 - 1)


def ensure_tokenizer(root: Path, texts: Iterable[str], vocab_size: int) -> CachedAsset:
    return build_once(root / TOKENIZER, lambda folder: build_tokenizer(folder, texts, vocab_size))


def ensure_policy(root: Path, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
                  responses: Sequence[str], shape: PolicyShape, settings: SFTSettings,
                  seed: int) -> CachedAsset:
    return build_once(root / POLICY, lambda folder: train_reference_policy(
        folder, tokenizer, prompts, responses, shape, settings, seed))


def ensure_reward_model(root: Path, objective: str, tokenizer: PreTrainedTokenizerBase,
                        chosen: Sequence[str], rejected: Sequence[str], held_out: HeldOutPairs,
                        settings: RewardModelSettings, seed: int) -> CachedAsset:
    """The reward model of ``objective``, initialised from the policy already in ``root``."""
    policy = root / POLICY
    return build_once(root / reward_model_component(objective),
                      lambda folder: train_reward_model(folder, policy, tokenizer, chosen,
                                                        rejected, held_out, settings,
                                                        objective_seed(seed, objective),
                                                        objective))


def load_cached_tokenizer(root: Path) -> PreTrainedTokenizerBase:
    return load_tokenizer(root / TOKENIZER)
