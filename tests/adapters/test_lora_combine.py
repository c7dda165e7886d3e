"""Plain LoRA experts on one model: shared initialisation, save/load, λ-combinations (Rewarded
Soups' ``factors`` and ``delta``) merged with peft and served per row, mixed-adapter batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobench.adapters import (
    LoRASettings,
    PerRowMixture,
    activate_adapter,
    add_lora_adapter,
    generate_mixture,
    generate_with_adapters,
    load_adapters,
    merge,
    save_adapters,
)
from mobench.core.policy import generate_texts
from mobench.core.specs import DecodingConfig
from mobench.data.models import tiny_causal_lm, train_tokenizer

ARCHITECTURES = ["gpt2", "llama"]
EXPERTS = ["expert-0", "expert-1", "expert-2"]
GREEDY = DecodingConfig(max_new_tokens=6, do_sample=False)
PROMPTS = ["good kind words", "rude bad words", "maybe so yes"]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(["good kind words rude bad maybe so yes no please thanks"] * 8, 80)


def experts_model(architecture: str, tokenizer, n_experts: int = 3):  # type: ignore[no-untyped-def]
    """A tiny model with ``n_experts`` LoRA adapters from one seed, then moved apart at random
    (as training would move them) so that every combination is a different function."""
    model = tiny_causal_lm(architecture, len(tokenizer), n_layers=2, width=32, n_heads=2,
                           max_positions=64, seed=0, pad_token_id=tokenizer.pad_token_id,
                           eos_token_id=tokenizer.eos_token_id)
    settings = LoRASettings(rank=4, alpha=8.0)
    peft_model = None
    for name in EXPERTS[:n_experts]:
        peft_model = add_lora_adapter(peft_model or model, settings, name, seed=7)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_" in name:
                parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))
    return peft_model.eval()


def logits(model, tokenizer, texts):  # type: ignore[no-untyped-def]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**batch).logits


def test_experts_share_their_initialisation_and_only_the_active_one_trains(tokenizer):
    model = tiny_causal_lm("gpt2", len(tokenizer), n_layers=1, width=16, n_heads=2,
                           max_positions=32, seed=0)
    settings = LoRASettings(rank=2)
    peft_model = add_lora_adapter(model, settings, "first", seed=5)
    peft_model = add_lora_adapter(peft_model, settings, "second", seed=5)
    params = dict(peft_model.named_parameters())
    first_down = [n for n in params if ".lora_A.first." in n]
    assert first_down and all(torch.equal(params[n], params[n.replace(".first.", ".second.")])
                              for n in first_down)
    trainable = {n for n, p in params.items() if p.requires_grad}
    assert trainable and all(".second." in n for n in trainable)
    activate_adapter(peft_model, "first")
    assert all(".first." in n for n, p in peft_model.named_parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="already has an adapter named 'first'"):
        add_lora_adapter(peft_model, settings, "first", seed=5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("variant", ["factors", "delta"])
def test_per_row_mixture_equals_merging_each_preference(tokenizer, architecture, variant):
    model = experts_model(architecture, tokenizer)
    preferences = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.5, 0.5]])
    mixture = PerRowMixture(model, EXPERTS, variant)
    with mixture.rows(torch.tensor(preferences, dtype=torch.float32)):
        mixed = logits(model, tokenizer, PROMPTS)
    for row, weights in enumerate(preferences):
        merge(model, variant, EXPERTS, weights.tolist(), f"merged-{row}")
        activate_adapter(model, f"merged-{row}", trainable=False)
        merged = logits(model, tokenizer, PROMPTS)[row]
        torch.testing.assert_close(mixed[row], merged, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_factors_and_delta_agree_at_the_vertices_and_differ_inside(tokenizer, architecture):
    model = experts_model(architecture, tokenizer)
    preferences = torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    outputs = {}
    for variant in ("factors", "delta"):
        with PerRowMixture(model, EXPERTS, variant).rows(preferences):
            outputs[variant] = logits(model, tokenizer, PROMPTS)
    activate_adapter(model, "expert-1", trainable=False)
    expert = logits(model, tokenizer, PROMPTS)
    torch.testing.assert_close(outputs["factors"][0], expert[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outputs["delta"][0], expert[0], atol=1e-5, rtol=1e-5)
    for row in (1, 2):
        gap = (outputs["factors"][row] - outputs["delta"][row]).abs().max()
        assert gap > 1e-3, f"factors and delta agree inside the simplex (row {row}): {gap}"


@pytest.mark.parametrize("variant", ["factors", "delta"])
def test_a_front_in_one_generate_call_equals_one_merge_per_preference(tokenizer, variant):
    model = experts_model("gpt2", tokenizer)
    grid = np.array([[1.0, 0.0, 0.0], [0.4, 0.4, 0.2], [0.0, 0.0, 1.0]])
    prompts = PROMPTS * 3
    rows = np.repeat(grid, len(PROMPTS), axis=0)
    batched = generate_mixture(PerRowMixture(model, EXPERTS, variant), tokenizer, prompts,
                               rows, GREEDY, seed=4)
    for k, weights in enumerate(grid):
        merge(model, variant, EXPERTS, weights.tolist(), f"merged-{k}")
        activate_adapter(model, f"merged-{k}", trainable=False)
        assert batched[k * 3:(k + 1) * 3] == generate_texts(model, tokenizer, PROMPTS, GREEDY,
                                                            seed=4)


def test_mixed_adapter_batch_answers_each_row_with_its_adapter(tokenizer):
    model = experts_model("llama", tokenizer)
    names = ["expert-2", "expert-0", "expert-1"]
    batched = generate_with_adapters(model, tokenizer, PROMPTS, names, GREEDY, seed=0)
    for prompt, name, answer in zip(PROMPTS, names, batched, strict=True):
        activate_adapter(model, name, trainable=False)
        assert generate_texts(model, tokenizer, [prompt], GREEDY, seed=0)[0] == answer
    with pytest.raises(ValueError, match="no adapter named 'nope'"):
        generate_with_adapters(model, tokenizer, PROMPTS, ["nope"] * 3, GREEDY, seed=0)
    with pytest.raises(ValueError, match="3 prompts but 2 adapter names"):
        generate_with_adapters(model, tokenizer, PROMPTS, names[:2], GREEDY, seed=0)


def test_adapters_save_and_load_back_exactly(tokenizer, tmp_path):
    model = experts_model("gpt2", tokenizer, n_experts=2)
    save_adapters(model, tmp_path, EXPERTS[:2])
    fresh = tiny_causal_lm("gpt2", len(tokenizer), n_layers=2, width=32, n_heads=2,
                           max_positions=64, seed=0, pad_token_id=tokenizer.pad_token_id,
                           eos_token_id=tokenizer.eos_token_id)
    loaded = load_adapters(fresh, tmp_path, EXPERTS[:2])
    assert sorted(loaded.peft_config) == EXPERTS[:2]
    assert sorted(p.parent.name for p in tmp_path.glob("*/adapter_model.safetensors")) == \
        EXPERTS[:2]
    for name in EXPERTS[:2]:
        activate_adapter(model, name, trainable=False)
        activate_adapter(loaded, name, trainable=False)
        torch.testing.assert_close(logits(model, tokenizer, PROMPTS),
                                   logits(loaded, tokenizer, PROMPTS), atol=0, rtol=0)


def test_mixtures_refuse_bad_inputs(tokenizer):
    model = experts_model("gpt2", tokenizer, n_experts=2)
    with pytest.raises(ValueError, match="unknown mixture variant 'average'"):
        PerRowMixture(model, EXPERTS[:2], "average")
    with pytest.raises(ValueError, match="no adapter named 'expert-2'"):
        PerRowMixture(model, EXPERTS, "delta")
    mixture = PerRowMixture(model, EXPERTS[:2], "delta")
    with pytest.raises(ValueError, match=r"weights must be \(rows, 2\)"), \
            mixture.rows(torch.ones(3, 3)):
        pass
    with pytest.raises(ValueError, match="2 preference rows for a batch of 3 rows"), \
            mixture.rows(torch.ones(2, 2) / 2):
        logits(model, tokenizer, PROMPTS)
