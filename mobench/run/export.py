"""``mobench export``: a trained policy at one fixed preference, in formats served without mobench.

A policy opts in with a method ``export(preference, directory, merge)`` that writes, into an empty
``directory``, either a standard peft LoRA adapter (``adapter_config.json`` and safetensors) or,
with ``merge``, a plain transformers model with the adapter merged into its weights. Panacea's
SVD-LoRA policy, Rewarded Soups' expert mixture, DPS's adapter grid (its grid adapter nearest λ)
and single-adapter policies do; a policy without it (one that answers by decoding several models,
re-ranking samples or conditioning the prompt) is refused in one line.

The export folder, written in one rename (all or nothing):

* adapter (default): the adapter's files and the tokenizer at its top level, so
  ``AutoPeftModelForCausalLM.from_pretrained(DIR)`` loads it; at tiny scale the reference model,
  which exists only in mobench's cache, is written beside it in ``base/`` and the adapter's
  ``base_model_name_or_path`` names that folder; at paper scale it names the task's base model
  (hub id or folder), which is not copied;
* ``--merge``: the merged model and its tokenizer (``AutoModelForCausalLM.from_pretrained(DIR)``);
* either way ``export.json``: the run, method, task, asked and answered λ, the prompt template the
  policy was trained with (mobench formats every prompt with it), and how to load the folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mobench.core import store
from mobench.core.errors import MobenchError, RunFolderError

EXPORT_FILE = "export.json"
BASE_DIR = "base"
ADAPTER_CONFIG = "adapter_config.json"


@runtime_checkable
class ExportablePolicy(Protocol):
    """A policy that can be served at a fixed preference by standard tools."""

    def export(self, preference: np.ndarray, directory: Path, merge: bool) -> None:
        """Write the policy at ``preference`` into the empty ``directory``: a peft LoRA adapter,
        or (``merge``) a transformers model with the adapter merged in. The tokenizer, the base
        model and the description are the caller's."""
        ...


@dataclass(frozen=True)
class ExportOutcome:
    """What an export wrote.

    Attributes:
        directory: the export folder.
        kind: ``peft-lora-adapter`` or ``merged-model``.
        preference: the preference asked for.
        answered_preference: the one exported (a grid policy's nearest trained one).
        base_model: what the adapter applies to ("" for a merged model).
    """

    directory: Path
    kind: str
    preference: np.ndarray
    answered_preference: np.ndarray
    base_model: str


def check_output(output: Path) -> None:
    """The export folder must be new or empty: an export never mixes with other files."""
    from mobench.run.runfolder import check_writable

    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise RunFolderError(f"export folder {str(output)!r} already exists and is not empty; "
                             "choose a new --output")
    check_writable(output)


def export_run(folder: Path, preference_text: str, output: Path, *, merge: bool = False,
               device: str = "auto") -> ExportOutcome:
    """Export the trained policy of the run in ``folder`` at one preference into ``output``."""
    from mobench.core.specs import parse_preference
    from mobench.run.runner import load_trained_policy
    from mobench.run.runspec import load_run, task_spec
    from mobench.toolkit.serving import answering_preferences

    spec, _ = load_run(folder)
    preference = parse_preference(preference_text, len(task_spec(spec).objectives))
    check_output(output)
    policy, instance = load_trained_policy(folder, spec, device=device)
    if not isinstance(policy, ExportablePolicy):
        raise MobenchError(f"the {spec.method} policy cannot be exported: it offers no "
                           "weights of its own at a fixed preference (its policy has no export); "
                           "serve it with `mobench generate`")
    answered = answering_preferences(policy, preference[None, :])[0]
    kind = "merged-model" if merge else "peft-lora-adapter"
    base_model = ""
    with store.atomic_directory(output) as tmp:
        policy.export(answered, tmp, merge)
        tokenizer = getattr(policy, "tokenizer", None)
        if not merge and spec.scale == "tiny":  # the tiny reference lives in mobench's cache
            reference_model, tokenizer = instance.load_reference_policy()
            reference_model.save_pretrained(str(tmp / BASE_DIR))
            tokenizer.save_pretrained(str(tmp / BASE_DIR))
            base_model = str(output.resolve() / BASE_DIR)
        elif not merge:
            base_model = instance.spec.base_model
        if tokenizer is None:
            tokenizer = instance.load_reference_policy()[1]
        tokenizer.save_pretrained(str(tmp))
        if not merge:
            _point_adapter_at(tmp / ADAPTER_CONFIG, base_model)
        store.write_json_atomic(tmp / EXPORT_FILE, _description(
            folder, spec, instance.spec.prompt_template, kind, preference, answered,
            base_model, output))
    return ExportOutcome(output, kind, preference, answered, base_model)


def _point_adapter_at(config_file: Path, base_model: str) -> None:
    """Make the adapter name the base it was trained on, so peft's auto classes find it."""
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_model
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _description(folder: Path, spec: Any, template: str, kind: str, preference: np.ndarray,
                 answered: np.ndarray, base_model: str, output: Path) -> dict[str, Any]:
    output = output.resolve()
    if kind == "merged-model":
        load = f"transformers.AutoModelForCausalLM.from_pretrained({str(output)!r})"
    else:
        load = (f"peft.AutoPeftModelForCausalLM.from_pretrained({str(output)!r}) (or "
                f"peft.PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("
                f"{base_model!r}), {str(output)!r}))")
    return {"run": str(folder.resolve()), "method": spec.method, "task": spec.task,
            "scale": spec.scale, "seed": spec.seed, "kind": kind, "preference": preference.tolist(),
            "answered_preference": answered.tolist(), "base_model": base_model,
            "prompt_template": template, "load": load,
            "tokenizer": "this folder (AutoTokenizer.from_pretrained)"}
