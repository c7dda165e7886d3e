"""hh-rlhf (paper scale only): prompt extraction, the helpful/harmless split, Ray2333 scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mobench.core.errors import MobenchError
from mobench.tasks.hh_rlhf import HHRLHFConfig, HHRLHFTask
from mobench.tasks.hh_rlhf.paper import HHRLHFPaperSources, hh_rlhf_pairs, split_dialogue

from .paper_checkpoints import (
    HELPFUL_TRAIN,
    dialogue,
    save_gpt2_classifier,
    save_policy,
    tiny_tokenizer,
    write_hh_rlhf_dataset,
)


def test_prompt_is_the_text_before_the_last_assistant_turn() -> None:
    text = dialogue("Hi", "Hello! How can I help?", "Name a fruit.", "An apple.")
    prompt, response = split_dialogue(text)
    assert prompt == "\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Name a fruit."
    assert response == "An apple."
    assert split_dialogue(dialogue("Single?", "Yes."))[0] == "\n\nHuman: Single?"


def test_empty_final_answer_is_kept() -> None:
    assert split_dialogue("\n\nHuman: Say nothing.\n\nAssistant:") == \
        ("\n\nHuman: Say nothing.", "")


@pytest.mark.parametrize("text", ["\n\nHuman: no answer here", "\n\nAssistant: no question"])
def test_dialogue_without_a_usable_assistant_turn_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="hh-rlhf dialogue"):
        split_dialogue(text)


def test_pairs_share_the_prompt_and_skip_unusable_rows() -> None:
    rows = HELPFUL_TRAIN + [
        {"chosen": "\n\nHuman: broken", "rejected": "\n\nHuman: broken too"},
        {"chosen": dialogue("A?", "Same."), "rejected": dialogue("A?", "Same.")},
        {"chosen": dialogue("A?", "x"), "rejected": dialogue("B?", "y")},
    ]
    pairs = hh_rlhf_pairs({"chosen": [r["chosen"] for r in rows],
                           "rejected": [r["rejected"] for r in rows]})
    assert pairs["chosen"] == ["It is 4.", "An apple."]
    assert pairs["rejected"] == ["No idea.", "A car."]


def test_task_is_paper_only() -> None:
    task = HHRLHFTask(HHRLHFConfig())
    assert task.scales == ("paper",)
    spec = task.spec("paper")
    assert spec.name == "hh-rlhf" and spec.objective_names == ("helpful", "harmless")
    assert spec.format_prompt("\n\nHuman: Hi") == "\n\nHuman: Hi\n\nAssistant:"
    assert spec.base_model == "meta-llama/Llama-2-7b-hf"
    with pytest.raises(MobenchError, match="hh miniature"):
        task.spec("tiny")


def test_config_is_built_from_overrides() -> None:
    from mobench.core.config import build_dataclass

    overrides = {"paper": {"policy": "/models/llama", "n_eval_prompts": 9}}
    config = build_dataclass(HHRLHFConfig, overrides, "task")
    assert config.paper.policy == "/models/llama" and config.paper.n_eval_prompts == 9


def test_load_end_to_end_on_local_sources(tmp_path: Path) -> None:
    tokenizer = tiny_tokenizer()
    write_hh_rlhf_dataset(tmp_path / "hh-rlhf")
    save_policy(tmp_path / "policy", tokenizer)
    helpful_model = save_gpt2_classifier(tmp_path / "helpful", tokenizer, seed=1)
    save_gpt2_classifier(tmp_path / "harmless", tokenizer, seed=2)
    sources = HHRLHFPaperSources(dataset=str(tmp_path / "hh-rlhf"), policy=str(tmp_path / "policy"),
                                 helpful_reward_model=str(tmp_path / "helpful"),
                                 harmless_reward_model=str(tmp_path / "harmless"),
                                 dtype="float32", device="cpu", n_eval_prompts=0)
    instance = HHRLHFTask(HHRLHFConfig(paper=sources)).load("paper", 0, tmp_path / "cache")
    data = instance.data
    assert data.preference_pairs["helpful"]["chosen"] == ["It is 4.", "An apple."]
    assert data.preference_pairs["harmless"]["chosen"] == ["I can't help with that."]
    assert sorted(data.eval_prompts["prompt"]) == ["\n\nHuman: Capital of France?",
                                                   "\n\nHuman: Insult me."]
    assert len(data.train_prompts) == 3 and len(data.sft_corpus) == 3

    prompts, responses = ["\n\nHuman: What is 2+2?"], ["It is 4."]
    scores = instance.scorer_sets["reward_model"]["helpful"](prompts, responses)
    inputs = tokenizer("\n\nHuman: What is 2+2?\n\nAssistant:", "It is 4.", return_tensors="pt")
    with torch.no_grad():
        expected = helpful_model(**inputs).logits[0, 0].item()
    np.testing.assert_allclose(scores, [expected], rtol=1e-4, atol=1e-5)
    model, _ = instance.load_reference_policy()
    assert type(model).__name__ == "LlamaForCausalLM"
