"""HH-RLHF at paper scale: Anthropic/hh-rlhf with the Ray2333 GPT-2 reward models (RiC protocol).

The setting of Rewards-in-Context, Rewarded Soups, MOD and PAMA. Two objectives, both rewards:

* ``helpful``: Ray2333/gpt2-large-helpful-reward_model;
* ``harmless``: Ray2333/gpt2-large-harmless-reward_model.

They are GPT-2 sequence classifiers reading the text pair (prompt, response), the prompt being
the dialogue up to and including its last ``"\\n\\nAssistant:"``; the score is logit 0.

Data: every hh-rlhf row is a ``chosen`` and a ``rejected`` dialogue, each a full
``"\\n\\nHuman: ... \\n\\nAssistant: ..."`` transcript sharing all but the last assistant turn.
The raw prompt is the text before the last ``"\\n\\nAssistant:"``; the task's prompt template adds
that marker back, and the response is the text after it (surrounding whitespace stripped, as a
policy's decoded answer has none).

A few rows' two dialogues differ before the last assistant turn: one of them holds an extra
``"\\n\\nAssistant:"`` (two assistant turns in a row; 5 of the 2312 rows of one real test file).
The labeller still compared two continuations of one conversation, so such a row is kept: its
prompt is the dialogue up to the last assistant marker both share, and each response is the rest
of its dialogue (extra marker included), which is what DPO's reference preprocessing yields (the
prompt taken from the chosen dialogue, both responses cut after it). Rows are dropped when they
carry no usable preference: a dialogue without an assistant turn, dialogues that differ in a
human turn, identical responses. Every repaired and dropped row is counted in the instance's data
report (printed by ``mobench run``, written into spec.json).

Which rows give which objective's pairs: hh-rlhf's ``helpful-base`` folder (preferences on
helpfulness) gives the helpful pairs and ``harmless-base`` (preferences on harmlessness, from red
teaming) the harmless ones; the online and rejection-sampled helpful folders can be named instead.
SFT corpus: the chosen dialogues of both (prompt -> chosen response). Eval prompts: the distinct
prompts of both test splits, in a fixed shuffle (selection seed 0), the first ``n_eval_prompts``.

Training signal: DPO on the hh-rlhf pairs (RiC's and MOD's preference data); PPO against the
Ray2333 models (Rewarded Soups', PAMA's RLHF) stays available with ``train.signal=ppo``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mobench.core.specs import Objective, TaskSpec, TrainingSpec
from mobench.data.data_report import (
    DATA_REPORT_KEY,
    KEPT,
    STATUS_COLUMN,
    RowTally,
    dropped,
    repaired,
    tally_and_filter,
)
from mobench.data.paper.common import (
    LoadedData,
    fill_template,
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

ASSISTANT_MARKER = "\n\nAssistant:"
HUMAN_MARKER = "\n\nHuman:"
SHARED_PROMPT_REPAIR = "kept with the prompt both dialogues share (one has an extra assistant turn)"
HH_RLHF_PROMPT_TEMPLATE = "{prompt}" + ASSISTANT_MARKER

# Provisional normalization bounds, fixed for the task (never per run): the RiC paper's fronts
# for these two models lie within about -3..3 on both axes.
HELPFUL_BOUNDS = (-3.0, 3.0)
HARMLESS_BOUNDS = (-3.0, 3.0)
# The two models' score (mean, standard deviation) over the HH training responses, published by
# RiC's author (RiC issue 16); RiC z-normalizes rewards with them. Against the bounds above: a
# normal distribution of these moments puts 96.7% (helpful) and 83.8% (harmless) of its mass
# inside them; the harmless low tail below -3 is where they clip.
RAY2333_HH_TRAIN_STATISTICS = {"helpful": (-0.015, 1.407), "harmless": (-0.947, 1.920)}


@dataclass(frozen=True)
class HHRLHFPaperSources(PaperScaleSettings):
    """Where the paper-scale HH-RLHF task reads its data and models, and how it serves them.

    Every source is a hub id or a local path in the same format (a copy of the dataset repository
    with its ``helpful-base/train.jsonl.gz``... layout; model folders from ``save_pretrained``).

    Attributes:
        dataset: the hh-rlhf dataset (``Anthropic/hh-rlhf``).
        helpful_data_dir: the dataset folder of the helpfulness comparisons (``helpful-base``).
        harmless_data_dir: the dataset folder of the harmlessness comparisons (``harmless-base``).
        train_split: split for pairs, SFT corpus and training prompts (``train``).
        eval_split: split the eval prompts come from (``test``).
        policy: reference policy (``meta-llama/Llama-2-7b-hf``, RiC's base model).
        helpful_reward_model: ``Ray2333/gpt2-large-helpful-reward_model``.
        harmless_reward_model: ``Ray2333/gpt2-large-harmless-reward_model``.
        (and the sizes and serving settings of :class:`~mobench.data.sources.PaperScaleSettings`)
    """

    dataset: str = "Anthropic/hh-rlhf"
    helpful_data_dir: str = "helpful-base"
    harmless_data_dir: str = "harmless-base"
    train_split: str = "train"
    eval_split: str = "test"
    policy: str = "meta-llama/Llama-2-7b-hf"
    helpful_reward_model: str = "Ray2333/gpt2-large-helpful-reward_model"
    harmless_reward_model: str = "Ray2333/gpt2-large-harmless-reward_model"


def split_dialogue(text: str) -> tuple[str, str]:
    """``(prompt, response)`` of an hh-rlhf transcript: the text before and after its last
    ``"\\n\\nAssistant:"`` (the response stripped of surrounding whitespace).

    Raises ``ValueError`` when there is no assistant turn or nothing before it.
    """
    cut = text.rfind(ASSISTANT_MARKER)
    if cut < 0:
        raise ValueError(f"hh-rlhf dialogue has no '\\n\\nAssistant:' turn: {text[:80]!r}")
    prompt = text[:cut]
    if not prompt.strip():
        raise ValueError(f"hh-rlhf dialogue has nothing before its assistant turn: {text[:80]!r}")
    return prompt, text[cut + len(ASSISTANT_MARKER):].strip()


def shared_prompt(chosen_text: str, rejected_text: str) -> str | None:
    """The prompt of two dialogues that differ before their last assistant turn: the text before
    the last ``"\\n\\nAssistant:"`` both share, provided what follows it holds no human turn (the
    dialogues then differ only in assistant turns); None otherwise."""
    shared = len(os.path.commonprefix([chosen_text, rejected_text]))
    cut = chosen_text.rfind(ASSISTANT_MARKER, 0, shared)
    if cut <= 0 or not chosen_text[:cut].strip():
        return None
    rest = cut + len(ASSISTANT_MARKER)
    if HUMAN_MARKER in chosen_text[rest:] or HUMAN_MARKER in rejected_text[rest:]:
        return None
    return chosen_text[:cut]


def hh_rlhf_comparison(chosen_text: str, rejected_text: str) -> tuple[str, str, str, str]:
    """``(prompt, chosen, rejected, row_status)`` of one hh-rlhf row (see the module docstring
    for the rows repaired and dropped; a dropped row's texts are empty)."""
    try:
        prompt, chosen = split_dialogue(chosen_text)
        other_prompt, rejected = split_dialogue(rejected_text)
    except ValueError:
        return "", "", "", dropped("a dialogue without an assistant turn")
    status = KEPT
    if prompt != other_prompt:
        shared = shared_prompt(chosen_text, rejected_text)
        if shared is None:
            return "", "", "", dropped("dialogues that differ in a human turn")
        prompt, status = shared, repaired(SHARED_PROMPT_REPAIR)
        chosen = chosen_text[len(shared) + len(ASSISTANT_MARKER):].strip()
        rejected = rejected_text[len(shared) + len(ASSISTANT_MARKER):].strip()
    if chosen == rejected:
        return "", "", "", dropped("identical responses")
    return prompt, chosen, rejected, status


def hh_rlhf_rows(batch: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Batched hh-rlhf rows to ``prompt``/``chosen``/``rejected`` with each row's status."""
    out: dict[str, list[str]] = {"prompt": [], "chosen": [], "rejected": [], STATUS_COLUMN: []}
    for chosen_text, rejected_text in zip(batch["chosen"], batch["rejected"], strict=True):
        for name, value in zip(("prompt", "chosen", "rejected", STATUS_COLUMN),
                               hh_rlhf_comparison(chosen_text, rejected_text), strict=True):
            out[name].append(value)
    return out


def hh_rlhf_pairs(batch: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Batched hh-rlhf rows to ``prompt``/``chosen``/``rejected``; unusable rows are left out."""
    rows = hh_rlhf_rows(batch)
    keep = [not status.startswith("dropped") for status in rows.pop(STATUS_COLUMN)]
    return {name: [v for v, k in zip(values, keep, strict=True) if k]
            for name, values in rows.items()}


def pairs_to_sft(batch: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Pairs to ``prompt``/``response`` (the chosen one), empty and placeholder responses
    marked dropped."""
    return {"prompt": list(batch["prompt"]), "response": list(batch["chosen"]),
            STATUS_COLUMN: [sft_response_status(r) for r in batch["chosen"]]}


def hh_rlhf_objectives() -> tuple[Objective, Objective]:
    return (Objective("helpful", "Ray2333 gpt2-large helpful reward model score",
                      HELPFUL_BOUNDS),
            Objective("harmless", "Ray2333 gpt2-large harmless reward model score",
                      HARMLESS_BOUNDS))


PAPER_TRAINING = TrainingSpec(default_signal="dpo", preference_pairs=True,
                              sft_data="chosen_responses", rl_prompts=True, reward_scorers=True)


def paper_spec(sources: HHRLHFPaperSources, *, task_name: str) -> TaskSpec:
    """The HH-RLHF spec at paper scale (cheap: nothing is loaded)."""
    objectives = hh_rlhf_objectives()
    return TaskSpec(name=task_name, scale="paper", objectives=objectives,
                    preference_grid=default_grid(len(objectives)),
                    reference_point=(0.0,) * len(objectives), base_model=sources.policy,
                    primary_scorer="reward_model", prompt_template=HH_RLHF_PROMPT_TEMPLATE,
                    training=PAPER_TRAINING)


def load_hh_rlhf_data(sources: HHRLHFPaperSources, cache_dir: Path) -> LoadedData:
    """Pairs per objective, SFT corpus, train and eval prompts, and the tallies of the rows
    repaired or dropped from each table."""
    import datasets

    from mobench.core.errors import SourceUnavailableError
    from mobench.core.task import TaskData
    from mobench.data.sources import check_data_file_keys

    folders = (sources.helpful_data_dir, sources.harmless_data_dir)
    check_data_file_keys(sources.data_files, [(folder, split) for folder in folders
                                              for split in (sources.train_split,
                                                            sources.eval_split)])
    tallies: list[RowTally] = []

    def pairs(data_dir: str, split: str) -> datasets.Dataset:
        rows = read_split(sources, sources.dataset, split, cache_dir, data_dir=data_dir)
        missing = [c for c in ("chosen", "rejected") if c not in rows.column_names]
        if missing:
            raise SourceUnavailableError(f"dataset {sources.dataset!r} ({data_dir}, {split}) "
                                         f"lacks the hh-rlhf columns {', '.join(missing)}")
        if split == sources.train_split and sources.max_train_rows:
            rows = rows.select(range(min(sources.max_train_rows, len(rows))))
        converted, tally = tally_and_filter(
            rows.map(hh_rlhf_rows, batched=True, remove_columns=rows.column_names),
            f"{sources.dataset} {data_dir}/{split} pairs")
        tallies.append(tally)
        if len(rows) and not len(converted):
            raise SourceUnavailableError(f"no row of dataset {sources.dataset!r} ({data_dir}, "
                                         f"{split}) is an hh-rlhf comparison of two dialogues")
        return converted

    helpful = pairs(sources.helpful_data_dir, sources.train_split)
    harmless = pairs(sources.harmless_data_dir, sources.train_split)
    test_prompts = [*pairs(sources.helpful_data_dir, sources.eval_split)["prompt"],
                    *pairs(sources.harmless_data_dir, sources.eval_split)["prompt"]]
    both = datasets.concatenate_datasets([helpful, harmless])
    sft, sft_tally = tally_and_filter(
        both.map(pairs_to_sft, batched=True, remove_columns=both.column_names),
        f"{sources.dataset} {sources.train_split} SFT corpus (chosen responses)")
    tallies.append(sft_tally)
    data = TaskData(preference_pairs={"helpful": helpful, "harmless": harmless},
                    eval_prompts=prompt_table(test_prompts, sources.n_eval_prompts, "hh-rlhf"),
                    train_prompts=prompt_table(both["prompt"], sources.n_train_prompts,
                                               "hh-rlhf"),
                    sft_corpus=sft)
    return LoadedData(data, tuple(tallies))


def ray2333_input(prompt: str, response: str) -> tuple[str, str]:
    """The Ray2333 reward models' input: the text pair (dialogue with its assistant marker,
    response)."""
    return fill_template(HH_RLHF_PROMPT_TEMPLATE, prompt), response


def ray2333_scorers(sources: HHRLHFPaperSources) -> dict[str, Any]:
    from mobench.data.score_models import LazyRewardModelScorer, RewardModelSource

    options = reward_model_serving_options(sources)
    return {name: LazyRewardModelScorer(
                RewardModelSource(source, "sequence_classification", **options), ray2333_input)
            for name, source in (("helpful", sources.helpful_reward_model),
                                 ("harmless", sources.harmless_reward_model))}


def load_paper(sources: HHRLHFPaperSources, seed: int, cache_dir: Path, *,
               task_name: str) -> TaskInstance:
    """The paper-scale HH-RLHF instance; reward models load when first used.

    ``seed`` changes nothing here: data, eval prompts and reward models are the same for every seed.
    """
    from mobench.core.task import TaskInstance

    loaded = load_hh_rlhf_data(sources, Path(cache_dir))
    return TaskInstance(spec=paper_spec(sources, task_name=task_name), data=loaded.data,
                        scorer_sets={"reward_model": ray2333_scorers(sources)},
                        load_reference_policy=reference_policy_loader(sources),
                        extras={DATA_REPORT_KEY: loaded.tallies})
