"""Panacea on every tiny task through ``mobench run``, against ``base`` on the same task.

Every task runs with Panacea's full defaults: the runs the README quotes. Pinned, seed 0: the
exact-score hypervolume within a tolerance of the value measured when the defaults were set, a
hypervolume interval entirely above base's, and a floor on controllability: 0.8 where it was
measured clearly above 0.8 (hh 0.83, hhc 0.84, chat3 0.88), else a regression floor under the
measured value (chat4 0.82, chat5 0.76, chat10 0.63; on chat10 no oracle policy reaches 0.8
either, see bench/bench_controllability_ceiling.py). The tolerances absorb float differences
between CPUs, which change sampled tokens.

The assets are the session's shared tiny cache; the twelve runs take about seven minutes on two
cores, so they are marked ``full_tiny`` and left out of the default run and CI (which check every
method's micro configuration, tests/test_micro_baseline.py); run them with
``python -m pytest -m full_tiny``. The committed leaderboards hold the same full-default runs for
three seeds, checked by ``bash reports/regenerate.sh``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from mobench.cli import main

SEED = 0
pytestmark = pytest.mark.full_tiny


@dataclass(frozen=True)
class Expected:
    """What a Panacea run on one task must show.

    Attributes:
        hypervolume: exact-score hypervolume measured with these settings (seed 0).
        tolerance: allowed relative deviation from it.
        min_controllability: the least controllability accepted.
    """

    hypervolume: float
    tolerance: float
    min_controllability: float


EXPECTED = {
    "hh": Expected(0.728, 0.08, 0.8),
    "hhc": Expected(0.683, 0.08, 0.8),
    "chat3": Expected(0.211, 0.08, 0.8),
    "chat4": Expected(0.189, 0.08, 0.75),
    "chat5": Expected(0.0783, 0.12, 0.7),
    "chat10": Expected(0.000899, 0.25, 0.55),
}


@dataclass(frozen=True)
class RunResult:
    """The exact-score numbers of one run that the tests check."""

    hypervolume: float
    ci_low: float
    ci_high: float
    controllability: float


class Runs:
    """Runs each (method, task) once per module with its defaults, in the shared tiny cache."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root, self.cache = root, cache
        self.done: dict[tuple[str, str], RunResult] = {}

    def get(self, method: str, task: str) -> RunResult:
        key = (method, task)
        if key not in self.done:
            folder = self.root / f"{method}-{task}"
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("MOBENCH_CACHE", str(self.cache))
                patch.setenv("CI", "true")
                code = main(["run", "--method", method, "--task", task, "--seed", str(SEED),
                             "--output", str(folder)])
            assert code == 0, f"mobench run {method} on {task} failed"
            metrics = json.loads((folder / "metrics.json").read_text())
            exact = metrics["metrics"]["exact"]["metrics"]
            hv = exact["hypervolume"]
            self.done[key] = RunResult(hv["value"], hv["ci_low"], hv["ci_high"],
                                       exact["controllability"]["value"])
        return self.done[key]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_cache: Path) -> Runs:
    return Runs(tmp_path_factory.mktemp("tiny-runs"), tiny_cache)


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_panacea_defaults_beat_base(runs, task):
    expected = EXPECTED[task]
    panacea = runs.get("panacea", task)
    base = runs.get("base", task)
    assert panacea.hypervolume == pytest.approx(expected.hypervolume, rel=expected.tolerance)
    assert panacea.ci_low > base.ci_high, (
        f"{task}: panacea's hypervolume interval [{panacea.ci_low:.4g}, {panacea.ci_high:.4g}] "
        f"overlaps base's [{base.ci_low:.4g}, {base.ci_high:.4g}]")
    assert panacea.controllability > expected.min_controllability
    assert abs(base.controllability) < 0.3  # base ignores λ: its correlations are noise
