"""Finding finished runs under the paths a report names, and reading each one's per-prompt
scores back from its folder (``metrics.json`` for who and what, ``records.jsonl`` for the
scores, normalized with the task bounds ``metrics.json`` records). A published run
(:mod:`mobench.run.published`) is read the same way, its records decompressed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mobench.core import store
from mobench.core.errors import RunFolderError
from mobench.core.specs import Objective
from mobench.run.published import metrics_file, read_records_text
from mobench.run.results import RunResult, read_result


@dataclass(frozen=True)
class RunScores:
    """One finished run, with what aggregation needs beyond its metrics.

    Attributes:
        result: what ``metrics.json`` says (label, metrics, cost).
        preferences: (n, m) the evaluated preference vectors, in grid order.
        scores: per scorer set, normalized per-prompt scores (n, prompts, m), prompts in the
            order of their ids (so runs of one task line up prompt by prompt).
        reference_point: the task's hypervolume reference point (normalized).
        reference_fronts: per scorer set, the task's normalized reference front, if it has one.
        reference_hypervolumes: per scorer set with a reference front, the hypervolume of the
            region it bounds (the denominator of ``hypervolume_share``), if the task states it.
        spec: the run's ``spec.json``.
        prompt_ids: the evaluated prompts' ids, in the order of the scores' prompt axis.
    """

    result: RunResult
    preferences: np.ndarray
    scores: dict[str, np.ndarray]
    reference_point: np.ndarray
    reference_fronts: dict[str, np.ndarray]
    spec: dict[str, Any]
    reference_hypervolumes: dict[str, float] = field(default_factory=dict)
    prompt_ids: tuple[str, ...] = ()

    @property
    def folder(self) -> Path:
        return self.result.folder

    def front(self, scorer_set: str) -> np.ndarray:
        """The normalized front (n, m): mean over prompts."""
        return self.scores[scorer_set].mean(axis=1)


def find_run_folders(paths: Iterable[str | Path]) -> list[Path]:
    """Every run folder (one holding ``metrics.json`` and ``spec.json``) at or below ``paths``,
    sorted; re-evaluations under a run's ``evals/`` are left out unless named directly."""
    found: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise RunFolderError(f"{str(path)!r} does not exist")
        if metrics_file(path) is not None:
            found.add(path)
            continue
        for spec in path.rglob(store.SPEC_FILE):
            folder = spec.parent
            if "evals" in folder.relative_to(path).parts:
                continue
            if metrics_file(folder) is not None:
                found.add(folder)
    return sorted(found)


def load_run_scores(folder: Path) -> RunScores:
    """Read one finished run back (one-line errors for a folder that is not one)."""
    result = read_result(folder)
    raw = result.raw
    try:
        objectives = [Objective(o["name"], "", tuple(o["bounds"]), o["direction"])
                      for o in raw["objective_bounds"]]
        reference_point = np.asarray(raw["reference_point"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise RunFolderError(f"{str(folder)!r}: metrics.json lacks the objectives' bounds "
                             "(written by an older mobench); re-run it") from None
    spec = store.read_json(Path(folder) / store.SPEC_FILE)
    records = _read_records(Path(folder))
    n_preferences = 1 + max(int(r["preference_index"]) for r in records)
    prompt_ids = sorted({r["prompt_id"] for r in records})
    column = {pid: j for j, pid in enumerate(prompt_ids)}
    preferences = np.zeros((n_preferences, len(objectives)))
    sets = sorted(result.metrics)
    raw_scores = {s: np.full((n_preferences, len(prompt_ids), len(objectives)), np.nan)
                  for s in sets}
    for record in records:
        i, j = int(record["preference_index"]), column[record["prompt_id"]]
        preferences[i] = record["preference"]
        for s in sets:
            raw_scores[s][i, j] = [record["scores"][s][o.name] for o in objectives]
    if any(np.isnan(array).any() for array in raw_scores.values()):
        raise RunFolderError(f"{str(folder)!r}: records.jsonl lacks cells of the evaluation")
    scores = {s: np.stack([o.normalize(array[..., k]) for k, o in enumerate(objectives)],
                          axis=-1) for s, array in raw_scores.items()}
    references = {s: np.asarray(front, dtype=np.float64)
                  for s, front in raw.get("reference_fronts", {}).items() if front}
    volumes = {s: float(v) for s, v in (raw.get("reference_hypervolumes") or {}).items()
               if s in references}
    return RunScores(result=result, preferences=preferences, scores=scores,
                     reference_point=reference_point, reference_fronts=references, spec=spec,
                     reference_hypervolumes=volumes, prompt_ids=tuple(prompt_ids))


def _read_records(folder: Path) -> list[dict[str, Any]]:
    """The records of a run folder or of a published run (compressed)."""
    path = folder / store.RECORDS_FILE
    records = []
    for number, line in enumerate(read_records_text(folder).splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            raise RunFolderError(f"{str(path)}:{number}: not a JSON record") from None
    if not records:
        raise RunFolderError(f"{str(path)!r} holds no record")
    return records


def load_runs(paths: Sequence[str | Path]) -> list[RunScores]:
    folders = find_run_folders(paths)
    if not folders:
        raise RunFolderError(f"no finished run under {', '.join(map(str, paths))}")
    return [load_run_scores(folder) for folder in folders]
