"""HH at paper scale: PKU-SafeRLHF, Alpaca-7B, and the beaver-7b reward and cost models.

The setting of Panacea and MODPO; the data, scorers and bounds are the shared PKU-SafeRLHF pieces
of :mod:`mobench.data.paper.pku`. The preference grid is the tiny scale's
(:func:`mobench.toolkit.grids.default_grid`), so both scales of the task are evaluated at the same
preferences. Training signal: DPO on the PKU pairs (the paper's HH-DPO setting; its PPO setting
stays available with ``train.signal=ppo``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mobench.core.specs import TaskSpec, TrainingSpec
from mobench.data.data_report import DATA_REPORT_KEY
from mobench.data.paper.common import reference_policy_loader
from mobench.data.paper.pku import (
    PKU_PROMPT_TEMPLATE,
    PKUSources,
    beaver_scorers,
    load_pku_data,
    pku_objectives,
)
from mobench.toolkit.grids import default_grid

if TYPE_CHECKING:
    from mobench.core.task import TaskInstance

PAPER_TRAINING = TrainingSpec(default_signal="dpo", preference_pairs=True,
                              sft_data="chosen_responses", rl_prompts=True, reward_scorers=True)


def paper_spec(sources: PKUSources, *, task_name: str) -> TaskSpec:
    """The HH spec at paper scale (cheap: nothing is loaded)."""
    objectives = pku_objectives()
    return TaskSpec(name=task_name, scale="paper", objectives=objectives,
                    preference_grid=default_grid(len(objectives)),
                    reference_point=(0.0,) * len(objectives), base_model=sources.policy,
                    primary_scorer="reward_model", prompt_template=PKU_PROMPT_TEMPLATE,
                    training=PAPER_TRAINING)


def load_paper(sources: PKUSources, seed: int, cache_dir: Path, *,
               task_name: str) -> TaskInstance:
    """The paper-scale HH instance. Data is read now; models load when first used.

    ``seed`` changes nothing here: data, eval prompts and reward models are the same for every
    seed, so seeds measure the methods' own variance.
    """
    from mobench.core.task import TaskInstance

    loaded = load_pku_data(sources, Path(cache_dir))
    return TaskInstance(spec=paper_spec(sources, task_name=task_name), data=loaded.data,
                        scorer_sets={"reward_model": beaver_scorers(sources)},
                        load_reference_policy=reference_policy_loader(sources),
                        extras={DATA_REPORT_KEY: loaded.tallies})
