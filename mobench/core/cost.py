"""What a method spends, counted by the harness: counters, reward-call counting, training clock.

Three pieces, each with one job:

- :class:`CostMeter` holds the counters (models and adapters trained, trainable parameters,
  generated tokens, reward calls). Its state is a plain dict (:meth:`CostMeter.snapshot`), so it
  can be saved beside any durable piece of work (a training checkpoint, a finished stage) and put
  back on resume: work redone after a kill is then counted once, as in an uninterrupted run.
- Counting is done where the work happens, not by each method: :func:`metering` makes a meter
  the active one for a block, and the shared generation and scoring code reports to it
  (:func:`count_generated_tokens`, :class:`CountingScorer`). The runner makes the fit's meter
  active around ``Method.fit`` and a separate one around evaluation (what a policy spends inside
  ``generate``: Best-of-N's extra samples and reward calls, MOD's extra forward passes).
- :class:`StageClock` keeps the wall-clock of ``fit`` across legs: a run killed during training
  and resumed reports the sum of the time both legs spent. The current leg is written to the work
  folder every few seconds by a background thread, so a ``kill -9`` loses at most that much.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mobench.core.specs import CostRecord

if TYPE_CHECKING:
    from mobench.core.task import Scorer

METER_FILE = "cost_meter.json"
CLOCK_FILE = "train_clock.json"
EVALUATION_CLOCK_FILE = "evaluation_clock.json"
COUNTERS = ("models_trained", "adapters_trained", "trainable_parameters", "generated_tokens",
            "reward_calls", "model_token_passes")


class CostMeter:
    """Counters of what a method spends; the harness turns them into a :class:`CostRecord`.

    ``model_token_passes`` counts (token, model) forward passes made while generating beyond one
    per generated token: MOD decoding runs every expert for each token, so m − 1 extra per token.
    It is reported for evaluation, where it is a policy's inference cost.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self.reused: dict[str, Any] = {}

    def add(self, *, models_trained: int = 0, adapters_trained: int = 0,
            trainable_parameters: int = 0, generated_tokens: int = 0, reward_calls: int = 0,
            model_token_passes: int = 0) -> None:
        with self._lock:
            for name, value in (("models_trained", models_trained),
                                ("adapters_trained", adapters_trained),
                                ("trainable_parameters", trainable_parameters),
                                ("generated_tokens", generated_tokens),
                                ("reward_calls", reward_calls),
                                ("model_token_passes", model_token_passes)):
                if value < 0:
                    raise ValueError(f"a cost counter cannot go down ({name} += {value})")
                self._counts[name] += int(value)

    def __getattr__(self, name: str) -> int:
        counts = self.__dict__.get("_counts")
        if counts is not None and name in counts:
            return int(counts[name])
        raise AttributeError(name)

    def note_reuse(self, what: str, record: dict[str, Any]) -> None:
        """Say that ``what`` was not trained here but reused (from the asset cache, say), with the
        cost its original training recorded; the cost record shows it instead of hiding it."""
        with self._lock:
            self.reused[what] = dict(record)

    def snapshot(self) -> dict[str, Any]:
        """The counters as plain data (JSON-ready)."""
        with self._lock:
            return {"counts": dict(self._counts), "reused": dict(self.reused)}

    def restore(self, state: dict[str, Any]) -> None:
        """Put the counters back to a :meth:`snapshot` taken with durable work."""
        counts = state.get("counts", state)
        with self._lock:
            self._counts = {name: int(counts.get(name, 0)) for name in COUNTERS}
            self.reused = dict(state.get("reused", {}))

    def record(self, train_seconds: float) -> CostRecord:
        counts = self.snapshot()["counts"]
        return CostRecord(models_trained=counts["models_trained"],
                          adapters_trained=counts["adapters_trained"],
                          trainable_parameters=counts["trainable_parameters"],
                          train_seconds=round(train_seconds, 3),
                          generated_tokens=counts["generated_tokens"],
                          reward_calls=counts["reward_calls"],
                          reused=dict(self.reused))


