"""Attaching SVD-LoRA to a model, loading it back, and writing λ into its layers.

:func:`add_svd_lora` wraps a model in peft with SVD-LoRA on its decoder-block linears;
:func:`load_svd_lora` puts a saved adapter back on its base model; :func:`set_preferences` (and the
:func:`preferences_set` context) writes λ, one row for the batch or one per batch row, into every
SVD-LoRA layer; :func:`merge_at_preference` merges the adapter at one λ.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from peft import PeftModel, get_peft_model
from torch import nn

from mobench.adapters.peft_support import ADAPTER_CONFIG_FILE, quiet_peft_wrapping
from mobench.adapters.svd_layer import SVDLoRAConfig, SVDLoRALinear, SVDLoraPeftConfig
from mobench.adapters.targets import decoder_block_linear_pattern, targets_fan_in_fan_out

if TYPE_CHECKING:
    from transformers import PreTrainedModel

PreferenceInput = torch.Tensor | np.ndarray | Sequence[float] | Sequence[Sequence[float]]

# A preference row must sum to one within this (float32 Dirichlet samples are well inside it).
PREFERENCE_SUM_TOLERANCE = 1e-4


def svd_peft_config(model: PreTrainedModel, config: SVDLoRAConfig) -> SVDLoraPeftConfig:
    """The peft config that puts SVD-LoRA with ``config``'s shape on ``model``."""
    targets: str | list[str] = (decoder_block_linear_pattern(model)
                                if config.target_modules is None else list(config.target_modules))
    return SVDLoraPeftConfig(
        # peft annotates lora_alpha as int but computes lora_alpha / r with any number
        task_type="CAUSAL_LM", r=config.rank, lora_alpha=config.alpha,  # type: ignore[arg-type]
        lora_dropout=config.dropout, target_modules=targets, bias="none",
        fan_in_fan_out=targets_fan_in_fan_out(model, targets),
        init_lora_weights=False,  # the SVD layer draws U and V itself
        svd_n_preferences=config.n_preferences, svd_init_std=config.init_std)


def add_svd_lora(model: PreTrainedModel, config: SVDLoRAConfig,
                 adapter_name: str = "default") -> PeftModel:
    """Wrap ``model`` in a peft model with SVD-LoRA on its decoder-block linears.

    Only σ, s, U and V are trainable; the base model is frozen in place.
    """
    with quiet_peft_wrapping():
        return get_peft_model(model, svd_peft_config(model, config), adapter_name=adapter_name)


def read_svd_peft_config(directory: str | Path) -> SVDLoraPeftConfig:
    """The SVD-LoRA peft config saved in ``directory`` (peft's reader would drop the SVD keys)."""
    path = Path(directory) / ADAPTER_CONFIG_FILE
    saved = json.loads(path.read_text())
    if "svd_n_preferences" not in saved:
        raise ValueError(f"{path} is not an SVD-LoRA adapter config (no svd_n_preferences); a "
                         "plain LoRA adapter loads with peft.PeftModel.from_pretrained")
    known = {f.name for f in fields(SVDLoraPeftConfig)}
    return SVDLoraPeftConfig(**{key: value for key, value in saved.items() if key in known})


def load_svd_lora(model: PreTrainedModel, directory: str | Path, *, is_trainable: bool = False,
                  adapter_name: str = "default") -> PeftModel:
    """Load an SVD-LoRA adapter written by ``save_pretrained`` onto its base ``model``."""
    with quiet_peft_wrapping():
        return PeftModel.from_pretrained(model, str(directory), adapter_name=adapter_name,
                                         is_trainable=is_trainable,
                                         config=read_svd_peft_config(directory))


def svd_lora_layers(model: nn.Module) -> dict[str, SVDLoRALinear]:
    """Every SVD-LoRA layer of ``model`` by module name."""
    return {name: module for name, module in model.named_modules()
            if isinstance(module, SVDLoRALinear)}


def n_preferences_of(model: nn.Module) -> int:
    """m, the width of λ that the model's SVD-LoRA adapters take."""
    widths = {m for layer in svd_lora_layers(model).values()
              for m in layer.svd_n_preferences.values()}
    if not widths:
        raise ValueError("the model has no SVD-LoRA layer")
    if len(widths) > 1:
        raise ValueError(f"the model's SVD-LoRA adapters take different widths {sorted(widths)}")
    return widths.pop()


