"""Small pieces every adapter module shares: peft's file names, a writer of LoRA adapter folders,
and silencing one peft warning that is about peft's own code."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from peft import LoraConfig

ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"
ADAPTER_CONFIG_FILE = "adapter_config.json"


@contextmanager
def quiet_peft_wrapping() -> Iterator[None]:
    """peft asks the model for transformers' deprecated ``is_gradient_checkpointing`` when it
    wraps or loads it; the FutureWarning is about peft's code, not the user's, so it is silenced
    here alone."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated",
                                category=FutureWarning)
        yield


def write_lora_adapter(config: LoraConfig, tensors: dict[str, torch.Tensor],
                       directory: Path) -> Path:
    """A LoRA adapter folder in peft's saved format (config JSON + safetensors); return it."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(directory))
    save_file(tensors, str(directory / ADAPTER_WEIGHTS_FILE), metadata={"format": "pt"})
    return directory
