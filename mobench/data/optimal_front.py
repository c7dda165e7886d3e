"""The optimal front of a task whose response space is known: the best any policy can reach.

**What is reachable.** For each eval prompt ``p`` a task supplies candidate responses whose
normalized exact scores ``S_p`` (``k_p × m``) weakly dominate every response its language admits
within the generation budget (the miniatures: :mod:`mobench.data.miniature.candidates`). A policy
may randomize, so its expected scores on ``p`` can be any point of ``conv(S_p)`` or below it, and
its front point at a preference (the mean over prompts) any point of the polytope

    C = (1/n) Σ_p conv(S_p)        (a Minkowski average)

or below it. The optimal front is C's Pareto front, and everything a run can show, an expected
or a sampled front point, lies in D = C's downward closure intersected with ``[r, ∞)`` (``r`` the
hypervolume reference point, dominated by every candidate). Its support function is exact:
``h(λ) = (1/n) Σ_p max_i λ·S_p[i]``, the mean over prompts of the λ-scalarized optimum, and the
λ-optima over all λ are C's vertices. Prompts with the same candidate scores are merged.

**What is computed** (:func:`compute_optimal_front`):

- ``vertices``. Up to ``exact_max_objectives`` objectives, exactly: start from the λ-optima at
  the simplex's vertices and centre, take the convex hull of D's corner points (each vertex with
  every subset of its coordinates lowered to ``r``; D is their hull), and for every upper facet
  (normal λ ≥ 0) whose offset is below ``h(λ)`` add the λ-optimum, a vertex the hull missed;
  repeat until every facet touches C. Above that, the λ-optima over ``n_dense_preferences``
  sampled λ: a subset of the vertices.
- ``hypervolume`` = vol(D), the most any front can dominate. Up to ``exact_max_objectives``
  objectives it is the final hull's volume, exact. Above, it is a Monte Carlo estimate in polar
  coordinates around ``r``: ``vol(D) = σ/m · E[ρ(u)^m]`` over directions ``u`` uniform on the
  positive part of the unit sphere (area σ), where ``ρ(u)``, the distance from ``r`` to D's
  boundary along ``u``, is an exact linear program; its standard error is reported.
- ``reference_points``, the reference front for GD, IGD and IGD+: the Pareto-optimal vertices
  and ``n_reference_points`` points spread over the front. When exact, uniform by area on the
  hull's facets whose normal is positive in every objective (C's Pareto-optimal facets). Above,
  for directions from ``r``, the point of C of largest coordinate sum that dominates D's boundary
  point on that ray (Pareto optimal: on the front proper, never on a wall of the closure).

Note that the hypervolume of any finite front is below ``vol(D)`` wherever the front has a slanted
facet: even a policy that answers every preference of a grid with its λ-optimum reaches a share
below 1 (hh: 0.978), and a policy mixing answers can beat it on hypervolume, since a facet's
interior dominates what its vertices leave uncovered (chat3, seed 0: Panacea reaches 0.456 of the
optimal hypervolume, the λ-optimal oracle 0.443). :meth:`OptimalFront.headroom` tells whether a
point is reachable at all, exactly, in any number of objectives.

The front depends only on the task (objectives, bounds, prompts, budget) and the candidates; it is
built once into the task's asset folder (:func:`cached_optimal_front`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mobench.core.specs import TaskSpec
from mobench.core.task import Scorer, TaskInstance
from mobench.data.assets.cache import asset_tag, build_once

ALGORITHM_VERSION = "1"
FRONT_FILE = "front.npz"
COMPONENT_PREFIX = "optimal-front"
# The scorer set an optimal front is computed for: the ground truth.
EXACT_SET = "exact"
# Extras key under which a task offers its OptimalFrontSource.
EXTRA_KEY = "optimal_front"
# Added to every weight of a λ-optimum's preference, so that of tied candidates the one better on
# the objectives λ ignores wins (a Pareto-optimal point); far below any score difference.
TIE_BREAK = 1e-10

if TYPE_CHECKING:
    from scipy.spatial import ConvexHull

CandidatesOf = Callable[[str], Sequence[str]]


class ForeignPromptError(ValueError):
    """A prompt outside a task's language: it has no candidates, so no optimal front covers it."""


