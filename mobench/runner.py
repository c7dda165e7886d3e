"""A run from spec to metrics: resolve, lock the folder, fit, evaluate, write front and metrics.

Each stage leaves a file behind that marks it finished (``policy/cost.json``, complete batches in
``records.jsonl``, ``metrics.json``), so ``--resume`` picks up at the first unfinished stage.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mobench import registry, store
from mobench.config import build_dataclass, load_yaml_file, merge, parse_overrides, to_plain
from mobench.errors import ConfigError, MobenchError, RunFolderError, UnknownNameError
from mobench.evaluation import EvaluationPlan, ScoreTable, evaluate, plan_evaluation
from mobench.method import FitContext, Method
from mobench.policy import SteerablePolicy
from mobench.provenance import provenance
from mobench.specs import SCALES, CostRecord, EvaluationConfig, RunSpec, TaskSpec
from mobench.task import Task, TaskInstance

TOP_LEVEL_KEYS = ("method", "task", "eval", "seed", "scale")


def default_cache_dir() -> Path:
    """``$MOBENCH_CACHE``, else ``$XDG_CACHE_HOME/mobench``, else ``~/.cache/mobench``."""
    if os.environ.get("MOBENCH_CACHE"):
        return Path(os.environ["MOBENCH_CACHE"])
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "mobench"


def resolve_run_spec(method: str, task: str, *, scale: str | None = None, seed: int | None = None,
                     config_file: str | Path | None = None,
                     overrides: Sequence[str] = ()) -> RunSpec:
    """Resolve names, config file and overrides into a :class:`RunSpec`, or fail with one line.

    Precedence, lowest first: dataclass defaults, the config file, ``key=value`` overrides, the
    explicit ``--scale`` / ``--seed`` flags.
    """
    method_cls = registry.methods.get(method)
    task_cls = registry.tasks.get(task)
    data: dict[str, Any] = load_yaml_file(config_file) if config_file else {}
    data = merge(data, parse_overrides(list(overrides)))
    unknown = [k for k in data if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise UnknownNameError(f"unknown config key {unknown[0]!r}. Valid top-level keys: "
                               f"{', '.join(TOP_LEVEL_KEYS)} (e.g. method.lr=1e-4).")
    resolved_scale = scale or data.get("scale") or "tiny"
    if resolved_scale not in SCALES:
        raise ConfigError(f"unknown scale {resolved_scale!r}; choose one of {', '.join(SCALES)}")
    if resolved_scale not in task_cls.scales:
        raise ConfigError(f"task {task!r} has no {resolved_scale!r} scale; it offers "
                          f"{', '.join(task_cls.scales)}")
    resolved_seed = seed if seed is not None else data.get("seed", 0)
    if not isinstance(resolved_seed, int) or isinstance(resolved_seed, bool) or resolved_seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {resolved_seed!r}")
    for section in ("method", "task", "eval"):
        if section in data and not isinstance(data[section], Mapping):
            raise ConfigError(f"config section {section!r} must be a mapping of keys to values")
    spec = RunSpec(
        method=method, task=task, scale=resolved_scale, seed=resolved_seed,
        method_config=build_dataclass(method_cls.config_class, data.get("method"), "method"),
        task_config=build_dataclass(task_cls.config_class, data.get("task"), "task"),
        evaluation=build_dataclass(EvaluationConfig, data.get("eval"), "eval"),
    )
    task_spec(spec)  # a task that cannot state its spec fails now, before anything is written
    return spec


def task_spec(spec: RunSpec) -> TaskSpec:
    task: Task = registry.tasks.get(spec.task)(spec.task_config)
    return task.spec(spec.scale)


def run_identity(spec: RunSpec) -> dict[str, Any]:
    """The part of a spec that must match for ``--resume`` to continue a run."""
    return {"method": spec.method, "task": spec.task, "scale": spec.scale, "seed": spec.seed,
            "method_config": to_plain(spec.method_config),
            "task_config": to_plain(spec.task_config),
            "eval": to_plain(spec.evaluation)}


def run_id(spec: RunSpec) -> str:
    digest = hashlib.sha256(json.dumps(run_identity(spec), sort_keys=True).encode()).hexdigest()
    return f"{spec.scale}-seed{spec.seed}-{digest[:8]}"


def default_run_folder(spec: RunSpec, root: Path = Path("runs")) -> Path:
    return root / spec.task / spec.method / run_id(spec)


@dataclass(frozen=True)
class RunOutcome:
    """What a finished run left: its folder and its metrics file's contents."""

    folder: Path
    metrics: dict[str, Any]
    resumed_complete: bool = False


