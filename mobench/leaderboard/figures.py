"""The leaderboard's pictures, as PNG bytes: fronts (up to three objectives), whether λ steers
(a steering matrix per method beside the optimal policy's, and λ_i against the score on i), quality
against cost (training and inference), reward-model against exact scores.

Readable in print and for colour-blind readers: Paul Tol's "muted" qualitative scheme (nine
colours chosen to stay apart under the common colour-vision deficiencies), and a marker and line
style of its own per method, so the methods tell apart without colour. A :class:`Styles` is made
once for a whole page, so a method looks the same in every figure of every task. Legends sit
outside the data. Methods that yield one policy (``serves == "point"``) are drawn as one large
marker at the mean of their answers, never as a front.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import combinations
from typing import Any

import numpy as np

from mobench.leaderboard.aggregate import Leaderboard, LeaderboardRow
from mobench.leaderboard.cost import COLUMNS_BY_NAME
from mobench.leaderboard.steering import optimal_answers, steering_curve, steering_matrix
from mobench.metrics import non_dominated

# Paul Tol's muted scheme (rose, indigo, sand, green, cyan, wine, teal, olive, purple), then its
# black and pale grey for a tenth and eleventh name; markers all differ in shape.
COLOURS = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99",
           "#999933", "#AA4499", "#000000", "#BBBBBB")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p", "d", "8")
LINESTYLES = ("-", "--", "-.", ":")
OPTIMAL_COLOUR = "0.45"
FONT_SIZE = 11
MAX_FRONT_OBJECTIVES = 3  # pairwise fronts beyond three objectives are unreadable


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": FONT_SIZE, "axes.titlesize": FONT_SIZE,
                         "legend.fontsize": FONT_SIZE - 1})
    return plt


def _png(figure) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight",
                   metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def row_name(row: LeaderboardRow) -> str:
    return row.method if row.variant == "default" else f"{row.method} ({row.variant})"


class Styles:
    """A colour, marker and line style per row name, by the name's place in name order among
    every name of the page (so the same method looks the same in every figure)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        self._look = {name: {"color": COLOURS[i % len(COLOURS)],
                             "marker": MARKERS[i % len(MARKERS)],
                             "linestyle": LINESTYLES[(i // len(COLOURS)) % len(LINESTYLES)]}
                      for i, name in enumerate(self.names)}

    @classmethod
    def of(cls, boards: Sequence[Leaderboard]) -> Styles:
        return cls(row_name(row) for board in boards for row in board.rows)

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self._look[name]


def _legend_outside(figure, axes) -> None:  # type: ignore[no-untyped-def]
    """One legend for the figure, right of its panels, from every panel's labels."""
    seen: dict[str, Any] = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        figure.legend(list(seen.values()), list(seen), loc="center left",
                      bbox_to_anchor=(1.0, 0.5), frameon=False)


def _has_optimal(board: Leaderboard) -> bool:
    return board.distance_reference == "task reference front" and len(board.reference_front) > 0


def fronts_figure(board: Leaderboard, styles: Styles | None = None) -> bytes:
    """Every method's seed-mean front, one panel per pair of objectives (up to three
    objectives: beyond, see :func:`steering_figure`), the optimal front drawn in full."""
    m = len(board.objectives)
    if m > MAX_FRONT_OBJECTIVES:
        raise ValueError(f"{board.task}: fronts are drawn up to {MAX_FRONT_OBJECTIVES} "
                         f"objectives, it has {m}; see the steering figures")
    plt = _pyplot()
    styles = styles or Styles.of([board])
    pairs = list(combinations(range(m), 2))
    figure, axes = plt.subplots(1, len(pairs), figsize=(4.6 * len(pairs), 4.2), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs, strict=True):
        shown = [row.front[:, [a, b]] for row in board.rows]
        if _has_optimal(board):
            ref = board.reference_front
            if m == 2:
                order = np.argsort(ref[:, a])
                ax.plot(ref[order, a], ref[order, b], color=OPTIMAL_COLOUR, lw=1.4, zorder=1,
                        label="optimal front")
            else:
                ax.scatter(ref[:, a], ref[:, b], s=5, color="0.75", zorder=1,
                           label="optimal front")
            shown.append(ref[:, [a, b]])
        for row in board.rows:
            look = styles[row_name(row)]
            points = row.front[:, [a, b]]
            if row.serves == "point":
                centre = points.mean(axis=0)
                ax.scatter([centre[0]], [centre[1]], s=150, marker=look["marker"],
                           color=look["color"], edgecolors="black", linewidths=0.9, zorder=4,
                           label=f"{row_name(row)} (one policy)")
                continue
            ax.scatter(points[:, 0], points[:, 1], s=26, marker=look["marker"],
                       color=look["color"], edgecolors="black", linewidths=0.4, zorder=3,
                       label=row_name(row))
            best = points[non_dominated(points)]
            best = best[np.argsort(best[:, 0])]
            ax.plot(best[:, 0], best[:, 1], color=look["color"], linestyle=look["linestyle"],
                    lw=1.4, zorder=2)
        x_limits, y_limits = front_limits(np.vstack(shown))
        ax.set_xlim(*x_limits)
        ax.set_ylim(*y_limits)
        ax.set_xlabel(f"{board.objectives[a]} (normalized)")
        ax.set_ylabel(f"{board.objectives[b]} (normalized)")
        ax.grid(alpha=0.3)
    axes[0][0].set_title(f"{board.task}: fronts ({board.scorer_set} scores, mean over seeds)",
                         loc="left")
    _legend_outside(figure, axes)
    figure.tight_layout()
    return _png(figure)


def front_limits(points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits (x, y) holding every point of ``points`` (n, 2), with a 4 % margin: the
    optimal front is drawn in full, never clipped to the methods' range."""
    low, high = points.min(axis=0), points.max(axis=0)
    pad = 0.04 * np.maximum(high - low, 1e-9)
    return ((float(low[0] - pad[0]), float(high[0] + pad[0])),
            (float(low[1] - pad[1]), float(high[1] + pad[1])))


def _grid(plt, k: int, ncols: int, size: tuple[float, float]):  # type: ignore[no-untyped-def]
    ncols = min(ncols, k)
    nrows = math.ceil(k / ncols)
    figure, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                                squeeze=False)
    for ax in axes.ravel()[k:]:
        ax.set_visible(False)
    return figure, axes


def steering_figure(board: Leaderboard) -> bytes:
    """A steering matrix per method (:mod:`mobench.leaderboard.steering`), the optimal policy's
    first: rows the objective whose weight rises, columns the objective scored (one colour map,
    not the methods' colours)."""
    plt = _pyplot()
    m = len(board.objectives)
    panels: list[tuple[str, np.ndarray]] = []
    if _has_optimal(board):
        preferences = board.rows[0].preferences if board.rows else np.empty((0, m))
        answers = optimal_answers(board.reference_front, preferences)
        panels.append(("optimal policy", steering_matrix(answers, preferences)))
    for row in board.rows:
        suffix = " (one policy)" if row.serves == "point" else ""
        panels.append((row_name(row) + suffix, steering_matrix(row.front, row.preferences)))
    side = 2.2 + 0.22 * m
    figure, axes = _grid(plt, len(panels), 5, (side + 0.4, side + 0.9))
    image = None
    colour_map = plt.get_cmap("RdBu").with_extremes(bad="0.85")  # undefined rho: grey
    labels = [name[:10] for name in board.objectives]
    for k, (ax, (title, matrix)) in enumerate(zip(axes.ravel(), panels, strict=False)):
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap=colour_map, vmin=-1.0, vmax=1.0)
        finite = np.isfinite(np.diag(matrix))
        title = textwrap.fill(title, 24)
        if finite.any():
            title += f"\ndiagonal mean {np.diag(matrix)[finite].mean():.2f}"
        ax.set_title(title, fontsize=FONT_SIZE - 1)
        ax.set_xticks(range(m), labels, rotation=90, fontsize=FONT_SIZE - 2)
        ax.set_yticks(range(m), labels if k % axes.shape[1] == 0 else [],
                      fontsize=FONT_SIZE - 2)
        if m <= MAX_FRONT_OBJECTIVES:
            for i in range(m):
                for j in range(m):
                    if np.isfinite(matrix[i, j]):
                        ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center",
                                fontsize=FONT_SIZE - 2,
                                color="white" if abs(matrix[i, j]) > 0.6 else "black")
    figure.subplots_adjust(wspace=0.15, hspace=0.75 if m <= MAX_FRONT_OBJECTIVES else 0.4)
    if image is not None:
        bar = figure.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, pad=0.02)
        bar.set_label("Spearman ρ(λ_row, score_column)")
    figure.suptitle(f"{board.task}: does λ steer? Rows: the objective whose weight rises; "
                    f"columns: the score on each objective ({board.scorer_set} scores)",
                    x=0.0, ha="left", fontsize=FONT_SIZE)
    return _png(figure)


