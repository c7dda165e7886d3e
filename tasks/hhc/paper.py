"""HHC at paper scale: HH (PKU-SafeRLHF, beaver-7b reward and cost) plus conciseness.

The third objective of Panacea's HHC setting rewards short answers:

    r(L) = r_max                 if L <= c
    r(L) = r_max + 1 - L / c     otherwise

with ``L`` the response length in tokens of the policy's tokenizer (special tokens excluded).
Reimplementations use ``c = 50`` and ``r_max = 4``. The formula is the miniature's own
(:mod:`mobench.data.miniature.conciseness`), so both scales score conciseness identically. The rule
is exact, not learned, but it is put in the ``reward_model`` scorer set beside the two beaver models
so that the set covers every objective (the paper trains on it the same way).

Data, prompts and templates are PKU-SafeRLHF's, as for ``hh`` (see :mod:`mobench.data.paper.pku`);
conciseness has no preference pairs of its own in PKU-SafeRLHF, so methods that need pairs get
pairs built from the same rows, the shorter response preferred (ties dropped, and counted in the
data report with the rows PKU's own loader drops).

Training signal: PPO (RLHF), the paper's HHC setting; DPO on the pairs above stays available with
``train.signal=dpo``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mobench.core.specs import Objective, TaskSpec, TrainingSpec
from mobench.data.data_report import DATA_REPORT_KEY, RowTally
from mobench.data.miniature.conciseness import (
    check_conciseness_parameters,
    conciseness_bounds,
    conciseness_reward,
)
from mobench.data.paper.common import reference_policy_loader
from mobench.data.paper.pku import (
    PKU_PROMPT_TEMPLATE,
    PKUSources,
    beaver_scorers,
    load_pku_data,
    pku_objectives,
)
from mobench.toolkit.grids import default_grid

if TYPE_CHECKING:
    from mobench.core.task import TaskInstance

DEFAULT_CONCISE_C = 50
DEFAULT_CONCISE_RMAX = 4.0
# The low normalization bound is the reward of a response 6c tokens long (r_max - 5); the high
# one is r_max, the most any response can get. Fixed per (c, r_max), never per run.
LOW_BOUND_LENGTH_FACTOR = 6


@dataclass(frozen=True)
class HHCPaperSources(PKUSources):
    """HH's sources (every field of :class:`PKUSources`, same defaults), plus:

    Attributes:
        length_tokenizer: the tokenizer that counts response tokens for conciseness ("" for the
            policy's own tokenizer, as in the paper).
    """

    length_tokenizer: str = ""


def hhc_concise_bounds(c: int, r_max: float) -> tuple[float, float]:
    """(reward of a response ``LOW_BOUND_LENGTH_FACTOR * c`` tokens long, ``r_max``)."""
    return conciseness_bounds(LOW_BOUND_LENGTH_FACTOR * c, c, r_max)


class ConcisenessScorer:
    """Scores responses by :func:`conciseness_reward` of their length in the policy's tokens.

    The tokenizer loads on the first call (from the policy's hub id or folder).
    """

    def __init__(self, tokenizer_source: str, c: int, r_max: float, *,
                 trust_remote_code: bool = False) -> None:
        check_conciseness_parameters(c, r_max)
        self.tokenizer_source = tokenizer_source
        self.c = c
        self.r_max = r_max
        self.trust_remote_code = trust_remote_code
        self._tokenizer: Any = None

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from mobench.data.sources import load_tokenizer

            self._tokenizer = load_tokenizer(self.tokenizer_source,
                                             trust_remote_code=self.trust_remote_code)
        return self._tokenizer

    def token_lengths(self, responses: Sequence[str]) -> np.ndarray:
        if not responses:
            return np.zeros(0)
        ids = self.tokenizer(list(responses), add_special_tokens=False)["input_ids"]
        return np.asarray([len(row) for row in ids], dtype=np.float64)

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        return conciseness_reward(self.token_lengths(responses), self.c, self.r_max)


def hhc_objectives(c: int, r_max: float) -> tuple[Objective, Objective, Objective]:
    concise = Objective("concise", f"conciseness: {r_max:g} up to {c} policy tokens, then one "
                        f"less per {c} tokens", hhc_concise_bounds(c, r_max))
    return (*pku_objectives(), concise)


PAPER_TRAINING = TrainingSpec(default_signal="ppo", preference_pairs=True,
                              sft_data="chosen_responses", rl_prompts=True, reward_scorers=True)


def paper_spec(sources: HHCPaperSources, *, concise_c: int = DEFAULT_CONCISE_C,
               concise_rmax: float = DEFAULT_CONCISE_RMAX, task_name: str = "hhc") -> TaskSpec:
    """The HHC spec at paper scale (cheap: nothing is loaded)."""
    objectives = hhc_objectives(concise_c, concise_rmax)
    return TaskSpec(name=task_name, scale="paper", objectives=objectives,
                    preference_grid=default_grid(len(objectives)),
                    reference_point=(0.0,) * len(objectives), base_model=sources.policy,
                    primary_scorer="reward_model", prompt_template=PKU_PROMPT_TEMPLATE,
                    training=PAPER_TRAINING)


def shorter_preferred(batch: Mapping[str, Sequence[Any]], tokenizer: Any) -> dict[str, list[str]]:
    """Batched ``prompt``/``chosen``/``rejected`` pairs re-ordered so the shorter response (in
    ``tokenizer`` tokens) is chosen; equal lengths carry no preference and are dropped."""
    out: dict[str, list[str]] = {"prompt": [], "chosen": [], "rejected": []}
    first = tokenizer(list(batch["chosen"]), add_special_tokens=False)["input_ids"]
    second = tokenizer(list(batch["rejected"]), add_special_tokens=False)["input_ids"]
    for prompt, a, b, ids_a, ids_b in zip(batch["prompt"], batch["chosen"], batch["rejected"],
                                          first, second, strict=True):
        if len(ids_a) == len(ids_b):
            continue
        short, long = (a, b) if len(ids_a) < len(ids_b) else (b, a)
        out["prompt"].append(prompt)
        out["chosen"].append(short)
        out["rejected"].append(long)
    return out


def load_paper(sources: HHCPaperSources, seed: int, cache_dir: Path, *,
               concise_c: int = DEFAULT_CONCISE_C, concise_rmax: float = DEFAULT_CONCISE_RMAX,
               task_name: str) -> TaskInstance:
    """The paper-scale HHC instance; the reward models load when first used."""
    from mobench.core.task import TaskData, TaskInstance

    loaded = load_pku_data(sources, Path(cache_dir))
    hh_data = loaded.data
    concise = ConcisenessScorer(sources.length_tokenizer or sources.policy, concise_c,
                                concise_rmax, trust_remote_code=sources.trust_remote_code)
    helpful_pairs = hh_data.preference_pairs["helpful"]
    concise_pairs = helpful_pairs.map(shorter_preferred, batched=True,
                                      fn_kwargs={"tokenizer": concise.tokenizer},
                                      remove_columns=helpful_pairs.column_names)
    ties = len(helpful_pairs) - len(concise_pairs)
    concise_tally = RowTally(source=f"{sources.dataset} {sources.train_split} concise pairs "
                             "(from the helpful pairs)", rows=len(helpful_pairs),
                             dropped={"responses of equal length": ties} if ties else {})
    data = TaskData(preference_pairs={**hh_data.preference_pairs, "concise": concise_pairs},
                    eval_prompts=hh_data.eval_prompts, train_prompts=hh_data.train_prompts,
                    sft_corpus=hh_data.sft_corpus)
    scorers = {**beaver_scorers(sources), "concise": concise}
    return TaskInstance(spec=paper_spec(sources, concise_c=concise_c, concise_rmax=concise_rmax,
                                        task_name=task_name),
                        data=data, scorer_sets={"reward_model": scorers},
                        load_reference_policy=reference_policy_loader(sources),
                        extras={DATA_REPORT_KEY: (*loaded.tallies, concise_tally)})

