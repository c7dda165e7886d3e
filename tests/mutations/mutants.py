"""The curated mutations: each a realistic one-edit mistake in a method or a metric.

Each :class:`Mutation` replaces ``original``, which must occur exactly once in ``path``, by
``mutated``; ``checks`` are the tests CI runs (``python -m pytest -q``) that must fail once the
mutation is applied. ``python tests/mutations/run.py`` applies them one at a time in a scratch copy
of the tree and prints which check caught which (see the README's "Development" section). A
refactor that removes or duplicates a snippet makes the runner and ``test_mutants.py`` refuse it, so
the list is kept up to date rather than silently skipped.

``cheap``: every check is a fast unit test (seconds on one core, no training); CI's
``tests/mutations/test_mutants.py`` runs these mutations through the runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutation:
    """One deliberate bug.

    Attributes:
        name: a short identifier (``--only NAME``).
        description: the mistake, in words.
        path: the file, relative to the repository root.
        original: an exact snippet of ``path``, present exactly once.
        mutated: what replaces it.
        checks: pytest node ids or test files (relative to the repository root) that CI runs and
            that must fail with the mutation applied.
        cheap: every check is a fast unit test (seconds, nothing trained).
    """

    name: str
    description: str
    path: str
    original: str
    mutated: str
    checks: tuple[str, ...]
    cheap: bool = True

    def source(self, root: Path = REPO) -> str:
        return (root / self.path).read_text(encoding="utf-8")

    def problems(self, root: Path = REPO) -> list[str]:
        """Why the mutation cannot be applied to the tree at ``root`` (empty: it can)."""
        out = []
        if self.original == self.mutated:
            out.append("the mutated snippet equals the original")
        if not self.checks:
            out.append("no check is named")
        target = root / self.path
        if not target.is_file():
            return [*out, f"{self.path} does not exist"]
        count = self.source(root).count(self.original)
        if count != 1:
            out.append(f"the original snippet occurs {count} times in {self.path}, not once")
        for check in self.checks:
            file = check.split("::", 1)[0]
            if not (root / file).is_file():
                out.append(f"check {check}: {file} does not exist")
        return out

    def mutate(self, text: str) -> str:
        """``text`` with the one occurrence of ``original`` replaced."""
        if text.count(self.original) != 1:
            raise ValueError(f"{self.name}: the original snippet does not occur exactly once in "
                             f"{self.path}")
        return text.replace(self.original, self.mutated, 1)


MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        name="dpo-loss-inverted",
        description="the DPO loss returned without its minus sign: training minimizes the "
                    "winners' log-likelihood",
        path="mobench/engine/dpo.py",
        original="""        metrics[f"accuracy/{name}"] = float(accuracy[i])
    return -objective, metrics""",
        mutated="""        metrics[f"accuracy/{name}"] = float(accuracy[i])
    return objective, metrics""",
        checks=("tests/engine/test_aggregation.py",
                "tests/methods/test_modpo.py::test_without_margins_it_is_dpo_on_the_objectives_pairs"),
    ),
    Mutation(
        name="modpo-margin-sign",
        description="MODPO adds the other objectives' reward margin instead of subtracting it",
        path="mobench/engine/modpo.py",
        original="logits = (implicit_gap - margin) / weights.objective_weight",
        mutated="logits = (implicit_gap + margin) / weights.objective_weight",
        checks=("tests/methods/test_modpo.py::test_the_loss_is_the_hand_computed_margin_loss_on_a_fixed_batch",
                "tests/methods/test_modpo.py::test_the_trained_objective_can_be_any_of_them"),
    ),
    Mutation(
        name="tchebycheff-max",
        description="the Tchebycheff aggregation takes each group's best objective (max) "
                    "instead of its worst (min)",
        path="mobench/engine/aggregation.py",
        original="return values.min(dim=1).values.mean()",
        mutated="return values.max(dim=1).values.mean()",
        checks=("tests/engine/test_aggregation.py",),
    ),
    Mutation(
        name="pama-variant-ignored",
        description="PAMA always trains with the per-sample weighting, whatever the variant",
        path="methods/pama.py",
        original='WEIGHTINGS[self.config.variant], whiten_per_objective=True',
        mutated='WEIGHTINGS["per-sample"], whiten_per_objective=True',
        checks=("tests/methods/test_pama.py::test_the_batch_scalar_variant_trains_with_its_own_weighting_and_is_named",),
        cheap=False,
    ),
    Mutation(
        name="rewarded-soups-lambda-reversed",
        description="the per-row expert mixture (Rewarded Soups) takes λ in reverse order: "
                    "expert i gets the weight of the last objective but i",
        path="mobench/adapters/combine.py",
        original="self._weights = weights.detach().float()",
        mutated="self._weights = weights.detach().float().flip(1)",
        checks=("tests/adapters/test_lora_combine.py::test_per_row_mixture_equals_merging_each_preference",
                "tests/methods/test_rewarded_soups.py::test_the_soup_at_a_vertex_generates_exactly_the_experts_tokens"),
        cheap=False,
    ),
    Mutation(
        name="ric-mapping-swapped",
        description="RiC's λ -> desired-score mappings swapped: asking for linf gives l2's "
                    "targets and the reverse",
        path="mobench/toolkit/reward_targets.py",
        original="""    if mapping == "linf":
        shares = np.minimum(m * weights, 1.0)
        shares[np.arange(len(weights)), weights.argmax(axis=1)] = 1.0
    elif mapping == "l2":""",
        mutated="""    if mapping == "l2":
        shares = np.minimum(m * weights, 1.0)
        shares[np.arange(len(weights)), weights.argmax(axis=1)] = 1.0
    elif mapping == "linf":""",
        checks=("tests/methods/test_ric.py::test_both_mappings_for_two_objectives",),
    ),
    Mutation(
        name="mod-weights-ignored",
        description="MOD mixes the experts' next-token scores uniformly, ignoring λ",
        path="mobench/toolkit/decoding.py",
        original=("return (weights.T.to(expert_logits.dtype)[:, :, None] * expert_logits)"
                  ".sum(dim=0)"),
        mutated="return expert_logits.mean(dim=0)",
        checks=("tests/methods/test_mod.py::test_mixing_logits_by_hand",),
    ),
    Mutation(
        name="best-of-n-argmin",
        description="Best-of-N keeps the sample of the lowest λ-weighted score",
        path="methods/best_of_n.py",
        original='return np.argmax(np.einsum("nsm,nm->ns", scores, weights), axis=1)',
        mutated='return np.argmin(np.einsum("nsm,nm->ns", scores, weights), axis=1)',
        checks=("tests/methods/test_best_of_n.py::test_the_choice_is_the_argmax_of_the_weighted_scores",),
    ),
    Mutation(
        name="panacea-lambda-ignored",
        description="Panacea's SVD-LoRA diagonal puts s in every preference slot, whatever λ",
        path="mobench/adapters/svd_layer.py",
        original="return torch.cat([shared, self.pref_scale * preferences], dim=1)",
        mutated="return torch.cat([shared, self.pref_scale.expand_as(preferences)], dim=1)",
        checks=("tests/adapters/test_svd_lora.py::test_effective_weight_is_the_svd_formula_and_lambda_moves_only_its_slots",),
    ),
    Mutation(
        name="hypervolume-halved",
        description="the metrics report half the front's hypervolume",
        path="mobench/metrics/compute.py",
        original="volume = hypervolume(front, reference_point)",
        mutated="volume = hypervolume(front, reference_point) / 2",
        checks=("tests/metrics/test_compute_metrics.py::test_golden_values_on_a_hand_computed_front",),
    ),
    Mutation(
        name="bootstrap-one-resample",
        description="the prompt bootstrap draws one resample and reuses it for every replicate",
        path="mobench/metrics/bootstrap.py",
        original="return rng.integers(0, n_prompts, size=(n_bootstrap, n_prompts))",
        mutated="return np.tile(rng.integers(0, n_prompts, size=n_prompts), (n_bootstrap, 1))",
        # tests/metrics/ miss it (a degenerate interval is widened to hold its estimate)
        checks=("tests/metrics/test_bootstrap.py", "tests/metrics/test_compute_metrics.py",
                "tests/test_mutation_guards.py::test_every_bootstrap_replicate_draws_its_own_prompts",
                "tests/test_mutation_guards.py::test_the_spread_of_resampled_fronts_is_the_standard_error_of_the_prompt_mean"),
    ),
    Mutation(
        name="leaderboard-one-seed-draw",
        description="the leaderboard's two-stage bootstrap draws the seeds once, outside the "
                    "replicate loop, so every replicate resamples the same seeds",
        path="mobench/leaderboard/aggregate.py",
        original="""    for b in range(n_bootstrap):
        drawn[b] = rng.integers(0, n_members, size=n_members)""",
        mutated="""    seeds_drawn = rng.integers(0, n_members, size=n_members)
    for b in range(n_bootstrap):
        drawn[b] = seeds_drawn""",
        checks=("tests/test_leaderboard_bootstrap.py::test_the_batched_bootstrap_is_the_plain_one_bit_for_bit",
                "tests/test_mutation_guards.py::test_the_leaderboard_bootstrap_draws_the_seeds_of_every_replicate_anew"),
    ),
)


def by_name(names: list[str] | tuple[str, ...]) -> list[Mutation]:
    """The mutations named, in the list's order; a ValueError for an unknown name."""
    known = {m.name: m for m in MUTATIONS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown mutation(s) {', '.join(unknown)}; known: "
                         f"{', '.join(known)}")
    return [m for m in MUTATIONS if m.name in names]
