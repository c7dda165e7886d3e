"""A leaderboard as text: a deterministic CSV per task (column order, row order and number format
fixed, so a diff of two versions shows what moved) and a Markdown table for the README."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from mobench.leaderboard.aggregate import (
    COST_FIELDS,
    EVALUATION_FIELDS,
    Leaderboard,
    LeaderboardRow,
    Summary,
)
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
    columns += [f"cost_{name}" for name in COST_FIELDS]
    columns += [f"evaluation_{name}" for name in EVALUATION_FIELDS]
    return [*columns, "distance_reference", "scorer_set", "reproducible"]


def csv_row(board: Leaderboard, row: LeaderboardRow) -> list[str]:
    cells = [str(row.rank), row.method, row.variant, row.scale, row.serves, str(len(row.seeds)),
             " ".join(map(str, row.seeds))]
    for name in METRICS:
        summary = row.metrics[name]
        cells += [number(summary.value), number(summary.ci_low), number(summary.ci_high)]
    cells += [number(row.cost[name]) for name in COST_FIELDS]
    cells += [number(row.evaluation_cost[name]) for name in EVALUATION_FIELDS]
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


def to_markdown(board: Leaderboard, metrics: Sequence[str] = MARKDOWN_METRICS) -> str:
    """The leaderboard's main columns as a Markdown table. Cost: training wall-clock, adapters
    and models trained, trainable parameters, and the tokens sampled and reward calls made in
    training and evaluation together (Best-of-N spends both at evaluation)."""
    header = ["rank", "method", "variant", "seeds", *metrics, "train s", "adapters",
              "trainable params", "tokens sampled", "reward calls"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in board.rows:
        sampled = row.cost["generated_tokens"] + row.evaluation_cost["sampled_tokens"]
        calls = row.cost["reward_calls"] + row.evaluation_cost["reward_calls"]
        cells = [str(row.rank), row.method + (" (point)" if row.serves == "point" else "")
                 + ("" if row.reproducible else f" {UNREPRODUCIBLE_MARK}"),
                 row.variant, str(len(row.seeds)),
                 *[interval_text(row.metrics[m]) for m in metrics],
                 f"{row.cost['train_seconds']:.0f}",
                 f"{row.cost['adapters_trained'] + row.cost['models_trained']:.0f}",
                 f"{row.cost['trainable_parameters']:,.0f}", f"{sampled:,.0f}", f"{calls:,.0f}"]
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
    return title + "\n" + to_markdown(board) + ("\n\n" + note if note else "")
