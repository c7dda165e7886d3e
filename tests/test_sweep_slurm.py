"""``mobench sweep --executor slurm`` on a real one-node SLURM cluster (tests/slurm_cluster.py):
the micro grid of two methods by two seeds gives the local executor's metrics; a job cancelled
with ``scancel`` mid-training, and one killed by its time limit, resume on the next sweep from
their checkpoints; the sweep reports its jobs' states and logs; the cluster options reach sbatch.

The cluster is the one ``.ci/run`` started (``MOBENCH_TEST_SLURM`` names its folder), or one
started here for the session. Where SLURM cannot be installed (no root, no apt-get) these tests
skip, saying why; with ``MOBENCH_REQUIRE_SLURM`` set (CI) they fail instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MICRO_SWEEP, PLUGIN_DIR

from mobench.core import store

pytestmark = pytest.mark.slurm

# what every job of the tests asks for: a partition other than the default, one core, 1 GiB,
# no GPU, 5 minutes, a comment through the extra sbatch parameters, at most 4 jobs at once
CLUSTER_FLAGS = ("--executor", "slurm", "--slurm-partition", "mobench", "--slurm-cpus", "1",
                 "--slurm-mem-gb", "1", "--slurm-gpus", "0", "--slurm-time-min", "5",
                 "--slurm-sbatch", "comment=mobench-test", "--slurm-array-limit", "4")
OUTCOME = re.compile(r"mobench: (done|failed): (\S+) on toy \(tiny, seed (\d)\) in \d+ s "
                     r"\(job (\S+), ([^;]+); log (\S+)\)")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A running cluster: .ci/run's, or one started (and stopped) here."""
    from slurm_cluster import Cluster, ClusterUnavailable, start, stop

    given = os.environ.get("MOBENCH_TEST_SLURM")
    if given:
        cluster = Cluster(Path(given))
        if not cluster.answers():
            pytest.fail(f"the SLURM cluster in {given} (MOBENCH_TEST_SLURM) does not answer")
        yield cluster
        return
    began = time.monotonic()
    try:
        cluster = start(tmp_path_factory.mktemp("slurm"))
    except ClusterUnavailable as error:
        if os.environ.get("MOBENCH_REQUIRE_SLURM"):
            pytest.fail(f"SLURM is required here (MOBENCH_REQUIRE_SLURM) but: {error}")
        pytest.skip(f"no SLURM cluster here: {error}")
    print(f"\nSLURM cluster up in {time.monotonic() - began:.1f} s", file=sys.stderr)
    try:
        yield cluster
    finally:
        stop(cluster.folder)


def sweep_command(root: Path) -> list[str]:
    return [sys.executable, "-m", "mobench.cli", "sweep", *MICRO_SWEEP, *CLUSTER_FLAGS,
            "--output", str(root)]


def outcomes(stderr: str) -> dict[tuple[str, int], dict[str, str]]:
    """(method, seed) -> status, job, state and log of each run a sweep reported."""
    found = {}
    for status, method, seed, job, state, log in OUTCOME.findall(stderr):
        found[method, int(seed)] = {"status": status, "job": job, "state": state, "log": log}
    return found


@pytest.fixture(scope="module")
def slurm_sweeps(slurm_cluster, tmp_path_factory: pytest.TempPathFactory):
    """The micro grid on the cluster, twice. The first sweep's Panacea runs stop for good just
    after their first checkpoint (step 4 of 16); then one of their jobs is cancelled with
    scancel, and the other's time limit is brought forward to now, so that Slurm kills it as it
    kills a job whose limit has run out (a limit counts in minutes, and waiting one out would
    cost a minute here). The second sweep resumes both. Returns the root and the two sweeps'
    completed processes (the second runs in this process, its output captured)."""
    scratch = tmp_path_factory.mktemp("slurm-sweep")
    root, hang = scratch / "runs", scratch / "hang"
    hang.mkdir()
    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR), CI="true",
               MOBENCH_CACHE=str(scratch / "cache"), **slurm_cluster.environment())
    env.pop("MOBENCH_TEST_KILL", None)
    first = subprocess.Popen(sweep_command(root), cwd=scratch, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**env, "MOBENCH_TEST_HANG": "save:1",
                                  "MOBENCH_TEST_HANG_DIR": str(hang)})
    try:
        deadline = time.monotonic() + 240
        while len(list(hang.iterdir())) < 2:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the Panacea jobs never reached a checkpoint"
            time.sleep(0.2)
        cancelled, timed_out = sorted(p.read_text().split()[1] for p in hang.iterdir())
        slurm_cluster.command("scancel", cancelled)
        slurm_cluster.command("scontrol", "update", f"JobId={timed_out}", "EndTime=now")
        out, err = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    second = sweep_here(sweep_command(root)[3:], env, scratch)
    return root, subprocess.CompletedProcess(first.args, first.returncode, out, err), second


