"""Third-party notices that say nothing to a mobench user, filtered where they are noise."""

from __future__ import annotations

import logging

DEEPSPEED_LOGGER = "DeepSpeed"
CPU_FALLBACK_NOTICE = "Setting accelerator to CPU"


class _CpuFallbackFilter(logging.Filter):
    """Drops DeepSpeed's "Setting accelerator to CPU" when the device asked for is the CPU, or
    ``auto`` on a machine without CUDA: the fallback is then what was asked. Asked for ``cuda``,
    the notice stays (it explains the failure that follows)."""

    def __init__(self, device: str) -> None:
        super().__init__()
        self.device = device

    def filter(self, record: logging.LogRecord) -> bool:
        if CPU_FALLBACK_NOTICE not in record.getMessage():
            return True
        if self.device == "cpu":
            return False
        if self.device == "auto":
            import torch  # already imported: DeepSpeed decides its accelerator with it

            return torch.cuda.is_available()
        return True


def quiet_cpu_fallback_notice(device: str = "auto") -> None:
    """Install the filter on DeepSpeed's logger (before or after DeepSpeed is imported; once)."""
    logger = logging.getLogger(DEEPSPEED_LOGGER)
    for existing in logger.filters:
        if isinstance(existing, _CpuFallbackFilter):
            existing.device = device
            return
    logger.addFilter(_CpuFallbackFilter(device))
