"""``hhc``: helpfulness, harmlessness and conciseness (Panacea's HHC setting).

The world, data and assets of ``hh`` (see :mod:`mobench.tasks.hh`), plus a third objective, the
conciseness rule of Panacea, ``r(L) = r_max`` if ``L <= c`` else ``r_max + 1 - L/c``, ``L`` the
response length in tokens of the task's tokenizer.

Tiny scale: ``c = 10`` tokens and ``r_max = 4``. The paper's ``c = 50`` sits below its responses'
typical length of a few hundred tokens; the miniature's how-to steps are about five tokens each, so
``c = 10`` lets a two-step answer earn the full reward and every further step cost about half a
point, which is what makes conciseness conflict with helpfulness (more steps are more helpful and
longer). Bounds: ``(r_max + 1 - 48/c, r_max) = (0.2, 4)``, the rewards of a response as long as
the default generation budget (48 tokens) and of any response of ``c`` tokens or fewer. The
``concise`` scorer is the rule itself in both scorer sets (a rule in the paper too, never a learned
model); its pairs (``preference_pairs["concise"]``, and the column ``more_concise_response_id`` of
``extras["raw_pairs"]``, mobench's addition to the PKU schema) are labelled from the rule with the
same Bradley-Terry noise as the other objectives. The grid is the Das-Dennis lattice with 6
partitions (28 vectors); the reference point is the origin of normalised space.

``hhc`` builds the same miniature as ``hh`` (:mod:`mobench.data.miniature.hh_build`) into the same
cache folder (``cache_dir / "hh" / ...``): same seed and sizes, same world, same files, so building
one builds both.

Training signal at tiny scale: DPO on the pairs, not the paper's PPO. Measured on 2 CPU cores,
seed 0, exact hypervolume (base 0.48, DPO 0.68 with controllability 0.84): PPO with the paper's KL
0.02 and learning rate 2e-3 over-optimized the reward models (their front rose to 0.69 while the
exact one fell to 0.34); with KL 0.2 and 5e-4 it beat base (0.60 after 800 steps) but stayed below
DPO, with controllability 0.71. The paper scale keeps PPO.

Paper scale: see :mod:`mobench.tasks.hhc.paper` (``c = 50``, ``r_max = 4``).
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
    concise_objective,
    load_tiny,
)
from mobench.tasks.hhc.paper import DEFAULT_CONCISE_C, HHCPaperSources
from mobench.toolkit.grids import default_grid

SCALES = ("tiny", "paper")
TINY_CONCISE_C = 10
# hh's asset folder: the two tasks build one miniature (a folder name, not an import of hh).
ASSET_FAMILY = "hh"
TINY_TRAINING = TrainingSpec(default_signal="dpo", preference_pairs=True,
                             sft_data="chosen_responses", rl_prompts=True, reward_scorers=True)


@dataclass(frozen=True)
class HHCConfig(HHMiniatureSettings):
    """Options of ``hhc``: every field of
    :class:`~mobench.data.miniature.hh_build.HHMiniatureSettings` (the shared miniature's sizes),
    plus:

    Attributes:
        concise_c: the length threshold ``c`` in tokens; 0 picks the scale's default (tiny: 10,
            paper: 50).
        concise_r_max: the reward ``r_max`` at or below ``c`` tokens (4, as in the paper).
        paper: data and model sources of the paper scale.
    """

    concise_c: int = 0
    concise_r_max: float = 4.0
    paper: HHCPaperSources = field(default_factory=HHCPaperSources)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.concise_c < 0:
            raise ValueError(f"concise_c must be 0 (the scale's default) or positive, "
                             f"got {self.concise_c}")

    def c_for(self, scale: str) -> int:
        if self.concise_c:
            return self.concise_c
        return TINY_CONCISE_C if scale == "tiny" else DEFAULT_CONCISE_C


class HHCTask:
    """Helpful vs. harmless vs. concise: hh's world plus Panacea's conciseness rule."""

    name = "hhc"
    description = ("helpful vs harmless vs concise (PKU-SafeRLHF + length rule; tiny: synthetic "
                   "miniature with exact truth)")
    config_class = HHCConfig
    scales = SCALES

    def __init__(self, config: HHCConfig) -> None:
        self.config = config

    def spec(self, scale: str) -> TaskSpec:
        check_scale(self.name, scale, self.scales)
        c, r_max = self.config.c_for(scale), self.config.concise_r_max
        if scale == "paper":
            from mobench.tasks.hhc.paper import paper_spec

            return paper_spec(self.config.paper, concise_c=c, concise_rmax=r_max,
                              task_name=self.name)
        return TaskSpec(name=self.name, scale="tiny",
                        objectives=(HELPFUL, HARMLESS, concise_objective(c, r_max)),
                        preference_grid=default_grid(3), reference_point=(0.0, 0.0, 0.0),
                        base_model=BASE_MODEL, primary_scorer="exact",
                        prompt_template=PROMPT_TEMPLATE, training=TINY_TRAINING)

    def load(self, scale: str, seed: int, cache_dir: Path) -> TaskInstance:
        check_scale(self.name, scale, self.scales)
        c, r_max = self.config.c_for(scale), self.config.concise_r_max
        if scale == "paper":
            from mobench.tasks.hhc.paper import load_paper

            return load_paper(self.config.paper, seed, Path(cache_dir), concise_c=c,
                              concise_rmax=r_max, task_name=self.name)
        return load_tiny(self.spec("tiny"), self.config, seed, Path(cache_dir), ASSET_FAMILY,
                         conciseness=(float(c), r_max))
