"""A task and a method defined outside mobench, registered only through entry points.

``toy``: prompts are short word lists; objectives are the share of vowels in the response (more is
better) and its length in words (fewer is better), both scored exactly. The reference policy is a
tiny random GPT-2 with a locally trained tokenizer, so a whole run takes seconds.

``toy-steer``: a genuinely steerable policy without training: it adds ``strength * λ_vowels`` to the
logits of vowel-rich tokens and ``strength * λ_length`` to the end-of-sequence logit.

Fault injection for the resume tests: ``MOBENCH_TEST_KILL`` set to ``fit``, ``generate:N`` (kill
on the N-th generate call, after N-1 batches were written), ``score:N`` (kill on the N-th scorer
call, mid-batch), ``train:N`` (kill as the N-th training run of the engine starts: between two
experts, say) or ``finalize`` (kill after all records are written, before the metrics) makes
the process SIGKILL itself there; ``save:N`` kills it just after the engine wrote its N-th
checkpoint. ``MOBENCH_TEST_HANG`` takes the same points but makes the process stop there for good
(until killed from outside), after writing its pid (and its SLURM job id, in a SLURM job) to a
file named after the pid in the folder ``MOBENCH_TEST_HANG_DIR``: the sweep tests kill, cancel
or time out a run caught there.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobench import (
    DecodingConfig,
    FitContext,
    Generation,
    Objective,
    TaskData,
    TaskInstance,
    TaskSpec,
    generate_texts,
)

_calls: Counter[tuple[str, str]] = Counter()
VOWELS = set("aeiou")
WORDS = ("apple", "banana", "cherry", "dog", "egg", "fig", "grape", "house", "igloo", "jam",
         "kite", "lemon", "mango", "night", "orange", "pear", "queen", "river", "sun", "tree",
         "umbrella", "vine", "water", "xray", "yak", "zebra", "area", "idea", "audio")


def _maybe_kill(point: str) -> None:
    """SIGKILL this process when MOBENCH_TEST_KILL names ``point`` (with its call count); stop
    here for good when MOBENCH_TEST_HANG does."""
    if _reached("MOBENCH_TEST_KILL", point):
        os.kill(os.getpid(), signal.SIGKILL)
    if _reached("MOBENCH_TEST_HANG", point):
        job = os.environ.get("SLURM_JOB_ID", "")
        if os.environ.get("SLURM_ARRAY_JOB_ID"):  # scancel wants an array's task as A_T
            job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
        marker = Path(os.environ["MOBENCH_TEST_HANG_DIR"]) / str(os.getpid())
        marker.write_text(f"{os.getpid()} {job}\n")
        while True:
            time.sleep(1)


def _reached(variable: str, point: str) -> bool:
    """Whether the fault that ``variable`` names (``point`` or ``point:N``) is due now."""
    wanted = os.environ.get(variable, "")
    name, _, count = wanted.partition(":")
    if not wanted or name != point:
        return False
    _calls[variable, point] += 1
    return not count or _calls[variable, point] == int(count)


if os.environ.get("MOBENCH_TEST_KILL") == "finalize":
    import mobench.run.plots

    _plot_front = mobench.run.plots.plot_front

    def _killing_plot_front(*args, **kwargs):  # type: ignore[no-untyped-def]
        _maybe_kill("finalize")
        return _plot_front(*args, **kwargs)

    mobench.run.plots.plot_front = _killing_plot_front

if os.environ.get("MOBENCH_TEST_KILL", "").startswith("train:"):
    from mobench.engine.trainer import Trainer

    _train = Trainer.train

    def _killing_train(self):  # type: ignore[no-untyped-def]
        _maybe_kill("train")
        return _train(self)

    Trainer.train = _killing_train  # type: ignore[method-assign]

if any(os.environ.get(v, "").startswith("save:")
       for v in ("MOBENCH_TEST_KILL", "MOBENCH_TEST_HANG")):
    from mobench.engine.trainer import Trainer

    _save = Trainer._save

    def _stopping_save(self, backend, steps_done):  # type: ignore[no-untyped-def]
        _save(self, backend, steps_done)
        _maybe_kill("save")

    Trainer._save = _stopping_save  # type: ignore[method-assign]


def vowel_share(prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
    _maybe_kill("score")
    shares = []
    for text in responses:
        letters = [c for c in text.lower() if c.isalpha()]
        shares.append(sum(c in VOWELS for c in letters) / len(letters) if letters else 0.0)
    return np.asarray(shares)


def word_count(prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
    _maybe_kill("score")
    return np.asarray([len(text.split()) for text in responses], dtype=float)


@dataclass(frozen=True)
class ToyConfig:
    """Options of the toy task.

    Attributes:
        n_eval_prompts: how many eval prompts to make.
        grid_size: number of evenly spaced preference vectors.
    """

    n_eval_prompts: int = 6
    grid_size: int = 3


def _prompts(n: int, rng: np.random.Generator) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=3)) for _ in range(n)]


class ToyTask:
    """Toy task: vowel share against brevity, a tiny GPT-2 reference."""

    name = "toy"
    description = "toy task for tests: vowel share vs. brevity on a tiny random GPT-2"
    config_class = ToyConfig
    scales = ("tiny",)

    def __init__(self, config: ToyConfig) -> None:
        self.config = config

    def spec(self, scale: str) -> TaskSpec:
        n = self.config.grid_size
        grid = tuple((k / (n - 1), 1 - k / (n - 1)) for k in range(n))
        return TaskSpec(
            name=self.name, scale=scale,
            objectives=(Objective("vowels", "share of vowels among letters", (0.0, 0.6)),
                        Objective("length", "response length in words", (0.0, 40.0), "min")),
            preference_grid=grid, reference_point=(0.0, 0.0), base_model="built-in tiny gpt2",
            primary_scorer="exact", prompt_template="words: {prompt} ->")

    def load(self, scale: str, seed: int, cache_dir: Path) -> TaskInstance:
        import datasets

        from mobench.data.models import tiny_causal_lm, train_tokenizer

        rng = np.random.default_rng(seed)
        eval_prompts = _prompts(self.config.n_eval_prompts, rng)
        train = _prompts(8, rng)
        # the two objectives disagree: vowels prefer a long vowel-rich answer, length a short one
        vowels = datasets.Dataset.from_dict(
            {"prompt": train, "chosen": ["idea area audio"] * 8, "rejected": ["sun"] * 8})
        length = datasets.Dataset.from_dict(
            {"prompt": train, "chosen": ["sun"] * 8, "rejected": ["idea area audio"] * 8})
        data = TaskData(
            preference_pairs={"vowels": vowels, "length": length},
            eval_prompts=datasets.Dataset.from_dict(
                {"prompt_id": [f"toy-{i}" for i in range(len(eval_prompts))],
                 "prompt": eval_prompts}),
            train_prompts=datasets.Dataset.from_dict(
                {"prompt_id": [f"train-{i}" for i in range(8)], "prompt": train}))

        def reference():  # type: ignore[no-untyped-def]
            tokenizer = train_tokenizer([" ".join(WORDS)] * 4 + ["words: ->"], vocab_size=120)
            model = tiny_causal_lm("gpt2", len(tokenizer), n_layers=1, width=32, n_heads=2,
                                   max_positions=64, seed=seed,
                                   pad_token_id=tokenizer.pad_token_id,
                                   eos_token_id=tokenizer.eos_token_id)
            return model, tokenizer

        scorers = {"vowels": vowel_share, "length": word_count}
        return TaskInstance(spec=self.spec(scale), data=data, scorer_sets={"exact": scorers},
                            load_reference_policy=reference)


@dataclass(frozen=True)
class ToySteerConfig:
    """Options of toy-steer.

    Attributes:
        strength: logit bonus at full preference weight.
    """

    strength: float = 4.0


class ToySteerPolicy:
    """Steers a reference LM with preference-weighted logit bonuses, per row."""

    def __init__(self, model, tokenizer, spec: TaskSpec, strength: float) -> None:  # type: ignore[no-untyped-def]
        import torch

        self.model, self.tokenizer, self.spec, self.strength = model, tokenizer, spec, strength
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        vowelish = [sum(c in VOWELS for c in t) / max(1, len(t)) for t in vocab]
        self.vowel_bonus = torch.tensor(vowelish, dtype=torch.float32)

    def generate(self, prompts: Sequence[str], preferences: np.ndarray, decoding: DecodingConfig,
                 seed: int) -> list[Generation]:
        import torch
        from transformers import LogitsProcessor, LogitsProcessorList

        _maybe_kill("generate")
        weights = torch.tensor(np.asarray(preferences), dtype=torch.float32)
        policy = self

        class Bonus(LogitsProcessor):
            def __call__(self, input_ids, scores):  # type: ignore[no-untyped-def]
                bonus = policy.strength * weights[:, :1] * policy.vowel_bonus[None, :]
                scores = scores + bonus
                scores[:, policy.tokenizer.eos_token_id] += policy.strength * weights[:, 1]
                return scores

        texts = [self.spec.format_prompt(p) for p in prompts]
        return generate_texts(self.model, self.tokenizer, texts, decoding, seed,
                              logits_processor=LogitsProcessorList([Bonus()]))

    def save(self, directory: Path) -> None:
        (directory / "toy.json").write_text(json.dumps({"strength": self.strength}))


class ToySteerMethod:
    """Toy steering by preference-weighted logit bonuses (test plugin)."""

    name = "toy-steer"
    description = "toy steerable method for tests: preference-weighted logit bonuses"
    config_class = ToySteerConfig

    def __init__(self, config: ToySteerConfig) -> None:
        self.config = config

    def fit(self, context: FitContext) -> ToySteerPolicy:
        _maybe_kill("fit")
        model, tokenizer = context.task.load_reference_policy()
        return ToySteerPolicy(model, tokenizer, context.task.spec, self.config.strength)

    def load_policy(self, directory: Path, context: FitContext) -> ToySteerPolicy:
        strength = json.loads((directory / "toy.json").read_text())["strength"]
        model, tokenizer = context.task.load_reference_policy()
        return ToySteerPolicy(model, tokenizer, context.task.spec, float(strength))
