"""What Panacea's training does to the front, on a two-objective world whose optimum is known.

``fruit`` is the share of fruit words in the answer, ``animal`` the share of animal words, so the
two conflict completely and each single-objective optimum is known exactly: an answer made only
of that objective's words (share 1). The pairs pit an all-fruit answer against an all-animal one.

Covered: a one-hot λ after training moves the front's end toward that objective's optimum (and
away from the other's), for SFT, DPO and PPO under LS and Tche; and the LS and Tche DPO
losses of a Panacea model on a fixed batch with mixed per-row λ equal values computed by hand from
per-λ forwards.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tempfile
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from mobench.adapters import SVDLoRAConfig, add_svd_lora, set_preferences
from mobench.core.method import FitContext
from mobench.core.specs import DecodingConfig, Objective, TaskSpec
from mobench.core.task import TaskData, TaskInstance
from mobench.data.models import tiny_causal_lm, train_tokenizer
from mobench.engine import (
    DPOConfig,
    LoopConfig,
    OptimConfig,
    PPOConfig,
    SFTConfig,
    TrainingConfig,
    train_sft,
)
from mobench.engine.data import collate
from mobench.engine.dpo import PairBatch, dpo_loss
from mobench.engine.logprobs import sequence_logprobs, token_logprobs
from mobench.methods.panacea import PanaceaConfig, PanaceaMethod, PanaceaPolicy

FRUITS = ("apple", "pear", "plum", "fig", "lime")
ANIMALS = ("dog", "cat", "owl", "fox", "yak")
TOPICS = ("tell", "me", "about", "food", "pets", "please", "now")
TEMPLATE = "user : {prompt} assistant :"
ANSWER_WORDS = 3
SEED = 0


def share(words: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def scorer(prompts, responses):  # type: ignore[no-untyped-def]
        out = []
        for text in responses:
            tokens = text.split()
            out.append(sum(t in words for t in tokens) / len(tokens) if tokens else 0.0)
        return np.asarray(out)
    return scorer


def prompts(n: int, rng: np.random.Generator) -> list[str]:
    return [" ".join(rng.choice(TOPICS, 3)) for _ in range(n)]


def answer(words: tuple[str, ...], rng: np.random.Generator) -> str:
    return " ".join(rng.choice(words, ANSWER_WORDS))


def mixed_reference_policy(train: list[str], rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """A tiny GPT-2 SFT-trained on answers that mix fruit and animal words at random, so the
    reference answers in the task's format and sits midway between the two optima."""
    vocabulary = " ".join(FRUITS + ANIMALS + TOPICS + ("user", ":", "assistant"))
    tokenizer = train_tokenizer([vocabulary] * 8, vocab_size=120)
    model = tiny_causal_lm("gpt2", len(tokenizer), n_layers=2, width=32, n_heads=2,
                           max_positions=64, seed=SEED, pad_token_id=tokenizer.pad_token_id,
                           eos_token_id=tokenizer.eos_token_id)
    corpus = datasets.Dataset.from_dict(
        {"prompt": train, "response": [answer(FRUITS + ANIMALS, rng) for _ in train]})
    with tempfile.TemporaryDirectory() as work:
        train_sft(model, tokenizer, {"mixed": corpus}, ["mixed"], work_dir=Path(work),
                  format_prompt=lambda p: TEMPLATE.replace("{prompt}", p),
                  optim=OptimConfig(learning_rate=1e-2, warmup_steps=0),
                  loop=LoopConfig(steps=300, batch_size=16, seed=SEED))
    model.eval()

    def reference():  # type: ignore[no-untyped-def]
        return copy.deepcopy(model), tokenizer
    return reference


def conflict_task() -> TaskInstance:
    rng = np.random.default_rng(SEED)
    train = prompts(48, rng)
    fruit = [answer(FRUITS, rng) for _ in train]
    animal = [answer(ANIMALS, rng) for _ in train]
    pairs = {"fruit": datasets.Dataset.from_dict(
                 {"prompt": train, "chosen": fruit, "rejected": animal}),
             "animal": datasets.Dataset.from_dict(
                 {"prompt": train, "chosen": animal, "rejected": fruit})}
    evaluation = prompts(16, rng)
    data = TaskData(
        preference_pairs=pairs,
        eval_prompts=datasets.Dataset.from_dict(
            {"prompt_id": [f"e{i}" for i in range(16)], "prompt": evaluation}),
        train_prompts=datasets.Dataset.from_dict(
            {"prompt_id": [f"t{i}" for i in range(len(train))], "prompt": train}))
    spec = TaskSpec(
        name="fruit-vs-animal", scale="tiny",
        objectives=(Objective("fruit", "share of fruit words", (0.0, 1.0)),
                    Objective("animal", "share of animal words", (0.0, 1.0))),
        preference_grid=((1.0, 0.0), (0.5, 0.5), (0.0, 1.0)), reference_point=(0.0, 0.0),
        base_model="tiny GPT-2 SFT-trained on mixed answers", primary_scorer="exact",
        prompt_template=TEMPLATE)
    reference = mixed_reference_policy(train, rng)
    scorers = {"fruit": share(FRUITS), "animal": share(ANIMALS)}
    return TaskInstance(spec=spec, data=data, scorer_sets={"exact": scorers},
                        load_reference_policy=reference)


