"""Frozen, typed configs of the training engine: optimizer, loop, objectives, DeepSpeed.

Each config checks its own fields on construction and raises ``ValueError`` naming the field, so a
bad value fails before any model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

Aggregation = Literal["ls", "tche"]
AGGREGATIONS: tuple[str, ...] = ("ls", "tche")
Reduction = Literal["sum", "mean"]
LRSchedule = Literal["constant", "linear", "cosine"]


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and its learning-rate schedule.

    Attributes:
        learning_rate: peak learning rate.
        weight_decay: AdamW decoupled weight decay, applied to matrices only (not to biases,
            norms or other vectors).
        betas: AdamW's moment coefficients.
        eps: AdamW's epsilon.
        warmup_steps: optimizer steps of linear warm-up from 0 to ``learning_rate``.
        schedule: after warm-up, ``constant``, ``linear`` decay, or ``cosine`` decay, over the
            remaining steps, down to ``min_lr_ratio`` of the peak.
        min_lr_ratio: where a decaying schedule ends, as a fraction of the peak (0 by default).
        max_grad_norm: clip the global gradient norm to this value (0: no clipping).
    """

    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    schedule: LRSchedule = "constant"
    min_lr_ratio: float = 0.0
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        _check_positive("optim.learning_rate", self.learning_rate)
        if self.weight_decay < 0:
            raise ValueError(f"optim.weight_decay must not be negative, got {self.weight_decay}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"optim.betas must be two numbers in [0, 1), got {self.betas}")
        _check_positive("optim.eps", self.eps)
        if self.warmup_steps < 0:
            raise ValueError(f"optim.warmup_steps must not be negative, got {self.warmup_steps}")
        _check_choice("optim.schedule", self.schedule, ("constant", "linear", "cosine"))
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"optim.min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}")
        if self.max_grad_norm < 0:
            raise ValueError(f"optim.max_grad_norm must be 0 (off) or positive, "
                             f"got {self.max_grad_norm}")


@dataclass(frozen=True)
class LoopConfig:
    """The shared training loop: steps, batching, seeding, checkpoints and logging.

    Attributes:
        steps: optimizer steps in total (PPO: over all rollouts and epochs).
        batch_size: rows per micro-batch on each process (DPO: pairs; SFT: responses; PPO:
            rollout samples per minibatch). Rows per optimizer step are
            ``batch_size * gradient_accumulation * world_size``.
        gradient_accumulation: micro-batches whose gradients add up to one optimizer step.
        seed: seeds the data order, preference draws, rollouts and the torch, numpy and python
            generators; same seed, same run.
        checkpoint_every: write a checkpoint every this many optimizer steps (0: only at the
            end). PPO checkpoints at the first rollout boundary at or after each multiple.
        keep_checkpoints: how many of the latest checkpoints to keep on disk (at least 1).
        log_every: append a line of metrics to the JSONL log every this many steps.
        disable_dropout: set every dropout probability to 0 before training, so the log-probs of
            the policy, the reference and PPO's old policy are computed by the same function.
        seed_generators: seed python's, numpy's and torch's global generators from ``seed`` at
            the start (false: keep the caller's state, for a caller that seeded them itself;
            a resumed run restores them from its checkpoint either way).
        progress_desc: label of the progress bar.
    """

    steps: int = 100
    batch_size: int = 8
    gradient_accumulation: int = 1
    seed: int = 0
    checkpoint_every: int = 0
    keep_checkpoints: int = 1
    log_every: int = 1
    disable_dropout: bool = True
    seed_generators: bool = True
    progress_desc: str = "training"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "gradient_accumulation", "keep_checkpoints",
                     "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"loop.{name} must be at least 1, got {getattr(self, name)}")
        if self.checkpoint_every < 0:
            raise ValueError(f"loop.checkpoint_every must be 0 (end only) or positive, "
                             f"got {self.checkpoint_every}")


@dataclass(frozen=True)
class PreferenceConfig:
    """How the preference vector λ is drawn for training (Panacea's Algorithm 1).

    Attributes:
        vertex_probability: probability that a draw is a one-hot vertex of the simplex (chosen
            uniformly among the m vertices) instead of a Dirichlet draw; the paper samples the
            single-objective preferences more often than the interior.
        concentration: Dirichlet concentration of the interior draws (1: uniform on the simplex).
        per_row: one λ per row of a batch (true) or one λ per optimizer step shared by all its
            rows (false, as in Algorithm 1).
    """

    vertex_probability: float = 0.0
    concentration: float = 1.0
    per_row: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.vertex_probability <= 1:
            raise ValueError(f"preferences.vertex_probability must lie in [0, 1], "
                             f"got {self.vertex_probability}")
        _check_positive("preferences.concentration", self.concentration)


