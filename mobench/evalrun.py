"""``mobench eval``: evaluate a saved policy again, on another grid, prompts or task.

Results go to ``RUN_DIR/evals/<name>/`` with the same files as a run (records, front, metrics,
plots). The trained policy is loaded, never retrained; the run folder's lock keeps a concurrent
``mobench run --resume`` out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mobench import store
from mobench.config import build_dataclass, merge, parse_overrides, to_plain
from mobench.errors import ConfigError, RunFolderError, UnknownNameError
from mobench.evaluation import evaluate
from mobench.inputs import read_preferences, read_prompts
from mobench.results import write_results
from mobench.runner import RunOutcome, load_task, plan_for, run_label
from mobench.runspec import default_cache_dir, load_run, resolve_device, task_spec
from mobench.specs import CostRecord, EvaluationConfig

EVALS_DIR = "evals"


def evaluate_saved_run(folder: Path, *, task: str | None = None,
                       preferences_file: str | None = None, prompts_file: str | None = None,
                       seed: int | None = None, name: str | None = None,
                       overrides: Sequence[str] = (), device: str = "auto",
                       on_stage: Callable[[str], None] = lambda s: None) -> RunOutcome:
    from mobench import registry
    from mobench.method import FitContext

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
    run_seed = spec.seed if seed is None else seed
    choice = {"task": eval_spec.task, "preferences": None if preferences is None
              else preferences.tolist(), "prompts": prompts, "seed": run_seed,
              "eval": to_plain(evaluation)}
    label = name or "eval-" + hashlib.sha256(
        json.dumps(choice, sort_keys=True).encode()).hexdigest()[:8]
    if "/" in label or label in {"", ".", ".."}:
        raise ConfigError(f"evaluation name {label!r} is not a plain folder name")
    out = folder / EVALS_DIR / label
    with store.RunLock(folder):
        spec_file = out / store.SPEC_FILE
        if spec_file.exists() and store.read_json(spec_file) != choice:
            raise RunFolderError(f"{str(out)!r} holds a different evaluation; pass another --name")
        if (out / store.METRICS_FILE).exists():
            return RunOutcome(out, store.read_json(out / store.METRICS_FILE), True)
        store.write_json_atomic(spec_file, choice)
        on_stage("loading task and policy")
        cache = default_cache_dir()
        instance = load_task(eval_spec, cache)
        method = registry.methods.get(spec.method)(spec.method_config)
        context = FitContext(task=instance, seed=spec.seed, work_dir=folder / store.WORK_DIR,
                             device=resolve_device(device, spec.scale), cache_dir=cache)
        policy = method.load_policy(folder / store.POLICY_DIR, context)
        cost = CostRecord(**store.read_json(folder / store.POLICY_DIR / store.COST_FILE))
        plan = plan_for(instance, evaluation, run_seed, preferences, prompts)
        on_stage("evaluating")
        started = time.perf_counter()
        table = evaluate(policy, plan, instance.scorer_sets, instance.spec.objective_names,
                         evaluation, store.RecordsLog(out / store.RECORDS_FILE))
        label = run_label(eval_spec, method, instance, folder)
        metrics = write_results(out, label, instance, plan, table, evaluation, run_seed, cost,
                                time.perf_counter() - started)
    return RunOutcome(out, metrics)
