"""RiC: the reward-conditioned prompt format and its tokens, both λ mappings against hand-computed
values for 2, 3 and 10 objectives, the normalisation statistics (fitted, saved, reused at load),
MORS's targets and quantile selection on fixed batches, a saved policy that reloads and answers
with the same tokens, its cost record, and resume after a kill in the online round."""

from __future__ import annotations

import json
import signal
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PLUGIN_DIR, run_cli

from mobench.core import registry
from mobench.core.cost import CostMeter
from mobench.core.method import FitContext
from mobench.core.policy import generate_texts
from mobench.core.specs import DecodingConfig
from mobench.data.models import train_tokenizer
from mobench.engine import TrainingConfig
from mobench.methods.ric import RiCConfig, RiCMethod
from mobench.toolkit.reward_prompts import (
    SCORE_TOKEN_SCHEMES,
    conditioned_prompt,
    extend_vocabulary,
    format_score,
    represents,
    score_tag,
    score_text,
    score_tokens,
    score_values,
)
from mobench.toolkit.reward_targets import (
    ScoreStatistics,
    above_quantile,
    desired_scores,
    mors_targets,
)
from mobench.toolkit.scored_responses import task_responses

GREEDY = DecodingConfig(max_new_tokens=8, do_sample=False)
PROMPTS = ["apple dog kite", "river tree sun", "igloo jam lemon"]
# The toy model holds 64 positions: short generations leave room for the scores in the prompt.
SMALL = ["method.train.steps=10", "method.train.batch_size=4", "method.mors_samples=16",
         "method.mors_decoding.max_new_tokens=8", "eval.decoding.max_new_tokens=8",
         "eval.n_bootstrap=5"]
SMALL_CONFIG = RiCConfig(train=TrainingConfig(steps=10, batch_size=4), mors_samples=16,
                         mors_decoding=DecodingConfig(max_new_tokens=8))


def toy_task(cache: Path):  # type: ignore[no-untyped-def]
    task_class = registry.tasks.get("toy")
    return task_class(task_class.config_class()).load("tiny", 0, cache)


def statistics(low: list[float], high: list[float]) -> ScoreStatistics:
    m = len(low)
    return ScoreStatistics(mean=(0.0,) * m, std=(1.0,) * m, low=tuple(low), high=tuple(high),
                           clip=4.0)


