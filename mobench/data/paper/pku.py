"""PKU-SafeRLHF at paper scale: its rows, the beaver-7b reward and cost models, Alpaca-7B.

Shared by the paper scales of ``hh`` (helpful vs harmless, Panacea's and MODPO's setting) and of
``hhc`` (which adds conciseness), so it lives in the harness rather than in either task.

* ``helpful``: PKU-Alignment/beaver-7b-v1.0-reward, higher is better;
* ``harmless``: PKU-Alignment/beaver-7b-v1.0-cost, negated (lower cost is better, so the raw
  harmless score is ``-cost`` and every objective is maximized).

Both are safe-rlhf ``LlamaForScore`` checkpoints, served by :mod:`mobench.data.score_models`. Their
input is the policy's own conversation format, ``BEGINNING OF CONVERSATION: USER: {prompt}
ASSISTANT:``, followed directly by the response and the end-of-sequence token, as safe-rlhf trains
and scores them.

Data (PKU-SafeRLHF rows: ``prompt, response_0, response_1, better_response_id,
safer_response_id, ...``): helpful pairs prefer ``response_{better_response_id}``, harmless pairs
``response_{safer_response_id}``; rows with two identical responses carry no preference and are
dropped, as are rows whose preferred id is neither 0 nor 1. The SFT corpus is the better response
of every training row, empty and placeholder responses left out
(:func:`mobench.data.paper.common.sft_response_status`). Every dropped row is counted in the task
instance's data report. Datasets hold raw prompts: the template is the spec's
``prompt_template``, applied by policies and by the scorers.

The eval prompts are the distinct prompts of the test split in a fixed shuffled order
(:func:`mobench.data.paper.common.prompt_table`). Prompt ids are ``pku-<first 12 hex digits of the
prompt's SHA-1>``: stable across dataset revisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mobench.core.specs import Objective
from mobench.data.data_report import KEPT, STATUS_COLUMN, RowTally, dropped, tally_and_filter
from mobench.data.paper.common import (
    LoadedData,
    fill_template,
    prompt_table,
    read_split,
    reward_model_serving_options,
    sft_response_status,
)
from mobench.data.sources import PaperScaleSettings

if TYPE_CHECKING:
    import datasets

    from mobench.data.score_models import LazyRewardModelScorer

PKU_PROMPT_TEMPLATE = "BEGINNING OF CONVERSATION: USER: {prompt} ASSISTANT:"

# Provisional normalization bounds, fixed for the task (never per run) so numbers compare across
# runs and methods. They span what the Safe RLHF paper's score distributions show for Alpaca-7B
# and its aligned descendants: rewards about -15..10, costs about -15..15 (harmless = -cost).
# They only rescale metrics; recalibrate them once, on the reference policy, if a run leaves them.
HELPFUL_BOUNDS = (-15.0, 10.0)
HARMLESS_BOUNDS = (-15.0, 15.0)


@dataclass(frozen=True)
class PKUSources(PaperScaleSettings):
    """Where the PKU-SafeRLHF tasks read data and models, and how they serve them.

    Every source is a hub id or a local path in the same format (a dataset folder in the hub
    layout or written by ``save_to_disk``; a model folder written by ``save_pretrained``).

    Attributes:
        dataset: PKU-SafeRLHF (default ``PKU-Alignment/PKU-SafeRLHF``; the 10K subset
            ``PKU-Alignment/PKU-SafeRLHF-10K`` has the same schema).
        dataset_config: the dataset's configuration name ("" for its default).
        dataset_data_dir: a sub-folder of the dataset repository to read ("" for all of it; for
            the current PKU-SafeRLHF, ``data/Alpaca-7B`` keeps the responses of Alpaca-7B only).
        train_split: split for preference pairs, SFT corpus and training prompts (``train``).
        eval_split: split the eval prompts come from (``test``).
        policy: reference policy (``PKU-Alignment/alpaca-7b-reproduced``).
        reward_model: helpfulness score model (``PKU-Alignment/beaver-7b-v1.0-reward``).
        cost_model: harmfulness score model, negated (``PKU-Alignment/beaver-7b-v1.0-cost``).
        (and the sizes and serving settings of :class:`~mobench.data.sources.PaperScaleSettings`)
    """

    dataset: str = "PKU-Alignment/PKU-SafeRLHF"
    dataset_config: str = ""
    dataset_data_dir: str = ""
    train_split: str = "train"
    eval_split: str = "test"
    policy: str = "PKU-Alignment/alpaca-7b-reproduced"
    reward_model: str = "PKU-Alignment/beaver-7b-v1.0-reward"
    cost_model: str = "PKU-Alignment/beaver-7b-v1.0-cost"

    def __post_init__(self) -> None:
        super().__post_init__()


def pku_objectives() -> tuple[Objective, Objective]:
    return (Objective("helpful", "beaver-7b-v1.0-reward score (higher is more helpful)",
                      HELPFUL_BOUNDS),
            Objective("harmless", "negated beaver-7b-v1.0-cost score (higher is less harmful)",
                      HARMLESS_BOUNDS))


def pku_pair_rows(batch: Mapping[str, Sequence[Any]], id_column: str) -> dict[str, list[str]]:
    """Batched PKU-SafeRLHF rows to ``prompt``/``chosen``/``rejected`` preferring
    ``response_{row[id_column]}``, each with its ``row_status`` (dropped: identical responses
    carry no preference; a preferred id other than 0 or 1 names no response)."""
    out: dict[str, list[str]] = {"prompt": [], "chosen": [], "rejected": [], STATUS_COLUMN: []}
    for prompt, first, second, preferred in zip(batch["prompt"], batch["response_0"],
                                                batch["response_1"], batch[id_column], strict=True):
        if preferred not in (0, 1):
            status, chosen, rejected = dropped(f"{id_column} not 0 or 1"), "", ""
        elif first == second:
            status, chosen, rejected = dropped("identical responses"), "", ""
        else:
            status = KEPT
            chosen, rejected = (first, second) if preferred == 0 else (second, first)
        out["prompt"].append(prompt)
        out["chosen"].append(chosen)
        out["rejected"].append(rejected)
        out[STATUS_COLUMN].append(status)
    return out


def pku_preference_pairs(batch: Mapping[str, Sequence[Any]], id_column: str
                         ) -> dict[str, list[str]]:
    """The usable pairs of :func:`pku_pair_rows` (the dropped rows left out)."""
    rows = pku_pair_rows(batch, id_column)
    keep = [status == KEPT for status in rows.pop(STATUS_COLUMN)]
    return {name: [v for v, k in zip(values, keep, strict=True) if k]
            for name, values in rows.items()}


def pku_sft_examples(batch: Mapping[str, Sequence[Any]]) -> dict[str, list[str]]:
    """Batched PKU-SafeRLHF rows to ``prompt``/``response`` (the better response of each row)
    with their ``row_status``: rows without a better id, or whose better response is empty or a
    placeholder, are dropped."""
    out: dict[str, list[str]] = {"prompt": [], "response": [], STATUS_COLUMN: []}
    for prompt, first, second, better in zip(batch["prompt"], batch["response_0"],
                                             batch["response_1"], batch["better_response_id"],
                                             strict=True):
        response = (first if better == 0 else second) if better in (0, 1) else ""
        out["prompt"].append(prompt)
        out["response"].append(response)
        out[STATUS_COLUMN].append(sft_response_status(response) if better in (0, 1)
                                  else dropped("better_response_id not 0 or 1"))
    return out


PKU_COLUMNS = ("prompt", "response_0", "response_1", "better_response_id", "safer_response_id")


def load_pku_data(sources: PKUSources, cache_dir: Path) -> LoadedData:
    """Pairs per objective, SFT corpus, train and eval prompts from PKU-SafeRLHF, and the
    tallies of the rows dropped from each."""
    from mobench.core.errors import SourceUnavailableError
    from mobench.core.task import TaskData
    from mobench.data.sources import check_data_file_keys

    data_dir = sources.dataset_data_dir
    check_data_file_keys(sources.data_files, [(data_dir, sources.train_split),
                                              (data_dir, sources.eval_split)])

    def split(name: str) -> datasets.Dataset:
        table = read_split(sources, sources.dataset, name, cache_dir,
                           config_name=sources.dataset_config, data_dir=data_dir)
        missing = [c for c in PKU_COLUMNS if c not in table.column_names]
        if missing:
            raise SourceUnavailableError(f"dataset {sources.dataset!r} split {name!r} lacks the "
                                         f"PKU-SafeRLHF columns {', '.join(missing)}")
        return table

    train = split(sources.train_split)
    if sources.max_train_rows:
        train = train.select(range(min(sources.max_train_rows, len(train))))
    test = split(sources.eval_split)
    tallies: list[RowTally] = []

    def convert(what: str, function, **kwargs: Any) -> datasets.Dataset:  # type: ignore[no-untyped-def]
        rows = train.map(function, batched=True, remove_columns=train.column_names,
                         fn_kwargs=kwargs)
        kept, tally = tally_and_filter(rows, f"{sources.dataset} {sources.train_split} {what}")
        tallies.append(tally)
        return kept

    pairs = {"helpful": convert("helpful pairs", pku_pair_rows, id_column="better_response_id"),
             "harmless": convert("harmless pairs", pku_pair_rows,
                                 id_column="safer_response_id")}
    sft = convert("SFT corpus", pku_sft_examples)
    data = TaskData(preference_pairs=pairs,
                    eval_prompts=prompt_table(test["prompt"], sources.n_eval_prompts, "pku"),
                    train_prompts=prompt_table(train["prompt"], sources.n_train_prompts, "pku"),
                    sft_corpus=sft)
    return LoadedData(data, tuple(tallies))


def format_beaver_input(prompt: str, response: str) -> str:
    """What the beaver score models read: the conversation, then the response directly."""
    return fill_template(PKU_PROMPT_TEMPLATE, prompt) + response


def beaver_scorers(sources: PKUSources) -> dict[str, LazyRewardModelScorer]:
    """``helpful`` (reward model) and ``harmless`` (cost model, negated), loaded on first call."""
    from mobench.data.score_models import LazyRewardModelScorer, RewardModelSource

    options = reward_model_serving_options(sources)
    return {
        "helpful": LazyRewardModelScorer(
            RewardModelSource(sources.reward_model, "auto", sign=1.0, append_eos=True, **options),
            format_beaver_input),
        "harmless": LazyRewardModelScorer(
            RewardModelSource(sources.cost_model, "auto", sign=-1.0, append_eos=True, **options),
            format_beaver_input),
    }
