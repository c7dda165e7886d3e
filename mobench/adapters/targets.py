"""Which layers an adapter goes on: every Linear / GPT-2 Conv1D inside the decoder blocks.

Shared by SVD-LoRA and plain LoRA, so Panacea, Rewarded Soups and DPS adapt the same layers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn
from transformers.pytorch_utils import Conv1D

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def decoder_block_linear_pattern(model: PreTrainedModel) -> str:
    """A regex (peft ``target_modules``) matching every Linear/Conv1D inside the decoder blocks.

    The blocks are the ``nn.ModuleList`` whose length is ``config.num_hidden_layers``, which holds
    for every transformers decoder-only model; embeddings and ``lm_head`` sit outside it.
    """
    block_lists = _decoder_block_lists(model)
    relative_names = sorted({name for block_list in block_lists.values()
                             for block in block_list
                             for name, _ in linear_layers(block)})
    if not relative_names:
        raise ValueError("the decoder blocks hold no nn.Linear or Conv1D layer to adapt")
    lists = "|".join(re.escape(name) for name in sorted(block_lists))
    layers = "|".join(re.escape(name) for name in relative_names)
    return rf"(?:{lists})\.\d+\.(?:{layers})"


def _decoder_block_lists(model: nn.Module) -> dict[str, nn.ModuleList]:
    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if n_layers is None:
        raise ValueError("the model has no config.num_hidden_layers; pass target_modules")
    found = {name: module for name, module in model.named_modules()
             if isinstance(module, nn.ModuleList) and len(module) == n_layers}
    if not found:
        raise ValueError(f"no module list of {n_layers} decoder blocks found; pass target_modules")
    return found


def linear_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The Linear / Conv1D layers under ``module`` by name. A layer that already carries peft
    adapters counts as the layer it wraps (its own adapter internals are not layers to adapt),
    so a second adapter goes exactly where the first one is."""
    found: list[tuple[str, nn.Module]] = []
    wrapped: list[str] = []
    for name, child in module.named_modules():
        if any(name.startswith(prefix + ".") for prefix in wrapped):
            continue
        if isinstance(child, BaseTunerLayer):
            wrapped.append(name)
            found.append((name, child.get_base_layer()))
        elif isinstance(child, (nn.Linear, Conv1D)):
            found.append((name, child))
    return found


def targets_fan_in_fan_out(model: nn.Module, target_modules: str | list[str]) -> bool:
    """True when the targets are Conv1D (GPT-2); a mix of Conv1D and Linear is refused."""
    kinds = {isinstance(layer, Conv1D) for name, layer in linear_layers(model)
             if matches(target_modules, name)}
    if not kinds:
        raise ValueError(f"target_modules {target_modules!r} match no linear layer")
    if len(kinds) > 1:
        raise ValueError("the targets mix Conv1D and nn.Linear layers; a LoRA config has one "
                         "fan_in_fan_out flag, so adapt one kind at a time")
    return kinds == {True}


def matches(target_modules: str | list[str], name: str) -> bool:
    # the same rule as peft: a string is a full regex match, a list matches name suffixes
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, name) is not None
    return any(name == t or name.endswith("." + t) for t in target_modules)

