"""Single-objective experts: one LoRA adapter per objective, trained at its one-hot preference.

Rewarded Soups interpolates them in weight space and MOD mixes their logits, so both train them
here, the same way: every expert starts from the same adapter initialisation (one seed), trains
with the task's signal at λ = e_i through the shared engine, and lives as a named adapter of one
peft model over one frozen copy of the reference policy.

Where an expert comes from, in order:

1. the run's own work folder: a finished or interrupted training there is resumed (the trainer
   restores its weights and its cost counters), so a run killed between two experts does not
   train the finished one again and reports the same cost as an uninterrupted run;
2. the asset cache: an expert trained before with the identical recipe (task, its config, scale,
   seed, training config, adapter shape) is loaded, not trained; the cost record counts it with
   the cost its training recorded and lists it under ``reused``;
3. otherwise it is trained, then stored in the cache for the next method that needs it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mobench.adapters import LoRASettings, activate_adapter, add_lora_adapter, save_adapters
from mobench.adapters.peft_support import quiet_peft_wrapping
from mobench.core.config import to_plain
from mobench.core.threads import kernel_signature, torch_threads_in_use
from mobench.data.assets.cache import build_once, is_complete, read_record
from mobench.engine import TrainingConfig, fixed_preference, train_on_task
from mobench.engine.checkpoint import latest_checkpoint

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedTokenizerBase

    from mobench.core.method import FitContext

EXPERT_FORMAT = "1"  # bump when expert training changes, so cached experts are not reused
EXPERTS_DIR = "experts"


@dataclass
class ExpertSet:
    """The experts of one run on one model.

    Attributes:
        model: the peft model holding every expert adapter.
        tokenizer: its tokenizer.
        names: the adapter names, one per objective in the task's order.
    """

    model: PeftModel
    tokenizer: PreTrainedTokenizerBase
    names: list[str]


def one_hot(n_objectives: int, index: int) -> np.ndarray:
    vector = np.zeros(n_objectives)
    vector[index] = 1.0
    return vector


def expert_name(objective: str) -> str:
    return f"expert-{objective}"


def expert_recipe(context: FitContext, train: TrainingConfig, lora: LoRASettings,
                  objective: str) -> dict[str, Any]:
    """Everything that determines an expert's weights: what the cache key digests."""
    spec = context.task.spec
    return {"format": EXPERT_FORMAT, "task": spec.name, "scale": spec.scale,
            "base_model": spec.base_model, "objectives": list(spec.objective_names),
            "task_data": context.task.extras.get("asset_root", ""), "seed": context.seed,
            "objective": objective, "train": to_plain(train), "lora": to_plain(lora),
            # the weights depend on it (mobench.core.threads): reuse only at the same count
            "torch_threads": torch_threads_in_use(), "cpu_kernels": kernel_signature()}


def cached_expert_path(context: FitContext, recipe: dict[str, Any]) -> Path | None:
    if context.cache_dir is None:
        return None
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    return Path(context.cache_dir) / EXPERTS_DIR / recipe["task"] / f"seed{context.seed}" / \
        f"{recipe['objective']}-{digest}"


def train_objective_experts(context: FitContext, train: TrainingConfig, lora: LoRASettings, *,
                            reuse: bool = True) -> ExpertSet:
    """One expert per objective of the task (see the module docstring for where each comes
    from); returns them on one model, none active for training."""
    spec = context.task.spec
    reference, tokenizer = context.reference_policy()
    model: Any = reference  # a peft model once the first expert is on it
    names: list[str] = []
    for index, objective in enumerate(spec.objective_names):
        name = expert_name(objective)
        recipe = expert_recipe(context, train, lora, objective)
        cache = cached_expert_path(context, recipe) if reuse else None
        work_dir = context.work_dir / name
        if latest_checkpoint(work_dir) is None and cache is not None and is_complete(cache):
            model = _load_cached(model, cache, name)
            record = read_record(cache)
            context.meter.add(**record["counts"])
            context.meter.note_reuse(name, {**record["counts"],
                                            "train_seconds": record["train_seconds"]})
        else:
            model = add_lora_adapter(model, lora, name, seed=context.seed)
            fresh = latest_checkpoint(work_dir) is None
            before = context.meter.snapshot()["counts"]
            started = time.perf_counter()
            train_on_task(model, tokenizer, context.task, train,
                          fixed_preference(one_hot(len(spec.objectives), index)),
                          work_dir=work_dir, seed=context.seed, meter=context.meter,
                          progress_desc=f"expert {objective}")
            if cache is not None and fresh:  # a resumed one's time is split over legs
                spent = {k: v - before[k] for k, v in context.meter.snapshot()["counts"].items()
                         if k != "model_token_passes"}
                _store(model, name, cache, spent, time.perf_counter() - started)
        names.append(name)
    for name in names:
        activate_adapter(model, name, trainable=False)
    return ExpertSet(model=model, tokenizer=tokenizer, names=names)


def _load_cached(model: Any, folder: Path, name: str) -> PeftModel:
    from peft import PeftModel

    with quiet_peft_wrapping():
        if isinstance(model, PeftModel):
            model.load_adapter(str(folder / name), adapter_name=name)
            return model
        return PeftModel.from_pretrained(model, str(folder / name), adapter_name=name)


def _store(model: PeftModel, name: str, folder: Path, counts: dict[str, int],
           seconds: float) -> None:
    def build(staging: Path) -> dict[str, Any]:
        save_adapters(model, staging, [name])
        return {"counts": counts, "train_seconds": round(seconds, 3)}

    build_once(folder, build)
