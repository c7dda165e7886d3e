"""What a perfect method would score on each tiny task: the optimal front beside the
controllability ceiling, and runs rated against both.

Per task (its eval prompts, exact scores, normalized; see :mod:`mobench.data.optimal_front`):

- the optimal front's hypervolume (exact up to five objectives; a Monte Carlo estimate with its
  standard error on chat10), its number of vertices and of reference points;
- the λ-optimal oracle, which answers every grid preference with the λ-scalarized optimum: its
  hypervolume share (below 1 wherever the front has slanted facets, which a finite grid of
  points cannot cover) and its controllability;
- on the chat tasks, the controllability ceiling of ``bench/bench_controllability_ceiling.py``
  (the best of its three oracles, each front drawn ``--repeats`` times);
- given run folders, each run's share with its interval and its controllability.

    python bench/bench_optimal_front.py                          # all six tiny tasks
    python bench/bench_optimal_front.py --tasks hh,chat3 runs/x   # some tasks, and a run

The task's assets are read from the cache (``MOBENCH_CACHE``) and built there if missing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from bench_controllability_ceiling import ChatOracles, oracle_controllability

from mobench.core import registry
from mobench.core.progress import quiet_library_progress
from mobench.core.task import TaskInstance
from mobench.data.miniature.chat_world import ChatWorld
from mobench.data.optimal_front import EXTRA_KEY, OptimalFront
from mobench.metrics import hypervolume
from mobench.metrics.preference import controllability
from mobench.run.runspec import default_cache_dir

TINY_TASKS = ("hh", "hhc", "chat3", "chat4", "chat5", "chat10")


def oracle_front(front: OptimalFront, grid: np.ndarray) -> np.ndarray:
    """The λ-optimal oracle's expected front on ``grid`` (its answers are deterministic)."""
    return np.array([front.scalarized_optimum(preference) for preference in grid])


def controllability_ceiling(instance: TaskInstance, repeats: int) -> float | None:
    """The best oracle controllability of the chat ceiling script; None for other worlds."""
    if not instance.spec.name.startswith("chat"):
        return None
    oracles = ChatOracles(instance, ChatWorld())
    grid, prompts = instance.spec.grid, list(instance.data.eval_prompts["prompt"])
    return max(float(np.mean([oracle_controllability(oracle, oracles, grid, prompts, seed)
                              for seed in range(repeats)]))
               for oracle in (oracles.style_mixture, oracles.sentence_mixture,
                              oracles.ls_optimal))


def run_line(folder: Path) -> str:
    metrics = json.loads((folder / "metrics.json").read_text())
    exact = metrics["metrics"][metrics["primary_scorer"]]["metrics"]
    share = exact.get("hypervolume_share", {})
    if share.get("value") is None:
        return f"{folder}: no hypervolume share (a run from before the optimal front?)"
    run = metrics["run"]
    return (f"{run['method']} ({run['variant']}) on {run['task']}: hypervolume "
            f"{exact['hypervolume']['value']:.4g}, share {share['value']:.3f} "
            f"[{share['ci_low']:.3f}, {share['ci_high']:.3f}], controllability "
            f"{exact['controllability']['value']:.2f}   ({folder})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="run folders to rate")
    parser.add_argument("--tasks", default=",".join(TINY_TASKS), help="comma-separated tasks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3,
                        help="fronts drawn per sampling oracle of the controllability ceiling")
    args = parser.parse_args()
    quiet_library_progress()

    header = (f"{'task':<8}{'m':>3}{'optimal HV':>26}{'vertices':>10}{'ref pts':>9}"
              f"{'λ-opt share':>13}{'λ-opt ctrl':>12}{'ceiling ctrl':>14}")
    print("optimal front on the eval prompts, exact scores, normalized; λ-opt = the oracle "
          "answering each grid preference with its λ-scalarized optimum")
    print(header)
    for name in args.tasks.split(","):
        task_class = registry.tasks.get(name)
        instance = task_class(task_class.config_class()).load("tiny", args.seed,
                                                              default_cache_dir())
        front = instance.extras[EXTRA_KEY].front_for(list(instance.data.eval_prompts["prompt"]))
        grid = instance.spec.grid
        oracle = oracle_front(front, grid)
        share = hypervolume(oracle, np.asarray(instance.spec.reference_point)) / front.hypervolume
        oracle_control = controllability(oracle, grid)
        volume = (f"{front.hypervolume:.4g}" if front.exact else
                  f"{front.hypervolume:.4g} ± {front.hypervolume_standard_error:.2g} (MC)")
        ceiling = controllability_ceiling(instance, args.repeats)
        print(f"{name:<8}{len(grid[0]):>3}{volume:>26}{len(front.vertices):>10}"
              f"{len(front.reference_points):>9}{share:>13.3f}"
              f"{'n/a' if oracle_control is None else f'{oracle_control:.2f}':>12}"
              f"{'n/a' if ceiling is None else f'{ceiling:.2f}':>14}")
    for folder in args.runs:
        print(run_line(folder))


if __name__ == "__main__":
    main()
