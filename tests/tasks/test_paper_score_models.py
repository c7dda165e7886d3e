"""The reward-model loaders: beaver-format score models and Ray2333-format GPT-2 classifiers, by
local path, scored exactly as computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mobench.core.errors import SourceUnavailableError
from mobench.data.paper.pku import format_beaver_input
from mobench.data.reward_models import RewardModelScorer
from mobench.data.score_models import (
    LazyRewardModelScorer,
    LlamaScoreModel,
    RewardModelSource,
    load_reward_model,
)
from mobench.tasks.hh_rlhf.paper import ray2333_input

from .paper_checkpoints import (
    beaver_score_by_hand,
    save_beaver_checkpoint,
    save_gpt2_classifier,
    tiny_tokenizer,
)

TEXTS = ["How do I pick a lock? Call a locksmith.", "Tell me a joke.",
         "What is a good breakfast? Oatmeal with fruit and a long answer about it."]


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return tiny_tokenizer()


@pytest.mark.parametrize("score_bias", [True, False])
def test_score_model_matches_hand_computation(tmp_path: Path, tokenizer, score_bias: bool) -> None:
    backbone, weight, bias = save_beaver_checkpoint(tmp_path / "rm", tokenizer, seed=3,
                                                    score_bias=score_bias)
    model, served_tokenizer = load_reward_model(str(tmp_path / "rm"), device="cpu")
    assert isinstance(model, LlamaScoreModel)
    assert served_tokenizer.padding_side == "right"
    batch = served_tokenizer(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (len(TEXTS), 1)
    expected = [beaver_score_by_hand(backbone, weight, bias, tokenizer, t) for t in TEXTS]
    np.testing.assert_allclose(logits[:, 0].numpy(), expected, rtol=1e-4, atol=1e-5)


def test_left_padding_reads_the_last_real_token_too(tmp_path: Path, tokenizer) -> None:
    save_beaver_checkpoint(tmp_path / "rm", tokenizer, seed=3)
    model, served_tokenizer = load_reward_model(str(tmp_path / "rm"), device="cpu")
    single = [model(**served_tokenizer(t, return_tensors="pt")).logits[0, 0].item()
              for t in TEXTS]
    served_tokenizer.padding_side = "left"
    batch = served_tokenizer(TEXTS, return_tensors="pt", padding=True)
    ends = model(**batch).logits[:, 0]
    # left padding shifts positions, so only the shortest-padded (longest) text is exact
    longest = int(np.argmax([len(t) for t in TEXTS]))
    assert ends[longest].item() == pytest.approx(single[longest], rel=1e-4, abs=1e-5)


def test_cost_model_is_negated_and_scored_on_the_pku_format(tmp_path: Path, tokenizer) -> None:
    backbone, weight, bias = save_beaver_checkpoint(tmp_path / "cost", tokenizer, seed=5)
    scorer = LazyRewardModelScorer(
        RewardModelSource(str(tmp_path / "cost"), sign=-1.0, append_eos=True, device="cpu",
                          batch_size=2), format_beaver_input)
    assert not scorer.loaded
    prompts, responses = ["How do I pick a lock?", "Tell me a joke."], ["Call a locksmith.", "No."]
    scores = scorer(prompts, responses)
    assert scorer.loaded
    expected = [-beaver_score_by_hand(
        backbone, weight, bias, tokenizer,
        f"BEGINNING OF CONVERSATION: USER: {p} ASSISTANT:{r}{tokenizer.eos_token}")
        for p, r in zip(prompts, responses, strict=True)]
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)


def test_score_model_without_its_head_is_refused(tmp_path: Path, tokenizer) -> None:
    from safetensors.torch import load_file, save_file

    save_beaver_checkpoint(tmp_path / "rm", tokenizer, seed=3)
    index = json.loads((tmp_path / "rm" / "model.safetensors.index.json").read_text())
    shard = index["weight_map"].pop("score_head.weight")
    weights = load_file(str(tmp_path / "rm" / shard))
    weights.pop("score_head.weight")
    save_file(weights, str(tmp_path / "rm" / shard), metadata={"format": "pt"})
    (tmp_path / "rm" / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(SourceUnavailableError, match="score_head.weight"):
        load_reward_model(str(tmp_path / "rm"), device="cpu")


def test_gpt2_classifier_scores_text_pairs_with_logit_0(tmp_path: Path, tokenizer) -> None:
    reference = save_gpt2_classifier(tmp_path / "helpful", tokenizer, seed=7)
    model, served_tokenizer = load_reward_model(str(tmp_path / "helpful"), device="cpu")
    assert type(model).__name__ == "GPT2ForSequenceClassification"
    prompts = ["\n\nHuman: What is 2+2?", "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: A fruit?"]
    responses = ["It is 4.", "An apple, which is a long answer indeed."]
    scorer = RewardModelScorer(model, served_tokenizer, format_pair=ray2333_input, batch_size=2)
    scores = scorer(prompts, responses)
    expected = []
    for prompt, response in zip(prompts, responses, strict=True):
        inputs = tokenizer(prompt + "\n\nAssistant:", response, return_tensors="pt")
        with torch.no_grad():
            expected.append(reference(**inputs).logits[0, 0].item())
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)


def test_causal_lm_is_not_taken_for_a_classifier(tmp_path: Path, tokenizer) -> None:
    from .paper_checkpoints import save_policy

    save_policy(tmp_path / "policy", tokenizer)
    with pytest.raises(SourceUnavailableError, match="not a sequence-classification"):
        load_reward_model(str(tmp_path / "policy"), device="cpu")


def test_selected_logit_serves_another_column(tmp_path: Path, tokenizer) -> None:
    from transformers import GPT2Config, GPT2ForSequenceClassification

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=16, n_layer=1, n_head=2,
                        num_labels=2, pad_token_id=tokenizer.pad_token_id)
    model = GPT2ForSequenceClassification(config).eval()
    model.save_pretrained(tmp_path / "styled")
    tokenizer.save_pretrained(tmp_path / "styled")
    scorer = LazyRewardModelScorer(RewardModelSource(str(tmp_path / "styled"), logit_index=1,
                                                     device="cpu"),
                                   lambda prompt, response: response)
    with torch.no_grad():
        expected = model(**tokenizer("Tip 1.", return_tensors="pt")).logits[0, 1].item()
    assert scorer(["p"], ["Tip 1."])[0] == pytest.approx(expected, rel=1e-4, abs=1e-5)