@dataclass(frozen=True)
class OptimalFrontSettings:
    """How the optimal front is computed (the module docstring says what each part is).

    Attributes:
        exact_max_objectives: up to this many objectives the vertices and the hypervolume are
            exact (a convex hull of ``2^m`` corner points per vertex; qhull takes 0.2 s for
            chat5's 60 vertices); above, dense-λ vertices and a Monte Carlo hypervolume.
        n_reference_points: points spread over the front that join its vertices in the
            reference front, which every run's metrics.json carries: a few hundred.
        n_volume_directions: Monte Carlo directions above ``exact_max_objectives`` (chat10: 4000
            linear programs, about 30 s on two cores, standard error about 1.5%).
        n_dense_preferences: sampled λ whose optima are the vertices above
            ``exact_max_objectives``.
        tolerance: slack of the comparisons (facet offsets, dominance), in normalized units.
        seed: seed of the sampled directions and preferences.
    """

    exact_max_objectives: int = 5
    n_reference_points: int = 400
    n_volume_directions: int = 4000
    n_dense_preferences: int = 100_000
    tolerance: float = 1e-9
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("exact_max_objectives", "n_reference_points", "n_volume_directions",
                     "n_dense_preferences"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"{name} must be an integer of at least 2, got {value!r}")
        if not (math.isfinite(self.tolerance) and 0 < self.tolerance < 1e-3):
            raise ValueError(f"tolerance must lie in (0, 1e-3), got {self.tolerance}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")


@dataclass(frozen=True)
class OptimalFront:
    """The optimal front of one task on one set of prompts, in normalized units.

    Attributes:
        group_weights: (g,) share of the prompts in each group of prompts with equal candidates.
        group_points: per group, its candidates' Pareto-optimal normalized scores (k_g, m).
        reference_point: (m,) the hypervolume reference point.
        vertices: (v, m) C's Pareto-optimal vertices (all of them when ``exact``, else the
            dense-λ optima).
        reference_points: (k, m) Pareto-optimal points spread over the front.
        hypervolume: vol(D), the largest hypervolume any front on these prompts can have.
        hypervolume_standard_error: the Monte Carlo standard error of ``hypervolume``; 0 if exact.
        exact: whether ``vertices`` and ``hypervolume`` are exact.
    """

    group_weights: np.ndarray
    group_points: tuple[np.ndarray, ...]
    reference_point: np.ndarray
    vertices: np.ndarray
    reference_points: np.ndarray
    hypervolume: float
    hypervolume_standard_error: float
    exact: bool

    @property
    def n_objectives(self) -> int:
        return int(self.reference_point.shape[0])

    def support(self, preferences: np.ndarray) -> np.ndarray:
        """h(λ) for each row of ``preferences`` (n, m): the best mean λ-weighted score."""
        weights = _preference_rows(preferences, self.n_objectives)
        return sum(w * (points @ weights.T).max(axis=0)
                   for w, points in zip(self.group_weights, self.group_points, strict=True))

    def scalarized_optimum(self, preference: np.ndarray) -> np.ndarray:
        """The λ-optimum (m,), ties broken toward a Pareto-optimal point (a λ with zeros would
        otherwise accept a point that is worse on the objectives it ignores)."""
        weights = _preference_rows(preference, self.n_objectives)[0]
        return _scalarized_optimum(self.group_weights, self.group_points, weights)

    def headroom(self, points: np.ndarray) -> np.ndarray:
        """Per point ``y`` (n, m), the largest ``t`` with ``r + t (y - r)`` reachable (in D):
        ``t >= 1`` means a policy can reach ``y``, ``t < 1`` that ``y`` lies beyond the optimal
        front; ``inf`` for a point that does not improve on ``r`` anywhere."""
        rows = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if rows.shape[1] != self.n_objectives or not np.all(np.isfinite(rows)):
            raise ValueError(f"points must be finite rows of {self.n_objectives} objectives")
        program = _RayProgram(self.group_weights, self.group_points, self.reference_point)
        return np.array([program.radius(row - self.reference_point) for row in rows])


