"""SVD-LoRA, the preference-conditioned adapter of Panacea, built as a custom peft LoRA layer.

Every linear layer of the decoder blocks (attention and MLP; not the embeddings, not ``lm_head``)
gets ``W = W0 + scale · U · diag(σ_1..σ_k, s·λ_1..s·λ_m) · Vᵀ`` with ``U ∈ R^{out×(k+m)}`` and
``V ∈ R^{in×(k+m)}``. ``σ`` (k singular values per adapted matrix, shared by every preference) and
``s`` (one scalar per adapted matrix) are learned; ``λ`` (the m preference weights) is not: it is
written into every adapted layer (:func:`mobench.adapters.svd_attach.set_preferences`) and may
differ per batch row, so a whole front is generated in one batched ``generate`` call.

How it sits on peft. The layer is a subclass of peft's LoRA ``Linear`` registered through
``LoraConfig._register_custom_module`` (peft's experimental custom-layer hook), so
``get_peft_model`` injects it, ``save_pretrained`` writes the adapter alone in safetensors,
``PeftModel.from_pretrained`` loads it back and ``merge_and_unload`` merges it, like any LoRA.
Peft's names are reused: ``lora_A`` holds ``Vᵀ`` and ``lora_B`` holds ``U``; ``σ`` and ``s`` live
in ``lora_svd_diagonal`` (a module, like ``lora_A``, so that sharded-parameter engines that gather
weights around a module's forward see them). In the peft config ``r`` is k (the learned rank)
and ``lora_alpha / r`` is the scale, so the defaults (k = 8, alpha = 512) give the
reimplementations' scale 512/k = 64.

What peft cannot carry, and how this package covers it:

- A new peft *type* would need a member of peft's closed ``PeftType`` enum, so the adapter is saved
  as ``peft_type: LORA`` with two extra config keys (``svd_n_preferences``, ``svd_init_std``).
  Loading therefore goes through :func:`~mobench.adapters.svd_attach.load_svd_lora`, which
  rebuilds the config subclass that registers the custom layer (the registration itself is not
  serialized by peft). Plain peft cannot load an SVD-LoRA folder by mistake: its ``lora_A`` /
  ``lora_B`` are ``k+m`` wide while the config says ``r = k``, so the load fails on the shape
  instead of silently dropping ``σ`` and ``s``.
- λ is state of the forward pass, not a weight: a plain tensor attribute of each layer, never a
  parameter or buffer, so it is not trained, not in any optimizer and not saved.
- Plain peft serves a fixed-λ Panacea adapter as an ordinary rank-(k+m) LoRA
  (:mod:`mobench.adapters.svd_export`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from peft import LoraConfig
from peft.tuners.lora import Linear as PeftLoraLinear
from peft.tuners.lora import LoraLayer
from torch import nn
from transformers.pytorch_utils import Conv1D


@dataclass(frozen=True)
class SVDLoRAConfig:
    """The shape and initialization of a Panacea SVD-LoRA adapter.

    Attributes:
        n_preferences: m, the number of objectives (width of λ); at least 2.
        rank: k, the number of learned singular values σ per adapted matrix.
        alpha: the scale is ``alpha / rank`` (peft's ``lora_alpha / r``); the defaults give the
            reimplementations' 512/k = 64. Why so large: with U, V ~ N(0, 0.02) a rank-one term
            u·vᵀ has entries of about 4e-4, so a unit σ moves the weights by about 0.026, the
            order of a transformer's own init std (0.02).
        init_std: standard deviation of the normal initialization of U and V (σ and s start at 0,
            so the adapted model equals the base model for every λ at step 0). The draw uses the
            global torch RNG: seed it for a reproducible initialization.
        dropout: dropout on the adapter's input during training (0 in Panacea).
        target_modules: None adapts every nn.Linear / GPT-2 Conv1D inside each decoder block; a
            tuple of module-name suffixes (as in peft, e.g. ``("q_proj", "v_proj")``) restricts it.
    """

    n_preferences: int
    rank: int = 8
    alpha: float = 512.0
    init_std: float = 0.02
    dropout: float = 0.0
    target_modules: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.n_preferences < 2:
            raise ValueError(f"n_preferences must be at least 2, got {self.n_preferences}")
        if self.rank < 1:
            raise ValueError(f"rank must be at least 1, got {self.rank}")
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"alpha must be positive and finite, got {self.alpha}")
        if not (math.isfinite(self.init_std) and self.init_std > 0):
            raise ValueError(f"init_std must be positive and finite, got {self.init_std}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.target_modules is not None and not self.target_modules:
            raise ValueError("target_modules must be None (all block linears) or non-empty")

    @property
    def scale(self) -> float:
        """The factor in front of U·diag·Vᵀ."""
        return self.alpha / self.rank


@dataclass
class SVDLoraPeftConfig(LoraConfig):
    """Peft's LoraConfig plus the two numbers SVD-LoRA adds; registers the SVD-LoRA layer.

    peft's own dataclass (mutable, as peft requires). ``r`` is k, ``lora_alpha / r`` the scale.
    """

    svd_n_preferences: int = field(default=0, metadata={"help": "m, the width of λ"})
    svd_init_std: float = field(default=0.02, metadata={"help": "std of U and V at init"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.svd_n_preferences < 2:
            raise ValueError("an SVD-LoRA config needs svd_n_preferences >= 2")
        if self.use_dora or self.use_rslora or self.lora_bias:
            raise ValueError("SVD-LoRA supports neither DoRA, rsLoRA nor lora_bias")
        # Conv1D is GPT-2's linear layer; both map to the one SVD-LoRA layer class.
        self._register_custom_module({nn.Linear: SVDLoRALinear, Conv1D: SVDLoRALinear})


class PreferenceDiagonal(nn.Module):
    """diag(σ, s·λ) of one adapted matrix: σ (k,) and s (1,) are learned, λ comes per call."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.sigma = nn.Parameter(torch.zeros(rank))
        self.pref_scale = nn.Parameter(torch.zeros(1))

    def forward(self, preferences: torch.Tensor) -> torch.Tensor:
        """A (rows, k+m) tensor: σ in the first k slots, s·λ_row in the last m."""
        preferences = preferences.to(device=self.sigma.device, dtype=self.sigma.dtype)
        shared = self.sigma.expand(preferences.shape[0], self.sigma.shape[0])
        return torch.cat([shared, self.pref_scale * preferences], dim=1)


class SVDLoRALinear(PeftLoraLinear):
    """A linear (or GPT-2 Conv1D) layer with SVD-LoRA adapters; λ is set per forward pass.

    ``lora_A[name].weight`` is Vᵀ (k+m × in), ``lora_B[name].weight`` is U (out × k+m),
    ``lora_svd_diagonal[name]`` holds σ (k,) and s (1,). ``svd_preferences`` is λ as a (rows, m)
    tensor, or None until :func:`set_preferences` writes it.
    """

    adapter_layer_names = (*LoraLayer.adapter_layer_names, "lora_svd_diagonal")
    other_param_names = (*LoraLayer.other_param_names, "svd_n_preferences")

    def __init__(self, base_layer: nn.Module, adapter_name: str, config: LoraConfig,
                 r: int = 0, lora_alpha: float = 1, **kwargs: Any) -> None:
        # lora.Linear.__init__ is bypassed: the SVD containers must exist before update_layer runs.
        nn.Module.__init__(self)
        LoraLayer.__init__(self, base_layer, **kwargs)
        self.lora_svd_diagonal = nn.ModuleDict({})
        self.svd_n_preferences: dict[str, int] = {}
        self.svd_preferences: torch.Tensor | None = None
        # Conv1D stores its weight as (in, out): the layer type decides, not the config flag.
        self.fan_in_fan_out = isinstance(self.get_base_layer(), Conv1D)
        self.is_target_conv_1d_layer = False
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, r, lora_alpha=lora_alpha, config=config, **kwargs)

    def update_layer(self, adapter_name: str, r: int, lora_alpha: float, config: LoraConfig,
                     **kwargs: Any) -> None:
        """Add adapter ``adapter_name``: U, V ~ N(0, init_std), σ = 0 (k values), s = 0."""
        if not isinstance(config, SVDLoraPeftConfig):
            raise TypeError("SVD-LoRA layers need an SVDLoraPeftConfig; build the model with "
                            "add_svd_lora or load it with load_svd_lora")
        n_preferences = config.svd_n_preferences
        # peft builds lora_A/lora_B/dropout at width k+m; the rank and scale are then reset to k.
        super().update_layer(adapter_name, r + n_preferences, lora_alpha,  # type: ignore[arg-type]
                             config, **kwargs)
        self.r[adapter_name] = r
        self.scaling[adapter_name] = lora_alpha / r
        self.svd_n_preferences[adapter_name] = n_preferences
        self.lora_svd_diagonal[adapter_name] = PreferenceDiagonal(r)
        nn.init.normal_(self.v_transposed(adapter_name), mean=0.0, std=config.svd_init_std)
        nn.init.normal_(self.u(adapter_name), mean=0.0, std=config.svd_init_std)
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    def u(self, adapter_name: str) -> torch.Tensor:
        """U, the (out, k+m) weight of ``lora_B``."""
        return cast(torch.Tensor, self.lora_B[adapter_name].weight)

    def v_transposed(self, adapter_name: str) -> torch.Tensor:
        """Vᵀ, the (k+m, in) weight of ``lora_A``."""
        return cast(torch.Tensor, self.lora_A[adapter_name].weight)

    def sigma(self, adapter_name: str) -> torch.Tensor:
        """σ, the k learned singular values shared by every preference."""
        return cast(torch.Tensor, self.lora_svd_diagonal[adapter_name].sigma)

    def pref_scale(self, adapter_name: str) -> torch.Tensor:
        """s, the learned scalar in front of λ (shape (1,))."""
        return cast(torch.Tensor, self.lora_svd_diagonal[adapter_name].pref_scale)

    def diagonal(self, adapter_name: str, preferences: torch.Tensor) -> torch.Tensor:
        """diag(σ, s·λ) per row: a (rows, k+m) tensor for (rows, m) preferences."""
        return cast(torch.Tensor, self.lora_svd_diagonal[adapter_name](preferences))

    def lora_factors(self, adapter_name: str,
                     preference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(down, up) with ΔW = up @ down at one preference: Vᵀ and scale·U·diag(σ, s·λ)."""
        diagonal = self.diagonal(adapter_name, preference.reshape(1, -1))[0]
        down = self.v_transposed(adapter_name)
        up = self.u(adapter_name) * (diagonal * self.scaling[adapter_name])
        return down, up

    def get_delta_weight(self, adapter: str) -> torch.Tensor:
        """ΔW at the single preference now set, in the base weight's layout (used by merge)."""
        preferences = self._require_preferences()
        if preferences.shape[0] != 1:
            raise ValueError("merging needs one preference vector, but per-row preferences "
                             f"({preferences.shape[0]} rows) are set")
        down, up = self.lora_factors(adapter, preferences[0])
        compute_dtype = torch.float32 if down.device.type == "cpu" else down.dtype
        delta = up.to(compute_dtype) @ down.to(compute_dtype)
        delta = delta.T if self.fan_in_fan_out else delta
        return delta.to(down.dtype)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if kwargs.pop("adapter_names", None) is not None:
            raise ValueError("SVD-LoRA does not mix adapters per row; set per-row preferences")
        kwargs.pop("alora_offsets", None)  # peft's variant keyword, never for the base layer
        if self.disable_adapters:
            if self.merged:
                self.unmerge()
            return self.base_layer(x, *args, **kwargs)
        result = self.base_layer(x, *args, **kwargs)
        if self.merged:
            return result
        result_dtype = result.dtype
        for adapter_name in self.active_adapters:
            if adapter_name not in self.lora_A:
                continue
            result = result + self._adapter_output(adapter_name, x)
        return result.to(result_dtype)

    def _adapter_output(self, adapter_name: str, x: torch.Tensor) -> torch.Tensor:
        lora_A, lora_B = self.lora_A[adapter_name], self.lora_B[adapter_name]
        x = self._cast_input_dtype(x, self.v_transposed(adapter_name).dtype)
        # the scale is folded into the diagonal, the smallest tensor on the path
        diagonal = self._diagonal_for_batch(adapter_name, x) * self.scaling[adapter_name]
        return lora_B(lora_A(self.lora_dropout[adapter_name](x)) * diagonal)

    def _diagonal_for_batch(self, adapter_name: str, x: torch.Tensor) -> torch.Tensor:
        preferences = self._require_preferences()
        n_preferences = self.svd_n_preferences[adapter_name]
        if preferences.shape[1] != n_preferences:
            raise ValueError(f"adapter {adapter_name!r} takes {n_preferences} preference weights, "
                             f"got {preferences.shape[1]}")
        diagonal = self.diagonal(adapter_name, preferences)
        if preferences.shape[0] == 1:
            return diagonal[0]  # one λ for the whole batch: broadcast
        if x.dim() < 2 or x.shape[0] != preferences.shape[0]:
            raise ValueError(
                f"{preferences.shape[0]} preference rows but the batch has "
                f"{x.shape[0] if x.dim() >= 2 else 'no batch dimension'} rows; one row per batch "
                "row is needed. Beam search and num_return_sequences > 1 expand the batch: repeat "
                "each preference row that many times (torch.repeat_interleave) or use one λ")
        return diagonal.view(x.shape[0], *([1] * (x.dim() - 2)), diagonal.shape[1])

    def _require_preferences(self) -> torch.Tensor:
        if self.svd_preferences is None:
            raise RuntimeError("no preference vector is set on this SVD-LoRA model; call "
                               "set_preferences(model, preferences) first")
        return self.svd_preferences

    def __repr__(self) -> str:
        return "svd_lora." + nn.Module.__repr__(self)

