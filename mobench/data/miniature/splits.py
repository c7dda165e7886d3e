"""Seeded, disjoint prompt splits: eval (never trained on), validation (asset checks), train."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PromptSplits:
    """Indices into a prompt pool, disjoint.

    Attributes:
        eval: held-out prompts for evaluation; no asset and no method ever trains on them.
        validation: held-out prompts for build-time checks (reward-model accuracy, calibration).
        train: everything else: SFT corpus, preference pairs, on-policy training prompts.
    """

    eval: tuple[int, ...]
    validation: tuple[int, ...]
    train: tuple[int, ...]


def stratified_splits(strata: Sequence[int], n_eval: int, n_validation: int,
                      rng: np.random.Generator) -> PromptSplits:
    """Split ``len(strata)`` prompts so eval and validation keep each stratum's share.

    ``strata[i]`` labels prompt ``i`` (harmful or not, say). Shares are rounded per stratum, so the
    eval and validation sizes may differ from the request by one per stratum.
    """
    labels = np.asarray(strata)
    total = len(labels)
    if n_eval < 1 or n_validation < 1 or n_eval + n_validation >= total:
        raise ValueError(f"cannot take {n_eval} eval and {n_validation} validation prompts out "
                         f"of {total}; the train split would be empty")
    eval_idx: list[int] = []
    val_idx: list[int] = []
    train_idx: list[int] = []
    for stratum in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == stratum))
        share = len(members) / total
        n_e, n_v = round(n_eval * share), round(n_validation * share)
        eval_idx += members[:n_e].tolist()
        val_idx += members[n_e:n_e + n_v].tolist()
        train_idx += members[n_e + n_v:].tolist()
    return PromptSplits(tuple(sorted(eval_idx)), tuple(sorted(val_idx)), tuple(sorted(train_idx)))
