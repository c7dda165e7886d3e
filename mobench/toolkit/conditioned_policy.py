"""A policy steered through its prompt: each row's λ becomes desired scores written before the
assistant turn (:mod:`mobench.toolkit.reward_prompts`), one LoRA adapter and an extended tokenizer
(RiC).

Saved as the adapter (its trainable token rows included), the tokenizer and ``<method>.json``
(the training set's score statistics, the λ-to-score mapping, the prompt format); it loads back
onto a fresh copy of the task's reference policy, its embeddings resized to the tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from mobench.adapters.peft_support import quiet_peft_wrapping
from mobench.core.errors import RunFolderError
from mobench.core.policy import Generation, generate_texts
from mobench.core.specs import DecodingConfig, TaskSpec
from mobench.toolkit.reward_prompts import (
    conditioned_prompt,
    embedding_rows,
    resize_embeddings,
    score_tag,
)
from mobench.toolkit.reward_targets import ScoreMapping, ScoreStatistics, desired_scores

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from mobench.core.method import FitContext

ADAPTER_DIR = "adapter"
TOKENIZER_DIR = "tokenizer"


class RewardConditionedPolicy:
    """A reward-conditioned model: each row's λ becomes desired scores written into its prompt."""

    def __init__(self, method: str, model: PeftModel, tokenizer: PreTrainedTokenizerBase,
                 spec: TaskSpec, statistics: ScoreStatistics, mapping: ScoreMapping) -> None:
        if statistics.n_objectives != len(spec.objectives):
            raise ValueError(f"score statistics for {statistics.n_objectives} objectives, the "
                             f"task has {len(spec.objectives)}")
        self.method = method
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.statistics = statistics
        self.mapping = mapping

    def prompts_at(self, prompts: Sequence[str], preferences: np.ndarray) -> list[str]:
        """The conditioned prompt of each row (its λ mapped to desired scores)."""
        if len(prompts) != len(preferences):
            raise ValueError(f"{len(prompts)} prompts but {len(preferences)} preference rows")
        targets = desired_scores(np.asarray(preferences), self.statistics, self.mapping)
        return [conditioned_prompt(self.spec, p, t) for p, t in zip(prompts, targets, strict=True)]

    def generate(self, prompts: Sequence[str], preferences: np.ndarray, decoding: DecodingConfig,
                 seed: int) -> list[Generation]:
        return generate_texts(cast("PreTrainedModel", self.model), self.tokenizer,
                              self.prompts_at(prompts, preferences), decoding, seed)

    def save(self, directory: Path) -> None:
        # the added rows are in the adapter (trainable tokens): the resized embedding matrix
        # itself, the task's rows and random new ones, need not be saved
        self.model.save_pretrained(str(directory / ADAPTER_DIR), save_embedding_layers=False)
        self.tokenizer.save_pretrained(str(directory / TOKENIZER_DIR))
        (directory / f"{self.method}.json").write_text(json.dumps({
            "method": self.method, "task": self.spec.name,
            "objectives": list(self.spec.objective_names),
            "mapping": self.mapping, "statistics": self.statistics.to_dict(),
            "format": [score_tag(i) + " {score:.1f}" for i in range(len(self.spec.objectives))]},
            indent=2), encoding="utf-8")

    @classmethod
    def load(cls, method: str, directory: Path, context: FitContext) -> RewardConditionedPolicy:
        from peft import PeftModel
        from transformers import AutoTokenizer

        try:
            saved = json.loads((directory / f"{method}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise RunFolderError(f"{str(directory)!r} holds no readable {method} policy") from None
        spec = context.task.spec
        if saved.get("method") != method:
            raise RunFolderError(f"{str(directory)!r} was not written by {method}")
        if saved.get("objectives") != list(spec.objective_names):
            raise RunFolderError(f"{str(directory)!r} was trained for objectives "
                                 f"{saved.get('objectives')}, not {list(spec.objective_names)}")
        model, _ = context.reference_policy()
        tokenizer = AutoTokenizer.from_pretrained(str(directory / TOKENIZER_DIR))
        if len(tokenizer) != embedding_rows(model):
            resize_embeddings(model, len(tokenizer))  # the added rows come from the adapter
        with quiet_peft_wrapping():
            peft_model = PeftModel.from_pretrained(model, str(directory / ADAPTER_DIR))
        peft_model.eval()
        return cls(method, peft_model, tokenizer, spec,
                   ScoreStatistics.from_dict(saved["statistics"]), saved["mapping"])
