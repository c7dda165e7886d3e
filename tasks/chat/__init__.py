"""``chat3``, ``chat4``, ``chat5``, ``chat10``: answering instructions in several styles at once
(Panacea's Chat setting; the 3-style set is helpful, humorous, philosophical, as in the paper).

Task ``chatN`` has the first N of these ten styles as objectives, in this order:

==============  ============================================================================
helpful         distinct true facts about the instruction's subject ("the owl can sense
                danger ."); a fact about another subject costs 0.5, a false one 1
humorous        distinct jokes ("the owl slipped on a banana peel !")
philosophical   distinct musings ("to know the owl is to know oneself .")
concise         the conciseness rule r(L) = r_max if L <= c else r_max + 1 - L/c, L in tokens
formal          distinct formal-register sentences ("one must weigh the evidence with care .")
empathetic      distinct sentences acknowledging feelings ("that must be hard for you .")
enthusiastic    distinct excited sentences ("wow , this is amazing !")
cautious        distinct hedges ("i may be wrong about this .")
poetic          distinct images ("soft as rain , the owl sleeps .")
inquisitive     distinct questions back ("have you ever seen a owl ?")
==============  ============================================================================

Tiny scale (default, self-contained, CPU). The world and its exact scorers are in
:mod:`mobench.data.miniature.chat_world`: only the first three sentences of a response are read (a
length budget: every sentence of one style takes a slot from the others); each sentence of an
opposed style costs 0.5 (humorous-formal, humorous-philosophical, enthusiastic-cautious,
poetic-formal); each unrecognised sentence costs 1 on every style; conciseness penalises every
sentence. So the styles compete and no response tops every dimension. Sentence-style scores are
clipped to [-2, 3], which are their bounds (a response of three distinct sentences of one style
scores 3). ``concise`` uses ``c = 8`` tokens (one sentence of the miniature is about seven tokens:
a one-sentence answer earns the full reward; the paper's c = 50 fits answers of hundreds of tokens)
and ``r_max = 4``, bounds ``(r_max + 1 - 48/c, r_max) = (-1, 4)`` for responses up to the default
48-token generation budget. The hypervolume reference point is the origin of normalised space.

Preference grids (:mod:`mobench.toolkit.grids`): chat3 the Das-Dennis lattice with 6 partitions (28
vectors), chat4 4 partitions (35), chat5 3 partitions (35), chat10 the 10 vertices, the centre and
29 scrambled-Sobol points of the simplex (40).

Scorer sets: ``exact`` (ground truth; the primary set, for the reasons given in
:mod:`mobench.tasks.hh`) and ``reward_model`` (one GPT-2 Bradley-Terry reward model per sentence
style, calibrated into exact units; ``concise`` is the rule in both sets); methods train against
``reward_model``. All chat tasks share one world and one cache folder (``cache_dir / "chat"``): the
reference policy is trained once on responses mixing all ten styles, and each style's reward model
is built the first time a task needs it.

Data: ``preference_pairs[style]`` (prompt/chosen/rejected, labels drawn from that style's truth with
Bradley-Terry noise); ``sft_corpus`` with ``prompt``, ``response`` (the reference policy's
mixed-style corpus) and one ``response_<style>`` column per objective (a response to the same
instruction written in that style alone: the style-specific SFT data of the paper's Chat setting);
``extras["raw_pairs"]``: every pair as ``instruction, style, response_0, response_1,
preferred_id``. Other extras as in ``hh``: ``asset_records``, ``asset_root``, ``is_well_formed``,
``optimal_front``; and, as in ``hh``, the optimal front as the exact reference front (exact up to
chat5; on chat10 its hypervolume is a Monte Carlo estimate, see :mod:`mobench.data.optimal_front`).

Paper scale: Alpaca instructions and Llama-3-8B-Instruct; see :mod:`mobench.tasks.chat.paper`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from mobench.core.specs import TaskSpec, TrainingSpec
from mobench.core.task import TaskInstance, check_scale
from mobench.data.miniature.chat_world import STYLES
from mobench.tasks.chat.paper import ChatPaperSources
from mobench.tasks.chat.tiny import (
    BASE_MODEL,
    PROMPT_TEMPLATE,
    ChatMiniatureSettings,
    chat_objectives,
    load_tiny,
)
from mobench.toolkit.grids import default_grid

SCALES = ("tiny", "paper")
TINY_CONCISE_C = 8
# Panacea's Chat setting: SFT on style-specific responses (the corpus's response_<style> columns);
# the style pairs and the reward models are offered too.
TINY_TRAINING = TrainingSpec(default_signal="sft", preference_pairs=True,
                             sft_data="objective_columns", rl_prompts=True, reward_scorers=True)


@dataclass(frozen=True)
class ChatConfig(ChatMiniatureSettings):
    """Options of the chat tasks: every field of
    :class:`~mobench.tasks.chat.tiny.ChatMiniatureSettings` (``n_eval_prompts``,
    ``n_validation_prompts``, ``n_sft_examples``, ``n_pairs_per_style``, ``n_validation_pairs``,
    ``label_beta``, ``vocab_size``, ``policy``, ``sft``, ``reward_model``), plus:

    Attributes:
        concise_c: the conciseness length threshold ``c`` in tokens (tiny scale; 8).
        concise_r_max: the conciseness reward ``r_max`` at or below ``c`` tokens (4).
        paper: data and model sources of the paper scale.
    """

    concise_c: int = TINY_CONCISE_C
    concise_r_max: float = 4.0
    paper: ChatPaperSources = field(default_factory=ChatPaperSources)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.concise_c < 1:
            raise ValueError(f"concise_c must be positive, got {self.concise_c}")


class ChatTask:
    """Base of the chat tasks; a subclass fixes how many styles (``n_styles``) it has."""

    n_styles: ClassVar[int]
    name: ClassVar[str]
    description: ClassVar[str]
    config_class = ChatConfig
    scales = SCALES

    def __init__(self, config: ChatConfig) -> None:
        self.config = config

    @property
    def styles(self) -> tuple[str, ...]:
        return STYLES[:self.n_styles]

    def spec(self, scale: str) -> TaskSpec:
        check_scale(self.name, scale, self.scales)
        if scale == "paper":
            from mobench.tasks.chat.paper import paper_spec

            return paper_spec(self.config.paper, styles=self.styles, task_name=self.name)
        rule = (float(self.config.concise_c), self.config.concise_r_max)
        return TaskSpec(name=self.name, scale="tiny", objectives=chat_objectives(self.styles, rule),
                        preference_grid=default_grid(self.n_styles),
                        reference_point=(0.0,) * self.n_styles, base_model=BASE_MODEL,
                        primary_scorer="exact", prompt_template=PROMPT_TEMPLATE,
                        training=TINY_TRAINING)

    def load(self, scale: str, seed: int, cache_dir: Path) -> TaskInstance:
        check_scale(self.name, scale, self.scales)
        if scale == "paper":
            from mobench.tasks.chat.paper import load_paper

            return load_paper(self.config.paper, seed, Path(cache_dir), styles=self.styles,
                              task_name=self.name)
        rule = (float(self.config.concise_c), self.config.concise_r_max)
        return load_tiny(self.spec("tiny"), self.config, self.styles, rule, seed, Path(cache_dir))


def _style_list(n: int) -> str:
    return ", ".join(STYLES[:n])


class Chat3Task(ChatTask):
    """Chat with three styles: helpful, humorous, philosophical (the Panacea paper's set)."""

    n_styles = 3
    name = "chat3"
    description = f"chat in 3 styles ({_style_list(3)})"


class Chat4Task(ChatTask):
    """Chat with four styles: chat3's plus concise."""

    n_styles = 4
    name = "chat4"
    description = f"chat in 4 styles ({_style_list(4)})"


class Chat5Task(ChatTask):
    """Chat with five styles: chat4's plus formal."""

    n_styles = 5
    name = "chat5"
    description = f"chat in 5 styles ({_style_list(5)})"


class Chat10Task(ChatTask):
    """Chat with all ten styles."""

    n_styles = 10
    name = "chat10"
    description = f"chat in 10 styles ({_style_list(10)})"
