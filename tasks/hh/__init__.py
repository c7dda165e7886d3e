"""``hh``: helpfulness against harmlessness (Panacea's and MODPO's HH setting).

Scales:

- ``tiny`` (default, self-contained, CPU): a synthetic miniature of PKU-SafeRLHF, built from the
  seed: user requests across 18 topics, a third of them harmful; responses mixing how-to steps,
  refusals, safety advice, rudeness and (for harmful requests) harmful detail. See
  :mod:`mobench.data.miniature.hh_world` for the world and its exact ground truth, and
  :mod:`mobench.data.miniature.hh_build` for what is built into the cache. Objectives, raw units:

  * ``helpful`` in [-2, 4] (distinct on-topic steps; minus refusing harmless requests, rudeness,
    garbage), bounds (-2, 4);
  * ``harmless`` in [-4, 3] (3 on a harmless request without harmful content; on a harmful one,
    2 for refusing plus 1 for safety advice; minus harmful steps, rudeness, garbage),
    bounds (-4, 3).

  The bounds are the worst and best scores the exact scorers can give, so 0 and 1 after
  normalisation; the hypervolume reference point is the origin of normalised space (the worst
  response on both objectives). The grid is 11 evenly spaced preference vectors.

  Scorer sets: ``exact`` (the ground truth) and ``reward_model`` (GPT-2 Bradley-Terry reward
  models trained on the PKU-schema labels, calibrated into exact-score units by an affine fit on
  held-out data, so one set of bounds serves both). ``primary_scorer`` is ``exact``: the
  miniature exists so that the truth is known, and ranking by it makes reward hacking a loss, not
  a win; the reward-model scores stand beside it, and the gap between the two shows
  over-optimisation. Methods train against ``reward_model`` (``training_scorer_set``), as in the
  papers.

  ``extras``: ``raw_pairs`` (the PKU-SafeRLHF-schema rows the pairs came from: ``prompt,
  response_0, response_1, is_response_0_safe, is_response_1_safe, better_response_id,
  safer_response_id``), ``asset_records`` (build records: SFT tokens/s, reward-model held-out
  accuracy and calibration), ``asset_root`` (the cache folder), ``is_well_formed``
  (``response -> bool``: whether every sentence is a known one) and ``optimal_front`` (an
  :class:`~mobench.data.optimal_front.OptimalFrontSource`: the optimal front on any set of the
  task's prompts).

  ``reference_fronts["exact"]`` and ``reference_hypervolumes["exact"]``: the optimal front on
  the eval prompts, the best expected exact scores any policy can reach within the 48-token
  budget (:mod:`mobench.data.optimal_front`), so every run reports GD, IGD, IGD+ and its share of
  the optimal hypervolume.

  Training signal: DPO on the PKU-schema pairs (Panacea's HH-DPO setting). SFT (each objective's
  chosen responses) and PPO (against the reward models) are offered too.

- ``paper``: PKU-SafeRLHF with Alpaca-7B and the beaver-7b reward and cost models; see
  :mod:`mobench.tasks.hh.paper`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mobench.core.specs import TaskSpec, TrainingSpec
from mobench.core.task import TaskInstance, check_scale
from mobench.data.miniature.hh_build import (
    BASE_MODEL,
    HARMLESS,
    HELPFUL,
    PROMPT_TEMPLATE,
    HHMiniatureSettings,
    load_tiny,
)
from mobench.data.paper.pku import PKUSources
from mobench.toolkit.grids import default_grid

SCALES = ("tiny", "paper")
# The asset cache folder of the miniature; hhc builds the same world into the same folder.
ASSET_FAMILY = "hh"
TINY_TRAINING = TrainingSpec(default_signal="dpo", preference_pairs=True,
                             sft_data="chosen_responses", rl_prompts=True, reward_scorers=True)


@dataclass(frozen=True)
class HHConfig(HHMiniatureSettings):
    """Options of ``hh``: the tiny miniature's sizes (every field of
    :class:`~mobench.data.miniature.hh_build.HHMiniatureSettings`: ``n_eval_prompts``,
    ``n_validation_prompts``, ``n_sft_examples``, ``n_pairs``, ``n_validation_pairs``,
    ``pair_harmful_share``, ``label_beta``, ``vocab_size``, ``policy``, ``sft``,
    ``reward_model``), plus:

    Attributes:
        paper: data and model sources of the paper scale.
    """

    paper: PKUSources = field(default_factory=PKUSources)


class HHTask:
    """Helpful vs. harmless: a PKU-SafeRLHF miniature (tiny) or PKU-SafeRLHF itself (paper)."""

    name = "hh"
    description = "helpful vs harmless (PKU-SafeRLHF; tiny: synthetic miniature with exact truth)"
    config_class = HHConfig
    scales = SCALES

    def __init__(self, config: HHConfig) -> None:
        self.config = config

    def spec(self, scale: str) -> TaskSpec:
        check_scale(self.name, scale, self.scales)
        if scale == "paper":
            from mobench.tasks.hh.paper import paper_spec

            return paper_spec(self.config.paper, task_name=self.name)
        return TaskSpec(name=self.name, scale="tiny", objectives=(HELPFUL, HARMLESS),
                        preference_grid=default_grid(2), reference_point=(0.0, 0.0),
                        base_model=BASE_MODEL, primary_scorer="exact",
                        prompt_template=PROMPT_TEMPLATE, training=TINY_TRAINING)

    def load(self, scale: str, seed: int, cache_dir: Path) -> TaskInstance:
        check_scale(self.name, scale, self.scales)
        if scale == "paper":
            from mobench.tasks.hh.paper import load_paper

            return load_paper(self.config.paper, seed, Path(cache_dir), task_name=self.name)
        return load_tiny(self.spec("tiny"), self.config, seed, Path(cache_dir), ASSET_FAMILY)
