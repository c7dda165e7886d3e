"""Focused checks for mutations of ``tests/mutations/mutants.py`` that no other test caught.

Each test names the mutation it guards; the expected numbers come from the statistics of the
procedure (not from mobench's code), so the test fails when the procedure is wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mobench.leaderboard.aggregate import build_leaderboards
from mobench.leaderboard.collect import RunScores
from mobench.metrics import front_metrics
from mobench.metrics.bootstrap import resample_prompt_indices, resampled_fronts
from mobench.run.results import RunLabel, RunResult
from mobench.toolkit.grids import default_grid


def test_every_bootstrap_replicate_draws_its_own_prompts():
    # guards bootstrap-one-resample: 200 replicates of 12 prompts drawn with replacement; two
    # independent rows coincide with probability 12^-12, so all 200 rows differ.
    indices = resample_prompt_indices(n_prompts=12, n_bootstrap=200, seed=3)
    assert indices.shape == (200, 12)
    assert len({tuple(row) for row in indices.tolist()}) == 200
    # every prompt is drawn about 200 times (2400 draws of 12 prompts)
    counts = np.bincount(indices.ravel(), minlength=12)
    assert counts.min() > 140 and counts.max() < 260


def test_the_spread_of_resampled_fronts_is_the_standard_error_of_the_prompt_mean():
    # guards bootstrap-one-resample: prompt p scores p on both objectives, 20 prompts. A resample
    # mean over n draws with replacement has variance σ²/n, σ² = (n² − 1)/12 the population
    # variance of 0..n−1: 399/12/20 = 1.6625. 4000 replicates estimate it within about 2%
    # (relative sd √(2/4000)); one resample reused for every replicate gives 0.
    n_prompts = 20
    scores = np.broadcast_to(np.arange(n_prompts, dtype=float)[None, :, None], (3, n_prompts, 2))
    indices = resample_prompt_indices(n_prompts, n_bootstrap=4000, seed=0)
    means = np.array([front[0, 0] for front in resampled_fronts(scores, indices)])
    assert abs(means.mean() - 9.5) < 0.1
    assert abs(means.var() - 1.6625) < 0.15


def constant_run(seed: int, level: float) -> RunScores:
    """A finished two-objective run of the method ``steady`` whose every answer scores ``level``
    on both objectives: prompts do not matter, only which seeds a replicate draws."""
    grid = np.array(default_grid(2))
    scores = np.full((len(grid), 6, 2), level)
    front = scores.mean(axis=1)
    values = front_metrics(front, grid, np.zeros(2), None, grid)
    label = RunLabel(method="steady", variant="default", serves="front", task="flat",
                     scale="tiny", seed=seed, run_id=f"steady-{seed}")
    result = RunResult(folder=Path(f"/runs/flat/steady/seed{seed}"), label=label,
                       objectives=("a", "b"), primary_scorer="exact",
                       metrics={"exact": {k: {"value": v} for k, v in values.items()}},
                       cost={"train_seconds": 1.0}, evaluation_cost={"seconds": 1.0}, raw={})
    return RunScores(result=result, preferences=grid, scores={"exact": scores},
                     reference_point=np.zeros(2), reference_fronts={}, spec={})


def test_the_leaderboard_bootstrap_draws_the_seeds_of_every_replicate_anew():
    # guards leaderboard-one-seed-draw: three seeds whose inner product is 0.3, 0.5 and 0.8
    # (λ·(c, c) = c on every preference). A replicate's value is the mean of three seeds drawn
    # with replacement; it is the smallest (0.3) or the largest (0.8) with probability 1/27 each,
    # more than the 2.5% tails, so the 95% percentile interval is [0.3, 0.8] and the basic one,
    # reflected around the mean 1.6/3, is [2·1.6/3 − 0.8, 2·1.6/3 − 0.3]. One seed draw reused
    # for every replicate makes every replicate one value and the interval a point.
    runs = [constant_run(seed, level) for seed, level in ((0, 0.3), (1, 0.5), (2, 0.8))]
    (board,) = build_leaderboards(runs, n_bootstrap=2000, seed=0)
    (row,) = board.rows
    summary = row.metrics["inner_product"]
    assert summary.value == pytest.approx(1.6 / 3, abs=1e-12)
    assert summary.ci_low == pytest.approx(2 * 1.6 / 3 - 0.8, abs=1e-9)
    assert summary.ci_high == pytest.approx(2 * 1.6 / 3 - 0.3, abs=1e-9)
