"""The run store: one folder per run, atomic writes, an append-only records log, a run lock.

A run folder holds::

    spec.json        the fully resolved spec (config, seed, package versions, git revision)
    policy/          the trained policy, as the method saved it, plus cost.json
    records.jsonl    one line per (preference, prompt): response, tokens, every scorer's scores
    front.csv        the front: mean scores over prompts, one row per preference vector
    metrics.json     Pareto metrics with confidence intervals, and the cost record
    plots/front.png  the front, drawn

Every file except the records log is written to a temporary name and renamed into place, so a
reader never sees half a file. The records log is append-only; a kill can tear only its tail, which
:meth:`RecordsLog.load` cuts back to the last complete batch (a damaged line elsewhere is dropped
with its batch, said, and recomputed). ``.lock`` holds an exclusive ``flock`` for as long as a
process works in the folder; the kernel drops it when the process dies, even by ``kill -9``, so a
resume never has to clean up a stale lock.

Files and folders get the modes the process's umask gives (``mkstemp`` and ``mkdtemp`` alone would
make them private), so a team sharing run folders through a group umask can read each other's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mobench.core.errors import RunFolderError

logger = logging.getLogger("mobench")

SPEC_FILE = "spec.json"
POLICY_DIR = "policy"
COST_FILE = "cost.json"
RECORDS_FILE = "records.jsonl"
FRONT_FILE = "front.csv"
METRICS_FILE = "metrics.json"
PLOTS_DIR = "plots"
LOCK_FILE = ".lock"
WORK_DIR = "work"
# What a busy run folder's message suggests; ``mobench eval`` has no --output, so it says less.
BUSY_RUN_HINT = "wait for it to finish or choose another --output"
BUSY_EVAL_HINT = "wait for it to finish"
# Records messages name at most this many damaged lines, then count the rest.
MAX_LISTED_PROBLEMS = 5


def current_umask() -> int:
    """The process's umask. Linux reports it in /proc; elsewhere it is read by setting it and
    putting it back at once."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def os_error_message(path: Path, error: OSError) -> str:
    """One line for a file-system error on ``path`` (a folder to create or write in)."""
    if isinstance(error, (NotADirectoryError, FileExistsError)):
        blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()),
                        None)
        if blocking is not None:
            return f"cannot create {str(path)!r}: {str(blocking)!r} is a file, not a folder"
    reason = error.strerror or type(error).__name__
    where = error.filename if error.filename is not None else path
    return f"cannot write to {str(path)!r}: {reason} ({where})"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all at once: temp file, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp's 0600 would hide it from the team
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{str(path)!r} is missing") from None
    except (OSError, json.JSONDecodeError) as error:
        raise RunFolderError(f"cannot read {str(path)!r}: {error}") from None