def compute_optimal_front(candidate_scores: Sequence[np.ndarray], reference_point: np.ndarray,
                          settings: OptimalFrontSettings | None = None) -> OptimalFront:
    """The optimal front of prompts whose candidates score ``candidate_scores`` (per prompt a
    (k_p, m) array of normalized scores), bounded by ``reference_point``.

    Raises:
        ValueError: no prompts, a prompt without candidates, arrays of different widths,
            non-finite scores, or a candidate below the reference point.
    """
    settings = settings or OptimalFrontSettings()
    reference = np.asarray(reference_point, dtype=np.float64)
    weights, groups = _merged_groups(candidate_scores, reference, settings.tolerance)
    m = reference.shape[0]
    rng = np.random.default_rng(settings.seed)
    program = _RayProgram(weights, groups, reference)
    if m <= settings.exact_max_objectives:
        vertices, hull = _exact_vertices_and_hull(weights, groups, reference, settings)
        hypervolume = 0.0 if hull is None else float(hull.volume)
        spread = (np.empty((0, m)) if hull is None
                  else _facet_samples(hull, settings.n_reference_points, settings.tolerance, rng))
        standard_error, exact = 0.0, True
    else:
        vertices = _dense_vertices(weights, groups, settings, rng)
        hypervolume, standard_error = _monte_carlo_volume(program, m,
                                                          settings.n_volume_directions, rng)
        spread = np.array([program.pareto_point_on_ray(direction) for direction in
                           _positive_directions(settings.n_reference_points, m, rng)])
        exact = False
    reference_points = _pareto_optimal(np.vstack([vertices, spread]), settings.tolerance)
    return OptimalFront(group_weights=weights, group_points=groups, reference_point=reference,
                        vertices=vertices, reference_points=reference_points,
                        hypervolume=float(hypervolume),
                        hypervolume_standard_error=float(standard_error), exact=exact)


def candidate_scores(spec: TaskSpec, scorers: Mapping[str, Scorer], prompts: Sequence[str],
                     candidates_of: CandidatesOf) -> list[np.ndarray]:
    """Per prompt, its candidates' normalized scores under ``scorers`` (the task's exact set)."""
    scores = []
    for prompt in prompts:
        texts = list(candidates_of(prompt))
        if not texts:
            raise ValueError(f"no candidate response for prompt {prompt!r}")
        raw = np.stack([np.asarray(scorers[name]([prompt] * len(texts), texts), dtype=np.float64)
                        for name in spec.objective_names], axis=1)
        scores.append(spec.normalize(raw))
    return scores


def raw_units(spec: TaskSpec, normalized: np.ndarray) -> np.ndarray:
    """The inverse of ``spec.normalize``: normalized points back to raw scores."""
    columns = []
    for j, objective in enumerate(spec.objectives):
        low, high = objective.bounds
        value = normalized[..., j]
        columns.append(low + value * (high - low) if objective.direction == "max"
                       else high - value * (high - low))
    return np.stack(columns, axis=-1)


@dataclass(frozen=True)
class OptimalFrontSource:
    """A task's optimal fronts, built on demand for any set of its prompts and cached.

    Attributes:
        root: the task's asset folder (fronts are components in it).
        spec: the task's spec.
        scorers: the exact scorer set.
        candidates_of: ``prompt -> candidate responses``; raises :class:`ForeignPromptError` for
            a prompt outside the task's language.
        response_limit: the generation budget the candidates respect (tokens).
        settings: how fronts are computed.
    """

    root: Path
    spec: TaskSpec
    scorers: Mapping[str, Scorer]
    candidates_of: CandidatesOf
    response_limit: int
    settings: OptimalFrontSettings = field(default_factory=OptimalFrontSettings)

    def front_for(self, prompts: Sequence[str]) -> OptimalFront | None:
        """The optimal front on ``prompts``; None when one of them is foreign to the task."""
        return cached_optimal_front(self, tuple(prompts))

    def references_for(self, prompts: Sequence[str]) -> tuple[dict[str, np.ndarray],
                                                              dict[str, float]] | None:
        """(raw reference fronts, hypervolumes) per scorer set for a run on ``prompts``, as
        :class:`~mobench.core.task.TaskInstance` holds them for its eval prompts; None when a prompt
        is foreign."""
        front = self.front_for(prompts)
        if front is None:
            return None
        return ({EXACT_SET: raw_units(self.spec, front.reference_points)},
                {EXACT_SET: front.hypervolume})


