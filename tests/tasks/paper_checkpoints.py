"""Builders for the paper-scale tests: tiny checkpoints and fixture datasets in the real formats.

Everything is written into a temporary folder by the tests themselves (no committed binaries):

* a tiny random Llama causal LM (the policy) saved with ``save_pretrained``;
* a tiny safe-rlhf ``LlamaForScore`` checkpoint (beaver format): a Llama backbone's weights under
  ``model.*`` and a ``score_head`` written with safetensors, sharded with an index as the real
  beaver-7b repositories are, and a config.json naming the architecture ``LlamaForScore``;
* a tiny GPT-2 sequence classifier (the Ray2333 format) saved with ``save_pretrained``;
* JSONL data files in the layouts and schemas of PKU-SafeRLHF, hh-rlhf and Alpaca.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import torch

from mobench.data.models import tiny_causal_lm, train_tokenizer

WIDTH = 32

PKU_TRAIN = [
    {"prompt": "How do I pick a lock?", "response_0": "I can't help with that.",
     "response_1": "Use a tension wrench and a pick.", "is_response_0_safe": True,
     "is_response_1_safe": False, "better_response_id": 1, "safer_response_id": 0},
    {"prompt": "What is a good breakfast?", "response_0": "Oatmeal with fruit.",
     "response_1": "Nothing.", "is_response_0_safe": True, "is_response_1_safe": True,
     "better_response_id": 0, "safer_response_id": 1},
    {"prompt": "How do I pick a lock?", "response_0": "Call a locksmith.",
     "response_1": "Break the door.", "is_response_0_safe": True, "is_response_1_safe": False,
     "better_response_id": 0, "safer_response_id": 0},
    {"prompt": "Tell me a joke.", "response_0": "Why did the chicken cross the road?",
     "response_1": "Why did the chicken cross the road?", "is_response_0_safe": True,
     "is_response_1_safe": True, "better_response_id": 0, "safer_response_id": 1},
    {"prompt": "How can I hurt someone?", "response_0": "Please talk to someone you trust.",
     "response_1": "Hit them hard.", "is_response_0_safe": True, "is_response_1_safe": False,
     "better_response_id": 1, "safer_response_id": 0},
]
PKU_TEST = [
    {"prompt": "Where is Paris?", "response_0": "In France.", "response_1": "Nowhere.",
     "is_response_0_safe": True, "is_response_1_safe": True, "better_response_id": 0,
     "safer_response_id": 0},
    {"prompt": "How do I make a weapon?", "response_0": "I won't help.",
     "response_1": "Take a knife.", "is_response_0_safe": True, "is_response_1_safe": False,
     "better_response_id": 1, "safer_response_id": 0},
    {"prompt": "Where is Paris?", "response_0": "France.", "response_1": "In Europe.",
     "is_response_0_safe": True, "is_response_1_safe": True, "better_response_id": 1,
     "safer_response_id": 1},
]


def _pku_row(row: dict[str, Any], index: int) -> dict[str, Any]:
    """A fixture row completed with the columns of the real schema the task does not read."""
    category = {"Endangering National Security": False, "Violence": index % 2 == 0}
    return {**row, "prompt_source": "Alpaca-7B", "response_0_source": "Alpaca-7B",
            "response_1_source": "Alpaca-7B", "response_0_severity_level": index % 3,
            "response_1_severity_level": (index + 1) % 3, "response_0_harm_category": category,
            "response_1_harm_category": category, "response_0_sha256": f"{index:064x}",
            "response_1_sha256": f"{index + 1:064x}"}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def write_pku_dataset(root: Path, data_dir: str = "") -> Path:
    """PKU-SafeRLHF in the hub layout: ``<root>/<data_dir>/{train,test}.jsonl``."""
    folder = root / data_dir if data_dir else root
    write_jsonl(folder / "train.jsonl", [_pku_row(r, i) for i, r in enumerate(PKU_TRAIN)])
    write_jsonl(folder / "test.jsonl", [_pku_row(r, i) for i, r in enumerate(PKU_TEST)])
    return root


def dialogue(*turns: str) -> str:
    """An hh-rlhf transcript from alternating human and assistant turns."""
    roles = ("Human", "Assistant")
    return "".join(f"\n\n{roles[i % 2]}: {text}" for i, text in enumerate(turns))


HELPFUL_TRAIN = [
    {"chosen": dialogue("What is 2+2?", "It is 4."),
     "rejected": dialogue("What is 2+2?", "No idea.")},
    {"chosen": dialogue("Hi", "Hello! How can I help?", "Name a fruit.", "An apple."),
     "rejected": dialogue("Hi", "Hello! How can I help?", "Name a fruit.", "A car.")},
]
HARMLESS_TRAIN = [
    {"chosen": dialogue("How do I steal a car?", "I can't help with that."),
     "rejected": dialogue("How do I steal a car?", "Break the window first.")},
    # malformed: no assistant turn at all; must be skipped, not break the whole load
    {"chosen": "\n\nHuman: hello there", "rejected": "\n\nHuman: hello again"},
]
HELPFUL_TEST = [{"chosen": dialogue("Capital of France?", "Paris."),
                 "rejected": dialogue("Capital of France?", "Rome.")}]
HARMLESS_TEST = [{"chosen": dialogue("Insult me.", "I'd rather not."),
                  "rejected": dialogue("Insult me.", "You fool.")},
                 {"chosen": dialogue("Capital of France?", "Paris, of course."),
                  "rejected": dialogue("Capital of France?", "Go away.")}]


def write_hh_rlhf_dataset(root: Path) -> Path:
    """hh-rlhf in the hub layout: ``<root>/{helpful,harmless}-base/{train,test}.jsonl.gz``."""
    write_jsonl(root / "helpful-base" / "train.jsonl.gz", HELPFUL_TRAIN)
    write_jsonl(root / "helpful-base" / "test.jsonl.gz", HELPFUL_TEST)
    write_jsonl(root / "harmless-base" / "train.jsonl.gz", HARMLESS_TRAIN)
    write_jsonl(root / "harmless-base" / "test.jsonl.gz", HARMLESS_TEST)
    return root


ALPACA_ROWS = [
    {"instruction": f"Give me tip number {i}.", "input": "about cooking" if i % 2 else "",
     "output": f"Tip {i}: taste as you go.", "text": "..."}
    for i in range(12)
]


def write_alpaca_dataset(root: Path) -> Path:
    """Alpaca in the hub layout (one train split): ``<root>/data/train-00000-of-00001.parquet``."""
    import datasets

    folder = root / "data"
    folder.mkdir(parents=True, exist_ok=True)
    table = datasets.Dataset.from_list(ALPACA_ROWS)
    table.to_parquet(str(folder / "train-00000-of-00001.parquet"))
    return root


# ---------------------------------------------------------------------------------------------
# Tiny models

CORPUS = ([" ".join((r["prompt"], r["response_0"], r["response_1"])) for r in PKU_TRAIN + PKU_TEST]
          + [r["chosen"] + r["rejected"] for r in HELPFUL_TRAIN + HARMLESS_TRAIN]
          + [r["instruction"] + " " + r["input"] + " " + r["output"] for r in ALPACA_ROWS]
          + ["BEGINNING OF CONVERSATION: USER: ASSISTANT: Human: Assistant:"] * 3)


def tiny_tokenizer():  # type: ignore[no-untyped-def]
    return train_tokenizer(CORPUS, vocab_size=300)


def save_policy(folder: Path, tokenizer: Any) -> Path:
    """A tiny random Llama causal LM and its tokenizer, saved with ``save_pretrained``."""
    model = tiny_causal_lm("llama", len(tokenizer), n_layers=1, width=WIDTH, n_heads=2,
                           pad_token_id=tokenizer.pad_token_id,
                           eos_token_id=tokenizer.eos_token_id)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_beaver_checkpoint(folder: Path, tokenizer: Any, seed: int, *, score_bias: bool = True
                           ) -> tuple[Any, torch.Tensor, torch.Tensor | None]:
    """A tiny ``LlamaForScore`` checkpoint in the beaver-7b layout (two safetensors shards and an
    index). Returns the backbone, head weight and head bias, for computing scores by hand."""
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaModel

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=WIDTH, intermediate_size=2 * WIDTH,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=False)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = LlamaModel(config).eval()
    head_weight = torch.randn(1, WIDTH, generator=generator)
    head_bias = torch.randn(1, generator=generator) if score_bias else None
    weights = {f"model.{k}": v.detach().clone().contiguous()
               for k, v in backbone.state_dict().items()}
    weights["score_head.weight"] = head_weight
    if head_bias is not None:
        weights["score_head.bias"] = head_bias
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(weights)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    weight_map = {}
    for shard, keys in shards.items():
        save_file({k: weights[k] for k in keys}, str(folder / shard), metadata={"format": "pt"})
        weight_map.update({k: shard for k in keys})
    total = sum(v.numel() * v.element_size() for v in weights.values())
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}))
    fields = config.to_dict()
    fields.update(architectures=["LlamaForScore"], score_dim=1, score_bias=score_bias,
                  bias=False, do_normalize=False, normalizer_type=None, score_type="reward",
                  dtype="float32")
    (folder / "config.json").write_text(json.dumps(fields))
    tokenizer.save_pretrained(folder)
    return backbone, head_weight, head_bias


def beaver_score_by_hand(backbone: Any, head_weight: torch.Tensor, head_bias: torch.Tensor | None,
                         tokenizer: Any, text: str) -> float:
    """The head applied to the backbone's hidden state at the text's last token."""
    ids = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        last = backbone(**ids).last_hidden_state[0, -1]
    score = last @ head_weight[0]
    return float(score + head_bias[0]) if head_bias is not None else float(score)


def save_gpt2_classifier(folder: Path, tokenizer: Any, seed: int) -> Any:
    """A tiny GPT-2 sequence classifier (one label: the reward), saved with ``save_pretrained``."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=WIDTH, n_layer=1,
                        n_head=2, num_labels=1, pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2ForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model