def honour_umask(root: Path) -> None:
    """Give ``root`` and everything under it the modes the umask gives new files and folders
    (executable files stay executable)."""
    mask = current_umask()
    for path in (root, *root.rglob("*")):
        if path.is_symlink():
            continue
        if path.is_dir():
            os.chmod(path, 0o777 & ~mask)
        else:
            executable = path.stat().st_mode & 0o111
            os.chmod(path, (0o777 if executable else 0o666) & ~mask)


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``target`` in one rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        # libraries writing into it may create private files too (safetensors writes 0600)
        honour_umask(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``<folder>/.lock``, released when the holder dies.

    ``busy_hint`` ends the message a second holder gets (what that command can do about it).
    """

    def __init__(self, folder: Path, busy_hint: str = BUSY_RUN_HINT) -> None:
        self.folder = folder
        self.busy_hint = busy_hint
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise RunFolderError(os_error_message(self.folder, error)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunFolderError(f"run folder {str(self.folder)!r} is in use by {holder}; "
                                 f"{self.busy_hint}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"mobench pid {os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


BatchCheck = Callable[[int, Sequence[Mapping[str, Any]]], str | None]


class RecordsLog:
    """Append-only JSONL of evaluation records, written one whole batch per ``write``.

    Each record carries its ``batch`` index. :meth:`load` keeps the batches that are complete
    (as many records as the plan says, each passing the caller's check) and drops the rest, so
    that resuming neither duplicates nor loses a record: the dropped batches are recomputed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def append_batch(self, records: Sequence[Mapping[str, Any]]) -> None:
        payload = "".join(json.dumps(r, allow_nan=False, ensure_ascii=False) + "\n"
                          for r in records).encode("utf-8")
        with open(self.path, "ab") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())

    def load(self, batch_sizes: Sequence[int],
             check: BatchCheck | None = None) -> dict[int, list[dict[str, Any]]]:
        """Complete batches by index; the file is cut back to them.

        A kill can leave only the last batch incomplete (or its final line torn): that tail is
        cut silently. Anything else that is not a whole, valid batch (a garbage line, a record
        missing fields, a batch repeated or cut short in the middle, or one ``check(batch,
        records)`` finds wrong) is dropped with a message naming its lines, and the batches
        after it are kept. A record of a batch the plan does not have means the folder holds
        another evaluation: that is refused with its line number.
        """
        if not self.path.exists():
            return {}
        if not self.path.is_file():
            raise RunFolderError(f"{str(self.path)!r} is not a file; move it away and run again "
                                 "to recompute the records")
        try:
            data = self.path.read_bytes()
        except OSError as error:
            raise RunFolderError(f"cannot read {str(self.path)!r}: {error.strerror}") from None
        batches: dict[int, list[dict[str, Any]]] = {}
        kept_spans: list[tuple[int, int]] = []
        # (what was dropped, whether a kill explains it: a torn last line, a last batch cut short)
        problems: list[tuple[str, bool]] = []
        group: list[dict[str, Any]] = []
        group_start = group_line = 0

        def drop_group(reason: str, by_kill: bool = False) -> None:
            if group:
                last = group_line + len(group) - 1
                lines = f"line {last}" if last == group_line else f"lines {group_line}-{last}"
                problems.append((f"{lines} ({reason}: batch {group[0]['batch']})", by_kill))
            group.clear()

        offset, line_number = 0, 0
        while offset < len(data):
            line_number += 1
            newline = data.find(b"\n", offset)
            end = len(data) if newline < 0 else newline + 1
            record, problem = _parse_record(data[offset:end], newline >= 0)
            if record is None:
                torn_tail = newline < 0
                drop_group("cut short", by_kill=torn_tail)
                problems.append((f"line {line_number} ({problem})", torn_tail))
            else:
                batch = record["batch"]
                if not 0 <= batch < len(batch_sizes):
                    raise RunFolderError(
                        f"{str(self.path)!r} line {line_number} holds a record of batch {batch}, "
                        "which this evaluation plan does not expect; the run folder does not "
                        "match the spec")
                if group and batch != group[0]["batch"]:
                    drop_group("cut short")
                if not group:
                    group_start, group_line = offset, line_number
                group.append(record)
                if len(group) == batch_sizes[batch]:
                    wrong = "repeated" if batch in batches else (
                        check(batch, group) if check is not None else None)
                    if wrong:
                        drop_group(wrong)
                    else:
                        batches[batch] = list(group)
                        kept_spans.append((group_start, end))
                        group.clear()
            offset = end
        drop_group("cut short", by_kill=True)
        self._keep(data, kept_spans, problems)
        return batches

    def _keep(self, data: bytes, spans: list[tuple[int, int]],
              problems: list[tuple[str, bool]]) -> None:
        """Cut the file back to ``spans``; say what was dropped unless a kill explains it."""
        contiguous = all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False)) and (
            not spans or spans[0][0] == 0)
        if problems and not all(by_kill for _, by_kill in problems):
            listed = "; ".join(text for text, _ in problems[:MAX_LISTED_PROBLEMS])
            more = len(problems) - MAX_LISTED_PROBLEMS
            logger.warning("%s: dropped %s%s; the batches they held are recomputed", self.path,
                           listed, f" and {more} more lines" if more > 0 else "")
        if not contiguous:
            write_bytes_atomic(self.path, b"".join(data[a:b] for a, b in spans))
            return
        valid_end = spans[-1][1] if spans else 0
        if valid_end < len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(valid_end)
                handle.flush()
                os.fsync(handle.fileno())


def _parse_record(line: bytes, complete: bool) -> tuple[dict[str, Any] | None, str]:
    """A records line as a record with an integer ``batch``, or None and what is wrong with it."""
    if not complete:
        return None, "torn: no end of line"
    try:
        record = json.loads(line)
    except ValueError:
        return None, "not JSON"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    batch = record.get("batch")
    if not isinstance(batch, int) or isinstance(batch, bool):
        return None, "no integer 'batch'"
    return record, ""
