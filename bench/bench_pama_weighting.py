"""PAMA's closed-form weighting against MGDA's min-norm solve over per-objective gradients.

PAMA's claim (He and Maghsudi, 2025): weighting n objectives by the minimum-norm combination of
their scalar advantages (O(n) per token) is about 1000x faster than MGDA's minimum-norm problem
over their gradients (O(n²d), d trainable parameters). Measured here, like for like: the same
model, the same batch (16 sequences of a 16-token prompt and a 48-token response, mobench's PPO
shapes), the same per-objective advantages, the same float32, the same torch threads, the same
AdamW step; the value heads and their loss are left out of both.

- PAMA's step: one forward, the weighting (:func:`mobench.methods.pama.per_sample_weighting`,
  what the engine's PPO calls; in training it runs once per rollout, here once per step), the
  clipped surrogate on the combined advantage, one backward, the optimizer step.
- MGDA's step: one forward, the Noon-clipped surrogate of each objective, n backward passes for
  the n gradients of the trainable parameters, their Gram matrix and the min-norm weights
  (:func:`mobench.engine.min_norm.min_norm_weights`: exact for n = 2, Frank-Wolfe from the best
  pair otherwise, as Sener and Koltun's solver), the weighted gradient, the optimizer step.

MGDA's weighting is timed two ways: the solve alone (Gram matrix and weights, given the
gradients: the O(n²d) part the paper names) and with the n − 1 backward passes it needs beyond
the one every step takes (what it really costs over PAMA). Each figure is the median over the
timed steps, after untimed warm-up steps. Trainable parameters are a LoRA adapter (rank 8 on
every linear layer of the blocks, as mobench trains) or, with ``full``, every parameter (the
paper's setting, where d is the model's size).

    python bench/bench_pama_weighting.py [--sizes tiny,small,medium] [--objectives 2,3,5,10]
        [--trainable lora,full] [--steps 5] [--warmup 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from mobench.adapters import LoRASettings, add_lora_adapter
from mobench.data.models import tiny_causal_lm
from mobench.engine.logprobs import gather_logprobs
from mobench.engine.min_norm import min_norm_weights
from mobench.methods.pama import noon_clip, per_sample_weighting

BATCH, PROMPT_TOKENS, RESPONSE_TOKENS, VOCAB = 16, 16, 48, 1024
CLIP_RANGE = 0.2


@dataclass(frozen=True)
class ModelSize:
    """A GPT-2 shape: ``tiny`` is the tiny tasks' reference policy's."""

    name: str
    layers: int
    width: int
    heads: int


SIZES = {size.name: size for size in (ModelSize("tiny", 2, 128, 4), ModelSize("small", 4, 256, 4),
                                      ModelSize("medium", 6, 512, 8))}


@dataclass(frozen=True)
class StepTimes:
    """Median seconds of one training step and of its weighting."""

    step: float
    weighting: float
    solve: float  # MGDA only: Gram matrix and weights, given the gradients


def build_model(size: ModelSize, trainable: str) -> torch.nn.Module:
    model = tiny_causal_lm("gpt2", VOCAB, n_layers=size.layers, width=size.width,
                           n_heads=size.heads, max_positions=PROMPT_TOKENS + RESPONSE_TOKENS,
                           seed=0)
    if trainable == "lora":
        return add_lora_adapter(model, LoRASettings(), "bench", seed=0)
    return model


def batch(n_objectives: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids, the response mask of the scored positions, per-objective advantages."""
    generator = torch.Generator().manual_seed(n_objectives)
    ids = torch.randint(2, VOCAB, (BATCH, PROMPT_TOKENS + RESPONSE_TOKENS), generator=generator)
    mask = torch.zeros(BATCH, PROMPT_TOKENS + RESPONSE_TOKENS - 1)
    mask[:, PROMPT_TOKENS - 1:] = 1.0
    advantages = torch.randn(BATCH, n_objectives, mask.shape[1], generator=generator) * mask[:,
                                                                                          None]
    return ids, mask, advantages


def surrogate(logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor,
              mask: torch.Tensor) -> torch.Tensor:
    """PPO's clipped surrogate loss, as the engine computes it."""
    ratio = torch.exp(logps - old_logps)
    loss = torch.maximum(-advantages * ratio,
                         -advantages * ratio.clamp(1 - CLIP_RANGE, 1 + CLIP_RANGE))
    return (loss * mask).sum() / mask.sum()


def forward_logps(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=ids, use_cache=False).logits[:, :-1]
    return gather_logprobs(logits, ids[:, 1:])


