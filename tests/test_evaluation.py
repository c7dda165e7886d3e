"""The evaluation protocol: plans, seeds, per-row preferences, scoring every cell once."""

from __future__ import annotations

import numpy as np
import pytest

from mobench.core.policy import Generation, derive_seed, generate_grouped_by_preference
from mobench.core.specs import EvaluationConfig
from mobench.core.store import RecordsLog
from mobench.run.evaluation import evaluate, plan_evaluation, table_from_records

GRID = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])


class EchoPolicy:
    """Answers with the prompt, its preference and the seed: shows exactly what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def generate(self, prompts, preferences, decoding, seed):
        self.calls.append((len(prompts), seed))
        return [Generation(f"{p}|{w[0]:.1f}|{seed}", n_tokens=len(p)) for p, w in
                zip(prompts, preferences, strict=False)]

    def save(self, directory):
        pass


def length_scorer(prompts, responses):
    return np.array([float(len(r)) for r in responses])


def weight_scorer(prompts, responses):
    return np.array([float(r.split("|")[1]) for r in responses])


SCORERS = {"exact": {"a": weight_scorer, "b": length_scorer}}


def test_plan_is_preference_major_and_seeded_per_batch():
    plan = plan_evaluation(GRID, ["p0", "p1"], ["x", "y"], EvaluationConfig(batch_size=4), seed=7)
    assert plan.batches == (((0, 0), (0, 1), (1, 0), (1, 1)), ((2, 0), (2, 1)))
    assert plan.batch_sizes == [4, 2]
    limited = plan_evaluation(GRID, ["p0", "p1"], ["x", "y"],
                              EvaluationConfig(batch_size=4, max_prompts=1), seed=7)
    assert limited.prompts == ("x",) and len(limited.batches) == 1
    with pytest.raises(ValueError, match="unique"):
        plan_evaluation(GRID, ["p", "p"], ["x", "y"], EvaluationConfig(), 0)


def test_derive_seed_is_stable_and_distinct():
    assert derive_seed(0, 0) == derive_seed(0, 0)
    assert len({derive_seed(0, b) for b in range(100)}) == 100
    assert derive_seed(0, 1) != derive_seed(1, 0)
    assert 0 <= derive_seed(123, 4) < 2**31


def test_evaluate_scores_every_cell_and_resumes_without_redoing(tmp_path):
    plan = plan_evaluation(GRID, ["p0", "p1"], ["x", "yy"], EvaluationConfig(batch_size=4), seed=3)
    log = RecordsLog(tmp_path / "records.jsonl")
    policy = EchoPolicy()
    table = evaluate(policy, plan, SCORERS, ["a", "b"], EvaluationConfig(batch_size=4), log)
    assert policy.calls == [(4, derive_seed(3, 0)), (2, derive_seed(3, 1))]
    assert table.scores["exact"].shape == (3, 2, 2)
    assert table.scores["exact"][:, 0, 0].tolist() == [1.0, 0.5, 0.0]  # weight a per row
    assert table.front("exact")[:, 0].tolist() == [1.0, 0.5, 0.0]
    assert table.responses[2, 1] == f"yy|0.0|{derive_seed(3, 1)}"
    again = EchoPolicy()
    table2 = evaluate(again, plan, SCORERS, ["a", "b"], EvaluationConfig(batch_size=4), log)
    assert again.calls == []  # everything was in the log
    np.testing.assert_array_equal(table2.scores["exact"], table.scores["exact"])


def test_table_from_records_requires_every_cell_once():
    plan = plan_evaluation(GRID[:1], ["p0"], ["x"], EvaluationConfig(), seed=0)
    record = {"batch": 0, "preference_index": 0, "prompt_id": "p0", "response": "r",
              "n_tokens": 1, "scores": {"exact": {"a": 1.0, "b": 2.0}}}
    with pytest.raises(RuntimeError, match="duplicate record"):
        table_from_records({0: [record, record]}, plan, ["exact"], ["a", "b"])
    with pytest.raises(RuntimeError, match="1 evaluation cells have no record"):
        table_from_records({}, plan, ["exact"], ["a", "b"])


def test_grouped_generation_serves_rows_in_order():
    seen = []

    def one(prompts, preference, seed):
        seen.append((tuple(prompts), tuple(preference), seed))
        return [Generation(f"{p}@{preference[0]}", 1) for p in prompts]

    prefs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    out = generate_grouped_by_preference(one, ["a", "b", "c"], prefs, seed=5)
    assert [g.text for g in out] == ["a@1.0", "b@0.0", "c@1.0"]
    assert seen == [(("a", "c"), (1.0, 0.0), derive_seed(5, 0)),
                    (("b",), (0.0, 1.0), derive_seed(5, 1))]
