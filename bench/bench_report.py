"""``mobench report`` on run folders of the committed leaderboards' shape: the seeds-and-prompts
bootstrap as it was (one front at a time) against the batched one, side by side.

The 108 committed runs are not in the repository, so the benchmark writes stand-ins in the format
``mobench report`` reads (``metrics.json``, ``spec.json``, ``records.jsonl``, as a real run folder
has them): 9 methods (the built-in ones, with the committed leaderboards' variants) x 4 tasks
(hh: 11 preferences x 2 objectives, hhc: 28 x 3, chat3: 28 x 3, chat10: 40 x 10, the tasks' own
grids) x 3 seeds, 48 eval prompts, two scorer sets per run (``exact``, with the task's reference
front, and ``reward_model``). The per-(λ, prompt) scores are drawn from a seeded RNG: each method
steers each objective by its weight with its own strength, around its own quality, plus a prompt
effect and noise; exact scores are whole numbers within the task's bounds, as the miniatures' are,
and the reward model's are continuous. The reference fronts have the real ones' sizes (hh: one
point, the ideal; hhc and chat3: about 420 points; chat10: 768).

Each implementation runs ``mobench report RUNS --csv OUT --markdown OUT --figures OUT --html
OUT/leaderboard.html`` (the committed reports' command) in this process. The old one is the
report before the compute-once issue: the previous bootstrap, copied verbatim below, of every
scorer set, in one process, with moocore called through its public functions (timed against a
checkout of that commit: the same CPU time), and the figures drawn one after another twice (for
the files, then again for the page). The new one bootstraps the ranked scorer set only (the
reward models' rows carry means, all the page reads of them) and draws each figure once, both in
``--workers`` processes. The script prints both wall-clocks, the bootstrap's alone, the CPU time
of all processes, their ratios, the processes used, the bootstrap's CPU per task (and in the
hypervolume), whether the CSVs are byte-identical, and how many values, intervals and ranks
differ in any bit, by how much at most. ``--committed reports/results`` reports on the committed
runs instead of the stand-ins.

Measured on one otherwise idle core of the development machine (``taskset -c 1``, AMD EPYC),
108 stand-ins: old 182.5 s bootstrap / 198.8 s report / 198.1 s CPU, new 17.5 s / 27.2 s /
27.1 s: 7.3x; bootstrap CPU per task old/new: hh 26.0x, hhc 13.8x, chat3 12.7x, chat10 9.5x (its
hypervolume 94.7 s against 10.5 s). The CSVs are byte-identical; 39 of 864 summaries differ in
their last bits (the hypervolume's summation order, at most 8.4e-13 relative). On the 36
committed seed-0 runs (``--committed reports/results``): 73.8 s against 11.6 s. The new path on
both cores of the idle machine (2 processes): 19.2 s on the 108 stand-ins (13.1 s of bootstrap),
8.1 s on the committed runs.

Before that, after the hypervolumes moved to pygmo's WFG (every scorer set bootstrapped, figures
drawn twice): 31.6 s bootstrap / 38.4 s report on the 108 stand-ins.

Earlier, before pygmo, on the 2 cores shared with other jobs (load average 5-7):
old 289 s bootstrap / 300 s report / 198 s CPU, new (2 processes) 146 s / 159 s / 105 s: 2.0x,
the same CSVs and the same bits. hh 13.7x less CPU, hhc and chat3 4.4x, chat10 1.7x: 78 of its
88 s are its exact 10-objective hypervolume, about 250 sub-problems solved by moocore's compiled
code per resampled front, 10,800 fronts, which the same intervals need every one of.

    python bench/bench_report.py                    # about 4 minutes on one core
    python bench/bench_report.py --runs /tmp/runs   # keep (and reuse) the run folders
    python bench/bench_report.py --skip-old         # the new path only
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

# Runnable from a checkout without installing mobench.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mobench.cli import main as mobench_main  # noqa: E402
from mobench.cli.leaderboard import usable_cores  # noqa: E402
from mobench.core import registry  # noqa: E402
from mobench.leaderboard import aggregate, figures  # noqa: E402
from mobench.leaderboard.aggregate import DISTANCES, Summary, _mean  # noqa: E402
from mobench.leaderboard.collect import RunScores  # noqa: E402
from mobench.metrics import METRICS, front_metrics  # noqa: E402
from mobench.metrics.bootstrap import bootstrap_interval, interval_form  # noqa: E402
from mobench.metrics.compute import valid_range  # noqa: E402

# The package re-exports the function under the module's name, so reach the modules explicitly.
hv_module = importlib.import_module("mobench.metrics.hypervolume")
compute_module = importlib.import_module("mobench.metrics.compute")
batch_module = importlib.import_module("mobench.metrics.batch")

TASKS = ("hh", "hhc", "chat3", "chat10")
# (method, variant, serves) as on the committed leaderboards.
METHODS = (("base", "default", "front"), ("best-of-n", "n16", "front"),
           ("dps", "task-grid", "front"), ("mod", "default", "front"),
           ("modpo", "task-grid-bradley-terry-margins", "front"),
           ("pama", "per-sample", "point"), ("panacea", "dpo-ls", "front"),
           ("rewarded-soups", "factors", "front"), ("ric", "linf-mors1", "front"))
SEEDS = (0, 1, 2)
N_PROMPTS = 48
# Points of each task's exact reference front (the optimal front: its vertices and 400 points
# spread over it; hh's is one point, the ideal, which every objective reaches at once).
REFERENCE_SIZES = {"hh": 1, "hhc": 421, "chat3": 433, "chat10": 768}
SCORER_SETS = ("exact", "reward_model")


# ---------------------------------------------------------------------------- synthetic runs
def task_spec(task: str):  # type: ignore[no-untyped-def]
    cls = registry.tasks.get(task)
    return cls(cls.config_class()).spec("tiny")


def reference_front(task: str, m: int) -> np.ndarray:
    """A normalized reference front of the real one's size: the ideal for hh, else points on a
    concave surface above every method's front."""
    size = REFERENCE_SIZES[task]
    if size == 1:
        return np.ones((1, m))
    rng = np.random.default_rng(1000 + m)
    directions = np.abs(rng.normal(size=(size, m)))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return np.clip(0.35 + 0.55 * directions * np.sqrt(m) / 2, 0.0, 1.0)


