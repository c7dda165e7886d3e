"""Loading causal LMs from a hub id or a local path, and building tiny ones in code.

Paper-scale tasks name hub ids; users often pre-download, so every loader accepts a local path in
the same format. ``trust_remote_code`` stays off unless the user turns it on. Tiny models for the
self-contained scale and for tests are stock transformers architectures (GPT-2, Llama) built from
configs in code, with a tokenizer trained locally by the ``tokenizers`` library.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, cast

from mobench.core.errors import SourceUnavailableError
from mobench.data.sources import check_model_folder, model_unavailable_message

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

Architecture = Literal["gpt2", "llama"]
PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A BPE tokenizer trained on ``texts``, with pad, end-of-sequence and unknown tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Metaspace()
    core.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, EOS, UNK],
                                  show_progress=False)
    core.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS,
                                   unk_token=UNK, bos_token=EOS)


def tiny_causal_lm(architecture: Architecture, vocab_size: int, *, n_layers: int = 2,
                   width: int = 64, n_heads: int = 2, max_positions: int = 256,
                   seed: int = 0, pad_token_id: int = 0, eos_token_id: int = 1) -> PreTrainedModel:
    """A randomly initialized causal LM of a stock architecture, deterministic in ``seed``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if architecture == "gpt2":
            config = GPT2Config(vocab_size=vocab_size, n_positions=max_positions, n_embd=width,
                                n_layer=n_layers, n_head=n_heads, bos_token_id=eos_token_id,
                                eos_token_id=eos_token_id, pad_token_id=pad_token_id)
            return GPT2LMHeadModel(config)
        if architecture == "llama":
            llama_config = LlamaConfig(vocab_size=vocab_size, hidden_size=width,
                                 intermediate_size=width * 2, num_hidden_layers=n_layers,
                                 num_attention_heads=n_heads, num_key_value_heads=n_heads,
                                 max_position_embeddings=max_positions, bos_token_id=eos_token_id,
                                 eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                                 tie_word_embeddings=False)
            return LlamaForCausalLM(llama_config)
    raise ValueError(f"unknown architecture {architecture!r}; choose gpt2 or llama")


def load_causal_lm(source: str, *, trust_remote_code: bool = False,
                   dtype: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """Model and tokenizer from a local folder or a hub id; a clear error when neither works."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model_folder(source)  # a folder that is no model, or holds LFS pointers: one line
    kwargs = {"trust_remote_code": trust_remote_code}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype or "auto", **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SourceUnavailableError(model_unavailable_message(source, error)) from None
    if tokenizer.pad_token is None:  # Llama-family tokenizers ship without one
        tokenizer.pad_token = tokenizer.eos_token
    return cast("PreTrainedModel", model), cast("PreTrainedTokenizerFast", tokenizer)

