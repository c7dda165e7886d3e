"""Serving a fixed λ elsewhere: an SVD-LoRA adapter at one preference is an ordinary rank-(k+m)
LoRA, written in peft's format so plain ``PeftModel.from_pretrained`` loads it."""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftModel

from mobench.adapters.peft_support import write_lora_adapter
from mobench.adapters.svd_attach import (
    PreferenceInput,
    n_preferences_of,
    preference_tensor,
    svd_lora_layers,
)
from mobench.adapters.svd_layer import SVDLoraPeftConfig


def export_lora_adapter(model: PeftModel, preference: PreferenceInput, directory: str | Path,
                        adapter_name: str = "default") -> Path:
    """Write the adapter at a fixed λ as a plain rank-(k+m) peft LoRA adapter; return its folder.

    ``lora_A = Vᵀ`` and ``lora_B = scale·U·diag(σ, s·λ)`` with ``lora_alpha = r`` (peft scaling 1),
    so the scale is folded into B exactly. Plain ``PeftModel.from_pretrained`` loads it.
    """
    lam = preference_tensor(preference, n_preferences_of(model))
    if lam.shape[0] != 1:
        raise ValueError("export needs a single preference vector")
    svd_config = model.peft_config[adapter_name]
    if not isinstance(svd_config, SVDLoraPeftConfig):
        raise ValueError(f"adapter {adapter_name!r} is not an SVD-LoRA adapter")
    tensors = _exported_lora_tensors(model, lam[0], adapter_name)
    rank = svd_config.r + svd_config.svd_n_preferences
    lora_config = LoraConfig(
        task_type=svd_config.task_type, r=rank, lora_alpha=rank, lora_dropout=0.0, bias="none",
        target_modules=svd_config.target_modules, fan_in_fan_out=svd_config.fan_in_fan_out,
        base_model_name_or_path=svd_config.base_model_name_or_path,
        revision=svd_config.revision)
    return write_lora_adapter(lora_config, tensors, Path(directory))


def _exported_lora_tensors(model: PeftModel, preference: torch.Tensor,
                           adapter_name: str) -> dict[str, torch.Tensor]:
    # Keys follow peft's saved format: module name under the PeftModel, adapter name dropped.
    tensors = {}
    with torch.no_grad():
        for name, layer in svd_lora_layers(model).items():
            if adapter_name not in layer.lora_A:
                continue
            down, up = layer.lora_factors(adapter_name, preference)
            tensors[f"{name}.lora_A.weight"] = down.detach().cpu().clone().contiguous()
            tensors[f"{name}.lora_B.weight"] = up.detach().cpu().clone().contiguous()
    if not tensors:
        raise ValueError(f"no SVD-LoRA layer holds adapter {adapter_name!r}")
    return tensors
