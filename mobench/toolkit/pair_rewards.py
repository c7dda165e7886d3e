"""Reward gaps of a task's preference pairs, every response scored once, in comparable units.

MODPO's margin needs, for every pair (x, y_w, y_l) of objective k's data, the other objectives'
reward gaps r_j(x, y_w) − r_j(x, y_l), in the units of objective k's implicit DPO reward, which
fits the Bradley-Terry model of k's labels (log-odds that y_w wins). Two steps:

- :func:`score_pair_responses`: every distinct (prompt, response) of the pairs that need it
  scored by the training scorer of every objective some grid model weighs as a margin (counted
  scorers: each response is one reward call per such objective), as a durable stage of the run
  (:func:`mobench.toolkit.scored_responses.load_or_run_stage`), so a resumed run never scores twice.
  An objective no grid model weighs (every objective on a grid of vertices, where MODPO is plain
  DPO) costs no reward call. The scores are also kept beside the task's assets
  (``pair-rewards/``, keyed by the objectives, the pair sets, the thread count and CPU kernels),
  since the pairs and the reward models are the task's and the seed's, not the run's: another run
  reads them instead of scoring again, and its cost record counts their reward calls and adds
  their seconds back under ``reused``, so it is not cheaper because another run paid.
- :func:`pair_reward_gaps`: per objective's pairs, the (n, m) gaps of the raw scores normalized
  by the task's fixed bounds (``spec.normalize``: 0 at the low bound, 1 at the high one), in one
  of two units (the columns of objectives not scored are 0):

  * ``bradley-terry`` (default): each objective's normalized gaps times its Bradley-Terry slope
    s_j, the maximum-likelihood fit of P(y_w wins) = σ(s_j Δ_j) on objective j's own pairs
    (:func:`bradley_terry_slope`), so every margin is in log-odds of its own labels, as the
    paper's margin reward models (Bradley-Terry models of the other objectives' data) are;
  * ``normalized``: the normalized gaps as they are (slope 1).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

from mobench.core.specs import TaskSpec
from mobench.core.store import read_json, write_json_atomic
from mobench.core.threads import kernel_signature, torch_threads_in_use
from mobench.toolkit.scored_responses import ScoredResponses, load_or_run_stage, score_responses

if TYPE_CHECKING:
    import datasets

    from mobench.core.method import FitContext

MarginUnits = Literal["bradley-terry", "normalized"]
MARGIN_UNITS: tuple[str, ...] = ("bradley-terry", "normalized")


@dataclass(frozen=True)
class PairRewardGaps:
    """The reward gaps of every objective's pairs.

    Attributes:
        gaps: per objective name, (n_pairs, m) gaps r_j(chosen) − r_j(rejected) of that
            objective's pairs, one column per objective j in the task's order, in ``units``.
        slopes: (m,) the factor each objective's normalized gaps were multiplied by.
        units: ``bradley-terry`` or ``normalized``.
    """

    gaps: Mapping[str, np.ndarray]
    slopes: tuple[float, ...]
    units: str


def score_pair_responses(context: FitContext, path: Path, margins: Sequence[str],
                         pair_sets: Sequence[str]) -> ScoredResponses:
    """Every distinct (prompt, response) of the pairs of ``pair_sets`` with its raw training
    scores for the objectives ``margins`` (one column each, in the task's order), saved at
    ``path`` (and read back from there by a resumed run)."""
    task = context.task
    scored = [name for name in task.spec.objective_names if name in set(margins)]

    def score() -> ScoredResponses:
        rows: list[tuple[str, str]] = []
        for name in task.spec.objective_names:
            if name not in set(pair_sets) or not scored:
                continue
            pairs = task.data.preference_pairs[name]
            rows += zip(pairs["prompt"], pairs["chosen"], strict=True)
            rows += zip(pairs["prompt"], pairs["rejected"], strict=True)
        distinct = list(dict.fromkeys(rows))
        if not distinct:
            return ScoredResponses((), (), np.zeros((0, len(scored))))
        cache = task_pair_scores_path(context, scored, pair_sets)
        if cache is not None and cache.is_file():
            return _reuse(context, cache)
        calls_before = context.meter.snapshot()["counts"].get("reward_calls", 0)
        started = time.perf_counter()
        result = score_responses([p for p, _ in distinct], [r for _, r in distinct],
                                 context.reward_scorers, scored)
        if cache is not None:
            calls = context.meter.snapshot()["counts"].get("reward_calls", 0) - calls_before
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(cache, {"format": PAIR_SCORES_FORMAT, "rows": result.to_dict(),
                                      "reward_calls": int(calls),
                                      "seconds": round(time.perf_counter() - started, 3)})
        return result

    return load_or_run_stage(path, context, score)


PAIR_SCORES_DIR = "pair-rewards"
PAIR_SCORES_FORMAT = "1"


def task_pair_scores_path(context: FitContext, scored: Sequence[str],
                          pair_sets: Sequence[str]) -> Path | None:
    """Where the scores of these pair sets' responses by these objectives' training scorers are
    kept beside the task's assets (None: the task has no asset folder)."""
    root = context.task.extras.get("asset_root")
    if not root:
        return None
    key = {"format": PAIR_SCORES_FORMAT, "objectives": list(scored),
           "pair_sets": sorted(pair_sets), "torch_threads": torch_threads_in_use(),
           "cpu_kernels": kernel_signature()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(root) / PAIR_SCORES_DIR / f"{digest}.json"


def _reuse(context: FitContext, cache: Path) -> ScoredResponses:
    """The kept scores, with their reward calls counted and their seconds noted as reused."""
    saved = read_json(cache)
    if saved.get("format") != PAIR_SCORES_FORMAT:
        raise ValueError(f"{str(cache)!r} was written by another version of mobench")
    context.meter.add(reward_calls=int(saved["reward_calls"]))
    context.meter.note_reuse(f"pair-rewards-{cache.stem}", {
        "what": "reward scores of the task's pair responses, computed once per task and seed",
        "reward_calls": int(saved["reward_calls"]), "train_seconds": float(saved["seconds"])})
    return ScoredResponses.from_dict(saved["rows"])


def bradley_terry_slope(gaps: np.ndarray) -> float:
    """The s ≥ 0 maximizing Σ log σ(s · gap) over pairs whose chosen side won (gap = score of
    the chosen minus score of the rejected response).

    One pseudo-pair won by each side at the mean |gap| keeps the fit finite when every gap is
    positive (separable labels); among thousands of pairs it moves the slope negligibly. Scores
    that do not agree with the labels on average (or are all tied) get slope 0: no margin.
    """
    gaps = np.asarray(gaps, dtype=np.float64).ravel()
    if gaps.size == 0 or not np.all(np.isfinite(gaps)):
        raise ValueError("the slope needs at least one finite reward gap")
    spread = float(np.mean(np.abs(gaps)))
    if spread == 0.0:
        return 0.0
    points = np.concatenate([gaps, [spread, -spread]])

    def derivative(slope: float) -> float:  # of the negative log-likelihood; increasing in s
        return float(-(points * expit(-slope * points)).sum())

    if derivative(0.0) >= 0.0:
        return 0.0
    upper = 1.0
    while derivative(upper) < 0.0:
        upper *= 2.0
    return float(brentq(derivative, 0.0, upper, xtol=1e-10))


def pair_reward_gaps(spec: TaskSpec, pairs: Mapping[str, datasets.Dataset],
                     scored: ScoredResponses, units: str,
                     margins: Sequence[str] | None = None,
                     trained: Sequence[str] | None = None) -> PairRewardGaps:
    """The reward gaps of the pairs of each ``trained`` objective (None: every objective) from
    the scored responses, in ``units``. ``scored`` holds one column per objective of ``margins``
    (None: every objective), in the task's order; the gap columns and slopes of the others are
    0. The Bradley-Terry slope of a margin objective is fitted on its own pairs."""
    if units not in MARGIN_UNITS:
        raise ValueError(f"unknown margin units {units!r}; choose {', '.join(MARGIN_UNITS)}")
    names = spec.objective_names
    columns = [j for j, name in enumerate(names) if margins is None or name in set(margins)]
    if scored.scores.shape[1] != len(columns):
        raise ValueError(f"{scored.scores.shape[1]} score columns for the {len(columns)} "
                         f"margin objectives")
    normalized = np.zeros((len(scored), len(names)))
    for column, j in enumerate(columns):
        normalized[:, j] = spec.objectives[j].normalize(scored.scores[:, column])
    row_of = {key: i for i, key in enumerate(zip(scored.prompts, scored.responses, strict=True))}

    def gaps_of(name: str) -> np.ndarray:
        data = pairs[name]
        if not columns:
            return np.zeros((len(data), len(names)))
        try:
            chosen = [row_of[key] for key in zip(data["prompt"], data["chosen"], strict=True)]
            rejected = [row_of[key] for key in zip(data["prompt"], data["rejected"],
                                                   strict=True)]
        except KeyError as missing:
            raise ValueError(f"objective {name!r}: response {missing} was not scored") from None
        return normalized[chosen] - normalized[rejected]

    slopes = np.zeros(len(names))
    for j in columns:
        slopes[j] = 1.0 if units == "normalized" else bradley_terry_slope(gaps_of(names[j])[:, j])
    wanted = names if trained is None else [n for n in names if n in set(trained)]
    return PairRewardGaps({name: gaps_of(name) * slopes for name in wanted},
                          tuple(float(s) for s in slopes), units)
