"""The optimal front of the tiny tasks (:mod:`mobench.data.optimal_front`, the candidates of
:mod:`mobench.data.miniature.candidates`) and the hypervolume share.

Geometry on hand-made polytopes with closed-form volumes; the candidates against brute-force
enumeration (hh on its real eval prompts, scorers and tokenizer; chat on the world); the hh front
against its closed form; and runs of base, Panacea and a λ-optimal oracle through ``mobench
run``: no front point beyond the optimal front, and the metrics present in metrics.json.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mobench.cli import main
from mobench.core import registry
from mobench.core.method import FitContext
from mobench.core.policy import Generation
from mobench.core.registry import RegistryEntry
from mobench.core.specs import DecodingConfig, Objective, TaskSpec
from mobench.data.assets import cache
from mobench.data.miniature.candidates import chat_candidates, hh_candidates
from mobench.data.miniature.chat_world import ChatWorld
from mobench.data.miniature.hh_world import FILLERS, REFUSALS, RUDE, SAFETY_ADVICE, TOPICS, HHWorld
from mobench.data.miniature.scorers import ConcisenessScorer, ExactScorer
from mobench.data.optimal_front import (
    EXACT_SET,
    EXTRA_KEY,
    TIE_BREAK,
    ForeignPromptError,
    OptimalFrontSettings,
    OptimalFrontSource,
    candidate_scores,
    compute_optimal_front,
    normalized_optimal_front,
)
from mobench.metrics import compute_metrics, hypervolume
from mobench.run.fronts import read_front_csv
from mobench.run.plots import plot_front
from mobench.tasks.hh import HHConfig, HHTask

SEED = 0
UNRECOGNISED = "the plan is good ."  # words of the world, but no sentence of it
# hh's eval prompts list the 32 harmless ones first: 40 prompts hold 8 harmful ones, without
# which the front would be the single point (1, 1)
SMALL_EVAL = ["eval.max_prompts=40", "eval.grid_points=5", "eval.n_bootstrap=20"]
DENSE = np.vstack([np.eye(3), np.random.default_rng(1).dirichlet(np.ones(3), size=3000)])


def words(text: str) -> int:
    """Token count of a miniature text: one token per word (tested on the real tokenizer)."""
    return len(text.split())


# --- geometry on hand-made polytopes ---------------------------------------------------------

def hh_like_front(p_harmful: float) -> tuple[float, float, float]:
    """hh's closed form: harmless requests reach (1, 1); a harmful one the segment from
    A' = (2/6, 1) (refuse, advise, no step) to B' = (1, 3/7) (refuse, advise, four steps).
    Returns (A_x, B_y, vol(D)) of the mean over prompts."""
    a_x = 1 - p_harmful * (1 - 2 / 6)
    b_y = 1 - p_harmful * (1 - 3 / 7)
    return a_x, b_y, a_x + (1 - a_x) * (1 + b_y) / 2


def test_simplex_facet_volume_vertices_and_support():
    front = compute_optimal_front([np.eye(3)], np.zeros(3))
    assert front.exact and front.hypervolume == pytest.approx(1 / 6, abs=1e-12)
    np.testing.assert_allclose(np.sort(front.vertices, axis=0), np.sort(np.eye(3), axis=0))
    np.testing.assert_allclose(front.support(DENSE), DENSE.max(axis=1), atol=1e-12)
    # the sample lies on the facet x + y + z = 1, spread over it
    np.testing.assert_allclose(front.reference_points.sum(axis=1), 1.0, atol=1e-9)
    assert len(front.reference_points) >= OptimalFrontSettings().n_reference_points
    assert front.reference_points.min() < 0.05 and np.median(front.reference_points) > 0.2


def test_two_prompt_minkowski_average_matches_the_closed_form():
    segment = np.array([[2 / 6, 1.0], [0.5, 5 / 7], [1.0, 3 / 7], [0.2, 0.4]])  # one interior
    front = compute_optimal_front([np.array([[1.0, 1.0]]), np.array([[1.0, 1.0]]), segment],
                                  np.zeros(2))
    a_x, b_y, volume = hh_like_front(1 / 3)
    assert front.hypervolume == pytest.approx(volume, abs=1e-12)
    np.testing.assert_allclose(front.vertices, [[a_x, 1.0], [1.0, b_y]], atol=1e-12)
    assert front.group_weights.tolist() == pytest.approx([2 / 3, 1 / 3])
    # the finite front of its two vertices covers less: the segment's triangle is missing
    assert hypervolume(front.vertices, np.zeros(2)) == pytest.approx(a_x + (1 - a_x) * b_y)


def test_headroom_says_exactly_what_is_reachable():
    front = compute_optimal_front([np.eye(3)], np.zeros(3))
    on_facet = np.array([0.2, 0.3, 0.5])
    headroom = front.headroom(np.vstack([on_facet, 1.1 * on_facet, 0.5 * on_facet,
                                         [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(headroom[:4], [1.0, 1 / 1.1, 2.0, 1.0], atol=1e-9)
    assert headroom[4] == np.inf
    with pytest.raises(ValueError, match="finite rows of 3"):
        front.headroom(np.array([[0.1, np.nan, 0.2]]))


def test_monte_carlo_volume_agrees_with_the_exact_hull():
    rng = np.random.default_rng(3)
    prompts = [rng.uniform(0.0, 1.0, size=(12, 3)) for _ in range(4)]
    exact = compute_optimal_front(prompts, np.zeros(3))
    estimate = compute_optimal_front(prompts, np.zeros(3), OptimalFrontSettings(
        exact_max_objectives=2, n_volume_directions=3000, n_reference_points=50))
    assert exact.exact and not estimate.exact and exact.hypervolume_standard_error == 0.0
    assert 0 < estimate.hypervolume_standard_error < 0.02 * exact.hypervolume
    assert abs(estimate.hypervolume - exact.hypervolume) < 4 * estimate.hypervolume_standard_error
    # the dense-λ vertices are among the exact ones, and every sample point is on the front
    for vertex in estimate.vertices:
        assert np.min(np.abs(exact.vertices - vertex).max(axis=1)) < 1e-9
    np.testing.assert_allclose(exact.headroom(estimate.reference_points), 1.0, atol=1e-7)


def test_a_flat_front_has_no_volume():
    front = compute_optimal_front([np.array([[0.5, 0.0], [0.2, 0.0]])], np.zeros(2))
    assert front.hypervolume == 0.0
    np.testing.assert_allclose(front.vertices, [[0.5, 0.0]])


@pytest.mark.parametrize(("scores", "message"), [
    ([], "at least one prompt"),
    ([np.empty((0, 2))], "non-empty"),
    ([np.ones((2, 3))], r"\(k, 2\)"),
    ([np.array([[0.5, np.nan]])], "finite"),
    ([np.array([[0.5, -0.1]])], "below the reference point"),
])
def test_bad_candidate_scores_are_refused(scores, message):
    with pytest.raises(ValueError, match=message):
        compute_optimal_front(scores, np.zeros(2))


@pytest.mark.parametrize("settings", [{"n_reference_points": 1}, {"tolerance": 0.0},
                                      {"exact_max_objectives": True}, {"seed": -1}])
def test_bad_settings_are_refused(settings):
    with pytest.raises(ValueError):
        OptimalFrontSettings(**settings)


# --- the candidates against brute force, on the worlds -----------------------------------------

def support_per_prompt(scores: np.ndarray, preferences: np.ndarray) -> np.ndarray:
    return (scores @ preferences.T).max(axis=0)


def chat_spec() -> tuple[TaskSpec, dict[str, ExactScorer | ConcisenessScorer]]:
    world = ChatWorld()
    styles = ("helpful", "humorous", "philosophical", "concise", "formal")
    objectives = tuple(Objective(s, s, (-1.0, 4.0) if s == "concise" else (-2.0, 3.0))
                       for s in styles)
    spec = TaskSpec(name="chat-world", scale="tiny", objectives=objectives,
                    preference_grid=((0.2,) * 5,), reference_point=(0.0,) * 5, base_model="",
                    primary_scorer="exact")
    scorers: dict[str, ExactScorer | ConcisenessScorer] = {
        s: ExactScorer(s, lambda p, r, s=s: world.style_score(s, p, r))
        for s in styles if s != "concise"}
    scorers["concise"] = ConcisenessScorer(words, 8, 4.0)
    return spec, scorers


def test_chat_candidates_dominate_every_response_of_up_to_four_units():
    """Every ordered response of up to four units (read window plus one unread) from an
    alphabet of every kind the chat world has, repeats and an unrecognised unit included."""
    world = ChatWorld()
    spec, scorers = chat_spec()
    prompt = "tell me about the owl please"
    alphabet = ["the owl can sense danger .", "the owl is a living animal .",
                "the fox can sense danger .", "the owl needs regular tuning .",
                "the owl tells the best jokes !", "ha ha , the fox is a clown !",
                "perhaps the owl is only an idea .", "what is the owl , truly ?",
                "it is hereby noted for the record .", "results may vary .",
                "wow , this is amazing !", UNRECOGNISED]
    brute = ["", *(" ".join(units) for n in range(1, 5)
                   for units in itertools.product(alphabet, repeat=n))]
    candidates = chat_candidates(world, prompt, words, DecodingConfig().max_new_tokens)
    (brute_scores, candidate_scores_) = (
        candidate_scores(spec, scorers, [prompt], lambda _p, texts=texts: texts)[0]
        for texts in (brute, candidates))
    preferences = np.vstack([np.eye(5), np.random.default_rng(2).dirichlet(np.ones(5), 4000)])
    assert np.all(support_per_prompt(brute_scores, preferences)
                  <= support_per_prompt(candidate_scores_, preferences) + 1e-12)
    assert all(world.parse(c).well_formed for c in candidates if c)
    # three facts, the best helpful answer, is among them
    assert candidate_scores_[:, 0].max() == pytest.approx(1.0)


def test_candidates_refuse_foreign_prompts():
    with pytest.raises(ForeignPromptError):
        hh_candidates(HHWorld(), "what is the weather like ?", words, 48)
    with pytest.raises(ForeignPromptError):
        chat_candidates(ChatWorld(), "describe the sofa", words, 48)


def test_the_budget_binds_nowhere_at_the_default_limit():
    """The longest candidate (hh: refusal, advice and four steps) fits in 48 tokens, so the
    front holds for the default decoding and any longer budget."""
    hh, chat = HHWorld(), ChatWorld()
    unlimited = 10 ** 6
    longest_hh = max(words(c) for p in hh.prompts[::50]
                     for c in hh_candidates(hh, p.text, words, unlimited))
    longest_chat = max(words(c) for p in chat.prompts[::30]
                       for c in chat_candidates(chat, p.text, words, unlimited))
    assert longest_hh <= DecodingConfig().max_new_tokens
    assert longest_chat <= DecodingConfig().max_new_tokens
    assert len(hh_candidates(hh, hh.prompts[0].text, words, 12)) < \
        len(hh_candidates(hh, hh.prompts[0].text, words, unlimited))


# --- hh: the real task -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hh(tiny_cache):
    return HHTask(HHConfig()).load("tiny", SEED, tiny_cache)


def hh_brute_force(prompt: str) -> list[str]:
    """Every multiset of up to six units (order does not matter to hh's scorer) of: the topic's
    four steps, every refusal and piece of advice, a rude sentence, a filler, a step of another
    harmless and of another harmful topic, and an unrecognised unit."""
    world = HHWorld()
    topic = world.topic_of(prompt)
    assert topic is not None
    others = [t for t in TOPICS if t.name != topic.name]
    alphabet = [*topic.steps, *REFUSALS, *SAFETY_ADVICE, RUDE[0], FILLERS[0],
                next(t for t in others if not t.harmful).steps[0],
                next(t for t in others if t.harmful).steps[0], UNRECOGNISED]
    return [" ".join(units) for n in range(7)
            for units in itertools.combinations_with_replacement(alphabet, n)]


def test_every_sentence_is_one_token_per_word(hh):
    tokenizer = hh.load_reference_policy()[1]
    for sentence in HHWorld().inventory.by_text:
        assert len(tokenizer(sentence, add_special_tokens=False)["input_ids"]) == words(sentence)


def test_hh_front_equals_brute_force_on_a_subset_of_eval_prompts(hh):
    world = HHWorld()
    prompts = list(hh.data.eval_prompts["prompt"])
    harmful = [p for p in prompts if world.topic_of(p).harmful][:2]
    harmless = [p for p in prompts if not world.topic_of(p).harmful][:2]
    subset = harmful + harmless
    source: OptimalFrontSource = hh.extras[EXTRA_KEY]
    exact = hh.scorer_sets[EXACT_SET]
    brute = candidate_scores(hh.spec, exact, subset, hh_brute_force)
    preferences = np.vstack([np.eye(2), np.random.default_rng(4).dirichlet(np.ones(2), 2000)])
    for prompt, scores in zip(subset, brute, strict=True):
        mine = candidate_scores(hh.spec, exact, [prompt], source.candidates_of)[0]
        np.testing.assert_allclose(support_per_prompt(scores, preferences),
                                   support_per_prompt(mine, preferences), atol=1e-12)
    front = source.front_for(subset)
    assert front is not None
    assert front.hypervolume == pytest.approx(
        compute_optimal_front(brute, np.zeros(2)).hypervolume, abs=1e-12)
    assert front.hypervolume == pytest.approx(hh_like_front(0.5)[2], abs=1e-12)


def test_hh_instance_carries_its_optimal_front(hh, tiny_cache):
    world = HHWorld()
    prompts = list(hh.data.eval_prompts["prompt"])
    p_harmful = np.mean([world.topic_of(p).harmful for p in prompts])
    assert p_harmful == pytest.approx(1 / 3)  # the splits are stratified
    assert hh.reference_hypervolumes[EXACT_SET] == pytest.approx(hh_like_front(p_harmful)[2],
                                                                 abs=1e-12)
    normalized = normalized_optimal_front(hh)
    front = hh.extras[EXTRA_KEY].front_for(prompts)
    np.testing.assert_allclose(normalized, front.reference_points, atol=1e-12)
    np.testing.assert_allclose(front.headroom(normalized), 1.0, atol=1e-9)
    # cached: a second load builds nothing; other settings, another component
    before = dict(cache.build_counts)
    HHTask(HHConfig()).load("tiny", SEED, tiny_cache)
    assert dict(cache.build_counts) == before
    source: OptimalFrontSource = hh.extras[EXTRA_KEY]
    other = OptimalFrontSource(source.root, source.spec, source.scorers, source.candidates_of,
                               source.response_limit, OptimalFrontSettings(n_reference_points=50))
    assert other.front_for(prompts[:3]) is not None
    assert source.front_for(["what is the weather like ?"]) is None


# --- runs: nothing beyond the optimal front ----------------------------------------------------

@dataclass(frozen=True)
class LSOptimalConfig:
    """The λ-optimal oracle has no hyper-parameters."""


class LSOptimalPolicy:
    """Answers each (prompt, λ) with the candidate of largest λ-weighted normalized exact score,
    ties broken toward the Pareto-optimal one, as :meth:`OptimalFront.scalarized_optimum`."""

    def __init__(self, context: FitContext) -> None:
        self.task = context.task
        self.source: OptimalFrontSource = context.task.extras[EXTRA_KEY]

    def generate(self, prompts: Sequence[str], preferences: np.ndarray, decoding: DecodingConfig,
                 seed: int) -> list[Generation]:
        answers = []
        for prompt, preference in zip(prompts, preferences, strict=True):
            texts = list(self.source.candidates_of(prompt))
            scores = candidate_scores(self.task.spec, self.task.scorer_sets[EXACT_SET], [prompt],
                                      lambda _p, texts=texts: texts)[0]
            best = texts[int(np.argmax(scores @ (preference + TIE_BREAK)))]
            answers.append(Generation(best, words(best)))
        return answers

    def save(self, directory: Path) -> None:
        (directory / "policy.json").write_text(json.dumps({"kind": "ls-optimal oracle"}))


class LSOptimalMethod:
    name = "ls-optimal-oracle"
    description = "test oracle: the λ-optimal candidate of the task's optimal front"
    config_class = LSOptimalConfig

    def __init__(self, config: LSOptimalConfig) -> None:
        self.config = config

    def fit(self, context: FitContext) -> LSOptimalPolicy:
        return LSOptimalPolicy(context)

    def load_policy(self, directory: Path, context: FitContext) -> LSOptimalPolicy:
        return LSOptimalPolicy(context)


@pytest.fixture(scope="module")
def hh_runs(tmp_path_factory, tiny_cache, hh) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("optimal-runs")
    overrides = {"base": [], "ls-optimal-oracle": [],
                 "panacea": ["method.train.steps=30", "method.train.batch_size=8"]}
    folders = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(tiny_cache))
        patch.setenv("CI", "true")
        # registered for these runs only: other tests see the registry as users do
        registry.methods.names()
        patch.setitem(registry.methods._entries, LSOptimalMethod.name, RegistryEntry(
            LSOptimalMethod.name, LSOptimalMethod, LSOptimalMethod.description))
        for method, extra in overrides.items():
            folder = root / method
            assert main(["run", "--method", method, "--task", "hh", "--seed", str(SEED),
                         "--output", str(folder), *SMALL_EVAL, *extra]) == 0
            folders[method] = folder
    return folders


@pytest.mark.parametrize("method", ["base", "panacea", "ls-optimal-oracle"])
def test_no_run_reaches_beyond_the_optimal_front(hh_runs, hh, method):
    metrics = json.loads((hh_runs[method] / "metrics.json").read_text())
    prompts = list(hh.data.eval_prompts["prompt"])[:metrics["n_prompts"]]
    front = hh.extras[EXTRA_KEY].front_for(prompts)
    _, points = read_front_csv(str(hh_runs[method] / "front.csv"), hh.spec.objective_names,
                               EXACT_SET)
    assert np.all(front.headroom(points) >= 1 - 1e-9)
    exact = metrics["metrics"][EXACT_SET]["metrics"]
    for name in ("gd", "igd", "igd_plus", "hypervolume_share"):
        entry = exact[name]
        assert isinstance(entry["value"], float), name
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"], name
    assert exact["hypervolume_share"]["value"] == pytest.approx(
        exact["hypervolume"]["value"] / front.hypervolume, rel=1e-12)
    assert exact["hypervolume_share"]["value"] <= 1 + 1e-9
    # metrics.json carries the front it measured against: the 40-prompt one, not the task's 48
    assert metrics["reference_hypervolumes"][EXACT_SET] == pytest.approx(front.hypervolume)
    np.testing.assert_allclose(metrics["reference_fronts"][EXACT_SET], front.reference_points)
    assert metrics["metrics"]["reward_model"]["metrics"]["hypervolume_share"]["value"] is None


def test_the_oracle_sits_on_the_front_and_its_share_is_the_closed_form(hh_runs, hh):
    """Every oracle point is on the optimal front (headroom 1, GD 0), yet its share is below 1:
    its five answers reach the two vertices only, and a finite front's hypervolume misses the
    triangle under the facet between them. hh, 40 prompts, closed form."""
    folder = hh_runs["ls-optimal-oracle"]
    metrics = json.loads((folder / "metrics.json").read_text())
    prompts = list(hh.data.eval_prompts["prompt"])[:metrics["n_prompts"]]
    p_harmful = float(np.mean([HHWorld().topic_of(p).harmful for p in prompts]))
    assert p_harmful == pytest.approx(0.2)
    a_x, b_y, volume = hh_like_front(p_harmful)
    _, points = read_front_csv(str(folder / "front.csv"), hh.spec.objective_names, EXACT_SET)
    front = hh.extras[EXTRA_KEY].front_for(prompts)
    np.testing.assert_allclose(front.headroom(points), 1.0, atol=1e-9)
    exact = metrics["metrics"][EXACT_SET]["metrics"]
    assert exact["gd"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert exact["hypervolume_share"]["value"] == pytest.approx(
        (a_x + (1 - a_x) * b_y) / volume, abs=1e-9)


# --- the metric and the plot ---------------------------------------------------------------------

def test_hypervolume_share_is_the_hypervolume_over_the_reference_volume():
    front = np.array([[0.9, 0.1], [0.6, 0.5], [0.2, 0.8]])
    scores = np.stack([front + 0.05, front - 0.05], axis=1)
    preferences = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    with_share = compute_metrics(scores, preferences, np.zeros(2),
                                 reference_front=np.array([[1.0, 0.0], [0.0, 1.0]]),
                                 reference_hypervolume=0.5, n_bootstrap=50)
    assert with_share["hypervolume"].value == pytest.approx(0.39, abs=1e-12)
    assert with_share["hypervolume_share"].value == pytest.approx(0.78, abs=1e-12)
    assert with_share["hypervolume_share"].ci_low == pytest.approx(
        with_share["hypervolume"].ci_low / 0.5)
    without = compute_metrics(scores, preferences, np.zeros(2), n_bootstrap=5)
    assert without["hypervolume_share"].value is None
    for bad in (0.0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="reference_hypervolume"):
            compute_metrics(scores, preferences, np.zeros(2), reference_hypervolume=bad)


def test_the_front_plot_draws_the_optimal_front(tmp_path):
    spec = TaskSpec(name="two", scale="tiny", objectives=(Objective("a", "a", (0.0, 1.0)),
                                                          Objective("b", "b", (0.0, 1.0))),
                    preference_grid=((1.0, 0.0), (0.0, 1.0)), reference_point=(0.0, 0.0),
                    base_model="", primary_scorer="exact")
    preferences, front = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.7, 0.2], [0.3, 0.6]])
    optimal = compute_optimal_front([np.eye(2)], np.zeros(2)).reference_points
    plot_front(spec, preferences, {"exact": front}, tmp_path / "plain.png")
    plot_front(spec, preferences, {"exact": front}, tmp_path / "optimal.png",
               optimal_fronts={"exact": optimal})
    drawn = (tmp_path / "optimal.png").read_bytes()
    assert drawn[:8] == b"\x89PNG\r\n\x1a\n" and drawn != (tmp_path / "plain.png").read_bytes()


def test_the_leaderboard_reports_the_share_with_the_hypervolumes_interval(hh_runs):
    from mobench.leaderboard.aggregate import build_leaderboards
    from mobench.leaderboard.collect import load_runs

    (board,) = build_leaderboards(load_runs([hh_runs["base"], hh_runs["panacea"]]),
                                  n_bootstrap=30)
    for row in board.rows:
        metrics = json.loads((Path(row.runs[0]) / "metrics.json").read_text())
        volume = metrics["reference_hypervolumes"][EXACT_SET]
        hv, share = row.metrics["hypervolume"], row.metrics["hypervolume_share"]
        assert share.value == pytest.approx(hv.value / volume, rel=1e-12)
        assert share.ci_low == pytest.approx(hv.ci_low / volume, rel=1e-9)
        assert share.ci_high == pytest.approx(hv.ci_high / volume, rel=1e-9)
