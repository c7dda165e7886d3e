"""DPS and MODPO with and without the compute-once caches, side by side in one process.

The caches (issue: compute nothing twice): the reference policy's log-prob of every training
sequence, computed once per reference and kept beside the task's assets
(:mod:`mobench.engine.reference_cache`), and MODPO's reward scores of the task's pair responses
(:mod:`mobench.toolkit.pair_rewards`). Without them every batch of every grid model runs a
reference forward, and every MODPO run scores the pairs again.

For each task and method this runs the method twice on the same seed, in this process, with one
torch thread, on the same task assets (built before timing): once with
``method.train.dpo.reference_cache=false`` and an empty cache, once with the cache on, starting
from an empty cache too (so the cached run pays for filling it, as the first run of a task and
seed does; later runs of any DPO-style method read it for free). It prints the training
wall-clock of each (the cost record's ``train_seconds``), their ratio, the number of sequences
the reference scored (forward rows: during training, and to fill the cache), the reward calls,
and the hypervolume of both runs.

    python bench/bench_compute_once.py                          # the leaderboard's defaults
    python bench/bench_compute_once.py --steps 60 --tasks hh    # a quicker look

The defaults are the committed leaderboard's (400 steps, every grid model): DPS and MODPO on hh
and hhc take about an hour and a half together on 2 cores; ``--steps`` shortens every training
(the fill's fixed cost then weighs more, so the ratio is an upper bound of the full runs').
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from mobench.core.threads import set_torch_threads
from mobench.engine.reference import FrozenReference
from mobench.engine.reference_cache import ReferenceLogpStore
from mobench.engine.task_training import REFERENCE_CACHE_DIR
from mobench.run.runner import execute_run, load_task
from mobench.run.runspec import resolve_run_spec
from mobench.toolkit.pair_rewards import PAIR_SCORES_DIR

FORWARD_ROWS = {"training": 0, "fill": 0}


def count_reference_rows() -> None:
    """Count the sequences the reference scores: per batch during training, and when a store is
    filled."""
    forward = FrozenReference.token_logprobs
    fill = ReferenceLogpStore.fill

    def counted_forward(self, policy, batch, temperature=1.0):  # type: ignore[no-untyped-def]
        FORWARD_ROWS["training"] += int(batch.input_ids.shape[0])
        return forward(self, policy, batch, temperature)

    def counted_fill(self, reference, policy, sequences, pad_id):  # type: ignore[no-untyped-def]
        before = FORWARD_ROWS["training"]
        report = fill(self, reference, policy, sequences, pad_id)
        FORWARD_ROWS["training"] = before  # the fill's rows are counted apart
        FORWARD_ROWS["fill"] += report.computed
        return report

    FrozenReference.token_logprobs = counted_forward  # type: ignore[method-assign]
    ReferenceLogpStore.fill = counted_fill  # type: ignore[method-assign]


def clear_caches(cache: Path) -> None:
    for folder in cache.rglob(REFERENCE_CACHE_DIR):
        shutil.rmtree(folder, ignore_errors=True)
    for folder in cache.rglob(PAIR_SCORES_DIR):
        shutil.rmtree(folder, ignore_errors=True)


def one_run(method: str, task: str, seed: int, cached: bool, steps: int | None,
            root: Path, cache: Path) -> dict[str, float]:
    clear_caches(cache)
    overrides = [f"method.train.dpo.reference_cache={'true' if cached else 'false'}"]
    if steps is not None:
        overrides.append(f"method.train.steps={steps}")
    spec = resolve_run_spec(method, task, scale="tiny", seed=seed, overrides=overrides)
    folder = root / f"{task}-{method}-{'cached' if cached else 'plain'}"
    FORWARD_ROWS.update(training=0, fill=0)
    started = time.perf_counter()
    execute_run(spec, folder, cache_dir=cache)
    wall = time.perf_counter() - started
    metrics = json.loads((folder / "metrics.json").read_text())
    cost = metrics["cost"]
    return {"train_s": float(cost["train_seconds"]), "wall_s": wall,
            "reference_rows_training": FORWARD_ROWS["training"],
            "reference_rows_fill": FORWARD_ROWS["fill"],
            "reward_calls": int(cost["reward_calls"]),
            "hypervolume": float(metrics["metrics"]["exact"]["hypervolume"]["value"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="hh,hhc")
    parser.add_argument("--methods", default="dps,modpo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps per model (default: the method's, 400)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="asset cache with the tasks' assets (default: a fresh one)")
    args = parser.parse_args()
    os.environ.setdefault("CI", "true")  # no progress bars
    set_torch_threads(1)
    cache = args.cache or Path(tempfile.mkdtemp(prefix="mobench-bench-cache-"))
    root = Path(tempfile.mkdtemp(prefix="mobench-bench-runs-"))
    count_reference_rows()
    print(f"one torch thread, seed {args.seed}, "
          f"steps per model: {args.steps or 'the method default'}; cache {cache}")
    rows = []
    for task in args.tasks.split(","):
        # build the task's assets before any timing (the first run of a task pays for them)
        load_task(resolve_run_spec("base", task, scale="tiny", seed=args.seed), cache)
        for method in args.methods.split(","):
            plain = one_run(method, task, args.seed, False, args.steps, root, cache)
            cached = one_run(method, task, args.seed, True, args.steps, root, cache)
            rows.append((task, method, plain, cached))
            print(f"{task:4s} {method:6s} train s {plain['train_s']:8.1f} -> "
                  f"{cached['train_s']:8.1f}  ratio {cached['train_s'] / plain['train_s']:.3f}  "
                  f"reference rows {plain['reference_rows_training']:,} -> "
                  f"{cached['reference_rows_training']:,} (+{cached['reference_rows_fill']:,} "
                  f"to fill the cache)  reward calls {plain['reward_calls']:,} -> "
                  f"{cached['reward_calls']:,}  HV {plain['hypervolume']:.4f} / "
                  f"{cached['hypervolume']:.4f}", flush=True)
    total_plain = sum(p["train_s"] for _, _, p, _ in rows)
    total_cached = sum(c["train_s"] for _, _, _, c in rows)
    print(f"all: train s {total_plain:.1f} -> {total_cached:.1f}, "
          f"ratio {total_cached / total_plain:.3f}")


if __name__ == "__main__":
    main()
