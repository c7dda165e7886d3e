"""How much controllability a tiny chat task allows: oracle policies, and runs rated against them.

Controllability (:mod:`mobench.metrics`) is the mean over objectives j of Spearman's rho between
λ_j and the front's f_j across the task's grid. How high any policy can get depends on the task:
in the chat miniature the styles compete for the three sentences a reader reads, opposed styles cost
each other, and every sentence costs concision, so f_j moves with the other weights as well as
with λ_j. This script measures the metric for oracle policies that follow λ with exact knowledge
of the world, on the task's own grid, evaluation prompts and exact scorers, and, given run
folders, the ratio of each run's controllability to the best oracle's.

Oracles:

- style mixture: each answer is written in one style, drawn with probability λ. It is the
  minimizer of Panacea's LS-SFT loss on the per-style corpora (the chat tasks' default signal).
- sentence mixture: each of three sentences is drawn from λ over the sentence styles; the answer
  stops after one sentence with probability λ_concise.
- LS-optimal: for each prompt, the answer that maximizes the λ-weighted normalized exact score
  among all answers of up to three true sentences (what RL on exact rewards with LS converges to).

    python bench/bench_controllability_ceiling.py                      # chat10, ~1 minute warm
    python bench/bench_controllability_ceiling.py --task chat3 runs/x  # a run against the oracles

The task's assets are read from the cache (``MOBENCH_CACHE``) and built there if missing.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mobench.core import registry
from mobench.core.progress import quiet_library_progress
from mobench.core.task import TaskInstance
from mobench.data.miniature.chat_world import SENTENCE_STYLES, ChatWorld
from mobench.metrics.preference import controllability
from mobench.run.runspec import default_cache_dir

BUDGET = 3  # sentences an oracle answer may hold: the reader's budget of the chat world
Oracle = Callable[[np.ndarray, str, np.random.Generator], str]


class ChatOracles:
    """The three oracle policies for one task's styles (see the module docstring)."""

    def __init__(self, instance: TaskInstance, world: ChatWorld) -> None:
        self.world = world
        self.styles = instance.spec.objective_names
        self.scorers = instance.scorer_sets["exact"]
        self.bounds = np.array([o.bounds for o in instance.spec.objectives], dtype=float)
        self.sentence_styles = [s for s in self.styles if s in SENTENCE_STYLES]
        self._candidates: dict[str, tuple[list[str], np.ndarray]] = {}

    def style_mixture(self, preference: np.ndarray, prompt: str,
                      rng: np.random.Generator) -> str:
        style = self.styles[int(rng.choice(len(self.styles), p=preference))]
        return self.world.pure_response(style, self._subject(prompt), rng)

    def sentence_mixture(self, preference: np.ndarray, prompt: str,
                         rng: np.random.Generator) -> str:
        weights = np.array([preference[self.styles.index(s)] for s in self.sentence_styles])
        weights = (weights / weights.sum() if weights.sum() > 0
                   else np.full(len(weights), 1.0 / len(weights)))
        concise = preference[self.styles.index("concise")] if "concise" in self.styles else 0.0
        n_sentences = 1 if rng.random() < concise else BUDGET
        parts: list[str] = []
        for _ in range(n_sentences):
            style = self.sentence_styles[int(rng.choice(len(weights), p=weights))]
            sentence = self.world.sentence(style, self._subject(prompt), rng, avoid=parts)
            if sentence is not None:
                parts.append(sentence)
        return " ".join(parts)

    def ls_optimal(self, preference: np.ndarray, prompt: str, rng: np.random.Generator) -> str:
        answers, normalized = self._scored_candidates(prompt)
        return answers[int(np.argmax(normalized @ preference))]

    def _scored_candidates(self, prompt: str) -> tuple[list[str], np.ndarray]:
        """Every answer of up to three distinct true sentences about the prompt's subject (one
        fixed ordering per multiset of styles; the world reads them order-free), normalized."""
        subject = self._subject(prompt)
        if subject not in self._candidates:
            rng = np.random.default_rng(0)
            answers = [""]
            for n in range(1, BUDGET + 1):
                for styles in itertools.combinations_with_replacement(self.sentence_styles, n):
                    parts: list[str] = []
                    for style in styles:
                        sentence = self.world.sentence(style, subject, rng, avoid=parts)
                        if sentence is not None:
                            parts.append(sentence)
                    answers.append(" ".join(parts))
            raw = score(self.scorers, self.styles, [prompt] * len(answers), answers)
            low, high = self.bounds[:, 0], self.bounds[:, 1]
            self._candidates[subject] = (answers, (raw - low) / (high - low))
        return self._candidates[subject]

    def _subject(self, prompt: str) -> str:
        subject = self.world.subject_of(prompt)
        if subject is None:
            raise ValueError(f"no subject in prompt {prompt!r}")
        return subject


