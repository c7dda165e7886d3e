"""Every tiny task builds, and its miniature is sound: pinned thresholds on the reward models, the
reference policy's samples, the conflict between objectives and the best-of-N front.

Each world is built once per test session into the session's temporary cache (``tiny_cache``:
hh, whose assets hhc shares, and the chat world with all ten styles, whose assets chat3/chat4/chat5
share), so this module, or the Panacea runs on the tiny tasks if they come first, costs a few
minutes on two CPU cores.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest

from mobench.data.assets import cache
from mobench.data.assets.checks import (
    best_of_n_front,
    non_dominated,
    parse_rate,
    sample_reference,
    score_samples,
)
from mobench.data.assets.determinism import derived_rng
from mobench.data.assets.reward_model import RewardModelSettings, pairwise_accuracy
from mobench.data.assets.sft import SFTSettings
from mobench.data.miniature.chat_world import SENTENCE_STYLES, STYLES, ChatWorld
from mobench.data.miniature.hh_build import generate_data
from mobench.data.miniature.hh_world import TOPICS, HHWorld
from mobench.data.miniature.pku import PKU_COLUMNS
from mobench.data.optimal_front import COMPONENT_PREFIX as OPTIMAL_FRONT_PREFIX
from mobench.tasks.chat import Chat3Task, Chat4Task, Chat5Task, Chat10Task, ChatConfig
from mobench.tasks.chat.tiny import RAW_PAIR_COLUMNS, chat_root, chat_splits
from mobench.tasks.hh import HHConfig, HHTask
from mobench.tasks.hhc import HHCConfig, HHCTask

SEED = 0
MIN_RM_ACCURACY = 0.85
MIN_PARSE_RATE = 0.95
N_PROMPTS, N_SAMPLES = 48, 8
HELD_OUT_PAIRS = 400


@pytest.fixture(scope="module")
def hh(tiny_cache):
    return HHTask(HHConfig()).load("tiny", SEED, tiny_cache)


@pytest.fixture(scope="module")
def hhc(hh, tiny_cache):
    return HHCTask(HHCConfig()).load("tiny", SEED, tiny_cache)


@pytest.fixture(scope="module")
def chat10(tiny_cache):
    return Chat10Task(ChatConfig()).load("tiny", SEED, tiny_cache)


@pytest.fixture(scope="module")
def samples(hh, hhc, chat10):
    """Reference samples and their exact scores, per task (hh's and hhc's policy are one)."""
    out = {}
    for name, instance in (("hh", hh), ("hhc", hhc), ("chat10", chat10)):
        drawn = sample_reference(instance, N_PROMPTS, N_SAMPLES, seed=SEED)
        raw = score_samples(drawn, instance.scorer_sets["exact"], instance.spec.objective_names)
        out[name] = (instance, drawn, raw)
    return out


def fresh_hh_pairs(n: int) -> tuple[list[str], list[str], list[str]]:
    """Pairs on the validation prompts, from a stream no asset was built from."""
    world = HHWorld()
    data = generate_data(world, HHConfig(n_pairs=1, n_sft_examples=1), SEED)
    rng = derived_rng(SEED, 9001)
    prompts = [world.prompts[int(i)] for i in rng.choice(data.splits.validation, size=n)]
    first = [world.sample_response(TOPICS[p.topic], rng) for p in prompts]
    second = [world.sample_response(TOPICS[p.topic], rng) for p in prompts]
    return [p.text for p in prompts], first, second


@pytest.mark.parametrize("objective", ["helpful", "harmless"])
def test_hh_reward_models_match_held_out_ground_truth(hh, objective):
    prompts, first, second = fresh_hh_pairs(HELD_OUT_PAIRS)
    rm, exact = hh.scorer_sets["reward_model"][objective], hh.scorer_sets["exact"][objective]
    accuracy = pairwise_accuracy(rm(prompts, first), rm(prompts, second), exact(prompts, first),
                                 exact(prompts, second))
    assert accuracy >= MIN_RM_ACCURACY
    assert hh.extras["asset_records"][f"rm-{objective}"]["held_out_accuracy"] >= MIN_RM_ACCURACY


@pytest.mark.parametrize("style", SENTENCE_STYLES)
def test_chat_reward_models_match_held_out_ground_truth(chat10, style):
    world = ChatWorld()
    splits = chat_splits(world, ChatConfig(), SEED)
    rng = derived_rng(SEED, 9002, STYLES.index(style))
    prompts = [world.prompts[int(i)] for i in rng.choice(splits.validation, size=HELD_OUT_PAIRS)]
    first = [world.sample_response(p.subject, rng, focus=style) for p in prompts]
    second = [world.sample_response(p.subject, rng, focus=style) for p in prompts]
    texts = [p.text for p in prompts]
    rm, exact = chat10.scorer_sets["reward_model"][style], chat10.scorer_sets["exact"][style]
    accuracy = pairwise_accuracy(rm(texts, first), rm(texts, second), exact(texts, first),
                                 exact(texts, second))
    assert accuracy >= MIN_RM_ACCURACY


def test_reward_models_are_calibrated_into_exact_units(samples):
    """On the reference policy's own samples, calibrated reward-model means sit near the exact
    means (within a tenth of the objective's range), so one set of bounds serves both sets."""
    for name, (instance, drawn, raw) in samples.items():
        flat_prompts = [p for p, row in zip(drawn.prompts, drawn.responses, strict=True)
                        for _ in row]
        flat = [r for row in drawn.responses for r in row]
        for j, objective in enumerate(instance.spec.objectives):
            learned = instance.scorer_sets["reward_model"][objective.name](flat_prompts, flat)
            width = objective.bounds[1] - objective.bounds[0]
            assert abs(learned.mean() - raw[..., j].mean()) < 0.1 * width, (name, objective.name)


@pytest.mark.parametrize("name", ["hh", "hhc", "chat10"])
def test_reference_samples_are_well_formed(samples, name):
    instance, drawn, _ = samples[name]
    assert parse_rate(drawn, instance.extras["is_well_formed"]) >= MIN_PARSE_RATE


def test_hh_objectives_conflict_on_harmful_requests_only(samples):
    _, drawn, raw = samples["hh"]
    world = HHWorld()
    harmful = np.array([world.topic_of(p).harmful for p in drawn.prompts])
    on_harmful = raw[harmful].reshape(-1, 2)
    on_benign = raw[~harmful].reshape(-1, 2)
    assert np.corrcoef(on_harmful.T)[0, 1] < -0.5
    assert np.corrcoef(on_benign.T)[0, 1] > 0.0


def test_hhc_conciseness_conflicts_with_helpfulness(samples):
    instance, _, raw = samples["hhc"]
    flat = raw.reshape(-1, 3)
    assert instance.spec.objective_names == ("helpful", "harmless", "concise")
    assert np.corrcoef(flat[:, 0], flat[:, 2])[0, 1] < -0.3


def test_chat_styles_compete(samples):
    _, _, raw = samples["chat10"]
    flat = raw.reshape(-1, 10)
    corr = np.corrcoef(flat.T)
    index = {s: i for i, s in enumerate(STYLES)}
    for a, b in (("humorous", "formal"), ("humorous", "philosophical"),
                 ("enthusiastic", "cautious"), ("poetic", "formal")):
        assert corr[index[a], index[b]] < -0.2, (a, b)
    # No sample tops every style: the best on one style is never the best on all.
    best = flat.max(axis=0)
    assert not np.any(np.all(flat >= best, axis=1))


@pytest.mark.parametrize("name", ["hh", "hhc", "chat10"])
def test_best_of_n_front_is_not_degenerate(samples, name):
    instance, _, raw = samples[name]
    spec = instance.spec
    front = best_of_n_front(spec.normalize(raw), spec.grid)
    assert len(non_dominated(front)) >= 3
    m = len(spec.objectives)
    vertices = [int(np.flatnonzero(np.isclose(spec.grid[:, i], 1.0))[0]) for i in range(m)]
    for i, row in enumerate(vertices):
        others = [front[v, i] for k, v in enumerate(vertices) if k != i]
        assert front[row, i] > np.mean(others), spec.objective_names[i]


def test_hh_instance_contents(hh):
    data = hh.data
    ids = data.eval_prompts["prompt_id"]
    assert len(ids) == 48 and len(set(ids)) == 48
    assert not set(data.eval_prompts["prompt"]) & set(data.train_prompts["prompt"])
    assert set(data.preference_pairs) == {"helpful", "harmless"}
    for pairs in data.preference_pairs.values():
        assert pairs.column_names == ["prompt", "chosen", "rejected"] and len(pairs) == 3000
    assert tuple(hh.extras["raw_pairs"].column_names) == PKU_COLUMNS
    assert data.sft_corpus.column_names == ["prompt", "response"]
    assert hh.training_scorer_set == "reward_model" and hh.spec.primary_scorer == "exact"
    model, tokenizer = hh.load_reference_policy()
    assert type(model).__name__ == "GPT2LMHeadModel" and tokenizer.pad_token_id is not None


def test_hhc_shares_hh_assets_and_adds_concise_pairs(hh, hhc):
    assert hhc.extras["asset_root"] == hh.extras["asset_root"]
    raw = hhc.extras["raw_pairs"]
    assert tuple(raw.column_names) == (*PKU_COLUMNS, "more_concise_response_id")
    assert set(hhc.data.preference_pairs) == {"helpful", "harmless", "concise"}
    assert hhc.scorer_sets["reward_model"]["concise"] is hhc.scorer_sets["exact"]["concise"]


def model_builds() -> int:
    """Builds of everything but the optimal fronts, which are per task by design."""
    return sum(n for path, n in cache.build_counts.items()
               if not Path(path).name.startswith(OPTIMAL_FRONT_PREFIX))


def test_chat_instances_share_one_world(chat10, tiny_cache):
    before = model_builds()
    smaller = {task.name: task.load("tiny", SEED, tiny_cache)
               for task in (Chat3Task(ChatConfig()), Chat4Task(ChatConfig()),
                            Chat5Task(ChatConfig()))}
    assert model_builds() == before  # every model and tokenizer came from chat10's build
    for name, instance in smaller.items():
        n = int(name.removeprefix("chat"))
        assert instance.spec.objective_names == STYLES[:n]
        assert instance.data.eval_prompts["prompt"] == chat10.data.eval_prompts["prompt"]
        assert set(instance.data.preference_pairs) == set(STYLES[:n])
    assert tuple(chat10.extras["raw_pairs"].column_names) == RAW_PAIR_COLUMNS
    columns = chat10.data.sft_corpus.column_names
    assert columns == ["prompt", "response"] + [f"response_{s}" for s in STYLES]
    assert set(chat10.extras["asset_records"]) == (
        {"tokenizer", "policy"} | {f"rm-{s}" for s in SENTENCE_STYLES})


def test_cache_hit_is_fast_and_builds_nothing(hh, tiny_cache):
    before = dict(cache.build_counts)
    started = time.perf_counter()
    again = HHTask(HHConfig()).load("tiny", SEED, tiny_cache)
    seconds = time.perf_counter() - started
    assert dict(cache.build_counts) == before
    assert seconds < 20  # a few seconds on an idle machine; generous for a loaded CI runner
    assert again.extras["asset_records"] == hh.extras["asset_records"]


def _weights_digest(folder: Path) -> str:
    from safetensors.numpy import load_file

    tensors = load_file(str(folder / "model.safetensors"))
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(tensors[name]).tobytes())
    return digest.hexdigest()


