"""The front of a run: one canonical computation, and the table ``front.csv`` shows.

Every metric, plot and the CSV read the same normalized front, :func:`normalized_front`: per-prompt
scores normalized by the task's bounds, then averaged over prompts (the bootstrap resamples the
prompts of the same per-prompt array). Computing it once keeps values that tie exactly tied, so a
metric recomputed from ``front.csv`` equals the one in ``metrics.json``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mobench.core.specs import TaskSpec
from mobench.run.evaluation import ScoreTable


def normalized_scores(spec: TaskSpec, table: ScoreTable, scorer_set: str) -> np.ndarray:
    """Per-prompt normalized scores (n_preferences, n_prompts, m) of one scorer set."""
    return spec.normalize(table.scores[scorer_set])


def normalized_front(spec: TaskSpec, table: ScoreTable, scorer_set: str) -> np.ndarray:
    """The normalized front (n_preferences, m): the mean over prompts of normalized scores."""
    return normalized_scores(spec, table, scorer_set).mean(axis=1)


def front_frame(spec: TaskSpec, preferences: np.ndarray, table: ScoreTable) -> pd.DataFrame:
    """Columns: ``preference.<obj>``, then per scorer set ``<set>.<obj>`` (mean raw score over
    prompts), ``<set>.<obj>.normalized`` (:func:`normalized_front`) and ``<set>.non_dominated``;
    plus mean response tokens."""
    from mobench.metrics import non_dominated

    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(spec.objective_names):
        columns[f"preference.{name}"] = preferences[:, j]
    for set_name in table.scores:
        raw = table.front(set_name)
        normalized = normalized_front(spec, table, set_name)
        for j, name in enumerate(spec.objective_names):
            columns[f"{set_name}.{name}"] = raw[:, j]
            columns[f"{set_name}.{name}.normalized"] = normalized[:, j]
        columns[f"{set_name}.non_dominated"] = non_dominated(normalized)
    columns["mean_tokens"] = table.n_tokens.mean(axis=1)
    return pd.DataFrame(columns)


def read_front_csv(text_or_path: str, objective_names: tuple[str, ...],
                   scorer_set: str) -> tuple[np.ndarray, np.ndarray]:
    """(preferences, normalized front) of one scorer set, read back from ``front.csv``."""
    # read as text, then parsed exactly: pandas' fast float parser may round the last digit
    frame = pd.read_csv(text_or_path, dtype=str)
    preferences = frame[[f"preference.{o}" for o in objective_names]].to_numpy().astype(
        np.float64)
    front = frame[[f"{scorer_set}.{o}.normalized" for o in objective_names]].to_numpy().astype(
        np.float64)
    return preferences, front
