"""The metrics of one front as a frozen record: value, confidence interval, direction and definition
per metric, plus the bootstrap settings that produced the intervals."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class MetricValue:
    """One metric of one front.

    Attributes:
        value: the metric on the full front; None where undefined (never NaN).
        ci_low: lower end of the bootstrap interval (see ``MetricsReport.interval``); None
            without bootstrap or when undefined on every resample.
        ci_high: upper end of that interval, same rules.
        direction: "higher" or "lower": which way is better.
        definition: one line saying what the number is.
    """

    value: float | None
    ci_low: float | None
    ci_high: float | None
    direction: Direction
    definition: str

    def __post_init__(self) -> None:
        for name in ("value", "ci_low", "ci_high"):
            number = getattr(self, name)
            if number is not None and not math.isfinite(number):
                raise ValueError(f"{name} must be finite or None, got {number!r}")
        if self.direction not in ("higher", "lower"):
            raise ValueError(f"direction must be 'higher' or 'lower', got {self.direction!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain floats/ints and None."""
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "direction": self.direction, "definition": self.definition}


@dataclass(frozen=True)
class MetricsReport:
    """All metrics of one front, in a fixed order, with the bootstrap settings.

    Attributes:
        metrics: metric name -> MetricValue (read-only mapping, insertion order = table order).
        n_bootstrap: number of prompt resamples behind the intervals (0: no intervals).
        confidence: coverage of the intervals, e.g. 0.95.
        seed: seed of ``numpy.random.default_rng`` that drew the resamples.
        interval: how the intervals were formed from the resamples: ``auto`` (per metric),
            ``basic``, ``percentile`` or ``hull``
            (see :mod:`mobench.metrics.bootstrap`).
    """

    metrics: Mapping[str, MetricValue]
    n_bootstrap: int
    confidence: float
    seed: int
    interval: str = "auto"

    def __post_init__(self) -> None:
        # A read-only view over a private copy, so the frozen report cannot change through the
        # caller's dict either.
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))

    def __getitem__(self, name: str) -> MetricValue:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``{"metrics": {name: {value, ci_low, ci_high, direction,
        definition}}, "n_bootstrap", "confidence", "seed", "interval"}``; undefined values are
        None."""
        return {"metrics": {name: metric.to_dict() for name, metric in self.metrics.items()},
                "n_bootstrap": self.n_bootstrap, "confidence": self.confidence, "seed": self.seed,
                "interval": self.interval}

    def format_table(self) -> str:
        """A short plain-text table: metric, value, confidence interval, which way is better."""
        ci_header = f"{self.confidence:.0%} CI" if self.n_bootstrap > 0 else "CI"
        rows = [("metric", "value", ci_header, "better")]
        for name, metric in self.metrics.items():
            if metric.ci_low is None or metric.ci_high is None:
                interval = "-"
            else:
                interval = f"[{_format_number(metric.ci_low)}, {_format_number(metric.ci_high)}]"
            rows.append((name, _format_number(metric.value), interval, metric.direction))
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(width)
                           for cell, width in zip(row, widths, strict=True)).rstrip()
                 for row in rows]
        footer = (f"bootstrap: {self.interval} intervals from {self.n_bootstrap} prompt resamples, "
                  f"seed {self.seed}" if self.n_bootstrap > 0 else "bootstrap: none")
        return "\n".join([*lines, footer])


def _format_number(number: float | None) -> str:
    if number is None:
        return "n/a"
    if float(number).is_integer() and abs(number) < 1e6:
        return str(int(number))
    return f"{number:.4g}"