def test_same_seed_same_assets(tmp_path):
    """Two cold builds of a small hh miniature with one seed give byte-identical weights."""
    small = HHConfig(n_sft_examples=200, n_pairs=96, n_validation_pairs=40,
                     sft=SFTSettings(steps=8, batch_size=16),
                     reward_model=RewardModelSettings(batch_size=16))
    digests = []
    for run in ("a", "b"):
        instance = HHTask(small).load("tiny", 5, tmp_path / run)
        root = Path(instance.extras["asset_root"])
        digests.append({part: _weights_digest(root / part)
                        for part in ("policy", "rm-helpful", "rm-harmless")} |
                       {"tokenizer": hashlib.sha256(
                           (root / "tokenizer" / "tokenizer.json").read_bytes()).hexdigest()})
    assert digests[0] == digests[1]
    other = HHTask(small).load("tiny", 6, tmp_path / "c")
    assert _weights_digest(Path(other.extras["asset_root"]) / "policy") != digests[0]["policy"]


def test_chat_cache_layout(chat10, tiny_cache):
    root = chat_root(ChatConfig(), SEED, tiny_cache)
    assert root.parent == tiny_cache / "chat" / f"seed{SEED}"
    assert (root / "policy" / cache.COMPLETE_MARKER).is_file()
    assert (root / "policy" / "model.safetensors").is_file()
    assert not list(root.rglob("*.bin")) and not list(root.rglob("*.pkl"))
