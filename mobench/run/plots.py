"""Pictures of a front: a scatter for two objectives, a pair grid for more."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from pathlib import Path

import numpy as np

from mobench.core.specs import TaskSpec
from mobench.core.store import write_bytes_atomic


def plot_front(spec: TaskSpec, preferences: np.ndarray, fronts: Mapping[str, np.ndarray],
               path: Path, optimal_fronts: Mapping[str, np.ndarray] | None = None) -> None:
    """Draw each scorer set's normalized front, coloured by the first objective's weight, over
    the set's optimal front where the task knows one (``optimal_fronts``, normalized: a line for
    two objectives, its points projected onto each pair of objectives for more)."""
    import io

    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    names = spec.objective_names
    pairs = list(combinations(range(len(names)), 2))[:6]  # beyond six panels nobody reads them
    fig, axes = plt.subplots(len(fronts), len(pairs), squeeze=False,
                             figsize=(4.2 * len(pairs), 3.8 * len(fronts)))
    for row, (set_name, front) in enumerate(fronts.items()):
        for col, (a, b) in enumerate(pairs):
            ax = axes[row][col]
            optimal = (optimal_fronts or {}).get(set_name)
            if optimal is not None and len(names) == 2:
                order = np.argsort(optimal[:, a])
                ax.plot(optimal[order, a], optimal[order, b], color="0.55", lw=1.2, zorder=0,
                        label="optimal front")
            elif optimal is not None:
                ax.scatter(optimal[:, a], optimal[:, b], s=4, color="0.75", zorder=0,
                           label="optimal front")
            points = ax.scatter(front[:, a], front[:, b], c=preferences[:, 0], cmap="viridis",
                                vmin=0, vmax=1, s=28, edgecolors="black", linewidths=0.4)
            ax.scatter([spec.reference_point[a]], [spec.reference_point[b]], marker="x",
                       color="crimson", label="reference point")
            ax.set_xlabel(f"{names[a]} (normalized)")
            ax.set_ylabel(f"{names[b]} (normalized)")
            ax.set_title(f"{spec.name}: {set_name}", fontsize=9)
            ax.grid(alpha=0.3)
        fig.colorbar(points, ax=axes[row][-1], label=f"weight on {names[0]}")
    axes[0][0].legend(loc="lower left", fontsize=7)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