def score(scorers, styles: Sequence[str], prompts: list[str],  # type: ignore[no-untyped-def]
          answers: list[str]) -> np.ndarray:
    return np.stack([np.asarray(scorers[s](prompts, answers), dtype=float) for s in styles],
                    axis=1)


def oracle_controllability(oracle: Oracle, oracles: ChatOracles, grid: np.ndarray,
                           prompts: list[str], seed: int) -> float:
    """Controllability of ``oracle``'s front: per λ, the mean exact score of one answer per
    evaluation prompt, as ``mobench run`` measures a policy."""
    rng = np.random.default_rng(seed)
    front = []
    for preference in grid:
        answers = [oracle(preference, prompt, rng) for prompt in prompts]
        front.append(score(oracles.scorers, oracles.styles, prompts, answers).mean(axis=0))
    value = controllability(np.array(front), grid)
    if value is None:
        raise ValueError("the grid never varies a weight; controllability is undefined")
    return value


def run_controllability(folder: Path) -> tuple[str, float]:
    metrics = json.loads((folder / "metrics.json").read_text())
    primary = metrics["primary_scorer"]
    value = metrics["metrics"][primary]["metrics"]["controllability"]["value"]
    spec = json.loads((folder / "spec.json").read_text())["identity"]
    return f"{spec['method']} on {spec['task']} ({folder.name})", float(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="run folders to rate against the "
                        "oracles (their task must be --task)")
    parser.add_argument("--task", default="chat10", help="a tiny chat task (chat3 ... chat10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3,
                        help="oracle fronts per oracle, each from its own seed")
    args = parser.parse_args()
    if not args.task.startswith("chat"):
        parser.error(f"--task must be a chat task, got {args.task!r}")
    quiet_library_progress()

    task_class = registry.tasks.get(args.task)
    instance = task_class(task_class.config_class()).load("tiny", args.seed, default_cache_dir())
    grid = np.array(instance.spec.preference_grid)
    prompts = list(instance.data.eval_prompts["prompt"])
    oracles = ChatOracles(instance, ChatWorld())
    policies: dict[str, Oracle] = {"style mixture": oracles.style_mixture,
                                   "sentence mixture": oracles.sentence_mixture,
                                   "LS-optimal": oracles.ls_optimal}
    print(f"{args.task}: {len(grid)} preference vectors x {len(prompts)} eval prompts, exact "
          f"scores; each oracle's front drawn {args.repeats} times")
    print(f"{'policy':<44}{'controllability':>16}{'spread':>10}")
    best = 0.0
    for name, oracle in policies.items():
        values = [oracle_controllability(oracle, oracles, grid, prompts, seed)
                  for seed in range(args.repeats)]
        best = max(best, float(np.mean(values)))
        print(f"{'oracle: ' + name:<44}{np.mean(values):>16.3f}"
              f"{np.max(values) - np.min(values):>10.3f}")
    for folder in args.runs:
        label, value = run_controllability(folder)
        print(f"{label:<44}{value:>16.3f}{'':>10}   {value / best:.2f}x the best oracle")
    print("target in the Panacea issue: 0.8")


if __name__ == "__main__":
    main()
