"""Seeded preference draws on the simplex for training (Panacea's Algorithm 1).

A draw depends only on (seed, step), never on how many draws came before, so a resumed run draws
the same λ at the same step without any sampler state in the checkpoint.
"""

from __future__ import annotations

import numpy as np
import torch

from mobench.core.policy import derive_seed
from mobench.engine.config import PreferenceConfig

PREFERENCE_STREAM = 7  # key of the preference draws among the engine's seeded streams


class PreferenceSampler:
    """Draws λ: Dirichlet(concentration) on the simplex, or a one-hot vertex with probability
    ``vertex_probability``; one λ per step or one per row (see :class:`PreferenceConfig`)."""

    def __init__(self, n_objectives: int, seed: int,
                 config: PreferenceConfig = PreferenceConfig()) -> None:
        if n_objectives < 1:
            raise ValueError(f"a preference needs at least one objective, got {n_objectives}")
        self.n_objectives = n_objectives
        self.seed = seed
        self.config = config

    def sample(self, step: int, n_rows: int) -> torch.Tensor:
        """An (n_rows, m) float32 tensor of preferences for optimizer step ``step``."""
        rng = np.random.default_rng(derive_seed(self.seed, PREFERENCE_STREAM, step))
        draws = 1 if not self.config.per_row else n_rows
        prefs = rng.dirichlet(np.full(self.n_objectives, self.config.concentration), size=draws)
        vertex = rng.random(draws) < self.config.vertex_probability
        corners = rng.integers(0, self.n_objectives, size=draws)
        prefs[vertex] = np.eye(self.n_objectives)[corners[vertex]]
        if draws == 1:
            prefs = np.repeat(prefs, n_rows, axis=0)
        return torch.from_numpy(prefs.astype(np.float32))


def constant_preferences(preference: np.ndarray | list[float]) -> PreferenceSampler:
    """A sampler that always returns ``preference`` (DPS trains one model per fixed λ; a
    Rewarded Soups expert passes a one-hot vector)."""
    return FixedPreference(np.asarray(preference, dtype=np.float64))


class FixedPreference(PreferenceSampler):
    """The same λ at every step and row."""

    def __init__(self, preference: np.ndarray) -> None:
        if preference.ndim != 1 or np.any(preference < 0) or abs(preference.sum() - 1) > 1e-6:
            raise ValueError(f"a fixed preference must be one vector on the simplex, "
                             f"got {preference.tolist()}")
        super().__init__(len(preference), seed=0)
        self.preference = torch.from_numpy(preference.astype(np.float32))

    def sample(self, step: int, n_rows: int) -> torch.Tensor:
        return self.preference.expand(n_rows, -1).clone()