def pama_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, ids: torch.Tensor,
              mask: torch.Tensor, advantages: torch.Tensor) -> tuple[float, float]:
    preferences = torch.full(advantages.shape[:2], 1.0 / advantages.shape[1])
    start = time.perf_counter()
    logps = forward_logps(model, ids)
    weighting_start = time.perf_counter()
    combined = per_sample_weighting(advantages, preferences, mask)
    weighting = time.perf_counter() - weighting_start
    surrogate(logps, logps.detach(), combined, mask).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start, weighting


def mgda_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, ids: torch.Tensor,
              mask: torch.Tensor, advantages: torch.Tensor) -> tuple[float, float, float]:
    parameters = [p for p in model.parameters() if p.requires_grad]
    n = advantages.shape[1]
    start = time.perf_counter()
    logps = forward_logps(model, ids)
    old = logps.detach()
    clipped = noon_clip(advantages)
    rows = []
    for i in range(n):
        if i == 1:
            extra_start = time.perf_counter()  # the first backward is one any step takes
        grads = torch.autograd.grad(surrogate(logps, old, clipped[:, i], mask), parameters,
                                    retain_graph=i < n - 1)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    solve_start = time.perf_counter()
    gradients = torch.stack(rows)
    weights = min_norm_weights(gradients @ gradients.T).to(gradients.dtype)
    solve = time.perf_counter() - solve_start
    combined = weights @ gradients
    offset = 0
    for p in parameters:
        p.grad = combined[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
    # Beyond the one backward any step takes: the other n - 1, the solve, the recombination.
    weighting = time.perf_counter() - extra_start
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start, weighting, solve


def timed(step: Callable[[], tuple[float, ...]], warmup: int, steps: int) -> list[float]:
    for _ in range(warmup):
        step()
    samples = [step() for _ in range(steps)]
    return [statistics.median(column) for column in zip(*samples, strict=True)]


def measure(size: ModelSize, trainable: str, n: int, args: argparse.Namespace
            ) -> tuple[int, StepTimes, StepTimes]:
    model = build_model(size, trainable)
    model.train()
    d = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    ids, mask, advantages = batch(n)
    pama_total, pama_weighting = timed(lambda: pama_step(model, optimizer, ids, mask, advantages),
                                       args.warmup, args.steps)
    mgda_total, mgda_weighting, mgda_solve = timed(
        lambda: mgda_step(model, optimizer, ids, mask, advantages), args.warmup, args.steps)
    return (d, StepTimes(pama_total, pama_weighting, pama_weighting),
            StepTimes(mgda_total, mgda_weighting, mgda_solve))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="tiny,small,medium")
    parser.add_argument("--objectives", default="2,3,5,10")
    parser.add_argument("--trainable", default="lora,full")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"like for like: same model, same batch ({BATCH} x {PROMPT_TOKENS}+{RESPONSE_TOKENS} "
          f"tokens), same advantages, float32, {torch.get_num_threads()} torch threads, AdamW; "
          f"medians of {args.steps} steps after {args.warmup} untimed")
    print("PAMA w = its weighting; MGDA solve = Gram matrix + min-norm weights given the "
          "gradients; MGDA w = the solve plus the n-1 extra backward passes it needs")
    header = (f"{'model':>7} {'train':>5} {'d':>10} {'n':>3} {'PAMA w':>9} {'MGDA solve':>10} "
              f"{'MGDA w':>9} {'solve/PAMA':>10} {'w/PAMA':>9} {'PAMA step':>9} "
              f"{'MGDA step':>9} {'step ratio':>10} {'PAMA w %':>8} {'MGDA w %':>8}")
    print(header)
    for trainable in args.trainable.split(","):
        for name in args.sizes.split(","):
            for n in (int(k) for k in args.objectives.split(",")):
                d, pama, mgda = measure(SIZES[name], trainable, n, args)
                print(f"{name:>7} {trainable:>5} {d:>10,} {n:>3} {pama.weighting * 1e6:>7.0f}us "
                      f"{mgda.solve * 1e3:>8.2f}ms {mgda.weighting * 1e3:>7.1f}ms "
                      f"{mgda.solve / pama.weighting:>9.0f}x "
                      f"{mgda.weighting / pama.weighting:>8.0f}x "
                      f"{pama.step * 1e3:>7.0f}ms {mgda.step * 1e3:>7.0f}ms "
                      f"{mgda.step / pama.step:>9.2f}x "
                      f"{100 * pama.weighting / pama.step:>7.2f}% "
                      f"{100 * mgda.weighting / mgda.step:>7.1f}%", flush=True)


if __name__ == "__main__":
    main()
