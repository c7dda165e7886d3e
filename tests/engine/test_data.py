"""Merging per-objective data, collation with response-only masks, log-probs, preference draws."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from mobench.engine.config import DPOConfig, LoopConfig, PreferenceConfig
from mobench.engine.data import BatchOrder, collate, micro_batch_slices
from mobench.engine.dpo import DPOObjective, prepare_pairs
from mobench.engine.logprobs import gather_logprobs, sequence_logprobs
from mobench.engine.pairs import merge_preference_pairs, merge_sft_sets
from mobench.engine.preferences import PreferenceSampler, constant_preferences
from mobench.engine.reference import FrozenReference
from mobench.engine.trainer import RunContext

from .conftest import build_model, format_prompt, toy_pairs


def test_merge_labels_each_objective_on_shared_pairs():
    better = datasets.Dataset.from_dict({"prompt": ["p", "p", "q"], "chosen": ["x", "x", "u"],
                                         "rejected": ["y", "y", "v"]})
    safer = datasets.Dataset.from_dict({"prompt": ["p", "r"], "chosen": ["y", "s"],
                                        "rejected": ["x", "t"]})
    table = merge_preference_pairs({"better": better, "safer": safer}, ["better", "safer"])
    rows = sorted(zip(table["prompt"], table["response_a"], table["response_b"],
                      map(tuple, table["labels"]), strict=True))
    # (p, x, y) is listed twice for "better": the first occurrence merges with "safer"'s row.
    assert rows == [("p", "x", "y", (1, -1)), ("p", "x", "y", (1, 0)), ("q", "u", "v", (1, 0)),
                    ("r", "s", "t", (0, 1))]


def test_merge_sft_sets_marks_membership():
    first = datasets.Dataset.from_dict({"prompt": ["p", "q"], "response": ["a", "b"]})
    second = datasets.Dataset.from_dict({"prompt": ["p"], "response": ["a"]})
    table = merge_sft_sets({"one": first, "two": second}, ["one", "two"])
    rows = sorted(zip(table["prompt"], table["response"], map(tuple, table["labels"]),
                      strict=True))
    assert rows == [("p", "a", (1, 1)), ("q", "b", (1, 0))]


def test_merge_rejects_missing_objectives_and_columns():
    data = datasets.Dataset.from_dict({"prompt": ["p"], "chosen": ["a"], "rejected": ["b"]})
    with pytest.raises(ValueError, match="no data for objectives"):
        merge_preference_pairs({"one": data}, ["one", "two"])
    with pytest.raises(ValueError, match="lacks columns"):
        merge_preference_pairs({"one": data.remove_columns("rejected")}, ["one"])


def test_collate_masks_prompt_and_padding():
    batch = collate([[5, 6], [7]], [[8, 1], [9, 10, 1]], pad_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 8, 1], [7, 9, 10, 1]]
    assert batch.response_mask.tolist() == [[0, 0, 1, 1], [0, 1, 1, 1]]
    short = collate([[5]], [[1]], pad_id=0)
    assert short.attention_mask.tolist() == [[1, 1]]


def test_sequence_logprobs_count_response_tokens_only(tokenizer):
    model = build_model("gpt2", tokenizer).eval()
    batch = collate([[5, 6, 7], [5]], [[8, 1], [9, 10, 1]], pad_id=tokenizer.pad_token_id)
    with torch.no_grad():
        total = sequence_logprobs(model, batch, "sum")
        mean = sequence_logprobs(model, batch, "mean")
        for row, (start, length) in enumerate([(3, 2), (1, 3)]):
            ids = batch.input_ids[row:row + 1, :start + length]
            logits = model(input_ids=ids).logits
            expected = torch.log_softmax(logits[0, :-1], -1)[
                torch.arange(start + length - 1), ids[0, 1:]][start - 1:].sum()
            assert float(total[row]) == pytest.approx(float(expected), abs=1e-5)
            assert float(mean[row]) == pytest.approx(float(expected) / length, abs=1e-5)


def test_gather_logprobs_matches_log_softmax():
    logits = torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([[1, 2, 3], [6, 0, 4]])
    expected = torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)
    assert torch.allclose(gather_logprobs(logits, targets), expected, atol=1e-6)


class ForwardCounter:
    def __init__(self, model: torch.nn.Module) -> None:
        self.calls = 0
        model.register_forward_pre_hook(self._count)

    def _count(self, module, args):
        self.calls += 1


@pytest.mark.parametrize("n_objectives", [1, 2])
def test_dpo_scores_every_response_once_per_batch_for_all_objectives(tokenizer, n_objectives):
    pairs = toy_pairs(8)
    names = ["good", "short"][:n_objectives]
    table = prepare_pairs(pairs, names, tokenizer, format_prompt, 64)
    policy, reference = build_model("gpt2", tokenizer), build_model("gpt2", tokenizer)
    policy_calls, reference_calls = ForwardCounter(policy), ForwardCounter(reference)
    objective = DPOObjective(table, names, tokenizer.pad_token_id, DPOConfig(),
                             PreferenceSampler(n_objectives, 0), FrozenReference(reference))
    loop = LoopConfig(batch_size=4)
    run = RunContext(forward=policy, module=policy, rank=0, world_size=1, loop=loop)
    (batch,) = objective.micro_batches(0, run)
    assert batch.tokens.input_ids.shape[0] == 8  # 4 a-responses and 4 b-responses together
    objective.loss(batch, run)
    assert (policy_calls.calls, reference_calls.calls) == (1, 1)


def test_batch_order_is_a_function_of_the_position():
    order = BatchOrder(5, seed=3)
    first = order.indices(0, 12)
    assert sorted(first[:5]) == list(range(5)) and sorted(first[5:10]) == list(range(5))
    assert BatchOrder(5, seed=3).indices(7, 4) == first[7:11]


def test_micro_batch_slices_shard_the_global_batch():
    one = micro_batch_slices(4, 2, rank=0, world_size=1)
    two = [micro_batch_slices(2, 2, rank=r, world_size=2) for r in (0, 1)]
    rows = list(range(8))
    for k in range(2):
        assert rows[one[k]] == rows[two[0][k]] + rows[two[1][k]]


def test_preference_sampler_draws_on_the_simplex_and_repeats_by_step():
    sampler = PreferenceSampler(3, seed=1, config=PreferenceConfig(per_row=True))
    draws = sampler.sample(4, 500)
    assert torch.allclose(draws.sum(dim=1), torch.ones(500)) and bool((draws >= 0).all())
    again = PreferenceSampler(3, 1, PreferenceConfig(per_row=True)).sample(4, 500)
    assert torch.equal(draws, again)
    assert not torch.equal(draws, sampler.sample(5, 500))
    shared = PreferenceSampler(3, seed=1).sample(0, 6)
    assert torch.equal(shared, shared[:1].expand(6, -1))


def test_preference_sampler_vertex_probability():
    sampler = PreferenceSampler(2, 0, PreferenceConfig(vertex_probability=0.5, per_row=True))
    draws = sampler.sample(0, 4000)
    vertices = (draws.max(dim=1).values == 1.0).float().mean()
    assert float(vertices) == pytest.approx(0.5, abs=0.03)
    always = PreferenceSampler(2, 0, PreferenceConfig(vertex_probability=1.0, per_row=True))
    assert set(map(tuple, always.sample(0, 50).tolist())) == {(1.0, 0.0), (0.0, 1.0)}


def test_constant_preferences():
    sampler = constant_preferences([0.3, 0.7])
    assert sampler.sample(9, 2).tolist() == pytest.approx(np.array([[0.3, 0.7]] * 2))
    with pytest.raises(ValueError, match="simplex"):
        constant_preferences([0.3, 0.3])
