"""Published reward models as transformers modules, and scorers that load them on first use.

Two checkpoint formats are served:

* stock sequence classifiers (``GPT2ForSequenceClassification``...; the Ray2333 GPT-2 reward
  models of the RiC protocol), loaded with ``AutoModelForSequenceClassification``;
* safe-rlhf score models (architecture ``LlamaForScore``, called ``LlamaModelForScore`` in the
  oldest configs; the beaver-7b reward and cost models). They are a Llama backbone whose weights
  are named ``model.*`` plus a linear ``score_head`` (``score_dim`` outputs, a bias when the config
  says ``score_bias``), and the score of a sequence is the head applied to the hidden state of its
  last non-padding token. Transformers has no such class, so :class:`LlamaScoreModel` is one.

:func:`load_reward_model` picks the format from ``config.architectures``. Weights are read by
transformers' own loader: safetensors, or ``.bin`` files through ``torch.load(weights_only=True)``;
nothing is unpickled, and ``trust_remote_code`` stays off unless asked. A loaded model's output has
``logits`` of shape (batch, >= 1), so :class:`~mobench.data.reward_models.RewardModelScorer` serves
both. """

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import torch
from torch import nn
from transformers import LlamaModel, LlamaPreTrainedModel
from transformers.utils import ModelOutput

from mobench.core.errors import SourceUnavailableError
from mobench.data.reward_models import PairFormatter, RewardModelScorer, concatenate
from mobench.data.sources import load_model_config, load_tokenizer, model_unavailable_message

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ModelKind = Literal["auto", "sequence_classification", "score_model"]
SCORE_MODEL_ARCHITECTURES = frozenset({"LlamaForScore", "LlamaModelForScore"})
# safe-rlhf's normalizer divides by the standard deviation plus this guard.
NORMALIZER_EPSILON = 1e-8


@dataclass
class ScoreModelOutput(ModelOutput):
    """Output of :class:`LlamaScoreModel`.

    Attributes:
        logits: the end score of each sequence, shape (batch, score_dim); named ``logits`` so the
            model is served like a sequence classifier.
        token_scores: the head applied at every position, shape (batch, length, score_dim).
    """

    logits: torch.Tensor | None = None
    token_scores: torch.Tensor | None = None


class LlamaScoreModel(LlamaPreTrainedModel):
    """A safe-rlhf ``LlamaForScore`` checkpoint: Llama backbone plus a linear score head.

    Config fields read beyond Llama's own: ``score_dim`` (head outputs, default 1),
    ``score_bias`` (head bias; older configs call it ``bias``), ``do_normalize`` with ``mean`` and
    ``var`` (when true, end scores are standardized as safe-rlhf does; false for beaver-7b v1.0).
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.model = LlamaModel(config)
        self.score_head = nn.Linear(config.hidden_size, int(getattr(config, "score_dim", 1) or 1),
                                    bias=score_head_has_bias(config))
        self.post_init()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                **unused: Any) -> ScoreModelOutput:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        token_scores = self.score_head(hidden)
        end = last_token_index(attention_mask, input_ids.shape[1], input_ids.device,
                               input_ids.shape[0])
        end_scores = token_scores[torch.arange(hidden.shape[0], device=hidden.device), end]
        if getattr(self.config, "do_normalize", False):
            end_scores = self._normalize(end_scores)
        return ScoreModelOutput(logits=end_scores, token_scores=token_scores)

    def _normalize(self, scores: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(getattr(self.config, "mean", 0.0), dtype=scores.dtype,
                               device=scores.device)
        var = torch.as_tensor(getattr(self.config, "var", 1.0), dtype=scores.dtype,
                              device=scores.device)
        return (scores - mean) / (var.sqrt() + NORMALIZER_EPSILON)


def score_head_has_bias(config: Any) -> bool:
    """Whether the checkpoint's score head has a bias (``score_bias``, else the older ``bias``)."""
    if getattr(config, "score_bias", None) is not None:
        return bool(config.score_bias)
    return bool(getattr(config, "bias", False))


