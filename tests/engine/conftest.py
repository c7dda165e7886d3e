"""A toy world for the engine tests: a word-level tokenizer, tiny GPT-2 and Llama models, and
preference data where one objective likes "good" words and the other likes short answers."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from mobench.data.models import tiny_causal_lm, train_tokenizer

WORDS = ["good", "bad", "kind", "rude", "yes", "no", "please", "thanks", "maybe", "so"]
PROMPT_TEMPLATE = "user : {prompt} assistant :"


def format_prompt(prompt: str) -> str:
    return PROMPT_TEMPLATE.replace("{prompt}", prompt)


def toy_prompts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"question {' '.join(rng.choice(WORDS, 2))}" for _ in range(n)]


def toy_response(rng: np.random.Generator, good: int, length: int) -> str:
    others = [w for w in WORDS if w != "good"]
    words = ["good"] * good + list(rng.choice(others, length - good))
    return " ".join(rng.permutation(words))


def make_tokenizer():
    """Word-level enough that each toy word is one token (deterministic)."""
    texts = [format_prompt(f"question {w} {v}") for w in WORDS for v in WORDS]
    return train_tokenizer(texts + [" ".join(WORDS)] * 4, 96)


@pytest.fixture(scope="session")
def tokenizer():
    return make_tokenizer()


def build_model(architecture: str, tokenizer, seed: int = 0) -> torch.nn.Module:
    return tiny_causal_lm(architecture, len(tokenizer), n_layers=2, width=32, n_heads=2,
                          max_positions=64, seed=seed, pad_token_id=tokenizer.pad_token_id,
                          eos_token_id=tokenizer.eos_token_id)


def toy_pairs(n: int = 32, seed: int = 0) -> dict[str, datasets.Dataset]:
    """Pairs labelled for both objectives: "good" prefers more good words, "short" the shorter
    response; a pair's winners often differ between the two."""
    rng = np.random.default_rng(seed)
    rows: dict[str, dict[str, list[str]]] = {"good": {"prompt": [], "chosen": [], "rejected": []},
                                             "short": {"prompt": [], "chosen": [], "rejected": []}}
    for prompt in toy_prompts(n, seed):
        a = toy_response(rng, good=3, length=5)
        b = toy_response(rng, good=0, length=2)
        for name, winner, loser in (("good", a, b), ("short", b, a)):
            rows[name]["prompt"].append(prompt)
            rows[name]["chosen"].append(winner)
            rows[name]["rejected"].append(loser)
    return {name: datasets.Dataset.from_dict(cols) for name, cols in rows.items()}


def trainable_snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def unchanged(before: dict[str, torch.Tensor], model: torch.nn.Module) -> list[str]:
    after = dict(model.named_parameters())
    return [n for n, p in before.items() if torch.equal(p, after[n].detach())]