def token_texts(tokenizer, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The tokens ``tokenizer`` splits ``text`` into."""
    return tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])


# --- the prompt format and its tokens -----------------------------------------------------------


def test_scores_are_written_with_one_decimal_after_the_prompt_before_the_assistant_turn(
        tmp_path):
    assert score_text([1.3, -0.5]) == "<rm1_score> 1.3 <rm2_score> -0.5"
    assert [format_score(v) for v in (0.04, -0.04, -1.26, 2.0)] == ["0.0", "0.0", "-1.3", "2.0"]
    spec = toy_task(tmp_path).spec
    assert spec.prompt_template == "words: {prompt} ->"
    assert conditioned_prompt(spec, "apple dog", [1.3, -0.5]) == \
        "words: apple dog <rm1_score> 1.3 <rm2_score> -0.5 ->"
    with pytest.raises(ValueError, match="3 scores for 2 objectives"):
        conditioned_prompt(spec, "apple", [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="at least one score"):
        score_text([])


def test_per_score_tokens_give_one_token_per_objective_and_score(tmp_path):
    model, tokenizer = toy_task(tmp_path).load_reference_policy()
    before = len(tokenizer)
    old_rows = model.get_input_embeddings().weight[:before].detach().clone()
    vocabulary = extend_vocabulary(model, tokenizer, n_objectives=2, clip=4.0, seed=0,
                                   scheme="per-score")
    values = score_values(4.0)
    assert len(values) == 81 and values[0] == "-4.0" and values[40] == "0.0"
    assert len(tokenizer) == before + 162 and len(vocabulary.token_ids) == 162

    tokens = partial(token_texts, tokenizer)
    # each (tag, score) is one token, and the text around it tokenizes as it did before
    plain = tokens("words: apple dog ->")
    assert tokens("words: apple dog <rm1_score> 1.3 <rm2_score> -0.5 ->") == \
        plain[:-3] + ["<rm1_score> 1.3", "<rm2_score> -0.5"] + plain[-3:]
    assert tokens("<rm1_score> -4.0 <rm2_score> 4.0") == ["<rm1_score> -4.0", "<rm2_score> 4.0"]
    weight = model.get_input_embeddings().weight.detach()
    assert weight.shape[0] == before + 162
    torch.testing.assert_close(weight[:before], old_rows)  # the old rows are untouched
    new_rows = weight[list(vocabulary.token_ids)]
    assert torch.cdist(new_rows, new_rows).add(torch.eye(162)).min() > 0  # every row its own
    # the draw is the seed's: the same seed, the same rows; the global generator is not moved
    again_model, again_tokenizer = toy_task(tmp_path).load_reference_policy()
    state = torch.random.get_rng_state()
    extend_vocabulary(again_model, again_tokenizer, n_objectives=2, clip=4.0, seed=0,
                      scheme="per-score")
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.testing.assert_close(again_model.get_input_embeddings().weight.detach(), weight,
                               rtol=0, atol=0)


def test_digit_tokens_write_a_score_as_its_objectives_integer_part_and_a_shared_digit(
        tmp_path):
    model, tokenizer = toy_task(tmp_path).load_reference_policy()
    before = len(tokenizer)
    old_rows = model.get_input_embeddings().weight[:before].detach().clone()
    vocabulary = extend_vocabulary(model, tokenizer, n_objectives=2, clip=4.0, seed=0,
                                   scheme="digits")
    # per objective the signed integer parts -4. ... -1., -0., 0. ... 4.; then ten digits
    assert score_tokens(2, 4.0, "digits")[:10] == [
        f"<rm1_score> {head}" for head in
        ("-4.", "-3.", "-2.", "-1.", "-0.", "0.", "1.", "2.", "3.", "4.")]
    assert len(tokenizer) == before + 30 and len(vocabulary.token_ids) == 30

    tokens = partial(token_texts, tokenizer)
    plain = tokens("words: apple dog ->")
    assert tokens("words: apple dog <rm1_score> 1.3 <rm2_score> -0.5 ->") == \
        plain[:-3] + ["<rm1_score> 1.", "3", "<rm2_score> -0.", "5"] + plain[-3:]
    assert tokens("<rm1_score> -4.0 <rm2_score> 4.0") == \
        ["<rm1_score> -4.", "0", "<rm2_score> 4.", "0"]
    # every score of both objectives is written, none with the unknown token
    for j in range(2):
        for value in score_values(4.0):
            assert represents(tokenizer, f"{score_tag(j)} {value}")
    weight = model.get_input_embeddings().weight.detach()
    torch.testing.assert_close(weight[:before], old_rows)
    new_rows = weight[list(vocabulary.token_ids)]
    assert torch.cdist(new_rows, new_rows).add(torch.eye(30)).min() > 0


def test_an_unknown_score_token_scheme_is_refused(tmp_path):
    model, tokenizer = toy_task(tmp_path).load_reference_policy()
    before = len(tokenizer)
    with pytest.raises(ValueError, match="unknown score token scheme 'bytes'"):
        extend_vocabulary(model, tokenizer, n_objectives=2, clip=4.0, seed=0,
                          scheme="bytes")  # type: ignore[arg-type]
    assert len(tokenizer) == before  # refused before anything was added
    with pytest.raises(ValueError, match="score_tokens must be one of per-score, digits"):
        RiCConfig(score_tokens="bytes")  # type: ignore[arg-type]


def test_a_tokenizer_that_represents_the_scores_is_left_alone():
    tokenizer = train_tokenizer(["<rm1_score> <rm2_score> 0 1 2 3 4 5 6 7 8 9 . - words"],
                                vocab_size=80)
    from mobench.data.models import tiny_causal_lm

    model = tiny_causal_lm("gpt2", len(tokenizer), n_layers=1, width=16, n_heads=2,
                           max_positions=32)
    before = len(tokenizer)
    for scheme in SCORE_TOKEN_SCHEMES:
        vocabulary = extend_vocabulary(model, tokenizer, n_objectives=2, clip=4.0, seed=0,
                                       scheme=scheme)
        assert vocabulary.token_ids == () and len(tokenizer) == before
    assert model.get_input_embeddings().weight.shape[0] == before


# --- λ -> desired scores ---------------------------------------------------------------------


@pytest.mark.parametrize(("preference", "linf", "l2"), [
    ((0.7, 0.3), (2.0, 0.2), (1.7, -0.2)),   # l2: 0.7/√0.58·4−2 = 1.68, 0.3/√0.58·2−1 = −0.21
    ((0.5, 0.5), (2.0, 1.0), (0.8, 0.4)),    # l2: 1/√2·4−2 = 0.83, 1/√2·2−1 = 0.41
    ((1.0, 0.0), (2.0, -1.0), (2.0, -1.0)),
    ((2.0, 2.0), (2.0, 1.0), (0.8, 0.4)),    # rows are rescaled to the simplex first
])
def test_both_mappings_for_two_objectives(preference, linf, l2):
    stats = statistics([-2.0, -1.0], [2.0, 1.0])
    np.testing.assert_allclose(desired_scores(np.array([preference]), stats, "linf")[0], linf)
    np.testing.assert_allclose(desired_scores(np.array([preference]), stats, "l2")[0], l2)


@pytest.mark.parametrize(("preference", "linf", "l2"), [
    # linf: the largest weight (0.5) gets the top; 0.2 -> min(0.6, 1)·2−1; 0.3 -> min(0.9, 1)·3
    # l2: ‖λ‖ = √0.38: 0.3244·2−1 = −0.35, 0.8111·4−2 = 1.24, 0.4867·3 = 1.46
    ((0.2, 0.5, 0.3), (0.2, 2.0, 2.7), (-0.4, 1.2, 1.5)),
    # the centre: linf asks for the top everywhere, l2 for 1/√3 of each range
    ((1 / 3, 1 / 3, 1 / 3), (1.0, 2.0, 3.0), (0.2, 0.3, 1.7)),
    ((0.0, 0.0, 1.0), (-1.0, -2.0, 3.0), (-1.0, -2.0, 3.0)),
])
def test_both_mappings_for_three_objectives(preference, linf, l2):
    stats = statistics([-1.0, -2.0, 0.0], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(desired_scores(np.array([preference]), stats, "linf")[0], linf)
    np.testing.assert_allclose(desired_scores(np.array([preference]), stats, "l2")[0], l2)


def test_both_mappings_for_ten_objectives():
    stats = statistics([-1.0] * 10, [1.0] * 10)
    skewed = np.array([[0.4, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.0, 0.0]])
    # linf: 10·λ = 4, 2, 1, 1, 0.5 (x4), 0 (x2), capped at 1, times the range 2, minus 1
    np.testing.assert_allclose(desired_scores(skewed, stats, "linf")[0],
                               [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0, -1.0])
    # l2: ‖λ‖ = √0.23 = 0.4796: 0.834·2−1 = 0.67, 0.417 -> −0.17, 0.2085 -> −0.58, 0.104 -> −0.79
    np.testing.assert_allclose(desired_scores(skewed, stats, "l2")[0],
                               [0.7, -0.2, -0.6, -0.6, -0.8, -0.8, -0.8, -0.8, -1.0, -1.0])
    centre = np.full((1, 10), 0.1)
    np.testing.assert_allclose(desired_scores(centre, stats, "linf")[0], [1.0] * 10)
    np.testing.assert_allclose(desired_scores(centre, stats, "l2")[0], [-0.4] * 10)  # 2/√10 − 1


def test_the_mappings_refuse_bad_preferences():
    stats = statistics([-1.0, -1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        desired_scores(np.array([[1.2, -0.2]]), stats, "linf")
    with pytest.raises(ValueError, match="positive weight"):
        desired_scores(np.array([[0.0, 0.0]]), stats, "l2")
    with pytest.raises(ValueError, match=r"expected \(n, 2\)"):
        desired_scores(np.array([[0.2, 0.3, 0.5]]), stats, "linf")
    with pytest.raises(ValueError, match="unknown mapping"):
        desired_scores(np.array([[0.5, 0.5]]), stats, "l1")  # type: ignore[arg-type]


# --- normalisation statistics ------------------------------------------------------------------


def test_statistics_z_normalise_clip_and_round_the_training_scores():
    raw = np.array([[0.0, 10.0], [2.0, 20.0], [4.0, 30.0], [6.0, 60.0]])
    stats = ScoreStatistics.fit(raw, clip=4.0)
    # population std: √5 = 2.2361 and √350 = 18.708
    np.testing.assert_allclose(stats.mean, [3.0, 30.0])
    np.testing.assert_allclose(stats.std, [5 ** 0.5, 350 ** 0.5])
    np.testing.assert_allclose(stats.normalise(raw),
                               [[-1.3, -1.1], [-0.4, -0.5], [0.4, 0.0], [1.3, 1.6]])
    assert stats.low == (-1.3, -1.1) and stats.high == (1.3, 1.6)
    np.testing.assert_allclose(stats.normalise(np.array([[1000.0, -1000.0]])), [[4.0, -4.0]])
    assert ScoreStatistics.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats
    with pytest.raises(ValueError, match="all equal"):
        ScoreStatistics.fit(np.array([[1.0, 2.0], [1.0, 3.0]]), clip=4.0)
    with pytest.raises(ValueError, match="NaN"):
        ScoreStatistics.fit(np.array([[np.nan, 2.0], [1.0, 3.0]]), clip=4.0)


# --- MORS --------------------------------------------------------------------------------------


def test_mors_keeps_exactly_the_samples_reaching_the_quantile_on_some_objective():
    scores = np.array([[0, 9], [1, 0], [2, 8], [3, 1], [4, 7], [5, 2], [6, 6], [7, 3], [8, 5],
                       [9, 4]], dtype=float)
    # the 0.7 quantile of 0..9 is 6.3 in both columns: column 0 keeps rows 7-9, column 1 rows
    # 0, 2 and 4 (scores 9, 8, 7); row 6 (6, 6) is below both thresholds
    np.testing.assert_array_equal(np.flatnonzero(above_quantile(scores, 0.7)), [0, 2, 4, 7, 8, 9])
    # a score equal to its threshold is kept: the median of 1, 2, 3 is 2
    np.testing.assert_array_equal(above_quantile(np.array([[1.0], [2.0], [3.0]]), 0.5),
                                  [False, True, True])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        above_quantile(scores, 1.5)


def test_mors_targets_put_every_objective_at_its_top_but_one():
    stats = statistics([-2.0, -1.0, 0.0], [2.0, 1.0, 3.0])
    targets = mors_targets(3000, stats, np.random.default_rng(0))
    high = np.array(stats.high)
    below_top = targets < high
    assert (below_top.sum(axis=1) <= 1).all()
    assert ((targets >= np.array(stats.low)) & (targets <= high)).all()
    np.testing.assert_allclose(targets, np.round(targets, 1))
    # which objective is random is uniform; its share of the range is the minimum of 3 uniform
    # draws (the official code's argmin), whose mean is 1/4
    kept = below_top.argmax(axis=1)[below_top.any(axis=1)]
    np.testing.assert_allclose(np.bincount(kept, minlength=3) / 3000, [1 / 3] * 3, atol=0.03)
    rows = np.flatnonzero(below_top.any(axis=1))
    low, span = np.array(stats.low), high - np.array(stats.low)
    shares = (targets[rows, kept] - low[kept]) / span[kept]
    assert float(shares.mean()) == pytest.approx(0.25, abs=0.02)
    np.testing.assert_array_equal(targets, mors_targets(3000, stats, np.random.default_rng(0)))


# --- training data and config --------------------------------------------------------------------


def test_the_offline_data_is_every_distinct_training_response(tmp_path):
    rows = task_responses(toy_task(tmp_path), limit=100, seed=0)
    # the toy's 8 prompts, each with the same chosen/rejected pair in both objectives' data
    assert len(rows) == 16 and len(set(rows)) == 16
    assert {r for _, r in rows} == {"idea area audio", "sun"}
    sample = task_responses(toy_task(tmp_path), limit=5, seed=0)
    assert len(sample) == 5 and set(sample) <= set(rows)
    assert sample == task_responses(toy_task(tmp_path), limit=5, seed=0)


def test_the_step_budget_is_split_between_the_offline_stage_and_the_rounds():
    assert RiCConfig().step_plan() == (320, [80])
    assert RiCConfig(online_rounds=2).step_plan() == (320, [40, 40])
    assert RiCConfig(online_rounds=0).step_plan() == (400, [])
    assert RiCConfig(train=TrainingConfig(steps=10), online_share=0.25).step_plan() == (8, [2])


@pytest.mark.parametrize(("fields", "message"), [
    ({"train": TrainingConfig(signal="dpo")}, "train.signal must be auto or sft"),
    ({"mapping": "l1"}, "mapping must be one of"),
    ({"online_share": 1.0}, r"online_share must lie in \[0, 1\)"),
    ({"train": TrainingConfig(steps=2), "online_rounds": 3}, "leaves no step"),
    ({"mors_quantile": -0.1}, "mors_quantile"),
    ({"mors_samples": 0}, "mors_samples must be at least 1"),
    ({"score_clip": 0.0}, "score_clip must be positive"),
])
def test_bad_configs_fail_on_construction(fields, message):
    with pytest.raises(ValueError, match=message):
        RiCConfig(**fields)


# --- a fitted policy -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    cache = tmp_path_factory.mktemp("cache")
    task = toy_task(cache)
    work = tmp_path_factory.mktemp("work")
    context = FitContext(task=task, seed=0, work_dir=work, meter=CostMeter(), cache_dir=cache)
    method = RiCMethod(SMALL_CONFIG)
    policy = method.fit(context)
    saved = tmp_path_factory.mktemp("policy")
    policy.save(saved)
    return method, context, policy, saved


def test_a_saved_policy_reloads_and_answers_with_the_same_tokens(fitted):
    method, context, policy, saved = fitted
    loaded = method.load_policy(saved, context)
    preferences = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    texts = policy.prompts_at(PROMPTS, preferences)
    assert loaded.prompts_at(PROMPTS, preferences) == texts
    assert len(loaded.tokenizer) == len(policy.tokenizer)
    fresh = policy.tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(**fresh).logits, policy.model(**fresh).logits)
    assert loaded.generate(PROMPTS, preferences, GREEDY, seed=0) == \
        policy.generate(PROMPTS, preferences, GREEDY, seed=0)
    sampled = DecodingConfig(max_new_tokens=8)
    assert loaded.generate(PROMPTS, preferences, sampled, seed=3) == \
        policy.generate(PROMPTS, preferences, sampled, seed=3)
    # one batched call answers as each row alone would
    alone = [generate_texts(policy.model, policy.tokenizer, [t], GREEDY, seed=0)[0].text
             for t in texts]
    assert [g.text for g in policy.generate(PROMPTS, preferences, GREEDY, seed=0)] == alone


def test_the_normalisation_statistics_are_saved_and_reused_at_load(fitted):
    method, context, policy, saved = fitted
    offline = json.loads((context.work_dir / "offline-scores.json").read_text())
    fitted_stats = ScoreStatistics.fit(np.array(offline["rows"]["scores"]), clip=4.0)
    written = json.loads((saved / "ric.json").read_text())
    assert ScoreStatistics.from_dict(written["statistics"]) == fitted_stats == policy.statistics
    assert written["mapping"] == "linf" and written["format"][0] == "<rm1_score> {score:.1f}"
    # the toy's rows: half "idea area audio" (10 vowels of 13 letters, 3 words), half "sun"
    # (1 of 3, 1 word)
    vowels = (10 / 13, 1 / 3)
    np.testing.assert_allclose(fitted_stats.mean, [sum(vowels) / 2, 2.0])
    np.testing.assert_allclose(fitted_stats.std, [(vowels[0] - vowels[1]) / 2, 1.0])
    assert fitted_stats.low == (-1.0, -1.0) and fitted_stats.high == (1.0, 1.0)
    # at load the saved statistics, not the task's data, shape the prompts
    tampered = dict(written, statistics=dict(written["statistics"], low=[-0.5, -0.5]))
    (saved / "ric.json").write_text(json.dumps(tampered))
    try:
        loaded = method.load_policy(saved, context)
        assert loaded.prompts_at(["apple"], np.array([[1.0, 0.0]])) == \
            ["words: apple <rm1_score> 1.0 <rm2_score> -0.5 ->"]
    finally:
        (saved / "ric.json").write_text(json.dumps(written))


def test_fitting_leaves_the_tasks_tokenizer_and_reference_policy_alone(fitted):
    _, context, policy, _ = fitted
    model, tokenizer = context.task.load_reference_policy()
    assert len(policy.tokenizer) == len(tokenizer) + 2 * 10 + 10  # the digits scheme's tokens
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)


def test_the_cost_counts_one_adapter_the_rounds_tokens_and_every_reward_call(fitted):
    _, context, policy, _ = fitted
    counts = context.meter.snapshot()["counts"]
    assert counts["adapters_trained"] == 1 and counts["models_trained"] == 0
    # 16 offline rows and 16 round samples, each scored on 2 objectives
    assert counts["reward_calls"] == (16 + 16) * 2
    assert 0 < counts["generated_tokens"] <= 16 * 8  # 16 samples of at most 8 tokens
    lora = sum(p.numel() for n, p in policy.model.named_parameters() if "lora_" in n)
    assert counts["trainable_parameters"] == lora + 30 * 32  # the new rows of a width-32 model


# --- runs: variant, resume ------------------------------------------------------------------------


def run_args(folder: Path, *extra: str) -> list[str]:
    return ["run", "--method", "ric", "--task", "toy", "--output", str(folder), *SMALL, *extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    folder = tmp_path_factory.mktemp("reference") / "run"
    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR), CI="true",
               MOBENCH_CACHE=str(tmp_path_factory.mktemp("cache")))
    env.pop("MOBENCH_TEST_KILL", None)
    result = run_cli(run_args(folder), env, cwd=folder.parent)
    assert result.returncode == 0, result.stderr
    return folder


def test_a_run_names_its_mapping_and_rounds(uninterrupted):
    metrics = json.loads((uninterrupted / "metrics.json").read_text())
    assert metrics["run"]["method"] == "ric" and metrics["run"]["variant"] == "linf-mors1-digits"
    assert metrics["cost"]["reward_calls"] == (16 + 16) * 2


# score:3 is the first objective's scoring of the round's samples (after they were generated,
# before they were saved); train:2 is the round's SFT starting (its samples saved).
@pytest.mark.parametrize("kill_at", ["score:3", "train:2"])
def test_a_run_killed_in_the_online_round_resumes_to_the_uninterrupted_cost_and_metrics(
        uninterrupted, tmp_path, cli_env, kill_at):
    folder = tmp_path / "run"
    killed = run_cli(run_args(folder), {**cli_env, "MOBENCH_TEST_KILL": kill_at}, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    work = folder / "work"
    assert (work / "round-1-samples.json").exists() == (kill_at == "train:2")
    resumed = run_cli([*run_args(folder), "--resume"], cli_env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    got = json.loads((folder / "metrics.json").read_text())
    want = json.loads((uninterrupted / "metrics.json").read_text())
    counters = ("adapters_trained", "trainable_parameters", "generated_tokens", "reward_calls")
    assert {k: got["cost"][k] for k in counters} == {k: want["cost"][k] for k in counters}
    assert got["metrics"] == want["metrics"]
    assert (work / "round-1-samples.json").read_text() == \
        (uninterrupted / "work" / "round-1-samples.json").read_text()
