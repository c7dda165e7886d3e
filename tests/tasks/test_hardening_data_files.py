"""Hardening, round three (issue 27), the data-loading part: an empty data file, an Alpaca sample
with fewer instructions than the eval prompts asked for, and a malformed line in a JSON-lines
file. Each ``mobench run`` ends in one line naming the file (and the line, or the sizes and what
to set), exits non-zero and leaves nothing in the run folder that would block the corrected
command's rerun. (An empty file ended in a bare StopIteration, the short sample in "Column
'row_status' doesn't exist", the bad line in a character offset and a hint about other files.)"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hardening_support import one_error_line

from mobench.core.errors import SourceUnavailableError
from mobench.data.sources import load_dataset_split

from .paper_checkpoints import ALPACA_ROWS, HELPFUL_TRAIN, write_jsonl

# The line a chat run ends with once its data loads: the paper's style scorers are not public.
SCORERS_LINE = ("none for helpful, humorous, philosophical (the paper's style scorers are not "
                "public)")


def chat_run(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             dataset: Path, *overrides: str) -> str:
    """``mobench run`` of chat3 at paper scale on ``dataset`` into one run folder: its one error
    line; the folder must then hold nothing but its lock."""
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "run"
    line = one_error_line(capsys, ["run", "--method", "base", "--task", "chat3", "--scale",
                                   "paper", "--output", str(folder),
                                   f"task.paper.dataset={dataset}", *overrides])
    assert sorted(p.name for p in folder.iterdir()) == [".lock"]  # no spec.json to block a rerun
    return line


def test_an_empty_data_file_is_named(tmp_path, capsys, monkeypatch):
    root = tmp_path / "alpaca"
    write_jsonl(root / "train.jsonl", ALPACA_ROWS)
    (root / "test.jsonl").write_bytes(b"")  # an interrupted download
    line = chat_run(capsys, tmp_path, monkeypatch, root, "task.paper.eval_split=test",
                       "task.paper.n_eval_prompts=4")
    assert line == (f"mobench: error: data file {str(root / 'test.jsonl')!r} of split 'test' is "
                    "empty (0 bytes), as an interrupted download or copy leaves it; fetch it "
                    "again")
    write_jsonl(root / "test.jsonl", ALPACA_ROWS[:4])
    line = chat_run(capsys, tmp_path, monkeypatch, root, "task.paper.eval_split=test",
                       "task.paper.n_eval_prompts=4")
    assert SCORERS_LINE in line  # the data loads now
    # a compressed file holding nothing is no 0-byte file, but has no rows either
    hh = tmp_path / "hh"
    (hh / "train.jsonl.gz").parent.mkdir()
    (hh / "train.jsonl.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(SourceUnavailableError) as error:
        load_dataset_split(str(hh), "train", cache_dir=tmp_path / "cache")
    assert str(error.value) == f"split 'train' of {str(hh)!r} holds no rows (train.jsonl.gz)"


def test_fewer_instructions_than_eval_prompts(tmp_path, capsys, monkeypatch):
    root = tmp_path / "alpaca"
    write_jsonl(root / "train.jsonl", ALPACA_ROWS)
    line = chat_run(capsys, tmp_path, monkeypatch, root)  # 500 eval prompts by default
    assert line == (f"mobench: error: dataset {str(root)!r} split 'train' has 12 rows (12 "
                    "distinct instructions), too few to hold out 500 eval prompts and train on "
                    "the rest; set task.paper.n_eval_prompts below 12, or task.paper.eval_split "
                    "to a split to draw the eval prompts from")
    line = chat_run(capsys, tmp_path, monkeypatch, root, "task.paper.n_eval_prompts=4")
    assert SCORERS_LINE in line


def test_a_malformed_json_line_is_named(tmp_path, capsys, monkeypatch):
    root = tmp_path / "alpaca"
    lines = [json.dumps(row) for row in ALPACA_ROWS]
    good = lines[2]
    lines[2] = good + ","  # as a JSON array turned into lines by hand leaves it
    (root / "train.jsonl").parent.mkdir()
    (root / "train.jsonl").write_text("".join(line + "\n" for line in lines))
    line = chat_run(capsys, tmp_path, monkeypatch, root, "task.paper.n_eval_prompts=4")
    assert line == (f"mobench: error: cannot read split 'train' of {str(root)!r}: line 3 of "
                    f"{str(root / 'train.jsonl')!r} is not valid JSON (Extra data at column "
                    f"{len(good) + 1}); fix or remove that line")
    lines[2] = good
    (root / "train.jsonl").write_text("".join(line + "\n" for line in lines))
    line = chat_run(capsys, tmp_path, monkeypatch, root, "task.paper.n_eval_prompts=4")
    assert SCORERS_LINE in line
    # compressed, as hh-rlhf ships its files: a line cut short
    hh = tmp_path / "hh"
    text = "".join(json.dumps(row) + "\n" for row in HELPFUL_TRAIN)
    (hh / "helpful-base").mkdir(parents=True)
    with gzip.open(hh / "helpful-base" / "train.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(text[:len(text) - 20])
    with pytest.raises(SourceUnavailableError) as error:
        load_dataset_split(str(hh), "train", data_dir="helpful-base", cache_dir=tmp_path / "c")
    assert str(error.value).startswith(
        f"cannot read split 'train' of {str(hh / 'helpful-base')!r}: line 2 of "
        f"{str(hh / 'helpful-base' / 'train.jsonl.gz')!r} is not valid JSON (Unterminated string")
    # one JSON document over several lines (a .json array) is no JSON-lines file: no line is
    # blamed, the reader's own error is told
    doc = tmp_path / "doc"
    doc.mkdir()
    (doc / "train.json").write_text(json.dumps(ALPACA_ROWS, indent=1)[:-3])  # cut short
    with pytest.raises(SourceUnavailableError) as error:
        load_dataset_split(str(doc), "train", cache_dir=tmp_path / "c")
    assert str(error.value).startswith(f"cannot read split 'train' of {str(doc)!r} from "
                                       "train.json (")
