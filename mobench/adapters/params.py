"""Parameter counts for the cost record."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ParameterCount:
    """Parameter numbers for the cost record.

    Attributes:
        trainable: parameters with requires_grad (σ, s, U, V of an SVD-LoRA model).
        total: all parameters, frozen base model included.
    """

    trainable: int
    total: int


def count_parameters(model: nn.Module) -> ParameterCount:
    """Trainable and total parameter counts of ``model`` (shared tensors counted once)."""
    unique = {id(p): p for p in model.parameters()}.values()
    return ParameterCount(trainable=sum(p.numel() for p in unique if p.requires_grad),
                          total=sum(p.numel() for p in unique))

