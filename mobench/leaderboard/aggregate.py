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

Speed. The bootstrap draws every replicate's seeds and prompts first, in the order a replicate at
a time would (so a seed gives the same replicates as ever), builds all the resampled fronts of a
run with one array operation, and computes each metric on all of them at once
(:mod:`mobench.metrics.batch`, bit for bit what one front at a time gives). Rows and scorer sets
are independent (each bootstraps from ``seed``), so ``workers`` processes may take them in any
order and the leaderboards are the same. ``bench/bench_report.py`` measures it against the
previous one-front-at-a-time loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mobench.leaderboard.collect import RunScores
from mobench.leaderboard.protocol import check_protocol, unreproducible_runs
from mobench.metrics import METRICS, distinct_non_dominated
from mobench.metrics.batch import batch_front_metrics
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
        other_sets: per other scorer set, metric name -> mean over seeds, without an interval
            (what the page reads of them is the hypervolume, reward models against truth, and
            their bootstrap would double the report's time).
        unreproducible: run folder -> why no commit reproduces it, for such runs of the row
            (a tree with uncommitted changes, say): the tables mark the row.
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
    unreproducible: dict[str, str] = field(default_factory=dict)

    @property
    def reproducible(self) -> bool:
        return not self.unreproducible


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
                       confidence: float = 0.95, seed: int = 0,
                       workers: int = 1) -> list[Leaderboard]:
    """One leaderboard per task of ``runs``, tasks in name order; ``workers`` > 1 bootstraps the
    rows in that many processes (the same leaderboards, sooner)."""
    by_task: dict[str, list[RunScores]] = {}
    for run in runs:
        by_task.setdefault(run.result.label.task, []).append(run)
    for task in sorted(by_task):
        check_protocol(task, by_task[task])
    plans = [_plan(task, by_task[task]) for task in sorted(by_task)]
    # intervals for the ranked scorer set only (see LeaderboardRow.other_sets)
    jobs = {(plan.task, key, scorer_set): (members, scorer_set,
                                           plan.reference if scorer_set == plan.scorer_set
                                           else None,
                                           n_bootstrap if scorer_set == plan.scorer_set else 0)
            for plan in plans for key, members in plan.groups.items()
            for scorer_set in _common_sets(members)}
    summaries = _bootstrap_all(jobs, confidence, seed, workers)
    return [_leaderboard(plan, summaries, n_bootstrap, confidence) for plan in plans]


@dataclass
class _Plan:
    """A task's runs grouped into rows, before any bootstrap."""

    task: str
    scorer_set: str
    objectives: tuple[str, ...]
    reference: np.ndarray
    described: str
    groups: dict[tuple[str, str, str], list[RunScores]]


def _plan(task: str, runs: list[RunScores]) -> _Plan:
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
    for (method, variant, _), members in groups.items():
        members.sort(key=lambda r: r.result.label.seed)
        seeds = [r.result.label.seed for r in members]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"{method} ({variant}) on {task}: seed {seeds} appears twice; "
                             "report each run once")
    return _Plan(task, scorer_set, objectives.pop(), reference, described,
                 dict(sorted(groups.items())))


def _common_sets(members: Sequence[RunScores]) -> list[str]:
    return sorted(set.intersection(*(set(r.scores) for r in members)))


_Job = tuple[Sequence[RunScores], str, np.ndarray | None, int]  # ..., replicates