def preference_tensor(preferences: PreferenceInput, n_preferences: int) -> torch.Tensor:
    """λ as a float32 (rows, m) tensor for the adapter layers; ValueError unless each row lies on
    the simplex (within :data:`PREFERENCE_SUM_TOLERANCE`, looser than the harness's check of
    user input, :func:`mobench.core.specs.validate_preferences`, since float32 draws arrive
    here)."""
    if isinstance(preferences, torch.Tensor):
        tensor = preferences.detach().to(device="cpu", dtype=torch.float64)
    else:
        tensor = torch.as_tensor(np.asarray(preferences, dtype=np.float64))
    if tensor.dim() == 1:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 2 or tensor.shape[0] == 0:
        raise ValueError(f"preferences must be an (m,) or (rows, m) array, got shape "
                         f"{tuple(tensor.shape)}")
    if tensor.shape[1] != n_preferences:
        raise ValueError(f"preferences must have width m = {n_preferences}, got width "
                         f"{tensor.shape[1]}")
    if not torch.isfinite(tensor).all():
        raise ValueError("preferences must be finite")
    if (tensor < 0).any():
        raise ValueError(f"preferences must be non-negative, got a row {_first_bad_row(tensor)}")
    bad_sum = (tensor.sum(dim=1) - 1).abs() > PREFERENCE_SUM_TOLERANCE
    if bad_sum.any():
        row = tensor[bad_sum.nonzero()[0, 0]]
        raise ValueError(f"each preference row must sum to 1 (±{PREFERENCE_SUM_TOLERANCE}); "
                         f"row {row.tolist()} sums to {float(row.sum()):.6g}")
    return tensor.to(torch.float32)


def _first_bad_row(tensor: torch.Tensor) -> list[float]:
    return tensor[(tensor < 0).any(dim=1).nonzero()[0, 0]].tolist()


def set_preferences(model: nn.Module, preferences: PreferenceInput | None) -> None:
    """Write λ into every SVD-LoRA layer: (m,) for the whole batch or (rows, m) per batch row.

    None clears it. λ is a plain tensor (no gradient, not a parameter or buffer). Refused while an
    adapter is merged, since unmerging subtracts the delta at the λ it was merged at.
    """
    layers = svd_lora_layers(model)
    if not layers:
        raise ValueError("the model has no SVD-LoRA layer")
    if any(layer.merged for layer in layers.values()):
        raise ValueError("an SVD-LoRA adapter is merged at a fixed preference; unmerge it "
                         "(model.unmerge_adapter()) before setting another")
    validated = (None if preferences is None
                 else preference_tensor(preferences, n_preferences_of(model)))
    on_device: dict[torch.device, torch.Tensor] = {}
    for layer in layers.values():
        if validated is None:
            layer.svd_preferences = None
            continue
        device = layer.get_base_weight().device
        if device not in on_device:  # one copy per device, shared by that device's layers
            on_device[device] = validated.to(device)
        layer.svd_preferences = on_device[device]


def current_preferences(model: nn.Module) -> torch.Tensor | None:
    """The (rows, m) λ now set on ``model`` (on CPU), or None."""
    layers = svd_lora_layers(model)
    if not layers:
        raise ValueError("the model has no SVD-LoRA layer")
    preferences = next(iter(layers.values())).svd_preferences
    return None if preferences is None else preferences.cpu()


@contextmanager
def preferences_set(model: nn.Module, preferences: PreferenceInput) -> Iterator[None]:
    """Set λ for the duration of a block (a forward pass, a ``generate`` call), then restore."""
    previous = current_preferences(model)
    set_preferences(model, preferences)
    try:
        yield
    finally:
        set_preferences(model, previous)


def merge_at_preference(model: PeftModel, preference: PreferenceInput) -> PreTrainedModel:
    """The base model with the adapter merged at one λ (peft's ``merge_and_unload``)."""
    if preference_tensor(preference, n_preferences_of(model)).shape[0] != 1:
        raise ValueError("merging needs a single preference vector")
    set_preferences(model, preference)
    return model.merge_and_unload()

