"""Run store primitives: atomic writes, the records log's tail repair, the run lock."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal

import pytest

from mobench.core import store
from mobench.core.errors import RunFolderError


def test_atomic_json_replaces_whole_file(tmp_path):
    path = tmp_path / "deep" / "metrics.json"
    store.write_json_atomic(path, {"a": 1})
    store.write_json_atomic(path, {"b": [1, 2]})
    assert json.loads(path.read_text()) == {"b": [1, 2]}
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]
    with pytest.raises(ValueError):
        store.write_json_atomic(path, {"nan": float("nan")})
    assert json.loads(path.read_text()) == {"b": [1, 2]}  # a failed write leaves the old file
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]


def test_atomic_directory_appears_only_on_success(tmp_path):
    target = tmp_path / "policy"
    with pytest.raises(RuntimeError), store.atomic_directory(target) as tmp:
        (tmp / "weights").write_text("half")
        raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with store.atomic_directory(target) as tmp:
        (tmp / "weights").write_text("whole")
    assert (target / "weights").read_text() == "whole"


def _records(batch: int, n: int) -> list[dict]:
    return [{"batch": batch, "k": k, "text": "é" * k} for k in range(n)]


def test_records_log_keeps_complete_batches_and_cuts_a_torn_tail(tmp_path):
    log = store.RecordsLog(tmp_path / "records.jsonl")
    assert log.load([3, 3]) == {}
    log.append_batch(_records(0, 3))
    good_size = log.path.stat().st_size
    log.append_batch(_records(1, 3))
    data = log.path.read_bytes()
    log.path.write_bytes(data[: good_size + (len(data) - good_size) // 2])  # torn mid-batch
    loaded = log.load([3, 3])
    assert list(loaded) == [0] and [r["k"] for r in loaded[0]] == [0, 1, 2]
    assert log.path.stat().st_size == good_size
    log.append_batch(_records(1, 3))
    assert sorted(log.load([3, 3])) == [0, 1]


def test_records_log_rejects_records_of_another_plan(tmp_path):
    log = store.RecordsLog(tmp_path / "records.jsonl")
    log.append_batch(_records(5, 2))
    with pytest.raises(RunFolderError, match="does not match the spec"):
        log.load([2, 2])


def test_run_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    with store.RunLock(tmp_path), pytest.raises(RunFolderError,
                                                match=f"in use by mobench pid {os.getpid()}"):
        store.RunLock(tmp_path).acquire()
    with store.RunLock(tmp_path):  # released: free again
        pass


def _hold_lock_forever(folder, ready) -> None:  # pragma: no cover - runs in a child
    lock = store.RunLock(folder)
    lock.acquire()
    ready.set()
    signal.pause()


def test_run_lock_is_released_when_its_holder_is_killed(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    child = ctx.Process(target=_hold_lock_forever, args=(tmp_path, ready))
    child.start()
    assert ready.wait(30)
    with pytest.raises(RunFolderError, match=f"pid {child.pid}"):
        store.RunLock(tmp_path).acquire()
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    with store.RunLock(tmp_path):
        pass
