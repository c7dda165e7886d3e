"""SVD-LoRA (Panacea's adapter): zero at init, λ slots, per-row λ, peft save/load/merge/export."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel
from peft.tuners.lora import Linear as PeftLoraLinear
from safetensors.torch import load_file

from mobench.adapters import (
    SVDLoRAConfig,
    SVDLoRALinear,
    add_svd_lora,
    count_parameters,
    export_lora_adapter,
    generate_at_preferences,
    load_svd_lora,
    merge_at_preference,
    preference_tensor,
    preferences_set,
    set_preferences,
    svd_lora_layers,
)
from mobench.core.specs import DecodingConfig
from mobench.data.models import tiny_causal_lm, train_tokenizer

ARCHITECTURES = ["gpt2", "llama"]
VOCAB = 200
WIDTH = 32
RANK = 8
PREFERENCES = [[1.0, 0.0], [0.5, 0.5], [0.2, 0.8], [0.0, 1.0]]
EXPECTED_LAYERS = {
    "gpt2": {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"},
    "llama": {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"},
}
CORPUS = ["the cat sat on the mat", "a dog ran in the park", "helpful and harmless answers",
          "short replies are concise", "tell me a joke about cats", "why is the sky blue"] * 4
PROMPTS = ["the cat", "tell me a joke", "why is", "a dog ran in the"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and two threads crawl when the cores are shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(CORPUS, vocab_size=VOCAB)


def base_model(architecture: str):
    return tiny_causal_lm(architecture, VOCAB, n_layers=2, width=WIDTH, seed=3).eval()


def adapted(architecture: str, *, trained: bool = True):
    """An SVD-LoRA model; ``trained`` gives σ and s non-zero values, as after some training."""
    torch.manual_seed(0)
    model = add_svd_lora(base_model(architecture), SVDLoRAConfig(n_preferences=2, rank=RANK))
    if trained:
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for layer in svd_lora_layers(model).values():
                layer.sigma("default").normal_(generator=generator)
                layer.pref_scale("default").normal_(std=2.0, generator=generator)
    return model.eval()


def token_batch(n_rows: int = 3, length: int = 6) -> dict[str, torch.Tensor]:
    ids = torch.randint(3, VOCAB, (n_rows, length), generator=torch.Generator().manual_seed(7))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def logits_at(model, batch, preferences) -> torch.Tensor:
    with torch.no_grad(), preferences_set(model, preferences):
        return model(**batch).logits


def greedy_tokens(model, batch, preferences, max_new_tokens: int = 12) -> torch.Tensor:
    with torch.no_grad(), preferences_set(model, preferences):
        output = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=0, eos_token_id=None)
    return output[:, batch["input_ids"].shape[1]:]


def front_batch(batch, preferences):
    """Every prompt at every preference: rows ordered preference-major."""
    n_prompts, n_prefs = batch["input_ids"].shape[0], len(preferences)
    rows = {k: v.repeat(n_prefs, 1) for k, v in batch.items()}
    return rows, torch.tensor(preferences).repeat_interleave(n_prompts, dim=0)


def effective_delta(layer: SVDLoRALinear) -> torch.Tensor:
    """W_eff − W0 in (out, in) layout, measured through the forward pass on the identity."""
    identity = torch.eye(layer.in_features).unsqueeze(0)
    with torch.no_grad():
        return (layer(identity) - layer.base_layer(identity))[0].T


def hand_delta(layer: SVDLoRALinear, preference: list[float]) -> torch.Tensor:
    """scale · U · diag(σ, s·λ) · Vᵀ, in float64."""
    U = layer.lora_B["default"].weight.double()
    V = layer.lora_A["default"].weight.double().T
    sigma = layer.sigma("default").double()
    s = layer.pref_scale("default").double()
    diagonal = torch.cat([sigma, s * torch.tensor(preference, dtype=torch.float64)])
    return (512.0 / RANK) * U @ torch.diag(diagonal) @ V.T


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_zero_delta_at_init_for_every_preference(architecture):
    model, reference = adapted(architecture, trained=False), base_model(architecture)
    batch = token_batch(n_rows=len(PREFERENCES))
    with torch.no_grad():
        expected = reference(**batch).logits
    for preference in PREFERENCES:
        assert torch.equal(logits_at(model, batch, preference), expected)
    assert torch.equal(logits_at(model, batch, PREFERENCES), expected)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_adapts_every_decoder_block_linear_and_nothing_else(architecture):
    model = adapted(architecture, trained=False)
    names = set(svd_lora_layers(model))
    blocks = "transformer.h" if architecture == "gpt2" else "model.layers"
    expected = {f"base_model.model.{blocks}.{i}.{layer}"
                for i in range(2) for layer in EXPECTED_LAYERS[architecture]}
    assert names == expected
    inner = model.get_base_model()
    assert not isinstance(inner.get_output_embeddings(), SVDLoRALinear)
    assert isinstance(inner.get_input_embeddings(), torch.nn.Embedding)
    # only σ, s, U, V train: per layer (k+m)(in+out) + k + 1, summed by hand for width 32
    assert count_parameters(model).trainable == {"gpt2": 10312, "llama": 11006}[architecture]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_effective_weight_is_the_svd_formula_and_lambda_moves_only_its_slots(architecture):
    model = adapted(architecture)
    for name, layer in svd_lora_layers(model).items():
        deltas = {}
        for preference in ([0.3, 0.7], [0.9, 0.1]):
            set_preferences(model, preference)
            deltas[tuple(preference)] = effective_delta(layer)
            expected = hand_delta(layer, preference).float()
            torch.testing.assert_close(deltas[tuple(preference)], expected, rtol=1e-4,
                                       atol=1e-5, msg=name)
        # W(λ1) − W(λ2) = scale · s · U_m · diag(λ1 − λ2) · V_mᵀ: only the m preference slots
        U_m = layer.lora_B["default"].weight[:, RANK:].double()
        V_m = layer.lora_A["default"].weight[RANK:].double().T
        s = layer.pref_scale("default").double()
        slots = (512.0 / RANK) * s * U_m @ torch.diag(torch.tensor([-0.6, 0.6]).double()) @ V_m.T
        torch.testing.assert_close(deltas[(0.3, 0.7)] - deltas[(0.9, 0.1)], slots.float(),
                                   rtol=1e-4, atol=1e-5, msg=name)


def test_preference_is_neither_parameter_nor_saved_nor_optimized(tmp_path):
    model = adapted("llama")
    set_preferences(model, [0.25, 0.75])
    layer = next(iter(svd_lora_layers(model).values()))
    preference = layer.svd_preferences
    assert preference is not None and not preference.requires_grad
    assert all(p is not preference for p in model.parameters())
    assert not any("preferences" in key for key in model.state_dict())
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable)
    assert all(p is not preference for group in optimizer.param_groups for p in group["params"])
    model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "adapter_model.safetensors")
    assert {".".join(key.split(".")[-2:]) for key in saved} == {
        "lora_A.weight", "lora_B.weight", "lora_svd_diagonal.sigma", "lora_svd_diagonal.pref_scale"}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_per_row_preferences_equal_one_preference_at_a_time(architecture):
    model, batch = adapted(architecture), token_batch(n_rows=3)
    rows, row_preferences = front_batch(batch, PREFERENCES)
    batched_tokens = greedy_tokens(model, rows, row_preferences)
    batched_logits = logits_at(model, rows, row_preferences)
    n_prompts = batch["input_ids"].shape[0]
    separate = []
    for i, preference in enumerate(PREFERENCES):
        block = slice(i * n_prompts, (i + 1) * n_prompts)
        tokens = greedy_tokens(model, batch, preference)
        assert torch.equal(batched_tokens[block], tokens)
        torch.testing.assert_close(batched_logits[block], logits_at(model, batch, preference),
                                   rtol=0, atol=1e-5)
        separate.append(tokens)
    # λ matters for this adapter, so the equality above is not vacuous
    assert len({tuple(t.flatten().tolist()) for t in separate}) >= 3


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_generate_at_preferences_serves_a_front_in_one_call(architecture, tokenizer):
    model, decoding = adapted(architecture), DecodingConfig(max_new_tokens=10, do_sample=False)
    prompts = [p for _ in PREFERENCES for p in PROMPTS]
    rows = torch.tensor(PREFERENCES).repeat_interleave(len(PROMPTS), dim=0)
    front = generate_at_preferences(model, tokenizer, prompts, rows, decoding, seed=5)
    one_at_a_time = [g for preference in PREFERENCES
                     for g in generate_at_preferences(model, tokenizer, PROMPTS, preference,
                                                      decoding, seed=5)]
    assert front == one_at_a_time
    assert sum(g.n_tokens for g in front) > 0


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_save_load_round_trip_in_safetensors(architecture, tmp_path):
    model, batch = adapted(architecture), token_batch(n_rows=2)
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("adapter_model.*")) == ["adapter_model.safetensors"]
    loaded = load_svd_lora(base_model(architecture), tmp_path).eval()
    preferences = [[0.3, 0.7], [0.8, 0.2]]
    assert torch.equal(logits_at(loaded, batch, preferences), logits_at(model, batch, preferences))
    # plain peft refuses the folder loudly (U, V are k+m wide, the config says r = k)
    with pytest.raises(RuntimeError, match="size mismatch"), pytest.warns(UserWarning):
        PeftModel.from_pretrained(base_model(architecture), tmp_path)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_merge_at_a_fixed_preference_equals_the_unmerged_model(architecture):
    model, batch = adapted(architecture), token_batch()
    expected = logits_at(model, batch, [0.4, 0.6])
    with pytest.raises(RuntimeError, match="set_preferences"):
        model.merge_adapter()  # a merge needs a λ
    set_preferences(model, [0.4, 0.6])
    model.merge_adapter()
    with pytest.raises(ValueError, match="merged"):
        set_preferences(model, [0.5, 0.5])
    model.unmerge_adapter()
    merged = merge_at_preference(model, [0.4, 0.6])
    assert not svd_lora_layers(merged)
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_export_is_a_plain_lora_adapter_with_the_same_outputs(architecture, tmp_path):
    model, batch = adapted(architecture), token_batch()
    preference = [0.35, 0.65]
    export_lora_adapter(model, preference, tmp_path)
    plain = PeftModel.from_pretrained(base_model(architecture), tmp_path).eval()
    config = plain.peft_config["default"]
    assert type(config) is LoraConfig and config.r == RANK + 2
    assert config.fan_in_fan_out == (architecture == "gpt2")
    layers = [m for m in plain.modules() if isinstance(m, PeftLoraLinear)]
    assert len(layers) == 2 * len(EXPECTED_LAYERS[architecture])
    assert not any(isinstance(m, SVDLoRALinear) for m in layers)
    with torch.no_grad():
        torch.testing.assert_close(plain(**batch).logits, logits_at(model, batch, preference),
                                   rtol=0, atol=1e-5)
        plain_tokens = plain.generate(**batch, max_new_tokens=12, do_sample=False,
                                      pad_token_id=0, eos_token_id=None)[:, 6:]
    assert torch.equal(plain_tokens, greedy_tokens(model, batch, preference))
    # peft's own merge of the exported adapter lands on the same weights as SVD-LoRA's merge
    with torch.no_grad():
        torch.testing.assert_close(plain.merge_and_unload()(**batch).logits,
                                   merge_at_preference(model, preference)(**batch).logits,
                                   rtol=0, atol=1e-5)


PLAIN_PEFT_SCRIPT = textwrap.dedent("""
    import sys
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    base_dir, adapter_dir, ids_path, out_path, threads = sys.argv[1:]
    torch.set_num_threads(int(threads))  # the parent's count: the sums' bits depend on it
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), adapter_dir)
    with torch.no_grad():
        logits = model.eval()(input_ids=torch.load(ids_path)).logits
    assert not any(name.startswith("mobench") for name in sys.modules), "mobench was imported"
    torch.save(logits, out_path)
