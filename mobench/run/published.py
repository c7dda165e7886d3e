"""Published results: the part of a finished run a leaderboard needs, small enough to commit.

A published run keeps its folder's place under the results root (``<task>/<method>/<run-id>``,
as a sweep lays runs out) and three files: ``spec.json`` (identity, provenance, asset
fingerprints, the code it ran), ``metrics.json.xz`` (metrics, cost, the task's reference fronts)
and ``records.jsonl.xz`` (every (λ, prompt) row: response, per-scorer scores, batch cost). xz,
because the text shrinks 7- to 11-fold (measured on chat10: records 1.86 MB to 172 kB, metrics
178 kB to 26 kB), which keeps the 108 committed runs within their budget. Weights, checkpoints
and plots stay in the run folder. ``mobench report``
reads a published run like any other, so the committed tables are rebuilt from the committed
results alone.

Only a run that some commit reproduces is published: started and finished from a clean checkout
(:func:`unreproducible_reason`, checked by :func:`publish_runs`). :func:`is_current` tells
whether a published run would come out the same from today's code (its modules unchanged, same
threads and CPU kernels): the regeneration reuses those and reruns the rest
(:func:`reuse_published`).
"""

from __future__ import annotations

import json
import lzma
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mobench.core import store
from mobench.core.errors import RunFolderError
from mobench.core.threads import cpu_kernels
from mobench.run.code_fingerprint import code_unchanged
from mobench.run.provenance import git_revision

COMPRESSED_RECORDS = store.RECORDS_FILE + ".xz"
COMPRESSED_METRICS = store.METRICS_FILE + ".xz"
PUBLISHED_FILES = (store.SPEC_FILE, COMPRESSED_METRICS, COMPRESSED_RECORDS)
# the kernel facts that decide bits (the CPU's name and flags only say where a run was made)
KERNEL_KEYS = ("machine", "torch_capability", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")


def read_records_text(folder: Path) -> str:
    """A run's ``records.jsonl``, from the plain file or a published run's compressed one."""
    return _read_text(folder, store.RECORDS_FILE, COMPRESSED_RECORDS)


def metrics_file(folder: Path) -> Path | None:
    """A run folder's metrics file: ``metrics.json``, or a published run's compressed one."""
    for name in (store.METRICS_FILE, COMPRESSED_METRICS):
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


def read_metrics(folder: Path) -> dict[str, Any]:
    """A run's ``metrics.json`` (plain or compressed), parsed; it must hold a JSON object."""
    text = _read_text(folder, store.METRICS_FILE, COMPRESSED_METRICS)
    try:
        data = json.loads(text)
    except ValueError as error:
        raise RunFolderError(f"cannot read the metrics of {str(folder)!r}: {error}") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"the metrics of {str(folder)!r} are not a JSON object (written by "
                             "something other than mobench, or damaged); re-run it")
    return data


def _read_text(folder: Path, name: str, packed_name: str) -> str:
    plain, packed = Path(folder) / name, Path(folder) / packed_name
    try:
        if plain.exists():
            return plain.read_text(encoding="utf-8")
        if packed.exists():
            return lzma.decompress(packed.read_bytes()).decode("utf-8")
    except (OSError, lzma.LZMAError, UnicodeDecodeError) as error:
        raise RunFolderError(f"cannot read the records of {str(folder)!r}: {error}") from None
    raise RunFolderError(f"{str(plain)!r} is missing")


def unreproducible_reason(spec: Mapping[str, Any]) -> str:
    """Why no commit reproduces the run of ``spec`` ("" when a clean commit does)."""
    started = (spec.get("provenance") or {}).get("git")
    finished = spec.get("finished_git", started)
    for when, git in (("started", started), ("finished", finished)):
        if not git:
            return f"{when} outside a git checkout"
        if git.get("dirty"):
            return f"{when} from a tree with uncommitted changes at {str(git['commit'])[:10]}"
    if not spec.get("code"):
        return "recorded no code fingerprint (an older mobench)"
    return ""


def is_current(spec: Mapping[str, Any], threads: int) -> str:
    """"" when the run of ``spec`` would come out the same from this checkout at ``threads``
    torch threads on this machine's kernels; otherwise why not."""
    reason = unreproducible_reason(spec)
    if reason:
        return reason
    provenance = spec.get("provenance") or {}
    if provenance.get("torch_threads") != threads:
        return f"ran with {provenance.get('torch_threads')} torch threads, not {threads}"
    recorded, here = provenance.get("cpu_kernels") or {}, cpu_kernels()
    moved = [k for k in KERNEL_KEYS if recorded.get(k) != here.get(k)]
    if moved:
        return f"ran on other CPU kernels ({', '.join(moved)})"
    if not code_unchanged(spec.get("code")):
        return "a module it ran has changed since"
    return ""