def cached_optimal_front(source: OptimalFrontSource,
                         prompts: tuple[str, ...]) -> OptimalFront | None:
    """Read or build the front of ``prompts`` in ``source.root``, keyed by everything it depends
    on: the objectives (names, bounds, descriptions, which carry the conciseness rule), the
    reference point, the prompts, the budget, the settings and the algorithm's version."""
    spec = source.spec
    key = {"task": spec.name,
           "objectives": [[o.name, list(o.bounds), o.direction, o.description]
                          for o in spec.objectives],
           "reference_point": list(spec.reference_point),
           "prompts": hashlib.sha256(json.dumps(prompts).encode()).hexdigest(),
           "response_limit": source.response_limit, "settings": asdict(source.settings)}
    path = source.root / f"{COMPONENT_PREFIX}-{spec.name}-{asset_tag(ALGORITHM_VERSION, key)}"

    def build(folder: Path) -> dict[str, Any]:
        scores = candidate_scores(spec, source.scorers, prompts, source.candidates_of)
        front = compute_optimal_front(scores, np.asarray(spec.reference_point, dtype=np.float64),
                                      source.settings)
        _save(front, folder / FRONT_FILE)
        return {"n_prompts": len(prompts), "n_groups": len(front.group_points),
                "n_vertices": len(front.vertices),
                "n_reference_points": len(front.reference_points),
                "hypervolume": front.hypervolume,
                "hypervolume_standard_error": front.hypervolume_standard_error,
                "exact": front.exact}

    try:
        asset = build_once(path, build)
    except ForeignPromptError:
        return None  # a front describes the task's own prompts only
    return _load(asset.path / FRONT_FILE)


def normalized_optimal_front(instance: TaskInstance) -> np.ndarray | None:
    """A task instance's optimal front (its exact reference front) in normalized units, for
    plots; None when the task knows none."""
    front = instance.reference_fronts.get(EXACT_SET)
    return None if front is None else instance.spec.normalize(front)


def _save(front: OptimalFront, path: Path) -> None:
    sizes = np.array([len(points) for points in front.group_points])
    with path.open("wb") as handle:
        np.savez(handle, group_weights=front.group_weights, group_sizes=sizes,
                 group_points=np.vstack(front.group_points),
                 reference_point=front.reference_point, vertices=front.vertices,
                 reference_points=front.reference_points,
                 hypervolume=np.array([front.hypervolume, front.hypervolume_standard_error]),
                 exact=np.array(front.exact))


def _load(path: Path) -> OptimalFront:
    with np.load(path, allow_pickle=False) as data:
        bounds = np.cumsum(data["group_sizes"])[:-1]
        groups = tuple(np.split(data["group_points"], bounds))
        return OptimalFront(group_weights=data["group_weights"], group_points=groups,
                            reference_point=data["reference_point"], vertices=data["vertices"],
                            reference_points=data["reference_points"],
                            hypervolume=float(data["hypervolume"][0]),
                            hypervolume_standard_error=float(data["hypervolume"][1]),
                            exact=bool(data["exact"]))


def _preference_rows(preferences: np.ndarray, m: int) -> np.ndarray:
    rows = np.atleast_2d(np.asarray(preferences, dtype=np.float64))
    if rows.shape[1] != m or not np.all(np.isfinite(rows)) or np.any(rows < 0):
        raise ValueError(f"preferences must be non-negative finite rows of {m} weights")
    return rows


