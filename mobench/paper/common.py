"""Helpers every paper-scale task shares: stable eval-prompt selection, prompt templates, the
serving options of reward models, and the reference-policy loader.

The eval prompts never depend on a run's seed: they are drawn from a fixed permutation
(:data:`PROMPT_SELECTION_SEED`), so every method and seed is evaluated on the same prompts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import datasets

# Eval prompts are drawn from a fixed permutation so that they never depend on the run seed.
PROMPT_SELECTION_SEED = 0


def prompt_table(prompts: Sequence[str], n: int, id_prefix: str) -> datasets.Dataset:
    """Distinct prompts as a ``prompt_id``/``prompt`` dataset, the first ``n`` of a fixed shuffle.

    ``n = 0`` keeps them all. The order (and so the selection) depends only on the prompts and on
    :data:`PROMPT_SELECTION_SEED`, never on a run's seed.
    """
    import datasets

    distinct = list(dict.fromkeys(p for p in prompts if p))
    order = np.random.default_rng(PROMPT_SELECTION_SEED).permutation(len(distinct))
    chosen = [distinct[i] for i in order[:n or len(distinct)]]
    ids = [f"{id_prefix}-{hashlib.sha1(p.encode('utf-8')).hexdigest()[:12]}" for p in chosen]
    return datasets.Dataset.from_dict({"prompt_id": ids, "prompt": chosen})


def fill_template(template: str, prompt: str) -> str:
    """The template with its ``{prompt}`` replaced (braces in the prompt are left alone)."""
    return template.replace("{prompt}", prompt)


def reward_model_serving_options(sources: Any) -> dict[str, Any]:
    """The serving fields every paper-scale sources dataclass shares, as reward-model options."""
    return {"batch_size": sources.rm_batch_size, "max_length": sources.rm_max_length,
            "dtype": sources.dtype, "device": sources.device,
            "trust_remote_code": sources.trust_remote_code}


def reference_policy_loader(sources: Any):  # type: ignore[no-untyped-def]
    """A zero-argument loader of the sources' policy, for ``TaskInstance.load_reference_policy``."""

    def load():  # type: ignore[no-untyped-def]
        from mobench.models import load_causal_lm

        return load_causal_lm(sources.policy, trust_remote_code=sources.trust_remote_code,
                              dtype=sources.dtype)

    return load
