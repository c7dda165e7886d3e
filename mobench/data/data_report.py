"""Counting the rows a data loader repairs or drops, so that none goes unreported.

A paper-scale loader converts each source row and gives it a status in a ``row_status`` column:
``kept``, ``repaired: <what was done>`` or ``dropped: <why>``. :func:`tally_and_filter` counts the
statuses and removes the dropped rows, and the loader puts the :class:`RowTally` of each source
into its task instance's ``extras[DATA_REPORT_KEY]``; the runner prints every tally that repaired
or dropped something and writes all of them into the run's ``spec.json``.

The status is a column rather than a counter beside ``Dataset.map`` because ``datasets`` may
serve a conversion from its cache without calling the function again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

    from mobench.core.task import TaskInstance

DATA_REPORT_KEY = "data_report"
STATUS_COLUMN = "row_status"
KEPT = "kept"
REPAIRED_PREFIX = "repaired: "
DROPPED_PREFIX = "dropped: "

logger = logging.getLogger("mobench")


def repaired(what: str) -> str:
    """The status of a row kept after a documented repair."""
    return REPAIRED_PREFIX + what


def dropped(why: str) -> str:
    """The status of a row left out."""
    return DROPPED_PREFIX + why


@dataclass(frozen=True)
class RowTally:
    """What a loader did with the rows of one source.

    Attributes:
        source: which rows (``hh-rlhf helpful-base/train pairs``, say).
        rows: rows read.
        repaired: per repair, the rows kept after it.
        dropped: per reason, the rows left out.
    """

    source: str
    rows: int
    repaired: Mapping[str, int] = field(default_factory=dict)
    dropped: Mapping[str, int] = field(default_factory=dict)

    @property
    def kept(self) -> int:
        return self.rows - sum(self.dropped.values())

    @property
    def changed_anything(self) -> bool:
        return bool(self.repaired or self.dropped)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "rows": self.rows, "kept": self.kept,
                "repaired": dict(self.repaired), "dropped": dict(self.dropped)}

    def describe(self) -> str:
        """One line: ``<source>: 2312 rows, 2312 kept (5 repaired: ...), 0 dropped``."""
        parts = [f"{self.source}: {self.rows} rows, {self.kept} kept"]
        parts += [f"{n} {what}" for what, n in sorted(self.repaired.items())]
        parts += [f"{n} dropped ({why})" for why, n in sorted(self.dropped.items())]
        return ", ".join(parts)


def tally_statuses(source: str, statuses: Sequence[str]) -> RowTally:
    """The tally of a sequence of row statuses."""
    counts = Counter(statuses)
    unknown = [s for s in counts if s != KEPT and not s.startswith((REPAIRED_PREFIX,
                                                                      DROPPED_PREFIX))]
    if unknown:
        raise ValueError(f"unknown row status {unknown[0]!r}")
    return RowTally(source=source, rows=len(statuses),
                    repaired={s[len(REPAIRED_PREFIX):]: n for s, n in counts.items()
                              if s.startswith(REPAIRED_PREFIX)},
                    dropped={s[len(DROPPED_PREFIX):]: n for s, n in counts.items()
                             if s.startswith(DROPPED_PREFIX)})


def tally_and_filter(table: datasets.Dataset, source: str) -> tuple[datasets.Dataset, RowTally]:
    """Count ``table``'s row statuses, drop the dropped rows and the status column."""
    tally = tally_statuses(source, table[STATUS_COLUMN])
    if tally.dropped:
        table = table.filter(lambda statuses: [not s.startswith(DROPPED_PREFIX)
                                               for s in statuses],
                             input_columns=STATUS_COLUMN, batched=True)
    return table.remove_columns(STATUS_COLUMN), tally


def instance_tallies(instance: TaskInstance) -> tuple[RowTally, ...]:
    """The tallies a task instance carries (none for tasks that build their own data)."""
    return tuple(instance.extras.get(DATA_REPORT_KEY, ()))


def report_tallies(instance: TaskInstance) -> list[dict[str, Any]]:
    """Log every tally that repaired or dropped rows; return all of them as JSON-ready dicts."""
    tallies = instance_tallies(instance)
    for tally in tallies:
        if tally.changed_anything:
            logger.info("data: %s", tally.describe())
    return [t.to_dict() for t in tallies]