def _merged_groups(candidate_scores: Sequence[np.ndarray], reference: np.ndarray,
                   tolerance: float) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Prompts with the same Pareto-optimal candidate scores merged, weighted by their count."""
    if not candidate_scores:
        raise ValueError("an optimal front needs at least one prompt")
    m = reference.shape[0]
    counts: dict[bytes, list[Any]] = {}
    for k, scores in enumerate(candidate_scores):
        points = np.asarray(scores, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != m or points.shape[0] == 0:
            raise ValueError(f"prompt {k}: candidate scores must be a non-empty (k, {m}) array, "
                             f"got shape {points.shape}")
        if not np.all(np.isfinite(points)):
            raise ValueError(f"prompt {k}: candidate scores must be finite")
        if np.any(points < reference - tolerance):
            raise ValueError(f"prompt {k}: a candidate scores below the reference point, which "
                             "must be dominated by every response")
        # rounding merges scores that differ by float noise only (a sum in another order)
        best = _pareto_optimal(np.round(np.maximum(points, reference), 12), tolerance)
        counts.setdefault(best.tobytes(), [best, 0])[1] += 1
    total = len(candidate_scores)
    weights = np.array([count / total for _, count in counts.values()])
    return weights, tuple(points for points, _ in counts.values())


def _pareto_optimal(points: np.ndarray, tolerance: float) -> np.ndarray:
    """The distinct points of ``points`` that no other point dominates (maximization)."""
    distinct = np.unique(points, axis=0)
    keep = [i for i, p in enumerate(distinct)
            if not np.any(np.all(distinct >= p - tolerance, axis=1)
                          & np.any(distinct > p + tolerance, axis=1))]
    return distinct[keep]


def _scalarized_optimum(weights: np.ndarray, groups: Sequence[np.ndarray],
                        preference: np.ndarray) -> np.ndarray:
    utility = preference + TIE_BREAK
    return sum(w * points[int(np.argmax(points @ utility))]
               for w, points in zip(weights, groups, strict=True))


def _corners(vertices: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Every vertex with each subset of its coordinates lowered to the reference point's: the
    downward closure of the vertices' hull within [r, ∞) is the hull of these points."""
    m = reference.shape[0]
    masks = np.array(list(itertools.product((False, True), repeat=m)))
    corners = np.where(masks[None, :, :], reference[None, None, :], vertices[:, None, :])
    return np.unique(corners.reshape(-1, m), axis=0)


def _exact_vertices_and_hull(
        weights: np.ndarray, groups: Sequence[np.ndarray], reference: np.ndarray,
        settings: OptimalFrontSettings) -> tuple[np.ndarray, ConvexHull | None]:
    """C's Pareto-optimal vertices and D's convex hull, by facet refinement (module docstring);
    no hull when D is flat (an objective no candidate lifts above the reference point)."""
    from scipy.spatial import ConvexHull

    m = reference.shape[0]
    start = np.vstack([np.eye(m), np.full((1, m), 1.0 / m)])
    vertices = np.unique(np.array([_scalarized_optimum(weights, groups, p) for p in start]),
                         axis=0)
    if not np.all(vertices.max(axis=0) > reference + settings.tolerance):
        return _pareto_optimal(vertices, settings.tolerance), None
    max_rounds = 10_000
    for _ in range(max_rounds):
        hull = ConvexHull(_corners(vertices, reference))
        missing = []
        for equation in np.unique(np.round(hull.equations, 12), axis=0):
            normal, offset = equation[:m], equation[m]
            # an upper facet: outward normal >= 0, not through the reference point
            if np.any(normal < -settings.tolerance) or normal @ reference + offset > \
                    -settings.tolerance:
                continue
            preference = np.clip(normal, 0.0, None) / np.clip(normal, 0.0, None).sum()
            facet_level = -offset / np.clip(normal, 0.0, None).sum()
            optimum = _scalarized_optimum(weights, groups, preference)
            if preference @ optimum > facet_level + settings.tolerance:
                missing.append(optimum)
        if not missing:
            return _pareto_optimal(vertices, settings.tolerance), hull
        vertices = np.unique(np.vstack([vertices, *missing]), axis=0)
    raise RuntimeError(f"the vertex search did not converge in {max_rounds} rounds")


