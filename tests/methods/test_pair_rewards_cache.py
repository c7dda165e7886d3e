"""MODPO's pair scores are the task's and the seed's: kept beside the task's assets, read by a
later run instead of scored again, and counted in that run's cost as if it had scored them."""

from __future__ import annotations

from types import SimpleNamespace

import datasets
import numpy as np

from mobench.core.method import FitContext
from mobench.toolkit.pair_rewards import score_pair_responses, task_pair_scores_path


class CharCount:
    """A toy scorer that counts how often it is called."""

    def __init__(self, char: str) -> None:
        self.char, self.calls = char, 0

    def __call__(self, prompts, responses):
        self.calls += 1
        return np.array([r.count(self.char) for r in responses], dtype=float)


def toy_task(root, scorers):
    pairs = {name: datasets.Dataset.from_dict({"prompt": ["p1", "p2"], "chosen": ["aab", "ab"],
                                               "rejected": ["b", "bbb"]})
             for name in ("a", "b")}
    return SimpleNamespace(spec=SimpleNamespace(objective_names=("a", "b")),
                           data=SimpleNamespace(preference_pairs=pairs),
                           training_scorers=scorers, extras={"asset_root": str(root)})


def test_a_second_run_reads_the_task_scores_and_pays_for_them(tmp_path):
    scorers = {"a": CharCount("a"), "b": CharCount("b")}
    task = toy_task(tmp_path / "assets", scorers)
    first = FitContext(task=task, seed=0, work_dir=tmp_path / "run1")
    scored = score_pair_responses(first, first.work_dir / "pair_scores.json", ["b"], ["a", "b"])
    assert scorers["b"].calls == 1 and scorers["a"].calls == 0
    calls = first.meter.snapshot()["counts"]["reward_calls"]
    assert calls == 4  # 4 distinct (prompt, response) rows, one objective
    assert task_pair_scores_path(first, ["b"], ["a", "b"]).is_file()

    second = FitContext(task=task, seed=0, work_dir=tmp_path / "run2")
    again = score_pair_responses(second, second.work_dir / "pair_scores.json", ["b"], ["a", "b"])
    assert scorers["b"].calls == 1  # not scored again
    np.testing.assert_array_equal(again.scores, scored.scores)
    assert again.responses == scored.responses
    assert second.meter.snapshot()["counts"]["reward_calls"] == calls
    (note,) = second.meter.reused.values()
    assert note["reward_calls"] == calls and note["train_seconds"] >= 0


def test_other_objectives_or_pair_sets_are_kept_apart(tmp_path):
    task = toy_task(tmp_path, {"a": CharCount("a"), "b": CharCount("b")})
    context = FitContext(task=task, seed=0, work_dir=tmp_path / "run")
    paths = {task_pair_scores_path(context, ["b"], ["a", "b"]),
             task_pair_scores_path(context, ["a", "b"], ["a", "b"]),
             task_pair_scores_path(context, ["b"], ["b"])}
    assert len(paths) == 3


def test_a_task_without_an_asset_folder_keeps_nothing(tmp_path):
    task = toy_task(tmp_path, {"a": CharCount("a"), "b": CharCount("b")})
    task.extras = {}
    context = FitContext(task=task, seed=0, work_dir=tmp_path / "run")
    assert task_pair_scores_path(context, ["b"], ["a", "b"]) is None