def method_profile(method: str, serves: str, task: str) -> tuple[float, float]:
    """(quality, steering strength) of a method on a task: fixed per (method, task)."""
    rng = np.random.default_rng([ord(c) for c in f"{method}/{task}"])
    quality = 0.45 + 0.2 * rng.random()
    steering = 0.0 if serves == "point" or method == "base" else 0.3 + 0.6 * rng.random()
    return quality, steering


def synthetic_scores(task: str, method: str, serves: str, seed: int, preferences: np.ndarray,
                     bounds: Sequence[tuple[float, float]]) -> dict[str, np.ndarray]:
    """Raw per-(preference, prompt) scores (n, prompts, m) per scorer set."""
    n, m = preferences.shape
    quality, steering = method_profile(method, serves, task)
    rng = np.random.default_rng([TASKS.index(task), [row[0] for row in METHODS].index(method),
                                 seed])
    prompt_effect = rng.normal(0.0, 0.12, size=(1, N_PROMPTS, m))
    latent = (quality + steering * (preferences - 1.0 / m)[:, None, :] + prompt_effect
              + rng.normal(0.0, 0.18, size=(n, N_PROMPTS, m)))
    low = np.array([b[0] for b in bounds])
    high = np.array([b[1] for b in bounds])
    raw = low + np.clip(latent, 0.0, 1.0) * (high - low)
    exact = np.clip(np.round(raw), low, high)
    reward_model = raw + rng.normal(0.0, 0.35, size=raw.shape)
    return {"exact": exact, "reward_model": reward_model}


