"""Whether a trained RiC policy follows each objective's score written in its prompt.

Rewards-in-Context steers by the scores in the prompt, and both λ mappings ask for each
objective's extreme training scores (``linf`` puts the heaviest objective at its ``high`` at every
λ). This script sweeps one objective's written score from its ``low`` to its ``high`` (the other
objectives' at 0.0, the training mean), samples one response per evaluation prompt with the
evaluation's seeded decoding, and prints per written score:

- ``rows``: how many offline training rows carry exactly that score for the objective (the
  run's ``work/offline-scores.json``), i.e. how often the policy saw it written;
- ``achieved`` and ``training``: the responses' mean normalized score on that objective, by the
  task's primary scorers (the exact ground truth on the tiny tasks) and by the training scorers;
- ``data``: the mean normalized primary score of the offline rows whose written score lies within
  0.2 of the target, what the policy was shown for it.

A policy that reads the score rises with it up to ``high``. The score tokens' scheme decides how
well the rare extremes are read: with one token per (objective, score) the top score of tiny hh's
helpfulness is written on 2 of 5,752 rows, and asking for it gives less help than asking for 1.0.

    python bench/bench_ric_conditioning.py runs/hh/ric/<run-id>     # ~10 s on hh, ~1 min on chat10
    python bench/bench_ric_conditioning.py RUN --step 0.2 --prompts 96
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from mobench.core import registry, store
from mobench.core.method import FitContext
from mobench.core.progress import quiet_library_progress
from mobench.run.runner import load_task
from mobench.run.runspec import default_cache_dir, load_run
from mobench.run.saved_policy import load_saved_policy
from mobench.toolkit.conditioned_policy import RewardConditionedPolicy
from mobench.toolkit.reward_prompts import conditioned_prompt, format_score
from mobench.toolkit.scored_responses import ScoredResponses, sample_responses, score_responses

if TYPE_CHECKING:
    from transformers import PreTrainedModel

OFFLINE_SCORES = "offline-scores.json"  # where methods/ric.py keeps its offline stage
NEAR = 0.2  # offline rows within this of a target count as the policy's examples of it


def targets_between(low: float, high: float, step: float) -> list[float]:
    """``low``, ``low + step``, ... up to and always including ``high``, on the 0.1 grid."""
    values = [round(v, 1) for v in np.arange(low, high, step)]
    return sorted(set(values) | {round(high, 1)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished `mobench run --method ric` folder")
    parser.add_argument("--step", type=float, default=0.4,
                        help="spacing of the swept scores (the top score is always included)")
    parser.add_argument("--prompts", type=int, default=48,
                        help="evaluation prompts answered per target (the first N)")
    args = parser.parse_args()
    if not args.step > 0 or args.prompts < 1:
        parser.error("--step must be positive and --prompts at least 1")

    spec, _ = load_run(args.run)
    if spec.method != "ric":
        parser.error(f"{args.run} is a {spec.method} run, not a ric run")
    offline_file = args.run / store.WORK_DIR / OFFLINE_SCORES
    if not offline_file.exists():
        parser.error(f"{offline_file} is missing (the run's offline stage keeps it there)")
    quiet_library_progress()
    instance = load_task(spec, default_cache_dir())
    method = registry.methods.get(spec.method)(spec.method_config)
    context = FitContext(task=instance, seed=spec.seed, work_dir=args.run / store.WORK_DIR,
                         device="cpu", cache_dir=default_cache_dir())
    policy = cast(RewardConditionedPolicy, load_saved_policy(method, args.run, context))
    stats = policy.statistics
    task_spec = instance.spec
    names = task_spec.objective_names
    primary = instance.scorer_sets[task_spec.primary_scorer]
    offline = ScoredResponses.from_dict(
        json.loads(offline_file.read_text(encoding="utf-8"))["rows"])
    written = stats.normalise(offline.scores)
    shown = np.stack([o.normalize(c) for o, c in zip(
        task_spec.objectives, score_responses(list(offline.prompts), list(offline.responses),
                                              primary, names).scores.T, strict=True)], axis=1)
    prompts = list(instance.data.eval_prompts["prompt"])[:args.prompts]
    decoding = spec.evaluation.decoding

    print(f"ric run {args.run} ({spec.task}, seed {spec.seed}, variant "
          f"{method.variant(task_spec)}): {len(prompts)} evaluation prompts per target, "
          f"{len(offline)} offline rows; scores normalized to [0, 1] by the task's bounds")
    for j, name in enumerate(names):
        print(f"\n{name} (low {stats.low[j]:.1f}, high {stats.high[j]:.1f}; others at 0.0)")
        print(f"{'written':>8} {'rows':>6} {'achieved':>9} {'training':>9} {'data':>6}")
        for target in targets_between(stats.low[j], stats.high[j], args.step):
            scores = np.zeros(len(names))
            scores[j] = target
            texts = [conditioned_prompt(task_spec, p, scores.tolist()) for p in prompts]
            responses = sample_responses(cast("PreTrainedModel", policy.model), policy.tokenizer,
                                         texts, decoding, spec.seed, 64, context.meter)
            achieved = task_spec.objectives[j].normalize(np.asarray(
                primary[name](prompts, responses), dtype=np.float64)).mean()
            trained = task_spec.objectives[j].normalize(np.asarray(
                instance.training_scorers[name](prompts, responses), dtype=np.float64)).mean()
            near = np.abs(written[:, j] - target) <= NEAR + 1e-9
            rows = int((written[:, j] == target).sum())
            data = f"{shown[near, j].mean():6.3f}" if near.any() else f"{'-':>6}"
            print(f"{format_score(target):>8} {rows:6d} {achieved:9.3f} {trained:9.3f} {data}")


if __name__ == "__main__":
    main()
