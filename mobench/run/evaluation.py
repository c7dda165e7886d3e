"""One evaluation protocol for every method.

The task's preference grid and eval prompts, and the run's seed, fix an :class:`EvaluationPlan`: the
(preference, prompt) cells in preference-major order, cut into batches, each batch seeded on its
own. Every method is evaluated on the same plan, so decoding randomness is identical across methods
and a resumed evaluation reproduces an uninterrupted one. Every response is scored by every scorer
of every scorer set. The score tensor (preference × prompt × objective) and the responses are the
primary artifact; the front is their mean over prompts.

A policy that serves only some preferences (:mod:`mobench.toolkit.serving`) answers each cell at the
nearest one it serves; its records say which (``answered_preference``). What a policy spends
inside ``generate`` beyond the response it returns (Best-of-N's other samples and reward calls,
MOD's extra forward passes) is counted per batch into the records (``batch_cost``), so the
evaluation's cost survives a resume as its records do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mobench.core.cost import CostMeter, metering
from mobench.core.policy import SteerablePolicy, derive_seed
from mobench.core.progress import progress
from mobench.core.specs import EvaluationConfig, validate_preferences
from mobench.core.store import RecordsLog
from mobench.core.task import Scorer
from mobench.toolkit.serving import answering_preferences, served_preferences

POLICY_COST_KEYS = ("sampled_tokens", "reward_calls", "model_token_passes")


@dataclass(frozen=True)
class EvaluationPlan:
    """The cells to evaluate and how they are batched.

    Attributes:
        preferences: (n, m) preference grid.
        prompt_ids: eval prompt identifiers, in order.
        prompts: eval prompt texts, aligned with ``prompt_ids``.
        batches: per batch, its (preference index, prompt index) cells.
        seed: the run seed; batch ``b`` is decoded with ``derive_seed(seed, b)``.
    """

    preferences: np.ndarray
    prompt_ids: tuple[str, ...]
    prompts: tuple[str, ...]
    batches: tuple[tuple[tuple[int, int], ...], ...]
    seed: int

    @property
    def batch_sizes(self) -> list[int]:
        return [len(b) for b in self.batches]


def plan_evaluation(preferences: np.ndarray, prompt_ids: Sequence[str], prompts: Sequence[str],
                    config: EvaluationConfig, seed: int) -> EvaluationPlan:
    """Lay out the cells of ``preferences`` × ``prompts`` into seeded batches."""
    preferences = validate_preferences(preferences, np.asarray(preferences).shape[-1])
    if len(prompt_ids) != len(prompts):
        raise ValueError("prompt_ids and prompts differ in length")
    if len(set(prompt_ids)) != len(prompt_ids):
        raise ValueError("eval prompt ids must be unique")
    if config.max_prompts:
        prompt_ids, prompts = prompt_ids[:config.max_prompts], prompts[:config.max_prompts]
    if not prompts:
        raise ValueError("there are no eval prompts")
    cells = [(i, j) for i in range(len(preferences)) for j in range(len(prompts))]
    size = config.batch_size
    batches = tuple(tuple(cells[k:k + size]) for k in range(0, len(cells), size))
    return EvaluationPlan(preferences=preferences, prompt_ids=tuple(prompt_ids),
                          prompts=tuple(prompts), batches=batches, seed=seed)


@dataclass(frozen=True)
class ScoreTable:
    """The evaluation's primary artifact, rebuilt from the records log.

    Attributes:
        scores: per scorer set, raw scores of shape (n_preferences, n_prompts, m).
        responses: (n_preferences, n_prompts) array of response texts.
        n_tokens: (n_preferences, n_prompts) generated token counts.
        policy_cost: what the policy spent generating, summed over batches: ``sampled_tokens``
            (every token it sampled, returned or not), ``reward_calls`` (its own reward-model
            calls) and ``model_token_passes`` (forward passes beyond one per sampled token).
    """

    scores: Mapping[str, np.ndarray]
    responses: np.ndarray
    n_tokens: np.ndarray
    policy_cost: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def front(self, scorer_set: str) -> np.ndarray:
        """Mean raw scores over prompts: (n_preferences, m)."""
        return self.scores[scorer_set].mean(axis=1)


def evaluate(policy: SteerablePolicy, plan: EvaluationPlan,
             scorer_sets: Mapping[str, Mapping[str, Scorer]], objective_names: Sequence[str],
             config: EvaluationConfig, log: RecordsLog,
             on_batch: Callable[[int], None] | None = None) -> ScoreTable:
    """Generate and score every cell of ``plan`` not already in ``log``; return the full table.

    Finished batches found in the log are not redone. ``on_batch`` is called with each batch index
    after it is written (a hook for progress reporting and fault-injection tests).
    """
    done = log.load(plan.batch_sizes, check=batch_check(plan, list(scorer_sets), objective_names))
    todo = [b for b in range(len(plan.batches)) if b not in done]
    serves_subset = served_preferences(policy) is not None
    bar = progress(total=sum(plan.batch_sizes), desc="evaluating", unit="response")
    bar.update(sum(len(done[b]) for b in done))
    with bar:
        for b in todo:
            cells = plan.batches[b]
            prompts = [plan.prompts[j] for _, j in cells]
            requested = plan.preferences[[i for i, _ in cells]]
            answered = answering_preferences(policy, requested)
            meter = CostMeter()
            with metering(meter):
                generations = policy.generate(prompts, answered, config.decoding,
                                              derive_seed(plan.seed, b))
            if len(generations) != len(cells):
                raise RuntimeError(f"the policy returned {len(generations)} responses for "
                                   f"{len(cells)} prompts")
            responses = [g.text for g in generations]
            scored = {set_name: {name: np.asarray(scorers[name](prompts, responses), dtype=float)
                                 for name in objective_names}
                      for set_name, scorers in scorer_sets.items()}
            batch_cost = {"sampled_tokens": meter.generated_tokens,
                          "reward_calls": meter.reward_calls,
                          "model_token_passes": meter.model_token_passes}
            records = []
            for k, ((i, j), generation) in enumerate(zip(cells, generations, strict=True)):
                record = {
                    "batch": b,
                    "preference_index": i,
                    "preference": [float(x) for x in plan.preferences[i]],
                    "prompt_id": plan.prompt_ids[j],
                    "prompt": plan.prompts[j],
                    "response": generation.text,
                    "n_tokens": generation.n_tokens,
                    "scores": {s: {name: float(values[name][k]) for name in objective_names}
                               for s, values in scored.items()},
                    "batch_cost": batch_cost,
                }
                if serves_subset:
                    record["answered_preference"] = [float(x) for x in answered[k]]
                records.append(record)
            log.append_batch(records)
            done[b] = records
            bar.update(len(cells))
            if on_batch is not None:
                on_batch(b)
    return table_from_records(done, plan, list(scorer_sets), objective_names)


def batch_check(plan: EvaluationPlan, scorer_set_names: Sequence[str],
                objective_names: Sequence[str]) -> Callable[[int, Sequence[Mapping]], str | None]:
    """A check of a stored batch against ``plan``: why its records are not that batch's cells,
    each with a response, a token count and every scorer set's scores, or None when they are.
    The records log drops (and the evaluation recomputes) a batch that fails it."""
    prompt_index = {pid: j for j, pid in enumerate(plan.prompt_ids)}

    def problem(batch: int, records: Sequence[Mapping]) -> str | None:
        cells = []
        for record in records:
            try:
                prompt_id = record["prompt_id"]
                if prompt_id not in prompt_index:
                    return f"a prompt id the plan does not have ({prompt_id!r})"
                cells.append((int(record["preference_index"]), prompt_index[prompt_id]))
                if not isinstance(record["response"], str):
                    return "a response that is not text"
                int(record["n_tokens"])
                for set_name in scorer_set_names:
                    for name in objective_names:
                        float(record["scores"][set_name][name])
            except KeyError as error:
                return f"a record without {error}"
            except (TypeError, ValueError):
                return "a record field of the wrong type"
        if sorted(cells) != sorted(plan.batches[batch]):
            return "not the cells the plan puts in this batch"
        return None

    return problem


def table_from_records(batches: Mapping[int, Sequence[Mapping]], plan: EvaluationPlan,
                       scorer_set_names: Sequence[str],
                       objective_names: Sequence[str]) -> ScoreTable:
    """Assemble the score tensor from records; every cell must be present exactly once."""
    n, p, m = len(plan.preferences), len(plan.prompts), len(objective_names)
    scores = {s: np.full((n, p, m), np.nan) for s in scorer_set_names}
    responses = np.empty((n, p), dtype=object)
    n_tokens = np.zeros((n, p), dtype=np.int64)
    prompt_index = {pid: j for j, pid in enumerate(plan.prompt_ids)}
    seen = np.zeros((n, p), dtype=bool)
    for records in batches.values():
        for record in records:
            i, j = int(record["preference_index"]), prompt_index[record["prompt_id"]]
            if seen[i, j]:
                raise RuntimeError(f"duplicate record for preference {i}, "
                                   f"prompt {record['prompt_id']}")
            seen[i, j] = True
            responses[i, j] = record["response"]
            n_tokens[i, j] = int(record["n_tokens"])
            for s in scorer_set_names:
                scores[s][i, j] = [record["scores"][s][name] for name in objective_names]
    if not seen.all():
        raise RuntimeError(f"{int((~seen).sum())} evaluation cells have no record")
    policy_cost = dict.fromkeys(POLICY_COST_KEYS, 0)
    for records in batches.values():
        batch_cost = records[0].get("batch_cost", {}) if records else {}
        for key in POLICY_COST_KEYS:
            policy_cost[key] += int(batch_cost.get(key, 0))
    return ScoreTable(scores=scores, responses=responses, n_tokens=n_tokens,
                      policy_cost=policy_cost)
