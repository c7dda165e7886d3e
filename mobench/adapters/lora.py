"""Plain peft LoRA adapters: create one (or several on one model), save them, load them back.

Rewarded Soups keeps one adapter per objective and DPS one per grid preference, all on one copy
of the frozen base model: peft holds several named adapters side by side, trains the active one
(``set_adapter`` marks only it trainable) and serves any of them per batch row
(:mod:`mobench.adapters.generation`). The layers adapted are Panacea's (every Linear / Conv1D of
the decoder blocks, :mod:`mobench.adapters.targets`), so the methods differ in how they use an
adapter, not in where it sits.

Shared initialisation: :func:`add_lora_adapter` draws an adapter's initial weights (peft's
Kaiming-uniform A, zero B) from a given seed, so experts built with the same seed start from the
same adapter, which Rewarded Soups' factor averaging relies on.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from mobench.adapters.peft_support import ADAPTER_CONFIG_FILE, quiet_peft_wrapping
from mobench.adapters.targets import decoder_block_linear_pattern, targets_fan_in_fan_out

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(frozen=True)
class LoRASettings:
    """The shape of a plain LoRA adapter.

    Attributes:
        rank: r. 8, Panacea's k, so a LoRA expert and Panacea's shared part have one rank.
        alpha: peft's ``lora_alpha``; the update is scaled by ``alpha / rank`` (16/8 = 2, the
            common 2r convention).
        dropout: dropout on the adapter's input during training (0, as in Panacea).
        target_modules: None adapts every Linear / Conv1D of the decoder blocks; else peft-style
            module-name suffixes.
    """

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"lora.rank must be at least 1, got {self.rank}")
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"lora.alpha must be positive and finite, got {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"lora.dropout must lie in [0, 1), got {self.dropout}")
        if self.target_modules is not None and not self.target_modules:
            raise ValueError("lora.target_modules must be None (all block linears) or non-empty")

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


def lora_peft_config(model: torch.nn.Module, settings: LoRASettings) -> LoraConfig:
    """The peft config of ``settings`` on ``model`` (its base model, if it is a PeftModel)."""
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    targets: str | list[str] = (decoder_block_linear_pattern(cast(Any, base))
                                if settings.target_modules is None
                                else list(settings.target_modules))
    return LoraConfig(task_type="CAUSAL_LM", r=settings.rank,
                      lora_alpha=settings.alpha,  # type: ignore[arg-type]
                      lora_dropout=settings.dropout, target_modules=targets, bias="none",
                      fan_in_fan_out=targets_fan_in_fan_out(base, targets))


def add_lora_adapter(model: PreTrainedModel | PeftModel, settings: LoRASettings, name: str,
                     seed: int) -> PeftModel:
    """Add adapter ``name`` (initialised from ``seed``) and make it the active, trainable one.

    A plain model is wrapped in a PeftModel first; a PeftModel gets one more adapter. Only the new
    adapter's parameters are trainable afterwards.
    """
    config = lora_peft_config(model, settings)
    with torch.random.fork_rng(devices=[]), quiet_peft_wrapping():
        torch.manual_seed(seed)
        if isinstance(model, PeftModel):
            if name in model.peft_config:
                raise ValueError(f"the model already has an adapter named {name!r}")
            model.add_adapter(name, config)
            peft_model = model
        else:
            peft_model = get_peft_model(model, config, adapter_name=name)
    activate_adapter(peft_model, name)
    return peft_model


def activate_adapter(model: PeftModel, name: str, *, trainable: bool = True) -> None:
    """Make ``name`` the active adapter (and the only trainable one, unless ``trainable=False``)."""
    if name not in model.peft_config:
        raise ValueError(f"no adapter named {name!r}; the model has {sorted(model.peft_config)}")
    cast(Any, model.base_model).set_adapter(name, inference_mode=not trainable)
    model.active_adapter = name


def adapter_names(model: PeftModel) -> list[str]:
    return list(model.peft_config)


def save_adapters(model: PeftModel, directory: Path, names: Sequence[str]) -> None:
    """Each adapter ``names[i]`` into ``directory / names[i]`` (peft's format, safetensors)."""
    for name in names:
        model.save_pretrained(str(directory), selected_adapters=[name])
        saved = directory / name if name != "default" else directory
        if not (saved / ADAPTER_CONFIG_FILE).exists():
            raise RuntimeError(f"peft did not write adapter {name!r} where expected ({saved})")


def load_adapters(model: PreTrainedModel, directory: Path, names: Sequence[str]) -> PeftModel:
    """Put the adapters ``save_adapters`` wrote back on their base ``model`` (frozen)."""
    if not names:
        raise ValueError("no adapter to load")
    with quiet_peft_wrapping():
        peft_model = PeftModel.from_pretrained(model, str(_adapter_dir(directory, names[0])),
                                               adapter_name=names[0])
        for name in names[1:]:
            peft_model.load_adapter(str(_adapter_dir(directory, name)), adapter_name=name)
    peft_model.eval()
    return peft_model


def export_adapter(model: PeftModel, name: str, directory: Path) -> None:
    """Write adapter ``name`` alone as a standard peft adapter folder (``adapter_config.json``
    and safetensors directly in ``directory``): plain ``PeftModel.from_pretrained`` loads it."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        save_adapters(model, Path(tmp), [name])
        for path in _adapter_dir(Path(tmp), name).iterdir():
            if path.is_file():
                shutil.move(str(path), str(directory / path.name))


def merged_with(model: PeftModel, name: str) -> PreTrainedModel:
    """The base model with adapter ``name`` merged into its weights and every adapter removed
    (peft's ``merge_and_unload``); ``model`` is spent afterwards."""
    activate_adapter(model, name, trainable=False)
    return cast("PreTrainedModel", model.merge_and_unload(adapter_names=[name]))


def _adapter_dir(directory: Path, name: str) -> Path:
    return directory if name == "default" else directory / name
