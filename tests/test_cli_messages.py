"""Messages read by people: plural forms, and DeepSpeed's CPU notice only where it says
something (a CUDA device asked for)."""

from __future__ import annotations

import logging

import pytest

from mobench.core.notices import CPU_FALLBACK_NOTICE, DEEPSPEED_LOGGER, quiet_cpu_fallback_notice
from mobench.core.text import plural


def test_plural_agrees_with_its_count():
    assert [plural(n, "run") for n in (0, 1, 2, 1500)] == ["0 runs", "1 run", "2 runs",
                                                          "1,500 runs"]
    assert plural(1, "policy", "policies") == "1 policy"
    assert plural(3, "policy", "policies") == "3 policies"


@pytest.fixture
def deepspeed_logger():  # type: ignore[no-untyped-def]
    logger = logging.getLogger(DEEPSPEED_LOGGER)
    filters = list(logger.filters)
    yield logger
    logger.filters[:] = filters


def shown(logger: logging.Logger, message: str) -> bool:
    record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, (), None)
    return logger.filter(record)


@pytest.mark.parametrize(("device", "kept"), [("cpu", False), ("cuda", True)])
def test_the_cpu_fallback_notice_is_dropped_only_where_the_cpu_was_asked_for(
        deepspeed_logger, device, kept):
    quiet_cpu_fallback_notice(device)
    notice = f"{CPU_FALLBACK_NOTICE}. If you have GPU or other accelerator, ..."
    assert shown(deepspeed_logger, notice) is kept
    assert shown(deepspeed_logger, "ZeRO stage 2 initialized")  # other messages stay


def test_auto_drops_the_notice_on_a_machine_without_cuda(deepspeed_logger, monkeypatch):
    import torch

    quiet_cpu_fallback_notice("auto")
    quiet_cpu_fallback_notice("auto")  # installed once
    assert sum(type(f).__name__ == "_CpuFallbackFilter" for f in deepspeed_logger.filters) == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not shown(deepspeed_logger, CPU_FALLBACK_NOTICE)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert shown(deepspeed_logger, CPU_FALLBACK_NOTICE)


def test_a_run_prints_no_cpu_fallback_notice(tmp_path, monkeypatch, capfd):
    from mobench.cli import main

    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CI", "true")
    assert main(["run", "--method", "toy-steer", "--task", "toy", "--output",
                 str(tmp_path / "run"), "eval.n_bootstrap=5"]) == 0
    import deepspeed.accelerator.real_accelerator as real  # what the engine imports

    real.ds_accelerator = None  # decide again, as a fresh process would
    real.get_accelerator()
    captured = capfd.readouterr()
    assert CPU_FALLBACK_NOTICE not in captured.out + captured.err
