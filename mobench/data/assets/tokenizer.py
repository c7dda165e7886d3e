"""The miniature's tokenizer: BPE trained locally with the ``tokenizers`` library, saved as a
standard ``tokenizer.json`` folder that ``AutoTokenizer.from_pretrained`` reads."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mobench.data.models import train_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast


def build_tokenizer(folder: Path, texts: Iterable[str], vocab_size: int) -> dict[str, Any]:
    """Train on ``texts`` and save into ``folder``; returns the build record."""
    tokenizer = train_tokenizer(list(texts), vocab_size=vocab_size)
    tokenizer.save_pretrained(str(folder))
    return {"vocab_size": len(tokenizer), "requested_vocab_size": vocab_size}


def load_tokenizer(folder: Path) -> PreTrainedTokenizerFast:
    from transformers import AutoTokenizer

    return cast("PreTrainedTokenizerFast",
                AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False))
