"""One leaderboard per task: a row per (method, variant, scale), seeds aggregated.

Values. A row's value of a metric is the mean over its seeds of each run's value (as the run's
``metrics.json`` has it). Its interval comes from a two-stage bootstrap over seeds and prompts:
each replicate draws the row's seeds with replacement, then each drawn run's prompts with
replacement, recomputes the metric on each resampled front and averages over the drawn seeds;
the interval is formed from the replicates as a run's are (:mod:`mobench.metrics.bootstrap`,
``auto``: per metric, holding the estimate). With one seed it is the run's prompt interval.

Distances. GD, IGD and IGD+ are measured to the task's reference front where the runs carry one
(the tiny tasks' optimal front), else to the non-dominated union of the fronts of every run of the
task in the report; the leaderboard says which (:attr:`Leaderboard.distance_reference`).

Ranks. A row's rank is 1 plus the number of rows whose hypervolume interval lies wholly above its
own, so rows whose intervals overlap share a rank unless one of them is beaten by a row the other
is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mobench.leaderboard.collect import RunScores
from mobench.metrics import METRICS, distinct_non_dominated, front_metrics
from mobench.metrics.bootstrap import bootstrap_interval, interval_form
from mobench.metrics.compute import valid_range

RANK_METRIC = "hypervolume"
DISTANCES = ("gd", "igd", "igd_plus")
COST_FIELDS = ("train_seconds", "reused_train_seconds", "models_trained", "adapters_trained",
               "trainable_parameters", "generated_tokens", "reward_calls")
EVALUATION_FIELDS = ("seconds", "generated_tokens", "sampled_tokens", "reward_calls",
                     "model_token_passes")


@dataclass(frozen=True)
class Summary:
    """A metric of a row: the mean over seeds and its interval (None where undefined)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass
class LeaderboardRow:
    """One (method, variant, scale) on one task.

    Attributes:
        method: registry name.
        variant: the method's variant.
        scale: ``tiny`` or ``paper``.
        serves: ``front`` or ``point``.
        seeds: the seeds aggregated.
        metrics: metric name -> summary, for the leaderboard's scorer set.
        cost: mean training cost over seeds, reused parts' training time included
            (:func:`policy_cost`).
        evaluation_cost: mean evaluation cost over seeds.
        runs: the run folders.
        rank: see the module docstring.
        front: the seed-mean normalized front (n, m), for the plots.
        preferences: the evaluated grid (n, m).
        other_sets: per other scorer set, metric name -> summary (reward-model against truth).
    """

    method: str
    variant: str
    scale: str
    serves: str
    seeds: list[int]
    metrics: dict[str, Summary]
    cost: dict[str, float]
    evaluation_cost: dict[str, float]
    runs: list[str]
    front: np.ndarray
    preferences: np.ndarray
    rank: int = 0
    other_sets: dict[str, dict[str, Summary]] = field(default_factory=dict)


@dataclass
class Leaderboard:
    """All rows of one task.

    Attributes:
        task: the task's name.
        scorer_set: the scorer set ranked by (the runs' primary one).
        objectives: objective names.
        rows: rows, best rank first.
        distance_reference: ``task reference front`` or ``union of the report's runs``.
        reference_front: the normalized front distances were measured to.
        n_bootstrap: replicates behind the intervals.
        confidence: their coverage.
    """

    task: str
    scorer_set: str
    objectives: tuple[str, ...]
    rows: list[LeaderboardRow]
    distance_reference: str
    reference_front: np.ndarray
    n_bootstrap: int
    confidence: float


def build_leaderboards(runs: Sequence[RunScores], *, n_bootstrap: int = 200,
                       confidence: float = 0.95, seed: int = 0) -> list[Leaderboard]:
    """One leaderboard per task of ``runs``, tasks in name order."""
    by_task: dict[str, list[RunScores]] = {}
    for run in runs:
        by_task.setdefault(run.result.label.task, []).append(run)
    return [_leaderboard(task, by_task[task], n_bootstrap, confidence, seed)
            for task in sorted(by_task)]


