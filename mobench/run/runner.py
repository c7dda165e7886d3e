"""A run from spec to metrics: guard the folder, load the task, fit (or load), evaluate, write.

Each stage leaves a file behind that marks it finished (``policy/cost.json``, complete batches in
``records.jsonl``, ``metrics.json``), so ``--resume`` picks up at the first unfinished stage. The
pieces around it have their own modules: what a run is (:mod:`mobench.run.runspec`), guarding its
folder (:mod:`mobench.run.runfolder`), what is written after evaluation
(:mod:`mobench.run.results`).

Training cost is the harness's: the fit's counters persist in ``work/cost_meter.json`` (saved
with every checkpoint) and its wall-clock in ``work/train_clock.json`` (one entry per leg), so a
run killed during training and resumed reports what an uninterrupted one would, and the time of
both legs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mobench.core import registry, store
from mobench.core.cost import (
    CLOCK_FILE,
    EVALUATION_CLOCK_FILE,
    METER_FILE,
    PersistentMeter,
    StageClock,
    metering,
)
from mobench.core.errors import ConfigError, MobenchError, RunFolderError
from mobench.core.method import FitContext, Method, method_serves, method_variant
from mobench.core.notices import quiet_cpu_fallback_notice
from mobench.core.policy import SteerablePolicy
from mobench.core.specs import CostRecord, EvaluationConfig, RunSpec
from mobench.core.task import Task, TaskInstance
from mobench.data.data_report import report_tallies
from mobench.run.code_fingerprint import loaded_code
from mobench.run.evaluation import EvaluationPlan, evaluate, plan_evaluation
from mobench.run.provenance import asset_fingerprints, git_revision, provenance
from mobench.run.results import RunLabel, write_results
from mobench.run.runfolder import check_run_folder
from mobench.run.runspec import (
    default_cache_dir,
    default_run_folder,
    load_run,
    resolve_device,
    resolve_run_spec,
    run_identity,
    task_spec,
)
from mobench.run.saved_policy import load_saved_policy, read_cost_record
from mobench.toolkit.grids import task_or_coarser_grid

logger = logging.getLogger("mobench")


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


def run_label(spec: RunSpec, method: Method, instance: TaskInstance, folder: Path) -> RunLabel:
    return RunLabel(method=spec.method, variant=method_variant(method, instance.spec),
                    serves=method_serves(method), task=spec.task, scale=spec.scale,
                    seed=spec.seed, run_id=folder.name)


def execute_run(spec: RunSpec, folder: Path, *, resume: bool = False,
                cache_dir: Path | None = None, hooks: RunHooks = RunHooks(),
                device: str = "auto") -> RunOutcome:
    """Run ``spec`` in ``folder`` (or continue it with ``resume``) and return its metrics."""
    quiet_cpu_fallback_notice(device)  # a sweep's workers come here without the CLI
    resolved_device = resolve_device(device, spec.scale)
    check_run_folder(folder, spec, resume)
    with store.RunLock(folder):
        check_run_folder(folder, spec, resume)  # again under the lock: another run may have begun
        finished = finished_metrics(folder) if resume else None
        if finished is not None:
            return RunOutcome(folder, finished, resumed_complete=True)
        hooks.on_stage("loading task")
        cache = cache_dir or default_cache_dir()
        instance = load_task(spec, cache)
        check_scorers_ready(instance)
        # written once the task loads and can be scored: a source or scorer problem leaves no
        # spec.json that would block the corrected command's rerun in this folder
        if not (folder / store.SPEC_FILE).exists():
            store.write_json_atomic(folder / store.SPEC_FILE, {
                "identity": run_identity(spec), "run_id": folder.name,
                "provenance": provenance(), "device": resolved_device,
                "assets": asset_fingerprints(instance.extras),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        record_data_report(instance, folder / store.SPEC_FILE)
        method: Method = registry.methods.get(spec.method)(spec.method_config)
        work_dir = folder / store.WORK_DIR
        context = FitContext(task=instance, seed=spec.seed, work_dir=work_dir,
                             meter=PersistentMeter(work_dir / METER_FILE),
                             device=resolved_device, cache_dir=cache)
        policy, cost = fit_or_load(method, context, folder, hooks)
        hooks.on_stage("evaluating")
        plan = plan_for(instance, spec.evaluation, spec.seed)
        # every leg's evaluation time: a run resumed during or after evaluation keeps the
        # earlier legs' seconds (the records hold their batches)
        clock = StageClock(work_dir / EVALUATION_CLOCK_FILE)

        def batch_written(index: int) -> None:
            clock.mark()
            if hooks.on_batch is not None:
                hooks.on_batch(index)

        with clock.running():
            table = evaluate(policy, plan, instance.scorer_sets,
                             instance.spec.objective_names, spec.evaluation,
                             store.RecordsLog(folder / store.RECORDS_FILE),
                             on_batch=batch_written)
        eval_seconds = clock.total_seconds()
        hooks.on_stage("computing metrics")
        metrics = write_results(folder, run_label(spec, method, instance, folder), instance, plan,
                                table, spec.evaluation, spec.seed, cost, eval_seconds)
        record_completion(folder / store.SPEC_FILE, spec)
    return RunOutcome(folder, metrics)


def record_completion(spec_file: Path, spec: RunSpec) -> None:
    """Write into spec.json what the finished run ran: the modules it loaded and their digest
    (:mod:`mobench.run.code_fingerprint`), and the checkout it finished from (a resumed run may
    finish from another commit than the one it started from)."""
    saved = store.read_json(spec_file)
    method_module = registry.methods.get(spec.method).__module__
    task_package = ".".join(registry.tasks.get(spec.task).__module__.split(".")[:3])
    extra = sorted({name.partition(".")[0] for name in (method_module, task_package)})
    store.write_json_atomic(spec_file, {
        **saved, "code": loaded_code(extra, earlier=saved.get("code"),
                                     own=(method_module, task_package)),
        "finished_git": git_revision()})


def finished_metrics(folder: Path) -> dict[str, Any] | None:
    """The metrics of a finished run or evaluation in ``folder``; None when there are none yet,
    or when its metrics file cannot be read: it is then recomputed from the records."""
    metrics_file = folder / store.METRICS_FILE
    if not metrics_file.exists():
        return None
    try:
        metrics = store.read_json(metrics_file)
    except RunFolderError as error:
        logger.warning("%s; recomputing it from the records", error)
        return None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("metrics"), dict):
        logger.warning("%r holds no metrics; recomputing it from the records", str(metrics_file))
        return None
    return metrics


def check_scorers_ready(instance: TaskInstance) -> None:
    """Refuse, before any training, a task whose evaluation could not score every objective.

    A scorer may say it cannot score (a paper-scale style without a configured model, say)
    through an ``unavailable_reason`` attribute; loading the task's data does not need it.
    """
    for scorers in instance.scorer_sets.values():
        for scorer in scorers.values():
            reason = getattr(scorer, "unavailable_reason", None)
            if reason:
                raise ConfigError(str(reason))


def record_data_report(instance: TaskInstance, spec_file: Path) -> None:
    """Print the rows the task's loader repaired or dropped, and write them into spec.json."""
    tallies = report_tallies(instance)
    if not tallies:
        return
    saved = store.read_json(spec_file)
    if saved.get("data") != tallies:
        store.write_json_atomic(spec_file, {**saved, "data": tallies})


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
        return load_saved_policy(method, folder, context), read_cost_record(folder)
    hooks.on_stage("training")
    context.work_dir.mkdir(parents=True, exist_ok=True)
    clock = StageClock(context.work_dir / CLOCK_FILE)
    if clock.legs:
        logger.info("continuing training after %d earlier leg(s) of %.1f s", len(clock.legs),
                    clock.total_seconds())
    with clock.running(), metering(context.meter):
        policy = method.fit(context)
    cost = context.meter.record(clock.total_seconds())
    with store.atomic_directory(policy_dir) as tmp:
        policy.save(tmp)
        store.write_json_atomic(tmp / store.COST_FILE, cost.to_dict())
    return policy, cost