@dataclass(frozen=True)
class SFTConfig:
    """Per-objective supervised fine-tuning, aggregated over objectives.

    J_SFT,i is the mean over objective i's rows of log π(y|x) (response tokens only).

    Attributes:
        aggregation: ``ls`` (Σ λ_i J_i) or ``tche`` (min_i λ_i (J_i − z_i)).
        reduction: per response, the ``sum`` of its token log-probs or their ``mean``; ``mean``
            keeps long and short responses on one scale, as the usual SFT loss does.
        max_length: longest prompt plus response in tokens; longer responses are cut at the end
            (prompts longer than half of it are cut from the left).
        tche_ideal: z_i of the Tchebycheff aggregate, one number for every objective.
    """

    aggregation: Aggregation = "ls"
    reduction: Reduction = "mean"
    max_length: int = 256
    tche_ideal: float = 0.0

    def __post_init__(self) -> None:
        _check_choice("sft.aggregation", self.aggregation, AGGREGATIONS)
        _check_choice("sft.reduction", self.reduction, ("sum", "mean"))
        if self.max_length < 2:
            raise ValueError(f"sft.max_length must be at least 2, got {self.max_length}")


@dataclass(frozen=True)
class DPOConfig:
    """Per-objective DPO, aggregated over objectives.

    loss_i = −log σ(β[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))]) averaged
    over the rows labelled for objective i; J_i = −loss_i; the loss is −aggregate.

    Attributes:
        beta: DPO's inverse temperature β.
        aggregation: ``ls`` (Σ λ_i J_i) or ``tche`` (min_i λ_i (J_i − z_i), z = 0).
        reduction: log π(y|x) as the ``sum`` of response-token log-probs (standard DPO) or
            their ``mean``.
        max_length: longest prompt plus response in tokens (see :class:`SFTConfig`).
        reference_cache: read π_ref's log-prob of each training sequence from the task's cache,
            computed once per reference (:mod:`mobench.engine.reference_cache`), instead of a
            reference forward in every batch; used where the task has an asset folder and dropout
            is off, else the forward runs as before.
    """

    beta: float = 0.1
    aggregation: Aggregation = "ls"
    reduction: Reduction = "sum"
    max_length: int = 256
    reference_cache: bool = True

    def __post_init__(self) -> None:
        _check_positive("dpo.beta", self.beta)
        _check_choice("dpo.aggregation", self.aggregation, AGGREGATIONS)
        _check_choice("dpo.reduction", self.reduction, ("sum", "mean"))
        if self.max_length < 2:
            raise ValueError(f"dpo.max_length must be at least 2, got {self.max_length}")


@dataclass(frozen=True)
class PPOConfig:
    """PPO with one value head per objective and λ-combined advantages.

    Rewards are the objectives' raw scores normalized by their bounds (``Objective.normalize``:
    0 at the low bound, 1 at the high bound, direction flipped for "min" objectives) times
    ``reward_scale``, so λ-weights compare across objectives whatever each reward model's units.

    Attributes:
        rollout_prompts: prompts per rollout (one response each), across all processes.
        ppo_epochs: passes over each rollout batch.
        max_new_tokens: generation budget per response.
        temperature: sampling temperature of rollouts; the policy's, old policy's and
            reference's log-probs are taken from the same tempered distribution (logits divided
            by it, as TRL does), so the PPO ratio and the KL are those of what was sampled.
        top_p: nucleus mass of rollouts; only 1 is accepted: a truncated distribution gives the
            tokens it cuts no log-probability, so ratio and KL would not be the sampler's.
        kl_coef: β of the per-token KL penalty −β (log π − log π_ref) (k1 estimator) added to
            every objective's reward stream.
        reward_scale: normalized rewards are multiplied by this.
        clip_range: PPO's ratio clip ε.
        value_clip: clip of the value prediction around the rollout's value (0: no clip).
        value_coef: weight of the value loss in the total loss.
        gamma: discount of GAE.
        gae_lambda: λ of GAE (not the preference).
        whiten_advantages: standardize the combined advantages over the rollout batch.
        aggregation: ``ls`` (A = Σ λ_i A_i) or ``tche`` (A = λ_k A_k, k the objective where
            λ_k (J_k − z_k) is smallest; see :mod:`mobench.engine.aggregation`).
        tche_margin: z_k of the Tchebycheff variant is the running maximum of the batch-mean
            J_k plus this margin.
        value_head_detach: the value heads read the policy's final hidden states detached (the
            critic does not move the policy), or attached (a shared actor-critic trunk).
        value_head_hidden: width of the value heads' hidden layer (0: linear heads).
    """

    rollout_prompts: int = 16
    ppo_epochs: int = 2
    max_new_tokens: int = 32
    temperature: float = 1.0
    top_p: float = 1.0
    kl_coef: float = 0.05
    reward_scale: float = 1.0
    clip_range: float = 0.2
    value_clip: float = 0.2
    value_coef: float = 0.5
    gamma: float = 1.0
    gae_lambda: float = 0.95
    whiten_advantages: bool = True
    aggregation: Aggregation = "ls"
    tche_margin: float = 0.1
    value_head_detach: bool = True
    value_head_hidden: int = 64

    def __post_init__(self) -> None:
        for name in ("rollout_prompts", "ppo_epochs", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"ppo.{name} must be at least 1, got {getattr(self, name)}")
        _check_positive("ppo.temperature", self.temperature)
        if self.top_p != 1:
            raise ValueError(f"ppo.top_p must be 1 (got {self.top_p}): PPO needs the log-probs of "
                             "the distribution rollouts are sampled from, and nucleus sampling "
                             "truncates it; lower ppo.temperature instead")
        for name in ("kl_coef", "value_clip", "value_coef", "tche_margin", "value_head_hidden"):
            if getattr(self, name) < 0:
                raise ValueError(f"ppo.{name} must not be negative, got {getattr(self, name)}")
        _check_positive("ppo.reward_scale", self.reward_scale)
        _check_positive("ppo.clip_range", self.clip_range)
        if not 0 <= self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ValueError("ppo.gamma and ppo.gae_lambda must lie in [0, 1]")
        _check_choice("ppo.aggregation", self.aggregation, AGGREGATIONS)


