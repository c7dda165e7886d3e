"""Helpers every paper-scale task shares: stable eval-prompt selection, prompt templates, the
serving options of reward models, the reference-policy loader, reading a split of the sources'
dataset (with its explicit ``data_files``), and which SFT responses carry nothing to learn.

The eval prompts never depend on a run's seed: they are drawn from a fixed permutation
(:data:`PROMPT_SELECTION_SEED`), so every method and seed is evaluated on the same prompts.

SFT corpora leave out empty responses and placeholders standing for "no output" (Alpaca writes
``<nooutput>`` where its generator gave none): fine-tuning on them teaches a policy to answer with
nothing or with the placeholder. The rows left out are counted (:mod:`mobench.data.data_report`).
Preference pairs keep them: an empty answer a labeller ranked is still a preference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mobench.data.data_report import KEPT, RowTally, dropped

if TYPE_CHECKING:
    import datasets

    from mobench.core.task import TaskData

# Eval prompts are drawn from a fixed permutation so that they never depend on the run seed.
PROMPT_SELECTION_SEED = 0
# Responses that stand for "no output" (compared lowercased, surrounding whitespace stripped).
PLACEHOLDER_RESPONSES = frozenset({"<nooutput>"})


@dataclass(frozen=True)
class LoadedData:
    """A paper-scale task's data and the tallies of the rows its loader repaired or dropped.

    Attributes:
        data: the task data.
        tallies: one :class:`~mobench.data.data_report.RowTally` per source table converted.
    """

    data: TaskData
    tallies: tuple[RowTally, ...]


def sft_response_status(response: str) -> str:
    """``kept``, or why an SFT response is left out (empty, or a "no output" placeholder)."""
    text = response.strip()
    if not text:
        return dropped("empty response")
    if text.lower() in PLACEHOLDER_RESPONSES:
        return dropped(f"placeholder response {text}")
    return KEPT


def read_split(sources: Any, dataset: str, split: str, cache_dir: Path, *,
               config_name: str = "", data_dir: str = "") -> datasets.Dataset:
    """One split of ``dataset``, from the file ``sources.data_files`` names for it if any."""
    from mobench.data.sources import data_file_key, data_file_table, load_dataset_split

    files = data_file_table(sources.data_files).get(data_file_key(split, data_dir))
    return load_dataset_split(dataset, split, config_name=config_name, data_dir=data_dir,
                              cache_dir=Path(cache_dir) / "datasets", data_files=files)


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
        from mobench.data.models import load_causal_lm

        return load_causal_lm(sources.policy, trust_remote_code=sources.trust_remote_code,
                              dtype=sources.dtype)

    return load