def steering_curves_figure(board: Leaderboard, styles: Styles | None = None) -> bytes:
    """Per objective, its weight λ_i against the mean normalized score on it, every method and
    the optimal policy: a steerable method rises from left to right."""
    plt = _pyplot()
    styles = styles or Styles.of([board])
    m = len(board.objectives)
    figure, axes = _grid(plt, m, 5, (3.3, 2.9))
    for i, ax in enumerate(axes.ravel()[:m]):
        if _has_optimal(board) and board.rows:
            preferences = board.rows[0].preferences
            x, y = steering_curve(optimal_answers(board.reference_front, preferences),
                                  preferences, i)
            ax.plot(x, y, color=OPTIMAL_COLOUR, lw=2.2, linestyle=(0, (4, 2)), zorder=1,
                    label="optimal policy")
        for row in board.rows:
            look = styles[row_name(row)]
            x, y = steering_curve(row.front, row.preferences, i)
            one = row.serves == "point"
            ax.plot(x, y, color=look["color"], marker=look["marker"], ms=5,
                    linestyle=":" if one else look["linestyle"], lw=1.3,
                    markeredgecolor="black", markeredgewidth=0.3, zorder=2,
                    label=row_name(row) + (" (one policy)" if one else ""))
        ax.set_title(board.objectives[i], fontsize=FONT_SIZE - 1)
        ax.set_xlabel(f"λ_{i + 1}", fontsize=FONT_SIZE - 2)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean normalized score")
    figure.suptitle(f"{board.task}: each objective's weight against its score "
                    f"({board.scorer_set} scores, mean over seeds)", x=0.0, ha="left",
                    fontsize=FONT_SIZE)
    _legend_outside(figure, axes)
    figure.tight_layout()
    return _png(figure)


