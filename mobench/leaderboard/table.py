"""A leaderboard as text: a deterministic CSV per task (column order, row order and number format
fixed, so a diff of two versions shows what moved) and a Markdown table for the README."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from mobench.leaderboard.aggregate import Leaderboard, LeaderboardRow, Summary
from mobench.leaderboard.cost import COST_COLUMNS, MARKDOWN_COST, cost_columns, cost_legend
from mobench.metrics import METRICS

UNREPRODUCIBLE_MARK = "(not reproducible)"
IDENTITY_COLUMNS = ("rank", "method", "variant", "scale", "serves", "n_seeds", "seeds")
SIGNIFICANT_DIGITS = 6


def number(value: float | int | None, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A number as the CSV writes it: integers plainly, floats to ``digits`` significant digits,
    nothing for None."""
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def csv_columns() -> list[str]:
    columns = list(IDENTITY_COLUMNS)
    for name in METRICS:
        columns += [name, f"{name}_low", f"{name}_high"]
    columns += [column.name for column in COST_COLUMNS]
    return [*columns, "distance_reference", "scorer_set", "reproducible"]


def csv_row(board: Leaderboard, row: LeaderboardRow) -> list[str]:
    cells = [str(row.rank), row.method, row.variant, row.scale, row.serves, str(len(row.seeds)),
             " ".join(map(str, row.seeds))]
    for name in METRICS:
        summary = row.metrics[name]
        cells += [number(summary.value), number(summary.ci_low), number(summary.ci_high)]
    cells += [number(column.value(row)) for column in COST_COLUMNS]
    return [*cells, board.distance_reference, board.scorer_set,
            "yes" if row.reproducible else "no"]


def to_csv(board: Leaderboard) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_columns())
    for row in board.rows:
        writer.writerow(csv_row(board, row))
    return buffer.getvalue()


def interval_text(summary: Summary, digits: int = 3) -> str:
    if summary.value is None:
        return "n/a"
    text = f"{summary.value:.{digits}g}"
    if summary.ci_low is not None and summary.ci_high is not None:
        text += f" [{summary.ci_low:.{digits}g}, {summary.ci_high:.{digits}g}]"
    return text


MARKDOWN_METRICS = ("hypervolume", "hypervolume_share", "inner_product", "controllability",
                    "eum")


def to_markdown(board: Leaderboard, metrics: Sequence[str] = MARKDOWN_METRICS,
                cost: tuple[str, ...] = MARKDOWN_COST) -> str:
    """The leaderboard's main columns as a Markdown table: quality, then the cost columns
    ``cost`` (named and computed as in the CSV and the page, :mod:`mobench.leaderboard.cost`;
    by default what the policy has and what it cost in all, training and inference)."""
    shown_cost = cost_columns(cost)
    header = ["rank", "method", "variant", "seeds", *metrics, *[c.name for c in shown_cost]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in board.rows:
        cells = [str(row.rank), row.method + (" (point)" if row.serves == "point" else "")
                 + ("" if row.reproducible else f" {UNREPRODUCIBLE_MARK}"),
                 row.variant, str(len(row.seeds)),
                 *[interval_text(row.metrics[m]) for m in metrics],
                 *[column.text(row) for column in shown_cost]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def unreproducible_note(board: Leaderboard) -> str:
    """The footnote naming the runs no commit reproduces ("" when every run is reproducible)."""
    lines = [f"{UNREPRODUCIBLE_MARK} not reproducible from a commit: {folder} ({reason})"
             for row in board.rows for folder, reason in sorted(row.unreproducible.items())]
    return "\n".join(lines)


def to_text(board: Leaderboard) -> str:
    """What ``mobench report`` prints for a task."""
    title = (f"{board.task} ({board.scorer_set} scores; intervals over seeds and prompts, "
             f"{board.confidence:.0%}; distances to the {board.distance_reference})")
    note = unreproducible_note(board)
    legend = "Cost: " + "; ".join(cost_legend(MARKDOWN_COST)) + "."
    return (title + "\n" + to_markdown(board) + "\n\n" + legend
            + ("\n\n" + note if note else ""))
