"""What a run's bits depend on beyond its seed: torch's thread count and the CPU kernels it picks.

torch splits a reduction (the sum over the batch inside a weight gradient, for one) between its
threads, so the same seed gives bit-different weights with 1 and with 2 threads: on this
machine a (1024 x 128)^T (1024 x 128) product already differs in its last bits, and a tiny
reference policy trained with 1 and with 2 threads saves different files. Hence:

- asset builds (reference policies, reward models, cached experts) always run with
  :data:`BUILD_THREADS`, so what a cache holds never depends on which process built it first;
- a run records its thread count in ``spec.json``'s provenance, and ``mobench run --threads`` /
  ``mobench sweep --threads`` fix it (the committed leaderboards ran with 1: rerun a row with
  ``--threads 1`` to get its numbers).

The same holds between machines: torch's vectorized kernels (softmax, layer norm, reductions) and
MKL's matrix products each pick a code path by the CPU's instruction set, and the paths round
differently. On an AMD EPYC with AVX-512 torch takes its AVX-512 kernels while MKL takes its AVX2
path; an Intel CPU with AVX-512 takes MKL's AVX-512 path; one without takes AVX2 in both (measured
on this project's AMD machine: softmax's output differs in its last bits between torch's AVX-512
and AVX2 kernels, so a micro run's sampled tokens, and every metric after them, moved between
machines of one kind). :func:`pin_cpu_kernels` pins all of them to their AVX2 paths, the widest
set every x86-64 machine of this project has, before torch starts: MKL documents its
``MKL_CBWR`` branches as giving the same results on every processor that runs the branch.
A value the user set in the environment wins (``ATEN_CPU_CAPABILITY=avx512`` is faster where the
CPU has it, and gives other bits); a run records the kernels it used in its provenance.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mobench.core.errors import ConfigError

# One thread: the slowest choice, and the only one every machine (and every worker of a sweep
# that splits the cores) can make.
BUILD_THREADS = 1

# Read once by each library when it first runs a kernel, so they must be in the environment before
# torch computes anything; mobench/__init__.py sets them on import. Worker processes inherit them.
CPU_KERNEL_PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorized kernels
    "MKL_CBWR": "AVX2,STRICT",      # MKL's conditional numerical reproducibility branch (GEMM)
    "ONEDNN_MAX_CPU_ISA": "AVX2",   # oneDNN, where torch routes an op through it
}


def pin_cpu_kernels() -> None:
    """Pin torch's, MKL's and oneDNN's CPU kernels to their AVX2 paths on x86-64, keeping any
    value already in the environment. Elsewhere (ARM) there is one path and nothing to pin."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return
    for name, value in CPU_KERNEL_PINS.items():
        os.environ.setdefault(name, value)


def kernel_signature() -> dict[str, Any]:
    """The kernel paths this process computes with: what cached weights' bits depend on beyond
    their recipe and the thread count (not the CPU's name: two CPUs on one path agree)."""
    import torch

    return {"machine": platform.machine().lower(),
            "torch_capability": str(torch.backends.cpu.get_cpu_capability()),
            **{name: os.environ.get(name) for name in CPU_KERNEL_PINS
               if name != "ATEN_CPU_CAPABILITY"}}


def cpu_kernels() -> dict[str, Any]:
    """The CPU and the kernel paths this process computes with (for a run's provenance)."""
    return {"cpu": cpu_model(),
            "cpu_flags": sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_tile"}),
            **kernel_signature()}


def _cpuinfo_field(name: str) -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return ""


def cpu_model() -> str:
    return _cpuinfo_field("model name") or platform.processor()


def cpu_flags() -> set[str]:
    return set(_cpuinfo_field("flags").split())


def set_torch_threads(threads: int) -> None:
    """Fix torch's intra-op threads for the rest of the process."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"the thread count must be a positive integer, got {threads!r}")
    import torch

    torch.set_num_threads(threads)


def torch_threads_in_use() -> int:
    import torch

    return int(torch.get_num_threads())


@contextmanager
def fixed_torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch threads, then restore the count it found."""
    before = torch_threads_in_use()
    set_torch_threads(threads)
    try:
        yield
    finally:
        set_torch_threads(before)