def _write_published(folder: Path, destination: Path) -> None:
    """Write the published form of the finished run in ``folder`` to ``destination``, replacing
    what was there (:func:`publish_runs` has checked that a commit reproduces it)."""
    metrics = _read_text(folder, store.METRICS_FILE, COMPRESSED_METRICS).encode("utf-8")
    records = read_records_text(folder).encode("utf-8")
    with store.atomic_directory(Path(destination)) as staging:
        shutil.copyfile(folder / store.SPEC_FILE, staging / store.SPEC_FILE)
        store.write_bytes_atomic(staging / COMPRESSED_RECORDS, _pack(records))
        store.write_bytes_atomic(staging / COMPRESSED_METRICS, _pack(metrics))


def _pack(data: bytes) -> bytes:
    return lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)


def stale_reason(folder: Path, threads: int) -> str:
    """Why the run in ``folder`` (finished, or begun and interrupted) is not what today's
    checkout makes; "" when it is (or when nothing is there). A finished run is judged by
    :func:`is_current`; an interrupted one by the commit it was begun from, since what its first
    leg ran is recorded only when it finishes: resumed from another commit, it would mix two
    versions of the code."""
    spec_file = folder / store.SPEC_FILE
    if not spec_file.exists():
        return ""
    spec = store.read_json(spec_file)
    if (folder / store.METRICS_FILE).exists():
        return is_current(spec, threads)
    begun = ((spec.get("provenance") or {}).get("git") or {}).get("commit")
    now = (git_revision() or {}).get("commit")
    if begun != now:
        return f"was begun from commit {str(begun)[:10]}, not this checkout's {str(now)[:10]}"
    return ""


def reuse_published(published: Path, folder: Path, threads: int) -> str:
    """Copy the published run at ``published`` into the empty run folder ``folder`` if it is
    current (:func:`is_current`); return "" when it was reused, else why not."""
    if not (published / store.SPEC_FILE).exists():
        return "no published run"
    reason = is_current(store.read_json(published / store.SPEC_FILE), threads)
    if reason:
        return reason
    # unpacked: a reused run folder is an ordinary finished run (without its weights)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(published / store.SPEC_FILE, folder / store.SPEC_FILE)
    store.write_text_atomic(folder / store.RECORDS_FILE, read_records_text(published))
    store.write_text_atomic(folder / store.METRICS_FILE,  # last: it marks the run finished
                            _read_text(published, store.METRICS_FILE, COMPRESSED_METRICS))
    return ""


def published_key(spec: Mapping[str, Any], folder: Path) -> tuple[str, str, str, int]:
    """(task, method, scale, seed) of the run whose ``spec.json`` is ``spec``: a results root
    holds one published run per key."""
    identity = spec.get("identity") or {}
    try:
        return (str(identity["task"]), str(identity["method"]), str(identity["scale"]),
                int(identity["seed"]))
    except (KeyError, TypeError, ValueError):
        raise RunFolderError(f"{str(folder)!r}: spec.json does not say which run it is "
                             "(written by an older mobench); re-run it") from None


def publish_runs(folders: list[Path], root: Path) -> list[Path]:
    """Publish every finished run of ``folders`` under ``root``; a run replaces the published
    run of the same task, method, scale and seed (an older configuration's). Refuses, before
    writing anything, two given runs of one key or a run no commit reproduces."""
    by_key: dict[tuple[str, str, str, int], Path] = {}
    for raw in folders:
        folder = Path(raw)
        if metrics_file(folder) is None:
            raise RunFolderError(f"{str(folder)!r} holds no finished run")
        spec = store.read_json(folder / store.SPEC_FILE)
        key = published_key(spec, folder)
        if key in by_key:
            raise RunFolderError(f"{str(by_key[key])!r} and {str(folder)!r} are both "
                                 f"{key[1]} on {key[0]} ({key[2]}, seed {key[3]}); publish one")
        by_key[key] = folder
        reason = unreproducible_reason(spec)
        if reason:
            raise RunFolderError(f"{str(folder)!r} is not publishable: it {reason}; rerun it "
                                 "from a clean checkout")
    existing: dict[tuple[str, str, str, int], list[Path]] = {}
    if Path(root).exists():
        for spec_file in Path(root).glob(f"*/*/*/{store.SPEC_FILE}"):
            if metrics_file(spec_file.parent) is not None:
                key = published_key(store.read_json(spec_file), spec_file.parent)
                existing.setdefault(key, []).append(spec_file.parent)
    written = []
    for key, folder in sorted(by_key.items()):
        place = Path(root) / key[0] / key[1] / folder.name
        if place.resolve() != folder.resolve():
            _write_published(folder, place)
        for stale in existing.get(key, []):
            if stale.resolve() != place.resolve():
                shutil.rmtree(stale)
        written.append(place)
    return written