def _facet_samples(hull: ConvexHull, n: int, tolerance: float,
                   rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform by area on the hull's facets whose outward normal is positive in
    every objective: the Pareto-optimal facets of C (facets with a zero in their normal are walls
    of the downward closure or ignore an objective)."""
    upper = np.all(hull.equations[:, :-1] > tolerance, axis=1)
    simplices = hull.points[hull.simplices[upper]]  # (f, m, m): each facet's m corners
    if len(simplices) == 0:
        return np.empty((0, hull.points.shape[1]))
    edges = simplices[:, 1:, :] - simplices[:, :1, :]
    gram = np.einsum("fim,fjm->fij", edges, edges)
    areas = np.sqrt(np.clip(np.linalg.det(gram), 0.0, None))
    chosen = rng.choice(len(simplices), size=n, p=areas / areas.sum())
    barycentric = rng.dirichlet(np.ones(simplices.shape[1]), size=n)
    return np.einsum("nk,nkm->nm", barycentric, simplices[chosen])


def _dense_vertices(weights: np.ndarray, groups: Sequence[np.ndarray],
                    settings: OptimalFrontSettings, rng: np.random.Generator) -> np.ndarray:
    """The λ-optima over the simplex's vertices, centre and ``n_dense_preferences`` samples."""
    m = groups[0].shape[1]
    preferences = np.vstack([np.eye(m), np.full((1, m), 1.0 / m),
                             rng.dirichlet(np.ones(m), size=settings.n_dense_preferences)])
    preferences = preferences + TIE_BREAK
    optima = []
    for chunk in np.array_split(preferences, max(1, len(preferences) // 10_000)):
        optima.append(sum(w * points[np.argmax(points @ chunk.T, axis=0)]
                          for w, points in zip(weights, groups, strict=True)))
    return _pareto_optimal(np.round(np.vstack(optima), 12), settings.tolerance)


def _positive_directions(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` directions uniform on the positive part of the unit sphere."""
    gaussian = np.abs(rng.standard_normal((n, m)))
    return gaussian / np.linalg.norm(gaussian, axis=1, keepdims=True)


def _monte_carlo_volume(program: _RayProgram, m: int, n_directions: int,
                        rng: np.random.Generator) -> tuple[float, float]:
    """vol(D) = σ/m · E[ρ(u)^m] and its standard error (module docstring)."""
    radii = np.array([program.radius(u) for u in _positive_directions(n_directions, m, rng)])
    orthant_area = 2.0 * math.pi ** (m / 2) / math.gamma(m / 2) / 2.0 ** m
    values = orthant_area / m * radii ** m
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(n_directions))


class _RayProgram:
    """Linear programs over C = Σ_g w_g conv(P_g): a point of C is Σ_g w_g P_gᵀ α_g with each
    α_g a probability vector over group g's points (one variable per point, then ``t``)."""

    def __init__(self, weights: np.ndarray, groups: Sequence[np.ndarray],
                 reference: np.ndarray) -> None:
        self.reference = reference
        self.scaled = np.vstack([w * points for w, points in zip(weights, groups, strict=True)])
        n_points = self.scaled.shape[0]
        self.sums = np.zeros((len(groups), n_points + 1))
        start = 0
        for g, points in enumerate(groups):
            self.sums[g, start:start + len(points)] = 1.0
            start += len(points)

    def radius(self, direction: np.ndarray) -> float:
        """max t such that r + t·direction <= some point of C."""
        from scipy.optimize import linprog

        n_points = self.scaled.shape[0]
        cost = np.zeros(n_points + 1)
        cost[-1] = -1.0
        # t·u_j - x_j <= -r_j for each objective j
        bound_rows = np.hstack([-self.scaled.T, direction[:, None]])
        result = linprog(cost, A_ub=bound_rows, b_ub=-self.reference, A_eq=self.sums,
                         b_eq=np.ones(len(self.sums)), bounds=(0, None), method="highs")
        if result.status == 3:  # unbounded: the direction never leaves D
            return math.inf
        if result.status != 0:
            raise RuntimeError(f"ray program failed: {result.message}")
        return float(-result.fun)

    def pareto_point_on_ray(self, direction: np.ndarray) -> np.ndarray:
        """The point of C with the largest coordinate sum among those dominating the boundary
        point of D on the ray from r along ``direction`` (a Pareto-optimal point)."""
        from scipy.optimize import linprog

        floor = self.reference + self.radius(direction) * direction
        n_points = self.scaled.shape[0]
        cost = np.concatenate([-self.scaled.sum(axis=1), [0.0]])
        result = linprog(cost, A_ub=np.hstack([-self.scaled.T, np.zeros((len(floor), 1))]),
                         b_ub=-floor + 1e-12, A_eq=self.sums, b_eq=np.ones(len(self.sums)),
                         bounds=[(0, None)] * n_points + [(0, 0)], method="highs")
        if result.status != 0:
            raise RuntimeError(f"front point program failed: {result.message}")
        return self.scaled.T @ result.x[:-1]
