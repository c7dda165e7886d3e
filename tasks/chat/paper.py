"""Chat at paper scale: Alpaca instructions, Llama-3-8B-Instruct, one scorer per style.

Panacea's Chat setting steers a chat model between m response styles (m = 3, 4, 5, 10; the 3-dim
set is helpful, humorous, philosophical). The paper's per-style scorers and larger style sets are
not public, so here every style's scorer is configured: a sequence-classification reward model
(hub id or local folder) given in :attr:`ChatPaperSources.style_scorers`. The spec (objectives,
grid) and the data need none: a style left without one gets a stand-in that scores nothing and
says why (``unavailable_reason``), so the task's data loads, while ``mobench run`` and ``mobench
eval`` refuse with one line naming the styles before anything is trained or generated.

Prompts: Alpaca's instruction, followed by its input after a blank line when there is one. They
are shown to the policy in Llama-3's chat format (:data:`LLAMA3_PROMPT_TEMPLATE`, the user turn and
the assistant header; the tokenizer adds ``<|begin_of_text|>`` itself). Scorers see the raw
prompt, not the template: style scorers are usually other model families.

Alpaca has only a train split: unless ``eval_split`` is set, the eval prompts are the first
``n_eval_prompts`` distinct instructions of a fixed shuffle (selection seed 0) and are held out
of the training prompts and of the SFT corpus (instruction -> Alpaca's output; outputs that are
empty or Alpaca's ``<nooutput>`` placeholder are left out of the SFT corpus and counted in the
instance's data report, and an ``<noinput>`` input counts as none). Alpaca has no
preference pairs; per-style pair datasets (``prompt``/``chosen``/``rejected``) may be given in
:attr:`ChatPaperSources.style_pairs`, and styles without one have no pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mobench.core.errors import ConfigError
from mobench.core.specs import Objective, TaskSpec, TrainingSpec
from mobench.data.data_report import DATA_REPORT_KEY, STATUS_COLUMN, tally_and_filter
from mobench.data.paper.common import (
    LoadedData,
    prompt_table,
    read_split,
    reference_policy_loader,
    reward_model_serving_options,
    sft_response_status,
)
from mobench.data.sources import PaperScaleSettings
from mobench.toolkit.grids import default_grid

if TYPE_CHECKING:
    import datasets

    from mobench.core.task import TaskInstance
    from mobench.data.reward_models import PairFormatter

LLAMA3_PROMPT_TEMPLATE = ("<|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>"
                          "<|start_header_id|>assistant<|end_header_id|>\n\n")
# Provisional normalization bounds of a style scorer whose own are not configured: typical
# reward-model logits. Fixed per task configuration, never per run.
DEFAULT_STYLE_BOUNDS = (-5.0, 5.0)
# Alpaca's placeholder for an instruction without input.
NO_INPUT_PLACEHOLDER = "<noinput>"
ScorerInput = Literal["pair", "concatenate", "response"]


@dataclass(frozen=True)
class StyleScorerSource:
    """The scorer of one style.

    Attributes:
        style: the style (objective) name.
        source: hub id or local folder of a sequence-classification reward model.
        logit_index: the output column that scores the style (0; 1 for ``[not-X, X]`` classifiers).
        input: what the model reads: ``pair`` (the text pair (prompt, response), default),
            ``concatenate`` (prompt, a space, response) or ``response`` (the response alone).
        bounds: raw scores mapped to 0 and 1 when normalizing (default ``(-5, 5)``).
    """

    style: str
    source: str
    logit_index: int = 0
    input: ScorerInput = "pair"
    bounds: tuple[float, float] = DEFAULT_STYLE_BOUNDS


@dataclass(frozen=True)
class ChatPaperSources(PaperScaleSettings):
    """Where the paper-scale Chat task reads its data and models, and how it serves them.

    Attributes:
        dataset: instruction data in Alpaca's schema (``tatsu-lab/alpaca``: instruction, input,
            output), hub id or local folder.
        dataset_config: the dataset's configuration name ("" for its default).
        dataset_data_dir: a sub-folder of the dataset repository ("" for all of it).
        split: the split instructions come from (``train``).
        eval_split: a split to draw eval prompts from ("": hold them out of ``split``).
        policy: reference policy (``meta-llama/Meta-Llama-3-8B-Instruct``).
        style_scorers: each style's scorer, as :class:`StyleScorerSource` entries, as
            ``(style, source)`` pairs, or as a mapping style -> source (default: none; the
            paper's scorers are not public). Entries for styles the task does not use are ignored.
        style_pairs: optional ``(style, dataset source)`` pairs; each dataset has ``prompt``,
            ``chosen``, ``rejected`` columns in its ``split`` (default: none).
        (and the sizes and serving settings of :class:`~mobench.data.sources.PaperScaleSettings`)
    """

    dataset: str = "tatsu-lab/alpaca"
    dataset_config: str = ""
    dataset_data_dir: str = ""
    split: str = "train"
    eval_split: str = ""
    policy: str = "meta-llama/Meta-Llama-3-8B-Instruct"
    style_scorers: tuple[StyleScorerSource | tuple[str, str], ...] | Mapping[str, str] = ()
    style_pairs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.eval_split and self.n_eval_prompts == 0:
            raise ValueError("n_eval_prompts must be positive when eval prompts are held out of "
                             "the training split")
        style_scorer_table(self.style_scorers)  # fail early on a malformed entry


def style_scorer_table(entries: Any) -> dict[str, StyleScorerSource]:
    """``style_scorers`` in any accepted form, as style -> :class:`StyleScorerSource`."""
    if isinstance(entries, Mapping):
        entries = tuple(entries.items())
    table: dict[str, StyleScorerSource] = {}
    for entry in entries:
        if isinstance(entry, StyleScorerSource):
            scorer = entry
        elif isinstance(entry, (tuple, list)) and len(entry) == 2 and \
                all(isinstance(x, str) for x in entry):
            scorer = StyleScorerSource(style=entry[0], source=entry[1])
        else:
            raise ValueError(f"style scorer {entry!r} is neither a StyleScorerSource nor a "
                             "(style, source) pair")
        if scorer.style in table:
            raise ValueError(f"style {scorer.style!r} has two scorers")
        table[scorer.style] = scorer
    return table


def chat_objectives(sources: ChatPaperSources, styles: Sequence[str]) -> tuple[Objective, ...]:
    table = style_scorer_table(sources.style_scorers)
    objectives = []
    for style in styles:
        scorer = table.get(style)
        where = f"scorer {scorer.source}" if scorer else "scorer not configured"
        objectives.append(Objective(style, f"{style} style score ({where})",
                                    scorer.bounds if scorer else DEFAULT_STYLE_BOUNDS))
    return tuple(objectives)


def paper_training(sources: ChatPaperSources, styles: Sequence[str]) -> TrainingSpec:
    """SFT on each style's chosen responses when every style has pairs (the paper's Chat setting
    is SFT on style-specific responses); without them the task offers only prompts and the style
    scorers, so PPO against the scorers."""
    paired = {style for style, _ in sources.style_pairs}
    if all(style in paired for style in styles):
        return TrainingSpec(default_signal="sft", preference_pairs=True,
                            sft_data="chosen_responses")
    return TrainingSpec(default_signal="ppo", preference_pairs=False, sft_data="none")


def paper_spec(sources: ChatPaperSources, *, styles: tuple[str, ...],
               task_name: str) -> TaskSpec:
    """The Chat spec at paper scale for ``styles``, in order (cheap: nothing is loaded)."""
    objectives = chat_objectives(sources, styles)
    return TaskSpec(name=task_name, scale="paper", objectives=objectives,
                    preference_grid=default_grid(len(objectives)),
                    reference_point=(0.0,) * len(objectives), base_model=sources.policy,
                    primary_scorer="reward_model", prompt_template=LLAMA3_PROMPT_TEMPLATE,
                    training=paper_training(sources, styles))


def alpaca_prompt(instruction: str, input_text: str | None) -> str:
    """Alpaca's instruction, and its input after a blank line when there is one."""
    instruction = instruction.strip()
    input_text = (input_text or "").strip()
    if input_text.lower() == NO_INPUT_PLACEHOLDER:
        input_text = ""
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def alpaca_examples(batch: Mapping[str, Sequence[Any]]) -> dict[str, list[str]]:
    """Batched Alpaca rows to ``prompt``/``response``."""
    inputs = batch.get("input") or [""] * len(batch["instruction"])
    prompts = [alpaca_prompt(i, x) for i, x in zip(batch["instruction"], inputs, strict=True)]
    return {"prompt": prompts,
            "response": [str(o).strip() for o in batch["output"]]}


