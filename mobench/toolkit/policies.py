"""Steerable policies made of LoRA adapters on one frozen reference model, shared by methods.

- :class:`AdapterGridPolicy`: one adapter per preference of a grid (DPS, MODPO). It serves only
  its grid (``served_preferences``); the harness maps other λ to the nearest grid point. Every row
  of a batch is answered by its own adapter in one generate call (peft's mixed-adapter batches).
- :class:`ExpertMixturePolicy`: per-objective experts combined with the row's λ (Rewarded Soups'
  ``factors`` or ``delta``), a whole front in one generate call.
- :class:`ExpertLogitMixturePolicy`: the same experts mixed at decoding instead, next-token
  log-probs weighted by the row's λ (MOD; :mod:`mobench.toolkit.decoding`).
- :class:`SingleAdapterPolicy`: one adapter that answers every preference alike (a method that
  yields one policy, not a front: PAMA).

Each saves their adapters in peft's format (safetensors, one folder each) and a small JSON file,
and load back onto a fresh copy of the task's reference policy.

Each can be served elsewhere at one fixed λ (``mobench export``, :mod:`mobench.run.export`):
``export(preference, directory, merge)`` writes a standard peft LoRA adapter (the grid adapter
nearest λ; the experts' combination at λ; the one adapter) or, with ``merge``, the base model
with it merged in. Merging spends the policy: its peft model is unloaded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mobench.adapters import (
    PerRowMixture,
    export_adapter,
    generate_mixture,
    generate_with_adapters,
    load_adapters,
    merged_with,
    save_adapters,
)
from mobench.adapters import merge as combine_experts
from mobench.core.errors import RunFolderError
from mobench.core.policy import Generation
from mobench.core.specs import DecodingConfig, TaskSpec
from mobench.toolkit.decoding import generate_expert_mixture
from mobench.toolkit.serving import nearest_served

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedTokenizerBase

    from mobench.core.method import FitContext

POLICY_FILE = "policy.json"
ADAPTERS_DIR = "adapters"
EXPORTED_ADAPTER = "exported"


def write_adapter_export(model: PeftModel, name: str, directory: Path, merge: bool) -> None:
    """Adapter ``name`` as a peft adapter folder, or (``merge``) the merged model's folder."""
    if merge:
        merged_with(model, name).save_pretrained(str(directory))
    else:
        export_adapter(model, name, directory)


def save_adapter_policy(directory: Path, model: PeftModel, names: Sequence[str], method: str,
                        kind: str, spec: TaskSpec, **fields: Any) -> None:
    """Save the adapters ``names`` in peft's format and the policy's JSON (method, kind, task,
    objectives and ``fields``)."""
    save_adapters(model, directory / ADAPTERS_DIR, names)
    (directory / POLICY_FILE).write_text(json.dumps({
        "method": method, "kind": kind, "task": spec.name,
        "objectives": list(spec.objective_names), **fields}, indent=2), encoding="utf-8")


def load_adapter_policy(directory: Path, method: str, kind: str, context: FitContext,
                        field: str) -> tuple[dict[str, Any], PeftModel, PreTrainedTokenizerBase]:
    """(the saved JSON, the adapters its ``field`` names, on a fresh copy of the task's reference
    policy, the tokenizer) of a policy :func:`save_adapter_policy` wrote."""
    saved = read_policy_file(directory, method, kind)
    names = saved[field] if isinstance(saved[field], list) else [saved[field]]
    model, tokenizer = context.reference_policy()
    return saved, load_adapters(model, directory / ADAPTERS_DIR, names), tokenizer


