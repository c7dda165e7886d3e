"""Preference strategies: how λ enters one training run.

Every method trains through :func:`mobench.engine.train_on_task` with one of these:

- :func:`fixed_preference`: one λ for every step and row (a DPS model at its grid point, a
  Rewarded Soups expert at a one-hot vertex). Rows of objectives with zero weight are dropped from
  the training table (they would add nothing but compute).
- :func:`sampled_preferences`: λ drawn from the simplex per step or per row and written into the
  model through a hook before each forward (Panacea).
- :func:`combined_advantages`: PPO whose per-objective advantages are combined by a function of the
  method's (PAMA's closed-form weighting) instead of by λ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mobench.engine.config import PreferenceConfig
from mobench.engine.hooks import ApplyPreferences, no_preferences
from mobench.engine.ppo import CombineAdvantages
from mobench.engine.preferences import FixedPreference, PreferenceSampler


@dataclass(frozen=True)
class PreferenceStrategy:
    """How λ is drawn and used in one training run.

    Attributes:
        sampler: draws the (n, m) λ of each step (a fixed one, or seeded draws).
        apply: the model's hook, called with each forward's λ rows (SVD-LoRA's singular values).
        combine_advantages: PPO only: replaces the λ-combination of advantages.
        fixed: the one λ of a fixed strategy (None when λ varies).
        whiten_per_objective: PPO with ``combine_advantages`` only: PPO's whitening (when
            ``ppo.whiten_advantages`` is on) standardizes each objective's advantages before the
            combiner instead of the combined advantage after it.
    """

    sampler: PreferenceSampler
    apply: ApplyPreferences = no_preferences
    combine_advantages: CombineAdvantages | None = None
    fixed: tuple[float, ...] | None = None
    whiten_per_objective: bool = False

    @property
    def n_objectives(self) -> int:
        return self.sampler.n_objectives

    def objectives_in_use(self) -> list[bool]:
        """Which objectives' data can move the loss: those with positive weight under a fixed λ,
        every objective otherwise."""
        if self.fixed is None:
            return [True] * self.n_objectives
        return [w > 0 for w in self.fixed]


def fixed_preference(preference: Sequence[float] | np.ndarray) -> PreferenceStrategy:
    """One λ for the whole run."""
    vector = np.asarray(preference, dtype=np.float64)
    return PreferenceStrategy(FixedPreference(vector),
                              fixed=tuple(float(v) for v in vector))


def sampled_preferences(n_objectives: int, seed: int, config: PreferenceConfig,
                        apply: ApplyPreferences) -> PreferenceStrategy:
    """λ drawn per step or per row (``config``), written into the model by ``apply``."""
    return PreferenceStrategy(PreferenceSampler(n_objectives, seed, config), apply=apply)


def combined_advantages(n_objectives: int, seed: int, combine: CombineAdvantages, *,
                        whiten_per_objective: bool = False) -> PreferenceStrategy:
    """PPO with the method's own combination of per-objective advantages; λ is still drawn
    (uniformly) and handed to ``combine``, which may ignore it. ``whiten_per_objective``: PPO's
    whitening applies to each objective's advantages before ``combine``, not to its result."""
    return PreferenceStrategy(PreferenceSampler(n_objectives, seed), combine_advantages=combine,
                              whiten_per_objective=whiten_per_objective)
