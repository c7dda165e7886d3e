"""mobench's training engine: multi-objective SFT, DPO and PPO with preference-conditioned models.

Methods train through one entry point, :func:`train_on_task`: a model, the task (whose spec names
its default signal and the data it offers), the method's embedded :class:`TrainingConfig`, and a
preference strategy (:func:`fixed_preference`, :func:`sampled_preferences` with a hook that writes
λ into the model, :func:`combined_advantages` for a method's own PPO weighting). The model trains
in place; checkpoints and a JSONL log go to ``work_dir``, and a call on a work dir holding a
checkpoint resumes from it. ``TrainingConfig.deepspeed`` runs the same code in a DeepSpeed engine
(ZeRO 2/3, several processes).

Below it, :func:`train_sft`, :func:`train_dpo` and :func:`train_ppo` take data directly, and the
objectives, aggregations and the trainer are importable from their modules for a loop of one's own
(the asset builders' reference-policy SFT and reward models run on the same trainer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from mobench.engine.aggregation import linear_scalarization, tchebycheff
from mobench.engine.config import (
    DeepSpeedConfig,
    DPOConfig,
    LoopConfig,
    OptimConfig,
    PPOConfig,
    PreferenceConfig,
    SFTConfig,
    TrainingConfig,
)
from mobench.engine.dpo import DPOObjective, prepare_pairs
from mobench.engine.hooks import ApplyPreferences, no_preferences
from mobench.engine.pairs import (
    keep_rows_of,
    merge_preference_pairs,
    merge_sft_sets,
    sft_sets_from_corpus,
    sft_sets_from_pairs,
)
from mobench.engine.ppo import CombineAdvantages, PPOObjective
from mobench.engine.preferences import PreferenceSampler, constant_preferences
from mobench.engine.reference import FrozenReference, pair_sequences, reference_cache_for
from mobench.engine.sft import SFTObjective, prepare_responses
from mobench.engine.strategy import (
    PreferenceStrategy,
    combined_advantages,
    fixed_preference,
    sampled_preferences,
)
from mobench.engine.task_training import objective_sft_sets, resolve_signal, train_on_task
from mobench.engine.trainer import CountsAs, Trainer, TrainResult
from mobench.engine.value_heads import PolicyWithValueHeads

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase

    from mobench.core.cost import CostMeter
    from mobench.core.specs import Objective
    from mobench.core.task import Scorer

__all__ = [
    "ApplyPreferences", "CombineAdvantages", "DPOConfig", "DeepSpeedConfig", "LoopConfig",
    "OptimConfig", "PPOConfig", "PolicyWithValueHeads", "PreferenceConfig", "PreferenceSampler",
    "PreferenceStrategy", "SFTConfig", "TrainResult", "TrainingConfig", "combined_advantages",
    "constant_preferences", "fixed_preference", "linear_scalarization", "merge_preference_pairs",
    "merge_sft_sets", "no_preferences", "objective_sft_sets", "resolve_signal",
    "sampled_preferences", "sft_sets_from_corpus", "sft_sets_from_pairs", "tchebycheff",
    "train_dpo", "train_on_task", "train_ppo", "train_sft",
]


def _identity(prompt: str) -> str:
    return prompt


def train_sft(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase,
              sets: Mapping[str, datasets.Dataset], objectives: Sequence[str], *,
              work_dir: Path, format_prompt: Callable[[str], str] = _identity,
              sft: SFTConfig = SFTConfig(), optim: OptimConfig = OptimConfig(),
              loop: LoopConfig = LoopConfig(), preferences: PreferenceSampler | None = None,
              apply_preferences: ApplyPreferences = no_preferences,
              objectives_in_use: Sequence[bool] | None = None,
              deepspeed: DeepSpeedConfig | None = None, meter: CostMeter | None = None,
              counts_as: CountsAs = None) -> TrainResult:
    """SFT on per-objective (prompt, response) sets, aggregated with λ (LS or Tche).

    ``objectives_in_use``: keep only rows of objectives marked true (a fixed λ's positive
    weights); ``meter`` and ``counts_as``: see :class:`~mobench.engine.trainer.Trainer`."""
    table = keep_rows_of(prepare_responses(sets, objectives, tokenizer, format_prompt,
                                           sft.max_length), objectives_in_use)
    sampler = preferences or PreferenceSampler(len(objectives), loop.seed)
    objective = SFTObjective(table, objectives, tokenizer.pad_token_id, sft, sampler,
                             apply_preferences, seed=loop.seed)
    return Trainer(model, objective, optim=optim, loop=loop, work_dir=work_dir,
                   deepspeed=deepspeed, meter=meter, counts_as=counts_as).train()


def train_dpo(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase,
              pairs: Mapping[str, datasets.Dataset], objectives: Sequence[str], *,
              work_dir: Path, format_prompt: Callable[[str], str] = _identity,
              dpo: DPOConfig = DPOConfig(), optim: OptimConfig = OptimConfig(),
              loop: LoopConfig = LoopConfig(), preferences: PreferenceSampler | None = None,
              apply_preferences: ApplyPreferences = no_preferences,
              reference_model: torch.nn.Module | None = None,
              objectives_in_use: Sequence[bool] | None = None,
              deepspeed: DeepSpeedConfig | None = None, meter: CostMeter | None = None,
              counts_as: CountsAs = None, reference_cache: Path | None = None) -> TrainResult:
    """DPO on per-objective prompt/chosen/rejected sets (merged, scored once per batch),
    aggregated with λ. ``reference_model=None``: the policy with its adapter disabled.
    ``reference_cache``: a folder of stored reference log-probs (:mod:`.reference_cache`);
    the merged table's sequences are scored into it once, whichever rows this training keeps."""
    reference = FrozenReference(reference_model, reference_cache_for(reference_cache, dpo, loop))
    reference.check_policy(model)
    merged = prepare_pairs(pairs, objectives, tokenizer, format_prompt, dpo.max_length)
    reference.prepare(model, pair_sequences(merged), tokenizer.pad_token_id, meter)
    table = keep_rows_of(merged, objectives_in_use)
    sampler = preferences or PreferenceSampler(len(objectives), loop.seed)
    objective = DPOObjective(table, objectives, tokenizer.pad_token_id, dpo, sampler, reference,
                             apply_preferences, seed=loop.seed)
    return Trainer(model, objective, optim=optim, loop=loop, work_dir=work_dir,
                   deepspeed=deepspeed, meter=meter, counts_as=counts_as).train()


