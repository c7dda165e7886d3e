"""Preference grids: the preference vectors a task's evaluation visits, fixed per task and scale.

- 2 objectives: :func:`evenly_spaced` (11 vectors, ``(0, 1)`` to ``(1, 0)``), the papers' grid.
- 3 to 5 objectives: :func:`simplex_lattice`, the Das-Dennis lattice of pymoo, with the partition
  count in :data:`LATTICE_PARTITIONS` (3: 28 points, 4: 35, 5: 35).
- 6 or more (chat10): :func:`vertices_centre_and_fill`: the m vertices (each objective alone), the
  centre (all equal), and a scrambled Sobol sequence mapped onto the simplex by sorted spacings,
  seeded, up to :data:`MANY_OBJECTIVE_POINTS` points in all. A lattice is no option there: the
  coarsest one that has interior points (3 partitions) already has 220 points at m = 10.

:func:`default_grid` picks among them by the number of objectives; :func:`grid_of_size` builds a
coarser grid of at most a given size with the same designs, and :func:`task_or_coarser_grid` picks
between the task's grid and such a coarser one (an evaluation's ``grid_points``, and the grid a
one-model-per-λ method such as DPS or MODPO trains).
Every grid is returned as a tuple of tuples whose rows sum to 1 (to float precision), ready for
``TaskSpec.preference_grid``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from mobench.core.specs import as_tuple_grid, validate_preferences

if TYPE_CHECKING:
    from mobench.core.specs import TaskSpec

TWO_OBJECTIVE_POINTS = 11
LATTICE_PARTITIONS: dict[int, int] = {3: 6, 4: 4, 5: 3}
MANY_OBJECTIVE_POINTS = 40
GRID_SEED = 0

Grid = tuple[tuple[float, ...], ...]


def evenly_spaced(n_points: int = TWO_OBJECTIVE_POINTS) -> Grid:
    """``n_points`` vectors ``(k/(n-1), 1 - k/(n-1))`` for two objectives."""
    if n_points < 2:
        raise ValueError(f"a two-objective grid needs at least 2 points, got {n_points}")
    weights = np.linspace(0.0, 1.0, n_points)
    return _finish(np.stack([weights, 1.0 - weights], axis=1))


def simplex_lattice(n_objectives: int, n_partitions: int) -> Grid:
    """The Das-Dennis lattice: every vector with entries in multiples of ``1/n_partitions``."""
    from pymoo.util.ref_dirs import get_reference_directions

    if n_objectives < 2 or n_partitions < 1:
        raise ValueError("a lattice needs at least 2 objectives and 1 partition")
    grid = get_reference_directions("das-dennis", n_objectives, n_partitions=n_partitions)
    return _finish(grid)


def vertices_centre_and_fill(n_objectives: int, n_points: int = MANY_OBJECTIVE_POINTS,
                             seed: int = GRID_SEED) -> Grid:
    """Vertices, centre, then scrambled-Sobol points spread uniformly over the simplex."""
    from scipy.stats import qmc

    m = n_objectives
    if m < 2:
        raise ValueError("a preference grid needs at least two objectives")
    if n_points < m + 1:
        raise ValueError(f"{n_points} points cannot hold the {m} vertices and the centre")
    fixed = np.vstack([np.eye(m), np.full((1, m), 1.0 / m)])
    n_fill = n_points - len(fixed)
    if n_fill == 0:
        return _finish(fixed)
    # m - 1 sorted uniforms cut [0, 1] into m spacings: a uniform point of the simplex.
    uniforms = qmc.Sobol(d=m - 1, scramble=True, seed=seed).random(_power_of_two(n_fill))[:n_fill]
    cuts = np.sort(uniforms, axis=1)
    edges = np.hstack([np.zeros((n_fill, 1)), cuts, np.ones((n_fill, 1))])
    return _finish(np.vstack([fixed, np.diff(edges, axis=1)]))


def default_grid(n_objectives: int) -> Grid:
    """The tiny tasks' evaluation grid for ``n_objectives`` (see the module docstring)."""
    if n_objectives == 2:
        return evenly_spaced()
    if n_objectives in LATTICE_PARTITIONS:
        return simplex_lattice(n_objectives, LATTICE_PARTITIONS[n_objectives])
    return vertices_centre_and_fill(n_objectives)


def grid_of_size(n_objectives: int, n_points: int) -> Grid:
    """A grid of the default design with at most ``n_points`` vectors, vertices always included:
    2 objectives, ``n_points`` evenly spaced; 3 to 5, the finest Das-Dennis lattice that fits;
    more, the vertices, the centre and a Sobol fill."""
    m = n_objectives
    if n_points < m:
        raise ValueError(f"a grid of {n_points} points cannot hold the {m} vertices")
    if m == 2:
        return evenly_spaced(n_points)
    if m in LATTICE_PARTITIONS:
        partitions = 1
        while math.comb(partitions + 1 + m - 1, m - 1) <= n_points:
            partitions += 1
        return simplex_lattice(m, partitions)
    if n_points == m:
        return _finish(np.eye(m))
    return vertices_centre_and_fill(m, n_points)


def check_grid_points(grid_points: int) -> None:
    if grid_points < 0:
        raise ValueError(f"grid_points must be 0 (the task's grid) or positive, got {grid_points}")


def task_or_coarser_grid(spec: TaskSpec, grid_points: int) -> np.ndarray:
    """The task's grid (``grid_points`` 0) or :func:`grid_of_size` ``grid_points`` of its
    objectives."""
    check_grid_points(grid_points)
    if grid_points == 0:
        return spec.grid
    return np.asarray(grid_of_size(len(spec.objectives), grid_points))


def grid_label(spec: TaskSpec, grid_points: int) -> str:
    """How a run's variant names that grid: ``task-grid``, or ``<n>pt`` for a coarser one."""
    if grid_points == 0:
        return "task-grid"
    return f"{len(task_or_coarser_grid(spec, grid_points))}pt"


def _power_of_two(n: int) -> int:
    """Sobol points come in powers of two; draw the next one up and keep the first ``n``."""
    return 1 << max(0, (n - 1).bit_length())


def _finish(grid: np.ndarray) -> Grid:
    grid = np.clip(np.asarray(grid, dtype=np.float64), 0.0, None)
    grid = grid / grid.sum(axis=1, keepdims=True)
    grid = np.round(grid, 12)  # 0.3, not 0.30000000000000004, in specs and JSON
    validate_preferences(grid, grid.shape[1])
    return as_tuple_grid(grid)
