"""Multi-objective PPO: per-objective rewards, value heads and GAE; advantages combined with λ.

One rollout: ``rollout_prompts`` prompts (shared across processes), one λ per prompt (or one for
the rollout) written into the policy through the method's hook, one sampled response each
(transformers ``generate``, seeded by (seed, rollout, rank)), one call of every objective's
scorer. Rewards are normalized by the objectives' bounds (0 at the low bound, 1 at the high one,
"min" objectives flipped) times ``reward_scale``, so λ-weights compare.

Per objective i, the per-token reward is −β (log π − log π_ref) on every response token (k1 KL
estimator) plus the normalized score r_i on the last one: J_i = E[r_i] − β KL, as in the RLHF
objective; its value head and GAE give A_i. Combined advantage: LS Σ_i λ_i A_i; Tche λ_k A_k with
k = argmin_i λ_i (J_i − z_i) per preference group (J_i estimated by the group's mean of
r_i − β KL over the rollout, z_i the running max of those batch means plus ``tche_margin``): the
Tchebycheff scalarization's subgradient. Then whitening (optional), the clipped surrogate, a
clipped value loss per head, ``ppo_epochs`` passes of minibatches over the rollout.

Whitening standardizes the combined advantage over the rollout, or, with
``whiten_per_objective``, each objective's A_i before a method's combiner and nothing after it:
for a combiner that compares advantages across objectives and gives zeros a meaning (PAMA's
Noon clip and projection), where standardizing the result would move its zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from mobench.core.cost import count_generated_tokens
from mobench.core.policy import derive_seed
from mobench.engine.aggregation import tchebycheff_selection
from mobench.engine.config import PPOConfig
from mobench.engine.data import BatchOrder, TokenBatch, collate
from mobench.engine.hooks import ApplyPreferences, no_preferences
from mobench.engine.logprobs import gather_logprobs
from mobench.engine.preferences import PreferenceSampler
from mobench.engine.reference import FrozenReference
from mobench.engine.trainer import RunContext

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from mobench.core.cost import CostMeter
    from mobench.core.specs import Objective
    from mobench.core.task import Scorer

ROLLOUT_STREAM, MINIBATCH_STREAM = 5, 6  # keys of the engine's seeded streams

CombineAdvantages = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""(advantages (n, m, T), preferences (n, m), response mask (n, T)) -> advantages (n, T);
replaces LS/Tche (PAMA's projection, say)."""


@dataclass(frozen=True)
class Rollout:
    """One rollout batch of this process, everything aligned to the T − 1 scored positions.

    Attributes:
        tokens: prompt + response sequences, right-padded.
        preferences: (n, m) λ per sample.
        old_logps: (n, T − 1) the policy's log-probs at rollout time.
        old_values: (n, m, T − 1) the value heads' predictions at rollout time.
        advantages: (n, T − 1) combined (and whitened) advantages.
        returns: (n, m, T − 1) per-objective value targets.
    """

    tokens: TokenBatch
    preferences: torch.Tensor
    old_logps: torch.Tensor
    old_values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor

    def rows(self, index: torch.Tensor) -> Rollout:
        """The samples ``index``, cut to their longest sequence."""
        width = int(self.tokens.attention_mask[index].sum(dim=1).max())
        tokens = TokenBatch(self.tokens.input_ids[index, :width],
                            self.tokens.attention_mask[index, :width],
                            self.tokens.response_mask[index, :width])
        cut = width - 1
        return Rollout(tokens, self.preferences[index], self.old_logps[index, :cut],
                       self.old_values[index, :, :cut], self.advantages[index, :cut],
                       self.returns[index, :, :cut])