def read_policy_file(directory: Path, method: str, kind: str) -> dict[str, Any]:
    """The JSON a policy below saved, checked to be ``method``'s and of ``kind``."""
    try:
        saved = json.loads((directory / POLICY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise RunFolderError(f"{str(directory)!r} holds no readable {method} policy") from None
    if saved.get("method") != method or saved.get("kind") != kind:
        raise RunFolderError(f"{str(directory)!r} was not written by {method}")
    return dict(saved)


class AdapterGridPolicy:
    """One LoRA adapter per preference vector of ``grid``; answers only at those vectors."""

    kind = "adapter-grid"

    def __init__(self, method: str, model: PeftModel, tokenizer: PreTrainedTokenizerBase,
                 spec: TaskSpec, grid: np.ndarray, names: Sequence[str]) -> None:
        grid = np.asarray(grid, dtype=np.float64)
        if len(grid) != len(names):
            raise ValueError(f"{len(grid)} grid preferences but {len(names)} adapters")
        self.method = method
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.served_preferences = grid
        self.names = list(names)

    def adapters_for(self, preferences: np.ndarray) -> list[str]:
        """The adapter answering each row: the nearest grid preference's (the harness maps rows
        to the grid beforehand, so this is the exact one)."""
        return [self.names[i] for i in nearest_served(self.served_preferences, preferences)]

    def generate(self, prompts: Sequence[str], preferences: np.ndarray, decoding: DecodingConfig,
                 seed: int) -> list[Generation]:
        texts = [self.spec.format_prompt(p) for p in prompts]
        return generate_with_adapters(self.model, self.tokenizer, texts,
                                      self.adapters_for(np.asarray(preferences)), decoding, seed)

    def export(self, preference: np.ndarray, directory: Path, merge: bool) -> None:
        """The adapter of the grid preference nearest ``preference`` (the harness has mapped it
        there already), as a peft adapter or merged."""
        name = self.adapters_for(np.asarray(preference)[None, :])[0]
        write_adapter_export(self.model, name, directory, merge)

    def save(self, directory: Path) -> None:
        save_adapter_policy(directory, self.model, self.names, self.method, self.kind, self.spec,
                            adapters=self.names, grid=self.served_preferences.tolist())

    @classmethod
    def load(cls, method: str, directory: Path, context: FitContext) -> AdapterGridPolicy:
        saved, model, tokenizer = load_adapter_policy(directory, method, cls.kind, context,
                                                      "adapters")
        return cls(method, model, tokenizer, context.task.spec, np.asarray(saved["grid"]),
                   saved["adapters"])


class ExpertMixturePolicy:
    """Per-objective experts mixed with each row's λ (``factors`` or ``delta``)."""

    kind = "expert-mixture"

    def __init__(self, method: str, model: PeftModel, tokenizer: PreTrainedTokenizerBase,
                 spec: TaskSpec, experts: Sequence[str], variant: str) -> None:
        if len(experts) != len(spec.objectives):
            raise ValueError(f"{len(experts)} experts for {len(spec.objectives)} objectives")
        self.method = method
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.experts = list(experts)
        self.variant = variant
        self.mixture = PerRowMixture(model, self.experts, variant)

    def generate(self, prompts: Sequence[str], preferences: np.ndarray, decoding: DecodingConfig,
                 seed: int) -> list[Generation]:
        texts = [self.spec.format_prompt(p) for p in prompts]
        return generate_mixture(self.mixture, self.tokenizer, texts, np.asarray(preferences),
                                decoding, seed)

    def export(self, preference: np.ndarray, directory: Path, merge: bool) -> None:
        """The experts combined at ``preference`` (this policy's variant) as one adapter."""
        combine_experts(self.model, self.variant, self.experts, [float(w) for w in preference],
                        EXPORTED_ADAPTER)
        write_adapter_export(self.model, EXPORTED_ADAPTER, directory, merge)

    def save(self, directory: Path) -> None:
        save_adapter_policy(directory, self.model, self.experts, self.method, self.kind,
                            self.spec, experts=self.experts, variant=self.variant)

    @classmethod
    def load(cls, method: str, directory: Path, context: FitContext) -> ExpertMixturePolicy:
        saved, model, tokenizer = load_adapter_policy(directory, method, cls.kind, context,
                                                      "experts")
        return cls(method, model, tokenizer, context.task.spec, saved["experts"],
                   saved["variant"])


class ExpertLogitMixturePolicy:
    """Per-objective experts whose next-token log-probs are mixed with each row's λ (MOD)."""

    kind = "expert-logit-mixture"

    def __init__(self, method: str, model: PeftModel, tokenizer: PreTrainedTokenizerBase,
                 spec: TaskSpec, experts: Sequence[str]) -> None:
        if len(experts) != len(spec.objectives):
            raise ValueError(f"{len(experts)} experts for {len(spec.objectives)} objectives")
        self.method = method
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.experts = list(experts)

    def generate(self, prompts: Sequence[str], preferences: np.ndarray, decoding: DecodingConfig,
                 seed: int) -> list[Generation]:
        texts = [self.spec.format_prompt(p) for p in prompts]
        return generate_expert_mixture(self.model, self.tokenizer, texts, self.experts,
                                       np.asarray(preferences), decoding, seed)

    def save(self, directory: Path) -> None:
        save_adapter_policy(directory, self.model, self.experts, self.method, self.kind,
                            self.spec, experts=self.experts)

    @classmethod
    def load(cls, method: str, directory: Path, context: FitContext) -> ExpertLogitMixturePolicy:
        saved, model, tokenizer = load_adapter_policy(directory, method, cls.kind, context,
                                                      "experts")
        return cls(method, model, tokenizer, context.task.spec, saved["experts"])


class SingleAdapterPolicy:
    """One LoRA adapter answering every prompt the same way whatever the preference."""

    kind = "single-adapter"

    def __init__(self, method: str, model: PeftModel, tokenizer: PreTrainedTokenizerBase,
                 spec: TaskSpec, name: str) -> None:
        self.method = method
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.name = name

    def generate(self, prompts: Sequence[str], preferences: np.ndarray, decoding: DecodingConfig,
                 seed: int) -> list[Generation]:
        if len(prompts) != len(preferences):
            raise ValueError(f"{len(prompts)} prompts but {len(preferences)} preference rows")
        texts = [self.spec.format_prompt(p) for p in prompts]
        return generate_with_adapters(self.model, self.tokenizer, texts,
                                      [self.name] * len(texts), decoding, seed)

    def export(self, preference: np.ndarray, directory: Path, merge: bool) -> None:
        """Its one adapter (every preference is answered alike)."""
        write_adapter_export(self.model, self.name, directory, merge)

    def save(self, directory: Path) -> None:
        save_adapter_policy(directory, self.model, [self.name], self.method, self.kind, self.spec,
                            adapter=self.name)

    @classmethod
    def load(cls, method: str, directory: Path, context: FitContext) -> SingleAdapterPolicy:
        saved, model, tokenizer = load_adapter_policy(directory, method, cls.kind, context,
                                                      "adapter")
        return cls(method, model, tokenizer, context.task.spec, saved["adapter"])
