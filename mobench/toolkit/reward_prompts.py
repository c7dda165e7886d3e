"""Reward-conditioned prompts (Rewards-in-Context): scores written into the prompt, and the tokens
that carry them.

Format (the paper's): the scores follow the user's prompt, before the assistant turn, as
``<rm1_score> s1 <rm2_score> s2 ...``, one tag per objective in the task's order and each score
with one decimal. The task's own template places them: the conditioned prompt is
``spec.format_prompt(f"{prompt} {scores}")``, so whatever the template puts after ``{prompt}``
(the assistant turn) still follows, and no suffix has to be cut off and put back (the original
code's ``str.rstrip("\\n\\nAssistant:")`` stripped a character set, eating the end of prompts).

Tokens: a tokenizer that cannot represent the tags or the scores (the tiny tasks' BPE, trained on
words without digits or angle brackets, maps them to ``<unk>``) gets added tokens, in one of two
schemes; each token absorbs the space before it and a score's last token the space after it, so
the text around the scores tokenizes as before. A tokenizer that represents both already (a
paper-scale Llama or GPT-2 byte-level BPE) is left alone, as in the paper.

- ``digits`` (the default): one token per (objective, signed integer part), then one of the ten
  decimal digits, shared by all objectives: ``<rm1_score> 1.6`` is ``<rm1_score> 1.`` + ``6``
  and ``<rm2_score> -0.4`` is ``<rm2_score> -0.`` + ``4``. As with the paper's tokenizers, which
  write a score in digit tokens, every score is made of tokens that many training rows carry.
- ``per-score``: one token per (objective, score), ``<rm1_score> 1.3`` for every score from
  ``-clip`` to ``clip`` in steps of 0.1. The extreme scores, the ones both λ mappings ask for,
  are then the rarest tokens: tiny hh's top helpfulness score (1.6) is written on 2 of 5,752
  training rows, its embedding row barely trains, and asking for it gives less help than asking
  for 1.4 (seed 0, exact normalized helpfulness 0.52 against 0.67; 0.72 and 0.70 with
  ``digits``; ``python bench/bench_ric_conditioning.py RUN`` prints the sweep).

Per objective rather than shared tags-then-values, because a value token shared by all objectives
mixes what a score means for each (helpful -1.3, a refusal, is common; harmless -1.3 is rare): on
tiny hh (seed 0) shared value tokens reached controllability 0.43, per-objective ones 0.70 (both
with one token per score). The new embedding rows are drawn like existing rows (each dimension
from a normal with the existing rows' mean and std, seeded) and train with the adapter (peft's
``trainable_token_indices``; with tied embeddings the output rows follow).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

import torch

from mobench.adapters.lora import LoRASettings, lora_peft_config
from mobench.adapters.peft_support import quiet_peft_wrapping

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from mobench.core.specs import TaskSpec

SCORE_STEP = 0.1  # scores are written with one decimal


def score_tag(index: int) -> str:
    """The tag of objective ``index`` (0-based): ``<rm1_score>`` for the first."""
    return f"<rm{index + 1}_score>"


def format_score(value: float) -> str:
    """One decimal, and never ``-0.0`` (a rounded small negative reads as ``0.0``)."""
    return f"{round(float(value), 1) + 0.0:.1f}"


def score_text(scores: Sequence[float]) -> str:
    """``<rm1_score> s1 <rm2_score> s2 ...`` for one row of scores."""
    if len(scores) == 0:
        raise ValueError("at least one score is needed")
    return " ".join(f"{score_tag(i)} {format_score(s)}" for i, s in enumerate(scores))


def conditioned_prompt(spec: TaskSpec, prompt: str, scores: Sequence[float]) -> str:
    """The task's formatted prompt with ``scores`` written after the user's text."""
    if len(scores) != len(spec.objectives):
        raise ValueError(f"{len(scores)} scores for {len(spec.objectives)} objectives")
    return spec.format_prompt(f"{prompt} {score_text(scores)}")


def score_values(clip: float) -> list[str]:
    """Every score that can be written: ``-clip`` to ``clip`` in steps of 0.1, formatted."""
    if not clip > 0:
        raise ValueError(f"the score clip must be positive, got {clip}")
    steps = int(round(clip / SCORE_STEP))
    return [format_score(k * SCORE_STEP) for k in range(-steps, steps + 1)]


ScoreTokens = Literal["per-score", "digits"]
SCORE_TOKEN_SCHEMES: tuple[str, ...] = ("per-score", "digits")


@dataclass(frozen=True)
class ScoreVocabulary:
    """The tokens added to a tokenizer for the scores (empty when it needed none).

    Attributes:
        token_ids: every added token's id, the embedding rows that train.
    """

    token_ids: tuple[int, ...]


def represents(tokenizer: PreTrainedTokenizerBase, text: str) -> bool:
    """Whether ``tokenizer`` encodes ``text`` without its unknown token."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return bool(ids) and (tokenizer.unk_token_id is None or tokenizer.unk_token_id not in ids)