def write_run(folder: Path, task: str, method: str, variant: str, serves: str, seed: int) -> None:
    """One run folder as ``mobench run`` leaves it (the files ``mobench report`` reads)."""
    from mobench.metrics import compute_metrics

    spec = task_spec(task)
    preferences = np.asarray(spec.preference_grid, dtype=float)
    bounds = [tuple(o.bounds) for o in spec.objectives]
    names = [o.name for o in spec.objectives]
    raw = synthetic_scores(task, method, serves, seed, preferences, bounds)
    reference = reference_front(task, len(names))
    share_base = float(np.prod(reference.max(axis=0)))  # the stated volume its region bounds
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "records.jsonl").open("w", encoding="utf-8") as handle:
        for i, preference in enumerate(preferences):
            for j in range(N_PROMPTS):
                record = {"batch": i, "preference_index": i, "preference": preference.tolist(),
                          "prompt_id": f"{task}-eval-{j:04d}", "prompt": f"prompt {j}",
                          "response": "a response .", "n_tokens": 3,
                          "scores": {s: {name: float(raw[s][i, j, k])
                                         for k, name in enumerate(names)} for s in SCORER_SETS},
                          "batch_cost": {"sampled_tokens": 0, "reward_calls": 0,
                                         "model_token_passes": 0}}
                handle.write(json.dumps(record) + "\n")
    normalized = {s: np.stack([spec.objectives[k].normalize(raw[s][..., k])
                               for k in range(len(names))], axis=-1) for s in SCORER_SETS}
    # Point values only (the report reads a run's values, not its own intervals).
    reports = {s: compute_metrics(normalized[s], preferences, np.asarray(spec.reference_point),
                                  reference_front=reference if s == "exact" else None,
                                  reference_hypervolume=share_base if s == "exact" else None,
                                  n_bootstrap=0, seed=seed).to_dict() for s in SCORER_SETS}
    metrics = {
        "format": 2,
        "run": {"method": method, "variant": variant, "serves": serves, "task": task,
                "scale": "tiny", "seed": seed, "run_id": folder.name,
                "mobench_version": "0.1.0", "git": {"commit": "synthetic", "dirty": False}},
        "task": task, "scale": "tiny", "objectives": names,
        "objective_bounds": [{"name": o.name, "bounds": list(o.bounds),
                              "direction": o.direction} for o in spec.objectives],
        "reference_point": list(spec.reference_point), "primary_scorer": spec.primary_scorer,
        "n_preferences": len(preferences), "n_prompts": N_PROMPTS, "metrics": reports,
        "reference_fronts": {"exact": reference.tolist()},
        "reference_hypervolumes": {"exact": share_base},
        "cost": {"models_trained": 0, "adapters_trained": 1, "trainable_parameters": 41032,
                 "train_seconds": 50.0 + seed, "generated_tokens": 0, "reward_calls": 0,
                 "reused": {}},
        "evaluation_cost": {"generated_tokens": 9000, "sampled_tokens": 9000, "reward_calls": 0,
                            "model_token_passes": 0, "scorer_calls": 1000, "seconds": 20.0},
    }
    (folder / "spec.json").write_text(json.dumps({"identity": {
        "method": method, "task": task, "scale": "tiny", "seed": seed}}, indent=2) + "\n")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")


def synthetic_runs(root: Path) -> int:
    """Write the 108 run folders under ``root`` (those already complete are kept)."""
    written = 0
    for task in TASKS:
        for method, variant, serves in METHODS:
            for seed in SEEDS:
                folder = root / task / method / f"tiny-seed{seed}-synthetic"
                if not (folder / "metrics.json").exists():
                    write_run(folder, task, method, variant, serves, seed)
                    written += 1
    return written



