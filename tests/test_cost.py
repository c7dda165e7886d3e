"""The harness's cost accounting: counters that persist and restore, counting where the work
happens, the training clock across legs, and a trainer that puts the counters back on resume."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from mobench.core.cost import (
    CostMeter,
    CountingScorer,
    PersistentMeter,
    StageClock,
    count_generated_tokens,
    count_reward_calls,
    metering,
)


def test_meter_counts_snapshots_and_restores():
    meter = CostMeter()
    meter.add(adapters_trained=1, trainable_parameters=100, generated_tokens=7)
    snapshot = meter.snapshot()
    meter.add(generated_tokens=5, reward_calls=3)
    assert (meter.generated_tokens, meter.reward_calls) == (12, 3)
    meter.restore(snapshot)
    assert (meter.generated_tokens, meter.reward_calls, meter.adapters_trained) == (7, 0, 1)
    record = meter.record(train_seconds=1.23456)
    assert record.train_seconds == 1.235 and record.trainable_parameters == 100
    with pytest.raises(ValueError, match="cannot go down"):
        meter.add(reward_calls=-1)
    with pytest.raises(AttributeError):
        meter.not_a_counter  # noqa: B018


def test_reuse_is_recorded_beside_the_counts():
    meter = CostMeter()
    meter.note_reuse("expert helpful", {"train_seconds": 4.0, "adapters_trained": 1})
    assert meter.record(0.0).reused == {"expert helpful": {"train_seconds": 4.0,
                                                           "adapters_trained": 1}}


def test_active_meters_count_nested_blocks_into_every_enclosing_meter():
    outer, inner = CostMeter(), CostMeter()
    count_generated_tokens(5)  # no active meter: counted nowhere
    with metering(outer):
        count_generated_tokens(3)
        with metering(inner):
            count_generated_tokens(2, models_per_token=3)
            count_reward_calls(4)
    assert (outer.generated_tokens, inner.generated_tokens) == (5, 2)
    assert (outer.model_token_passes, inner.model_token_passes) == (4, 4)
    assert outer.reward_calls == inner.reward_calls == 4


def test_counting_scorer_counts_each_scored_response():
    def scorer(prompts, responses):  # type: ignore[no-untyped-def]
        return np.ones(len(responses))

    explicit = CostMeter()
    CountingScorer(scorer, explicit)(["p"] * 3, ["r"] * 3)
    active = CostMeter()
    with metering(active):
        CountingScorer(scorer)(["p"] * 2, ["r"] * 2)
        CountingScorer(scorer, explicit)(["p"], ["r"])  # an explicit meter is counted alone
    assert (explicit.reward_calls, active.reward_calls) == (4, 2)


def test_persistent_meter_reads_back_its_last_save(tmp_path):
    meter = PersistentMeter(tmp_path / "meter.json")
    meter.add(generated_tokens=11)
    meter.save()
    meter.add(generated_tokens=100)  # after the save: lost with a kill, redone on resume
    assert PersistentMeter(tmp_path / "meter.json").generated_tokens == 11


def test_training_clock_adds_up_the_legs(tmp_path):
    path = tmp_path / "clock.json"
    clock = StageClock(path, interval=0.05)
    with clock.running():
        time.sleep(0.2)
        on_disk = json.loads(path.read_text())["legs"]
    assert len(on_disk) == 1 and on_disk[0] > 0.05  # written while the leg still runs
    again = StageClock(path, interval=0.05)
    with again.running():
        time.sleep(0.1)
    legs = json.loads(path.read_text())["legs"]
    assert len(legs) == 2 and legs[0] >= 0.2 and legs[1] >= 0.1
    assert again.total_seconds() == pytest.approx(sum(legs), abs=1e-3)


def test_an_unreadable_clock_file_starts_over_instead_of_failing(tmp_path):
    path = tmp_path / "clock.json"
    path.write_text("{not json")
    assert StageClock(path).total_seconds() == 0.0
