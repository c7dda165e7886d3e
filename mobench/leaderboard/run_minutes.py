"""What making a set of runs took: the run-minutes a regeneration of the leaderboard spends, per
task and seed and per method, from the runs' own cost records.

A run's minutes are its training seconds plus its evaluation seconds (``cost.train_seconds`` and
``evaluation_cost.seconds`` of ``metrics.json``): one run at a time per core, so run-minutes are
core-minutes. Work a run found made in the asset cache (experts, pair rewards, reference
log-probs; ``cost.reused``) is not in its seconds. Within a task and seed, such work is counted
once as *reused*: the first run that needed it made it into the cache, and when a run of the same
group made it (``computed_here``) its seconds are already in that run's. What a group reused from
another group's runs, or from a cache filled before, is what a regeneration on a fresh cache would
add.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobench.run.results import read_result


@dataclass(frozen=True)
class GroupMinutes:
    """The run-minutes of one task and seed.

    Attributes:
        task: the task's name.
        seed: the seed.
        runs: how many runs the group holds.
        run_minutes: the runs' training and evaluation minutes, summed.
        reused_minutes: the cached work the runs read and none of them made, once per item.
        by_method: run-minutes per method.
    """

    task: str
    seed: int
    runs: int
    run_minutes: float
    reused_minutes: float
    by_method: Mapping[str, float]


def _reused_items(cost: Mapping[str, Any]) -> dict[str, tuple[float, bool]]:
    """Each reused item of a cost record: (seconds it took to make, made by this run)."""
    items = {}
    for name, note in (cost.get("reused") or {}).items():
        if isinstance(note, Mapping):
            items[name] = (float(note.get("train_seconds", 0.0)), bool(note.get("computed_here")))
    return items


def run_minutes(folders: Sequence[Path]) -> list[GroupMinutes]:
    """The run-minutes of the finished runs in ``folders``, one entry per (task, seed), sorted."""
    seconds: dict[tuple[str, int], float] = defaultdict(float)
    counts: dict[tuple[str, int], int] = defaultdict(int)
    methods: dict[tuple[str, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    reused: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    made_here: dict[tuple[str, int], set[str]] = defaultdict(set)
    for folder in folders:
        result = read_result(folder)
        key = (result.label.task, result.label.seed)
        own = float(result.cost["train_seconds"]) + float(result.evaluation_cost["seconds"])
        seconds[key] += own
        counts[key] += 1
        methods[key][result.label.method] += own
        for name, (made_in, here) in _reused_items(result.cost).items():
            if here:
                made_here[key].add(name)
            # the same item read by several runs: its making took one time, the longest recorded
            reused[key][name] = max(reused[key].get(name, 0.0), made_in)
    groups = []
    for key in sorted(seconds):
        elsewhere = sum(s for name, s in reused[key].items() if name not in made_here[key])
        groups.append(GroupMinutes(
            task=key[0], seed=key[1], runs=counts[key], run_minutes=seconds[key] / 60,
            reused_minutes=elsewhere / 60,
            by_method={m: s / 60 for m, s in sorted(methods[key].items())}))
    return groups


def format_run_minutes(groups: Sequence[GroupMinutes]) -> str:
    """A table per task and seed, the total, and each method's share of the total."""
    header = ("task", "seed", "runs", "run-minutes", "reused from the cache")
    rows = [(g.task, str(g.seed), str(g.runs), f"{g.run_minutes:.1f}", f"{g.reused_minutes:.1f}")
            for g in groups]
    total = sum(g.run_minutes for g in groups)
    rows.append(("all", "", str(sum(g.runs for g in groups)), f"{total:.1f}",
                 f"{sum(g.reused_minutes for g in groups):.1f}"))
    widths = [max(len(r[k]) for r in (header, *rows)) for k in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in (header, *rows)]
    per_method: dict[str, float] = defaultdict(float)
    for group in groups:
        for method, minutes in group.by_method.items():
            per_method[method] += minutes
    ranked = sorted(per_method.items(), key=lambda item: (-item[1], item[0]))
    shares = ", ".join(f"{m} {v:.1f} ({v / total:.0%})" for m, v in ranked) if total else "-"
    lines.append(f"\nrun-minutes by method: {shares}")
    return "\n".join(lines)
