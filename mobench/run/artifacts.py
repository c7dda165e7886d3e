"""Whether a finished run's files still hold together, and repairing them when they do not.

``metrics.json`` marks a run finished (:mod:`mobench.run.results` writes it last), but a copy cut
short, a full disk or a stray edit can leave it, ``records.jsonl`` or ``front.csv`` damaged while
the files are still there. Before a sweep skips a run as complete, and before ``mobench run
--resume`` calls a run already complete, :func:`run_damage` checks that ``metrics.json`` parses
and agrees with the records (one record per preference and prompt, the same scorer sets and
objectives, the same response tokens in all) and that ``front.csv`` has every row and column,
with the records' preferences. When they do not, :func:`repair_run` removes what is derived from
the records (``metrics.json``, ``front.csv``, the front's plot), and the unchanged runner
recomputes it on resume: it keeps the complete batches of records, recomputes a damaged or
missing tail, and loads the trained policy rather than training again.

This module reads a run's files and judges them; it computes none of a run's numbers, and only
the CLI and the sweep driver import it, so a run's code fingerprint leaves it out
(:mod:`mobench.run.code_fingerprint`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mobench.core import store

logger = logging.getLogger("mobench")

FRONT_PLOT = Path(store.PLOTS_DIR) / "front.png"
DERIVED = (store.METRICS_FILE, store.FRONT_FILE, str(FRONT_PLOT))  # recomputed from records


def is_finished(folder: Path) -> bool:
    """Whether ``folder`` holds a run that says it is finished (its ``metrics.json``)."""
    return (Path(folder) / store.METRICS_FILE).exists()


def run_damage(folder: Path) -> str:
    """What is wrong with the files of the finished run in ``folder``, in a few words; "" when
    they hold together (or when the run has not finished: there is nothing to judge yet)."""
    folder = Path(folder)
    if not is_finished(folder):
        return ""
    try:
        metrics = _read_metrics(folder)
        records = _read_records(folder, metrics)
        _check_front(folder, metrics, records)
    except _Damaged as damage:
        return str(damage)
    return ""


def repair_run(folder: Path) -> list[str]:
    """Remove the files of ``folder`` that are derived from its records (the caller holds the
    run's lock); return the names removed."""
    removed = []
    for name in DERIVED:
        path = Path(folder) / name
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(name)
    return removed


def repair_if_damaged(folder: Path, busy_hint: str = store.BUSY_RUN_HINT) -> str:
    """Check the finished run in ``folder`` and, when its files are damaged, remove the derived
    ones under the run's lock (a run in use is refused with one line, as the runner refuses
    it). Returns what was wrong ("" when nothing was)."""
    folder = Path(folder)
    if not run_damage(folder):
        return ""
    with store.RunLock(folder, busy_hint=busy_hint):
        damage = run_damage(folder)  # again under the lock: another process may have fixed it
        if damage:
            repair_run(folder)
            # worded as the runner words its own recomputation of an unreadable metrics.json
            logger.warning("%s: %s; recomputing it from the records", folder, damage)
    return damage


class _Damaged(Exception):
    """What makes a finished run's files inconsistent (the message)."""


def _read_metrics(folder: Path) -> dict[str, Any]:
    try:
        metrics = json.loads((folder / store.METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise _Damaged(f"{store.METRICS_FILE} cannot be read ({_short(error)})") from None
    if not isinstance(metrics, dict):
        raise _Damaged(f"{store.METRICS_FILE} is not a JSON object")
    wanted = {"metrics": dict, "objectives": list, "n_preferences": int, "n_prompts": int}
    for key, kind in wanted.items():
        if not isinstance(metrics.get(key), kind):
            raise _Damaged(f"{store.METRICS_FILE} lacks {key!r}")
    if not metrics["metrics"] or not all(isinstance(o, str) for o in metrics["objectives"]):
        raise _Damaged(f"{store.METRICS_FILE} names no scorer set or objectives")
    return metrics


def _read_records(folder: Path, metrics: Mapping[str, Any]) -> dict[int, list[float]]:
    """Check the records against the metrics; return each preference index's vector."""
    path = folder / store.RECORDS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise _Damaged(f"{store.RECORDS_FILE} is missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise _Damaged(f"{store.RECORDS_FILE} cannot be read ({_short(error)})") from None
    n_preferences, n_prompts = metrics["n_preferences"], metrics["n_prompts"]
    sets = set(metrics["metrics"])
    objectives = set(metrics["objectives"])
    seen: set[tuple[int, str]] = set()
    prompts: set[str] = set()
    preferences: dict[int, list[float]] = {}
    tokens = 0
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            index, prompt = record["preference_index"], record["prompt_id"]
            scores, n_tokens = record["scores"], record["n_tokens"]
            preference = [float(x) for x in record["preference"]]
        except (ValueError, KeyError, TypeError):
            raise _Damaged(f"{store.RECORDS_FILE} line {number} is not a whole record") from None
        if not (isinstance(index, int) and 0 <= index < n_preferences):
            raise _Damaged(f"{store.RECORDS_FILE} line {number} has a preference index that "
                           f"{store.METRICS_FILE} does not")
        if (index, prompt) in seen:
            raise _Damaged(f"{store.RECORDS_FILE} line {number} repeats a (preference, prompt)")
        if not isinstance(scores, dict) or set(scores) != sets or any(
                not isinstance(s, dict) or set(s) != objectives for s in scores.values()):
            raise _Damaged(f"{store.RECORDS_FILE} line {number} scores other scorer sets or "
                           f"objectives than {store.METRICS_FILE}")
        if preferences.setdefault(index, preference) != preference:
            raise _Damaged(f"{store.RECORDS_FILE} line {number} gives preference {index} "
                           "another vector")
        seen.add((index, prompt))
        prompts.add(prompt)
        tokens += int(n_tokens)
    if len(seen) != n_preferences * n_prompts or len(prompts) != n_prompts:
        raise _Damaged(f"{store.RECORDS_FILE} holds {len(seen)} of the {n_preferences} x "
                       f"{n_prompts} records {store.METRICS_FILE} was computed from")
    recorded = (metrics.get("evaluation_cost") or {}).get("generated_tokens")
    if isinstance(recorded, int) and recorded != tokens:
        raise _Damaged(f"{store.METRICS_FILE} counts {recorded} response tokens, "
                       f"{store.RECORDS_FILE} {tokens}")
    return preferences


def _check_front(folder: Path, metrics: Mapping[str, Any],
                 preferences: Mapping[int, list[float]]) -> None:
    path = folder / store.FRONT_FILE
    if not path.exists():
        # a run reused from published results has neither front.csv nor the plot
        if (folder / FRONT_PLOT).exists():
            raise _Damaged(f"{store.FRONT_FILE} is missing")
        return
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise _Damaged(f"{store.FRONT_FILE} cannot be read ({_short(error)})") from None
    objectives = metrics["objectives"]
    wanted = {f"preference.{o}" for o in objectives} | {"mean_tokens"}
    for scorer_set in metrics["metrics"]:
        wanted |= {f"{scorer_set}.non_dominated"}
        wanted |= {f"{scorer_set}.{o}{end}" for o in objectives for end in ("", ".normalized")}
    header = rows[0] if rows else []
    if set(header) != wanted or len(header) != len(wanted):
        raise _Damaged(f"{store.FRONT_FILE} does not have the columns of "
                       f"{store.METRICS_FILE}'s scorer sets and objectives")
    body = rows[1:]
    if len(body) != metrics["n_preferences"]:
        raise _Damaged(f"{store.FRONT_FILE} has {len(body)} of its "
                       f"{metrics['n_preferences']} rows")
    columns = {name: i for i, name in enumerate(header)}
    for number, row in enumerate(body):
        if len(row) != len(header):
            raise _Damaged(f"{store.FRONT_FILE} row {number + 1} is cut short")
        for name, cell in zip(header, row, strict=True):
            if not _cell_ok(name, cell):
                raise _Damaged(f"{store.FRONT_FILE} row {number + 1} has {cell!r} for {name}")
        vector = [float(row[columns[f"preference.{o}"]]) for o in objectives]
        if preferences.get(number) != vector:
            raise _Damaged(f"{store.FRONT_FILE} row {number + 1} is not preference {number} "
                           f"of {store.RECORDS_FILE}")


def _cell_ok(column: str, cell: str) -> bool:
    if column.endswith(".non_dominated"):
        return cell in ("True", "False")
    if cell == "" and not column.startswith("preference."):
        return True  # pandas writes a NaN as an empty cell
    try:
        value = float(cell)
    except ValueError:
        return False
    return not math.isinf(value)


def _short(error: BaseException) -> str:
    return " ".join(str(error).split())[:120]