def _leaderboard(task: str, runs: list[RunScores], n_bootstrap: int, confidence: float,
                 seed: int) -> Leaderboard:
    primary = {run.result.primary_scorer for run in runs}
    objectives = {run.result.objectives for run in runs}
    if len(primary) != 1 or len(objectives) != 1:
        raise ValueError(f"runs of task {task!r} disagree on objectives or primary scorer set")
    scorer_set = primary.pop()
    reference, described = _distance_reference(runs, scorer_set)
    groups: dict[tuple[str, str, str], list[RunScores]] = {}
    for run in runs:
        label = run.result.label
        groups.setdefault((label.method, label.variant, label.scale), []).append(run)
    rows = []
    for (method, variant, scale), members in sorted(groups.items()):
        members.sort(key=lambda r: r.result.label.seed)
        seeds = [r.result.label.seed for r in members]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"{method} ({variant}) on {task}: seed {seeds} appears twice; "
                             "report each run once")
        sets = sorted(set.intersection(*(set(r.scores) for r in members)))
        summaries = {s: _summaries(members, s, reference if s == scorer_set else None,
                                   n_bootstrap, confidence, seed) for s in sets}
        rows.append(LeaderboardRow(
            method=method, variant=variant, scale=scale, serves=members[0].result.label.serves,
            seeds=seeds, metrics=summaries.pop(scorer_set), other_sets=summaries,
            cost=_mean_fields([policy_cost(r.result.cost) for r in members], COST_FIELDS),
            evaluation_cost=_mean_fields([r.result.evaluation_cost for r in members],
                                         EVALUATION_FIELDS),
            runs=[str(r.folder) for r in members],
            front=np.mean([r.front(scorer_set) for r in members], axis=0),
            preferences=members[0].preferences))
    _rank(rows)
    rows.sort(key=lambda r: (r.rank, -(r.metrics[RANK_METRIC].value or 0.0), r.method,
                             r.variant, r.scale))
    return Leaderboard(task=task, scorer_set=scorer_set, objectives=objectives.pop(), rows=rows,
                       distance_reference=described, reference_front=reference,
                       n_bootstrap=n_bootstrap, confidence=confidence)


def _distance_reference(runs: Sequence[RunScores], scorer_set: str) -> tuple[np.ndarray, str]:
    carried = [run.reference_fronts.get(scorer_set) for run in runs]
    if all(front is not None for front in carried):
        return np.asarray(carried[0]), "task reference front"
    union = np.vstack([run.front(scorer_set) for run in runs])
    return distinct_non_dominated(union), "union of the report's runs"


def _summaries(members: Sequence[RunScores], scorer_set: str, reference: np.ndarray | None,
               n_bootstrap: int, confidence: float, seed: int) -> dict[str, Summary]:
    """Mean over seeds and the two-stage bootstrap interval of every metric."""

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
        replicates.append(_mean_dicts(values))
    n_preferences = len(members[0].preferences)
    out: dict[str, Summary] = {}
    for name in METRICS:
        # a run's own value when it measured this metric the same way (distances only when to
        # this leaderboard's reference); recomputed from its front otherwise
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


def policy_cost(cost: Mapping[str, Any]) -> dict[str, Any]:
    """What producing the policy cost: a run's record with the wall-clock of parts it reused
    (experts found in the asset cache) added back, so a method is not cheaper on the leaderboard
    because another method trained its experts first; ``reused_train_seconds`` says how much."""
    reused = sum(float(part.get("train_seconds", 0.0)) for part in
                 (cost.get("reused") or {}).values())
    return {**cost, "train_seconds": float(cost.get("train_seconds", 0.0)) + reused,
            "reused_train_seconds": reused}


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _mean_dicts(values: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    return {name: _mean([x for v in values if (x := v[name]) is not None]) for name in METRICS}


def _mean_fields(records: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> dict[str, float]:
    return {name: float(np.mean([float(r.get(name, 0) or 0) for r in records]))
            for name in fields}


def _rank(rows: list[LeaderboardRow]) -> None:
    for row in rows:
        own = row.metrics[RANK_METRIC]
        above = 0
        for other in rows:
            theirs = other.metrics[RANK_METRIC]
            if other is row or own.ci_high is None or theirs.ci_low is None:
                continue
            above += theirs.ci_low > own.ci_high
        row.rank = 1 + above
