"""The one entry point methods train through: the task's signal, preference strategies, rows of
zero-weight objectives left out, cost counted by the trainer, PPO's tempered log-probs."""

from __future__ import annotations

import copy

import datasets
import numpy as np
import pytest
import torch

from mobench.core.cost import CostMeter
from mobench.core.errors import ConfigError
from mobench.core.specs import Objective, TaskSpec, TrainingSpec
from mobench.core.task import TaskData, TaskInstance
from mobench.engine import (
    PPOConfig,
    TrainingConfig,
    fixed_preference,
    objective_sft_sets,
    resolve_signal,
    train_on_task,
)
from mobench.engine.config import OptimConfig
from mobench.engine.pairs import keep_rows_of, merge_preference_pairs
from mobench.engine.ppo import PPOObjective
from mobench.engine.preferences import PreferenceSampler
from mobench.engine.reference import FrozenReference
from mobench.engine.trainer import RunContext
from mobench.engine.value_heads import PolicyWithValueHeads
from mobench.run.runspec import resolve_device

from .conftest import build_model, format_prompt, toy_pairs, toy_prompts


def toy_instance(tokenizer, training: TrainingSpec) -> TaskInstance:  # type: ignore[no-untyped-def]
    pairs = toy_pairs(16)
    corpus = datasets.Dataset.from_dict({
        "prompt": toy_prompts(8), "response": ["so"] * 8,
        "response_good": ["good good"] * 8, "response_short": ["no"] * 8})
    prompts = datasets.Dataset.from_dict({"prompt_id": [f"p{i}" for i in range(8)],
                                          "prompt": toy_prompts(8)})
    spec = TaskSpec(name="toy-engine", scale="tiny",
                    objectives=(Objective("good", "says good", (0.0, 8.0)),
                                Objective("short", "few words", (0.0, 16.0), "min")),
                    preference_grid=((1.0, 0.0), (0.0, 1.0)), reference_point=(0.0, 0.0),
                    base_model="toy", primary_scorer="exact",
                    prompt_template="user : {prompt} assistant :", training=training)
    scorers = {"good": lambda p, r: np.array([x.split().count("good") for x in r], float),
               "short": lambda p, r: np.array([len(x.split()) for x in r], float)}
    return TaskInstance(spec=spec, data=TaskData(preference_pairs=pairs, eval_prompts=prompts,
                                                 train_prompts=prompts, sft_corpus=corpus),
                        scorer_sets={"exact": scorers},
                        load_reference_policy=lambda: (build_model("gpt2", tokenizer), tokenizer))


def test_the_signal_is_the_tasks_unless_the_config_names_one():
    training = TrainingSpec(default_signal="sft", sft_data="objective_columns")
    assert resolve_signal("auto", training) == "sft"
    assert resolve_signal("dpo", training) == "dpo"
    no_pairs = TrainingSpec(default_signal="ppo", preference_pairs=False, sft_data="none")
    with pytest.raises(ConfigError, match="offers no preference pairs for every objective"):
        resolve_signal("dpo", no_pairs, "task 'x'")
    with pytest.raises(ConfigError, match="unknown training signal 'rlhf'"):
        resolve_signal("rlhf", training)
    with pytest.raises(ValueError, match="needs data the task does not offer"):
        TrainingSpec(default_signal="dpo", preference_pairs=False, sft_data="none")


def test_sft_data_comes_from_where_the_spec_says(tokenizer):
    columns = toy_instance(tokenizer, TrainingSpec("sft", sft_data="objective_columns"))
    assert objective_sft_sets(columns)["good"]["response"][0] == "good good"
    chosen = toy_instance(tokenizer, TrainingSpec("sft", sft_data="chosen_responses"))
    assert objective_sft_sets(chosen)["good"]["response"] == toy_pairs(16)["good"]["chosen"]


def test_a_task_declaring_data_it_lacks_is_refused(tokenizer):
    instance = toy_instance(tokenizer, TrainingSpec())
    with pytest.raises(ValueError, match="declares per-objective SFT columns but its corpus "
                                         "lacks response_good"):
        TaskInstance(spec=instance.spec.__class__(**{
            **instance.spec.__dict__, "training": TrainingSpec(sft_data="objective_columns")}),
            data=TaskData(preference_pairs=instance.data.preference_pairs,
                          eval_prompts=instance.data.eval_prompts,
                          train_prompts=instance.data.train_prompts),
            scorer_sets=instance.scorer_sets, load_reference_policy=lambda: None)