# ------------------------------------------------------- the previous bootstrap, as it was
def legacy_summaries(members: Sequence[RunScores], scorer_set: str, reference: np.ndarray | None,
                     n_bootstrap: int, confidence: float, seed: int) -> dict[str, Summary]:
    """mobench.leaderboard.aggregate._summaries before the batched bootstrap (commit 97e51d3),
    verbatim: one replicate, one drawn seed, one resampled front and one front_metrics call at
    a time."""

    def metrics_of(run: RunScores, front: np.ndarray) -> dict[str, float | None]:
        return front_metrics(front, run.preferences, run.reference_point, reference,
                             run.preferences,
                             reference_hypervolume=run.reference_hypervolumes.get(scorer_set))

    point_runs = [metrics_of(r, r.front(scorer_set)) for r in members]
    stored = [r.result.metrics[scorer_set] for r in members]
    rng = np.random.default_rng(seed)
    replicates: list[dict[str, float | None]] = []
    for _ in range(n_bootstrap):
        drawn = rng.integers(0, len(members), size=len(members))
        values = []
        for k in drawn:
            scores = members[k].scores[scorer_set]
            prompts = rng.integers(0, scores.shape[1], size=scores.shape[1])
            values.append(metrics_of(members[k], scores[:, prompts, :].mean(axis=1)))
        replicates.append({name: _mean([x for v in values if (x := v[name]) is not None])
                           for name in METRICS})
    n_preferences = len(members[0].preferences)
    out: dict[str, Summary] = {}
    for name in METRICS:
        per_run = [s[name]["value"] if name not in DISTANCES or reference is None else p[name]
                   for s, p in zip(stored, point_runs, strict=True)]
        value = _mean([v for v in per_run if v is not None])
        if value is None or not replicates:
            out[name] = Summary(value, None, None)
            continue
        low, high = bootstrap_interval(interval_form("auto", name), value,
                                       [r[name] for r in replicates], confidence,
                                       valid_range(name, n_preferences))
        out[name] = Summary(value, low, high)
    return out


@contextlib.contextmanager
def legacy_path(n_bootstrap: int) -> Iterator[None]:
    """The report as it was: the legacy bootstrap, in one process, of every scorer set (the
    reward models' intervals too, which no table or figure reads), moocore called through its
    public functions (the hypervolume's direct calls came with the batched bootstrap), and the
    figures drawn one after another, twice (once for the PNG files, once again for the page)."""
    summaries, library, draw_all = (aggregate._summaries, hv_module._moocore_c,
                                    figures.all_figures)

    def every_set(members, scorer_set, reference, _, confidence, seed):  # type: ignore[no-untyped-def]
        return legacy_summaries(members, scorer_set, reference, n_bootstrap, confidence, seed)

    def twice(boards, styles, workers=1):  # type: ignore[no-untyped-def]
        draw_all(boards, styles, 1)
        return draw_all(boards, styles, 1)

    aggregate._summaries = every_set
    figures.all_figures = twice
    hv_module._moocore_c = lambda: None
    hv_module._moocore_hypervolume.cache_clear()
    try:
        yield
    finally:
        aggregate._summaries, hv_module._moocore_c = summaries, library
        figures.all_figures = draw_all
        hv_module._moocore_hypervolume.cache_clear()


# ------------------------------------------------------------------------------ measuring
HYPERVOLUME_CPU = [0.0]  # this process's CPU seconds in the hypervolume, so far


def cpu_timed(function):  # type: ignore[no-untyped-def]
    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            HYPERVOLUME_CPU[0] += time.process_time() - started

    return timed


@contextlib.contextmanager
def cpu_per_task(log: Path) -> Iterator[None]:
    """Each row's bootstrap appends (task, CPU s, of which hypervolume) to ``log``, from
    whichever process runs it (worker processes are forked from this one, patches included)."""
    summaries = aggregate._summaries
    hypervolumes = compute_module.hypervolume, batch_module.batch_hypervolumes

    def recording(members, *rest):  # type: ignore[no-untyped-def]
        started, in_hypervolume = time.process_time(), HYPERVOLUME_CPU[0]
        out = summaries(members, *rest)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"{members[0].result.label.task}\t{time.process_time() - started}\t"
                         f"{HYPERVOLUME_CPU[0] - in_hypervolume}\n")
        return out

    aggregate._summaries = recording
    compute_module.hypervolume = cpu_timed(hypervolumes[0])
    batch_module.batch_hypervolumes = cpu_timed(hypervolumes[1])
    try:
        yield
    finally:
        aggregate._summaries = summaries
        compute_module.hypervolume, batch_module.batch_hypervolumes = hypervolumes


