"""Best-of-N: the argmax of λ · (normalized scores) on fixed scored samples, and on the toy task
the λ-best of the reference policy's own N samples, all sampled tokens and reward calls counted in
the evaluation cost and none in training, chunked sampling, a saved policy that reloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mobench.cli import main
from mobench.core.cost import CostMeter, metering
from mobench.core.policy import Generation, derive_seed, generate_texts
from mobench.core.specs import DecodingConfig
from mobench.methods.best_of_n import BestOfNConfig, BestOfNPolicy, best_of_n_choice
from mobench.run.runner import load_run, load_trained_policy

SAMPLED = DecodingConfig(max_new_tokens=8)
PROMPTS = ["apple dog kite", "river tree sun", "igloo jam lemon"]


def test_the_choice_is_the_argmax_of_the_weighted_scores():
    scores = np.array([[[0.9, 0.1], [0.5, 0.6], [0.2, 0.95]],     # prompt 0: 3 samples, m = 2
                       [[0.3, 0.3], [0.6, 0.0], [0.0, 0.6]]])     # prompt 1
    # prompt 0 at (1, 0): 0.9, 0.5, 0.2 -> 0; at (0.5, 0.5): 0.5, 0.55, 0.575 -> 2;
    # at (0.2, 0.8): 0.26, 0.58, 0.80 -> 2; at (0, 1) -> 2
    picks = [best_of_n_choice(scores[:1], np.array([w])).item()
             for w in ([1.0, 0.0], [0.5, 0.5], [0.2, 0.8], [0.0, 1.0])]
    assert picks == [0, 2, 2, 2]
    # prompt 1 at (0.5, 0.5): a three-way tie at 0.3 goes to the first sample; (0.6, 0.4): 1
    np.testing.assert_array_equal(best_of_n_choice(scores, np.array([[0.8, 0.2], [0.5, 0.5]])),
                                  [0, 0])
    assert best_of_n_choice(scores[1:], np.array([[0.6, 0.4]])).item() == 1


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"need \(n, m\) preferences"):
        best_of_n_choice(np.zeros((2, 3, 2)), np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="finite scores"):
        best_of_n_choice(np.full((1, 2, 2), np.nan), np.full((1, 2), 0.5))
    with pytest.raises(ValueError, match="n_samples"):
        BestOfNConfig(n_samples=0)
    with pytest.raises(ValueError, match="samples_per_call"):
        BestOfNConfig(samples_per_call=-1)


def run(folder: Path, cache: Path, *extra: str) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(cache))
        patch.setenv("CI", "true")
        assert main(["run", "--method", "best-of-n", "--task", "toy", "--output", str(folder),
                     "eval.n_bootstrap=5", "method.n_samples=4", *extra]) == 0
    return folder


@pytest.fixture(scope="module")
def best_of_4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("runs") / "bon", tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def loaded(best_of_4, tmp_path_factory):  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(tmp_path_factory.mktemp("cache2")))
        spec, _ = load_run(best_of_4)
        return load_trained_policy(best_of_4, spec)


@pytest.fixture(scope="module")
def policy(loaded) -> BestOfNPolicy:  # type: ignore[no-untyped-def]
    assert isinstance(loaded[0], BestOfNPolicy)
    return loaded[0]


def best_by_hand(samples: list[Generation], preferences: np.ndarray) -> list[Generation]:
    """The toy's exact scores of N = 4 samples per prompt, normalized by its bounds, and each
    prompt's λ-best sample."""
    letters = [[c for c in s.text.lower() if c.isalpha()] for s in samples]
    vowels = np.array([sum(c in "aeiou" for c in w) / len(w) if w else 0.0 for w in letters])
    words = np.array([len(s.text.split()) for s in samples], dtype=float)
    normalized = np.stack([vowels / 0.6, (40.0 - words) / 40.0], axis=1).reshape(-1, 4, 2)
    utilities = np.einsum("nsm,nm->ns", normalized, preferences)
    return [samples[row * 4 + int(np.argmax(u))] for row, u in enumerate(utilities)]


def test_it_answers_with_the_best_of_its_own_samples(policy):
    preferences = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    answers = policy.generate(PROMPTS, preferences, SAMPLED, seed=7)
    texts = [policy.spec.format_prompt(p) for p in PROMPTS for _ in range(4)]
    samples = generate_texts(policy.model, policy.tokenizer, texts, SAMPLED, seed=7)
    assert len({s.text for s in samples}) > 3  # the samples differ, so choosing matters
    assert answers == best_by_hand(samples, preferences)


def test_every_sample_and_reward_call_is_counted_at_inference(policy, best_of_4):
    meter = CostMeter()
    with metering(meter):
        answers = policy.generate(PROMPTS, np.full((3, 2), 0.5), SAMPLED, seed=0)
    assert meter.reward_calls == 3 * 4 * 2  # prompts × N × objectives
    assert meter.generated_tokens > sum(a.n_tokens for a in answers)
    metrics = json.loads((best_of_4 / "metrics.json").read_text())
    cost, evaluation = metrics["cost"], metrics["evaluation_cost"]
    assert (cost["adapters_trained"], cost["trainable_parameters"], cost["reward_calls"],
            cost["generated_tokens"]) == (0, 0, 0, 0)
    cells = metrics["n_preferences"] * metrics["n_prompts"]
    assert evaluation["reward_calls"] == cells * 4 * 2
    assert evaluation["sampled_tokens"] > evaluation["generated_tokens"]
    assert metrics["run"]["variant"] == "n4"


def test_sampling_in_several_calls_keeps_every_sample_of_a_prompt_together(loaded):
    policy, task = loaded
    chunked = BestOfNPolicy(policy.method, policy.model, policy.tokenizer, policy.spec,
                            task.training_scorers, BestOfNConfig(n_samples=4, samples_per_call=5))
    preferences = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]])
    meter = CostMeter()
    with metering(meter):
        answers = chunked.generate(PROMPTS, preferences, SAMPLED, seed=1)
    assert meter.reward_calls == 24
    texts = [policy.spec.format_prompt(p) for p in PROMPTS for _ in range(4)]
    samples = [g for call, start in enumerate(range(0, 12, 5))
               for g in generate_texts(policy.model, policy.tokenizer, texts[start:start + 5],
                                       SAMPLED, derive_seed(1, call))]
    assert answers == best_by_hand(samples, preferences)
    whole = BestOfNPolicy(policy.method, policy.model, policy.tokenizer, policy.spec,
                          task.training_scorers, BestOfNConfig(n_samples=4, samples_per_call=12))
    assert whole.generate(PROMPTS, preferences, SAMPLED, seed=1) == \
        policy.generate(PROMPTS, preferences, SAMPLED, seed=1)  # one call: the default's samples
