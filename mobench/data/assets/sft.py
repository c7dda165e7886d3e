"""The reference policy: a stock GPT-2 causal LM SFT-trained on the miniature's corpus.

The loss covers the response and its end-of-sequence token only, not the prompt, as in ordinary
SFT. Prompt and response are tokenized apart and concatenated, which is exactly what the policy
sees at generation time (the formatted prompt, then its own tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mobench.data.assets.determinism import seeded_torch
from mobench.data.assets.training import final_loss, tokens_seen, train_asset
from mobench.data.models import tiny_causal_lm
from mobench.engine.causal_lm import CausalLMObjective
from mobench.engine.data import LengthGroupedOrder

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SFT_STREAM = 11  # numpy stream key of the SFT batch order


@dataclass(frozen=True)
class PolicyShape:
    """Architecture of a tiny GPT-2.

    Attributes:
        n_layers: transformer blocks.
        width: hidden size.
        n_heads: attention heads.
        max_positions: longest sequence (prompt plus response) in tokens.
    """

    n_layers: int = 2
    width: int = 128
    n_heads: int = 4
    max_positions: int = 128

    def __post_init__(self) -> None:
        if min(self.n_layers, self.width, self.n_heads, self.max_positions) < 1:
            raise ValueError("policy shape values must be positive")
        if self.width % self.n_heads:
            raise ValueError(f"width {self.width} is not divisible by n_heads {self.n_heads}")


@dataclass(frozen=True)
class SFTSettings:
    """Optimisation of the reference policy's SFT.

    Attributes:
        steps: optimizer steps.
        batch_size: sequences per step.
        learning_rate: peak AdamW learning rate (warm-up then cosine decay).
        weight_decay: AdamW weight decay on matrices.
    """

    steps: int = 700
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 0.01

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("SFT steps and batch size must be positive")
        if not self.learning_rate > 0:
            raise ValueError("the SFT learning rate must be positive")


def encode_examples(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
                    responses: Sequence[str]) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids + end-of-sequence) per example."""
    prompt_ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(list(responses), add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    return [(p, r + [eos]) for p, r in zip(prompt_ids, response_ids, strict=True)]


def train_reference_policy(folder: Path, tokenizer: PreTrainedTokenizerBase,
                           prompts: Sequence[str], responses: Sequence[str], shape: PolicyShape,
                           settings: SFTSettings, seed: int) -> dict[str, Any]:
    """SFT a fresh tiny GPT-2 on (formatted prompt, response) pairs; save model and tokenizer into
    ``folder``; return the build record (tokens per second, final loss...)."""
    examples = encode_examples(tokenizer, prompts, responses)
    longest = max(len(p) + len(r) for p, r in examples)
    if longest > shape.max_positions:
        raise ValueError(f"an SFT example has {longest} tokens, more than max_positions "
                         f"{shape.max_positions}")
    with seeded_torch(seed):
        model = tiny_causal_lm("gpt2", len(tokenizer), n_layers=shape.n_layers,
                               width=shape.width, n_heads=shape.n_heads,
                               max_positions=shape.max_positions, seed=seed,
                               pad_token_id=tokenizer.pad_token_id,
                               eos_token_id=tokenizer.eos_token_id)
        # transformers infers the loss from the class name, which GPT2LMHeadModel does not match
        # (it warns and falls back to the causal-LM loss); name that loss outright.
        model.loss_type = "ForCausalLM"
        order = LengthGroupedOrder([len(p) + len(r) for p, r in examples], settings.batch_size,
                                   (seed, SFT_STREAM), reverse=True)
        objective = CausalLMObjective(examples, order, tokenizer.pad_token_id)
        result = train_asset(model, objective, steps=settings.steps,
                             batch_size=settings.batch_size,
                             learning_rate=settings.learning_rate,
                             weight_decay=settings.weight_decay, seed=seed,
                             progress_desc="SFT reference policy")
    model.eval()
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    tokens = tokens_seen(result)
    return {"architecture": "gpt2", "parameters": int(sum(p.numel() for p in model.parameters())),
            "steps": settings.steps, "tokens": tokens, "train_seconds": result.seconds,
            "tokens_per_second": round(tokens / result.seconds, 1),
            "final_loss": round(final_loss(result), 4)}


def load_reference_policy(folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The saved policy and its tokenizer (safetensors, no remote code)."""
    from mobench.data.models import load_causal_lm

    model, tokenizer = load_causal_lm(str(folder), trust_remote_code=False, dtype="float32")
    model.eval()
    return model, tokenizer
