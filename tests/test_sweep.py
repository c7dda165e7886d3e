"""``mobench sweep``: the grid's runs in their default folders, finished ones skipped, interrupted
ones resumed, failures summed up without stopping the others; local processes and submitit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from mobench.core.errors import ConfigError
from mobench.run.sweep import (
    SlurmSettings,
    parse_seeds,
    plan_sweep,
    run_sweep,
    slurm_parameters,
    slurm_settings,
)

OVERRIDES = ["eval.n_bootstrap=5", "method.train.steps=4", "method.train.batch_size=4"]
UNTRAINED = ["eval.n_bootstrap=5"]  # base and toy-steer train nothing


def finished(root: Path) -> list[tuple[str, str, int]]:
    runs = []
    for metrics in sorted(root.rglob("metrics.json")):
        run = json.loads(metrics.read_text())["run"]
        runs.append((run["method"], run["task"], run["seed"]))
    return sorted(runs)


def test_plan_drops_method_overrides_a_method_lacks_and_refuses_ones_no_method_has(tmp_path):
    jobs = plan_sweep(["base", "panacea"], ["toy"], [0, 1], scale="tiny", root=tmp_path,
                      overrides=OVERRIDES)
    assert [(j.method, j.seed) for j in jobs] == [("base", 0), ("base", 1), ("panacea", 0),
                                                 ("panacea", 1)]
    assert jobs[0].overrides == ("eval.n_bootstrap=5",)
    assert jobs[2].overrides == tuple(OVERRIDES)
    assert len({j.folder for j in jobs}) == 4
    with pytest.raises(ConfigError, match="fits none of the methods"):
        plan_sweep(["base", "panacea"], ["toy"], [0], scale="tiny", root=tmp_path,
                   overrides=["method.trian.steps=3"])
    with pytest.raises(ConfigError, match="non-negative integers"):
        parse_seeds("0,x")


def test_a_sweep_runs_the_grid_skips_finished_runs_and_summarizes(tmp_path, cli_env):
    root = tmp_path / "runs"
    args = ["sweep", "--methods", "base,toy-steer", "--tasks", "toy", "--seeds", "0,1",
            "--jobs", "2", "--output", str(root), *UNTRAINED]
    first = run_cli(args, cli_env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "sweep: 4 runs: 4 done, 0 already complete, 0 failed" in first.stdout
    assert finished(root) == [("base", "toy", 0), ("base", "toy", 1), ("toy-steer", "toy", 0),
                              ("toy-steer", "toy", 1)]
    again = run_cli(args, cli_env, cwd=tmp_path)
    assert "4 runs: 0 done, 4 already complete, 0 failed" in again.stdout


def test_a_failing_run_does_not_stop_the_others(tmp_path, cli_env):
    root = tmp_path / "runs"
    # every toy-steer run kills its own worker as it starts training (twice: it is tried again)
    env = {**cli_env, "MOBENCH_TEST_KILL": "fit"}
    result = run_cli(["sweep", "--methods", "toy-steer,base", "--tasks", "toy", "--seeds", "0",
                      "--jobs", "2", "--output", str(root), *UNTRAINED], env, cwd=tmp_path)
    assert result.returncode == 1
    assert "2 runs: 1 done, 0 already complete, 1 failed" in result.stdout
    assert "failed: toy-steer on toy (tiny, seed 0): the worker process died" in result.stdout
    assert finished(root) == [("base", "toy", 0)]
    resumed = run_cli(["sweep", "--methods", "base,toy-steer", "--tasks", "toy", "--seeds", "0",
                       "--output", str(root), *UNTRAINED], cli_env, cwd=tmp_path)
    assert "2 runs: 1 done, 1 already complete, 0 failed" in resumed.stdout


def test_the_submitit_path_runs_the_same_jobs(tmp_path, monkeypatch):
    from conftest import PLUGIN_DIR

    monkeypatch.setenv("PYTHONPATH", str(PLUGIN_DIR))  # submitit's job processes find the toy
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
    jobs = plan_sweep(["base"], ["toy"], [0, 3], scale="tiny", root=tmp_path / "runs",
                      overrides=UNTRAINED)
    summary = run_sweep(jobs, executor="submitit-local",
                        submitit_folder=tmp_path / "submitit")
    assert [o.status for o in summary.outcomes] == ["done", "done"], summary.format()
    assert finished(tmp_path / "runs") == [("base", "toy", 0), ("base", "toy", 3)]
    assert any(p.name.endswith("_result.pkl") for p in (tmp_path / "submitit").iterdir())


def test_slurm_settings_come_from_a_file_and_the_flags(tmp_path):
    from mobench.run.sweep import read_slurm_file

    cluster_file = tmp_path / "cluster.yaml"
    cluster_file.write_text("slurm:\n  partition: gpu\n  time_min: 600\n  gpus_per_node: 2\n"
                            "  sbatch: {account: mylab, exclusive: true}\n  array_limit: 8\n")
    settings = slurm_settings(read_slurm_file(cluster_file), time_min=30, cpus_per_task=None,
                              sbatch=["qos=high", "account=other"])
    assert settings == SlurmSettings(partition="gpu", time_min=30, gpus_per_node=2,
                                     sbatch=(("account", "other"), ("exclusive", ""),
                                             ("qos", "high")), array_limit=8)
    assert slurm_parameters(settings) == {
        "timeout_min": 30, "cpus_per_task": 8, "nodes": 1, "tasks_per_node": 1,
        "name": "mobench", "gpus_per_node": 2, "slurm_partition": "gpu",
        "slurm_array_parallelism": 8,
        "slurm_additional_parameters": {"account": "other", "exclusive": True, "qos": "high"}}
    assert "gpus_per_node" not in slurm_parameters(slurm_settings(gpus_per_node=0))
    with pytest.raises(ConfigError, match="unknown SLURM setting 'partiton'"):
        slurm_settings({"partiton": "gpu"})
    with pytest.raises(ConfigError, match="'time_min' must be an integer of at least 1"):
        slurm_settings(time_min=0)
