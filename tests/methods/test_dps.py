"""DPS on the toy task: one adapter per grid preference, each grid λ answered by its own adapter,
other λ by the nearest one (and the records say so), a coarser grid, an equal budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mobench.adapters import activate_adapter
from mobench.cli import main
from mobench.core.policy import generate_texts
from mobench.core.specs import DecodingConfig
from mobench.run.runner import load_run, load_trained_policy

GREEDY = DecodingConfig(max_new_tokens=8, do_sample=False)
SMALL = ["method.train.steps=8", "method.train.batch_size=4", "eval.n_bootstrap=5",
         "method.train.optim.learning_rate=0.02", "task.grid_size=4"]
PROMPTS = ["apple dog kite", "river tree sun"]


def run(folder: Path, cache: Path, *extra: str) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(cache))
        patch.setenv("CI", "true")
        assert main(["run", "--method", "dps", "--task", "toy", "--output", str(folder), *SMALL,
                     *extra]) == 0
    return folder


@pytest.fixture(scope="module")
def dps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("runs") / "dps", tmp_path_factory.mktemp("cache"))


def test_one_adapter_is_trained_per_grid_preference(dps):
    saved = json.loads((dps / "policy" / "policy.json").read_text())
    assert saved["adapters"] == ["lambda-00", "lambda-01", "lambda-02", "lambda-03"]
    np.testing.assert_allclose(saved["grid"], [[0, 1], [1 / 3, 2 / 3], [2 / 3, 1 / 3], [1, 0]])
    assert sorted(p.name for p in (dps / "policy" / "adapters").iterdir() if p.is_dir()) == \
        saved["adapters"]
    cost = json.loads((dps / "metrics.json").read_text())["cost"]
    assert cost["adapters_trained"] == 4
    one_adapter = cost["trainable_parameters"] // 4
    assert cost["trainable_parameters"] == 4 * one_adapter


def test_each_grid_preference_is_answered_by_its_own_adapter(dps, tmp_path, monkeypatch):
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path))
    spec, _ = load_run(dps)
    policy, _ = load_trained_policy(dps, spec)
    texts = [policy.spec.format_prompt(p) for p in PROMPTS]
    grid = policy.served_preferences
    batched = policy.generate(PROMPTS * len(grid), np.repeat(grid, len(PROMPTS), axis=0),
                              GREEDY, seed=0)
    answers = []
    for k, name in enumerate(policy.names):
        activate_adapter(policy.model, name, trainable=False)
        alone = generate_texts(policy.model, policy.tokenizer, texts, GREEDY, seed=0)
        assert batched[2 * k:2 * k + 2] == alone, name
        answers.append(alone)
    assert len({tuple(a) for a in answers}) > 1  # the grid's models differ


def test_records_say_which_grid_model_answered(dps):
    records = [json.loads(line) for line in (dps / "records.jsonl").read_text().splitlines()]
    assert all(r["answered_preference"] == r["preference"] for r in records)


def test_an_unserved_preference_is_answered_by_the_nearest_grid_model(dps, tmp_path):
    env_cache = tmp_path / "cache"
    preferences = tmp_path / "prefs.txt"
    preferences.write_text("0.9,0.1\n0.45,0.55\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(env_cache))
        patch.setenv("CI", "true")
        assert main(["eval", str(dps), "--preferences", str(preferences), "--name", "off"]) == 0
    records = [json.loads(line)
               for line in (dps / "evals" / "off" / "records.jsonl").read_text().splitlines()]
    answered = {tuple(r["preference"]): r["answered_preference"] for r in records}
    assert answered[(0.9, 0.1)] == [1.0, 0.0]
    assert answered[(0.45, 0.55)] == pytest.approx([1 / 3, 2 / 3])


def test_generate_says_when_another_preference_answers(dps, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path))
    assert main(["generate", str(dps), "--preference", "0.9,0.1", "--prompt", "apple",
                 "--json"]) == 0
    out, err = capsys.readouterr()
    assert "the nearest one, (1, 0), answers (0.9, 0.1)" in err
    assert json.loads(out)["answered_preference"] == [1.0, 0.0]


def test_a_coarser_grid_and_an_equal_budget(tmp_path):
    folder = run(tmp_path / "coarse", tmp_path / "cache", "method.grid_points=2",
                 "method.equal_budget=true")
    saved = json.loads((folder / "policy" / "policy.json").read_text())
    assert saved["grid"] == [[0.0, 1.0], [1.0, 0.0]]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["run"]["variant"] == "2pt-equal-budget"
    steps = [json.loads(line)["step"] for line in
             (folder / "work" / "lambda-00" / "train_log.jsonl").read_text().splitlines()]
    assert steps[-1] == 4  # 8 steps split over 2 grid models
