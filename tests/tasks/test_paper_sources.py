"""Sources: local dataset folders in the hub layout load like hub ids; unreachable ids fail in one
line naming the id."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import pytest

from mobench.core.errors import SourceUnavailableError
from mobench.data.sources import is_local_source, load_dataset_split

from .paper_checkpoints import PKU_TEST, PKU_TRAIN, write_hh_rlhf_dataset, write_pku_dataset


def test_local_folder_splits_by_file_name(tmp_path: Path) -> None:
    root = write_pku_dataset(tmp_path / "pku")
    train = load_dataset_split(str(root), "train", cache_dir=tmp_path / "cache")
    test = load_dataset_split(str(root), "test", cache_dir=tmp_path / "cache")
    assert train["prompt"] == [r["prompt"] for r in PKU_TRAIN]
    assert test["prompt"] == [r["prompt"] for r in PKU_TEST]
    assert isinstance(train[0]["response_0_harm_category"], dict)


def test_local_folder_data_dir_selects_a_subset(tmp_path: Path) -> None:
    root = write_hh_rlhf_dataset(tmp_path / "hh-rlhf")
    helpful = load_dataset_split(str(root), "train", data_dir="helpful-base",
                                 cache_dir=tmp_path / "cache")
    harmless = load_dataset_split(str(root), "train", data_dir="harmless-base",
                                  cache_dir=tmp_path / "cache")
    assert "2+2" in helpful[0]["chosen"]
    assert "steal" in harmless[0]["chosen"]


def test_saved_to_disk_folder(tmp_path: Path) -> None:
    table = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"x": [1, 2]}),
                                  "test": datasets.Dataset.from_dict({"x": [3]})})
    table.save_to_disk(str(tmp_path / "saved"))
    assert load_dataset_split(str(tmp_path / "saved"), "test")["x"] == [3]
    with pytest.raises(SourceUnavailableError, match="no split 'validation'"):
        load_dataset_split(str(tmp_path / "saved"), "validation")


def test_missing_split_of_a_local_folder_is_a_one_line_error(tmp_path: Path) -> None:
    root = write_pku_dataset(tmp_path / "pku")
    with pytest.raises(SourceUnavailableError) as error:
        load_dataset_split(str(root), "validation", cache_dir=tmp_path / "cache")
    assert "\n" not in str(error.value) and "validation" in str(error.value)


def test_is_local_source(tmp_path: Path) -> None:
    assert is_local_source(str(tmp_path))
    assert not is_local_source("PKU-Alignment/PKU-SafeRLHF")
    assert not is_local_source("")


def test_unreachable_hub_ids_fail_in_one_line_naming_the_id(tmp_path: Path) -> None:
    # Offline mode is read when huggingface_hub is imported, so the check runs in a fresh process;
    # offline, the libraries fail at once instead of retrying the network.
    script = textwrap.dedent("""
        from mobench.core.errors import SourceUnavailableError
        from mobench.data.score_models import load_reward_model
        from mobench.data.sources import load_dataset_split
        from mobench.tasks.hhc.paper import ConcisenessScorer

        attempts = [lambda: load_dataset_split("PKU-Alignment/PKU-SafeRLHF", "train"),
                    lambda: load_reward_model("PKU-Alignment/beaver-7b-v1.0-cost"),
                    lambda: ConcisenessScorer("PKU-Alignment/alpaca-7b-reproduced", 50, 4.0)(
                        ["p"], ["r"])]
        for attempt in attempts:
            try:
                attempt()
            except SourceUnavailableError as error:
                print("ERROR", str(error).replace("\\n", "<NEWLINE>"))
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=120)
    lines = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 3, result.stdout + result.stderr
    assert "'PKU-Alignment/PKU-SafeRLHF'" in lines[0]
    assert "'PKU-Alignment/beaver-7b-v1.0-cost'" in lines[1]
    assert "'PKU-Alignment/alpaca-7b-reproduced'" in lines[2]
    assert not any("<NEWLINE>" in line for line in lines)
