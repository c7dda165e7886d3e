"""``hh-rlhf``: helpful vs harmless on Anthropic/hh-rlhf with the RiC protocol's reward models.

Paper scale only. Its self-contained analogue is the ``hh`` task's tiny scale (a synthetic
helpful-vs-harmless miniature): a second miniature of the same trade-off would test nothing new,
while the paper scale differs from ``hh``'s in everything that matters to reproduce the RiC,
Rewarded Soups, MOD and PAMA line of results (dataset, reward models, policy, prompt format).
See :mod:`mobench.tasks.hh_rlhf.paper` for the data, scorers and bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mobench.core.specs import TaskSpec
from mobench.core.task import TaskInstance, check_scale
from mobench.tasks.hh_rlhf.paper import HHRLHFPaperSources, load_paper, paper_spec


@dataclass(frozen=True)
class HHRLHFConfig:
    """Options of the hh-rlhf task.

    Attributes:
        paper: data and model sources of the paper scale, and how its reward models are served
            (see :class:`~mobench.tasks.hh_rlhf.paper.HHRLHFPaperSources`; defaults: the hub ids
            of Anthropic/hh-rlhf, Llama-2-7B and the Ray2333 GPT-2 reward models).
    """

    paper: HHRLHFPaperSources = field(default_factory=HHRLHFPaperSources)


TINY_ANALOGUE = "its tiny analogue is the hh miniature: --task hh --scale tiny"


class HHRLHFTask:
    """Helpful vs harmless on Anthropic/hh-rlhf, scored by the Ray2333 GPT-2 reward models."""

    name = "hh-rlhf"
    description = ("helpful vs harmless on Anthropic/hh-rlhf with the Ray2333 GPT-2 reward "
                   "models (RiC protocol); paper scale only")
    config_class = HHRLHFConfig
    scales = ("paper",)

    def __init__(self, config: HHRLHFConfig | None = None) -> None:
        self.config = config or HHRLHFConfig()

    def spec(self, scale: str) -> TaskSpec:
        check_scale(self.name, scale, self.scales, TINY_ANALOGUE)
        return paper_spec(self.config.paper, task_name=self.name)

    def load(self, scale: str, seed: int, cache_dir: Path) -> TaskInstance:
        check_scale(self.name, scale, self.scales, TINY_ANALOGUE)
        return load_paper(self.config.paper, seed, Path(cache_dir), task_name=self.name)
