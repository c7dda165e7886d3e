"""The tiny scale of the chat tasks (``chat3`` ... ``chat10``): one shared world, N styles each.

What is built, once per seed, into ``cache_dir / "chat" / f"seed{seed}" / tag`` (``tag`` = asset
version + digest of :class:`ChatMiniatureSettings`), shared by every chat task:

- ``tokenizer/``: BPE trained on the train instructions and the known sentences.
- ``policy/``: the reference policy, a GPT-2 SFT-trained on mixed-style responses (see
  :mod:`mobench.data.miniature.chat_world`).
- ``rm-{style}/``: one Bradley-Terry reward model per sentence style, built the first time a task
  needing that style is loaded (``chat3`` builds three, a later ``chat10`` adds the others). A
  style's model depends only on the seed and the style's name, so sharing it is exact.
  ``concise`` has no model: it is the length rule in both scorer sets, as in HHC.
- ``optimal-front-{task}-{key}/``: each chat task's optimal front on its eval prompts (and on any
  other prompt set a run evaluates); see :mod:`mobench.data.optimal_front`. It becomes the
  instance's exact reference front and hypervolume.

Data regenerated from the seed at every load: instruction splits (``n_eval_prompts`` eval,
``n_validation_prompts`` validation, the rest train), the SFT corpus, and per style
``n_pairs_per_style`` pairs labelled from that style's ground truth with Bradley-Terry noise.
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
from mobench.data.miniature.candidates import chat_candidates
from mobench.data.miniature.chat_world import (
    SENTENCE_STYLES,
    STYLE_BOUNDS,
    STYLE_DESCRIPTIONS,
    STYLES,
    ChatPrompt,
    ChatWorld,
)
from mobench.data.miniature.conciseness import conciseness_bounds
from mobench.data.miniature.labels import sample_preferred_ids
from mobench.data.miniature.scorers import ConcisenessScorer, ExactScorer, TokenLengthCounter
from mobench.data.miniature.splits import PromptSplits, stratified_splits
from mobench.data.optimal_front import EXTRA_KEY, OptimalFrontSource

if TYPE_CHECKING:
    import datasets

FAMILY = "chat"
# 2: built with a fixed torch thread count (mobench.core.threads); 2-thread builds of "1" differ
ASSET_VERSION = "2"
PROMPT_TEMPLATE = "user : {prompt} assistant :"
BASE_MODEL = "mobench tiny chat reference policy (GPT-2, built into the cache)"
MAX_RESPONSE_TOKENS = DecodingConfig().max_new_tokens
RAW_PAIR_COLUMNS = ("instruction", "style", "response_0", "response_1", "preferred_id")

SPLIT_STREAM, SFT_STREAM, PAIR_STREAM, HELD_OUT_STREAM, PURE_STREAM = 1, 2, 3, 4, 6


@dataclass(frozen=True)
class ChatMiniatureSettings:
    """Sizes of the chat miniature, shared by every chat task; every field shapes the assets.

    Attributes:
        n_eval_prompts: held-out evaluation instructions (of 720).
        n_validation_prompts: held-out instructions for the reward models' build-time checks.
        n_sft_examples: (instruction, response) examples of the reference policy's SFT corpus.
        n_pairs_per_style: labelled pairs per style for training.
        n_validation_pairs: held-out pairs per style scoring its reward model against the truth.
        label_beta: Bradley-Terry slope of the labellers, per unit of raw score.
        vocab_size: requested BPE vocabulary (BPE stops early when the words run out).
        policy: architecture of the reference policy (reward models share it).
        sft: SFT optimisation of the reference policy.
        reward_model: optimisation of each reward model.
    """

    n_eval_prompts: int = 48
    n_validation_prompts: int = 96
    n_sft_examples: int = 8000
    n_pairs_per_style: int = 2000
    n_validation_pairs: int = 400
    label_beta: float = 2.0
    vocab_size: int = 1024
    policy: PolicyShape = field(default_factory=PolicyShape)
    sft: SFTSettings = field(default_factory=SFTSettings)
    reward_model: RewardModelSettings = field(default_factory=RewardModelSettings)

    def __post_init__(self) -> None:
        for name in ("n_eval_prompts", "n_validation_prompts", "n_sft_examples",
                     "n_pairs_per_style", "n_validation_pairs", "vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.label_beta > 0:
            raise ValueError(f"label_beta must be positive, got {self.label_beta}")

    def miniature_settings(self) -> dict[str, Any]:
        names = [f.name for f in dataclasses.fields(ChatMiniatureSettings)]
        return {name: to_plain(getattr(self, name)) for name in names}


@dataclass(frozen=True)
class StylePairs:
    """One style's labelled pairs.

    Attributes:
        prompts: the instructions.
        responses: (response_0, response_1) per pair.
        preferred: the labelled id (0 or 1) per pair.
    """

    prompts: tuple[str, ...]
    responses: tuple[tuple[str, str], ...]
    preferred: tuple[int, ...]


@dataclass(frozen=True)
class ChatData:
    """The chat miniature's data for one seed and a set of styles.

    Attributes:
        splits: indices into ``ChatWorld.prompts``.
        sft_prompts: instructions of the SFT corpus.
        sft_responses: their mixed-style responses.
        pure_responses: per style, a response in that style alone to each SFT instruction.
        pairs: per style, its labelled training pairs.
        held_out: per sentence style, unlabelled held-out pairs (prompts, responses).
    """

    splits: PromptSplits
    sft_prompts: tuple[str, ...]
    sft_responses: tuple[str, ...]
    pure_responses: dict[str, tuple[str, ...]]
    pairs: dict[str, StylePairs]
    held_out: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]]


def style_scorer(world: ChatWorld, style: str, concise: ConcisenessScorer) -> Scorer:
    if style == "concise":
        return concise
    return ExactScorer(style, lambda p, r: world.style_score(style, p, r))


def chat_splits(world: ChatWorld, settings: ChatMiniatureSettings, seed: int) -> PromptSplits:
    return stratified_splits([0] * len(world.prompts), settings.n_eval_prompts,
                             settings.n_validation_prompts, derived_rng(seed, SPLIT_STREAM))


def generate_data(world: ChatWorld, settings: ChatMiniatureSettings, styles: Sequence[str],
                  concise: ConcisenessScorer, seed: int) -> ChatData:
    """Splits, SFT corpus and per-style pairs; each style's data has its own random stream."""
    splits = chat_splits(world, settings, seed)
    train = [world.prompts[i] for i in splits.train]
    validation = [world.prompts[i] for i in splits.validation]
    rng = derived_rng(seed, SFT_STREAM)
    sft = [train[i] for i in rng.integers(len(train), size=settings.n_sft_examples)]
    sft_responses = tuple(world.sample_response(p.subject, rng) for p in sft)
    pure = {}
    for style in styles:
        rng = derived_rng(seed, PURE_STREAM, STYLES.index(style))
        pure[style] = tuple(world.pure_response(style, p.subject, rng) for p in sft)
    pairs, held_out = {}, {}
    for style in styles:
        scorer = style_scorer(world, style, concise)
        rng = derived_rng(seed, PAIR_STREAM, STYLES.index(style))
        prompts, responses = _sample_pairs(world, train, settings.n_pairs_per_style, style, rng)
        s0 = scorer(prompts, [r0 for r0, _ in responses])
        s1 = scorer(prompts, [r1 for _, r1 in responses])
        preferred = sample_preferred_ids(s0, s1, settings.label_beta, rng)
        pairs[style] = StylePairs(tuple(prompts), tuple(responses),
                                  tuple(int(i) for i in preferred))
        if style in SENTENCE_STYLES:
            rng = derived_rng(seed, HELD_OUT_STREAM, STYLES.index(style))
            held = _sample_pairs(world, validation, settings.n_validation_pairs, style, rng)
            held_out[style] = (tuple(held[0]), tuple(held[1]))
    return ChatData(splits=splits, sft_prompts=tuple(p.text for p in sft),
                    sft_responses=sft_responses, pure_responses=pure, pairs=pairs,
                    held_out=held_out)


