"""Paper-scale data from local paths (issue 17): repaired and dropped rows counted, ambiguous or
incomplete folders refused in one line, data files named explicitly, data without scorers, model
folders that are no models, and the Ray2333 normalization on the score-model code path."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hardening_support import harness_messages, one_error_line

from mobench.cli import main
from mobench.core.errors import ConfigError, SourceUnavailableError
from mobench.data.data_report import DATA_REPORT_KEY
from mobench.data.models import load_causal_lm
from mobench.data.paper.pku import PKUSources, load_pku_data
from mobench.data.sources import LFS_POINTER_HEADER, load_dataset_split
from mobench.tasks.chat.paper import ChatPaperSources
from mobench.tasks.chat.paper import load_paper as load_chat
from mobench.tasks.hh_rlhf.paper import (
    RAY2333_HH_TRAIN_STATISTICS,
    SHARED_PROMPT_REPAIR,
    HHRLHFPaperSources,
    hh_rlhf_comparison,
    load_hh_rlhf_data,
    paper_spec,
    ray2333_scorers,
)

from .paper_checkpoints import (
    ALPACA_ROWS,
    HELPFUL_TRAIN,
    PKU_TEST,
    PKU_TRAIN,
    dialogue,
    save_gpt2_classifier,
    save_policy,
    tiny_tokenizer,
    write_alpaca_dataset,
    write_hh_rlhf_dataset,
    write_jsonl,
    write_pku_dataset,
)

# As in the real test file: the rejected dialogue holds a second assistant turn in a row.
EXTRA_TURN = {"chosen": dialogue("Hi", "Hello!", "Name a fruit.", "A pear."),
              "rejected": dialogue("Hi", "Hello!", "Name a fruit.", "Hmm.") +
              "\n\nAssistant: A car."}
OTHER_HUMAN_TURN = {"chosen": dialogue("Hi", "Hello!", "Name a fruit.", "A pear."),
                    "rejected": dialogue("Hi", "Hey.", "Name a colour.", "Red.")}
EMPTY_CHOSEN = {"chosen": dialogue("Say nothing.", ""), "rejected": dialogue("Say nothing.", "No.")}
STYLES = ("helpful", "humorous", "philosophical")
LFS_POINTER = (LFS_POINTER_HEADER + b"\noid sha256:" + b"0" * 64 + b"\nsize 123456\n")


def test_a_row_with_an_extra_assistant_turn_keeps_the_shared_prompt():
    prompt, chosen, rejected, status = hh_rlhf_comparison(EXTRA_TURN["chosen"],
                                                          EXTRA_TURN["rejected"])
    assert prompt == "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Name a fruit."
    assert (chosen, rejected) == ("A pear.", "Hmm.\n\nAssistant: A car.")
    assert status == "repaired: " + SHARED_PROMPT_REPAIR
    assert hh_rlhf_comparison(OTHER_HUMAN_TURN["chosen"], OTHER_HUMAN_TURN["rejected"])[3] == \
        "dropped: dialogues that differ in a human turn"


def hh_rlhf_with_odd_rows(root: Path) -> Path:
    write_hh_rlhf_dataset(root)
    write_jsonl(root / "helpful-base" / "train.jsonl.gz",
                [*HELPFUL_TRAIN, EXTRA_TURN, OTHER_HUMAN_TURN, EMPTY_CHOSEN])
    return root


def test_hh_rlhf_tallies_every_repaired_and_dropped_row(tmp_path):
    root = hh_rlhf_with_odd_rows(tmp_path / "hh-rlhf")
    loaded = load_hh_rlhf_data(HHRLHFPaperSources(dataset=str(root)), tmp_path / "cache")
    tallies = {t.source.split(" ", 1)[1]: t.to_dict() for t in loaded.tallies}
    assert tallies["helpful-base/train pairs"] == {
        "source": f"{root} helpful-base/train pairs", "rows": 5, "kept": 4,
        "repaired": {SHARED_PROMPT_REPAIR: 1},
        "dropped": {"dialogues that differ in a human turn": 1}}
    assert tallies["harmless-base/train pairs"]["dropped"] == {
        "a dialogue without an assistant turn": 1}
    # the empty chosen answer stays a preference pair but teaches SFT nothing
    assert "" in loaded.data.preference_pairs["helpful"]["chosen"]
    assert tallies["train SFT corpus (chosen responses)"]["dropped"] == {"empty response": 1}
    assert "" not in loaded.data.sft_corpus["response"]
    assert len(loaded.data.sft_corpus) == 4 + 1 - 1


def test_a_run_prints_and_records_the_tallies(tmp_path, monkeypatch):
    tokenizer = tiny_tokenizer()
    root = hh_rlhf_with_odd_rows(tmp_path / "hh-rlhf")
    save_policy(tmp_path / "policy", tokenizer)
    for seed, name in ((1, "helpful"), (2, "harmless")):
        save_gpt2_classifier(tmp_path / name, tokenizer, seed=seed)
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "run"
    paper = "task.paper."
    with harness_messages() as messages:
        assert main(["run", "--method", "base", "--task", "hh-rlhf", "--scale", "paper",
                     "--output", str(folder), f"{paper}dataset={root}",
                     f"{paper}policy={tmp_path / 'policy'}",
                     f"{paper}helpful_reward_model={tmp_path / 'helpful'}",
                     f"{paper}harmless_reward_model={tmp_path / 'harmless'}",
                     f"{paper}n_eval_prompts=2", f"{paper}dtype=float32", f"{paper}device=cpu",
                     "eval.grid_points=3", "eval.decoding.max_new_tokens=4",
                     "eval.n_bootstrap=5"]) == 0
    line = next(m for m in messages if "helpful-base/train pairs" in m)
    assert line == (f"data: {root} helpful-base/train pairs: 5 rows, 4 kept, 1 "
                    f"{SHARED_PROMPT_REPAIR}, 1 dropped (dialogues that differ in a human turn)")
    saved = json.loads((folder / "spec.json").read_text())["data"]
    assert {t["source"]: t["rows"] for t in saved}[f"{root} helpful-base/train pairs"] == 5
    assert sum(sum(t["dropped"].values()) for t in saved) == 3  # two pairs, one SFT example


def test_sft_corpora_leave_out_empty_and_placeholder_responses(tmp_path):
    rows = [*ALPACA_ROWS,
            {"instruction": "Draw a cat.", "input": "", "output": "<nooutput>", "text": ""},
            {"instruction": "Say nothing.", "input": "<noinput>", "output": "  ", "text": ""},
            {"instruction": "Name a bird.", "input": "<noinput>", "output": "An owl.",
             "text": ""}]
    write_jsonl(tmp_path / "alpaca" / "train.jsonl", rows)
    sources = ChatPaperSources(dataset=str(tmp_path / "alpaca"), n_eval_prompts=2)
    instance = load_chat(sources, 0, tmp_path / "cache", styles=("helpful", "humorous"),
                         task_name="chat2")
    (tally,) = instance.extras[DATA_REPORT_KEY]
    assert tally.dropped == {"placeholder response <nooutput>": 1, "empty response": 1}
    assert tally.rows == len(rows) - 2  # the two eval prompts are held out first
    corpus = instance.data.sft_corpus
    assert "<nooutput>" not in corpus["response"] and "" not in corpus["response"]
    assert "Name a bird." in corpus["prompt"]  # its <noinput> placeholder is no input
    # PKU: a better response that is empty is left out of the SFT corpus, counted
    train = [dict(r) for r in PKU_TRAIN]
    train[1]["response_0"] = ""
    write_jsonl(tmp_path / "pku" / "train.jsonl", train)
    write_jsonl(tmp_path / "pku" / "test.jsonl", PKU_TEST)
    loaded = load_pku_data(PKUSources(dataset=str(tmp_path / "pku")), tmp_path / "cache")
    sft = next(t for t in loaded.tallies if t.source.endswith("SFT corpus"))
    assert sft.dropped == {"empty response": 1} and sft.kept == len(PKU_TRAIN) - 1
    pairs = next(t for t in loaded.tallies if t.source.endswith("helpful pairs"))
    assert pairs.dropped == {"identical responses": 1}


# ------------------------------------------------------------------------------ folders
def one_line_error(error: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def test_a_split_held_twice_is_refused(tmp_path):
    root = write_pku_dataset(tmp_path / "pku")
    write_jsonl(root / "test.jsonl.gz", PKU_TEST)
    with pytest.raises(SourceUnavailableError) as error:
        load_dataset_split(str(root), "test", cache_dir=tmp_path / "cache")
    assert one_line_error(error) == (
        f"dataset folder {str(root)!r} holds split 'test' twice (test.jsonl and test.jsonl.gz), "
        "which would read every row twice; remove one, or name the one to read in the "
        "sources' data_files")
    # the other split is fine
    assert len(load_dataset_split(str(root), "train", cache_dir=tmp_path / "cache")) == \
        len(PKU_TRAIN)


def test_lfs_pointers_say_how_to_fetch_the_files(tmp_path):
    root = write_hh_rlhf_dataset(tmp_path / "hh-rlhf")
    (root / ".git").mkdir()
    pointer = root / "helpful-base" / "train.jsonl.gz"
    pointer.write_bytes(LFS_POINTER)
    with pytest.raises(SourceUnavailableError) as error:
        load_dataset_split(str(root), "train", data_dir="helpful-base")
    assert one_line_error(error) == (
        f"{str(pointer)!r} is a Git LFS pointer, not the file itself: the repository was cloned "
        f"without git-lfs. Fetch the real files with `git lfs install && git lfs pull` in "
        f"{str(root)!r}, or download them directly")
    model = save_policy(tmp_path / "policy", tiny_tokenizer())
    (model / "model.safetensors").write_bytes(LFS_POINTER)
    with pytest.raises(SourceUnavailableError, match="model.safetensors' is a Git LFS pointer"):
        load_causal_lm(str(model))


def test_other_files_in_a_dataset_repository(tmp_path):
    root = write_pku_dataset(tmp_path / "pku")
    (root / "pku_saferlhf.py").write_text("raise SystemExit('a dataset script must not run')\n")
    (root / "README.md").write_text("# PKU-SafeRLHF\n")
    assert len(load_dataset_split(str(root), "train", cache_dir=tmp_path / "c")) == len(PKU_TRAIN)
    # another jsonl whose name also says "train", in another schema
    write_jsonl(root / "train_categories.jsonl", [{"category": "Violence", "count": 3}])
    with pytest.raises(SourceUnavailableError) as error:
        load_dataset_split(str(root), "train", cache_dir=tmp_path / "c")
    text = one_line_error(error)
    assert text.startswith(f"cannot read split 'train' of {str(root)!r} from train.jsonl, "
                           "train_categories.jsonl (CastError: Couldn't cast ")
    assert text.endswith("; if other files match the split's name, name its data file in the "
                         "sources' data_files")
    sources = PKUSources(dataset=str(root), data_files={"train": "train.jsonl"})
    loaded = load_pku_data(sources, tmp_path / "c")
    assert loaded.data.sft_corpus["prompt"][0] == PKU_TRAIN[0]["prompt"]
    with pytest.raises(ConfigError, match="data_files names 'trian', which is no split this "
                                          "task reads; it reads test, train"):
        load_pku_data(PKUSources(dataset=str(root), data_files={"trian": "train.jsonl"}),
                      tmp_path / "c")
    with pytest.raises(SourceUnavailableError, match="data file .*missing.jsonl' "
                                                     r"\(data_files 'train'\) does not exist"):
        load_pku_data(PKUSources(dataset=str(root), data_files={"train": "missing.jsonl"}),
                      tmp_path / "c")


def test_a_missing_sub_folder_is_said_to_not_exist(tmp_path):
    root = write_hh_rlhf_dataset(tmp_path / "hh-rlhf")
    with pytest.raises(SourceUnavailableError) as error:
        load_dataset_split(str(root), "train", data_dir="helpful-online")
    assert one_line_error(error) == (
        f"dataset folder {str(root)!r} has no sub-folder 'helpful-online' "
        f"({str(root / 'helpful-online')!r} does not exist)")


def test_chat_data_loads_without_style_scorers(tmp_path, capsys, monkeypatch):
    root = write_alpaca_dataset(tmp_path / "alpaca")
    sources = ChatPaperSources(dataset=str(root), n_eval_prompts=4)
    instance = load_chat(sources, 0, tmp_path / "cache", styles=STYLES, task_name="chat3")
    assert len(instance.data.eval_prompts) == 4
    assert len(instance.data.sft_corpus) == len(ALPACA_ROWS) - 4
    # a run still refuses before anything is trained or written, naming every style
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
    save_policy(tmp_path / "policy", tiny_tokenizer())
    folder = tmp_path / "run"
    argv = ["run", "--method", "base", "--task", "chat3", "--scale", "paper", "--output",
            str(folder), f"task.paper.dataset={root}", f"task.paper.policy={tmp_path / 'policy'}",
            "task.paper.n_eval_prompts=4"]
    line = one_error_line(capsys, argv)
    assert "none for helpful, humorous, philosophical (the paper's style scorers are not " \
        "public)" in line
    assert sorted(p.name for p in folder.iterdir()) == [".lock"]  # no spec.json to block a rerun


def test_model_folders_that_are_no_models(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("weights go here")
    with pytest.raises(SourceUnavailableError) as error:
        load_causal_lm(str(empty))
    assert one_line_error(error) == (
        f"{str(empty)!r} is a folder but not a transformers model: it holds no config.json "
        "(give the folder save_pretrained wrote, or a hub snapshot)")
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(SourceUnavailableError) as error:
        load_causal_lm(str(odd))
    assert one_line_error(error).startswith(f"cannot load {str(odd)!r} as a transformers model "
                                            "folder: ")


# ------------------------------------------------------------- Ray2333 normalization
def constant_classifier(folder: Path, tokenizer, value: float) -> None:  # type: ignore[no-untyped-def]
    """A GPT-2 sequence classifier whose score is ``value`` for every input: its final layer
    norm maps every hidden state to the first unit vector, which the head reads as ``value``."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=32, n_layer=1,
                        n_head=2, num_labels=1, pad_token_id=tokenizer.pad_token_id)
    model = GPT2ForSequenceClassification(config).eval()
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 1.0
        model.score.weight.zero_()
        model.score.weight[0, 0] = value
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.mark.parametrize("objective", ["helpful", "harmless"])
def test_ray2333_scores_through_the_score_model_path_and_normalization(tmp_path, objective):
    tokenizer = tiny_tokenizer()
    mean, std = RAY2333_HH_TRAIN_STATISTICS[objective]
    spec = paper_spec(HHRLHFPaperSources(), task_name="hh-rlhf")
    index = spec.objective_names.index(objective)
    low, high = spec.objectives[index].bounds
    prompts = ["\n\nHuman: Can you help me?", "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Why?"]
    responses = ["Sure, here is how.", "Because."]
    for z in (-1.0, 0.0, 1.0):
        raw = mean + z * std
        folder = tmp_path / f"{objective}{z}"
        constant_classifier(folder, tokenizer, raw)
        sources = HHRLHFPaperSources(**{f"{objective}_reward_model": str(folder)},
                                     dtype="float32", device="cpu")
        scores = ray2333_scorers(sources)[objective](prompts, responses)
        np.testing.assert_allclose(scores, [raw, raw], rtol=0, atol=1e-5)
        # the task's fixed-bounds normalization, and RiC's z-normalization with the statistics
        row = np.zeros((len(scores), 2))
        row[:, index] = scores
        np.testing.assert_allclose(spec.normalize(row)[:, index], (raw - low) / (high - low),
                                   atol=1e-5)
        np.testing.assert_allclose((scores - mean) / std, [z, z], atol=1e-5)
    # the published mean lands at (mean + 3) / 6; one standard deviation either side stays in
    # [0, 1]; a normal distribution of these moments has this share of its mass in the bounds
    assert (mean - low) / (high - low) == pytest.approx({"helpful": 0.4975,
                                                         "harmless": 0.342167}[objective],
                                                        abs=1e-6)
    assert 0 < (mean - std - low) / (high - low) < (mean + std - low) / (high - low) < 1
    inside = 0.5 * (math.erf((high - mean) / std / math.sqrt(2))
                    - math.erf((low - mean) / std / math.sqrt(2)))
    assert inside == pytest.approx({"helpful": 0.96700, "harmless": 0.83762}[objective],
                                   abs=1e-5)
