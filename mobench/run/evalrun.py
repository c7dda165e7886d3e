"""``mobench eval``: evaluate a saved policy again, on another grid, prompts or task.

Results go to ``RUN_DIR/evals/<name>/`` with the same files as a run (records, front, metrics,
plots). The trained policy is loaded, never retrained; the run folder's lock keeps a concurrent
``mobench run --resume`` out. The same command run again continues an interrupted evaluation (or
shows a finished one); the evaluation's ``spec.json`` (what was asked: task, preferences, prompts,
seed, settings) is written once the policy has loaded, so a failure before that leaves nothing
that blocks the rerun.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mobench.core import store
from mobench.core.config import build_dataclass, merge, parse_overrides, to_plain
from mobench.core.errors import ConfigError, RunFolderError, UnknownNameError
from mobench.core.specs import EvaluationConfig, check_seed
from mobench.run.evaluation import evaluate
from mobench.run.inputs import read_preferences, read_prompts
from mobench.run.results import write_results
from mobench.run.runfolder import check_writable
from mobench.run.runner import (
    RunOutcome,
    check_scorers_ready,
    finished_metrics,
    load_task,
    plan_for,
    record_data_report,
    run_label,
)
from mobench.run.runspec import default_cache_dir, load_run, resolve_device, task_spec
from mobench.run.saved_policy import load_saved_policy, read_cost_record

EVALS_DIR = "evals"


def evaluate_saved_run(folder: Path, *, task: str | None = None,
                       preferences_file: str | None = None, prompts_file: str | None = None,
                       seed: int | None = None, name: str | None = None,
                       overrides: Sequence[str] = (), device: str = "auto",
                       on_stage: Callable[[str], None] = lambda s: None) -> RunOutcome:
    from mobench.core import registry
    from mobench.core.method import FitContext

    spec, _ = load_run(folder)
    tree = parse_overrides(list(overrides))
    unknown = [k for k in tree if k != "eval"]
    if unknown:
        raise UnknownNameError(f"unknown eval override {unknown[0]!r}; only eval.* keys apply "
                               "(e.g. eval.decoding.temperature=0.7)")
    evaluation = build_dataclass(EvaluationConfig,
                                 merge(to_plain(spec.evaluation), tree.get("eval", {})), "eval")
    eval_spec = spec
    if task is not None and task != spec.task:
        task_cls = registry.tasks.get(task)
        if spec.scale not in task_cls.scales:
            raise ConfigError(f"task {task!r} has no {spec.scale!r} scale")
        eval_spec = dataclasses.replace(spec, task=task, task_config=task_cls.config_class())
    trained_on = task_spec(spec)
    target = task_spec(eval_spec)
    if len(target.objectives) != len(trained_on.objectives):
        raise ConfigError(f"the policy was trained for {len(trained_on.objectives)} objectives; "
                          f"task {target.name!r} has {len(target.objectives)}")
    preferences = (read_preferences(preferences_file, len(target.objectives))
                   if preferences_file else None)
    prompts = read_prompts(prompts_file) if prompts_file else None
    run_seed = spec.seed if seed is None else check_seed(seed, "--seed")
    # as JSON gives it back (prompts are (id, text) tuples here, lists once saved)
    choice = json.loads(json.dumps({
        "task": eval_spec.task, "preferences": None if preferences is None
        else preferences.tolist(), "prompts": prompts, "seed": run_seed,
        "eval": to_plain(evaluation)}))
    label = name or "eval-" + hashlib.sha256(
        json.dumps(choice, sort_keys=True).encode()).hexdigest()[:8]
    if "/" in label or label in {"", ".", ".."}:
        raise ConfigError(f"evaluation name {label!r} is not a plain folder name")
    out = folder / EVALS_DIR / label
    check_writable(folder / EVALS_DIR)
    with store.RunLock(folder, busy_hint=store.BUSY_EVAL_HINT):
        spec_file = out / store.SPEC_FILE
        if spec_file.exists():
            saved = store.read_json(spec_file)
            if not isinstance(saved, dict) or {k: saved.get(k) for k in choice} != choice:
                raise RunFolderError(f"{str(out)!r} holds a different evaluation; pass another "
                                     "--name")
            finished = finished_metrics(out)
            if finished is not None:
                return RunOutcome(out, finished, True)
        on_stage("loading task and policy")
        cache = default_cache_dir()
        instance = load_task(eval_spec, cache)
        check_scorers_ready(instance)
        method = registry.methods.get(spec.method)(spec.method_config)
        context = FitContext(task=instance, seed=spec.seed, work_dir=folder / store.WORK_DIR,
                             device=resolve_device(device, spec.scale), cache_dir=cache)
        policy = load_saved_policy(method, folder, context)
        cost = read_cost_record(folder)
        if not spec_file.exists():
            store.write_json_atomic(spec_file, choice)
        record_data_report(instance, spec_file)
        plan = plan_for(instance, evaluation, run_seed, preferences, prompts)
        on_stage("evaluating")
        started = time.perf_counter()
        table = evaluate(policy, plan, instance.scorer_sets, instance.spec.objective_names,
                         evaluation, store.RecordsLog(out / store.RECORDS_FILE))
        metrics = write_results(out, run_label(eval_spec, method, instance, folder), instance,
                                plan, table, evaluation, run_seed, cost,
                                time.perf_counter() - started)
    return RunOutcome(out, metrics)