class PPOObjective:
    """The :class:`~mobench.engine.trainer.TrainingObjective` of multi-objective PPO.

    The trained module must be a :class:`~mobench.engine.value_heads.PolicyWithValueHeads`.

    Args:
        prompts: raw training prompts (what the scorers see).
        tokenizer: the policy's tokenizer (needs a pad token).
        format_prompt: raw prompt -> the text the policy continues (the task's template).
        objectives: the objectives, in the order of λ (their bounds normalize the rewards).
        scorers: per objective name, a scorer of (raw prompts, responses) in raw units; pass the
            harness's counted scorers so reward calls show in the cost record.
        config: PPO settings.
        sampler: draws λ for each rollout (its ``step`` is the rollout index).
        reference: π_ref (a separate model, or the policy with its adapter disabled).
        apply_preferences: the method's hook, called before every policy forward and generate.
        meter: counts generated tokens (end-of-sequence excluded); None: the active meters of
            :mod:`mobench.core.cost` (the run's, inside ``fit``).
        combine_advantages: replaces the LS/Tche combination, if given.
        seed: seeds prompt order, rollouts and minibatch order.
        whiten_per_objective: when ``config.whiten_advantages`` is true, standardize each
            objective's advantages over the rollout before ``combine_advantages`` instead of the
            combined advantage after it (needs ``combine_advantages``).
    """

    def __init__(self, prompts: Sequence[str], tokenizer: PreTrainedTokenizerBase,
                 format_prompt: Callable[[str], str], objectives: Sequence[Objective],
                 scorers: dict[str, Scorer], config: PPOConfig, sampler: PreferenceSampler,
                 reference: FrozenReference, apply_preferences: ApplyPreferences = no_preferences,
                 meter: CostMeter | None = None,
                 combine_advantages: CombineAdvantages | None = None, seed: int = 0,
                 whiten_per_objective: bool = False) -> None:
        if whiten_per_objective and combine_advantages is None:
            raise ValueError("whiten_per_objective applies to a method's advantage combiner; "
                             "LS and Tche whiten the combined advantage")
        missing = [o.name for o in objectives if o.name not in scorers]
        if missing:
            raise ValueError(f"no scorer for objectives {missing}")
        if sampler.n_objectives != len(objectives):
            raise ValueError(f"the preference sampler draws {sampler.n_objectives} weights for "
                             f"{len(objectives)} objectives")
        if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer needs pad and end-of-sequence tokens for rollouts")
        self.prompts = list(prompts)
        self.tokenizer = tokenizer
        self.format_prompt = format_prompt
        self.objectives = tuple(objectives)
        self.scorers = scorers
        self.config = config
        self.sampler = sampler
        self.reference = reference
        self.apply_preferences = apply_preferences
        self.meter = meter
        self.combine_advantages = combine_advantages
        self.whiten_per_objective = whiten_per_objective
        self.seed = seed
        self.order = BatchOrder(len(self.prompts), seed)
        self.running_best: list[float] | None = None  # Tche: max batch-mean J_i so far
        self._rollout: Rollout | None = None
        self._rollout_index = -1
        self._steps_per_rollout = 0
        self._rollout_metrics: dict[str, float] = {}

    def steps_per_rollout(self, run: RunContext) -> int:
        share = self._share(run)
        per_step = run.loop.batch_size * run.loop.gradient_accumulation
        if share % per_step:
            raise ValueError(f"each process's {share} rollout samples do not split into steps of "
                             f"batch_size * gradient_accumulation = {per_step}")
        return self.config.ppo_epochs * share // per_step

    def _share(self, run: RunContext) -> int:
        if self.config.rollout_prompts % run.world_size:
            raise ValueError(f"ppo.rollout_prompts {self.config.rollout_prompts} does not split "
                             f"over {run.world_size} processes")
        return self.config.rollout_prompts // run.world_size

    def micro_batches(self, step: int, run: RunContext) -> list[Rollout]:
        per_rollout = self._steps_per_rollout = self.steps_per_rollout(run)
        rollout_index, position = divmod(step, per_rollout)
        if rollout_index != self._rollout_index:
            self._rollout = self._collect(rollout_index, run)
            self._rollout_index = rollout_index
        assert self._rollout is not None
        share = self._share(run)
        steps_per_epoch = per_rollout // self.config.ppo_epochs
        epoch, in_epoch = divmod(position, steps_per_epoch)
        rng = np.random.default_rng(derive_seed(self.seed, MINIBATCH_STREAM, rollout_index,
                                                epoch, run.rank))
        order = torch.from_numpy(rng.permutation(share))
        size = run.loop.batch_size
        first = in_epoch * run.loop.gradient_accumulation
        return [self._rollout.rows(order[(first + k) * size:(first + k + 1) * size])
                for k in range(run.loop.gradient_accumulation)]

    def at_boundary(self, step: int) -> bool:
        # Only between rollouts: the buffer is rebuilt from (seed, rollout, weights) on resume.
        return self._steps_per_rollout > 0 and (step + 1) % self._steps_per_rollout == 0

    def state_dict(self) -> dict[str, Any]:
        return {"running_best": self.running_best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.running_best = state.get("running_best")

    def _logprobs(self, logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Log-probs of the tokens under the distribution they were sampled from: the logits
        divided by the sampling temperature (as TRL does), so the ratio and KL are exact."""
        return gather_logprobs(logits[:, :-1] / self.config.temperature, input_ids[:, 1:])

    # -- rollouts ------------------------------------------------------------------------------

    @torch.no_grad()
    def _collect(self, rollout_index: int, run: RunContext) -> Rollout:
        total, share = self.config.rollout_prompts, self._share(run)
        indices = self.order.indices(rollout_index * total, total)
        mine = slice(run.rank * share, (run.rank + 1) * share)
        prompts = [self.prompts[i] for i in indices[mine]]
        preferences = self.sampler.sample(rollout_index, total)[mine]
        seed = derive_seed(self.seed, ROLLOUT_STREAM, rollout_index, run.rank)
        policy = cast(torch.nn.Module, run.module.policy)
        prompt_ids, response_ids = self._generate(policy, prompts, preferences, seed)
        responses = [cast(str, self.tokenizer.decode(r, skip_special_tokens=True)).strip()
                     for r in response_ids]
        scores = self._score(prompts, responses)
        tokens = collate(prompt_ids, response_ids, self.tokenizer.pad_token_id)
        self.apply_preferences(preferences)
        logits, values = run.module(tokens.input_ids, tokens.attention_mask)
        old_logps = self._logprobs(logits, tokens.input_ids)
        mask = tokens.response_mask[:, 1:].to(old_logps.dtype)
        old_logps = old_logps * mask
        ref_logps = self.reference.token_logprobs(policy, tokens,
                                                  temperature=self.config.temperature)
        old_values = values[:, :-1].permute(0, 2, 1) * mask[:, None, :]
        kl = (old_logps - ref_logps) * mask  # k1 estimator per token
        rewards = self._token_rewards(scores, kl, mask)
        advantages = discounted_advantages(rewards, old_values, mask, self.config.gamma,
                                           self.config.gae_lambda)
        returns = advantages + old_values
        estimates = scores - self.config.kl_coef * kl.sum(dim=1, keepdim=True)
        if self.config.whiten_advantages and self.whiten_per_objective:
            # The value targets above keep the raw advantages; only the combiner's input changes.
            per_objective = torch.stack([whiten(advantages[:, i], mask)
                                         for i in range(advantages.shape[1])], dim=1)
            combined = self._combine(per_objective, preferences, mask, estimates)
        else:
            combined = self._combine(advantages, preferences, mask, estimates)
            if self.config.whiten_advantages:
                combined = whiten(combined, mask)
        self._rollout_metrics = self._describe(scores, kl, mask, response_ids, combined)
        return Rollout(tokens, preferences, old_logps, old_values, combined, returns)

    def _generate(self, policy: torch.nn.Module, prompts: list[str], preferences: torch.Tensor,
                  seed: int) -> tuple[list[list[int]], list[list[int]]]:
        texts = [self.format_prompt(p) for p in prompts]
        prompt_ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        width = max(len(p) for p in prompt_ids)
        # Left padding: generation continues every prompt from the right edge.
        ids = torch.full((len(texts), width), pad, dtype=torch.long)
        attention = torch.zeros_like(ids)
        for row, p in enumerate(prompt_ids):
            ids[row, width - len(p):] = torch.tensor(p)
            attention[row, width - len(p):] = 1
        self.apply_preferences(preferences)
        was_training = policy.training
        policy.eval()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                output = cast(Any, policy).generate(
                                         input_ids=ids, attention_mask=attention, do_sample=True,
                                         temperature=self.config.temperature,
                                         top_p=self.config.top_p, top_k=0,
                                         max_new_tokens=self.config.max_new_tokens,
                                         pad_token_id=pad, eos_token_id=eos)
        finally:
            policy.train(was_training)
        new = output[:, width:]
        # Keep tokens up to and including the first end-of-sequence (the policy learns to stop).
        ended_before = (new == eos).long().cumsum(dim=1) - (new == eos).long()
        lengths = (ended_before == 0).sum(dim=1).tolist()
        response_ids = [row[:n] for row, n in zip(new.tolist(), lengths, strict=True)]
        generated = sum(n - (1 if r and r[-1] == eos else 0)
                        for r, n in zip(response_ids, lengths, strict=True))
        if self.meter is not None:
            self.meter.add(generated_tokens=generated)
        else:
            count_generated_tokens(generated)
        return prompt_ids, response_ids

    def _score(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        columns = []
        for objective in self.objectives:
            raw = np.asarray(self.scorers[objective.name](prompts, responses), dtype=np.float64)
            columns.append(objective.normalize(raw) * self.config.reward_scale)
        return torch.tensor(np.stack(columns, axis=1), dtype=torch.float32)

    def _token_rewards(self, scores: torch.Tensor, kl: torch.Tensor,
                       mask: torch.Tensor) -> torch.Tensor:
        """(n, m, T − 1): −β KL per token for every objective, plus r_i on the last token."""
        last = mask.cumsum(dim=1).argmax(dim=1)  # index of the last response position
        final = torch.zeros_like(mask)
        final[torch.arange(len(mask)), last] = 1.0
        return (-self.config.kl_coef * kl)[:, None, :] + scores[:, :, None] * final[:, None, :]

    def _combine(self, advantages: torch.Tensor, preferences: torch.Tensor, mask: torch.Tensor,
                 estimates: torch.Tensor) -> torch.Tensor:
        if self.combine_advantages is not None:
            return self.combine_advantages(advantages, preferences, mask) * mask
        if self.config.aggregation == "ls":
            coefficients = preferences
        else:
            ideal = self._update_ideal(estimates)
            coefficients = tchebycheff_selection(estimates, preferences, ideal)
        return torch.einsum("nm,nmt->nt", coefficients, advantages) * mask

    def _update_ideal(self, estimates: torch.Tensor) -> torch.Tensor:
        means = estimates.mean(dim=0).double()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(means)  # one ideal point for all processes
            means /= torch.distributed.get_world_size()
        best = means.tolist() if self.running_best is None else [
            max(a, b) for a, b in zip(self.running_best, means.tolist(), strict=True)]
        self.running_best = best
        return torch.tensor(best, dtype=estimates.dtype) + self.config.tche_margin

    def _describe(self, scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor,
                  response_ids: list[list[int]], combined: torch.Tensor) -> dict[str, float]:
        metrics = {f"reward/{o.name}": float(scores[:, i].mean())
                   for i, o in enumerate(self.objectives)}
        metrics["kl"] = float(kl.sum(dim=1).mean())
        metrics["response_tokens"] = float(np.mean([len(r) for r in response_ids]))
        # How much signal the surrogate gets: a combiner that zeroes advantages (PAMA's Noon clip
        # and projection) trains on fewer tokens, and the surrogate averages over all of them.
        metrics["advantage/nonzero_share"] = float(masked_mean((combined != 0).float(), mask))
        metrics["advantage/mean_abs"] = float(masked_mean(combined.abs(), mask))
        return metrics

    # -- update --------------------------------------------------------------------------------

    def loss(self, batch: Rollout, run: RunContext) -> tuple[torch.Tensor, dict[str, float]]:
        self.apply_preferences(batch.preferences)
        logits, values = run.forward(batch.tokens.input_ids, batch.tokens.attention_mask)
        mask = batch.tokens.response_mask[:, 1:].to(batch.old_logps.dtype)
        logps = self._logprobs(logits, batch.tokens.input_ids) * mask
        values = values[:, :-1].permute(0, 2, 1).float()
        ratio = torch.exp(logps - batch.old_logps)
        clip = self.config.clip_range
        surrogate = torch.maximum(-batch.advantages * ratio,
                                  -batch.advantages * ratio.clamp(1 - clip, 1 + clip))
        policy_loss = masked_mean(surrogate, mask)
        value_error = (values - batch.returns) ** 2
        if self.config.value_clip > 0:
            clipped = batch.old_values + (values - batch.old_values).clamp(
                -self.config.value_clip, self.config.value_clip)
            value_error = torch.maximum(value_error, (clipped - batch.returns) ** 2)
        # One regression per head, summed: each objective's critic has its own loss.
        value_loss = 0.5 * masked_mean(value_error, mask[:, None, :].expand_as(value_error)) \
            * values.shape[1]
        loss = policy_loss + self.config.value_coef * value_loss
        with torch.no_grad():
            metrics = {"policy_loss": float(policy_loss), "value_loss": float(value_loss),
                       "approx_kl_old": float(masked_mean(batch.old_logps - logps, mask)),
                       "clip_fraction": float(masked_mean(((ratio - 1).abs() > clip).float(),
                                                          mask))}
        metrics.update(self._rollout_metrics)
        return loss, metrics


def discounted_advantages(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                          gamma: float, lam: float) -> torch.Tensor:
    """GAE per objective, (n, m, T) in and out, without a Python loop over tokens.

    δ_t = r_t + γ V_{t+1} − V_t on response positions (V past the last one is 0), and
    A_t = Σ_{k≥t} (γλ)^{k−t} δ_k, computed as δ times an upper-triangular discount matrix.
    Responses are contiguous, so positions outside them hold δ = 0 and never leak in.
    """
    mask3 = mask[:, None, :]
    next_values = torch.cat([values[..., 1:] * mask3[..., 1:],
                             torch.zeros_like(values[..., :1])], dim=-1)
    deltas = (rewards + gamma * next_values - values) * mask3
    steps = torch.arange(deltas.shape[-1], dtype=deltas.dtype)
    distance = steps[:, None] - steps[None, :]  # k − t, rows k, columns t
    discount = torch.where(distance >= 0, (gamma * lam) ** distance.clamp(min=0),
                           torch.zeros_like(distance))
    return (deltas @ discount) * mask3


def whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Standardize over the masked entries."""
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    return (values - mean) * torch.rsqrt(variance + 1e-8) * mask


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)
