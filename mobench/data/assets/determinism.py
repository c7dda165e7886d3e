"""Seeding for asset builds: the same seed gives the same tokenizer, corpus and weights."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np


def derived_rng(seed: int, *keys: int) -> np.random.Generator:
    """A numpy generator determined by ``seed`` and integer ``keys`` (one stream per purpose)."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


@contextlib.contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Run a block with torch seeded and deterministic kernels, restoring the caller's RNG and
    determinism setting afterwards."""
    import torch

    previous = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous)
