"""DPS and MODPO with and without the compute-once caches, side by side in one process.

The caches (issue: compute nothing twice): the reference policy's log-prob of every training
sequence, computed once per reference and kept beside the task's assets
(:mod:`mobench.engine.reference_cache`), and MODPO's reward scores of the task's pair responses
(:mod:`mobench.toolkit.pair_rewards`). Without them every batch of every grid model runs a
reference forward, and every MODPO run scores the pairs again.

For each task and method this runs the method three times on the same seed, in this process,
with one torch thread, on the same task assets (built before timing): with
``method.train.dpo.reference_cache=false`` and no kept pair scores; with the caches on, starting
empty (it fills them, as the first DPO-style run of a task and seed does); and again with the
caches the previous run left (as every later run of the task and seed, of any DPO-style method,
reads them). It prints the training wall-clock of each (the cost record's ``train_seconds``),
their ratios, the number of sequences the reference scored (forward rows: during training, and
to fill the store), the reward calls,
and the exact hypervolume of both runs (evaluated on ``--eval-prompts`` prompts, 16 by default:
the training is what is timed).

    python bench/bench_compute_once.py                          # the leaderboard's defaults
    python bench/bench_compute_once.py --steps 60 --tasks hh    # a quicker look

The defaults are the committed leaderboard's (400 steps, every grid model): DPS and MODPO on hh
and hhc take about three hours on one core (``--tasks hhc --methods modpo`` and the rest can run
on two cores at once, each with its own ``--cache``); ``--steps`` shortens every training (the
fill's fixed cost then weighs more, so the ratio is an upper bound of the full runs').

Measured at the defaults on the development machine (AMD EPYC, one thread per process): hh DPS,
hh MODPO and hhc DPS in one process on one core, hhc MODPO in another on the other core, each
core's neighbour busy all along (the leaderboard regeneration or the other benchmark). Train
seconds without the caches / filling them / reading them:

    hh  dps     592.4 /  434.0 (0.733x) /  435.2 (0.735x)   reference rows 140,800 -> 44 + 5,752
    hh  modpo   598.7 /  425.8 (0.711x) /  432.4 (0.722x)   reward calls 11,504 each way
    hhc dps    1570.8 / 1163.3 (0.741x) / 1134.1 (0.722x)   reference rows 358,400 -> 112 + 5,752
    hhc modpo  1446.8 / 1150.6 (0.795x) / 1096.4 (0.758x)   reward calls 17,256 each way

The exact hypervolume is the same in all three runs of each (0.7892, 0.7289, 0.8078, 0.7169).
hhc MODPO measured again in a later session (``--tasks hhc --methods modpo``, core 1; core 0 ran
the last of the leaderboard regeneration, then the CI sample and lighter work):

    hhc modpo  1364.9 /  985.7 (0.722x) / 1004.3 (0.736x)   same rows, calls and HV

The two measurements of one configuration differ by 6% in the uncached time and 2 points in the
ratio: the neighbour core's load moves this machine's single-thread speed that much.
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


def clear_caches(asset_root: Path) -> None:
    """Empty the benchmarked task's compute-once stores, and only its: a cache given with
    --cache may hold other tasks' and seeds' stores that other processes are reading."""
    for name in (REFERENCE_CACHE_DIR, PAIR_SCORES_DIR):
        shutil.rmtree(asset_root / name, ignore_errors=True)


def one_run(method: str, task: str, seed: int, cached: bool, steps: int | None,
            eval_prompts: int, root: Path, cache: Path, asset_root: Path,
            warm: bool = False) -> dict[str, float]:
    if not warm:
        clear_caches(asset_root)
    overrides = [f"method.train.dpo.reference_cache={'true' if cached else 'false'}",
                 f"eval.max_prompts={eval_prompts}"]
    if steps is not None:
        overrides.append(f"method.train.steps={steps}")
    spec = resolve_run_spec(method, task, scale="tiny", seed=seed, overrides=overrides)
    folder = root / f"{task}-{method}-{'warm' if warm else 'cached' if cached else 'plain'}"
    FORWARD_ROWS.update(training=0, fill=0)
    started = time.perf_counter()
    execute_run(spec, folder, cache_dir=cache)
    wall = time.perf_counter() - started
    metrics = json.loads((folder / "metrics.json").read_text())
    cost = metrics["cost"]
    reused = sum(float(part.get("train_seconds", 0.0)) for part in cost["reused"].values())
    return {"train_s": float(cost["train_seconds"]), "wall_s": wall, "reused_s": reused,
            "reference_rows_training": FORWARD_ROWS["training"],
            "reference_rows_fill": FORWARD_ROWS["fill"],
            "reward_calls": int(cost["reward_calls"]),
            "hypervolume": float(
                metrics["metrics"]["exact"]["metrics"]["hypervolume"]["value"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="hh,hhc")
    parser.add_argument("--methods", default="dps,modpo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps per model (default: the method's, 400)")
    parser.add_argument("--eval-prompts", type=int, default=16,
                        help="evaluation prompts per run (the training is what is timed)")
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
        instance = load_task(resolve_run_spec("base", task, scale="tiny", seed=args.seed), cache)
        asset_root = Path(instance.extras["asset_root"])
        for method in args.methods.split(","):
            plain = one_run(method, task, args.seed, False, args.steps, args.eval_prompts, root,
                            cache, asset_root)
            cached = one_run(method, task, args.seed, True, args.steps, args.eval_prompts, root,
                             cache, asset_root)
            warm = one_run(method, task, args.seed, True, args.steps, args.eval_prompts, root,
                           cache, asset_root, warm=True)
            rows.append((task, method, plain, cached, warm))
            print(f"{task} {method}: train s without caches {plain['train_s']:.1f}; "
                  f"filling them {cached['train_s']:.1f} "
                  f"(x{cached['train_s'] / plain['train_s']:.3f}); reading another run's "
                  f"{warm['train_s']:.1f} (x{warm['train_s'] / plain['train_s']:.3f}; its cost "
                  f"record adds {warm['reused_s']:.1f} s back)", flush=True)
            print(f"    reference forward rows in training {plain['reference_rows_training']:,}"
                  f" -> {cached['reference_rows_training']:,} (fingerprint probes) + "
                  f"{cached['reference_rows_fill']:,} to fill the store -> "
                  f"{warm['reference_rows_training']:,} + {warm['reference_rows_fill']:,}; "
                  f"reward calls {plain['reward_calls']:,} / {cached['reward_calls']:,} / "
                  f"{warm['reward_calls']:,} (counted either way); exact HV "
                  f"{plain['hypervolume']:.4f} / {cached['hypervolume']:.4f} / "
                  f"{warm['hypervolume']:.4f}", flush=True)
    for label, index in (("filling", 3), ("reading", 4)):
        total_plain = sum(row[2]["train_s"] for row in rows)
        total = sum(row[index]["train_s"] for row in rows)
        print(f"all, {label} the caches: train s {total_plain:.1f} -> {total:.1f}, "
              f"x{total / total_plain:.3f}")


if __name__ == "__main__":
    main()