def train_ppo(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase,
              prompts: Sequence[str], objectives: Sequence[Objective],
              scorers: Mapping[str, Scorer], *, work_dir: Path,
              format_prompt: Callable[[str], str] = _identity, ppo: PPOConfig = PPOConfig(),
              optim: OptimConfig = OptimConfig(), loop: LoopConfig = LoopConfig(),
              preferences: PreferenceSampler | None = None,
              apply_preferences: ApplyPreferences = no_preferences,
              reference_model: torch.nn.Module | None = None, meter: CostMeter | None = None,
              combine_advantages: CombineAdvantages | None = None,
              deepspeed: DeepSpeedConfig | None = None, counts_as: CountsAs = None,
              whiten_per_objective: bool = False) -> TrainResult:
    """PPO against per-objective scorers with per-objective value heads, advantages combined
    with λ. The value heads train with the policy and live in its checkpoints; ``loop.steps``
    counts optimizer steps over all rollouts. Generated tokens count into ``meter`` (None: the
    active meters of :mod:`mobench.core.cost`). ``whiten_per_objective``: see
    :class:`~mobench.engine.ppo.PPOObjective`."""
    reference = FrozenReference(reference_model)
    reference.check_policy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(loop.seed)  # the heads' init is part of the run's seed
        critic = PolicyWithValueHeads(model, len(objectives), ppo.value_head_hidden,
                                      ppo.value_head_detach)
    sampler = preferences or PreferenceSampler(len(objectives), loop.seed)
    objective = PPOObjective(prompts, tokenizer, format_prompt, objectives, dict(scorers), ppo,
                             sampler, reference, apply_preferences, meter, combine_advantages,
                             seed=loop.seed, whiten_per_objective=whiten_per_objective)
    return Trainer(critic, objective, optim=optim, loop=loop, work_dir=work_dir,
                   deepspeed=deepspeed, meter=meter, counts_as=counts_as).train()
