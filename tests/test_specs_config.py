"""Specs and configs: normalization, preference checks, typed config building."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pytest

from mobench.core.config import build_dataclass, merge, parse_overrides, to_plain
from mobench.core.errors import ConfigError, PreferenceError, UnknownNameError
from mobench.core.specs import (
    DecodingConfig,
    EvaluationConfig,
    Objective,
    TaskSpec,
    parse_preference,
    validate_preferences,
)


def test_objective_normalization_in_both_directions():
    helpful = Objective("helpful", "", bounds=(-2.0, 6.0))
    cost = Objective("harm", "", bounds=(-10.0, 10.0), direction="min")
    assert helpful.normalize(np.array([-2.0, 2.0, 6.0, 10.0])).tolist() == [0.0, 0.5, 1.0, 1.5]
    assert cost.normalize(np.array([10.0, 0.0, -10.0])).tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="low < high"):
        Objective("x", "", bounds=(1.0, 1.0))
    with pytest.raises(ValueError, match="direction"):
        Objective("x", "", bounds=(0.0, 1.0), direction="up")  # type: ignore[arg-type]


def _spec(**changes):
    fields = dict(name="t", scale="tiny",
                  objectives=(Objective("a", "", (0.0, 1.0)), Objective("b", "", (0.0, 2.0))),
                  preference_grid=((1.0, 0.0), (0.5, 0.5), (0.0, 1.0)),
                  reference_point=(0.0, 0.0), base_model="m", primary_scorer="exact",
                  prompt_template="Q: {prompt} A:")
    fields.update(changes)
    return TaskSpec(**fields)


def test_task_spec_checks_itself():
    spec = _spec()
    assert spec.objective_names == ("a", "b")
    assert spec.normalize(np.array([[[0.5, 1.0]]])).tolist() == [[[0.5, 0.5]]]
    assert spec.format_prompt("hi") == "Q: hi A:"
    with pytest.raises(ValueError, match="reference point needs 2"):
        _spec(reference_point=(0.0,))
    with pytest.raises(PreferenceError, match="sum to 1"):
        _spec(preference_grid=((0.5, 0.6),))
    with pytest.raises(ValueError, match="repeated objective"):
        _spec(objectives=(Objective("a", "", (0.0, 1.0)),) * 2)
    with pytest.raises(ValueError, match="lacks"):
        _spec(prompt_template="no slot")


def test_preference_validation():
    assert parse_preference(" 0.2, 0.8 ", 2).tolist() == [0.2, 0.8]
    assert validate_preferences(np.array([[1, 0], [0.3, 0.7]]), 2).shape == (2, 2)
    assert parse_preference("0.1,0.2,0.7", 3).sum() == pytest.approx(1.0)
    for bad, message in [("1", "has 1 weights"), ("0.5,0.6", "sum to 1"), ("x,y", "numbers"),
                         ("-1,2", "negative"), ("inf,0", "finite")]:
        with pytest.raises(PreferenceError, match=message):
            parse_preference(bad, 2)


@dataclass(frozen=True)
class Inner:
    rate: float = 0.1
    mode: Literal["ls", "tche"] = "ls"


@dataclass(frozen=True)
class Outer:
    steps: int = 10
    name: str = "x"
    flag: bool = False
    dims: tuple[int, ...] = (1, 2)
    inner: Inner = field(default_factory=Inner)
    limit: float | None = None


def test_build_dataclass_types_and_nesting():
    built = build_dataclass(Outer, {"steps": 3, "inner": {"rate": "1e-4", "mode": "tche"},
                                    "dims": [4, 5], "flag": True, "limit": 2}, "method")
    assert built == Outer(steps=3, flag=True, dims=(4, 5), inner=Inner(1e-4, "tche"), limit=2.0)
    assert to_plain(built) == {"steps": 3, "name": "x", "flag": True, "dims": [4, 5],
                               "inner": {"rate": 1e-4, "mode": "tche"}, "limit": 2.0}
    assert build_dataclass(Outer, None, "method") == Outer()


@dataclass(frozen=True)
class Parent:
    """A parent whose nested default differs from the nested class's own defaults."""
    outer: Outer = field(default_factory=lambda: Outer(steps=7, inner=Inner(0.5, "tche")))


def test_partial_nested_override_keeps_the_parents_defaults():
    # Overriding one nested key must not reset its siblings to the nested class's defaults
    # (what made method.train.ppo.rollout_prompts=16 silently reset the PPO KL coefficient).
    built = build_dataclass(Parent, {"outer": {"inner": {"rate": 0.25}}}, "method")
    assert built.outer == Outer(steps=7, inner=Inner(0.25, "tche"))
    built = build_dataclass(Parent, {"outer": {"steps": 2}}, "method")
    assert built.outer.inner == Inner(0.5, "tche")
    assert build_dataclass(Parent, None, "method") == Parent()


def test_training_override_keeps_the_ppo_defaults():
    from mobench.engine import TrainingConfig
    built = build_dataclass(TrainingConfig, {"ppo": {"rollout_prompts": 16}}, "method.train")
    assert built.ppo == replace(TrainingConfig().ppo, rollout_prompts=16)
    assert built.ppo.kl_coef == pytest.approx(0.02) and built.ppo.reward_scale == pytest.approx(5.0)


@pytest.mark.parametrize("data, error, message", [
    ({"stepz": 1}, UnknownNameError, "unknown config key method.stepz. Did you mean method.steps?"),
    ({"steps": 1.5}, ConfigError, "method.steps must be an integer"),
    ({"steps": True}, ConfigError, "method.steps must be an integer"),
    ({"flag": "yes"}, ConfigError, "method.flag must be true or false"),
    ({"inner": {"mode": "mgda"}}, ConfigError, "method.inner.mode must be one of 'ls', 'tche'"),
    ({"inner": 3}, ConfigError, "method.inner must be a mapping"),
    ({"dims": "12"}, ConfigError, "method.dims must be a list"),
    ({"limit": "lots"}, ConfigError, "method.limit must be a number"),
])
def test_build_dataclass_rejects_bad_values(data, error, message):
    with pytest.raises(error) as caught:
        build_dataclass(Outer, data, "method")
    assert message in str(caught.value)


def test_overrides_parse_yaml_scalars_and_nest():
    tree = parse_overrides(["eval.decoding.temperature=0.7", "seed=3", "method.name=a=b",
                            "eval.batch_size=8"])
    assert tree == {"eval": {"decoding": {"temperature": 0.7}, "batch_size": 8}, "seed": 3,
                    "method": {"name": "a=b"}}
    assert merge({"eval": {"batch_size": 4, "max_prompts": 2}}, tree)["eval"] == {
        "batch_size": 8, "max_prompts": 2, "decoding": {"temperature": 0.7}}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["=3"])
    with pytest.raises(ConfigError, match="conflicts"):
        parse_overrides(["a=1", "a.b=2"])


def test_evaluation_config_validates_itself():
    with pytest.raises(ValueError, match="temperature"):
        DecodingConfig(temperature=0)
    with pytest.raises(ValueError, match="confidence"):
        EvaluationConfig(confidence=1.0)
