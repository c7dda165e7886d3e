"""torch's thread count, which the numbers depend on: asset builds fix it, runs record it, and
``mobench run/eval/sweep --threads`` set it (see :mod:`mobench.core.threads`)."""

from __future__ import annotations

import json
import os
import platform

import pytest
import torch
from conftest import run_cli

from mobench.core.errors import ConfigError
from mobench.core.threads import BUILD_THREADS, fixed_torch_threads, set_torch_threads
from mobench.data.assets.cache import build_once
from mobench.run.sweep import plan_sweep


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_a_weight_gradient_depends_on_the_thread_count():
    """Why the count is fixed at all: torch splits a reduction between its threads, so 1 and 2
    threads give different bits for the same inputs (the split follows the thread count, not the
    cores: it holds on one core too). Here a layer norm's weight gradient, a sum over the batch.
    MKL's matrix products no longer differ since its reproducible branch is pinned
    (:func:`mobench.core.threads.pin_cpu_kernels`: measured, a 1024 x 128 by 1024 x 512 product
    is the same at 1 and 2 threads), but torch's own reductions still do."""
    generator = torch.Generator().manual_seed(0)
    activations = torch.randn(4096, 64, generator=generator)
    results, products = [], []
    for threads in (1, 2):
        with fixed_torch_threads(threads):
            weight = torch.ones(64, requires_grad=True)
            normed = torch.nn.functional.layer_norm(activations, (64,), weight=weight)
            (normed * normed).sum().backward()
            results.append(weight.grad)
            products.append(activations.T @ activations)
    assert not torch.equal(results[0], results[1])
    assert torch.allclose(results[0], results[1], rtol=1e-5, atol=1e-4)
    assert torch.equal(products[0], products[1])


def test_cpu_kernels_are_pinned_before_torch_computes():
    """mobench pins torch's, MKL's and oneDNN's CPU kernels to their AVX2 paths on import, so
    machines of one kind (AMD or Intel, with or without AVX-512) compute the same bits; a run
    records them, and asset caches and cached experts are keyed by them."""
    from mobench.core.threads import CPU_KERNEL_PINS, cpu_flags, kernel_signature
    from mobench.data.assets.cache import asset_tag
    from mobench.run.provenance import provenance

    kernels = provenance()["cpu_kernels"]
    assert kernels == {**kernels, **kernel_signature()}
    if platform.machine().lower() not in ("x86_64", "amd64") or "avx2" not in cpu_flags():
        pytest.skip("the pins are for x86-64 CPUs with AVX2")
    assert os.environ["ATEN_CPU_CAPABILITY"] == CPU_KERNEL_PINS["ATEN_CPU_CAPABILITY"] == "avx2"
    assert kernels["torch_capability"] == "AVX2"
    assert kernels["MKL_CBWR"] == "AVX2,STRICT"
    assert asset_tag("1", {}) == asset_tag("1", {})


def test_a_value_the_user_set_wins_over_the_pin(monkeypatch):
    from mobench.core.threads import pin_cpu_kernels

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx512")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    pin_cpu_kernels()
    assert os.environ["ATEN_CPU_CAPABILITY"] == "avx512"
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    pin_cpu_kernels()  # one path on ARM: nothing to pin
    assert "ONEDNN_MAX_CPU_ISA" not in os.environ


def test_the_asset_tag_follows_the_kernel_paths(monkeypatch):
    from mobench.data.assets import cache

    before = cache.asset_tag("1", {"a": 1})
    monkeypatch.setattr(cache, "kernel_signature", lambda: {"torch_capability": "AVX512"})
    assert cache.asset_tag("1", {"a": 1}) != before


def test_an_asset_is_built_with_the_fixed_thread_count_and_the_count_is_restored(tmp_path,
                                                                                  two_threads):
    seen = []

    def build(folder):
        seen.append(torch.get_num_threads())
        (folder / "weights.txt").write_text("w")
        return {"size": 1}

    asset = build_once(tmp_path / "policy", build)
    assert seen == [BUILD_THREADS] == [1]
    assert asset.record["torch_threads"] == 1
    assert torch.get_num_threads() == 2

    def broken(folder):
        seen.append(torch.get_num_threads())
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        build_once(tmp_path / "rm-helpful", broken)
    assert seen[-1] == 1 and torch.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_a_bad_thread_count_is_refused(bad):
    with pytest.raises(ConfigError, match="positive integer"):
        set_torch_threads(bad)


def test_a_sweep_gives_every_run_the_threads_asked_for(tmp_path):
    fixed = plan_sweep(["base"], ["toy"], [0, 1], scale="tiny", root=tmp_path, jobs=2,
                       threads=1)
    assert [job.threads for job in fixed] == [1, 1]
    split = plan_sweep(["base"], ["toy"], [0], scale="tiny", root=tmp_path, jobs=2)
    assert split[0].threads == max(1, (os.cpu_count() or 1) // 2)
    with pytest.raises(ConfigError, match="--threads must be at least 1"):
        plan_sweep(["base"], ["toy"], [0], scale="tiny", root=tmp_path, threads=0)


def test_a_run_records_the_threads_it_ran_with(tmp_path, cli_env):
    output = tmp_path / "run"
    result = run_cli(["run", "--method", "base", "--task", "toy", "--threads", "1",
                      "--output", str(output), "eval.n_bootstrap=5"], cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    spec = json.loads((output / "spec.json").read_text())
    assert spec["provenance"]["torch_threads"] == 1


@pytest.mark.parametrize("command", [["run", "--method", "base", "--task", "toy"],
                                     ["sweep", "--methods", "base", "--tasks", "toy"]])
def test_the_cli_refuses_a_bad_thread_count_on_one_line(tmp_path, cli_env, command):
    result = run_cli([*command, "--threads", "0"], cli_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "--threads: must be at least 1, got 0" in result.stderr
    assert "Traceback" not in result.stderr
