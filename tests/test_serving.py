"""Policies that serve only some preferences: nearest-λ mapping, and what the records say."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mobench.core.policy import Generation
from mobench.core.specs import EvaluationConfig
from mobench.core.store import RecordsLog
from mobench.run.evaluation import evaluate, plan_evaluation
from mobench.toolkit.serving import answering_preferences, nearest_served, served_preferences


def test_nearest_served_preference_on_fixed_inputs():
    served = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    requested = np.array([[0.9, 0.1], [0.7, 0.3], [0.75, 0.25], [0.2, 0.8], [0.5, 0.5]])
    # 0.75 is as far from 1.0 as from 0.5: the tie goes to the first served one
    assert nearest_served(served, requested).tolist() == [0, 1, 0, 2, 1]
    three = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3]], dtype=float)
    assert nearest_served(three, np.array([[0.4, 0.3, 0.3], [0.0, 0.2, 0.8]])).tolist() == [3, 2]
    with pytest.raises(ValueError, match="requested preferences have 3 weights"):
        nearest_served(served, three)


class GridPolicy:
    """Serves two preferences; answers with the weight it was asked at, to show what it got."""

    served_preferences = np.array([[1.0, 0.0], [0.0, 1.0]])

    def __init__(self) -> None:
        self.seen: list[list[float]] = []

    def generate(self, prompts, preferences, decoding, seed):  # type: ignore[no-untyped-def]
        self.seen += np.asarray(preferences).tolist()
        return [Generation(text=f"w{p[0]:g}", n_tokens=1) for p in preferences]

    def save(self, directory):  # type: ignore[no-untyped-def]
        return None


class AnyPolicy(GridPolicy):
    served_preferences = None


def test_a_policy_without_a_declaration_serves_every_preference():
    requested = np.array([[0.3, 0.7]])
    assert served_preferences(AnyPolicy()) is None
    np.testing.assert_array_equal(answering_preferences(AnyPolicy(), requested), requested)
    np.testing.assert_array_equal(answering_preferences(GridPolicy(), requested), [[0.0, 1.0]])


def test_evaluation_records_which_served_preference_answered(tmp_path):
    grid = np.array([[1.0, 0.0], [0.6, 0.4], [0.3, 0.7], [0.0, 1.0]])
    plan = plan_evaluation(grid, ["a", "b"], ["x", "y"], EvaluationConfig(batch_size=3), seed=0)
    policy = GridPolicy()
    scorers = {"exact": {"first": lambda p, r: np.zeros(len(r)),
                         "second": lambda p, r: np.zeros(len(r))}}
    log = RecordsLog(tmp_path / "records.jsonl")
    table = evaluate(policy, plan, scorers, ["first", "second"], EvaluationConfig(), log)
    assert sorted(map(tuple, policy.seen)) == sorted([(1.0, 0.0)] * 4 + [(0.0, 1.0)] * 4)
    records = [json.loads(line) for line in log.path.read_text().splitlines()]
    by_preference = {tuple(r["preference"]): r["answered_preference"] for r in records}
    assert by_preference == {(1.0, 0.0): [1.0, 0.0], (0.6, 0.4): [1.0, 0.0],
                             (0.3, 0.7): [0.0, 1.0], (0.0, 1.0): [0.0, 1.0]}
    assert table.responses[1, 0] == "w1" and table.responses[2, 1] == "w0"


def test_policies_serving_every_preference_write_no_answered_field(tmp_path):
    plan = plan_evaluation(np.array([[0.5, 0.5]]), ["a"], ["x"], EvaluationConfig(), seed=0)
    scorers = {"exact": {"first": lambda p, r: np.zeros(len(r)),
                         "second": lambda p, r: np.zeros(len(r))}}
    log = RecordsLog(tmp_path / "records.jsonl")
    evaluate(AnyPolicy(), plan, scorers, ["first", "second"], EvaluationConfig(), log)
    record = json.loads(log.path.read_text())
    assert "answered_preference" not in record
    assert record["batch_cost"] == {"sampled_tokens": 0, "reward_calls": 0,
                                    "model_token_passes": 0}