def _bootstrap_all(jobs: Mapping[Any, _Job], confidence: float, seed: int,
                   workers: int) -> dict[Any, dict[str, Summary]]:
    """:func:`_summaries` of every job, in ``workers`` processes when more than one. Each job
    seeds its own generator, so the order in which they run changes nothing."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    keys = list(jobs)
    if workers == 1 or len(keys) < 2:
        return {key: _summaries(*jobs[key], confidence, seed) for key in keys}
    # The costliest first (hypervolume grows fast with the objectives, everything with the grid),
    # so that no worker is left with a large job at the end; each job carries only what its
    # bootstrap reads.
    keys.sort(key=lambda k: _cost(*jobs[k]), reverse=True)
    arguments = [(_slim(jobs[k][0], jobs[k][1]), *jobs[k][1:], confidence, seed) for k in keys]
    with ProcessPoolExecutor(max_workers=min(workers, len(keys))) as pool:
        results = list(pool.map(_summaries_of, arguments))
    return dict(zip(keys, results, strict=True))


def _summaries_of(arguments: tuple[Any, ...]) -> dict[str, Summary]:
    return _summaries(*arguments)


def _cost(members: Sequence[RunScores], scorer_set: str, reference: np.ndarray | None,
          n_bootstrap: int) -> tuple[int, int, int]:
    n_preferences, n_prompts, n_objectives = members[0].scores[scorer_set].shape
    return int(n_bootstrap > 0), n_objectives, len(members) * n_preferences * n_prompts


def _slim(members: Sequence[RunScores], scorer_set: str) -> list[RunScores]:
    """The members with only what :func:`_summaries` reads of them (cheaper to send to a
    worker): this scorer set's scores and metrics, the grid, the reference point and volume."""
    return [replace(run, scores={scorer_set: run.scores[scorer_set]}, spec={},
                    reference_fronts={},
                    result=replace(run.result, raw={},
                                   metrics={scorer_set: run.result.metrics[scorer_set]}))
            for run in members]


def _leaderboard(plan: _Plan, summaries: Mapping[Any, dict[str, Summary]], n_bootstrap: int,
                 confidence: float) -> Leaderboard:
    task, scorer_set = plan.task, plan.scorer_set
    rows = []
    for (method, variant, scale), members in plan.groups.items():
        seeds = [r.result.label.seed for r in members]
        summaries_of = {s: summaries[(task, (method, variant, scale), s)]
                        for s in _common_sets(members)}
        rows.append(LeaderboardRow(
            method=method, variant=variant, scale=scale, serves=members[0].result.label.serves,
            seeds=seeds, metrics=summaries_of.pop(scorer_set), other_sets=summaries_of,
            cost=_mean_fields([policy_cost(r.result.cost) for r in members], COST_FIELDS),
            evaluation_cost=_mean_fields([r.result.evaluation_cost for r in members],
                                         EVALUATION_FIELDS),
            runs=[str(r.folder) for r in members],
            front=np.mean([r.front(scorer_set) for r in members], axis=0),
            preferences=members[0].preferences,
            unreproducible=unreproducible_runs(members)))
    _rank(rows)
    rows.sort(key=lambda r: (r.rank, -(r.metrics[RANK_METRIC].value or 0.0), r.method,
                             r.variant, r.scale))
    return Leaderboard(task=task, scorer_set=scorer_set, objectives=plan.objectives, rows=rows,
                       distance_reference=plan.described, reference_front=plan.reference,
                       n_bootstrap=n_bootstrap, confidence=confidence)


def _distance_reference(runs: Sequence[RunScores], scorer_set: str) -> tuple[np.ndarray, str]:
    carried = [run.reference_fronts.get(scorer_set) for run in runs]
    if all(front is not None for front in carried):
        return np.asarray(carried[0]), "task reference front"
    union = np.vstack([run.front(scorer_set) for run in runs])
    return distinct_non_dominated(union), "union of the report's runs"


