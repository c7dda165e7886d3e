"""What a run leaves after evaluation, and how it is read back and shown.

:func:`write_results` writes ``front.csv``, ``plots/front.png`` and ``metrics.json`` (last: its
presence marks the run complete). ``metrics.json`` describes itself, so a leaderboard is built from
run folders alone: which method (and variant) ran on which task, scale and seed, the run id, the
mobench version and git revision, every metric of every scorer set with its interval, the training
cost and the evaluation cost. :func:`read_result` reads it back into a :class:`RunResult`;
:func:`format_summary` is the table the CLI prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mobench import __version__
from mobench.core import store
from mobench.core.errors import RunFolderError
from mobench.core.specs import CostRecord, EvaluationConfig
from mobench.core.task import TaskInstance
from mobench.core.text import plural
from mobench.data.optimal_front import EXTRA_KEY as OPTIMAL_FRONT_EXTRA
from mobench.run.evaluation import EvaluationPlan, ScoreTable
from mobench.run.fronts import front_frame, normalized_front, normalized_scores
from mobench.run.provenance import git_revision
from mobench.run.published import metrics_file, read_metrics

RESULTS_FORMAT = 2  # bump when metrics.json changes shape


@dataclass(frozen=True)
class RunLabel:
    """Who and what a run's results are about.

    Attributes:
        method: registry name of the method.
        variant: the method's variant on this task (``factors``, ``dpo-ls``...; ``default``).
        serves: ``front`` (an answer per preference) or ``point`` (one policy whatever λ).
        task: registry name of the task.
        scale: ``tiny`` or ``paper``.
        seed: the run's seed.
        run_id: the run folder's id.
    """

    method: str
    variant: str
    serves: str
    task: str
    scale: str
    seed: int
    run_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "variant": self.variant, "serves": self.serves,
                "task": self.task, "scale": self.scale, "seed": self.seed,
                "run_id": self.run_id, "mobench_version": __version__,
                "git": git_revision()}


def reference_fronts_for(instance: TaskInstance, prompts: Sequence[str]) -> tuple[
        Mapping[str, np.ndarray], Mapping[str, float]]:
    """(raw reference fronts, their hypervolumes) per scorer set that describe ``prompts``.

    A known front is a mean over the prompts it was computed on: the instance's own are for its
    eval prompts. For other prompts (``eval.max_prompts``, ``mobench eval --prompts``) a task may
    offer ``extras["optimal_front"]``, whose ``references_for(prompts)`` computes them (None for
    prompts foreign to the task); otherwise there are none, rather than a front of other prompts.
    """
    if tuple(prompts) == tuple(instance.data.eval_prompts["prompt"]):
        return instance.reference_fronts, instance.reference_hypervolumes
    source = instance.extras.get(OPTIMAL_FRONT_EXTRA)
    found = None if source is None else source.references_for(prompts)
    return found if found is not None else ({}, {})


def compute_reports(instance: TaskInstance, plan: EvaluationPlan, table: ScoreTable,
                    config: EvaluationConfig, seed: int) -> dict[str, Any]:
    """Every scorer set's MetricsReport, the primary set first (what a reader sees first)."""
    from mobench.metrics import compute_metrics

    spec = instance.spec
    fronts, hypervolumes = reference_fronts_for(instance, plan.prompts)
    reports = {}
    for set_name in sorted(table.scores, key=lambda name: name != spec.primary_scorer):
        reference = fronts.get(set_name)
        reports[set_name] = compute_metrics(
            normalized_scores(spec, table, set_name), plan.preferences,
            np.asarray(spec.reference_point),
            reference_front=None if reference is None else spec.normalize(reference),
            reference_hypervolume=hypervolumes.get(set_name),
            n_bootstrap=config.n_bootstrap, confidence=config.confidence, seed=seed,
            interval=config.interval)
    return reports


def write_results(folder: Path, label: RunLabel, instance: TaskInstance, plan: EvaluationPlan,
                  table: ScoreTable, config: EvaluationConfig, seed: int, cost: CostRecord,
                  eval_seconds: float) -> dict[str, Any]:
    """Write front.csv, the plot and metrics.json; return what metrics.json holds."""
    from mobench.run.plots import plot_front

    spec = instance.spec
    reports = compute_reports(instance, plan, table, config, seed)
    references, reference_volumes = reference_fronts_for(instance, plan.prompts)
    front = front_frame(spec, plan.preferences, table)
    store.write_text_atomic(folder / store.FRONT_FILE, front.to_csv(index=False))
    plot_front(spec, plan.preferences,
               {s: normalized_front(spec, table, s) for s in reports},
               folder / store.PLOTS_DIR / "front.png",
               optimal_fronts={s: spec.normalize(f) for s, f in references.items()})
    metrics = {
        "format": RESULTS_FORMAT,
        "run": label.to_dict(),
        "task": spec.name, "scale": spec.scale,
        "objectives": list(spec.objective_names),
        "objective_bounds": [{"name": o.name, "bounds": list(o.bounds),
                              "direction": o.direction} for o in spec.objectives],
        "reference_point": list(spec.reference_point),
        "primary_scorer": spec.primary_scorer,
        "n_preferences": int(len(plan.preferences)), "n_prompts": int(len(plan.prompts)),
        "metrics": {s: r.to_dict() for s, r in reports.items()},
        # the normalized reference fronts the distances were measured to, so a leaderboard can
        # recompute them on resampled prompts from the run folder alone
        "reference_fronts": {s: spec.normalize(front).tolist()
                             for s, front in references.items()},
        "reference_hypervolumes": dict(reference_volumes),
        "cost": cost.to_dict(),
        "evaluation_cost": {"generated_tokens": int(table.n_tokens.sum()),
                            **{key: int(value) for key, value in table.policy_cost.items()},
                            "scorer_calls": int(table.n_tokens.size * len(table.scores)
                                                * len(spec.objectives)),
                            "seconds": round(eval_seconds, 3)},
    }
    store.write_json_atomic(folder / store.METRICS_FILE, metrics)
    return metrics


