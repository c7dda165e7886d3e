"""The leaderboard's batched seeds-and-prompts bootstrap gives the very leaderboard a plain
reference gives: one replicate at a time, one front at a time, through front_metrics, written
out here independently of mobench.leaderboard.aggregate. Every value and interval must be equal,
not close, on small synthetic tasks: 2 objectives with tied scores and the task's reference front,
10 objectives (the hypervolume's recursion) with distances to the union of the runs; rows of 1 to
3 seeds, a point method whose front collapses to one point, fronts with repeated points; one and
two worker processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mobench.leaderboard.aggregate import build_leaderboards
from mobench.leaderboard.collect import RunScores
from mobench.leaderboard.table import to_csv
from mobench.metrics import METRICS, distinct_non_dominated, front_metrics
from mobench.metrics.bootstrap import bootstrap_interval, interval_form
from mobench.metrics.compute import valid_range
from mobench.run.results import RunLabel, RunResult
from mobench.toolkit.grids import default_grid

N_BOOTSTRAP = 25
DISTANCES = ("gd", "igd", "igd_plus")


def make_run(task: str, method: str, seed: int, grid: np.ndarray, n_prompts: int,
             steer: float, ties: bool, reference: np.ndarray | None,
             collapse: bool = False, mirrored: bool = False) -> RunScores:
    """A finished run as collect.load_run_scores returns it, scores drawn from ``seed``;
    ``collapse``: the same answers whatever the preference (a point method); ``mirrored``: the
    last preferences get the answers of the first, in reverse (repeated points on every front,
    the repeats in another order)."""
    rng = np.random.default_rng([len(task), len(method), seed])
    n, m = grid.shape
    latent = (0.45 + steer * (grid - 1.0 / m)[:, None, :]
              + rng.normal(0.0, 0.15, size=(n, n_prompts, m)))
    if collapse:
        latent[:] = latent[:1]
    if mirrored:
        latent[n - n // 2:] = latent[:n // 2][::-1]
    exact = np.round(latent * 6) / 6 if ties else latent
    scores = {"exact": exact, "reward_model": latent + rng.normal(0.0, 0.1, size=latent.shape)}
    origin = np.zeros(m)
    volume = 0.8 if reference is not None else None
    metrics = {}
    for name, array in scores.items():
        carried = reference if name == "exact" else None
        values = front_metrics(array.mean(axis=1), grid, origin, carried, grid,
                               reference_hypervolume=volume if name == "exact" else None)
        metrics[name] = {k: {"value": v} for k, v in values.items()}
    label = RunLabel(method=method, variant="default", serves="front", task=task, scale="tiny",
                     seed=seed, run_id=f"{method}-{seed}")
    result = RunResult(folder=Path(f"/runs/{task}/{method}/seed{seed}"), label=label,
                       objectives=tuple(f"o{j}" for j in range(m)), primary_scorer="exact",
                       metrics=metrics, cost={"train_seconds": 1.0 + seed},
                       evaluation_cost={"seconds": 2.0}, raw={})
    return RunScores(result=result, preferences=grid, scores=scores, reference_point=origin,
                     reference_fronts={} if reference is None else {"exact": reference},
                     spec={}, reference_hypervolumes={} if volume is None else {"exact": volume})


@pytest.fixture(scope="module")
def runs() -> list[RunScores]:
    two = np.array(default_grid(2))
    rng = np.random.default_rng(0)
    ten = np.vstack([np.eye(10), np.full((1, 10), 0.1), rng.dirichlet(np.ones(10), size=5)])
    reference = np.array([[0.9, 0.3], [0.8, 0.6], [0.6, 0.8], [0.3, 0.9]])
    out = []
    for method, seeds, steer in (("steer", (0, 1, 2), 0.6), ("flat", (0, 3), 0.0),
                                 ("alone", (5,), 0.3)):
        out += [make_run("two", method, s, two, 12, steer, True, reference) for s in seeds]
    out += [make_run("two", "mirrored", s, two, 12, 0.5, True, reference, mirrored=True)
            for s in (0, 1, 2)]
    for method, seeds, steer in (("steer", (0, 1), 0.5), ("weak", (0, 1), 0.1)):
        out += [make_run("ten", method, s, ten, 10, steer, False, None) for s in seeds]
    out += [make_run("ten", "mirrored", s, ten, 10, 0.4, False, None, mirrored=True)
            for s in (0, 1)]
    # a point method (one non-dominated point: no spread)
    return [*out, make_run("two", "point", 0, two, 12, 0.0, True, reference, collapse=True)]


def reference_summaries(members: list[RunScores], scorer_set: str,
                        reference: np.ndarray | None, n_bootstrap: int, seed: int = 0,
                        confidence: float = 0.95) -> dict[str, tuple]:
    """(value, low, high) per metric: the two-stage bootstrap spelled out."""

    def metrics_of(run: RunScores, front: np.ndarray) -> dict:
        return front_metrics(front, run.preferences, run.reference_point, reference,
                             run.preferences,
                             reference_hypervolume=run.reference_hypervolumes.get(scorer_set))

    rng = np.random.default_rng(seed)
    samples: dict[str, list] = {name: [] for name in METRICS}
    for _ in range(n_bootstrap):
        drawn = rng.integers(0, len(members), size=len(members))
        per_seed = []
        for k in drawn:
            scores = members[k].scores[scorer_set]
            prompts = rng.integers(0, scores.shape[1], size=scores.shape[1])
            per_seed.append(metrics_of(members[k], scores[:, prompts, :].mean(axis=1)))
        for name in METRICS:
            defined = [v[name] for v in per_seed if v[name] is not None]
            samples[name].append(float(np.mean(defined)) if defined else None)
    out = {}
    for name in METRICS:
        if name in DISTANCES and reference is not None:
            per_run = [metrics_of(r, r.scores[scorer_set].mean(axis=1))[name] for r in members]
        else:
            per_run = [r.result.metrics[scorer_set][name]["value"] for r in members]
        defined = [v for v in per_run if v is not None]
        value = float(np.mean(defined)) if defined else None
        if value is None or not n_bootstrap:
            out[name] = (value, None, None)
            continue
        low, high = bootstrap_interval(interval_form("auto", name), value, samples[name],
                                       confidence, valid_range(name, len(members[0].preferences)))
        out[name] = (value, low, high)
    return out


def reference_leaderboards(runs: list[RunScores],
                           n_bootstrap: int) -> dict[tuple[str, str, str], dict]:
    """(task, method, scorer set) -> metric -> (value, low, high)."""
    out = {}
    for task in sorted({r.result.label.task for r in runs}):
        task_runs = [r for r in runs if r.result.label.task == task]
        carried = [r.reference_fronts.get("exact") for r in task_runs]
        if all(front is not None for front in carried):
            reference = carried[0]
        else:
            reference = distinct_non_dominated(np.vstack([r.front("exact") for r in task_runs]))
        for method in sorted({r.result.label.method for r in task_runs}):
            members = sorted((r for r in task_runs if r.result.label.method == method),
                             key=lambda r: r.result.label.seed)
            for scorer_set in ("exact", "reward_model"):
                # intervals for the ranked set only; the others' values are means
                out[(task, method, scorer_set)] = reference_summaries(
                    members, scorer_set, reference if scorer_set == "exact" else None,
                    n_bootstrap if scorer_set == "exact" else 0)
    return out


def summaries_of(boards) -> dict[tuple[str, str, str], dict]:
    out = {}
    for board in boards:
        for row in board.rows:
            for scorer_set, metrics in (("exact", row.metrics), *row.other_sets.items()):
                out[(board.task, row.method, scorer_set)] = {
                    name: (s.value, s.ci_low, s.ci_high) for name, s in metrics.items()}
    return out


# 1 replicate: some seeds of a row are never drawn; 0: no intervals
HYPERVOLUMES = ("hypervolume", "hypervolume_share")


@pytest.mark.parametrize("n_bootstrap", [N_BOOTSTRAP, 1, 0])
def test_the_batched_bootstrap_is_the_plain_one_bit_for_bit(runs, n_bootstrap):
    expected = reference_leaderboards(runs, n_bootstrap)
    got = summaries_of(build_leaderboards(runs, n_bootstrap=n_bootstrap))
    assert got.keys() == expected.keys()
    for key, metrics in expected.items():
        for name in METRICS:
            if name in HYPERVOLUMES:
                # pygmo's WFG sums the same volumes in another order (metrics/hypervolume_wfg.py)
                for now, then in zip(got[key][name], metrics[name], strict=True):
                    assert (now is None) == (then is None), (key, name, now, then)
                    if then is not None:
                        assert now == pytest.approx(then, rel=1e-12, abs=0), (key, name)
                continue
            assert got[key][name] == metrics[name], (key, name, got[key][name], metrics[name])
    # the cases the synthetic set is there for
    assert expected[("two", "point", "exact")]["sparsity"] == (None, None, None)
    assert expected[("ten", "weak", "reward_model")]["igd"] == (None, None, None)
    assert (expected[("two", "steer", "exact")]["gd"][1] is None) == (n_bootstrap == 0)


def test_worker_processes_change_nothing(runs):
    one = build_leaderboards(runs, n_bootstrap=N_BOOTSTRAP)
    two = build_leaderboards(runs, n_bootstrap=N_BOOTSTRAP, workers=2)
    assert summaries_of(one) == summaries_of(two)
    assert [to_csv(b) for b in one] == [to_csv(b) for b in two]
    with pytest.raises(ValueError, match="workers"):
        build_leaderboards(runs, n_bootstrap=2, workers=0)
