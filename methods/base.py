"""``base``: the untuned reference policy, the floor every alignment method must beat.

It ignores the preference vector, so its expected front is a single point; it trains nothing and
costs nothing. It runs the harness end to end: loading, evaluation, store and metrics.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mobench.core.errors import RunFolderError
from mobench.core.method import FitContext
from mobench.core.policy import Generation, generate_texts
from mobench.core.specs import DecodingConfig, TaskSpec

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

POLICY_FILE = "policy.json"


@dataclass(frozen=True)
class BaseConfig:
    """The base method has no hyper-parameters."""


class UntunedPolicy:
    """The task's reference policy, answering the same way whatever the preference."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 spec: TaskSpec) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec

    def generate(self, prompts: Sequence[str], preferences: np.ndarray, decoding: DecodingConfig,
                 seed: int) -> list[Generation]:
        if len(prompts) != len(preferences):
            raise ValueError(f"{len(prompts)} prompts but {len(preferences)} preference rows")
        texts = [self.spec.format_prompt(p) for p in prompts]
        return generate_texts(self.model, self.tokenizer, texts, decoding, seed)

    def save(self, directory: Path) -> None:
        # The weights are the task's own reference model: record which, don't copy gigabytes.
        (directory / POLICY_FILE).write_text(json.dumps(
            {"kind": "reference", "task": self.spec.name, "base_model": self.spec.base_model}))


class BaseMethod:
    """The untuned reference policy: the same answer distribution for every preference."""

    name = "base"
    description = "untuned reference policy, the same for every preference (the floor to beat)"
    config_class = BaseConfig

    def __init__(self, config: BaseConfig) -> None:
        self.config = config

    def fit(self, context: FitContext) -> UntunedPolicy:
        model, tokenizer = context.task.load_reference_policy()
        return UntunedPolicy(model, tokenizer, context.task.spec)

    def load_policy(self, directory: Path, context: FitContext) -> UntunedPolicy:
        try:
            saved = json.loads((directory / POLICY_FILE).read_text())
        except (OSError, ValueError):
            raise RunFolderError(f"{str(directory)!r} holds no readable base policy") from None
        if saved.get("kind") != "reference":
            raise RunFolderError(f"{str(directory)!r} was not written by the base method")
        return self.fit(context)