COST_AXES = ("total_seconds", "total_tokens_generated")


def cost_figure(board: Leaderboard, styles: Styles | None = None) -> bytes:
    """Hypervolume (with its interval) against the total cost, training and inference: wall-clock
    and tokens generated (the columns of the same names)."""
    plt = _pyplot()
    styles = styles or Styles.of([board])
    figure, axes = plt.subplots(1, len(COST_AXES), figsize=(5.0 * len(COST_AXES), 4.0),
                                squeeze=False)
    for ax, name in zip(axes[0], COST_AXES, strict=True):
        column = COLUMNS_BY_NAME[name]
        for row in board.rows:
            look = styles[row_name(row)]
            hv = row.metrics["hypervolume"]
            if hv.value is None:
                continue
            low = hv.value - (hv.ci_low if hv.ci_low is not None else hv.value)
            high = (hv.ci_high if hv.ci_high is not None else hv.value) - hv.value
            ax.errorbar([max(column.value(row), 1e-3)], [hv.value], yerr=[[low], [high]],
                        fmt=str(look["marker"]), color=look["color"], markeredgecolor="black",
                        capsize=3, ms=9, label=row_name(row))
        ax.set_xscale("log")
        ax.set_xlabel(f"{name} (training + inference, log)")
        ax.set_ylabel(f"hypervolume ({board.scorer_set})")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_title(f"{board.task}: quality against cost", loc="left")
    _legend_outside(figure, axes)
    figure.tight_layout()
    return _png(figure)