@dataclass(frozen=True)
class DeepSpeedConfig:
    """Optional DeepSpeed wrapping of the policy (data parallel, ZeRO).

    Attributes:
        stage: ZeRO stage 0, 2 or 3, with mobench's shipped config for 2 and 3
            (``mobench/engine/deepspeed_configs/zero{2,3}.json``); ignored when ``config_path``
            is given.
        config_path: a DeepSpeed JSON config of one's own. Batch sizes, gradient accumulation
            and clipping are always overwritten from :class:`LoopConfig` and
            :class:`OptimConfig`, so one config serves every run.
        backend: the torch.distributed backend: ``gloo`` (CPU) or ``nccl`` (GPU).
        bf16: train in bfloat16 mixed precision (GPUs; keep false on CPU).
    """

    stage: int = 2
    config_path: str = ""
    backend: str = "nccl"
    bf16: bool = False

    def __post_init__(self) -> None:
        if self.stage not in (0, 2, 3):
            raise ValueError(f"deepspeed.stage must be 0, 2 or 3, got {self.stage}")
        if self.config_path and not Path(self.config_path).is_file():
            raise ValueError(f"deepspeed.config_path {self.config_path!r} is not a file")
        _check_choice("deepspeed.backend", self.backend, ("gloo", "nccl"))


TrainingSignalChoice = Literal["auto", "sft", "dpo", "ppo"]


@dataclass(frozen=True)
class TrainingConfig:
    """The training every method embeds: one model (or adapter) trained on a task's signal.

    One config for every method, with the same defaults, so no method is tuned more than
    another: an RS expert, a DPS grid model, Panacea's single model and PAMA's policy each get
    these steps, batch, optimizer and objective settings unless a run overrides them.

    Attributes:
        signal: ``sft``, ``dpo``, ``ppo``, or ``auto`` (the task's ``training.default_signal``).
        steps: optimizer steps (PPO: over all rollouts and epochs).
        batch_size: rows per micro-batch (DPO: pairs; SFT: responses; PPO: rollout samples).
        gradient_accumulation: micro-batches per optimizer step.
        checkpoints: checkpoints written over the run (every ``steps // checkpoints`` steps; the
            last one at the end); a killed run resumes from the latest.
        optim: AdamW and its schedule. The learning rate 2e-3 is Panacea's (the reimplementations'
            actor rate), kept for every method.
        sft: the SFT objective (aggregation, reduction, length).
        dpo: the DPO objective. β = 0.5 rather than DPO's usual 0.1: on the tiny tasks' noisy
            labels 0.1 over-fits the labels (reward-model front up, exact front down), the
            over-optimization the tiny scale is built to show.
        ppo: PPO (rollouts, KL coefficient, clip, aggregation); the paper's KL 0.02 and reward
            scale 5.
        deepspeed: run in a DeepSpeed engine (ZeRO 2/3, several processes); None: plain PyTorch.
    """

    signal: TrainingSignalChoice = "auto"
    steps: int = 400
    batch_size: int = 16
    gradient_accumulation: int = 1
    checkpoints: int = 4
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        learning_rate=2e-3, warmup_steps=5, max_grad_norm=1.0))
    sft: SFTConfig = field(default_factory=lambda: SFTConfig(max_length=128))
    dpo: DPOConfig = field(default_factory=lambda: DPOConfig(beta=0.5, max_length=128))
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(
        rollout_prompts=32, ppo_epochs=2, max_new_tokens=48, kl_coef=0.02, reward_scale=5.0))
    deepspeed: DeepSpeedConfig | None = None

    def __post_init__(self) -> None:
        _check_choice("train.signal", self.signal, ("auto", "sft", "dpo", "ppo"))
        for name in ("steps", "batch_size", "gradient_accumulation", "checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be at least 1, got {getattr(self, name)}")

    def loop(self, seed: int, progress_desc: str) -> LoopConfig:
        """The engine loop of this training, seeded by the run."""
        return LoopConfig(steps=self.steps, batch_size=self.batch_size,
                          gradient_accumulation=self.gradient_accumulation, seed=seed,
                          checkpoint_every=max(1, self.steps // self.checkpoints),
                          progress_desc=progress_desc)

    def with_steps(self, steps: int) -> TrainingConfig:
        """The same training with another number of steps (equal-budget splits)."""
        return replace(self, steps=max(1, steps))
