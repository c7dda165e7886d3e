"""Stored reference log-probs (mobench.engine.reference_cache): the values a batch's own reference
forward gives, computed once per reference and sequence, shared across trainings and runs, keyed
so that another reference never reads them, and counted once in the cost record."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model

from mobench.core.method import CostMeter
from mobench.engine import DPOConfig, LoopConfig, OptimConfig, train_dpo
from mobench.engine.data import collate
from mobench.engine.dpo import prepare_pairs
from mobench.engine.logprobs import reduce_sequence
from mobench.engine.reference import FrozenReference, PairDigests, pair_sequences
from mobench.engine.reference_cache import ReferenceLogpStore, sequence_digest

from .conftest import build_model, format_prompt, toy_pairs

OBJECTIVES = ["good", "short"]


def adapter_model(tokenizer, seed: int = 0):
    base = build_model("gpt2", tokenizer, seed=seed)
    torch.manual_seed(seed)  # the adapter's initialization too
    return get_peft_model(base, LoraConfig(r=4, target_modules=["c_attn"],
                                           init_lora_weights=False))


def pair_table(tokenizer, n: int = 12):
    return prepare_pairs(toy_pairs(n), OBJECTIVES, tokenizer, format_prompt, 64)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_stored_values_are_the_reference_forward_of_each_sequence(tokenizer, tmp_path, reduction):
    model = adapter_model(tokenizer)
    table = pair_table(tokenizer)
    reference = FrozenReference(None, tmp_path)
    report = reference.prepare(model, pair_sequences(table), tokenizer.pad_token_id)
    assert report is not None and report.computed == len(set(
        sequence_digest(p, r) for p, r in pair_sequences(table)))
    digests = PairDigests(table)
    rows = list(range(len(table)))
    tokens = collate(list(table["prompt_ids"]) * 2, list(table["a_ids"]) + list(table["b_ids"]),
                     tokenizer.pad_token_id)
    stored = reference.sequence_logprobs(model, tokens, reduction, digests.keys(rows))
    model.eval()  # dropout off, as the trainer has it
    with torch.no_grad(), model.disable_adapter():
        from mobench.engine.logprobs import token_logprobs

        logps, _ = token_logprobs(model, tokens)
    forward = reduce_sequence(logps, tokens.response_mask, reduction)
    # the same function of the same tokens; only the padding of the batches differs
    torch.testing.assert_close(stored, forward, rtol=1e-5, atol=1e-5)
    # the adapter (initialized away from zero) is not what the reference computes
    with torch.no_grad():
        adapted, _ = token_logprobs(model, tokens)
    assert not torch.allclose(reduce_sequence(adapted, tokens.response_mask, reduction), stored)


def test_a_second_training_reads_the_store_and_a_new_store_is_not_shared(tokenizer, tmp_path):
    model = adapter_model(tokenizer)
    table = pair_table(tokenizer)
    first = FrozenReference(None, tmp_path).prepare(model, pair_sequences(table),
                                                    tokenizer.pad_token_id)
    again = FrozenReference(None, tmp_path).prepare(model, pair_sequences(table),
                                                    tokenizer.pad_token_id)
    assert first.computed > 0 and again.computed == 0
    assert set(again.reused) == set(first.computed_shards)
    other = adapter_model(tokenizer, seed=1)  # other base weights: another fingerprint
    third = FrozenReference(None, tmp_path).prepare(other, pair_sequences(table),
                                                    tokenizer.pad_token_id)
    assert third.fingerprint != first.fingerprint and third.computed == first.computed


def test_a_damaged_shard_is_scored_again(tokenizer, tmp_path):
    model = adapter_model(tokenizer)
    table = pair_table(tokenizer)
    report = FrozenReference(None, tmp_path).prepare(model, pair_sequences(table),
                                                     tokenizer.pad_token_id)
    (shard,) = (tmp_path / report.fingerprint).glob("*.npz")
    shard.write_bytes(b"not a zip")
    again = FrozenReference(None, tmp_path).prepare(model, pair_sequences(table),
                                                    tokenizer.pad_token_id)
    assert again.computed == report.computed


def test_dpo_with_the_store_trains_as_with_the_forward(tokenizer, tmp_path):
    """Same data, same seed: the losses agree to float precision (the stored values differ from
    a batch's forward in the last bits only), and no reference forward runs during training."""
    histories = {}
    for cached in (False, True):
        model = adapter_model(tokenizer)
        calls: list[int] = []
        original = FrozenReference.token_logprobs

        def counting(self, policy, batch, temperature=1.0, _calls=calls,
                     _original=original):
            _calls.append(batch.input_ids.shape[0])
            return _original(self, policy, batch, temperature)

        FrozenReference.token_logprobs = counting  # type: ignore[method-assign]
        try:
            result = train_dpo(model, tokenizer, toy_pairs(12), OBJECTIVES,
                               work_dir=tmp_path / f"run-{cached}", format_prompt=format_prompt,
                               dpo=DPOConfig(reference_cache=cached),
                               optim=OptimConfig(learning_rate=1e-3),
                               loop=LoopConfig(steps=4, batch_size=4),
                               reference_cache=tmp_path / "cache")
        finally:
            FrozenReference.token_logprobs = original  # type: ignore[method-assign]
        histories[cached] = (result.history, calls)
    (plain, plain_calls), (stored, stored_calls) = histories[False], histories[True]
    assert len(plain_calls) == 4  # one reference forward per step
    # before training: the fingerprint's probe, then each distinct sequence once
    distinct = len(set(pair_sequences_digests(tokenizer)))
    assert stored_calls[0] == 4 and sum(stored_calls[1:]) == distinct
    for a, b in zip(plain, stored, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-6)


def pair_sequences_digests(tokenizer):
    return [sequence_digest(p, r) for p, r in pair_sequences(pair_table(tokenizer))]


def test_the_cost_record_counts_reused_work_once_per_run(tokenizer, tmp_path):
    table = pair_table(tokenizer)
    model = adapter_model(tokenizer)
    earlier = FrozenReference(None, tmp_path).prepare(model, pair_sequences(table),
                                                      tokenizer.pad_token_id)
    meter = CostMeter()
    for _ in range(3):  # three grid models of one run read the store another run filled
        FrozenReference(None, tmp_path).prepare(model, pair_sequences(table),
                                                tokenizer.pad_token_id, meter)
    (note,) = meter.reused.values()
    assert note["train_seconds"] == pytest.approx(earlier.seconds, abs=1e-3)
    assert note["sequences_computed"] == 0 and note["computed_shards"] == []
    assert not note["computed_here"]
    fresh = CostMeter()
    FrozenReference(None, tmp_path / "other").prepare(model, pair_sequences(table),
                                                      tokenizer.pad_token_id, fresh)
    (own,) = fresh.reused.values()
    assert own["train_seconds"] == 0 and own["sequences_computed"] == earlier.computed
    assert own["computed_here"]  # printed apart from what was reused (mobench.run.results)


def test_sequence_digests_split_prompt_from_response():
    assert sequence_digest([1, 2], [3]) != sequence_digest([1], [2, 3])
    assert sequence_digest([1, 2], [3]) == sequence_digest(np.array([1, 2]), (3,))


def test_the_store_refuses_nothing_it_lacks(tmp_path):
    store = ReferenceLogpStore(tmp_path, "f" * 24)
    assert store.sequence_logprobs([b"x" * 16], "sum") is None


def test_a_stored_value_is_the_sequence_alone_whatever_shares_its_batch(tokenizer, tmp_path):
    """The fill batches sequences of one length without padding; each row must get the bits it
    gets in a forward of its own, so the store does not depend on which table filled it."""
    from mobench.engine.logprobs import token_logprobs

    model = adapter_model(tokenizer)
    model.eval()
    table = pair_table(tokenizer, n=24)
    reference = FrozenReference(None, tmp_path)
    reference.prepare(model, pair_sequences(table), tokenizer.pad_token_id)
    store = reference.store
    assert store is not None
    lengths = {len(p) + len(r) for p, r in pair_sequences(table)}
    assert len(lengths) < len(store.values)  # some batches hold several sequences
    for prompt, response in pair_sequences(table):
        tokens = collate([prompt], [response], tokenizer.pad_token_id)
        with torch.no_grad(), model.disable_adapter():
            alone = token_logprobs(model, tokens)[0].sum(dim=-1)
        stored = store.sequence_logprobs([sequence_digest(prompt, response)], "sum")
        assert torch.equal(stored, alone)
