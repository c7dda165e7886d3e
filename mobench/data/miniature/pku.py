"""Preference rows in the PKU-SafeRLHF schema, and the per-objective pairs methods train on.

A PKU-SafeRLHF row holds a prompt, two responses, which one is more helpful
(``better_response_id``), which one is safer (``safer_response_id``) and whether each response is
safe. mobench's ``hhc`` miniature adds one column the real dataset lacks,
``more_concise_response_id``, so that conciseness has labelled pairs too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

PKU_COLUMNS: tuple[str, ...] = ("prompt", "response_0", "response_1", "is_response_0_safe",
                                "is_response_1_safe", "better_response_id", "safer_response_id")
PKU_TYPES: Mapping[str, type] = {"prompt": str, "response_0": str, "response_1": str,
                                 "is_response_0_safe": bool, "is_response_1_safe": bool,
                                 "better_response_id": int, "safer_response_id": int}


def rows_to_dataset(rows: Sequence[Mapping[str, Any]]) -> datasets.Dataset:
    """Rows (dicts with at least the PKU columns) as a dataset, columns in schema order."""
    import datasets

    if not rows:
        raise ValueError("no preference rows")
    columns = list(PKU_COLUMNS) + [k for k in rows[0] if k not in PKU_COLUMNS]
    missing = [c for c in PKU_COLUMNS if c not in rows[0]]
    if missing:
        raise ValueError(f"preference rows lack the PKU-SafeRLHF columns {missing}")
    return datasets.Dataset.from_dict({c: [row[c] for row in rows] for c in columns})


def pairs_from_rows(rows: datasets.Dataset, id_column: str) -> datasets.Dataset:
    """The ``prompt``/``chosen``/``rejected`` view of ``rows`` labelled by ``id_column``."""
    import datasets

    chosen, rejected = [], []
    for r0, r1, preferred in zip(rows["response_0"], rows["response_1"], rows[id_column],
                                 strict=True):
        chosen.append(r1 if preferred == 1 else r0)
        rejected.append(r0 if preferred == 1 else r1)
    return datasets.Dataset.from_dict({"prompt": list(rows["prompt"]), "chosen": chosen,
                                       "rejected": rejected})
