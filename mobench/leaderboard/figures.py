"""The leaderboard's pictures, as PNG bytes: every method's front overlaid, quality against cost,
reward-model against exact scores.

Readable in print and for colour-blind readers: seaborn's colour-blind palette, and a marker and
a line style of its own per method, so the methods tell apart without colour. Methods that yield
one policy (``serves == "point"``) are drawn as one large marker at the mean of their answers,
never as a front.
"""

from __future__ import annotations

import io
from itertools import combinations

import numpy as np

from mobench.leaderboard.aggregate import Leaderboard, LeaderboardRow
from mobench.metrics import non_dominated

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")
LINESTYLES = ("-", "--", "-.", ":")


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight",
                   metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def styles(rows: list[LeaderboardRow]) -> dict[str, dict[str, object]]:
    """A colour, marker and line style per row, fixed by the row's order in name order (so a
    method looks the same in every figure of the page)."""
    import seaborn as sns

    names = sorted({row_name(r) for r in rows})
    palette = sns.color_palette("colorblind", n_colors=max(len(names), 1))
    return {name: {"color": palette[i % len(palette)], "marker": MARKERS[i % len(MARKERS)],
                   "linestyle": LINESTYLES[i % len(LINESTYLES)]}
            for i, name in enumerate(names)}


def row_name(row: LeaderboardRow) -> str:
    return row.method if row.variant == "default" else f"{row.method} ({row.variant})"


def fronts_figure(board: Leaderboard) -> bytes:
    """Every method's seed-mean front: one panel for two objectives, the first three pairs of
    objectives for more (see :func:`parallel_figure` for all of them at once)."""
    plt = _pyplot()
    style = styles(board.rows)
    pairs = list(combinations(range(len(board.objectives)), 2))[:3]
    figure, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.4), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs, strict=True):
        if board.distance_reference == "task reference front" and len(board.reference_front):
            ref = board.reference_front
            if len(board.objectives) == 2:
                order = np.argsort(ref[:, a])
                ax.plot(ref[order, a], ref[order, b], color="0.55", lw=1.2, zorder=1,
                        label="optimal front")
            else:
                ax.scatter(ref[:, a], ref[:, b], s=6, color="0.7", zorder=1,
                           label="optimal front")
        for row in board.rows:
            look = style[row_name(row)]
            points = row.front[:, [a, b]]
            if row.serves == "point":
                centre = points.mean(axis=0)
                ax.scatter([centre[0]], [centre[1]], s=130, marker=look["marker"],
                           color=look["color"], edgecolors="black", linewidths=0.8, zorder=4,
                           label=f"{row_name(row)} (one policy)")
                continue
            ax.scatter(points[:, 0], points[:, 1], s=22, marker=look["marker"],
                       color=look["color"], edgecolors="black", linewidths=0.3, zorder=3,
                       label=row_name(row))
            best = points[non_dominated(points)]
            best = best[np.argsort(best[:, 0])]
            ax.plot(best[:, 0], best[:, 1], color=look["color"], linestyle=look["linestyle"],
                    lw=1.3, zorder=2)
        ax.set_xlabel(f"{board.objectives[a]} (normalized)")
        ax.set_ylabel(f"{board.objectives[b]} (normalized)")
        ax.grid(alpha=0.3)
    axes[0][0].set_title(f"{board.task}: fronts ({board.scorer_set} scores, mean over seeds)",
                         fontsize=10, loc="left")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncol=min(4, len(labels)), fontsize=8, frameon=False)
    return _png(figure)


def parallel_figure(board: Leaderboard) -> bytes:
    """Parallel coordinates: every front point of every method across all objectives."""
    plt = _pyplot()
    style = styles(board.rows)
    m = len(board.objectives)
    figure, ax = plt.subplots(figsize=(max(6.0, 0.9 * m + 3), 4.2))
    x = np.arange(m)
    for row in board.rows:
        look = style[row_name(row)]
        points = row.front if row.serves == "front" else row.front.mean(axis=0, keepdims=True)
        for k, point in enumerate(points):
            ax.plot(x, point, color=look["color"], linestyle=look["linestyle"],
                    lw=2.4 if row.serves == "point" else 0.8,
                    alpha=0.9 if row.serves == "point" else 0.45,
                    label=row_name(row) if k == 0 else None)
    ax.set_xticks(x, board.objectives, rotation=30, ha="right")
    ax.set_ylabel("normalized score")
    ax.set_title(f"{board.task}: every front point, all objectives", fontsize=10, loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, frameon=False, loc="best")
    return _png(figure)


def cost_figure(board: Leaderboard) -> bytes:
    """Hypervolume (with its interval) against training wall-clock, one marker per method."""
    plt = _pyplot()
    style = styles(board.rows)
    figure, ax = plt.subplots(figsize=(6.2, 4.2))
    for row in board.rows:
        look = style[row_name(row)]
        hv = row.metrics["hypervolume"]
        if hv.value is None:
            continue
        low = hv.value - (hv.ci_low if hv.ci_low is not None else hv.value)
        high = (hv.ci_high if hv.ci_high is not None else hv.value) - hv.value
        seconds = max(row.cost["train_seconds"], 0.1)  # training-free methods at the left edge
        ax.errorbar([seconds], [hv.value], yerr=[[low], [high]], fmt=str(look["marker"]),
                    color=look["color"], markeredgecolor="black", capsize=3, ms=8,
                    label=row_name(row))
    ax.set_xscale("log")
    ax.set_xlabel("training wall-clock, seconds (log; training-free at 0.1)")
    ax.set_ylabel(f"hypervolume ({board.scorer_set})")
    ax.set_title(f"{board.task}: quality against cost", fontsize=10, loc="left")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, frameon=False, loc="best")
    return _png(figure)


def truth_figure(board: Leaderboard, other_set: str) -> bytes:
    """Hypervolume by the reward models against by the exact scorers: a method above the
    diagonal is rated better by the reward models than the truth rates it."""
    plt = _pyplot()
    style = styles(board.rows)
    figure, ax = plt.subplots(figsize=(5.2, 4.6))
    values = []
    for row in board.rows:
        truth = row.metrics["hypervolume"].value
        rated = row.other_sets.get(other_set, {}).get("hypervolume")
        if truth is None or rated is None or rated.value is None:
            continue
        look = style[row_name(row)]
        ax.scatter([truth], [rated.value], s=60, marker=look["marker"], color=look["color"],
                   edgecolors="black", linewidths=0.6, label=row_name(row))
        values += [truth, rated.value]
    if values:
        low, high = min(values), max(values)
        pad = 0.05 * (high - low or 1.0)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="0.5", lw=1,
                linestyle="--", label="reward models = truth")
    ax.set_xlabel(f"hypervolume, {board.scorer_set} scores")
    ax.set_ylabel(f"hypervolume, {other_set} scores")
    ax.set_title(f"{board.task}: reward models against the truth", fontsize=10, loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False, loc="best")
    return _png(figure)
