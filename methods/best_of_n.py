"""``best-of-n``: sample N answers from the reference policy, keep the λ-best by reward model.

Training-free: for each prompt, N responses from the task's reference policy (all of a batch's
prompts × N in one generate call, or in calls of ``samples_per_call``), each scored by every
objective's training scorer (the reward models at tiny scale), the raw scores normalized by the
task's fixed bounds (``spec.normalize``), and the response maximizing λ · (normalized scores)
kept (the first on ties). It is the floor a trained method should clear on the reward models'
scores, and it shows reward over-optimization: selection pushes the reward-model front up
whether or not the exact scores follow.

Cost: nothing trained; every sampled token and every reward call happens at inference, inside
``generate``, so the harness counts them in the evaluation cost (N times the tokens of one
answer, N reward calls per objective and answer).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mobench.core.cost import CountingScorer
from mobench.core.method import FitContext
from mobench.core.policy import Generation, derive_seed, generate_texts
from mobench.core.specs import DecodingConfig, TaskSpec
from mobench.toolkit.policies import POLICY_FILE, read_policy_file

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from mobench.core.task import Scorer


@dataclass(frozen=True)
class BestOfNConfig:
    """Hyper-parameters of Best-of-N.

    Attributes:
        n_samples: N, responses sampled per prompt (16 by default).
        samples_per_call: at most this many sequences per generate call (0: a batch's prompts
            × N in one call); a memory bound for large models, each call seeded on its own.
    """

    n_samples: int = 16
    samples_per_call: int = 0

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {self.n_samples}")
        if self.samples_per_call < 0:
            raise ValueError(f"samples_per_call must be 0 (one call) or positive, "
                             f"got {self.samples_per_call}")


def best_of_n_choice(normalized_scores: np.ndarray, preferences: np.ndarray) -> np.ndarray:
    """Index of the sample maximizing λ · scores per prompt (the first on ties): (n, N, m) scores
    and (n, m) preferences -> (n,)."""
    scores = np.asarray(normalized_scores, dtype=np.float64)
    weights = np.asarray(preferences, dtype=np.float64)
    if scores.ndim != 3 or weights.shape != (scores.shape[0], scores.shape[2]):
        raise ValueError(f"scores of shape (n, N, m) need (n, m) preferences; got "
                         f"{scores.shape} and {weights.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("every sample needs finite scores to be compared")
    return np.argmax(np.einsum("nsm,nm->ns", scores, weights), axis=1)


class BestOfNPolicy:
    """The reference policy answering with the λ-best of N samples by reward-model score."""

    kind = "best-of-n"

    def __init__(self, method: str, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 spec: TaskSpec, scorers: Mapping[str, Scorer], config: BestOfNConfig) -> None:
        missing = [o for o in spec.objective_names if o not in scorers]
        if missing:
            raise ValueError(f"no scorer for objectives {missing}")
        self.method = method
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        # counted in the active meters: the evaluation's, as the calls happen inside generate
        self.scorers = {o: CountingScorer(scorers[o]) for o in spec.objective_names}
        self.config = config

    def generate(self, prompts: Sequence[str], preferences: np.ndarray, decoding: DecodingConfig,
                 seed: int) -> list[Generation]:
        preferences = np.asarray(preferences, dtype=np.float64)
        if len(prompts) != len(preferences):
            raise ValueError(f"{len(prompts)} prompts but {len(preferences)} preference rows")
        n = self.config.n_samples
        repeated = [p for p in prompts for _ in range(n)]  # prompt r's samples: rows r*N .. +N
        samples = self._sample([self.spec.format_prompt(p) for p in repeated], decoding, seed)
        responses = [g.text for g in samples]
        raw = np.stack([np.asarray(self.scorers[o](repeated, responses), dtype=np.float64)
                        for o in self.spec.objective_names], axis=1)
        normalized = self.spec.normalize(raw).reshape(len(prompts), n, -1)
        chosen = best_of_n_choice(normalized, preferences)
        return [samples[r * n + int(k)] for r, k in enumerate(chosen)]

    def _sample(self, texts: list[str], decoding: DecodingConfig, seed: int) -> list[Generation]:
        size = self.config.samples_per_call or len(texts)
        if size >= len(texts):
            return generate_texts(self.model, self.tokenizer, texts, decoding, seed)
        samples: list[Generation] = []
        for call, start in enumerate(range(0, len(texts), size)):
            samples += generate_texts(self.model, self.tokenizer, texts[start:start + size],
                                      decoding, derive_seed(seed, call))
        return samples

    def save(self, directory: Path) -> None:
        # the weights are the task's reference model: record the settings, copy no weights
        (directory / POLICY_FILE).write_text(json.dumps({
            "method": self.method, "kind": self.kind, "task": self.spec.name,
            "objectives": list(self.spec.objective_names), "base_model": self.spec.base_model,
            "n_samples": self.config.n_samples,
            "samples_per_call": self.config.samples_per_call}, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, method: str, directory: Path, context: FitContext) -> BestOfNPolicy:
        saved = read_policy_file(directory, method, cls.kind)
        config = BestOfNConfig(n_samples=int(saved["n_samples"]),
                               samples_per_call=int(saved["samples_per_call"]))
        return cls.from_reference(method, context, config)

    @classmethod
    def from_reference(cls, method: str, context: FitContext,
                       config: BestOfNConfig) -> BestOfNPolicy:
        model, tokenizer = context.reference_policy()
        return cls(method, model, tokenizer, context.task.spec, context.task.training_scorers,
                   config)


class BestOfNMethod:
    """Best-of-N: the reference policy's λ-best of N samples by normalized reward-model score."""

    name = "best-of-n"
    description = "training-free: the λ-best of N reference samples by reward-model score"
    config_class = BestOfNConfig

    def __init__(self, config: BestOfNConfig) -> None:
        self.config = config

    def variant(self, spec: TaskSpec) -> str:
        return f"n{self.config.n_samples}"

    def fit(self, context: FitContext) -> BestOfNPolicy:
        return BestOfNPolicy.from_reference(self.name, context, self.config)

    def load_policy(self, directory: Path, context: FitContext) -> BestOfNPolicy:
        return BestOfNPolicy.load(self.name, directory, context)