class PersistentMeter(CostMeter):
    """A meter whose latest durable snapshot lives in ``path`` (the run's work folder).

    :meth:`save` is called whenever durable work was just written (a checkpoint, a finished
    stage); a new process reads the file back, so what it redoes after a kill is not counted twice.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        if self.path.exists():
            self.restore(json.loads(self.path.read_text(encoding="utf-8")))

    def save(self) -> None:
        from mobench.core.store import write_json_atomic

        write_json_atomic(self.path, self.snapshot())


_ACTIVE: ContextVar[tuple[CostMeter, ...]] = ContextVar("mobench_active_meters", default=())


@contextlib.contextmanager
def metering(meter: CostMeter) -> Iterator[CostMeter]:
    """Make ``meter`` count the generation and scoring done in this block (nested blocks count
    into every enclosing meter)."""
    token = _ACTIVE.set((*_ACTIVE.get(), meter))
    try:
        yield meter
    finally:
        _ACTIVE.reset(token)


def active_meters() -> tuple[CostMeter, ...]:
    return _ACTIVE.get()


def count_generated_tokens(n_tokens: int, *, models_per_token: int = 1) -> None:
    """Report ``n_tokens`` generated tokens (end-of-sequence excluded) to the active meters;
    ``models_per_token`` > 1 when each token needed several models' forward passes (MOD)."""
    for meter in active_meters():
        meter.add(generated_tokens=n_tokens,
                  model_token_passes=n_tokens * max(0, models_per_token - 1))


def count_reward_calls(n_calls: int) -> None:
    for meter in active_meters():
        meter.add(reward_calls=n_calls)


class CountingScorer:
    """A scorer whose every scored response counts as one reward call in the active meters (or in
    ``meter``, when one is given)."""

    def __init__(self, scorer: Scorer, meter: CostMeter | None = None) -> None:
        self._scorer = scorer
        self._meter = meter

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        if self._meter is not None:
            self._meter.add(reward_calls=len(responses))
        else:
            count_reward_calls(len(responses))
        return self._scorer(prompts, responses)


class StageClock:
    """Wall-clock of a stage of a run (training, evaluation) across its legs (a leg ends with a
    kill or with the stage), so a resumed run records every leg's time, not only the last's.

    The file holds ``{"legs": [seconds, ...]}``; :meth:`running` appends a leg and rewrites its
    length every ``interval`` seconds from a daemon thread, and once more when the block ends.
    """

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = Path(path)
        self.interval = interval
        self.legs: list[float] = self._read()
        self._tick: Callable[[], None] | None = None

    def _read(self) -> list[float]:
        if not self.path.exists():
            return []
        try:
            legs = json.loads(self.path.read_text(encoding="utf-8")).get("legs", [])
            return [float(x) for x in legs]
        except (ValueError, AttributeError, TypeError):
            return []  # a clock we cannot read must not stop a run; its time is lost, not faked

    def total_seconds(self) -> float:
        return float(sum(self.legs))

    def _write(self) -> None:
        from mobench.core.store import write_json_atomic

        write_json_atomic(self.path, {"legs": [round(x, 3) for x in self.legs]})

    @contextlib.contextmanager
    def running(self) -> Iterator[StageClock]:
        started = time.perf_counter()
        self.legs.append(0.0)
        leg = len(self.legs) - 1
        stop = threading.Event()
        lock = threading.Lock()

        def tick() -> None:
            with lock:
                self.legs[leg] = time.perf_counter() - started
                self._write()

        def loop() -> None:
            while not stop.wait(self.interval):
                tick()

        tick()
        self._tick = tick
        thread = threading.Thread(target=loop, name="mobench-stage-clock", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            tick()
            self._tick = None

    def mark(self) -> None:
        """Write the running leg's time now: at a durable point (a batch just written), so a
        kill right after it loses none of the work's time."""
        if self._tick is not None:
            self._tick()