def read_cpu_log(log: Path) -> dict[str, tuple[float, float]]:
    totals: dict[str, list[float]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        task, cpu, hypervolume = line.split("\t")
        entry = totals.setdefault(task, [0.0, 0.0])
        entry[0] += float(cpu)
        entry[1] += float(hypervolume)
    return {task: (cpu, hypervolume) for task, (cpu, hypervolume) in totals.items()}


def run_report(runs_root: Path, out: Path, workers: int, n_bootstrap: int,
               html: bool) -> dict[str, object]:
    """``mobench report RUNS --csv OUT --markdown OUT [--figures OUT --html
    OUT/leaderboard.html] --jobs W`` (the committed reports' command)
    in this process; the wall-clock of the whole and of its bootstrap (build_leaderboards), the
    CPU time (this process and its workers; per task, and of it in the hypervolume), and the
    leaderboards built."""
    built: dict[str, object] = {}
    build = aggregate.build_leaderboards
    log = out / "cpu-per-task.tsv"
    out.mkdir(parents=True, exist_ok=True)

    def timed_build(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        built["boards"] = build(*args, **kwargs)
        built["bootstrap_s"] = time.perf_counter() - started
        return built["boards"]

    command = ["report", str(runs_root), "--csv", str(out), "--markdown", str(out),
               "--n-bootstrap", str(n_bootstrap), "--jobs", str(workers)]
    if html:
        command += ["--figures", str(out), "--html", str(out / "leaderboard.html")]
    cpu = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    aggregate.build_leaderboards = timed_build
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                cpu_per_task(log):
            code = mobench_main(command)
    finally:
        aggregate.build_leaderboards = build
    built["per_task"] = read_cpu_log(log)
    built["report_s"] = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    built["cpu_s"] = (time.process_time() - cpu + after.ru_utime - children.ru_utime
                      + after.ru_stime - children.ru_stime)
    if code != 0:
        raise SystemExit(f"mobench report exited with {code}")
    return built


def _relative_gap(x: Summary, y: Summary, intervals: bool) -> float:
    pairs = ([(x.value, y.value), (x.ci_low, y.ci_low), (x.ci_high, y.ci_high)] if intervals
             else [(x.value, y.value)])
    gaps = [abs(a - b) / max(abs(a), abs(b)) for a, b in pairs
            if a is not None and b is not None and a != b]
    if any((a is None) != (b is None) for a, b in pairs):
        return float("inf")
    return max(gaps, default=0.0)


def compare(old: dict, new: dict, old_out: Path,
            new_out: Path) -> tuple[bool, int, int, int, float]:
    """(every CSV byte-identical, CSVs, summaries compared, summaries differing in any bit of the
    value or either end of the interval; of the other scorer sets, which the new report gives
    without intervals, the value; and the largest relative gap of any of them)."""
    csvs = sorted(p.name for p in old_out.glob("leaderboard-*.csv"))
    same_csv = bool(csvs) and all((old_out / n).read_bytes() == (new_out / n).read_bytes()
                                  for n in csvs)
    compared = differing = 0
    largest = 0.0
    for a, b in zip(old["boards"], new["boards"], strict=True):  # type: ignore[call-overload]
        for ra, rb in zip(a.rows, b.rows, strict=True):
            differing += (ra.method, ra.variant, ra.rank) != (rb.method, rb.variant, rb.rank)
            sets = [(ra.metrics, rb.metrics, True)]
            sets += [(ra.other_sets[name], rb.other_sets[name], False) for name in ra.other_sets]
            for left, right, intervals in sets:
                for metric in METRICS:
                    x, y = left[metric], right[metric]
                    compared += 1
                    gap = _relative_gap(x, y, intervals)
                    differing += gap > 0.0
                    largest = max(largest, gap)
    return same_csv, len(csvs), compared, differing, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=None,
                        help="where the synthetic run folders go (kept, and reused when there); "
                             "default: a temporary folder")
    parser.add_argument("--workers", type=int, default=usable_cores(),
                        help="processes of the new bootstrap (default: the usable cores)")
    parser.add_argument("--n-bootstrap", type=int, default=200)
    parser.add_argument("--no-html", action="store_true",
                        help="leave out the HTML page (its figures take seconds, in both)")
    parser.add_argument("--skip-old", action="store_true", help="measure the new path only")
    parser.add_argument("--committed", type=Path, default=None,
                        help="report on these run folders (the committed ones: reports/results) "
                             "instead of synthetic stand-ins")
    args = parser.parse_args()

    temporary = tempfile.mkdtemp(prefix="mobench-bench-report-")
    if args.committed:
        root = args.committed
        print(f"run folders: {root}, "
              f"{sum(1 for _ in root.glob('*/*/*/spec.json'))} runs (not synthetic)")
    else:
        root = args.runs or Path(temporary) / "runs"
        started = time.perf_counter()
        written = synthetic_runs(root)
        print(f"run folders: {root} ({written} written in {time.perf_counter() - started:.1f} "
              f"s, {len(TASKS) * len(METHODS) * len(SEEDS) - written} reused): "
              f"{len(METHODS)} methods x {len(TASKS)} tasks x {len(SEEDS)} seeds, {N_PROMPTS} "
              f"prompts, scorer sets {', '.join(SCORER_SETS)}")
        for task in TASKS:
            spec = task_spec(task)
            print(f"  {task}: {len(spec.preference_grid)} preferences x "
                  f"{len(spec.objectives)} objectives, reference front of "
                  f"{REFERENCE_SIZES[task]} point(s)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{usable_cores()} usable; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"BLAS threads per process: OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')} OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')} (the bootstrap's matrix products are "
          "small); n_bootstrap "
          f"{args.n_bootstrap}, HTML page {'off' if args.no_html else 'on'}\n")

    results = {}
    outs = {"new": Path(temporary) / "new", "old": Path(temporary) / "old"}
    results["new"] = run_report(root, outs["new"], args.workers, args.n_bootstrap,
                                not args.no_html)
    if not args.skip_old:
        with legacy_path(args.n_bootstrap):
            results["old"] = run_report(root, outs["old"], 1, args.n_bootstrap,
                                        not args.no_html)

    rows = [("old: one front at a time (commit 97e51d3)", "old", 1),
            ("new: batched, worker processes", "new", args.workers)]
    print(f"{'implementation':44s} {'processes':>9s} {'bootstrap s':>12s} {'report s':>9s} "
          f"{'CPU s':>7s}")
    for label, key, workers in rows:
        if key in results:
            r = results[key]
            print(f"{label:44s} {workers:>9d} {r['bootstrap_s']:>12.1f} {r['report_s']:>9.1f} "
                  f"{r['cpu_s']:>7.1f}")
    if "old" in results:
        old, new = results["old"], results["new"]
        print(f"{'ratio old / new':44s} {'':>9s} "
              f"{old['bootstrap_s'] / new['bootstrap_s']:>11.1f}x "  # type: ignore[operator]
              f"{old['report_s'] / new['report_s']:>8.1f}x "  # type: ignore[operator]
              f"{old['cpu_s'] / new['cpu_s']:>6.1f}x")  # type: ignore[operator]
        print("\nbootstrap CPU s per task (of it in the hypervolume), all processes:")
        print(f"{'task':8s} {'old':>16s} {'new':>16s} {'ratio':>6s}")
        for task in sorted(old["per_task"]):  # type: ignore[call-overload]
            (o, oh), (n, nh) = old["per_task"][task], new["per_task"][task]  # type: ignore[index]
            print(f"{task:8s} {o:>7.1f} ({oh:>6.1f}) {n:>7.1f} ({nh:>6.1f}) {o / n:>5.1f}x")
        same_csv, n_csv, compared, differing, largest = compare(old, new, outs["old"],
                                                                outs["new"])
        print(f"\nCSV leaderboards byte-identical: {'yes' if same_csv else 'NO'} ({n_csv} tasks)")
        print(f"values, intervals and ranks bit-identical: {'yes' if not differing else 'NO'} "
              f"({compared} summaries compared, {differing} differ, by at most {largest:.1e} "
              "relative)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    main()
