"""Soundness checks of a built miniature: are the reference policy's samples well formed, and does
best-of-N sampling under different preferences trace a real front?

Best-of-N with a λ-weighted reward is the training-free reference of every task: for each prompt,
draw N samples from the reference policy once, and for each preference λ keep the sample with the
highest ``λ · normalized scores``. The front is the mean over prompts of the kept samples' scores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mobench.core.policy import derive_seed, generate_texts
from mobench.core.specs import DecodingConfig, TaskSpec
from mobench.core.task import Scorer, TaskInstance


@dataclass(frozen=True)
class ReferenceSamples:
    """N samples per prompt from the reference policy.

    Attributes:
        prompts: the raw prompts, P of them.
        responses: P lists of N responses.
        n_tokens: (P, N) generated token counts.
    """

    prompts: tuple[str, ...]
    responses: tuple[tuple[str, ...], ...]
    n_tokens: np.ndarray


def sample_reference(instance: TaskInstance, n_prompts: int, n_samples: int, seed: int,
                     decoding: DecodingConfig = DecodingConfig(),
                     batch_size: int = 64) -> ReferenceSamples:
    """``n_samples`` responses to each of the first ``n_prompts`` eval prompts."""
    model, tokenizer = instance.load_reference_policy()
    prompts = list(instance.data.eval_prompts["prompt"][:n_prompts])
    cells = [p for p in prompts for _ in range(n_samples)]
    texts = [instance.spec.format_prompt(p) for p in cells]
    generations = []
    for b, start in enumerate(range(0, len(texts), batch_size)):
        generations += generate_texts(model, tokenizer, texts[start:start + batch_size], decoding,
                                      derive_seed(seed, b))
    responses = tuple(tuple(g.text for g in generations[i * n_samples:(i + 1) * n_samples])
                      for i in range(len(prompts)))
    n_tokens = np.asarray([g.n_tokens for g in generations]).reshape(len(prompts), n_samples)
    return ReferenceSamples(tuple(prompts), responses, n_tokens)


def score_samples(samples: ReferenceSamples, scorers: Mapping[str, Scorer],
                  objective_names: Sequence[str]) -> np.ndarray:
    """Raw scores, shape (P, N, m)."""
    flat_prompts = [p for p, row in zip(samples.prompts, samples.responses, strict=True)
                    for _ in row]
    flat = [r for row in samples.responses for r in row]
    scores = np.stack([np.asarray(scorers[name](flat_prompts, flat), dtype=np.float64)
                       for name in objective_names], axis=-1)
    return scores.reshape(len(samples.prompts), -1, len(objective_names))


def parse_rate(samples: ReferenceSamples, is_well_formed: Callable[[str], bool]) -> float:
    flat = [r for row in samples.responses for r in row]
    return float(np.mean([is_well_formed(r) for r in flat]))


def best_of_n_front(normalized: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(G, m) front: per preference, the mean over prompts of the λ-best sample's scores."""
    utility = np.einsum("pnm,gm->gpn", normalized, grid)
    best = utility.argmax(axis=2)  # (G, P)
    prompt_index = np.arange(normalized.shape[0])[None, :]
    return normalized[prompt_index, best].mean(axis=1)


def non_dominated(points: np.ndarray, tolerance: float = 1e-9) -> np.ndarray:
    """The distinct points of ``points`` (maximisation) that no other point dominates."""
    distinct = np.unique(np.round(np.asarray(points, dtype=np.float64), 9), axis=0)
    keep = []
    for i, p in enumerate(distinct):
        others = np.delete(distinct, i, axis=0)
        dominated = np.any(np.all(others >= p - tolerance, axis=1) &
                           np.any(others > p + tolerance, axis=1))
        if not dominated:
            keep.append(p)
    return np.asarray(keep)


def reference_front(instance: TaskInstance, scorer_set: str, n_prompts: int, n_samples: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray, ReferenceSamples]:
    """Best-of-N front under ``scorer_set``: (front (G, m) normalized, raw scores, samples)."""
    spec: TaskSpec = instance.spec
    samples = sample_reference(instance, n_prompts, n_samples, seed)
    raw = score_samples(samples, instance.scorer_sets[scorer_set], spec.objective_names)
    return best_of_n_front(spec.normalize(raw), spec.grid), raw, samples
