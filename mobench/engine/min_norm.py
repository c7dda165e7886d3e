"""Minimum-norm points of a convex hull: the closed form over scalars and Frank-Wolfe over vectors.

Both solve min over the simplex Δ of ‖Σ_i c_i v_i‖².

- Over scalars v_i (PAMA's weighting of per-objective advantages, He and Maghsudi 2025) the
  combination Σ c_i v_i sweeps the interval [min_i v_i, max_i v_i], so its minimum-norm value is 0
  projected onto that interval: 0 when the interval holds 0, min_i v_i when every v_i is positive,
  max_i v_i when every one is negative. O(n), and vectorized over any other dimensions.
- Over vectors v_i (MGDA's min-norm step on per-objective gradients, Sener and Koltun 2018) the
  problem is the quadratic program min_c cᵀGc with G the Gram matrix of the v_i: O(n²d) to build
  G, then the exact formula for two vectors or Frank-Wolfe for more.
"""

from __future__ import annotations

import torch


def project_zero_onto_range(values: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The minimum-norm value min_{c∈Δ} |Σ_i c_i v_i| of the scalars ``values`` along ``dim``
    (that dimension removed): 0 clamped into [min_i v_i, max_i v_i]."""
    if values.shape[dim] == 0:
        raise ValueError("the minimum-norm combination needs at least one value")
    low, high = values.amin(dim=dim), values.amax(dim=dim)
    return torch.clamp(torch.zeros_like(low), min=low, max=high)


def scalar_min_norm_weights(values: torch.Tensor) -> torch.Tensor:
    """A minimizer c* ∈ Δ of (Σ_i c_i v_i)² for the 1-D ``values`` (one scalar per objective).

    The minimizer is not unique when values tie or when several combinations reach 0, so this
    picks one that does not depend on the order of the objectives: all positive, the weight is
    shared equally by the objectives at the minimum; all negative, by those at the maximum; a
    value exactly 0, by the objectives at 0; otherwise (min < 0 < max) the two extremes get
    max/(max − min) and −min/(max − min), each shared by its tied objectives, so Σ c_i v_i = 0.
    """
    if values.dim() != 1 or len(values) == 0:
        raise ValueError(f"expected a non-empty vector of values, got shape {tuple(values.shape)}")
    if not torch.isfinite(values).all():
        raise ValueError("the values to weight must be finite")
    low, high = values.min(), values.max()
    at_low = (values == low).to(values.dtype)
    at_high = (values == high).to(values.dtype)
    if low > 0:
        return at_low / at_low.sum()
    if high < 0:
        return at_high / at_high.sum()
    at_zero = (values == 0).to(values.dtype)
    if at_zero.any():
        return at_zero / at_zero.sum()
    span = high - low
    return at_low / at_low.sum() * (high / span) + at_high / at_high.sum() * (-low / span)


def min_norm_weights(gram: torch.Tensor, max_iterations: int = 250,
                     tolerance: float = 1e-6) -> torch.Tensor:
    """MGDA's weights: c* ∈ Δ minimizing cᵀGc for the (n, n) Gram matrix ``gram`` of n vectors.

    Two vectors: the exact minimizer on the segment between them. More (as Sener and Koltun's
    solver): start from the best pair's exact solution, then Frank-Wolfe, each step moving
    towards the vertex of the smallest (Gc)_t with the exact line search on the segment, until
    the duality gap cᵀGc − min_t (Gc)_t (a bound on cᵀGc's excess over the minimum) is below
    ``tolerance`` times cᵀGc, relative so that gradients of any scale stop alike, or
    ``max_iterations`` steps. Solved in float64 whatever the Gram matrix's precision (it is
    n × n: the cost is in building G).
    """
    if gram.dim() != 2 or gram.shape[0] != gram.shape[1] or gram.shape[0] == 0:
        raise ValueError(f"expected a square non-empty Gram matrix, got shape {tuple(gram.shape)}")
    if max_iterations < 1 or tolerance <= 0:
        raise ValueError("max_iterations must be at least 1 and tolerance positive")
    g = gram.detach().to(torch.float64)
    n = g.shape[0]
    if n == 1:
        return torch.ones(1, dtype=torch.float64)
    if n == 2:
        return _two_vector_weights(g[0, 0], g[0, 1], g[1, 1])
    weights = _best_pair_weights(g)
    for _ in range(max_iterations):
        towards = g @ weights
        vertex = int(torch.argmin(towards))
        norm = weights @ towards
        if norm - towards[vertex] <= tolerance * max(float(norm), 1e-30):
            break
        # ‖(1 − γ)u + γ v‖² with u = Σ c_i v_i, v = v_vertex: uu = cᵀGc, uv = (Gc)_t, vv = G_tt.
        step = _segment_minimizer(norm, towards[vertex], g[vertex, vertex])
        weights = (1 - step) * weights
        weights[vertex] += step
    return weights


def _best_pair_weights(g: torch.Tensor) -> torch.Tensor:
    """The weights of the pair of vectors whose segment comes nearest the origin."""
    best, best_norm = torch.zeros(len(g), dtype=torch.float64), float("inf")
    for i in range(len(g)):
        for j in range(i + 1, len(g)):
            pair = _two_vector_weights(g[i, i], g[i, j], g[j, j])
            norm = float(pair[0] ** 2 * g[i, i] + 2 * pair[0] * pair[1] * g[i, j]
                         + pair[1] ** 2 * g[j, j])
            if norm < best_norm:
                best_norm = norm
                best = torch.zeros(len(g), dtype=torch.float64)
                best[i], best[j] = pair[0], pair[1]
    return best


def _two_vector_weights(g11: torch.Tensor, g12: torch.Tensor,
                        g22: torch.Tensor) -> torch.Tensor:
    """c* for two vectors: γ on the first, 1 − γ on the second."""
    first = _segment_minimizer(g22, g12, g11)
    return torch.stack([first, 1 - first])


def _segment_minimizer(uu: torch.Tensor, uv: torch.Tensor, vv: torch.Tensor) -> torch.Tensor:
    """γ ∈ [0, 1] minimizing ‖(1 − γ)u + γv‖² from the inner products of u and v."""
    curvature = uu - 2 * uv + vv
    if curvature <= 0:  # u = v: every point of the segment is the same vector
        return torch.zeros((), dtype=torch.float64)
    return torch.clamp((uu - uv) / curvature, 0.0, 1.0)