""")


def test_export_loads_in_a_process_without_mobench(tmp_path: Path):
    model, batch = adapted("gpt2"), token_batch()
    base_model("gpt2").save_pretrained(tmp_path / "base")
    export_lora_adapter(model, [0.6, 0.4], tmp_path / "adapter")
    torch.save(batch["input_ids"], tmp_path / "ids.pt")
    script = tmp_path / "serve.py"
    script.write_text(PLAIN_PEFT_SCRIPT)
    paths = [str(tmp_path / name) for name in ("base", "adapter", "ids.pt", "logits.pt")]
    done = subprocess.run([sys.executable, str(script), *paths, str(torch.get_num_threads())],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    torch.testing.assert_close(torch.load(tmp_path / "logits.pt"),
                               logits_at(model, batch, [0.6, 0.4]), rtol=0, atol=1e-5)


def test_gradient_reaches_sigma_s_u_v_and_never_lambda():
    model = adapted("llama", trained=False).train()
    named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert {".".join(n.split(".")[-3::2]) for n in named} == {
        "lora_A.weight", "lora_B.weight", "lora_svd_diagonal.sigma", "lora_svd_diagonal.pref_scale"}
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    optimizer = torch.optim.Adam(named.values(), lr=1e-2)
    batch, preferences = token_batch(n_rows=3), torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.1, 0.9]])
    set_preferences(model, preferences)  # training-time per-row λ
    preference_before = next(iter(svd_lora_layers(model).values())).svd_preferences.clone()
    changed = []
    for _ in range(2):
        before = {n: p.detach().clone() for n, p in named.items()}
        optimizer.zero_grad()
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        optimizer.step()
        changed.append({n for n, p in named.items() if not torch.equal(p, before[n])})
    # step 1: σ = s = 0 makes the gradient to U and V exactly zero, so only σ and s move;
    # step 2: with σ, s ≠ 0 every trainable tensor moves.
    assert changed[0] == {n for n in named if "lora_svd" in n}
    assert changed[1] == set(named)
    for layer in svd_lora_layers(model).values():
        assert torch.equal(layer.svd_preferences, preference_before)
        assert layer.svd_preferences.grad is None
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)


@pytest.mark.parametrize(("preferences", "message"), [
    ([0.2, 0.3, 0.5], "width m = 2"),
    ([1.2, -0.2], "non-negative"),
    ([0.5, 0.6], "sum to 1"),
    ([[[0.5, 0.5]]], r"\(m,\) or \(rows, m\)"),
    ([float("nan"), 1.0], "finite"),
])
def test_bad_preferences_are_refused(preferences, message):
    model = adapted("gpt2", trained=False)
    with pytest.raises(ValueError, match=message):
        set_preferences(model, preferences)


def test_preference_rows_must_match_the_batch(tokenizer):
    model = adapted("gpt2")
    with pytest.raises(ValueError, match="3 preference rows but the batch has 2 rows"):
        logits_at(model, token_batch(n_rows=2), PREFERENCES[:3])
    with pytest.raises(ValueError, match="4 prompts but 2 preference rows"):
        generate_at_preferences(model, tokenizer, PROMPTS, PREFERENCES[:2],
                                DecodingConfig(max_new_tokens=2), seed=0)
    with pytest.raises(ValueError, match="Beam search"), preferences_set(model, PREFERENCES[:2]):
        model.generate(**token_batch(n_rows=2), num_beams=2, max_new_tokens=2, pad_token_id=0)
    set_preferences(model, None)
    with pytest.raises(RuntimeError, match="set_preferences"):
        model(**token_batch())


def test_config_defaults_and_validation():
    config = SVDLoRAConfig(n_preferences=3)
    assert (config.rank, config.scale, config.init_std) == (8, 64.0, 0.02)
    with pytest.raises(ValueError, match="n_preferences"):
        SVDLoRAConfig(n_preferences=1)
    with pytest.raises(ValueError, match="rank"):
        SVDLoRAConfig(n_preferences=2, rank=0)
    assert preference_tensor([0.25, 0.75], 2).shape == (1, 2)
