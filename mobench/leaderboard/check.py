"""``mobench check``: compare runs against committed reference metrics.

A baseline is a JSON file::

    {"tolerances": {"default": {"abs": 1e-9, "rel": 1e-6},
                    "exact.hypervolume": {"abs": 0.01, "rel": 0.0}, ...},
     "metrics": ["exact.hypervolume", "exact.controllability", ...],
     "runs": {"panacea/dpo-ls/hh/tiny/seed0": {"exact.hypervolume": 0.51, ...}, ...}}

A metric moved when ``|now - then| > abs + rel * |then|`` (its own tolerance, else the default);
a metric defined on one side only moved too. A run without an entry, and an entry without a run,
are problems as well: a check that silently skips a method guards nothing (``--given-only`` checks
a part of the baseline on purpose: the given runs, each of which must still have an entry).
``--update`` rewrites
the entries from the runs, keeping the tolerances, the metric list and an optional ``about`` note
(where the tolerances come from).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobench.core.errors import ConfigError
from mobench.run.results import RunResult

DEFAULT_METRICS = ("hypervolume", "inner_product", "controllability", "eum", "spacing",
                   "sparsity", "non_dominated_count")
DEFAULT_TOLERANCE = {"abs": 1e-9, "rel": 1e-6}


@dataclass(frozen=True)
class Problem:
    """One thing a check found: a moved metric, or a run or entry without its counterpart."""

    run: str
    message: str

    def format(self) -> str:
        return f"{self.run}: {self.message}"


def run_key(result: RunResult) -> str:
    label = result.label
    return f"{label.method}/{label.variant}/{label.task}/{label.scale}/seed{label.seed}"


def run_values(result: RunResult, metrics: Sequence[str]) -> dict[str, float | None]:
    """``set.metric`` -> value for the requested metrics (set defaulting to the primary)."""
    values: dict[str, float | None] = {}
    for key in metrics:
        set_name, _, metric = key.rpartition(".")
        set_name = set_name or result.primary_scorer
        entry = result.metrics.get(set_name, {}).get(metric)
        values[f"{set_name}.{metric}"] = None if entry is None else entry.get("value")
    return values


def read_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"baseline {str(path)!r} does not exist; create it with "
                          "--update") from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read baseline {str(path)!r}: {error}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("runs"), Mapping):
        raise ConfigError(f"baseline {str(path)!r} has no 'runs' mapping")
    _check_shape(data, str(path))
    return dict(data)


def _check_shape(data: Mapping[str, Any], where: str) -> None:
    """One line naming the first part of a baseline that is not what :func:`check` reads."""
    def bad(what: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(f"baseline {where!r}: {what} must be {expected}, not "
                           f"{json.dumps(value)[:60]}")

    metrics = data.get("metrics")
    if metrics is not None and (not isinstance(metrics, list)
                                or not all(isinstance(m, str) for m in metrics)):
        raise bad("'metrics'", "a list of metric names", metrics)
    tolerances = data.get("tolerances", {})
    if not isinstance(tolerances, Mapping):
        raise bad("'tolerances'", "a mapping of metric names to {abs, rel}", tolerances)
    for name, entry in tolerances.items():
        if not isinstance(entry, Mapping) or not all(
                k in ("abs", "rel") and _is_number(v) and v >= 0 for k, v in entry.items()):
            raise bad(f"tolerances[{name!r}]", 'a mapping like {"abs": 1e-9, "rel": 1e-6} of '
                      "non-negative numbers", entry)
    for key, entry in data["runs"].items():
        if not isinstance(entry, Mapping):
            raise bad(f"runs[{key!r}]", "a mapping of metric names to numbers", entry)
        for metric, value in entry.items():
            if value is not None and not _is_number(value):
                raise bad(f"runs[{key!r}][{metric!r}]", "a number or null", value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def tolerance(baseline: Mapping[str, Any], metric: str) -> tuple[float, float]:
    tolerances = baseline.get("tolerances", {})
    chosen = tolerances.get(metric) or tolerances.get(metric.rpartition(".")[2]) \
        or tolerances.get("default") or DEFAULT_TOLERANCE
    return float(chosen.get("abs", 0.0)), float(chosen.get("rel", 0.0))


def check(baseline: Mapping[str, Any], results: Sequence[RunResult], *,
          given_only: bool = False) -> list[Problem]:
    """Every problem of ``results`` against ``baseline`` (empty: all within tolerance).
    ``given_only``: check the given runs against their entries and leave the baseline's other
    entries alone (a sample of the committed runs, say), instead of requiring a run for each."""
    metrics = list(baseline.get("metrics") or [f"{m}" for m in DEFAULT_METRICS])
    entries: Mapping[str, Mapping[str, float | None]] = baseline["runs"]
    problems: list[Problem] = []
    seen = set()
    for result in sorted(results, key=run_key):
        key = run_key(result)
        seen.add(key)
        if key not in entries:
            problems.append(Problem(key, "has no baseline entry (add it with --update)"))
            continue
        now = run_values(result, metrics)
        for metric, then in entries[key].items():
            if metric not in now:
                now.update(run_values(result, [metric]))
            value = now[metric]
            if then is None or value is None:
                if then != value:
                    problems.append(Problem(key, f"{metric} was {_fmt(then)}, is {_fmt(value)}"))
                continue
            absolute, relative = tolerance(baseline, metric)
            allowed = absolute + relative * abs(then)
            if abs(value - then) > allowed:
                problems.append(Problem(key, f"{metric} moved {_fmt(then)} -> {_fmt(value)} "
                                             f"({value - then:+.4g}; tolerance ±{allowed:.3g})"))
    for key in sorted(set(entries) - seen) if not given_only else ():
        problems.append(Problem(key, "is in the baseline but no run was given for it"))
    return problems


def updated(baseline: Mapping[str, Any] | None, results: Sequence[RunResult], *,
            given_only: bool = False) -> dict[str, Any]:
    """The baseline rewritten from ``results`` (tolerances, the metric list and the ``about``
    note that says where the tolerances come from kept); ``given_only`` keeps the entries of
    runs not given and rewrites only the given runs' entries."""
    base = dict(baseline or {})
    metrics = list(base.get("metrics") or DEFAULT_METRICS)
    about = {"about": base["about"]} if "about" in base else {}
    return {**about, "tolerances": base.get("tolerances", {"default": DEFAULT_TOLERANCE}),
            "metrics": metrics,
            "runs": dict(sorted({**(base.get("runs", {}) if given_only else {}),
                                 **{run_key(r): run_values(r, metrics) for r in results}}.items()))}


def write_baseline(path: Path, data: Mapping[str, Any]) -> None:
    from mobench.core.store import write_text_atomic

    write_text_atomic(Path(path), json.dumps(data, indent=2, sort_keys=True) + "\n")


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.6g}"
