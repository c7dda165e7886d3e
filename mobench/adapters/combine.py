"""Combining several LoRA adapters of one model with weights λ: Rewarded Soups' two readings.

With expert adapters (A_i, B_i) and peft's scale s_i = alpha / r:

- ``delta``: ΔW(λ) = Σ_i λ_i s_i B_i A_i, averaging the experts' weight updates. This is exactly
  what peft's ``add_weighted_adapter(..., combination_type="cat")`` builds (a rank Σ r_i adapter
  with the weights folded into A), so :func:`merge_delta` is peft's own call.
- ``factors``: ΔW(λ) = s (Σ_i λ_i B_i)(Σ_j λ_j A_j), averaging the factors, as the official
  Rewarded Soups code does (meaningful only because every expert starts from the same adapter).
  peft has no mode for it: its ``linear`` mode scales each factor by √(λ_i) (peft itself calls it
  an approximation), so :func:`merge_factors` writes Σλ_i A_i and Σλ_i B_i into a new adapter.

Both are functions of λ that differ inside the simplex and agree at its vertices (one expert).

:class:`PerRowMixture` serves a different λ on every batch row in one forward (so a whole front
is generated in one batched call) and equals merging per λ: peft's own forward runs with the
adapters disabled (the base output) and a forward hook on each LoRA layer adds the row's mixture,
``Σ_i λ_ri s B_i(A_i x_r)`` (delta) or ``s Σ_i λ_ri B_i(Σ_j λ_rj A_j x_r)`` (factors).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, Literal, cast

import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer

from mobench.adapters.peft_support import quiet_peft_wrapping

MixtureVariant = Literal["factors", "delta"]
MIXTURE_VARIANTS: tuple[str, ...] = ("factors", "delta")


def _check(model: PeftModel, experts: Sequence[str], weights: Sequence[float]) -> None:
    if len(experts) != len(weights):
        raise ValueError(f"{len(experts)} experts but {len(weights)} weights")
    missing = [e for e in experts if e not in model.peft_config]
    if missing:
        raise ValueError(f"no adapter named {missing[0]!r}; the model has "
                         f"{sorted(model.peft_config)}")
    configs = [cast(Any, model.peft_config[e]) for e in experts]  # LoraConfigs
    ranks = {config.r for config in configs}
    alphas = {config.lora_alpha for config in configs}
    if len(ranks) != 1 or len(alphas) != 1:
        raise ValueError("the experts must share one rank and alpha to be combined")


def merge_delta(model: PeftModel, experts: Sequence[str], weights: Sequence[float],
                name: str) -> None:
    """Add adapter ``name`` with ΔW = Σ λ_i s B_i A_i (peft's ``cat`` combination)."""
    _check(model, experts, weights)
    with quiet_peft_wrapping():
        model.add_weighted_adapter(list(experts), [float(w) for w in weights], name,
                                   combination_type="cat")


def merge_factors(model: PeftModel, experts: Sequence[str], weights: Sequence[float],
                  name: str) -> None:
    """Add adapter ``name`` with A = Σ λ_i A_i and B = Σ λ_i B_i (the experts' config)."""
    _check(model, experts, weights)
    with quiet_peft_wrapping():
        model.add_adapter(name, model.peft_config[experts[0]])
    with torch.no_grad():
        for layer in lora_layers(model):
            if experts[0] not in layer.lora_A:
                continue
            for kind in ("lora_A", "lora_B"):
                modules = getattr(layer, kind)
                mixed = sum(float(w) * modules[e].weight for e, w in zip(experts, weights,
                                                                         strict=True))
                modules[name].weight.copy_(cast(torch.Tensor, mixed))


def merge(model: PeftModel, variant: str, experts: Sequence[str], weights: Sequence[float],
          name: str) -> None:
    """:func:`merge_factors` or :func:`merge_delta`, by variant name."""
    if variant == "factors":
        merge_factors(model, experts, weights, name)
    elif variant == "delta":
        merge_delta(model, experts, weights, name)
    else:
        raise ValueError(f"unknown mixture variant {variant!r}; choose factors or delta")


def lora_layers(model: torch.nn.Module) -> list[LoraLayer]:
    return [m for m in model.modules() if isinstance(m, LoraLayer)]


class PerRowMixture:
    """Serve each batch row at its own λ over ``experts`` (see the module docstring).

    Use as ``with PerRowMixture(model, experts, variant).rows(λ): model.generate(...)``; λ is an
    (n, m) tensor whose rows follow the batch. Generation expands the batch for beams or several
    return sequences; pass λ already repeated to match.
    """

    def __init__(self, model: PeftModel, experts: Sequence[str], variant: str) -> None:
        if variant not in MIXTURE_VARIANTS:
            raise ValueError(f"unknown mixture variant {variant!r}; choose factors or delta")
        _check(model, experts, [1.0] * len(experts))
        self.model = model
        self.experts = list(experts)
        self.variant = variant
        self.layers = [layer for layer in lora_layers(model) if experts[0] in layer.lora_A]
        self._weights: torch.Tensor | None = None

    @contextmanager
    def rows(self, weights: torch.Tensor) -> Iterator[None]:
        if weights.ndim != 2 or weights.shape[1] != len(self.experts):
            raise ValueError(f"weights must be (rows, {len(self.experts)}), got "
                             f"{tuple(weights.shape)}")
        self._weights = weights.detach().float()
        with ExitStack() as stack:
            stack.enter_context(cast(Any, self.model).disable_adapter())
            for layer in self.layers:
                handle = cast(Any, layer).register_forward_hook(self._add_mixture)
                stack.callback(handle.remove)
            try:
                yield
            finally:
                self._weights = None

    def _add_mixture(self, layer: torch.nn.Module, args: tuple[Any, ...],
                     output: torch.Tensor) -> torch.Tensor:
        assert self._weights is not None
        lora = cast(LoraLayer, layer)
        x = args[0]
        weights = self._weights.to(device=x.device)
        if weights.shape[0] != x.shape[0]:
            raise ValueError(f"{weights.shape[0]} preference rows for a batch of {x.shape[0]} "
                             "rows; repeat the rows for beams or several return sequences")
        per_row = weights.view(x.shape[0], *([1] * (x.dim() - 2)), weights.shape[1])
        scale = lora.scaling[self.experts[0]]
        dtype = lora.lora_A[self.experts[0]].weight.dtype
        x = x.to(dtype)
        if self.variant == "delta":
            mixed = sum(per_row[..., i:i + 1] * lora.lora_B[e](lora.lora_A[e](x))
                        for i, e in enumerate(self.experts))
        else:
            down = sum(per_row[..., i:i + 1] * lora.lora_A[e](x)
                       for i, e in enumerate(self.experts))
            mixed = sum(per_row[..., i:i + 1] * lora.lora_B[e](down)
                        for i, e in enumerate(self.experts))
        return output + (scale * cast(torch.Tensor, mixed)).to(output.dtype)
