"""The one entry point methods train through: a model, a task's signal, a preference strategy.

:func:`train_on_task` reads what to train on from the task (``spec.training`` names the default
signal and the data offered; :func:`resolve_signal` checks a method's choice against it), builds
the loop from the method's :class:`~mobench.engine.config.TrainingConfig`, and runs SFT, DPO or PPO
under the strategy (:mod:`mobench.engine.strategy`). Cost is counted here, not by methods: one
adapter (or model) trained with its trainable parameters, rollout tokens, and reward calls of the
counted scorers, all saved with each checkpoint (see :class:`~mobench.engine.trainer.Trainer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mobench.core.cost import CostMeter, CountingScorer
from mobench.core.errors import ConfigError
from mobench.core.specs import TRAINING_SIGNALS, TrainingSpec
from mobench.engine.config import TrainingConfig
from mobench.engine.pairs import sft_sets_from_corpus, sft_sets_from_pairs
from mobench.engine.strategy import PreferenceStrategy
from mobench.engine.trainer import CountsAs, TrainResult

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase

    from mobench.core.task import Scorer, TaskInstance


REFERENCE_CACHE_DIR = "reference-logps"


def resolve_signal(choice: str, training: TrainingSpec, task_name: str = "the task") -> str:
    """``choice`` (``auto``: the task's default signal), checked against what the task offers."""
    signal = training.default_signal if choice == "auto" else choice
    if signal not in TRAINING_SIGNALS:
        raise ConfigError(f"unknown training signal {choice!r}; choose auto, "
                          f"{', '.join(TRAINING_SIGNALS)}")
    if not training.offers(signal):
        needs = {"dpo": "preference pairs for every objective",
                 "sft": "per-objective SFT data", "ppo": "training prompts and reward scorers"}
        raise ConfigError(f"{task_name} offers no {needs[signal]}, which training signal "
                          f"{signal!r} needs; choose another train.signal")
    return signal


def objective_sft_sets(task: TaskInstance) -> dict[str, datasets.Dataset]:
    """Per objective, its SFT data, from where the task's spec says it comes."""
    source = task.spec.training.sft_data
    if source == "objective_columns":
        if task.data.sft_corpus is None:
            raise ConfigError(f"task {task.spec.name!r} declares SFT columns but has no corpus")
        return sft_sets_from_corpus(task.data.sft_corpus, task.spec.objective_names)
    if source == "chosen_responses":
        return sft_sets_from_pairs(task.data.preference_pairs)
    raise ConfigError(f"task {task.spec.name!r} offers no per-objective SFT data")


def reference_cache_dir(task: TaskInstance) -> Path | None:
    """Where a task's stored reference log-probs live: beside its assets (the ``asset_root``
    extra of the tiny tasks' instances), so every method and run of that task and seed shares
    them; None for a task without an asset folder."""
    root = task.extras.get("asset_root")
    return Path(root) / REFERENCE_CACHE_DIR if root else None


def train_on_task(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase,
                  task: TaskInstance, config: TrainingConfig, strategy: PreferenceStrategy, *,
                  work_dir: Path, seed: int, meter: CostMeter | None = None,
                  scorers: Mapping[str, Scorer] | None = None, counts_as: CountsAs = "adapter",
                  progress_desc: str = "training",
                  reference_model: torch.nn.Module | None = None) -> TrainResult:
    """Train ``model`` in place on ``task``'s signal (``config.signal``) under ``strategy``.

    Args:
        model: the policy; its trainable parameters (an adapter's) are what trains.
        tokenizer: its tokenizer.
        task: the loaded task; data and training scorers come from it.
        config: the method's embedded training config.
        strategy: how λ enters (:mod:`mobench.engine.strategy`).
        work_dir: this training's own folder (checkpoints, log); a checkpoint there resumes.
        seed: seeds data order, λ draws and rollouts.
        meter: the run's cost counters (``FitContext.meter``).
        scorers: PPO's reward scorers (default: the task's training scorers, counted in
            ``meter``).
        counts_as: what this training adds to the cost record (``adapter``, ``model``, None).
        progress_desc: the progress bar's label.
        reference_model: π_ref for DPO and PPO (None: the policy with its adapter disabled).
    """
    from mobench import engine

    spec = task.spec
    objectives = list(spec.objective_names)
    if strategy.n_objectives != len(objectives):
        raise ValueError(f"the strategy draws {strategy.n_objectives} weights for "
                         f"{len(objectives)} objectives")
    signal = resolve_signal(config.signal, spec.training, f"task {spec.name!r}")
    loop = config.loop(seed, progress_desc)
    common: dict[str, Any] = dict(
        work_dir=Path(work_dir), format_prompt=spec.format_prompt, optim=config.optim, loop=loop,
        preferences=strategy.sampler, apply_preferences=strategy.apply,
        deepspeed=config.deepspeed, meter=meter, counts_as=counts_as)
    if signal != "ppo" and strategy.combine_advantages is not None:
        raise ConfigError(f"an advantage combiner needs the ppo signal, not {signal!r}")
    if signal == "dpo":
        return engine.train_dpo(model, tokenizer, task.data.preference_pairs, objectives,
                                dpo=config.dpo, reference_model=reference_model,
                                objectives_in_use=strategy.objectives_in_use(),
                                reference_cache=reference_cache_dir(task), **common)
    if signal == "sft":
        return engine.train_sft(model, tokenizer, objective_sft_sets(task), objectives,
                                sft=config.sft, objectives_in_use=strategy.objectives_in_use(),
                                **common)
    counted = scorers if scorers is not None else {
        name: CountingScorer(scorer, meter) for name, scorer in task.training_scorers.items()}
    prompts = list(task.data.train_prompts["prompt"])
    return engine.train_ppo(model, tokenizer, prompts, spec.objectives, counted, ppo=config.ppo,
                            reference_model=reference_model,
                            combine_advantages=strategy.combine_advantages,
                            whiten_per_objective=strategy.whiten_per_objective, **common)
