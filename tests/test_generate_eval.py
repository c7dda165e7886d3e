"""`mobench generate` and `mobench eval` on a saved steerable policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobench.cli import main


@pytest.fixture(scope="module")
def steer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "toy-steer"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("CI", "true")
        assert main(["run", "--method", "toy-steer", "--task", "toy", "--output", str(folder),
                     "eval.n_bootstrap=10"]) == 0
    return folder


def test_generate_answers_at_the_chosen_tradeoff(steer_run, capsys):
    argv = ["generate", str(steer_run), "--prompt", "apple dog sun", "--json", "--seed", "3"]
    assert main([*argv, "--preference", "1,0"]) == 0
    vowel_heavy = json.loads(capsys.readouterr().out)
    assert main([*argv, "--preference", "0,1"]) == 0
    terse = json.loads(capsys.readouterr().out)
    assert vowel_heavy["preference"] == [1.0, 0.0] and terse["preference"] == [0.0, 1.0]
    assert terse["n_tokens"] < vowel_heavy["n_tokens"]  # end-of-sequence bonus at λ_length = 1
    assert main([*argv, "--preference", "1,0"]) == 0  # same seed, same answer
    assert json.loads(capsys.readouterr().out) == vowel_heavy


def test_generate_reads_a_prompts_file(steer_run, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("apple\n\nriver sun\n")
    assert main(["generate", str(steer_run), "--preference", "0.5,0.5", "--prompts",
                 str(prompts), "--max-new-tokens", "5"]) == 0
    out = capsys.readouterr().out
    assert out.count("> ") == 2 and "> river sun" in out


def test_eval_on_another_grid_and_prompts(steer_run, tmp_path, capsys):
    prefs = tmp_path / "prefs.txt"
    prefs.write_text("# two points\n0.25,0.75\n0.75,0.25\n")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt_id": "a", "prompt": "apple"}\n'
                       '{"prompt_id": "b", "prompt": "kite"}\n')
    argv = ["eval", str(steer_run), "--preferences", str(prefs), "--prompts", str(prompts),
            "--name", "small", "eval.n_bootstrap=5"]
    assert main(argv) == 0
    out_dir = steer_run / "evals" / "small"
    records = [json.loads(x) for x in (out_dir / "records.jsonl").read_text().splitlines()]
    assert sorted((r["preference"][0], r["prompt_id"]) for r in records) == [
        (0.25, "a"), (0.25, "b"), (0.75, "a"), (0.75, "b")]
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["n_preferences"] == 2 and metrics["n_prompts"] == 2
    assert "evaluation folder:" in capsys.readouterr().out
    # the training run's own files are untouched
    assert len((steer_run / "records.jsonl").read_text().splitlines()) == 18
    # same name, other choices: refused
    prefs.write_text("1,0\n")
    assert main(argv) == 1
    assert "holds a different evaluation" in capsys.readouterr().err


def test_generate_names_the_words_its_tokenizer_reads_as_unknown(steer_run, capsys):
    assert main(["generate", str(steer_run), "--preference", "0.5,0.5", "--prompt",
                 "apple Zebra dog", "--max-new-tokens", "3"]) == 0
    err = capsys.readouterr().err
    assert "no token for 'Zebra':" in err and "<unk>" in err
    assert main(["generate", str(steer_run), "--preference", "0.5,0.5", "--prompt",
                 "apple dog sun", "--max-new-tokens", "3"]) == 0
    assert "no token" not in capsys.readouterr().err
