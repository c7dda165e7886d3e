"""Progress bars for long stages, quiet in CI and when output is not a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """Bars only for a person watching: not in CI, not when stderr is piped or redirected."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        return False
    if os.environ.get("MOBENCH_PROGRESS", "").lower() in {"0", "false", "no"}:
        return False
    return sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, *, desc: str, total: int | None = None,
             unit: str = "it") -> tqdm:
    """A tqdm bar labelled ``desc``, silent where :func:`progress_enabled` says so."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=not progress_enabled(),
                leave=False, dynamic_ncols=True)


def quiet_library_progress() -> None:
    """Silence the bars of datasets and transformers too where ours are off (read at import)."""
    if not progress_enabled():
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers follows it
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