def _sample_pairs(world: ChatWorld, pool: Sequence[ChatPrompt], n: int, style: str,
                  rng: np.random.Generator) -> tuple[list[str], list[tuple[str, str]]]:
    prompts = [pool[int(i)] for i in rng.integers(len(pool), size=n)]
    responses = [(world.sample_response(p.subject, rng, focus=style),
                  world.sample_response(p.subject, rng, focus=style)) for p in prompts]
    return [p.text for p in prompts], responses


@dataclass(frozen=True)
class ChatAssets:
    """The built components for one seed and set of styles.

    Attributes:
        root: the shared asset folder (``cache_dir / "chat" / f"seed{seed}" / tag``).
        components: component name -> cached asset.
    """

    root: Path
    components: dict[str, CachedAsset]

    def records(self) -> dict[str, dict[str, Any]]:
        return {name: asset.record for name, asset in self.components.items()}


def chat_root(settings: ChatMiniatureSettings, seed: int, cache_dir: Path) -> Path:
    return asset_root(cache_dir, FAMILY, seed, asset_tag(ASSET_VERSION,
                                                         settings.miniature_settings()))


def build_assets(world: ChatWorld, settings: ChatMiniatureSettings, styles: Sequence[str],
                 concise_rule: tuple[float, float], seed: int,
                 cache_dir: Path) -> tuple[ChatAssets, ChatData]:
    """Tokenizer, reference policy and one reward model per sentence style of ``styles``."""
    root = chat_root(settings, seed, cache_dir)
    splits = chat_splits(world, settings, seed)
    train_texts = [PROMPT_TEMPLATE.replace("{prompt}", world.prompts[i].text)
                   for i in splits.train]
    components = {"tokenizer": ensure_tokenizer(root, train_texts + list(world.inventory.by_text),
                                                settings.vocab_size)}
    tokenizer = load_cached_tokenizer(root)
    concise = ConcisenessScorer(TokenLengthCounter(tokenizer), *concise_rule)
    data = generate_data(world, settings, styles, concise, seed)
    formatted = [PROMPT_TEMPLATE.replace("{prompt}", p) for p in data.sft_prompts]
    components[POLICY] = ensure_policy(root, tokenizer, formatted, data.sft_responses,
                                       settings.policy, settings.sft, seed)
    for style in styles:
        if style not in SENTENCE_STYLES:
            continue
        pairs = data.pairs[style]
        chosen, rejected = labelled_pairs(PROMPT_TEMPLATE, pairs.prompts, pairs.responses,
                                          pairs.preferred)
        prompts, responses = data.held_out[style]
        held_out = held_out_pairs(PROMPT_TEMPLATE, prompts, responses,
                                  lambda p, r, s=style: world.style_score(s, p, r))
        components[reward_model_component(style)] = ensure_reward_model(
            root, style, tokenizer, chosen, rejected, held_out, settings.reward_model, seed)
    return ChatAssets(root=root, components=components), data