def plan_for(instance: TaskInstance, config: EvaluationConfig, seed: int,
             preferences: np.ndarray | None = None,
             prompts: Sequence[tuple[str, str]] | None = None) -> EvaluationPlan:
    """The evaluation plan on the task's grid (or the coarser one ``config.grid_points`` asks
    for) and eval prompts, or on the ones given."""
    if preferences is not None:
        grid = preferences
    else:
        grid = task_or_coarser_grid(instance.spec, config.grid_points)
    if prompts is None:
        eval_prompts = instance.data.eval_prompts
        ids, texts = list(eval_prompts["prompt_id"]), list(eval_prompts["prompt"])
    else:
        ids, texts = [p[0] for p in prompts], [p[1] for p in prompts]
    return plan_evaluation(grid, ids, texts, config, seed)


def load_trained_policy(folder: Path, spec: RunSpec, cache_dir: Path | None = None,
                        device: str = "auto") -> tuple[SteerablePolicy, TaskInstance]:
    cache = cache_dir or default_cache_dir()
    instance = load_task(spec, cache)
    method: Method = registry.methods.get(spec.method)(spec.method_config)
    context = FitContext(task=instance, seed=spec.seed, work_dir=folder / store.WORK_DIR,
                         device=resolve_device(device, spec.scale), cache_dir=cache)
    return load_saved_policy(method, folder, context), instance


__all__ = ["MobenchError", "RunHooks", "RunOutcome", "check_scorers_ready", "default_run_folder",
           "execute_run", "finished_metrics", "load_run", "load_task", "load_trained_policy",
           "plan_for", "record_data_report", "resolve_run_spec", "run_label", "task_spec"]
