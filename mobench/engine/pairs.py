"""Merge per-objective data into one table with per-objective labels.

Tasks hand out one prompt/chosen/rejected dataset per objective, and the same (prompt, response a,
response b) is often labelled for several objectives with different winners (PKU-SafeRLHF: better
vs safer). Merged, each response is scored once per batch and every objective's term reuses it.

Matching: the k-th occurrence of a (prompt, {a, b}) pair in one objective's data merges with the
k-th occurrence in another's, so every objective keeps exactly its own rows (a pair listed twice
for one objective stays two rows, and no label is ever overwritten).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import datasets
import numpy as np
import pandas as pd

KEY = ["prompt", "response_a", "response_b", "occurrence"]


def merge_preference_pairs(pairs: Mapping[str, datasets.Dataset],
                           objectives: Sequence[str]) -> datasets.Dataset:
    """One row per candidate pair: ``prompt``, ``response_a``, ``response_b``, ``labels``.

    ``labels[i]`` is +1 when objective ``objectives[i]`` prefers a, −1 when it prefers b and 0
    when that objective did not label the pair. a is the lexicographically smaller response, so
    the merge does not depend on which objective lists a pair first.
    """
    _check_objectives(pairs, objectives, ("prompt", "chosen", "rejected"))
    frames = []
    for index, name in enumerate(objectives):
        frame = pairs[name].select_columns(["prompt", "chosen", "rejected"]).to_pandas()
        a_first = frame["chosen"] <= frame["rejected"]
        frame = pd.DataFrame({
            "prompt": frame["prompt"],
            "response_a": frame["chosen"].where(a_first, frame["rejected"]),
            "response_b": frame["rejected"].where(a_first, frame["chosen"]),
            f"label_{index}": a_first.map({True: 1, False: -1}).astype("int8"),
        })
        frame["occurrence"] = frame.groupby(KEY[:3], sort=False).cumcount()
        frames.append(frame)
    merged = frames[0]
    for frame in frames[1:]:
        merged = merged.merge(frame, on=KEY, how="outer", sort=False)
    label_columns = [f"label_{i}" for i in range(len(objectives))]
    labels = merged[label_columns].fillna(0).astype("int64").to_numpy()
    table = pd.DataFrame({"prompt": merged["prompt"], "response_a": merged["response_a"],
                          "response_b": merged["response_b"], "labels": list(labels)})
    return datasets.Dataset.from_pandas(table, preserve_index=False)


def merge_sft_sets(sets: Mapping[str, datasets.Dataset],
                   objectives: Sequence[str]) -> datasets.Dataset:
    """One row per (prompt, response): ``prompt``, ``response``, ``labels`` (1 where the row is
    in that objective's data, else 0); occurrences match as in :func:`merge_preference_pairs`."""
    _check_objectives(sets, objectives, ("prompt", "response"))
    frames = []
    for index, name in enumerate(objectives):
        frame = sets[name].select_columns(["prompt", "response"]).to_pandas()
        frame[f"label_{index}"] = 1
        frame["occurrence"] = frame.groupby(["prompt", "response"], sort=False).cumcount()
        frames.append(frame)
    merged = frames[0]
    for frame in frames[1:]:
        merged = merged.merge(frame, on=["prompt", "response", "occurrence"], how="outer",
                              sort=False)
    label_columns = [f"label_{i}" for i in range(len(objectives))]
    labels = merged[label_columns].fillna(0).astype("int64").to_numpy()
    table = pd.DataFrame({"prompt": merged["prompt"], "response": merged["response"],
                          "labels": list(labels)})
    return datasets.Dataset.from_pandas(table, preserve_index=False)


def keep_rows_of(table: datasets.Dataset,
                 objectives_in_use: Sequence[bool] | None) -> datasets.Dataset:
    """The rows of a merged table (``labels`` column) labelled for at least one objective in
    use; all rows when ``objectives_in_use`` is None or all true."""
    if objectives_in_use is None or all(objectives_in_use):
        return table
    use = np.asarray(objectives_in_use, dtype=bool)
    labels = np.asarray(table["labels"])
    if labels.ndim != 2 or labels.shape[1] != len(use):
        raise ValueError(f"objectives_in_use has {len(use)} entries for labels of shape "
                         f"{labels.shape}")
    keep = np.flatnonzero((labels[:, use] != 0).any(axis=1))
    if keep.size == 0:
        raise ValueError("no training row is labelled for an objective with positive weight")
    return table.select(keep.tolist())


def sft_sets_from_pairs(pairs: Mapping[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
    """Per objective, its chosen responses as SFT data (``prompt``, ``response``)."""
    return {name: data.select_columns(["prompt", "chosen"]).rename_column("chosen", "response")
            for name, data in pairs.items()}


def sft_sets_from_corpus(corpus: datasets.Dataset,
                         objectives: Sequence[str]) -> dict[str, datasets.Dataset]:
    """Per objective, the corpus's ``response_<objective>`` column as SFT data (the chat tasks'
    per-style responses)."""
    missing = [f"response_{o}" for o in objectives if f"response_{o}" not in corpus.column_names]
    if missing:
        raise ValueError(f"the SFT corpus lacks the per-objective columns {missing}; it has "
                         f"{corpus.column_names}")
    return {o: corpus.select_columns(["prompt", f"response_{o}"])
            .rename_column(f"response_{o}", "response") for o in objectives}


def _check_objectives(sets: Mapping[str, datasets.Dataset], objectives: Sequence[str],
                      columns: tuple[str, ...]) -> None:
    if not objectives:
        raise ValueError("at least one objective is needed")
    missing = [o for o in objectives if o not in sets]
    if missing:
        raise ValueError(f"no data for objectives {missing}; data covers {sorted(sets)}")
    for name in objectives:
        absent = [c for c in columns if c not in sets[name].column_names]
        if absent:
            raise ValueError(f"objective {name!r}: data lacks columns {absent}")
        if len(sets[name]) == 0:
            raise ValueError(f"objective {name!r}: no rows")
