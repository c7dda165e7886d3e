"""Per-objective reward models: GPT-2 sequence classifiers trained with the Bradley-Terry loss.

Each reward model starts from the reference policy's transformer (as RLHF pipelines start theirs
from the SFT model) with a fresh one-output score head, reads the formatted prompt followed by the
response, and is trained on that objective's (chosen, rejected) pairs to minimise
``-log sigmoid(r(chosen) - r(rejected))``.

At build time it is checked on held-out pairs against the *noise-free* ground truth (pairwise
accuracy over untied pairs), and calibrated: an affine map ``a * r + b`` fitted by least squares to
the exact scores of the held-out responses puts its outputs in the exact scorer's units, so one
set of objective bounds normalises both scorer sets.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mobench.data.assets.determinism import seeded_torch
from mobench.data.assets.training import final_loss, tokens_seen, train_asset
from mobench.data.reward_models import RewardModelScorer
from mobench.engine.bradley_terry import BradleyTerryObjective
from mobench.engine.data import LengthGroupedOrder, pad_right

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

RM_STREAM = 23  # numpy stream key of the reward model's batch order
CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class RewardModelSettings:
    """Optimisation of a reward model.

    Attributes:
        epochs: passes over the objective's pairs.
        batch_size: pairs per step.
        learning_rate: peak AdamW learning rate (warm-up then cosine decay).
        weight_decay: AdamW weight decay on matrices.
    """

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.01

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("reward-model epochs and batch size must be positive")
        if not self.learning_rate > 0:
            raise ValueError("the reward-model learning rate must be positive")


@dataclass(frozen=True)
class HeldOutPairs:
    """Held-out responses with their noise-free ground truth, for accuracy and calibration.

    Attributes:
        texts_0: reward-model inputs of the first responses.
        texts_1: reward-model inputs of the second responses.
        truth_0: exact scores of the first responses.
        truth_1: exact scores of the second responses.
    """

    texts_0: tuple[str, ...]
    texts_1: tuple[str, ...]
    truth_0: tuple[float, ...]
    truth_1: tuple[float, ...]


def reward_input(prompt_template: str, prompt: str, response: str) -> str:
    """What a reward model reads: the formatted prompt, a space, the response."""
    return f"{prompt_template.replace('{prompt}', prompt)} {response}"


def held_out_pairs(prompt_template: str, prompts: Sequence[str],
                   responses: Sequence[tuple[str, str]],
                   truth: Callable[[str, str], float]) -> HeldOutPairs:
    """Held-out pairs as reward-model inputs, with ``truth(prompt, response)`` of each side."""
    pairs = list(zip(prompts, responses, strict=True))
    return HeldOutPairs(
        texts_0=tuple(reward_input(prompt_template, p, r0) for p, (r0, _) in pairs),
        texts_1=tuple(reward_input(prompt_template, p, r1) for p, (_, r1) in pairs),
        truth_0=tuple(truth(p, r0) for p, (r0, _) in pairs),
        truth_1=tuple(truth(p, r1) for p, (_, r1) in pairs))


def labelled_pairs(prompt_template: str, prompts: Sequence[str],
                   responses: Sequence[tuple[str, str]],
                   preferred: Sequence[int]) -> tuple[list[str], list[str]]:
    """(chosen, rejected) reward-model inputs of labelled pairs (``preferred``: 0 or 1)."""
    chosen, rejected = [], []
    for prompt, pair, i in zip(prompts, responses, preferred, strict=True):
        chosen.append(reward_input(prompt_template, prompt, pair[int(i)]))
        rejected.append(reward_input(prompt_template, prompt, pair[1 - int(i)]))
    return chosen, rejected


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence the expected "newly initialized score head" warning while loading."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def score_texts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
    """Raw reward-model outputs (logit 0) of ``texts``."""
    import torch

    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    out: list[np.ndarray] = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(ids), batch_size):
            batch, mask = pad_right(ids[start:start + batch_size], tokenizer.pad_token_id)
            out.append(model(input_ids=batch, attention_mask=mask).logits[:, 0].numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def pairwise_accuracy(scores_0: np.ndarray, scores_1: np.ndarray, truth_0: np.ndarray,
                      truth_1: np.ndarray) -> float:
    """Share of untied pairs the scores order as the truth does (a tie in scores counts wrong)."""
    truth = np.sign(np.asarray(truth_1) - np.asarray(truth_0))
    predicted = np.sign(np.asarray(scores_1) - np.asarray(scores_0))
    untied = truth != 0
    return float(np.mean(predicted[untied] == truth[untied]))


def fit_calibration(raw: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Least-squares ``truth ~ scale * raw + offset``; returns (scale, offset, R^2)."""
    raw, truth = np.asarray(raw, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    design = np.stack([raw, np.ones_like(raw)], axis=1)
    (scale, offset), *_ = np.linalg.lstsq(design, truth, rcond=None)
    residual = truth - (scale * raw + offset)
    r2 = 1.0 - residual.var() / truth.var() if truth.var() > 0 else 0.0
    return float(scale), float(offset), float(r2)


def train_reward_model(folder: Path, policy_folder: Path, tokenizer: PreTrainedTokenizerBase,
                       chosen: Sequence[str], rejected: Sequence[str], held_out: HeldOutPairs,
                       settings: RewardModelSettings, seed: int,
                       objective_name: str) -> dict[str, Any]:
    """Train, check and calibrate one reward model; save it into ``folder``; return the record."""
    import torch
    from transformers import GPT2ForSequenceClassification

    chosen_ids = tokenizer(list(chosen), add_special_tokens=False)["input_ids"]
    rejected_ids = tokenizer(list(rejected), add_special_tokens=False)["input_ids"]
    n_pairs = len(chosen_ids)
    order = LengthGroupedOrder([max(len(c), len(r)) for c, r in zip(chosen_ids, rejected_ids,
                                                                       strict=True)],
                               settings.batch_size, (seed, RM_STREAM))
    total = order.steps_in_epochs(settings.epochs)
    with seeded_torch(seed), _quiet_transformers():
        # the fresh score head draws from the seeded generator; training's dropout continues it
        model = GPT2ForSequenceClassification.from_pretrained(
            str(policy_folder), num_labels=1, trust_remote_code=False, dtype=torch.float32)
        model.config.pad_token_id = tokenizer.pad_token_id
        objective = BradleyTerryObjective(chosen_ids, rejected_ids, order,
                                          tokenizer.pad_token_id)
        result = train_asset(model, objective, steps=total, batch_size=settings.batch_size,
                             learning_rate=settings.learning_rate,
                             weight_decay=settings.weight_decay, seed=seed,
                             progress_desc=f"reward model: {objective_name}",
                             seed_generators=False)
    seconds = result.seconds
    tokens = tokens_seen(result)
    raw_0 = score_texts(model, tokenizer, held_out.texts_0)
    raw_1 = score_texts(model, tokenizer, held_out.texts_1)
    accuracy = pairwise_accuracy(raw_0, raw_1, np.asarray(held_out.truth_0),
                                 np.asarray(held_out.truth_1))
    scale, offset, r2 = fit_calibration(np.concatenate([raw_0, raw_1]),
                                        np.asarray(held_out.truth_0 + held_out.truth_1))
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    calibration = {"scale": scale, "offset": offset, "r2": round(r2, 4)}
    (folder / CALIBRATION_FILE).write_text(json.dumps(calibration, indent=2), encoding="utf-8")
    untied = int(np.sum(np.asarray(held_out.truth_0) != np.asarray(held_out.truth_1)))
    return {"objective": objective_name, "pairs": n_pairs, "steps": total, "tokens": tokens,
            "train_seconds": round(seconds, 3), "tokens_per_second": round(tokens / seconds, 1),
            "final_loss": round(final_loss(result), 4),
            "held_out_accuracy": round(accuracy, 4), "held_out_untied_pairs": untied,
            "calibration": calibration}


class CalibratedScorer:
    """A reward-model scorer mapped into the exact scorer's units: ``scale * r + offset``.

    Attributes:
        base: the reward-model scorer.
        scale: calibration slope.
        offset: calibration intercept.
    """

    def __init__(self, base: RewardModelScorer, scale: float, offset: float) -> None:
        self.base = base
        self.scale = scale
        self.offset = offset

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        return self.scale * self.base(prompts, responses) + self.offset


def load_reward_scorer(folder: Path, prompt_template: str,
                       batch_size: int = 128) -> CalibratedScorer:
    """A saved reward model as a calibrated scorer of (raw prompt, response) pairs."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    model = AutoModelForSequenceClassification.from_pretrained(str(folder),
                                                               trust_remote_code=False)
    model.eval()
    calibration = json.loads((folder / CALIBRATION_FILE).read_text(encoding="utf-8"))
    base = RewardModelScorer(model, tokenizer, format_pair=partial(reward_input, prompt_template),
                             batch_size=batch_size, max_length=model.config.n_positions)
    return CalibratedScorer(base, calibration["scale"], calibration["offset"])