def chat_objectives(styles: Sequence[str], concise_rule: tuple[float, float]) -> tuple[
        Objective, ...]:
    objectives = []
    for style in styles:
        if style == "concise":
            c, r_max = concise_rule
            bounds = conciseness_bounds(MAX_RESPONSE_TOKENS, c, r_max)
            description = f"r(L) = {r_max:g} if L <= {c:g} tokens, else {r_max:g} + 1 - L/{c:g}"
        else:
            bounds, description = STYLE_BOUNDS, STYLE_DESCRIPTIONS[style]
        objectives.append(Objective(style, description, bounds))
    return tuple(objectives)


def load_tiny(spec: Any, settings: ChatMiniatureSettings, styles: Sequence[str],
              concise_rule: tuple[float, float], seed: int, cache_dir: Path) -> TaskInstance:
    """Build or read the shared assets this task's styles need and assemble the instance."""
    import datasets

    world = ChatWorld()
    assets, data = build_assets(world, settings, styles, concise_rule, seed, cache_dir)
    tokenizer = load_cached_tokenizer(assets.root)
    concise = ConcisenessScorer(TokenLengthCounter(tokenizer), *concise_rule)
    exact = {style: style_scorer(world, style, concise) for style in styles}
    learned: dict[str, Scorer] = {
        style: (concise if style == "concise" else load_reward_scorer(
            assets.components[reward_model_component(style)].path, PROMPT_TEMPLATE))
        for style in styles}
    raw_rows = {column: [] for column in RAW_PAIR_COLUMNS}
    views = {}
    for style in styles:
        pairs = data.pairs[style]
        for prompt, (r0, r1), preferred in zip(pairs.prompts, pairs.responses, pairs.preferred,
                                                      strict=True):
            for column, value in zip(RAW_PAIR_COLUMNS, (prompt, style, r0, r1, preferred),
                                     strict=True):
                raw_rows[column].append(value)
        views[style] = datasets.Dataset.from_dict({
            "prompt": list(pairs.prompts),
            "chosen": [r[i] for r, i in zip(pairs.responses, pairs.preferred, strict=True)],
            "rejected": [r[1 - i] for r, i in zip(pairs.responses, pairs.preferred,
                                                  strict=True)]})
    counter = TokenLengthCounter(tokenizer)
    optimal = OptimalFrontSource(
        root=assets.root, spec=spec, scorers=exact, response_limit=MAX_RESPONSE_TOKENS,
        candidates_of=lambda prompt: chat_candidates(world, prompt, counter, MAX_RESPONSE_TOKENS))
    fronts, hypervolumes = optimal.references_for(
        [world.prompts[i].text for i in data.splits.eval]) or ({}, {})
    sft = {"prompt": list(data.sft_prompts), "response": list(data.sft_responses)}
    sft.update({f"response_{style}": list(data.pure_responses[style]) for style in styles})
    policy_path = assets.components[POLICY].path
    return TaskInstance(
        spec=spec,
        data=TaskData(preference_pairs=views,
                      eval_prompts=_prompt_table(world, data.splits.eval, "eval"),
                      train_prompts=_prompt_table(world, data.splits.train, "train"),
                      sft_corpus=datasets.Dataset.from_dict(sft)),
        scorer_sets={"reward_model": learned, "exact": exact},
        load_reference_policy=lambda: load_reference_policy(policy_path),
        training_scorer_set="reward_model",
        reference_fronts=fronts, reference_hypervolumes=hypervolumes,
        extras={"raw_pairs": datasets.Dataset.from_dict(raw_rows),
                "asset_records": assets.records(), "asset_root": str(assets.root),
                "is_well_formed": lambda response: world.parse(response).well_formed,
                EXTRA_KEY: optimal})


def _prompt_table(world: ChatWorld, indices: Sequence[int], split: str) -> datasets.Dataset:
    import datasets

    return datasets.Dataset.from_dict({
        "prompt_id": [f"chat-{split}-{k:04d}" for k in range(len(indices))],
        "prompt": [world.prompts[i].text for i in indices]})
