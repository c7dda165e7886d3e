"""Multi-objective DPO step throughput of mobench's engine against TRL's DPOTrainer.

Same tiny GPT-2, same pairs, batch size, maximum sequence length, optimizer (AdamW, constant
learning rate), number of optimizer steps, precision (fp32), threads, and a separate frozen
reference model on both sides; dropout off on both. TRL's DPOConfig turns on bf16 autocast by
default with the installed TRL and accelerate, even on CPU, so the like-for-like comparison sets
``bf16=False``; TRL with its default precision is timed and printed too, for information.
mobench trains 2 objectives aggregated by LS on pairs labelled for both (merged, so each response
is scored once per batch); TRL trains ordinary single-objective DPO.
Both are timed the same way: the wall-clock between the start of step ``warmup`` and the start of
the last step, so one-time setup (tokenization, accelerator, checkpoint writing) is excluded.
Rounds alternate between the two, and the best round of each is reported (the machine may be
shared; the best round is the least disturbed one).

    python bench/bench_dpo_throughput.py [--steps 30] [--rounds 2] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import datasets
import numpy as np
import torch

from mobench.data.models import tiny_causal_lm, train_tokenizer
from mobench.engine import DPOConfig, LoopConfig, OptimConfig
from mobench.engine.dpo import DPOObjective, prepare_pairs
from mobench.engine.preferences import PreferenceSampler
from mobench.engine.reference import FrozenReference
from mobench.engine.trainer import Trainer

WORDS = ["the", "a", "to", "of", "and", "how", "make", "cook", "clean", "fix", "plant", "water",
         "wash", "open", "close", "first", "then", "next", "finally", "carefully", "slowly",
         "quickly", "safely", "never", "always", "please", "thanks", "step", "tool", "pan"]
PROMPT_TEMPLATE = "user : {prompt} assistant :"


def synthetic_pairs(n: int, seed: int) -> datasets.Dataset:
    rng = np.random.default_rng(seed)

    def text(low: int, high: int) -> str:
        return " ".join(rng.choice(WORDS, rng.integers(low, high)))

    return datasets.Dataset.from_dict({"prompt": [text(6, 14) for _ in range(n)],
                                       "chosen": [text(10, 40) for _ in range(n)],
                                       "rejected": [text(10, 40) for _ in range(n)]})


def format_prompt(prompt: str) -> str:
    return PROMPT_TEMPLATE.replace("{prompt}", prompt)


class StepClock:
    """Start times of every optimizer step."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    def steps_per_second(self, warmup: int) -> float:
        span = self.starts[-1] - self.starts[warmup]
        return (len(self.starts) - 1 - warmup) / span


class TimedObjective:
    def __init__(self, objective: DPOObjective, clock: StepClock) -> None:
        self.objective, self.clock = objective, clock

    def micro_batches(self, step, run):
        self.clock.starts.append(time.perf_counter())
        return self.objective.micro_batches(step, run)

    def __getattr__(self, name):
        return getattr(self.objective, name)


def run_mobench(model, tokenizer, pairs, args, work_dir: Path) -> float:
    policy, reference = copy.deepcopy(model), copy.deepcopy(model)
    objectives = ["helpful", "harmless"]
    flipped = pairs.map(lambda row: {"chosen": row["rejected"], "rejected": row["chosen"]})
    data = {"helpful": pairs, "harmless": flipped}  # the same pairs, opposite winners
    table = prepare_pairs(data, objectives, tokenizer, format_prompt, args.max_length)
    loop = LoopConfig(steps=args.steps, batch_size=args.batch_size, seed=0)
    objective = DPOObjective(table, objectives, tokenizer.pad_token_id,
                             DPOConfig(beta=0.1, aggregation="ls", max_length=args.max_length),
                             PreferenceSampler(2, 0), FrozenReference(reference), seed=0)
    clock = StepClock()
    Trainer(policy, TimedObjective(objective, clock),
            optim=OptimConfig(learning_rate=1e-4, max_grad_norm=1.0), loop=loop,
            work_dir=work_dir).train()
    return clock.steps_per_second(args.warmup)


def run_trl(model, tokenizer, pairs, args, work_dir: Path, bf16: bool | None) -> float:
    """TRL's DPOTrainer; ``bf16=None`` leaves TRL's own default precision."""
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    clock = StepClock()

    class Clock(TrainerCallback):
        def on_step_begin(self, *unused, **kwargs):
            clock.starts.append(time.perf_counter())

    formatted = pairs.map(lambda row: {"prompt": format_prompt(row["prompt"])})
    config = TRLDPOConfig(output_dir=str(work_dir), per_device_train_batch_size=args.batch_size,
                          max_steps=args.steps, learning_rate=1e-4, lr_scheduler_type="constant",
                          max_grad_norm=1.0, beta=0.1, max_length=args.max_length,
                          logging_steps=10 ** 6, save_strategy="no", report_to="none",
                          use_cpu=True, seed=0, dataloader_num_workers=0,
                          disable_dropout=True, warmup_steps=0, disable_tqdm=True,
                          **({} if bf16 is None else {"bf16": bf16}))
    trainer = DPOTrainer(model=copy.deepcopy(model), ref_model=copy.deepcopy(model), args=config,
                         train_dataset=formatted, processing_class=tokenizer,
                         callbacks=[Clock()])
    trainer.remove_callback(PrinterCallback)  # TRL would print its metrics dict at the end
    trainer.train()
    return clock.steps_per_second(args.warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=512)
    args = parser.parse_args()
    os.environ.setdefault("MOBENCH_PROGRESS", "0")
    datasets.disable_progress_bars()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    pairs = synthetic_pairs(args.pairs, seed=0)
    texts = [format_prompt(p) for p in pairs["prompt"]]
    texts += list(pairs["chosen"]) + list(pairs["rejected"])
    tokenizer = train_tokenizer(texts, 512)
    model = tiny_causal_lm("gpt2", len(tokenizer), n_layers=2, width=128, n_heads=4,
                           max_positions=args.max_length, seed=0,
                           pad_token_id=tokenizer.pad_token_id,
                           eos_token_id=tokenizer.eos_token_id)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"model: GPT-2, {parameters / 1e6:.2f}M parameters; batch {args.batch_size} pairs, "
          f"max length {args.max_length}, {args.steps} steps ({args.warmup} untimed), "
          f"torch threads {torch.get_num_threads()}")
    ours, theirs, default = ("mobench (2 objectives, LS, fp32)", "TRL DPOTrainer (fp32)",
                             "TRL DPOTrainer (its default precision)")
    runs = {theirs: lambda *a: run_trl(*a, bf16=False),
            default: lambda *a: run_trl(*a, bf16=None),
            ours: run_mobench}
    results: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            for key, (name, run) in enumerate(runs.items()):
                work = Path(tmp) / f"run{key}-{round_index}"
                results[name].append(run(model, tokenizer, pairs, args, work))
                print(f"  round {round_index + 1}: {name:40s} {results[name][-1]:7.2f} steps/s")
    best = {name: max(values) for name, values in results.items()}
    for name, value in best.items():
        print(f"{name:40s} {value:7.2f} steps/s (best of {args.rounds})")
    print(f"ratio mobench / TRL, both fp32 (like for like): {best[ours] / best[theirs]:.2f}x")
    print(f"ratio mobench fp32 / TRL at its default precision: {best[ours] / best[default]:.2f}x")


if __name__ == "__main__":
    main()
