"""The helpful/harmless miniature built into a task instance: the tiny scale of ``hh`` and of
``hhc`` (which adds conciseness to the same world). Both tasks build it, so it lives in the harness.

What is built, once per seed, into ``cache_dir / family / f"seed{seed}" / tag`` (``family`` is
named by the task, the same for both; ``tag`` = asset version + digest of
:class:`HHMiniatureSettings`):

- ``tokenizer/``: BPE trained on the train prompts and the known sentences.
- ``policy/``: the reference policy, a GPT-2 SFT-trained on a mixed-persona corpus (see
  :mod:`mobench.data.miniature.hh_world`).
- ``rm-helpful/``, ``rm-harmless/``: Bradley-Terry reward models trained on the PKU-schema rows'
  ``better_response_id`` and ``safer_response_id`` labels, calibrated into exact-score units.
- ``optimal-front-{task}-{key}/``: the task's optimal front on its eval prompts (and on any other
  prompt set a run evaluates), from the candidates of :mod:`mobench.data.miniature.candidates`; see
  :mod:`mobench.data.optimal_front`. It becomes the instance's exact reference front and
  hypervolume.

Data regenerated from the seed at every load (milliseconds; never cached):

- prompt splits: ``n_eval_prompts`` held-out eval prompts, ``n_validation_prompts`` held-out
  prompts for the build-time checks, the rest for training; stratified so each split keeps the
  pool's one-third share of harmful requests.
- the SFT corpus (``n_sft_examples`` train prompts with persona responses);
- ``n_pairs`` PKU-SafeRLHF rows on train prompts, ``pair_harmful_share`` of them on harmful
  requests (PKU-SafeRLHF is red-teaming data, mostly harmful requests), labels drawn from the ground
  truth with Bradley-Terry noise of slope ``label_beta``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mobench.core.config import to_plain
from mobench.core.specs import DecodingConfig, Objective
from mobench.core.task import Scorer, TaskData, TaskInstance
from mobench.data.assets.cache import CachedAsset, asset_root, asset_tag
from mobench.data.assets.determinism import derived_rng
from mobench.data.assets.pipeline import (
    POLICY,
    ensure_policy,
    ensure_reward_model,
    ensure_tokenizer,
    load_cached_tokenizer,
    reward_model_component,
)
from mobench.data.assets.reward_model import (
    RewardModelSettings,
    held_out_pairs,
    labelled_pairs,
    load_reward_scorer,
)
from mobench.data.assets.sft import PolicyShape, SFTSettings, load_reference_policy
from mobench.data.miniature.candidates import hh_candidates
from mobench.data.miniature.conciseness import conciseness_bounds
from mobench.data.miniature.hh_world import (
    HARMLESS_BOUNDS,
    HELPFUL_BOUNDS,
    PAIR_PERSONAS,
    TOPICS,
    HHPrompt,
    HHWorld,
)
from mobench.data.miniature.labels import sample_preferred_ids
from mobench.data.miniature.pku import pairs_from_rows, rows_to_dataset
from mobench.data.miniature.scorers import ConcisenessScorer, ExactScorer, TokenLengthCounter
from mobench.data.miniature.splits import PromptSplits, stratified_splits
from mobench.data.optimal_front import EXTRA_KEY, OptimalFrontSource

if TYPE_CHECKING:
    import datasets

# 3: built with a fixed torch thread count (mobench.core.threads); 2-thread builds of "2" differ
ASSET_VERSION = "3"
PROMPT_TEMPLATE = "user : {prompt} assistant :"
BASE_MODEL = "mobench tiny hh reference policy (GPT-2, built into the cache)"
# Responses longer than the default generation budget are cut; conciseness bounds assume it.
MAX_RESPONSE_TOKENS = DecodingConfig().max_new_tokens

# numpy stream keys, one per purpose, so adding data of one kind never shifts another.
SPLIT_STREAM, SFT_STREAM, PAIR_STREAM, HELD_OUT_STREAM, CONCISE_STREAM = 1, 2, 3, 4, 5

HELPFUL = Objective("helpful", "distinct on-topic how-to steps, minus refusing harmless "
                    "requests, rudeness and garbage", HELPFUL_BOUNDS)
HARMLESS = Objective("harmless", "refusing and warning on harmful requests, minus harmful "
                     "detail, rudeness and garbage", HARMLESS_BOUNDS)


@dataclass(frozen=True)
class HHMiniatureSettings:
    """Sizes of the hh miniature (shared by ``hh`` and ``hhc``); every field shapes the assets.

    Attributes:
        n_eval_prompts: held-out evaluation prompts (stratified by harmfulness).
        n_validation_prompts: held-out prompts for the build-time checks of the reward models.
        n_sft_examples: (prompt, response) examples of the reference policy's SFT corpus.
        n_pairs: PKU-schema preference rows for training (each labels both objectives).
        n_validation_pairs: held-out pairs scoring the reward models against the ground truth.
        pair_harmful_share: share of preference rows asked on harmful requests.
        label_beta: Bradley-Terry slope of the labellers, per unit of raw score (2.0: a one-point
            difference is labelled right 88% of the time).
        vocab_size: requested BPE vocabulary (the miniature's words need fewer; BPE stops early).
        policy: architecture of the reference policy (reward models share it).
        sft: SFT optimisation of the reference policy.
        reward_model: optimisation of each reward model.
    """

    n_eval_prompts: int = 48
    n_validation_prompts: int = 192
    n_sft_examples: int = 8000
    n_pairs: int = 3000
    n_validation_pairs: int = 600
    pair_harmful_share: float = 0.5
    label_beta: float = 2.0
    vocab_size: int = 1024
    policy: PolicyShape = field(default_factory=PolicyShape)
    sft: SFTSettings = field(default_factory=SFTSettings)
    reward_model: RewardModelSettings = field(default_factory=RewardModelSettings)

    def __post_init__(self) -> None:
        for name in ("n_eval_prompts", "n_validation_prompts", "n_sft_examples", "n_pairs",
                     "n_validation_pairs", "vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.pair_harmful_share <= 1:
            raise ValueError("pair_harmful_share must lie in [0, 1], got "
                             f"{self.pair_harmful_share}")
        if not self.label_beta > 0:
            raise ValueError(f"label_beta must be positive, got {self.label_beta}")

    def miniature_settings(self) -> dict[str, Any]:
        """The fields above as plain data: what the asset tag digests."""
        names = [f.name for f in dataclasses.fields(HHMiniatureSettings)]
        return {name: to_plain(getattr(self, name)) for name in names}


@dataclass(frozen=True)
class HHData:
    """The hh miniature's data for one seed.

    Attributes:
        splits: indices into ``HHWorld.prompts``.
        sft_prompts: raw prompts of the SFT corpus.
        sft_responses: their responses.
        rows: PKU-SafeRLHF rows (dicts) on train prompts.
        held_out_prompts: prompts of the held-out pairs (validation split).
        held_out_responses: (response_0, response_1) of each held-out pair.
    """

    splits: PromptSplits
    sft_prompts: tuple[str, ...]
    sft_responses: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    held_out_prompts: tuple[str, ...]
    held_out_responses: tuple[tuple[str, str], ...]


def generate_data(world: HHWorld, settings: HHMiniatureSettings, seed: int) -> HHData:
    """Splits, SFT corpus and labelled rows, all determined by ``seed``."""
    harmful = [int(TOPICS[p.topic].harmful) for p in world.prompts]
    splits = stratified_splits(harmful, settings.n_eval_prompts, settings.n_validation_prompts,
                               derived_rng(seed, SPLIT_STREAM))
    train = [world.prompts[i] for i in splits.train]

    rng = derived_rng(seed, SFT_STREAM)
    sft = [train[i] for i in rng.integers(len(train), size=settings.n_sft_examples)]
    sft_responses = tuple(world.sample_response(TOPICS[p.topic], rng) for p in sft)

    rng = derived_rng(seed, PAIR_STREAM)
    pair_prompts = _pair_prompts(train, settings.n_pairs, settings.pair_harmful_share, rng)
    responses = [(world.sample_response(TOPICS[p.topic], rng, personas=PAIR_PERSONAS),
                  world.sample_response(TOPICS[p.topic], rng, personas=PAIR_PERSONAS))
                 for p in pair_prompts]
    rows = _pku_rows(world, pair_prompts, responses, settings.label_beta, rng)

    rng = derived_rng(seed, HELD_OUT_STREAM)
    validation = [world.prompts[i] for i in splits.validation]
    held_prompts = _pair_prompts(validation, settings.n_validation_pairs,
                                 settings.pair_harmful_share, rng)
    held = tuple((world.sample_response(TOPICS[p.topic], rng, personas=PAIR_PERSONAS),
                  world.sample_response(TOPICS[p.topic], rng, personas=PAIR_PERSONAS))
                 for p in held_prompts)
    return HHData(splits=splits, sft_prompts=tuple(p.text for p in sft),
                  sft_responses=sft_responses, rows=tuple(rows),
                  held_out_prompts=tuple(p.text for p in held_prompts), held_out_responses=held)


def _pair_prompts(pool: Sequence[HHPrompt], n: int, harmful_share: float,
                  rng: np.random.Generator) -> list[HHPrompt]:
    harmful = [p for p in pool if TOPICS[p.topic].harmful]
    benign = [p for p in pool if not TOPICS[p.topic].harmful]
    picks = []
    for draw in rng.random(n):
        group = harmful if (draw < harmful_share and harmful) or not benign else benign
        picks.append(group[int(rng.integers(len(group)))])
    return picks


def _pku_rows(world: HHWorld, prompts: Sequence[HHPrompt], responses: Sequence[tuple[str, str]],
              beta: float, rng: np.random.Generator) -> list[dict[str, Any]]:
    scores = [(world.score(p.text, r0), world.score(p.text, r1))
              for p, (r0, r1) in zip(prompts, responses, strict=True)]
    better = sample_preferred_ids(np.array([s0.helpful for s0, _ in scores]),
                                  np.array([s1.helpful for _, s1 in scores]), beta, rng)
    safer = sample_preferred_ids(np.array([s0.harmless for s0, _ in scores]),
                                 np.array([s1.harmless for _, s1 in scores]), beta, rng)
    return [{"prompt": p.text, "response_0": r0, "response_1": r1,
             "is_response_0_safe": s0.safe, "is_response_1_safe": s1.safe,
             "better_response_id": int(b), "safer_response_id": int(s)}
            for p, (r0, r1), (s0, s1), b, s in zip(prompts, responses, scores, better, safer,
                                                    strict=True)]


def add_conciseness_labels(rows: Sequence[dict[str, Any]], length_of: Any, c: float,
                           r_max: float, beta: float, seed: int) -> list[dict[str, Any]]:
    """Rows with ``more_concise_response_id`` (mobench's column; PKU has none), labelled from
    ``r(L)`` with the same Bradley-Terry noise."""
    scorer = ConcisenessScorer(length_of, c, r_max)
    prompts = [r["prompt"] for r in rows]
    s0 = scorer(prompts, [r["response_0"] for r in rows])
    s1 = scorer(prompts, [r["response_1"] for r in rows])
    ids = sample_preferred_ids(s0, s1, beta, derived_rng(seed, CONCISE_STREAM))
    return [{**row, "more_concise_response_id": int(i)} for row, i in zip(rows, ids, strict=True)]


@dataclass(frozen=True)
class HHAssets:
    """The built components of one seed.

    Attributes:
        root: the asset folder (``cache_dir / "hh" / f"seed{seed}" / tag``).
        components: component name -> cached asset (its path and build record).
    """

    root: Path
    components: dict[str, CachedAsset]

    def records(self) -> dict[str, dict[str, Any]]:
        return {name: asset.record for name, asset in self.components.items()}


def build_assets(world: HHWorld, data: HHData, settings: HHMiniatureSettings, seed: int,
                 cache_dir: Path, family: str) -> HHAssets:
    """Tokenizer, reference policy and the two reward models, each built once."""
    root = asset_root(cache_dir, family, seed, asset_tag(ASSET_VERSION,
                                                         settings.miniature_settings()))
    train_texts = [PROMPT_TEMPLATE.replace("{prompt}", world.prompts[i].text)
                   for i in data.splits.train]
    components = {"tokenizer": ensure_tokenizer(root, train_texts + list(world.inventory.by_text),
                                                settings.vocab_size)}
    tokenizer = load_cached_tokenizer(root)
    formatted = [PROMPT_TEMPLATE.replace("{prompt}", p) for p in data.sft_prompts]
    components[POLICY] = ensure_policy(root, tokenizer, formatted, data.sft_responses,
                                       settings.policy, settings.sft, seed)
    prompts = [row["prompt"] for row in data.rows]
    responses = [(row["response_0"], row["response_1"]) for row in data.rows]
    for objective, id_column in (("helpful", "better_response_id"),
                                 ("harmless", "safer_response_id")):
        chosen, rejected = labelled_pairs(PROMPT_TEMPLATE, prompts, responses,
                                          [row[id_column] for row in data.rows])
        held_out = held_out_pairs(
            PROMPT_TEMPLATE, data.held_out_prompts, data.held_out_responses,
            world.helpful if objective == "helpful" else world.harmless)
        components[reward_model_component(objective)] = ensure_reward_model(
            root, objective, tokenizer, chosen, rejected, held_out, settings.reward_model, seed)
    return HHAssets(root=root, components=components)


def concise_objective(c: float, r_max: float) -> Objective:
    low, high = conciseness_bounds(MAX_RESPONSE_TOKENS, c, r_max)
    return Objective("concise", f"r(L) = {r_max:g} if L <= {c:g} tokens, else "
                     f"{r_max:g} + 1 - L/{c:g}", (low, high))


def load_tiny(spec: Any, settings: HHMiniatureSettings, seed: int, cache_dir: Path,
              family: str, conciseness: tuple[float, float] | None = None) -> TaskInstance:
    """Build or read the assets and assemble the instance; ``conciseness`` = (c, r_max) adds the
    ``concise`` objective (task ``hhc``)."""
    import datasets

    world = HHWorld()
    data = generate_data(world, settings, seed)
    assets = build_assets(world, data, settings, seed, cache_dir, family)
    tokenizer = load_cached_tokenizer(assets.root)
    rows = list(data.rows)
    exact: dict[str, Scorer] = {"helpful": ExactScorer("helpful", world.helpful),
                                "harmless": ExactScorer("harmless", world.harmless)}
    learned: dict[str, Scorer] = {
        name: load_reward_scorer(assets.components[reward_model_component(name)].path,
                                 PROMPT_TEMPLATE) for name in ("helpful", "harmless")}
    id_columns = {"helpful": "better_response_id", "harmless": "safer_response_id"}
    if conciseness is not None:
        c, r_max = conciseness
        rule = ConcisenessScorer(TokenLengthCounter(tokenizer), c, r_max)
        # Conciseness is a rule in the paper, not a learned model: both sets use the rule.
        exact["concise"] = learned["concise"] = rule
        rows = add_conciseness_labels(rows, TokenLengthCounter(tokenizer), c, r_max,
                                      settings.label_beta, seed)
        id_columns["concise"] = "more_concise_response_id"
    raw_rows = rows_to_dataset(rows)
    counter = TokenLengthCounter(tokenizer)
    optimal = OptimalFrontSource(
        root=assets.root, spec=spec, scorers=exact, response_limit=MAX_RESPONSE_TOKENS,
        candidates_of=lambda prompt: hh_candidates(world, prompt, counter, MAX_RESPONSE_TOKENS))
    fronts, hypervolumes = optimal.references_for(
        [world.prompts[i].text for i in data.splits.eval]) or ({}, {})
    data_view = TaskData(
        preference_pairs={name: pairs_from_rows(raw_rows, column)
                          for name, column in id_columns.items()},
        eval_prompts=_prompt_table(world, data.splits.eval, "eval"),
        train_prompts=_prompt_table(world, data.splits.train, "train"),
        sft_corpus=datasets.Dataset.from_dict({"prompt": list(data.sft_prompts),
                                               "response": list(data.sft_responses)}))
    policy_path = assets.components[POLICY].path
    return TaskInstance(
        spec=spec, data=data_view,
        scorer_sets={"reward_model": learned, "exact": exact},
        load_reference_policy=lambda: load_reference_policy(policy_path),
        training_scorer_set="reward_model",
        reference_fronts=fronts, reference_hypervolumes=hypervolumes,
        extras={"raw_pairs": raw_rows, "asset_records": assets.records(),
                "asset_root": str(assets.root),
                "is_well_formed": lambda response: world.parse(response).well_formed,
                EXTRA_KEY: optimal})


def _prompt_table(world: HHWorld, indices: Sequence[int], split: str) -> datasets.Dataset:
    import datasets

    return datasets.Dataset.from_dict({
        "prompt_id": [f"hh-{split}-{k:04d}" for k in range(len(indices))],
        "prompt": [world.prompts[i].text for i in indices]})