@dataclass(frozen=True)
class RunHooks:
    """Callbacks at stage boundaries, for the CLI's messages (and fault-injection tests)."""

    on_stage: Callable[[str], None] = lambda stage: None
    on_batch: Callable[[int], None] | None = None


def check_run_folder(folder: Path, spec: RunSpec, resume: bool) -> None:
    """Refuse a folder holding another run, or holding this one without ``--resume``."""
    spec_file = folder / store.SPEC_FILE
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"output {str(folder)!r} exists and is not a folder")
    if not spec_file.exists():
        if folder.exists() and any(p.name != store.LOCK_FILE for p in folder.iterdir()):
            raise RunFolderError(f"output folder {str(folder)!r} is not empty and holds no "
                                 "mobench run; choose another --output")
        return
    saved = store.read_json(spec_file).get("identity")
    if not resume:
        raise RunFolderError(f"output folder {str(folder)!r} already holds a run; pass --resume "
                             "to continue it, or choose another --output")
    if saved != run_identity(spec):
        current = run_identity(spec)
        differing = sorted(k for k in current if saved is None or saved.get(k) != current[k])
        raise RunFolderError(f"cannot resume {str(folder)!r}: its spec differs in "
                             f"{', '.join(differing)}")


def execute_run(spec: RunSpec, folder: Path, *, resume: bool = False,
                cache_dir: Path | None = None, hooks: RunHooks = RunHooks()) -> RunOutcome:
    """Run ``spec`` in ``folder`` (or continue it with ``resume``) and return its metrics."""
    check_run_folder(folder, spec, resume)
    with store.RunLock(folder):
        check_run_folder(folder, spec, resume)  # again under the lock: another run may have begun
        metrics_file = folder / store.METRICS_FILE
        if resume and metrics_file.exists():
            return RunOutcome(folder, store.read_json(metrics_file), resumed_complete=True)
        if not (folder / store.SPEC_FILE).exists():
            store.write_json_atomic(folder / store.SPEC_FILE, {
                "identity": run_identity(spec), "run_id": folder.name,
                "provenance": provenance(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        hooks.on_stage("loading task")
        instance = load_task(spec, cache_dir)
        method: Method = registry.methods.get(spec.method)(spec.method_config)
        context = FitContext(task=instance, seed=spec.seed, work_dir=folder / store.WORK_DIR)
        policy, cost = fit_or_load(method, context, folder, hooks)
        hooks.on_stage("evaluating")
        plan = plan_for(instance, spec.evaluation, spec.seed)
        started = time.perf_counter()
        table = evaluate(policy, plan, instance.scorer_sets, instance.spec.objective_names,
                         spec.evaluation, store.RecordsLog(folder / store.RECORDS_FILE),
                         on_batch=hooks.on_batch)
        eval_seconds = time.perf_counter() - started
        hooks.on_stage("computing metrics")
        metrics = finalize(folder, instance, plan, table, spec.evaluation, spec.seed, cost,
                           eval_seconds)
    return RunOutcome(folder, metrics)


def load_task(spec: RunSpec, cache_dir: Path | None) -> TaskInstance:
    task: Task = registry.tasks.get(spec.task)(spec.task_config)
    return task.load(spec.scale, spec.seed, cache_dir or default_cache_dir())


def fit_or_load(method: Method, context: FitContext, folder: Path,
                hooks: RunHooks) -> tuple[SteerablePolicy, CostRecord]:
    """Load the saved policy if training finished before; otherwise fit, save and count cost."""
    policy_dir = folder / store.POLICY_DIR
    cost_file = policy_dir / store.COST_FILE
    if cost_file.exists():
        hooks.on_stage("loading trained policy")
        return (method.load_policy(policy_dir, context),
                CostRecord(**store.read_json(cost_file)))
    hooks.on_stage("training")
    context.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    policy = method.fit(context)
    cost = context.meter.record(time.perf_counter() - started)
    with store.atomic_directory(policy_dir) as tmp:
        policy.save(tmp)
        store.write_json_atomic(tmp / store.COST_FILE, cost.to_dict())
    return policy, cost


def plan_for(instance: TaskInstance, config: EvaluationConfig, seed: int,
             preferences: np.ndarray | None = None,
             prompts: Sequence[tuple[str, str]] | None = None) -> EvaluationPlan:
    """The evaluation plan on the task's grid and eval prompts, or on the ones given."""
    grid = instance.spec.grid if preferences is None else preferences
    if prompts is None:
        eval_prompts = instance.data.eval_prompts
        ids, texts = list(eval_prompts["prompt_id"]), list(eval_prompts["prompt"])
    else:
        ids, texts = [p[0] for p in prompts], [p[1] for p in prompts]
    return plan_evaluation(grid, ids, texts, config, seed)


def finalize(folder: Path, instance: TaskInstance, plan: EvaluationPlan, table: ScoreTable,
             config: EvaluationConfig, seed: int, cost: CostRecord,
             eval_seconds: float) -> dict[str, Any]:
    """Write front.csv, the plots and metrics.json (last: its presence marks the run complete)."""
    from mobench.fronts import front_frame
    from mobench.metrics import compute_metrics
    from mobench.plots import plot_front

    spec = instance.spec
    reports = {}
    # the primary scorer set first: it is what the leaderboard ranks by and what a reader sees first
    order = sorted(table.scores, key=lambda name: name != spec.primary_scorer)
    for set_name in order:
        raw = table.scores[set_name]
        reference = instance.reference_fronts.get(set_name)
        reports[set_name] = compute_metrics(
            spec.normalize(raw), plan.preferences, np.asarray(spec.reference_point),
            reference_front=None if reference is None else spec.normalize(reference),
            n_bootstrap=config.n_bootstrap, confidence=config.confidence, seed=seed,
            interval=config.interval)
    front = front_frame(spec, plan.preferences, table)
    store.write_text_atomic(folder / store.FRONT_FILE, front.to_csv(index=False))
    plot_front(spec, plan.preferences, {s: spec.normalize(table.front(s)) for s in table.scores},
               folder / store.PLOTS_DIR / "front.png")
    metrics = {
        "task": spec.name, "scale": spec.scale,
        "objectives": list(spec.objective_names),
        "primary_scorer": spec.primary_scorer,
        "n_preferences": int(len(plan.preferences)), "n_prompts": int(len(plan.prompts)),
        "metrics": {s: r.to_dict() for s, r in reports.items()},
        "cost": cost.to_dict(),
        "evaluation_cost": {"generated_tokens": int(table.n_tokens.sum()),
                            "scorer_calls": int(table.n_tokens.size * len(table.scores)
                                                * len(spec.objectives)),
                            "seconds": round(eval_seconds, 3)},
    }
    store.write_json_atomic(folder / store.METRICS_FILE, metrics)
    return metrics


def load_run(folder: Path) -> tuple[RunSpec, dict[str, Any]]:
    """Read a run folder's spec back into a :class:`RunSpec` (safely: JSON and dataclasses)."""
    if not (folder / store.SPEC_FILE).exists():
        raise RunFolderError(f"{str(folder)!r} is not a mobench run folder (no spec.json)")
    saved = store.read_json(folder / store.SPEC_FILE)
    identity = saved.get("identity") or {}
    try:
        method_cls = registry.methods.get(identity["method"])
        task_cls = registry.tasks.get(identity["task"])
        spec = RunSpec(
            method=identity["method"], task=identity["task"], scale=identity["scale"],
            seed=int(identity["seed"]),
            method_config=build_dataclass(method_cls.config_class, identity["method_config"],
                                          "method"),
            task_config=build_dataclass(task_cls.config_class, identity["task_config"], "task"),
            evaluation=build_dataclass(EvaluationConfig, identity["eval"], "eval"))
    except KeyError as error:
        raise RunFolderError(f"{str(folder)!r}: spec.json lacks {error}") from None
    if not (folder / store.POLICY_DIR / store.COST_FILE).exists():
        raise RunFolderError(f"{str(folder)!r} holds no trained policy yet; finish it with "
                             "`mobench run ... --resume`")
    return spec, saved


def load_trained_policy(folder: Path, spec: RunSpec,
                        cache_dir: Path | None = None) -> tuple[SteerablePolicy, TaskInstance]:
    instance = load_task(spec, cache_dir)
    method: Method = registry.methods.get(spec.method)(spec.method_config)
    context = FitContext(task=instance, seed=spec.seed, work_dir=folder / store.WORK_DIR)
    return method.load_policy(folder / store.POLICY_DIR, context), instance


__all__ = ["MobenchError", "RunOutcome", "RunHooks", "execute_run", "resolve_run_spec",
           "default_run_folder", "load_run", "load_trained_policy", "plan_for", "finalize"]
