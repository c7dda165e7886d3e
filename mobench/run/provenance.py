"""Where a run came from: package versions, the git revision of the code that ran it, and the torch
thread count and CPU kernels it ran with (the numbers depend on them: :mod:`mobench.core.threads`).
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mobench.core.threads import cpu_kernels, torch_threads_in_use
from mobench.data.assets.cache import CONTENT_DIGEST

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


# What a run cannot read: the committed leaderboards and results, which a regeneration rewrites
# as it goes (a tree whose only changes are there still reproduces the runs it makes).
OUTPUTS_PATHSPEC = ":(top,exclude)reports"


def git_revision(path: Path | None = None) -> dict[str, Any] | None:
    """The commit of the checkout mobench runs from, if any, and whether its tracked files had
    changes (outside ``reports/``, the leaderboards' outputs, see :data:`OUTPUTS_PATHSPEC`);
    with changes, a SHA-256 of ``git diff HEAD`` (which changes, not only that some did).
    """
    where = path or Path(__file__).resolve().parent
    try:
        commit = _git(where, "rev-parse", "HEAD").strip()
        status = _git(where, "status", "--porcelain", "--untracked-files=no", "--",
                      OUTPUTS_PATHSPEC)
        diff = (_git(where, "diff", "HEAD", "--no-color", "--no-ext-diff", "--",
                     OUTPUTS_PATHSPEC) if status.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
    revision: dict[str, Any] = {"commit": commit, "dirty": bool(status.strip())}
    if revision["dirty"]:
        revision["diff_sha256"] = hashlib.sha256(diff.encode()).hexdigest()
    return revision


def _git(where: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True,
                          timeout=30, check=True).stdout


def asset_fingerprints(extras: Mapping[str, Any]) -> dict[str, str]:
    """Component -> content digest of the task's assets (tokenizer, reference policy, reward
    models), from the build records a tiny-scale task keeps in its extras; a task that names its
    assets otherwise (paper scale: model ids) may put ``asset_fingerprints`` there itself."""
    given = extras.get("asset_fingerprints")
    if isinstance(given, Mapping):
        return {str(k): str(v) for k, v in sorted(given.items())}
    records = extras.get("asset_records") or {}
    return {name: str(record[CONTENT_DIGEST]) for name, record in sorted(records.items())
            if isinstance(record, Mapping) and CONTENT_DIGEST in record}


def provenance() -> dict[str, Any]:
    return {"packages": package_versions(), "git": git_revision(),
            "python": platform.python_version(), "platform": platform.platform(),
            "torch_threads": torch_threads_in_use(), "cpu_kernels": cpu_kernels()}
