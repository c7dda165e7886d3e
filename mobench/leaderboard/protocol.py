"""What makes runs comparable on one leaderboard, and which runs a commit reproduces.

Runs of a task are ranked together only if they share the evaluation protocol: the scale, the
task's configuration (its data), the task's assets (tokenizer, reference policy and reward
models, by content digest, where the runs recorded them), the preference grid, the evaluated
prompts and the evaluation settings that shape responses (decoding, batch size, prompt and grid
limits). A user's run of a new method beside the committed results is refused, with the
difference named, when any of these differ: its hypervolume would not mean the same thing.

Settings that only shape a run's own intervals (``n_bootstrap``, ``confidence``, ``interval``)
are left out: a leaderboard recomputes its intervals itself.

The task's assets are compared between runs of one seed: a tiny task builds its reference
policy and reward models from the run's seed (a seed's spread includes them), so runs of seeds 0
and 1 rightly hold other assets, while two runs of seed 0 must hold the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mobench.core.errors import ConfigError
from mobench.leaderboard.collect import RunScores
from mobench.run.published import unreproducible_reason

INTERVAL_ONLY_SETTINGS = ("n_bootstrap", "confidence", "interval")
PER_SEED_FACTS = ("task assets",)


def protocol(run: RunScores) -> dict[str, Any]:
    """The facts two runs of a task must share to be ranked together (None: not recorded)."""
    identity = run.spec.get("identity") or {}
    evaluation = {k: v for k, v in (identity.get("eval") or {}).items()
                  if k not in INTERVAL_ONLY_SETTINGS}
    return {"scale": run.result.label.scale,
            "task configuration": identity.get("task_config"),
            "evaluation settings": evaluation or None,
            "task assets": run.spec.get("assets") or None,
            "preference grid": run.preferences.tolist(),
            "evaluated prompts": list(run.prompt_ids) or None}


def check_protocol(task: str, runs: Sequence[RunScores]) -> None:
    """Refuse runs of ``task`` whose protocols differ (a fact one run did not record is not
    compared: runs of older mobench versions recorded fewer; the per-seed facts only between
    runs of one seed)."""
    if not runs:
        return
    first = runs[0]
    expected = protocol(first)
    first_of_seed: dict[int, tuple[RunScores, dict[str, Any]]] = {}
    for run in runs:
        facts = protocol(run)
        seed_first, seed_expected = first_of_seed.setdefault(run.result.label.seed, (run, facts))
        for name, value in facts.items():
            other, wanted = ((seed_first, seed_expected[name]) if name in PER_SEED_FACTS
                             else (first, expected[name]))
            if value is None or wanted is None or value == wanted:
                continue
            detail = _difference(wanted, value)
            raise ConfigError(
                f"runs of {task} differ in their {name}{detail}: {str(other.folder)!r} and "
                f"{str(run.folder)!r} were not evaluated the same way, so their metrics do "
                "not compare; rerun one with the other's task, assets and evaluation settings")


def _difference(first: Any, other: Any) -> str:
    if isinstance(first, dict) and isinstance(other, dict):
        keys = sorted(k for k in set(first) | set(other) if first.get(k) != other.get(k))
        return f" ({', '.join(keys)})" if keys else ""
    if isinstance(first, list) and isinstance(other, list) and len(first) != len(other):
        return f" ({len(first)} against {len(other)} entries)"
    return ""


def unreproducible_runs(runs: Sequence[RunScores]) -> dict[str, str]:
    """Run folder -> why no commit reproduces it, for the runs that one does not."""
    found = {}
    for run in runs:
        reason = unreproducible_reason(run.spec)
        if reason:
            found[str(run.folder)] = reason
    return found