def with_sft_status(batch: Mapping[str, Sequence[Any]]) -> dict[str, list[str]]:
    """The ``row_status`` of batched ``prompt``/``response`` rows as SFT examples."""
    return {STATUS_COLUMN: [sft_response_status(r) for r in batch["response"]]}


ALPACA_COLUMNS = ("instruction", "output")
PAIR_COLUMNS = ("prompt", "chosen", "rejected")


def _read(source: str, split: str, columns: Sequence[str], cache_dir: Path,
          config_name: str = "", data_dir: str = "",
          sources: ChatPaperSources | None = None) -> datasets.Dataset:
    """A split holding ``columns``; ``sources`` given, from the file its data_files name."""
    from mobench.core.errors import SourceUnavailableError
    from mobench.data.sources import load_dataset_split

    if sources is not None:
        table = read_split(sources, source, split, cache_dir, config_name=config_name,
                           data_dir=data_dir)
    else:
        table = load_dataset_split(source, split, config_name=config_name, data_dir=data_dir,
                                   cache_dir=cache_dir / "datasets")
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise SourceUnavailableError(f"dataset {source!r} split {split!r} lacks the columns "
                                     f"{', '.join(missing)}")
    return table


def load_chat_data(sources: ChatPaperSources, styles: Sequence[str],
                   cache_dir: Path) -> LoadedData:
    """Eval and train prompts, SFT corpus and any per-style pairs (see the module docstring),
    and the tally of the SFT examples left out. Needs no style scorer."""
    from mobench.core.task import TaskData
    from mobench.data.sources import check_data_file_keys

    reads = [(sources.dataset_data_dir, sources.split)]
    if sources.eval_split:
        reads.append((sources.dataset_data_dir, sources.eval_split))
    check_data_file_keys(sources.data_files, reads)

    def examples(split: str) -> datasets.Dataset:
        rows = _read(sources.dataset, split, ALPACA_COLUMNS, cache_dir, sources.dataset_config,
                     sources.dataset_data_dir, sources=sources)
        return rows.map(alpaca_examples, batched=True, remove_columns=rows.column_names)

    train = examples(sources.split)
    if sources.max_train_rows:
        train = train.select(range(min(sources.max_train_rows, len(train))))
    if sources.eval_split:
        eval_prompts = prompt_table(examples(sources.eval_split)["prompt"],
                                    sources.n_eval_prompts, "alpaca")
    else:
        eval_prompts = prompt_table(train["prompt"], sources.n_eval_prompts, "alpaca")
        held_out = set(eval_prompts["prompt"])
        rows = len(train)
        train = train.filter(lambda batch: [p not in held_out for p in batch["prompt"]],
                             batched=True)
        if not len(train):  # a sample smaller than the eval prompts: nothing left to train on
            cut = " within task.paper.max_train_rows" if sources.max_train_rows else ""
            raise ConfigError(
                f"dataset {sources.dataset!r} split {sources.split!r} has {rows} rows{cut} "
                f"({len(held_out)} distinct instructions), too few to hold out "
                f"{sources.n_eval_prompts} eval prompts and train on the rest; set "
                f"task.paper.n_eval_prompts below {len(held_out)}, or task.paper.eval_split to "
                "a split to draw the eval prompts from")
    pairs = {}
    for style, source in sources.style_pairs:
        if style in styles:
            rows = _read(source, sources.split, PAIR_COLUMNS, cache_dir)
            pairs[style] = rows.select_columns(list(PAIR_COLUMNS))
    sft, tally = tally_and_filter(train.map(with_sft_status, batched=True),
                                  f"{sources.dataset} {sources.split} SFT corpus")
    data = TaskData(preference_pairs=pairs, eval_prompts=eval_prompts,
                    train_prompts=prompt_table(train["prompt"], sources.n_train_prompts, "alpaca"),
                    sft_corpus=sft)
    return LoadedData(data, (tally,))


