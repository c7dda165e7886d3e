"""Every built-in method on every tiny task, in a micro configuration, checked against the
committed baseline ``tests/baselines/micro.json``; and the check catches a deliberately broken
method.

The micro configuration (30 steps, grids of at most 11 points, 8 prompts; RiC scores 512
offline responses and samples 64 in its online round, Best-of-N draws 4 candidates) is a
regression guard, not a measurement: it runs every method's whole path (training signal,
adapters, serving, evaluation, metrics) in minutes. 11 evaluated points and DPS/MODPO grids of
10 are the smallest that hold chat10's ten vertices (and, for the evaluation, its centre); the
3-to-5-objective tasks get the finest lattice that fits (hhc, chat3, chat4: 10 points; chat5:
its 5 vertices).

Same seed, same numbers, on every machine of the project's kind: the runs fix one torch thread
(whatever the core count) and mobench pins the CPU kernels to their AVX2 paths
(:mod:`mobench.core.threads`). Before the pins, the same runs moved beyond loose tolerances on an
AMD EPYC with AVX-512 (torch's AVX-512 softmax against the baseline machine's kernels), in every
method, ``base`` included. So the check is as tight as the arithmetic allows (``about`` and
``tolerances`` in the file): every sampled token must be the same, and a metric may move only by
float64 rounding in the metrics' own arithmetic (numpy's summation order follows the CPU's SIMD
width), far below what one changed token moves. To rewrite the baseline deliberately after a
change that moves the numbers, take it from the micro runs (a whole-suite session, or the same
sweep on its own):

    python -m pytest -q --basetemp=/tmp/mobench-tests
    mobench check /tmp/mobench-tests/micro0 --baseline tests/baselines/micro.json --update
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mobench.core import registry
from mobench.core.threads import fixed_torch_threads, torch_threads_in_use
from mobench.leaderboard.check import check, read_baseline
from mobench.run.results import read_result
from mobench.run.sweep import plan_sweep, run_sweep

BASELINE = Path(__file__).parent / "baselines" / "micro.json"
MICRO = ["eval.max_prompts=8", "eval.grid_points=11", "eval.n_bootstrap=20",
         "method.train.steps=30", "method.train.batch_size=8",
         "method.train.ppo.rollout_prompts=16", "method.grid_points=10",
         # RiC's offline scoring and online round, and Best-of-N's candidates, are sized apart
         # from the steps; at their defaults they took 250 s and 58 s of the sweep's 819.
         "method.offline_responses=512", "method.mors_samples=64", "method.mors_offline_rows=64",
         "method.n_samples=4"]
# One torch thread per run whatever the machine's core count: the bits depend on it.
MICRO_THREADS = 1


def builtin_methods() -> list[str]:
    return [e.name for e in registry.methods.entries()
            if e.target.__module__.startswith("mobench.methods")]


def tiny_tasks() -> list[str]:
    return [e.name for e in registry.tasks.entries()
            if e.target.__module__.startswith("mobench.tasks") and "tiny" in e.target.scales]


@pytest.fixture(scope="module")
def micro_runs(tmp_path_factory: pytest.TempPathFactory, tiny_cache: Path) -> Path:
    root = tmp_path_factory.mktemp("micro")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(tiny_cache))
        patch.setenv("CI", "true")
        jobs = plan_sweep(builtin_methods(), tiny_tasks(), [0], scale="tiny", root=root,
                          overrides=MICRO, jobs=2, threads=MICRO_THREADS)
        summary = run_sweep(jobs, workers=2)
    assert not summary.failed, summary.format()
    return root


def test_the_baseline_covers_every_builtin_method_on_every_tiny_task():
    keys = set(read_baseline(BASELINE)["runs"])
    covered = {(key.split("/")[0], key.split("/")[2]) for key in keys}
    missing = [(m, t) for m in builtin_methods() for t in tiny_tasks() if (m, t) not in covered]
    assert not missing, f"no baseline entry for {missing}"


def test_every_micro_run_matches_the_baseline(micro_runs):
    results = [read_result(p.parent) for p in micro_runs.rglob("metrics.json")]
    assert len(results) == len(builtin_methods()) * len(tiny_tasks())
    problems = check(read_baseline(BASELINE), results)
    assert not problems, "\n".join(p.format() for p in problems)


def test_the_check_catches_a_deliberately_broken_method(micro_runs, tiny_cache, tmp_path,
                                                        monkeypatch):
    """Panacea with its DPO loss turned upside down (it learns to prefer the rejected answers),
    run under the same key as its baseline entry, must fail the check."""
    from mobench.engine import dpo
    from mobench.run.sweep import run_job

    original = dpo.dpo_sequence_loss  # what DPOObjective.loss calls
    calls: list[int] = []

    def inverted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        loss, metrics = original(*args, **kwargs)
        return -loss, metrics

    monkeypatch.setattr(dpo, "dpo_sequence_loss", inverted)
    monkeypatch.setenv("MOBENCH_CACHE", str(tiny_cache))
    monkeypatch.setenv("CI", "true")
    jobs = plan_sweep(builtin_methods(), ["hh"], [0], scale="tiny", root=tmp_path,
                      overrides=MICRO, threads=MICRO_THREADS)
    (job,) = [j for j in jobs if j.method == "panacea"]  # with the overrides the sweep gave it
    with fixed_torch_threads(torch_threads_in_use()):  # the job sets its own; restore ours
        assert run_job(job).status == "done"  # in this process, with the broken loss
    assert calls, "the inverted loss was never called: the mutation missed the training path"
    problems = check(read_baseline(BASELINE), [read_result(Path(job.folder))])
    moved = [p for p in problems if "moved" in p.message]
    assert moved and all(p.run.startswith("panacea/") for p in moved)