SAMPLING = DecodingConfig(max_new_tokens=ANSWER_WORDS + 2, do_sample=True, temperature=1.0,
                          top_p=1.0)
LINE = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])


def front_scores(policy: PanaceaPolicy, task: TaskInstance, grid: np.ndarray) -> np.ndarray:
    """Mean (fruit, animal) share of sampled answers at each row of ``grid``, 4 per prompt."""
    questions = list(task.data.eval_prompts["prompt"]) * 4
    rows = np.repeat(grid, len(questions), axis=0)
    answers = [g.text for g in policy.generate(questions * len(grid), rows, SAMPLING, seed=1)]
    scores = np.stack([task.scorer_sets["exact"][name](questions * len(grid), answers)
                       for name in ("fruit", "animal")], axis=1)
    return scores.reshape(len(grid), len(questions), 2).mean(axis=1)


def base_scores(policy: PanaceaPolicy, task: TaskInstance) -> np.ndarray:
    with policy.model.disable_adapter():
        return front_scores(policy, task, LINE[:1])[0]


def fit(task: TaskInstance, tmp_path: Path, **training) -> PanaceaPolicy:  # type: ignore[no-untyped-def]
    settings = dict(steps=150, batch_size=8,
                    optim=OptimConfig(learning_rate=1e-2, warmup_steps=2, max_grad_norm=1.0))
    settings.update(training)
    method = PanaceaMethod(PanaceaConfig(train=TrainingConfig(**settings), rank=4,
                                         vertex_probability=0.3))
    return method.fit(FitContext(task=task, seed=SEED, work_dir=tmp_path))


@pytest.fixture(scope="module")
def task() -> TaskInstance:
    return conflict_task()


PPO = PPOConfig(rollout_prompts=16, ppo_epochs=2, max_new_tokens=ANSWER_WORDS + 2, kl_coef=0.01,
                reward_scale=1.0)


@pytest.mark.parametrize("signal, aggregation", [
    ("dpo", "ls"), ("dpo", "tche"), ("sft", "ls"), ("sft", "tche"), ("ppo", "ls"), ("ppo", "tche")])
def test_one_hot_preferences_move_toward_each_single_objective_optimum(task, tmp_path, signal,
                                                                       aggregation):
    # Steps per signal: SFT 150; DPO 300; PPO 320 (80 rollouts of 16 answers, 2 epochs of 2
    # minibatches). DPO's 150 and PPO's 160 sufficed on the kernels before mobench pinned them to
    # their AVX2 paths; on the pinned kernels the animal end reached only 0.72 (dpo-ls), 0.57
    # (dpo-tche) and 0.73 (ppo-tche) against the 0.74 this test asks, so those budgets sat at
    # the edge of the claim. Measured at the new budgets: animal end 0.87 (dpo-ls), 0.97
    # (dpo-tche), 0.756 (ppo-tche). SFT keeps 150, which passes on the pinned kernels (at 300
    # sft-ls's animal end fell to 0.69: its ends move with the budget, not monotonically).
    settings: dict[str, object] = dict(steps={"sft": 150, "dpo": 300}.get(signal, 320))
    if signal == "ppo":
        settings["optim"] = OptimConfig(learning_rate=3e-3, warmup_steps=2, max_grad_norm=1.0)
    policy = fit(task, tmp_path, signal=signal,
                 dpo=DPOConfig(beta=0.5, aggregation=aggregation, max_length=32),
                 sft=SFTConfig(aggregation=aggregation, max_length=32),
                 ppo=dataclasses.replace(PPO, aggregation=aggregation), **settings)
    base = base_scores(policy, task)
    fruit_end, middle, animal_end = front_scores(policy, task, LINE)
    # the reference mixes both kinds of words; the optimum of each objective alone is a share of 1
    assert 0.3 < base[0] < 0.7 and 0.3 < base[1] < 0.7
    # each one-hot end closes at least half of the reference's gap to its objective's optimum
    assert 1.0 - fruit_end[0] < (1.0 - base[0]) / 2
    assert 1.0 - animal_end[1] < (1.0 - base[1]) / 2
    # and gives up the other objective, with the middle of the front in between: a real trade-off
    assert fruit_end[1] < base[1] and animal_end[0] < base[0]
    assert fruit_end[0] > middle[0] > animal_end[0] and animal_end[1] > middle[1] > fruit_end[1]