def scorer_input(kind: ScorerInput) -> PairFormatter:
    """How a style scorer reads a (prompt, response) pair."""
    from mobench.data.reward_models import concatenate

    if kind == "pair":
        return lambda prompt, response: (prompt, response)
    if kind == "concatenate":
        return concatenate
    if kind == "response":
        return lambda prompt, response: response
    raise ValueError(f"unknown scorer input {kind!r}; choose pair, concatenate or response")


class UnconfiguredStyleScorer:
    """Stands in for the scorer of a style none is configured for: it scores nothing, and its
    ``unavailable_reason`` lets the harness refuse a run or evaluation before any work."""

    def __init__(self, reason: str) -> None:
        self.unavailable_reason = reason

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> Any:
        raise ConfigError(self.unavailable_reason)


def missing_scorers_message(missing: Sequence[str]) -> str:
    return (f"paper-scale chat needs a scorer for every style; none for {', '.join(missing)} "
            "(the paper's style scorers are not public): set style_scorers of the paper "
            "sources to (style, hub id or local folder) entries")


def style_scorers(sources: ChatPaperSources, styles: Sequence[str]) -> dict[str, Any]:
    """One lazily loaded scorer per style; a style without one gets an
    :class:`UnconfiguredStyleScorer` whose message names every such style."""
    from mobench.data.score_models import LazyRewardModelScorer, RewardModelSource

    table = style_scorer_table(sources.style_scorers)
    missing = [s for s in styles if s not in table]
    options = reward_model_serving_options(sources)
    return {style: LazyRewardModelScorer(
                RewardModelSource(table[style].source, "auto",
                                  logit_index=table[style].logit_index, **options),
                scorer_input(table[style].input))
            if style in table else UnconfiguredStyleScorer(missing_scorers_message(missing))
            for style in styles}


def load_paper(sources: ChatPaperSources, seed: int, cache_dir: Path, *,
               styles: tuple[str, ...], task_name: str) -> TaskInstance:
    """The paper-scale Chat instance for ``styles``; scorers load when first used.

    ``seed`` changes nothing here: data, eval prompts and scorers are the same for every seed.
    """
    from mobench.core.task import TaskInstance

    loaded = load_chat_data(sources, styles, Path(cache_dir))
    return TaskInstance(spec=paper_spec(sources, styles=styles, task_name=task_name),
                        data=loaded.data,
                        scorer_sets={"reward_model": style_scorers(sources, styles)},
                        load_reference_policy=reference_policy_loader(sources),
                        extras={DATA_REPORT_KEY: loaded.tallies})