def sweep_here(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """``mobench ARGV`` in this process (no second start of Python, torch and mobench), with
    ``env``'s variables (the jobs inherit them through sbatch); its output captured."""
    from mobench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        for name in ("PYTHONPATH", "CI", "MOBENCH_CACHE", "SLURM_CONF"):
            mp.setenv(name, env[name])
        mp.delenv("MOBENCH_TEST_HANG", raising=False)
        mp.chdir(cwd)
        code = main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def test_the_sweep_reports_its_jobs_states_and_logs(slurm_sweeps):
    _, first, second = slurm_sweeps
    assert first.returncode == 1, first.stderr
    reported = outcomes(first.stderr)
    assert sorted(reported) == [("panacea", 0), ("panacea", 1), ("toy-steer", 0),
                                ("toy-steer", 1)], first.stderr
    assert [reported["toy-steer", s]["state"] for s in (0, 1)] == ["COMPLETED", "COMPLETED"]
    states = sorted(reported["panacea", s]["state"].split()[0] for s in (0, 1))
    assert states == ["CANCELLED", "TIMEOUT"], first.stderr
    for entry in reported.values():
        assert Path(entry["log"]).is_file() and entry["log"].endswith("_log.err")
    assert "sweep: 4 runs: 2 done, 0 already complete, 2 failed" in first.stdout
    assert "the job was cancelled (CANCELLED" in first.stdout
    assert "the job reached its time limit (TIMEOUT)" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "sweep: 4 runs: 2 done, 2 already complete, 0 failed" in second.stdout
    assert {e["state"] for e in outcomes(second.stderr).values()} == {"COMPLETED"}


@pytest.mark.parametrize("state", ["CANCELLED", "TIMEOUT"])
def test_an_interrupted_job_resumes_from_its_checkpoint(slurm_sweeps, micro_sweep, state):
    root, first, second = slurm_sweeps
    (seed,) = [s for s in (0, 1)
               if outcomes(first.stderr)["panacea", s]["state"].startswith(state)]
    log = Path(outcomes(second.stderr)["panacea", seed]["log"]).read_text()
    assert "resuming panacea ppo from step 4 of 16" in log, log
    folder = next(root.glob(f"toy/panacea/tiny-seed{seed}-*"))
    legs = json.loads((folder / "work" / "train_clock.json").read_text())["legs"]
    assert len(legs) == 2
    reference = micro_sweep / folder.relative_to(root)
    assert metrics(folder) == metrics(reference)


def test_the_cluster_gives_the_local_executors_metrics(slurm_sweeps, micro_sweep):
    root, _, _ = slurm_sweeps
    folders = sorted(p.parent.relative_to(root) for p in root.rglob(store.METRICS_FILE))
    assert len(folders) == 4  # two methods by two seeds, one torch thread on both executors
    assert [metrics(root / f) for f in folders] == [metrics(micro_sweep / f) for f in folders]


def test_the_cluster_options_reach_the_jobs(slurm_sweeps, slurm_cluster):
    root, first, _ = slurm_sweeps
    logs = re.search(r"submitted 4 SLURM jobs \(array (\d+)\), at most 4 at once; logs in "
                     r"(\S+)", first.stderr)
    assert logs, first.stderr
    script = (Path(first.args[-1]).parent / logs[2] / f"{logs[1]}_submission.sh").read_text()
    for line in ("#SBATCH --partition=mobench", "#SBATCH --cpus-per-task=1",
                 "#SBATCH --mem=1GB", "#SBATCH --time=5", "#SBATCH --comment=mobench-test",
                 "#SBATCH --array=0-3%4"):
        assert line in script
    assert "gpus" not in script
    job = outcomes(first.stderr)["toy-steer", 0]["job"]
    fields = slurm_cluster.command("sacct", "-X", "-n", "-P", "-j", job, "-o",
                                   "Partition,ReqCPUS,ReqMem,Timelimit,Comment").split("|")
    assert [f.strip() for f in fields] == ["mobench", "1", "1G", "00:05:00", "mobench-test"]


def metrics(folder: Path) -> dict:
    return json.loads((folder / store.METRICS_FILE).read_text())["metrics"]
