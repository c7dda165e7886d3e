"""Exact hypervolume in the maximization convention, fast at every size a task produces.

moocore's exact algorithms are fast up to about six objectives, but its recursive algorithm grows
like n^(m-2): 100 points in 10 objectives take it 45-51 s. Above that size this module runs a
WFG-style recursion (While, Bradstreet & Barone, "A fast way of calculating exact hypervolumes",
IEEE TEVC 2012) in Python and hands every sub-problem that moocore solves quickly back to moocore.
No new dependency: numpy and moocore only. ``bench/bench_hypervolume.py`` measures it against
pymoo's HV (which is moocore) and checks the values agree.

A 10-objective front of 40 points makes about 450 calls into moocore (non-dominated filters and
small hypervolumes), and moocore's Python wrappers (argument checks, conversions) cost about as
much as its C code on such small inputs. So the calls go straight to the compiled functions the
wrappers call, with the same arguments (:func:`_moocore_c`): the same C code on the same inputs,
so the same bits, a quarter less time. Where that library is not what this module expects (another
moocore version) the public functions are used.

The recursion, in the minimization form used inside this module (reference point at the origin,
point ``y`` counts when every ``y_j < 0``, its box is ``[y, 0]``): pick one objective ``k`` and
order the points by depth ``d_i = -y_ik``, shallowest first. Each box minus the deeper boxes is a
slab of depth ``d_i`` whose cross-section is the box of ``y_i`` without objective ``k``, minus the
union of the deeper points clipped to it ("limit set"). So

    HV_m(Y) = sum_i d_i * (vol(y_i') - HV_{m-1}(nondominated({max(y_i', y_j') : j > i})))

Clipped points are often dominated, so the (m-1)-objective sub-problems are much smaller than the
input; they recurse until moocore is cheap for them (see ``MOOCORE_MAX_POINTS``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import moocore
import numpy as np
from numpy.typing import ArrayLike

from mobench.metrics.validation import as_points, as_vector

# Largest sub-problem (points) handed to moocore per number of objectives; larger ones recurse.
# Measured on 2 cores with points on a spherical front: up to 5 objectives moocore wins at every
# size tried (3000 points in 80 ms); at 6-9 objectives it wins below these sizes and loses, by up
# to 80x, above them (1000 points in 6 objectives: moocore 1.3 s, recursion 0.15 s; 500 points in
# 7 objectives: 11.6 s against 0.15 s). Above 9 objectives, 12 points is moocore's
# inclusion-exclusion limit (HV_INEX_MAX_ROWS).
MOOCORE_MAX_POINTS: dict[int, float] = {5: np.inf, 6: 100, 7: 50, 8: 20, 9: 16}
MOOCORE_MAX_POINTS_HIGH_DIM = 12
MOOCORE_ALWAYS_UP_TO_OBJECTIVES = 4


def hypervolume(points: ArrayLike, reference_point: ArrayLike) -> float:
    """Exact hypervolume of ``points`` (n, m), all objectives maximized, bounded by
    ``reference_point`` (m,).

    Only the region that weakly dominates the reference point counts: a point that is not strictly
    better than the reference point in every objective contributes nothing (its box has zero
    volume or lies outside). Dominated and duplicate points are allowed and change nothing. An empty
    ``points`` array (shape (0, m)) has hypervolume 0.
    """
    front = as_points(points, "points")
    reference = as_vector(reference_point, "reference_point", front.shape[1])
    return checked_hypervolume(front, reference)


def checked_hypervolume(front: np.ndarray, reference: np.ndarray) -> float:
    """:func:`hypervolume` of a front and reference point already checked (finite float arrays
    of shapes (n, m) and (m,)), for callers that check a whole batch at once."""
    # Minimization with the reference point at the origin; strictly negative rows have volume.
    shifted = reference - front
    shifted = shifted[np.all(shifted < 0.0, axis=1)]
    if shifted.shape[0] == 0:
        return 0.0
    if not _moocore_is_fast(*shifted.shape):
        # Dominated points would only add work to the recursion (moocore, when it takes the whole
        # set below, skips them itself).
        shifted = shifted[_non_dominated_mask(shifted)]
    return float(_hypervolume_below_origin(shifted))


def _hypervolume_below_origin(points: np.ndarray) -> float:
    """Volume of the union of boxes ``[y, 0]`` for rows ``y`` of ``points`` (all entries < 0)."""
    n_points, n_objectives = points.shape
    if n_points == 1:
        return abs(float(np.prod(points[0])))
    if n_points == 2:
        # Inclusion-exclusion: the two boxes meet in the box of their componentwise maximum.
        overlap = abs(float(np.prod(np.maximum(points[0], points[1]))))
        return abs(float(np.prod(points[0]))) + abs(float(np.prod(points[1]))) - overlap
    if _moocore_is_fast(n_points, n_objectives):
        return float(_moocore_hypervolume(n_objectives)(points))

    depth_all = -points
    # Any objective gives the same value; slicing on the one whose points lie deepest on average
    # made the recursion 1.5-2x faster on 10-objective spherical fronts than a fixed objective.
    sliced = int(np.argmax(depth_all.mean(axis=0)))
    order = np.argsort(depth_all[:, sliced], kind="stable")
    depth = depth_all[order, sliced]
    rest = np.delete(points[order], sliced, axis=1)
    own_volume = np.abs(np.prod(rest, axis=1))

    total = depth[-1] * own_volume[-1]
    for i in range(n_points - 1):
        clipped = np.maximum(rest[i + 1:], rest[i])
        if clipped.shape[0] > 2:
            clipped = clipped[_non_dominated_mask(clipped)]
        total += depth[i] * (own_volume[i] - _hypervolume_below_origin(clipped))
    return float(total)


def _moocore_is_fast(n_points: int, n_objectives: int) -> bool:
    if n_objectives <= MOOCORE_ALWAYS_UP_TO_OBJECTIVES:
        return True
    return n_points <= MOOCORE_MAX_POINTS.get(n_objectives, MOOCORE_MAX_POINTS_HIGH_DIM)


@cache
def _moocore_hypervolume(n_objectives: int) -> Any:
    """The hypervolume of (n, n_objectives) points (all < 0) below the origin, by moocore: its C
    function directly where :func:`_moocore_c` allows, else one indicator object per dimension
    (its call skips moocore.hypervolume's argument handling)."""
    library = _moocore_c()
    if library is None:
        return moocore.Hypervolume(ref=np.zeros(n_objectives))
    ffi, lib = library
    # (a buffer from ffi.from_buffer keeps the array it points into alive)
    origin_buffer = ffi.from_buffer("double []", np.zeros(n_objectives))

    def volume(points: np.ndarray) -> float:
        points = np.ascontiguousarray(points, dtype=float)
        value = lib.fpli_hv(ffi.from_buffer("double []", points), points.shape[0],
                            n_objectives, origin_buffer)
        if value < 0:
            raise MemoryError("moocore's hypervolume: memory allocation failed")
        return value

    return volume


def _non_dominated_mask(points: np.ndarray) -> np.ndarray:
    """``moocore.is_nondominated(points)`` (minimization, one of equal points kept): through its C
    function where :func:`_moocore_c` allows."""
    library = _moocore_c()
    n_points, n_objectives = points.shape
    if library is None or n_points == 0 or n_objectives < 2:
        return moocore.is_nondominated(points)
    ffi, lib = library
    points = np.ascontiguousarray(points, dtype=float)
    mask = np.empty(n_points, dtype=bool)
    lib.is_nondominated(ffi.from_buffer("uint8_t []", mask.view(np.uint8)),
                        ffi.from_buffer("double []", points), n_points, n_objectives, False,
                        _minimize_all(n_objectives))
    return mask


@cache
def _minimize_all(n_objectives: int) -> Any:
    """moocore's ``maximise`` flags (none) for ``n_objectives``, as its C functions take them."""
    ffi = _moocore_c()[0]  # type: ignore[index]
    return ffi.from_buffer("uint8_t []", np.zeros(n_objectives, dtype=np.uint8))


@cache
def _moocore_c() -> tuple[Any, Any] | None:
    """moocore's compiled library (its cffi ``ffi`` and ``lib``), which its public functions call,
    or None to use those public functions: when this moocore lacks it, or when calling it directly
    does not give bit for bit what the public functions give on a few test problems (non-dominated
    filters, and hypervolumes by inclusion-exclusion and by moocore's recursion)."""
    try:
        from moocore._moocore import ffi, lib  # private: checked below

        rng = np.random.default_rng(0)
        for n_points, n_objectives in ((5, 4), (12, 6), (20, 7), (30, 9)):
            points = -np.abs(rng.normal(size=(n_points, n_objectives)))
            points[1] = points[0]  # a duplicate, which the filter keeps once
            origin = np.zeros(n_objectives)
            mask = np.empty(n_points, dtype=bool)
            flags = np.zeros(n_objectives, dtype=np.uint8)
            lib.is_nondominated(ffi.from_buffer("uint8_t []", mask.view(np.uint8)),
                                ffi.from_buffer("double []", points), n_points, n_objectives,
                                False, ffi.from_buffer("uint8_t []", flags))
            if not np.array_equal(mask, moocore.is_nondominated(points)):
                return None
            kept = np.ascontiguousarray(points[mask])
            direct = lib.fpli_hv(ffi.from_buffer("double []", kept), kept.shape[0],
                                 n_objectives, ffi.from_buffer("double []", origin))
            if direct != moocore.Hypervolume(ref=origin)(kept):
                return None
    except Exception:  # any failure: use the public functions
        return None
    return ffi, lib