# ------------------------------------------------------------------ LS and Tche on a fixed batch

def adapted_model(task: TaskInstance):  # type: ignore[no-untyped-def]
    """A Panacea model whose adapter is random but non-zero, so λ changes its outputs."""
    model, tokenizer = task.load_reference_policy()
    peft_model = add_svd_lora(model, SVDLoRAConfig(n_preferences=2, rank=4, alpha=8.0))
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for parameter in peft_model.parameters():
            if parameter.requires_grad:
                parameter.copy_(0.5 * torch.randn(parameter.shape, generator=generator))
    return peft_model.eval(), tokenizer  # no dropout: two forwards of one row must agree


def fixed_batch(task: TaskInstance, tokenizer):  # type: ignore[no-untyped-def]
    """Four fruit-vs-animal pairs with two λ groups and partial labels, and their token ids."""
    rows = [task.data.preference_pairs["fruit"][i] for i in range(4)]
    prompt_ids = [tokenizer(TEMPLATE.replace("{prompt}", r["prompt"]))["input_ids"] for r in rows]
    a_ids = [tokenizer(" " + r["chosen"])["input_ids"] for r in rows]
    b_ids = [tokenizer(" " + r["rejected"])["input_ids"] for r in rows]
    tokens = collate(prompt_ids + prompt_ids, a_ids + b_ids, tokenizer.pad_token_id)
    # rows 0 and 1 are labelled for both objectives (opposite winners), row 2 for fruit only,
    # row 3 for animal only
    labels = torch.tensor([[1, -1], [1, -1], [1, 0], [0, -1]])
    preferences = [[0.7, 0.3], [0.7, 0.3], [0.2, 0.8], [0.2, 0.8]]
    batch = PairBatch(tokens, labels, torch.tensor(preferences))
    return batch, preferences, list(zip(prompt_ids, a_ids, b_ids, strict=True))


def hand_margins(model, tokenizer, ids, preferences, beta: float) -> list[float]:  # type: ignore[no-untyped-def]
    """β·h per pair, each pair in a forward of its own with its λ set for the whole batch."""
    margins = []
    for (prompt, a, b), preference in zip(ids, preferences, strict=True):
        pair = collate([prompt, prompt], [a, b], tokenizer.pad_token_id)
        set_preferences(model, preference)
        with torch.no_grad():
            policy = sequence_logprobs(model, pair)
            with model.disable_adapter():
                reference = sequence_logprobs(model, pair)
        ratio = policy - reference
        margins.append(beta * float(ratio[0] - ratio[1]))
    set_preferences(model, None)
    return margins


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


@pytest.mark.parametrize("aggregation", ["ls", "tche"])
def test_panacea_dpo_loss_matches_hand_computed_values(task, aggregation):
    model, tokenizer = adapted_model(task)
    batch, preferences, ids = fixed_batch(task, tokenizer)
    beta = 0.5
    config = DPOConfig(beta=beta, aggregation=aggregation)
    set_preferences(model, torch.cat([batch.preferences, batch.preferences]))
    with torch.no_grad():
        policy, _ = token_logprobs(model, batch.tokens)
        with model.disable_adapter():
            reference, _ = token_logprobs(model, batch.tokens)
    set_preferences(model, None)
    loss, _ = dpo_loss(policy, reference, batch, config, ("fruit", "animal"))

    margins = hand_margins(model, tokenizer, ids, preferences, beta)
    labels = batch.labels.tolist()
    terms = [[log_sigmoid(label * m) if label else None for label in row]
             for row, m in zip(labels, margins, strict=True)]
    if aggregation == "ls":
        # Σ_i (1/n_i) Σ_{rows of i} λ_{row,i} · term
        expected = 0.0
        for i in range(2):
            rows = [r for r in range(4) if terms[r][i] is not None]
            expected += sum(preferences[r][i] * terms[r][i] for r in rows) / len(rows)
    else:
        # mean over the two λ groups of min_i λ_i · J_{i,group}
        groups = {(0.7, 0.3): [0, 1], (0.2, 0.8): [2, 3]}
        values = []
        for weights, rows in groups.items():
            per_objective = []
            for i in range(2):
                own = [terms[r][i] for r in rows if terms[r][i] is not None]
                per_objective.append(weights[i] * sum(own) / len(own))
            values.append(min(per_objective))
        expected = sum(values) / len(values)
    assert float(loss) == pytest.approx(-expected, rel=1e-5)
    assert all(abs(m) > 1e-3 for m in margins)  # the adapter really moved the margins