def test_a_fixed_preference_drops_rows_of_objectives_it_gives_no_weight():
    pairs = {"good": toy_pairs(4)["good"], "short": toy_pairs(4, seed=1)["short"]}
    table = merge_preference_pairs(pairs, ["good", "short"])
    assert len(table) == 8  # different pairs: each row labelled for one objective
    kept = keep_rows_of(table, fixed_preference([1.0, 0.0]).objectives_in_use())
    assert len(kept) == 4 and all(labels[0] != 0 for labels in kept["labels"])
    assert keep_rows_of(table, fixed_preference([0.5, 0.5]).objectives_in_use()) is table
    with pytest.raises(ValueError, match="no training row is labelled"):
        keep_rows_of(keep_rows_of(table, [True, False]), [False, True])


@pytest.mark.parametrize("signal", ["sft", "dpo", "ppo"])
def test_train_on_task_counts_one_adapter_and_what_training_spent(tokenizer, tmp_path, signal):
    from peft import LoraConfig, get_peft_model

    instance = toy_instance(tokenizer, TrainingSpec("dpo", sft_data="objective_columns"))
    model = get_peft_model(build_model("gpt2", tokenizer),
                           LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    config = TrainingConfig(signal=signal, steps=4, batch_size=4, checkpoints=2,
                            optim=OptimConfig(learning_rate=1e-3),
                            ppo=PPOConfig(rollout_prompts=4, ppo_epochs=2, max_new_tokens=4))
    meter = CostMeter()
    train_on_task(model, tokenizer, instance, config, fixed_preference([0.5, 0.5]),
                  work_dir=tmp_path, seed=0, meter=meter)
    assert meter.adapters_trained == 1 and meter.models_trained == 0
    if signal == "ppo":  # the value heads train too, and rollouts cost tokens and reward calls
        assert meter.trainable_parameters > trainable
        assert meter.reward_calls == 2 * 2 * 4 and meter.generated_tokens > 0
    else:
        assert meter.trainable_parameters == trainable
        assert meter.reward_calls == meter.generated_tokens == 0


def test_ppo_log_probs_are_those_of_the_tempered_sampler(tokenizer):
    from mobench.engine.trainer import disable_dropout

    model = build_model("gpt2", tokenizer)
    critic = PolicyWithValueHeads(model, 2)
    disable_dropout(critic)  # as the trainer does: the three log-probs are one function
    objectives = [Objective("good", "says good", (0.0, 8.0)),
                  Objective("short", "few words", (0.0, 16.0), "min")]
    scorers = {"good": lambda p, r: np.zeros(len(r)), "short": lambda p, r: np.zeros(len(r))}
    config = PPOConfig(rollout_prompts=4, max_new_tokens=5, temperature=0.6)
    objective = PPOObjective(toy_prompts(4), tokenizer, format_prompt, objectives, scorers, config,
                             PreferenceSampler(2, 0), FrozenReference(copy.deepcopy(model)))
    from mobench.engine.config import LoopConfig

    loop = LoopConfig(steps=2, batch_size=4)
    run = RunContext(forward=critic, module=critic, rank=0, world_size=1, loop=loop)
    rollout = objective.micro_batches(0, run)[0]
    with torch.no_grad():
        logits, _ = critic(rollout.tokens.input_ids, rollout.tokens.attention_mask)
    mask = rollout.tokens.response_mask[:, 1:].float()
    tempered = torch.log_softmax(logits[:, :-1] / 0.6, dim=-1).gather(
        -1, rollout.tokens.input_ids[:, 1:, None])[..., 0] * mask
    torch.testing.assert_close(rollout.old_logps, tempered, atol=1e-5, rtol=1e-5)
    loss, metrics = objective.loss(rollout, run)
    assert metrics["approx_kl_old"] == pytest.approx(0.0, abs=1e-6)  # same weights: ratio 1
    assert metrics["kl"] == pytest.approx(0.0, abs=1e-5)  # policy equals reference at step 0
    with pytest.raises(ValueError, match="ppo.top_p must be 1"):
        PPOConfig(top_p=0.9)


def test_device_resolution():
    assert resolve_device("auto", "tiny") == "cpu"
    assert resolve_device("cpu", "paper") == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto", "paper") == "cpu"
        with pytest.raises(ConfigError, match="--device cuda was asked for"):
            resolve_device("cuda", "tiny")
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu", "tiny")