@dataclass(frozen=True)
class RunResult:
    """One run's results as read back from its folder (what a leaderboard aggregates).

    Attributes:
        folder: the run folder.
        label: method, variant, task, scale, seed, run id.
        objectives: objective names, in order.
        primary_scorer: the scorer set the leaderboard ranks by.
        metrics: per scorer set, metric name -> {value, ci_low, ci_high, direction, definition}.
        cost: the training cost record.
        evaluation_cost: the evaluation's cost (tokens, the policy's own calls, seconds).
        raw: the whole metrics.json.
    """

    folder: Path
    label: RunLabel
    objectives: tuple[str, ...]
    primary_scorer: str
    metrics: Mapping[str, Mapping[str, Any]]
    cost: Mapping[str, Any]
    evaluation_cost: Mapping[str, Any]
    raw: Mapping[str, Any]


def read_result(folder: Path) -> RunResult:
    """The finished run in ``folder``; one-line errors for a folder that is not one."""
    path = metrics_file(Path(folder))
    if path is None:
        raise RunFolderError(f"{str(folder)!r} holds no finished run (no metrics.json); finish "
                             "it with `mobench run ... --resume`")
    data = read_metrics(Path(folder))
    run = data.get("run")
    if not isinstance(run, Mapping):
        raise RunFolderError(f"{str(path)!r} does not describe its run (written by an older "
                             "mobench); re-run it")
    try:
        label = RunLabel(method=run["method"], variant=run["variant"], serves=run["serves"],
                         task=run["task"], scale=run["scale"], seed=int(run["seed"]),
                         run_id=run["run_id"])
        return RunResult(folder=Path(folder), label=label,
                         objectives=tuple(data["objectives"]),
                         primary_scorer=data["primary_scorer"],
                         metrics={s: r["metrics"] for s, r in data["metrics"].items()},
                         cost=data["cost"], evaluation_cost=data["evaluation_cost"], raw=data)
    except (KeyError, TypeError) as error:
        raise RunFolderError(f"{str(path)!r} lacks {error}") from None


def format_summary(metrics: Mapping[str, Any]) -> str:
    """The metrics of every scorer set (value and CI), then the cost, as a short table."""
    primary = metrics["primary_scorer"]
    run = metrics.get("run", {})
    who = f"{run['method']} ({run['variant']}) on " if run else ""
    lines = [f"{who}{metrics['task']} ({metrics['scale']}): {metrics['n_preferences']} "
             f"preferences x {metrics['n_prompts']} prompts"]
    for set_name, table in metrics["metrics"].items():
        marker = " (primary)" if set_name == primary else ""
        lines.append(f"\nscorer set: {set_name}{marker}")
        lines.append(metrics_table(table))
    lines.append("\n" + cost_line(metrics["cost"]))
    evaluation = metrics.get("evaluation_cost")
    if evaluation:
        lines.append(evaluation_line(evaluation))
    return "\n".join(lines)


def cost_line(cost: Mapping[str, Any]) -> str:
    line = (f"cost: {cost['train_seconds']:.1f} s training, "
            f"{plural(cost['models_trained'], 'model')}, "
            f"{plural(cost['adapters_trained'], 'adapter')}, "
            f"{plural(cost['trainable_parameters'], 'trainable parameter')}, "
            f"{plural(cost['generated_tokens'], 'generated token')}, "
            f"{plural(cost['reward_calls'], 'reward call')}")
    notes = cost.get("reused") or {}
    # a store this run filled itself is noted too (so a resumed leg or a later grid model does
    # not count it again), but it was not reused
    kept = sorted(k for k, v in notes.items() if isinstance(v, Mapping) and v.get("computed_here"))
    reused = sorted(k for k in notes if k not in kept)
    if reused:
        line += f" (reused, not trained here: {', '.join(reused)})"
    if kept:
        line += f" (computed here and kept for other runs: {', '.join(kept)})"
    return line


def evaluation_line(evaluation: Mapping[str, Any]) -> str:
    line = (f"evaluation: {evaluation['seconds']:.1f} s, "
            f"{plural(evaluation['generated_tokens'], 'response token')}")
    sampled = evaluation.get("sampled_tokens", 0)
    if sampled and sampled != evaluation["generated_tokens"]:
        line += f", {sampled:,} tokens sampled by the policy"
    if evaluation.get("model_token_passes"):
        line += f", {evaluation['model_token_passes']:,} extra model-token passes"
    if evaluation.get("reward_calls"):
        line += f", {evaluation['reward_calls']:,} reward calls by the policy"
    return line


def metrics_table(table: Mapping[str, Any]) -> str:
    rows = [("metric", "value", "CI", "better")]
    for name, entry in table.get("metrics", table).items():
        if not isinstance(entry, Mapping) or "value" not in entry:
            continue
        value = _fmt(entry.get("value"))
        low, high = entry.get("ci_low"), entry.get("ci_high")
        ci = f"[{_fmt(low)}, {_fmt(high)}]" if low is not None and high is not None else "-"
        rows.append((name, value, ci, entry.get("direction", "")))
    widths = [max(len(r[k]) for r in rows) for k in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip()
                     for row in rows)


def _fmt(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