def score_tokens(n_objectives: int, clip: float, scheme: ScoreTokens) -> list[str]:
    """The texts added as tokens under ``scheme`` (see the module docstring): ``per-score``, one
    per (objective, score) (``<rm1_score> 1.3``); ``digits``, one per (objective, signed integer
    part) (``<rm1_score> 1.``, ``<rm1_score> -0.``) and the ten decimal digits shared by all."""
    if scheme == "per-score":
        values = score_values(clip)
        return [f"{score_tag(j)} {value}" for j in range(n_objectives) for value in values]
    if scheme == "digits":
        # the integer parts the written scores start with, "-0." included (-0.4 is "-0." "4")
        heads = list(dict.fromkeys(value[:value.index(".") + 1] for value in score_values(clip)))
        return ([f"{score_tag(j)} {head}" for j in range(n_objectives) for head in heads]
                + [str(digit) for digit in range(10)])
    raise ValueError(f"unknown score token scheme {scheme!r}; choose "
                     f"{' or '.join(SCORE_TOKEN_SCHEMES)}")


def extend_vocabulary(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                      n_objectives: int, clip: float, seed: int,
                      scheme: ScoreTokens) -> ScoreVocabulary:
    """If ``tokenizer`` cannot represent the tags or the score values, add ``scheme``'s tokens
    and resize ``model``'s embeddings, the new rows drawn from ``seed``."""
    from tokenizers import AddedToken

    texts = score_tokens(n_objectives, clip, scheme)  # checks the scheme first
    pieces = [score_tag(j) for j in range(n_objectives)] + score_values(clip)
    if all(represents(tokenizer, piece) for piece in pieces):
        return ScoreVocabulary(())
    # each token absorbs the space before it, and a score's last token the space after it
    tokenizer.add_tokens([AddedToken(text, lstrip=True, rstrip=not text.endswith("."),
                                     normalized=False) for text in texts])
    token_ids = tuple(token_id(tokenizer, text) for text in texts)
    old_rows = embedding_rows(model)
    resize_embeddings(model, len(tokenizer))
    weight = cast(torch.Tensor, model.get_input_embeddings().weight)
    with torch.no_grad():
        # like an existing row: each dimension from its mean and std over the existing rows
        # (transformers' mean resizing would start every new row at their mean, indistinct)
        existing = weight[:old_rows].float()
        noise = torch.randn(len(tokenizer) - old_rows, weight.shape[1],
                            generator=torch.Generator().manual_seed(seed))
        weight[old_rows:] = (existing.mean(dim=0) + existing.std(dim=0) * noise).to(weight.dtype)
    return ScoreVocabulary(token_ids)


def token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    """The id of ``token``, which must be one token of ``tokenizer``."""
    found = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(found, int):
        raise ValueError(f"{token!r} is not one token of the tokenizer")
    return found


def embedding_rows(model: PreTrainedModel) -> int:
    """Rows of ``model``'s input embedding matrix."""
    return int(cast(torch.Tensor, model.get_input_embeddings().weight).shape[0])


def resize_embeddings(model: PreTrainedModel, rows: int) -> None:
    """Resize ``model``'s (tied) embeddings to ``rows``; transformers' draw of the new rows is
    isolated from the global generator (they are drawn again at fit, or filled from the adapter
    at load)."""
    with torch.random.fork_rng(devices=[]):
        model.resize_token_embeddings(rows, mean_resizing=False)


def add_lora_with_tokens(model: PreTrainedModel, settings: LoRASettings,
                         vocabulary: ScoreVocabulary, seed: int) -> PeftModel:
    """A trainable LoRA adapter (``settings``, initialised from ``seed``) on ``model``, with the
    embedding rows of ``vocabulary``'s tokens trainable too."""
    from peft import get_peft_model

    config = lora_peft_config(model, settings)
    if vocabulary.token_ids:
        config.trainable_token_indices = list(vocabulary.token_ids)
    with torch.random.fork_rng(devices=[]), quiet_peft_wrapping():
        torch.manual_seed(seed)
        return get_peft_model(model, config)
