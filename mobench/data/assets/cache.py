"""Cache layout and build-once semantics for task assets.

Layout: ``cache_dir / family / f"seed{seed}" / tag / component``, where ``family`` is the task (or
the family of tasks sharing one world, such as ``chat``), ``tag`` is :func:`asset_tag` (a version
number plus a digest of every setting that shapes the assets), and ``component`` is one asset
(``tokenizer``, ``policy``, ``rm-helpful``...).

A component is built in a hidden staging folder beside its final place, gets a completion marker
(:data:`COMPLETE_MARKER`, a JSON record of what was built), and is then renamed into place in one
atomic step. A reader only trusts a folder holding the marker, so a build killed half-way leaves a
staging folder that the next build removes, never a half-written asset.

Every build runs with :data:`mobench.core.threads.BUILD_THREADS` torch threads (recorded in the
marker as ``torch_threads``): a component's bits then do not depend on the thread count of the
process that happened to build it first. The tag digests the CPU kernel paths too, so a cache
never hands weights built on other kernels to a run that would have built other bits.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobench.core.threads import BUILD_THREADS, fixed_torch_threads, kernel_signature

COMPLETE_MARKER = "complete.json"
CONTENT_DIGEST = "content_sha256"  # the marker's key for the digest of the component's files
STAGING_PREFIX = ".staging-"

# Components built by this process, by path: tests read it to tell a cache hit from a rebuild.
build_counts: Counter[str] = Counter()


def asset_tag(version: str, settings: Mapping[str, Any]) -> str:
    """``v{version}-{digest}``: changes whenever the version, any setting or the CPU kernel paths
    change (weights trained on other kernels have other bits: :mod:`mobench.core.threads`)."""
    blob = json.dumps({**settings, "cpu_kernels": kernel_signature()}, sort_keys=True,
                      default=str).encode()
    return f"v{version}-{hashlib.sha256(blob).hexdigest()[:10]}"


def asset_root(cache_dir: Path, family: str, seed: int, tag: str) -> Path:
    return Path(cache_dir) / family / f"seed{seed}" / tag


@dataclass(frozen=True)
class CachedAsset:
    """A component in the cache.

    Attributes:
        path: its folder.
        record: what its build reported (sizes, timings, accuracies), from the marker.
        built: whether this call built it (false: read from the cache).
    """

    path: Path
    record: dict[str, Any]
    built: bool


def is_complete(path: Path) -> bool:
    return (path / COMPLETE_MARKER).is_file()


def read_record(path: Path) -> dict[str, Any]:
    return json.loads((path / COMPLETE_MARKER).read_text(encoding="utf-8"))


def build_once(path: Path, build: Callable[[Path], Mapping[str, Any]]) -> CachedAsset:
    """The component at ``path``: read if complete, else built by ``build(staging_folder)``.

    ``build`` writes the component's files into the folder it is given and returns a
    JSON-friendly record, which becomes the completion marker.
    """
    path = Path(path)
    if is_complete(path):
        return CachedAsset(path, _with_digest(path, read_record(path)), built=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_staging(path)
    if path.exists():  # no marker: not ours to trust (a copy interrupted by hand, say)
        shutil.rmtree(path)
    staging = path.parent / f"{STAGING_PREFIX}{path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        started = time.perf_counter()
        with fixed_torch_threads(BUILD_THREADS):
            record = dict(build(staging))
        record["torch_threads"] = BUILD_THREADS
        record["build_seconds"] = round(time.perf_counter() - started, 3)
        record[CONTENT_DIGEST] = content_digest(staging)
        (staging / COMPLETE_MARKER).write_text(json.dumps(record, indent=2, sort_keys=True),
                                               encoding="utf-8")
        try:
            os.rename(staging, path)
        except OSError:
            if not is_complete(path):  # not a concurrent builder finishing first: a real error
                raise
            shutil.rmtree(staging, ignore_errors=True)
            return CachedAsset(path, _with_digest(path, read_record(path)), built=False)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    build_counts[str(path)] += 1
    return CachedAsset(path, record, built=True)


def content_digest(path: Path) -> str:
    """SHA-256 over a component's files (names and bytes, the completion marker left out): its
    fingerprint, which runs record so that results made on other weights are never mixed."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        if relative == COMPLETE_MARKER:
            continue
        digest.update(relative.encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def _with_digest(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """A marker's record, with the content digest computed now if an older build lacks it."""
    if CONTENT_DIGEST not in record:
        record = {**record, CONTENT_DIGEST: content_digest(path)}
    return record


def _remove_abandoned_staging(path: Path) -> None:
    """Delete staging folders of ``path`` whose building process no longer runs."""
    for staging in path.parent.glob(f"{STAGING_PREFIX}{path.name}-*"):
        pid_text = staging.name[len(f"{STAGING_PREFIX}{path.name}-"):].split("-")[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            shutil.rmtree(staging, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