def last_token_index(attention_mask: torch.Tensor | None, length: int, device: torch.device,
                     batch: int) -> torch.Tensor:
    """Index of each row's last attended token; works with left or right padding."""
    if attention_mask is None:
        return torch.full((batch,), length - 1, dtype=torch.long, device=device)
    positions = torch.arange(length, device=attention_mask.device)
    return (positions * attention_mask.long()).argmax(dim=-1)


class SelectedLogit(nn.Module):
    """A classifier whose reward is its logit ``index`` (not 0), served as logit 0.

    Some public style classifiers put the wanted class second (``[not-X, X]``); this keeps
    :class:`~mobench.data.reward_models.RewardModelScorer` reading column 0.
    """

    def __init__(self, model: nn.Module, index: int) -> None:
        super().__init__()
        self.model = model
        self.index = index

    def forward(self, **inputs: Any) -> ScoreModelOutput:
        logits = self.model(**inputs).logits
        return ScoreModelOutput(logits=logits[:, self.index:self.index + 1])


def load_reward_model(source: str, kind: ModelKind = "auto", *, trust_remote_code: bool = False,
                      dtype: str = "auto", device: str = ""
                      ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A reward model and its tokenizer from a hub id or local folder, ready to score.

    Args:
        source: hub id or folder saved with ``save_pretrained`` (or a hub snapshot).
        kind: ``score_model`` (safe-rlhf ``LlamaForScore``), ``sequence_classification`` (stock
            transformers classifier) or ``auto`` (decided by ``config.architectures``).
        trust_remote_code: let transformers run code shipped with the checkpoint (off by default).
        dtype: ``auto`` (the checkpoint's), ``float32``, ``bfloat16``...
        device: where to put the model; "" picks ``cuda`` when available, else ``cpu``.

    The tokenizer pads on the right (the score is read at the last real token, and right padding
    keeps position ids those of the unpadded text) and truncates on the left (an over-long input
    loses the start of the conversation, not the end of the response the score is read at). A
    tokenizer without a pad token pads with its end-of-sequence token, which is also written into
    the model config so classifiers find it.
    """
    config = load_model_config(source, trust_remote_code=trust_remote_code)
    if kind == "auto":
        architectures = set(getattr(config, "architectures", None) or ())
        kind = "score_model" if architectures & SCORE_MODEL_ARCHITECTURES else \
            "sequence_classification"
    if kind == "score_model":
        model = _load_score_model(source, config, dtype)
    elif kind == "sequence_classification":
        model = _load_sequence_classifier(source, dtype, trust_remote_code)
    else:
        raise ValueError(f"unknown reward model kind {kind!r}; choose auto, "
                         "sequence_classification or score_model")
    tokenizer = load_tokenizer(source, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"
    tokenizer.truncation_side = "left"
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    cast(Any, model).to(resolve_device(device))  # transformers' typing of .to() wants a model
    model.eval()
    return model, tokenizer


def _load_score_model(source: str, config: Any, dtype: str) -> PreTrainedModel:
    if getattr(config, "model_type", None) != "llama":
        raise SourceUnavailableError(f"score model {source!r} has model_type "
                                     f"{getattr(config, 'model_type', None)!r}; only Llama "
                                     "backbones (LlamaForScore) are supported")
    try:
        loaded: Any = LlamaScoreModel.from_pretrained(source, config=config, dtype=dtype,
                                                      output_loading_info=True)
        model, info = loaded
    except (OSError, ValueError) as error:
        raise SourceUnavailableError(model_unavailable_message(source, error)) from None
    _check_loaded(source, info, head_prefix="score_head.")
    return model


def _load_sequence_classifier(source: str, dtype: str, trust_remote_code: bool) -> PreTrainedModel:
    from transformers import AutoModelForSequenceClassification

    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            source, dtype=dtype, trust_remote_code=trust_remote_code, output_loading_info=True)
    except (OSError, ValueError) as error:
        raise SourceUnavailableError(model_unavailable_message(source, error)) from None
    prefix = getattr(model, "base_model_prefix", "")
    head_missing = [k for k in info.get("missing_keys", ()) if prefix and
                    not k.startswith(prefix + ".")]
    if head_missing:  # a randomly initialized head would score noise without complaint
        raise SourceUnavailableError(f"{source!r} is not a sequence-classification reward model: "
                                     f"its checkpoint lacks {', '.join(sorted(head_missing))}")
    return model


def _check_loaded(source: str, info: dict[str, Any], head_prefix: str) -> None:
    missing = sorted(info.get("missing_keys", ()))
    unexpected = sorted(k for k in info.get("unexpected_keys", ()) if k.startswith(head_prefix))
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing[:5])}")
        if unexpected:
            problems.append(f"unexpected {', '.join(unexpected)} (check score_bias in config.json)")
        raise SourceUnavailableError(f"score model {source!r} does not match the LlamaForScore "
                                     f"layout: {'; '.join(problems)}")


def resolve_device(device: str) -> str:
    """"" means the GPU when there is one."""
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class RewardModelSource:
    """A reward model to load on first use, and how to serve it.

    Attributes:
        source: hub id or local folder.
        kind: see :func:`load_reward_model` (``auto`` by default).
        sign: +1 for a reward model, -1 for a cost model (lower cost is better).
        logit_index: which output column is the reward (0 for reward models).
        batch_size: pairs per forward pass.
        max_length: truncation length in tokens.
        dtype: weights' dtype (``auto``: the checkpoint's).
        device: "" for the GPU when there is one, else the CPU.
        trust_remote_code: let transformers run code shipped with the checkpoint.
        append_eos: end each input with the tokenizer's end-of-sequence token (safe-rlhf trains
            and scores its score models on ``prompt + response + eos``).
    """

    source: str
    kind: ModelKind = "auto"
    sign: float = 1.0
    logit_index: int = 0
    batch_size: int = 16
    max_length: int = 1024
    dtype: str = "auto"
    device: str = ""
    trust_remote_code: bool = False
    append_eos: bool = False


def with_suffix(format_pair: PairFormatter, suffix: str) -> PairFormatter:
    """``format_pair`` with ``suffix`` appended to the (second) text."""

    def formatted(prompt: str, response: str) -> str | tuple[str, str]:
        text = format_pair(prompt, response)
        if isinstance(text, tuple):
            return text[0], text[1] + suffix
        return text + suffix

    return formatted


class LazyRewardModelScorer:
    """A :class:`~mobench.data.reward_models.RewardModelScorer` whose model loads on the first call.

    Paper-scale reward models are 7B parameters: commands that never score (listing, a resumed run
    whose evaluation is complete) must not pay for loading them.
    """

    def __init__(self, source: RewardModelSource, format_pair: PairFormatter = concatenate) -> None:
        self.source = source
        self.format_pair = format_pair
        self._scorer: RewardModelScorer | None = None

    @property
    def loaded(self) -> bool:
        return self._scorer is not None

    @property
    def scorer(self) -> RewardModelScorer:
        if self._scorer is None:
            s = self.source
            model, tokenizer = load_reward_model(s.source, s.kind,
                                                 trust_remote_code=s.trust_remote_code,
                                                 dtype=s.dtype, device=s.device)
            served = SelectedLogit(model, s.logit_index) if s.logit_index else model
            format_pair = self.format_pair
            if s.append_eos:
                format_pair = with_suffix(format_pair, tokenizer.eos_token or "")
            # RewardModelScorer serves any module whose output has .logits (see its docstring)
            self._scorer = RewardModelScorer(cast("PreTrainedModel", served), tokenizer,
                                             format_pair=format_pair,
                                             sign=s.sign, batch_size=s.batch_size,
                                             max_length=s.max_length)
        return self._scorer

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        return self.scorer(prompts, responses)
