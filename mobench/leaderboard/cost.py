"""What a leaderboard row cost, as named columns that mean the same in the CSV, the Markdown and
the HTML page (each writer takes its cost columns from :data:`COST_COLUMNS` by name).

Training and inference stand side by side, with their total: a method that trains nothing can
still pay at answer time (Best-of-N samples N answers and scores each with every reward model;
MOD runs every expert's forward pass per token), and a leaderboard that showed training alone
would show those methods as free. Inference here is the benchmark's evaluation: every preference
of the task's grid answered on every evaluation prompt, the same work for every method.

Not recorded by runs, so not shown: the tokens processed in training (the forward and backward
passes over rollouts and pairs), and prompt tokens at inference. ``inference_token_passes``
counts (token, model) forward passes while generating: one per sampled token plus the extra
models' passes (MOD's m experts per token).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mobench.leaderboard.aggregate import LeaderboardRow


@dataclass(frozen=True)
class CostColumn:
    """A cost column.

    Attributes:
        name: the column's name, the same in CSV, Markdown and HTML.
        group: what the column counts (``seconds``, ``tokens generated`` ...), for the page's
            grouped header; None for a column of its own.
        stage: ``training``, ``inference`` or ``total`` (the sub-header under ``group``), or
            None.
        meaning: one line for the page's legend.
        digits: decimals shown in Markdown and HTML (the CSV writes 6 significant digits).
        value: the row's value (means over seeds).
    """

    name: str
    group: str | None
    stage: str | None
    meaning: str
    digits: int
    value: Callable[[LeaderboardRow], float]

    def text(self, row: LeaderboardRow) -> str:
        """The value as Markdown and HTML show it."""
        return f"{self.value(row):,.{self.digits}f}"


def _training(key: str) -> Callable[[LeaderboardRow], float]:
    return lambda row: float(row.cost[key])


def _inference(key: str) -> Callable[[LeaderboardRow], float]:
    return lambda row: float(row.evaluation_cost[key])


def _inference_token_passes(row: LeaderboardRow) -> float:
    return float(row.evaluation_cost["sampled_tokens"] + row.evaluation_cost["model_token_passes"])


def _total(training: Callable[[LeaderboardRow], float],
           inference: Callable[[LeaderboardRow], float]) -> Callable[[LeaderboardRow], float]:
    return lambda row: training(row) + inference(row)


_train_seconds, _inference_seconds = _training("train_seconds"), _inference("seconds")
_train_tokens, _inference_tokens = _training("generated_tokens"), _inference("sampled_tokens")
_train_calls, _inference_calls = _training("reward_calls"), _inference("reward_calls")


COST_COLUMNS: tuple[CostColumn, ...] = (
    CostColumn("models_trained", None, None, "whole models fine-tuned", 0,
               _training("models_trained")),
    CostColumn("adapters_trained", None, None, "adapters (LoRA) trained", 0,
               _training("adapters_trained")),
    CostColumn("trainable_parameters", None, None, "parameters trained, all models and adapters",
               0, _training("trainable_parameters")),
    CostColumn("train_seconds", "seconds", "training",
               "training wall-clock, experts another method trained first included", 1,
               _train_seconds),
    CostColumn("reused_train_seconds", "seconds", "reused",
               "of train_seconds, the experts' training this run found made and reused", 1,
               _training("reused_train_seconds")),
    CostColumn("inference_seconds", "seconds", "inference",
               "wall-clock answering the evaluation (every preference, every prompt)", 1,
               _inference_seconds),
    CostColumn("total_seconds", "seconds", "total",
               "wall-clock, training plus inference (answering the evaluation)", 1,
               _total(_train_seconds, _inference_seconds)),
    CostColumn("train_tokens_generated", "tokens generated", "training",
               "tokens sampled in training (rollouts)", 0, _train_tokens),
    CostColumn("inference_tokens_generated", "tokens generated", "inference",
               "tokens sampled answering, discarded candidates included (Best-of-N's N)", 0,
               _inference_tokens),
    CostColumn("total_tokens_generated", "tokens generated", "total",
               "tokens sampled, training plus inference", 0,
               _total(_train_tokens, _inference_tokens)),
    CostColumn("inference_token_passes", "token passes", "inference",
               "(token, model) forward passes generating: MOD's m experts count m per token",
               0, _inference_token_passes),
    CostColumn("train_reward_calls", "reward calls", "training",
               "reward-model calls in training", 0, _train_calls),
    CostColumn("inference_reward_calls", "reward calls", "inference",
               "reward-model calls answering (Best-of-N scores every candidate); the "
               "evaluation's own scoring not counted", 0, _inference_calls),
    CostColumn("total_reward_calls", "reward calls", "total",
               "reward-model calls, training plus inference", 0,
               _total(_train_calls, _inference_calls)),
)

COLUMNS_BY_NAME = {column.name: column for column in COST_COLUMNS}

# The Markdown table's cost (the README's width): what the policy is and what it cost in all.
MARKDOWN_COST = ("trainable_parameters", "total_seconds", "total_tokens_generated",
                 "total_reward_calls")


def cost_columns(names: tuple[str, ...] | None = None) -> tuple[CostColumn, ...]:
    """The named cost columns in that order (all of them for None)."""
    if names is None:
        return COST_COLUMNS
    unknown = [name for name in names if name not in COLUMNS_BY_NAME]
    if unknown:
        raise ValueError(f"unknown cost column(s) {unknown}; known: {sorted(COLUMNS_BY_NAME)}")
    return tuple(COLUMNS_BY_NAME[name] for name in names)


def cost_legend(names: tuple[str, ...] | None = None) -> list[str]:
    """``name: meaning`` for each named cost column (all for None)."""
    return [f"{column.name}: {column.meaning}" for column in cost_columns(names)]
