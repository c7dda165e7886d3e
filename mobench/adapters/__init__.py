"""Adapters on a frozen base model, each module with one job.

- :mod:`~mobench.adapters.svd_layer`: Panacea's SVD-LoRA layer, a custom peft LoRA layer whose
  last m singular values are the preference λ.
- :mod:`~mobench.adapters.svd_attach`: putting it on a model, loading it, writing λ into it.
- :mod:`~mobench.adapters.svd_export`: an SVD-LoRA adapter at one λ as a plain peft LoRA.
- :mod:`~mobench.adapters.lora`: plain peft LoRA adapters, several named ones on one model.
- :mod:`~mobench.adapters.combine`: λ-combinations of LoRA experts (peft's ``cat`` merge, factor
  averaging) and their per-row mixture.
- :mod:`~mobench.adapters.generation`: a whole front in one batched ``generate`` for each kind.
- :mod:`~mobench.adapters.targets`, :mod:`~mobench.adapters.params`: which layers are adapted,
  and parameter counts.
"""

from mobench.adapters.combine import (
    MIXTURE_VARIANTS,
    MixtureVariant,
    PerRowMixture,
    merge,
    merge_delta,
    merge_factors,
)
from mobench.adapters.generation import (
    generate_at_preferences,
    generate_mixture,
    generate_with_adapters,
)
from mobench.adapters.lora import (
    LoRASettings,
    activate_adapter,
    add_lora_adapter,
    export_adapter,
    load_adapters,
    merged_with,
    save_adapters,
)
from mobench.adapters.params import ParameterCount, count_parameters
from mobench.adapters.svd_attach import (
    add_svd_lora,
    current_preferences,
    load_svd_lora,
    merge_at_preference,
    n_preferences_of,
    preference_tensor,
    preferences_set,
    read_svd_peft_config,
    set_preferences,
    svd_lora_layers,
    svd_peft_config,
)
from mobench.adapters.svd_export import export_lora_adapter
from mobench.adapters.svd_layer import SVDLoRAConfig, SVDLoRALinear, SVDLoraPeftConfig

__all__ = [
    "MIXTURE_VARIANTS", "LoRASettings", "MixtureVariant", "ParameterCount", "PerRowMixture",
    "SVDLoRAConfig", "SVDLoRALinear", "SVDLoraPeftConfig", "activate_adapter", "add_lora_adapter",
    "add_svd_lora", "count_parameters", "current_preferences", "export_adapter",
    "export_lora_adapter",
    "generate_at_preferences", "generate_mixture", "generate_with_adapters", "load_adapters",
    "load_svd_lora", "merge", "merge_at_preference", "merge_delta", "merge_factors", "merged_with",
    "n_preferences_of", "preference_tensor", "preferences_set", "read_svd_peft_config",
    "save_adapters", "set_preferences", "svd_lora_layers", "svd_peft_config",
]
