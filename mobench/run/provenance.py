"""Where a run came from: package versions, the git revision of the code that ran it, and the torch
thread count and CPU kernels it ran with (the numbers depend on them: :mod:`mobench.core.threads`).
"""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mobench.core.threads import cpu_kernels, torch_threads_in_use

TRACKED_PACKAGES = ("mobench", "torch", "transformers", "tokenizers", "datasets", "peft",
                    "deepspeed", "pymoo", "moocore", "numpy", "pandas")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(path: Path | None = None) -> dict[str, Any] | None:
    """The commit (and whether the tree had changes) of the checkout mobench runs from, if any."""
    where = path or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def provenance() -> dict[str, Any]:
    return {"packages": package_versions(), "git": git_revision(),
            "python": platform.python_version(), "platform": platform.platform(),
            "torch_threads": torch_threads_in_use(), "cpu_kernels": cpu_kernels()}