def truth_figure(board: Leaderboard, other_set: str, styles: Styles | None = None) -> bytes:
    """Hypervolume by the reward models against by the exact scorers: a method above the
    diagonal is rated better by the reward models than the truth rates it."""
    plt = _pyplot()
    styles = styles or Styles.of([board])
    figure, ax = plt.subplots(figsize=(5.0, 4.4))
    values = []
    for row in board.rows:
        truth = row.metrics["hypervolume"].value
        rated = row.other_sets.get(other_set, {}).get("hypervolume")
        if truth is None or rated is None or rated.value is None:
            continue
        look = styles[row_name(row)]
        ax.scatter([truth], [rated.value], s=70, marker=look["marker"], color=look["color"],
                   edgecolors="black", linewidths=0.6, label=row_name(row))
        values += [truth, rated.value]
    if values:
        low, high = min(values), max(values)
        pad = 0.05 * (high - low or 1.0)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="0.5", lw=1,
                linestyle="--", label="reward models = truth")
    ax.set_xlabel(f"hypervolume, {board.scorer_set} scores")
    ax.set_ylabel(f"hypervolume, {other_set} scores")
    ax.set_title(f"{board.task}: reward models against the truth", loc="left")
    ax.grid(alpha=0.3)
    _legend_outside(figure, np.array([ax]))
    figure.tight_layout()
    return _png(figure)


FigureJob = tuple[str, str, Callable[..., bytes], tuple[Any, ...]]


def figure_plan(board: Leaderboard, styles: Styles) -> list[FigureJob]:
    """Every figure of a task, in page order, not yet drawn: (file stem, caption, drawing
    function, its arguments)."""
    plan: list[FigureJob] = []
    if len(board.objectives) <= MAX_FRONT_OBJECTIVES:
        plan.append(("fronts", "fronts", fronts_figure, (board, styles)))
    plan.append(("steering", "does λ steer? steering matrices", steering_figure, (board,)))
    plan.append(("steering-curves", "each weight against its objective's score",
                 steering_curves_figure, (board, styles)))
    plan.append(("cost", "quality against cost", cost_figure, (board, styles)))
    for other in sorted({s for row in board.rows for s in row.other_sets}):
        plan.append((f"truth-{other}", f"{other} against {board.scorer_set}", truth_figure,
                     (board, other, styles)))
    return plan


def task_figures(board: Leaderboard, styles: Styles) -> list[tuple[str, str, bytes]]:
    """Every figure of a task, in page order: (file stem, caption, PNG)."""
    return [(stem, caption, draw(*arguments))
            for stem, caption, draw, arguments in figure_plan(board, styles)]


def _draw(job: tuple[Callable[..., bytes], tuple[Any, ...]]) -> bytes:
    draw, arguments = job
    return draw(*arguments)


def all_figures(boards: Sequence[Leaderboard], styles: Styles,
                workers: int = 1) -> dict[str, list[tuple[str, str, bytes]]]:
    """:func:`task_figures` of every board, by task; ``workers`` > 1 draws them in that many
    processes (each figure is drawn alone, so the PNGs are the same bytes)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    plans = {board.task: figure_plan(board, styles) for board in boards}
    jobs = [(draw, arguments) for plan in plans.values() for _, _, draw, arguments in plan]
    if workers == 1 or len(jobs) < 2:
        pngs = [_draw(job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            pngs = list(pool.map(_draw, jobs))
    drawn = iter(pngs)
    return {task: [(stem, caption, next(drawn)) for stem, caption, _, _ in plan]
            for task, plan in plans.items()}