def _summaries(members: Sequence[RunScores], scorer_set: str, reference: np.ndarray | None,
               n_bootstrap: int, confidence: float, seed: int) -> dict[str, Summary]:
    """Mean over seeds and the two-stage bootstrap interval of every metric.

    Each replicate draws ``len(members)`` seeds with replacement, then for each drawn seed its
    prompts with replacement (all from one generator, in that order), recomputes every metric on
    the resampled front and averages over the drawn seeds (undefined values left out)."""
    stored = [r.result.metrics[scorer_set] for r in members]
    # a run's distances to this leaderboard's reference, which its metrics.json may not hold
    point_distances = [_batch_metrics(r, scorer_set, reference, r.front(scorer_set)[None],
                                      DISTANCES) if reference is not None else {}
                       for r in members]
    replicates = _replicate_means(members, scorer_set, reference, n_bootstrap, seed)
    n_preferences = len(members[0].preferences)
    out: dict[str, Summary] = {}
    for name in METRICS:
        # a run's own value when it measured this metric the same way (distances only when to
        # this leaderboard's reference); recomputed from its front otherwise
        per_run = [s[name]["value"] if name not in DISTANCES or reference is None
                   else _defined(p[name][0]) for s, p in zip(stored, point_distances, strict=True)]
        value = _mean([v for v in per_run if v is not None])
        if value is None or not n_bootstrap:
            out[name] = Summary(value, None, None)
            continue
        low, high = bootstrap_interval(interval_form("auto", name), value, replicates[name],
                                       confidence, valid_range(name, n_preferences))
        out[name] = Summary(value, low, high)
    return out


def _replicate_means(members: Sequence[RunScores], scorer_set: str,
                     reference: np.ndarray | None, n_bootstrap: int,
                     seed: int) -> dict[str, list[float | None]]:
    """Per metric, each replicate's mean over its drawn seeds of the metric of their resampled
    fronts (None where no drawn seed has it defined)."""
    rng = np.random.default_rng(seed)
    n_members = len(members)
    scores = [r.scores[scorer_set] for r in members]
    # Draw as one replicate at a time would: its seeds, then each drawn seed's prompts.
    drawn = np.empty((n_bootstrap, n_members), dtype=np.intp)
    position = np.empty((n_bootstrap, n_members), dtype=np.intp)  # in its seed's draws
    draws: list[list[np.ndarray]] = [[] for _ in members]
    for b in range(n_bootstrap):
        drawn[b] = rng.integers(0, n_members, size=n_members)
        for s, k in enumerate(drawn[b]):
            n_prompts = scores[k].shape[1]
            position[b, s] = len(draws[k])
            draws[k].append(rng.integers(0, n_prompts, size=n_prompts))
    per_member = [_resampled_metrics(r, scorer_set, reference, draws[k])
                  for k, r in enumerate(members)]
    means: dict[str, list[float | None]] = {}
    for name in METRICS:
        values = np.empty((n_bootstrap, n_members))
        for k in range(n_members):
            chosen = drawn == k
            values[chosen] = per_member[k][name][position[chosen]]
        defined = ~np.isnan(values)
        # np.mean over each row adds as np.mean of the row's list did (same order, same length)
        full = values.mean(axis=1)
        means[name] = [float(full[b]) if defined[b].all()
                       else _mean(values[b][defined[b]].tolist()) for b in range(n_bootstrap)]
    return means


def _resampled_metrics(run: RunScores, scorer_set: str, reference: np.ndarray | None,
                       draws: Sequence[np.ndarray],
                       chunk: int = 64) -> dict[str, np.ndarray]:
    """Every metric of the run's fronts on each prompt draw (NaN where undefined)."""
    scores = run.scores[scorer_set]
    if not draws:
        return {name: np.empty(0) for name in METRICS}
    parts = []
    for start in range(0, len(draws), chunk):
        indices = np.stack(draws[start:start + chunk])
        # fronts[c] == scores[:, indices[c], :].mean(axis=1), the same sums
        fronts = scores[:, indices, :].mean(axis=2).transpose(1, 0, 2)
        parts.append(_batch_metrics(run, scorer_set, reference, fronts))
    return {name: np.concatenate([part[name] for part in parts]) for name in METRICS}


def _batch_metrics(run: RunScores, scorer_set: str, reference: np.ndarray | None,
                   fronts: np.ndarray,
                   names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    return batch_front_metrics(fronts, run.preferences, run.reference_point, reference,
                               run.preferences,
                               reference_hypervolume=run.reference_hypervolumes.get(scorer_set),
                               names=names)


def _defined(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


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
