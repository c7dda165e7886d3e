"""Evaluating a whole front with per-row λ in one generate call vs one call per λ (SVD-LoRA).

An 11-point front over 2 objectives, 16 prompts, 48 new tokens, greedy, on CPU: the batched path
generates all 176 (prompt, λ) rows in one ``generate`` call with per-row λ; the looped path makes
11 calls of 16 rows, one λ each. Both must produce identical tokens (asserted). The adapter gets
non-zero σ and s (as after training) so that λ changes the outputs.

    python bench/bench_front_batching.py              # three model sizes, ~1.5 minutes when idle
    python bench/bench_front_batching.py --threads 1  # steadier when other jobs share the cores
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from mobench.adapters import SVDLoRAConfig, add_svd_lora, preferences_set, svd_lora_layers
from mobench.data.models import Architecture, tiny_causal_lm

PAD_ID, EOS_ID = 0, 1


@dataclass(frozen=True)
class BenchModel:
    """One model size to measure."""

    label: str
    architecture: Architecture
    n_layers: int
    width: int
    n_heads: int
    vocab_size: int = 2048


# The first model is deliberately minute: per-call overhead dominates it, which shows the regime
# where batching the front pays most; the other two are the sizes the tiny scale uses.
MODELS = (BenchModel("gpt2 1x32", "gpt2", n_layers=1, width=32, n_heads=2, vocab_size=512),
          BenchModel("gpt2 2x128", "gpt2", n_layers=2, width=128, n_heads=2),
          BenchModel("llama 4x256", "llama", n_layers=4, width=256, n_heads=4))


@dataclass(frozen=True)
class Timing:
    """Best-of-repeats wall clock for one model.

    Attributes:
        label: the model.
        batched_s: the front in one call with per-row λ.
        looped_s: the front in one call per λ.
        floor_s: the frozen base model (adapter disabled) generating the same rows in one call:
            the compute floor of any batched path, so looped_s / floor_s bounds the speedup.
    """

    label: str
    batched_s: float
    looped_s: float
    floor_s: float

    @property
    def speedup(self) -> float:
        return self.looped_s / self.batched_s

    @property
    def bound(self) -> float:
        return self.looped_s / self.floor_s


def build_model(spec: BenchModel) -> torch.nn.Module:
    """The tiny model with SVD-LoRA (k = 8, m = 2) whose σ and s are set as after training."""
    base = tiny_causal_lm(spec.architecture, spec.vocab_size, n_layers=spec.n_layers,
                          width=spec.width, n_heads=spec.n_heads, seed=0,
                          pad_token_id=PAD_ID, eos_token_id=EOS_ID)
    torch.manual_seed(0)
    model = add_svd_lora(base, SVDLoRAConfig(n_preferences=2))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in svd_lora_layers(model).values():
            layer.sigma("default").normal_(generator=generator)
            layer.pref_scale("default").normal_(std=2.0, generator=generator)
    return model.eval()


def prompt_batch(n_prompts: int, vocab_size: int) -> dict[str, torch.Tensor]:
    """Left-padded random prompts of 8 to 24 tokens, as a tokenizer would batch them."""
    generator = torch.Generator().manual_seed(2)
    lengths = torch.randint(8, 25, (n_prompts,), generator=generator).tolist()
    width = max(lengths)
    ids = torch.full((n_prompts, width), PAD_ID)
    mask = torch.zeros((n_prompts, width), dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, width - length:] = torch.randint(3, vocab_size, (length,), generator=generator)
        mask[row, width - length:] = 1
    return {"input_ids": ids, "attention_mask": mask}


def generate(model: torch.nn.Module, batch: dict[str, torch.Tensor], preferences: torch.Tensor,
             max_new_tokens: int) -> torch.Tensor:
    """Greedy continuation of exactly ``max_new_tokens`` tokens (no early stop) at a λ."""
    with torch.no_grad(), preferences_set(model, preferences):
        output = model.generate(**batch, max_new_tokens=max_new_tokens,
                                min_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=PAD_ID, eos_token_id=None)
    return output[:, batch["input_ids"].shape[1]:]


def batched_front(model: torch.nn.Module, batch: dict[str, torch.Tensor], front: torch.Tensor,
                  max_new_tokens: int) -> torch.Tensor:
    """All (λ, prompt) rows in one call, λ-major, with per-row λ."""
    n_prompts = batch["input_ids"].shape[0]
    rows = {key: value.repeat(len(front), 1) for key, value in batch.items()}
    return generate(model, rows, front.repeat_interleave(n_prompts, dim=0), max_new_tokens)


def looped_front(model: torch.nn.Module, batch: dict[str, torch.Tensor], front: torch.Tensor,
                 max_new_tokens: int) -> torch.Tensor:
    """One call per λ, same row order as :func:`batched_front`."""
    return torch.cat([generate(model, batch, preference, max_new_tokens)
                      for preference in front])


def best_time(run: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    """Minimum wall clock over ``repeats`` runs (after one warm-up run) and the last output."""
    output = run()  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        output = run()
        times.append(time.perf_counter() - start)
    return min(times), output


def measure(spec: BenchModel, n_prompts: int, n_points: int, max_new_tokens: int,
            repeats: int) -> Timing:
    model = build_model(spec)
    batch = prompt_batch(n_prompts, spec.vocab_size)
    weights = torch.linspace(0, 1, n_points)
    front = torch.stack([weights, 1 - weights], dim=1)
    batched_s, batched = best_time(
        lambda: batched_front(model, batch, front, max_new_tokens), repeats)
    looped_s, looped = best_time(
        lambda: looped_front(model, batch, front, max_new_tokens), repeats)
    assert torch.equal(batched, looped), "per-row λ and per-λ generation disagree"
    distinct = len({tuple(row.tolist()) for row in batched.reshape(n_points, -1)})
    assert distinct > 1, "λ does not change the outputs; the comparison would be vacuous"
    with model.disable_adapter():
        floor_s, _ = best_time(
            lambda: batched_front(model, batch, front, max_new_tokens), repeats)
    return Timing(spec.label, batched_s, looped_s, floor_s)


def explain(timings: list[Timing], target: float) -> str:
    """Why the speedup lands where it does, from the measured floor."""
    if all(t.speedup >= target for t in timings):
        return f"all speedups reach the {target:.0f}x target"
    return (f"below the {target:.0f}x target: one batched call of all rows costs about what the "
            "frozen base model needs for the same rows (column 'base 1 call'), i.e. it is bound "
            "by matrix work, not by the adapter or per-call overhead; batching only removes the "
            "per-call and per-step overhead of the looped path, so no batched path can beat "
            "'bound' = looped / base-1-call. The bound grows as the model shrinks relative to "
            "that overhead, with more idle cores for the big matmuls, and on a GPU")


def busy_machine(threads: int) -> bool:
    """True when the load already there leaves fewer idle cores than the threads asked for."""
    cores = os.cpu_count() or 1
    return os.getloadavg()[0] > cores - threads + 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--points", type=int, default=11)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = args.prompts * args.points
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.points} λ x "
          f"{args.prompts} prompts x {args.max_new_tokens} new tokens, greedy, best of "
          f"{args.repeats}")
    if busy_machine(args.threads):
        print("note: other jobs already load the cores, so timings swing from run to run, and "
              "torch's thread pool can stall under contention; --threads 1 is steadier")
    print(f"{'model':<14}{f'batched (1 call x {rows})':>26}"
          f"{f'looped ({args.points} calls x {args.prompts})':>28}{'speedup':>10}"
          f"{'base 1 call':>13}{'bound':>8}")
    timings = []
    for spec in MODELS:
        timing = measure(spec, args.prompts, args.points, args.max_new_tokens, args.repeats)
        timings.append(timing)
        print(f"{timing.label:<14}{timing.batched_s:>25.2f}s{timing.looped_s:>27.2f}s"
              f"{timing.speedup:>9.1f}x{timing.floor_s:>12.2f}s{timing.bound:>7.1f}x")
    print("identical greedy tokens on both paths: yes (asserted)")
    print(explain(timings, target=5.0))


if __name__ == "__main__":
    main()
