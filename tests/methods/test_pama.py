"""PAMA: the closed-form min-norm projection and weights on hand-made values, Noon's clip, the two
variants on a fixed batch, MGDA's solver as the reference, the engine's per-objective whitening,
and a toy-task run that saves, reloads and answers every preference alike."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mobench.cli import main
from mobench.core.specs import DecodingConfig
from mobench.engine import PPOConfig, TrainingConfig
from mobench.engine.min_norm import (
    min_norm_weights,
    project_zero_onto_range,
    scalar_min_norm_weights,
)
from mobench.engine.ppo import PPOObjective
from mobench.methods import pama
from mobench.methods.pama import (
    PAMAConfig,
    batch_scalar_weighting,
    noon_clip,
    per_sample_weighting,
)
from mobench.run.runner import load_run, load_trained_policy

SMALL = ["method.train.steps=8", "method.train.batch_size=4", "method.train.ppo.rollout_prompts=8",
         "method.train.ppo.max_new_tokens=8", "method.train.optim.learning_rate=0.02",
         "eval.n_bootstrap=5", "task.grid_size=3"]
PROMPTS = ["apple dog kite", "river tree sun", "igloo jam lemon"]

# A fixed batch: 2 responses, 2 objectives, 3 positions, the last one of response 1 padding.
ADVANTAGES = torch.tensor([[[1.0, -0.5, 0.7], [0.2, 0.4, 0.1]],
                           [[0.6, 0.3, 9.0], [-0.1, 0.8, 9.0]]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
NO_PREFERENCE = torch.full((2, 2), 0.5)


# -- the closed form over scalars ----------------------------------------------------------------

@pytest.mark.parametrize(("values", "value", "weights"), [
    ([0.3, 0.1, 0.7], 0.1, [0.0, 1.0, 0.0]),        # all positive: the minimum
    ([-0.3, -0.1, -0.7], -0.1, [0.0, 1.0, 0.0]),    # all negative: the maximum
    ([-1.0, 3.0], 0.0, [0.75, 0.25]),               # mixed: 0.75 * -1 + 0.25 * 3 = 0
    ([-2.0, 0.5, 1.0], 0.0, [1 / 3, 0.0, 2 / 3]),   # mixed: the two extremes
    ([0.0, -1.0, 2.0], 0.0, [1.0, 0.0, 0.0]),       # an exact zero
    ([0.2, 0.2, 0.5], 0.2, [0.5, 0.5, 0.0]),        # tied minima share the weight
    ([-1.0, -1.0, 2.0], 0.0, [1 / 3, 1 / 3, 1 / 3]),  # tied extremes in the mixed case
    ([0.4, 0.4], 0.4, [0.5, 0.5]),                  # all tied
    ([0.25], 0.25, [1.0]),                          # one objective: itself
    ([-0.25], -0.25, [1.0]),
])
def test_min_norm_value_and_weights_on_hand_made_sets(values, value, weights):
    v = torch.tensor(values, dtype=torch.float64)
    assert float(project_zero_onto_range(v, dim=0)) == pytest.approx(value, abs=1e-12)
    c = scalar_min_norm_weights(v)
    np.testing.assert_allclose(c.numpy(), weights, atol=1e-12)
    assert float(c @ v) == pytest.approx(value, abs=1e-12)


def test_the_weights_reach_the_minimum_over_the_simplex():
    # Brute force on a 0.01 lattice of the 3-simplex, random values of both signs and one sign.
    rng = np.random.default_rng(0)
    lattice = np.array([(i, j, 100 - i - j) for i in range(101) for j in range(101 - i)]) / 100
    for values in [rng.normal(size=3), np.abs(rng.normal(size=3)), -np.abs(rng.normal(size=3))]:
        c = scalar_min_norm_weights(torch.tensor(values)).numpy()
        assert c.min() >= 0 and c.sum() == pytest.approx(1.0)
        assert (c @ values) ** 2 <= ((lattice @ values) ** 2).min() + 1e-12


def test_the_projection_is_vectorized_over_other_dimensions():
    values = torch.tensor([[[0.5, -1.0], [0.2, 2.0], [0.9, 3.0]]])  # (1, 3 objectives, 2)
    np.testing.assert_allclose(project_zero_onto_range(values, dim=1).numpy(), [[0.2, 0.0]])


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        project_zero_onto_range(torch.zeros(2, 0), dim=1)
    with pytest.raises(ValueError, match="non-empty vector"):
        scalar_min_norm_weights(torch.zeros(0))
    with pytest.raises(ValueError, match="non-empty vector"):
        scalar_min_norm_weights(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="finite"):
        scalar_min_norm_weights(torch.tensor([1.0, float("nan")]))


# -- MGDA's solver, the reference the closed form stands in for --------------------------------

def test_mgda_weights_on_known_vector_sets():
    two = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(min_norm_weights(two @ two.T).numpy(), [0.5, 0.5])
    nested = torch.tensor([[1.0, 0.0], [2.0, 0.0]])  # the shorter one is the min-norm point
    np.testing.assert_allclose(min_norm_weights(nested @ nested.T).numpy(), [1.0, 0.0])
    three = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # min-norm point (0.5, 0.5)
    np.testing.assert_allclose(min_norm_weights(three @ three.T).numpy(), [0.5, 0.5, 0.0])
    star = torch.tensor([[1.0, 0.0], [-0.5, 3 ** 0.5 / 2], [-0.5, -(3 ** 0.5) / 2]])  # hull ∋ 0
    np.testing.assert_allclose(min_norm_weights(star @ star.T).numpy(), [1 / 3] * 3, atol=1e-6)


def test_mgda_weights_satisfy_the_optimality_conditions():
    # At the minimum of cᵀGc over the simplex, (Gc)_i = cᵀGc where c_i > 0 and >= it elsewhere.
    for seed, n in [(0, 3), (1, 5), (2, 10)]:
        gradients = torch.randn(n, 500, generator=torch.Generator().manual_seed(seed),
                                dtype=torch.float64) + 0.3
        gram = gradients @ gradients.T
        c = min_norm_weights(gram, tolerance=1e-9, max_iterations=5000)
        assert c.min() >= 0 and float(c.sum()) == pytest.approx(1.0)
        towards, norm = gram @ c, float(c @ gram @ c)
        support = c > 1e-6
        np.testing.assert_allclose(towards[support].numpy(), norm, rtol=1e-3)
        assert (towards >= norm * (1 - 1e-3)).all()


@pytest.mark.parametrize("values", [[0.3, 0.1, 0.7, 0.5], [-0.3, -0.1, -0.7], [-1.0, 0.4, 3.0]])
def test_mgda_on_one_dimensional_gradients_agrees_with_the_closed_form(values):
    v = torch.tensor(values, dtype=torch.float64)
    c = min_norm_weights(torch.outer(v, v), tolerance=1e-12, max_iterations=10_000)
    assert abs(float(c @ v)) == pytest.approx(abs(float(project_zero_onto_range(v, 0))),
                                              abs=1e-3)


def test_mgda_refuses_a_non_square_gram():
    with pytest.raises(ValueError, match="square"):
        min_norm_weights(torch.zeros(2, 3))


# -- Noon PPO and the two variants ---------------------------------------------------------------

def test_noon_clip_on_fixed_values():
    clipped = noon_clip(torch.tensor([-1.5, -0.0, 0.0, 0.25, 3.0]))
    np.testing.assert_array_equal(clipped.numpy(), [0.0, 0.0, 0.0, 0.25, 3.0])
    assert not (clipped < 0).any()


def test_per_sample_takes_each_tokens_smallest_clipped_advantage():
    combined = per_sample_weighting(ADVANTAGES, NO_PREFERENCE, MASK)
    np.testing.assert_allclose(combined.numpy(), [[0.2, 0.0, 0.1], [0.0, 0.3, 0.0]])


def test_batch_scalar_trains_on_the_objective_of_smallest_mean():
    # Mean clipped advantage over the 5 response tokens: objective 0 (1 + 0 + .7 + .6 + .3) / 5
    # = 0.52, objective 1 (.2 + .4 + .1 + 0 + .8) / 5 = 0.3, so c* = (0, 1) for the whole batch.
    combined = batch_scalar_weighting(ADVANTAGES, NO_PREFERENCE, MASK)
    np.testing.assert_allclose(combined.numpy(), [[0.2, 0.4, 0.1], [0.0, 0.8, 0.0]])
    per_sample = per_sample_weighting(ADVANTAGES, NO_PREFERENCE, MASK)
    assert not torch.allclose(combined, per_sample)  # (0, 1) vs (0, 0.4): the variants differ


def test_clipping_before_or_after_the_per_sample_projection_agree():
    advantages = torch.randn(4, 3, 6, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(4, 6)
    after = noon_clip(project_zero_onto_range(advantages, dim=1))
    torch.testing.assert_close(per_sample_weighting(advantages, NO_PREFERENCE, mask), after)


@pytest.mark.parametrize("weighting", [per_sample_weighting, batch_scalar_weighting])
def test_the_order_of_the_objectives_does_not_matter(weighting):
    advantages = torch.randn(3, 3, 5, generator=torch.Generator().manual_seed(1))
    advantages[:, 2] = advantages[:, 0]  # a tie between objectives 0 and 2
    mask = torch.ones(3, 5)
    mask[1, 3:] = 0
    reference = weighting(advantages, torch.full((3, 3), 1 / 3), mask)
    for order in itertools.permutations(range(3)):
        torch.testing.assert_close(weighting(advantages[:, list(order)],
                                             torch.full((3, 3), 1 / 3), mask), reference)


def test_the_preference_is_ignored():
    for weighting in (per_sample_weighting, batch_scalar_weighting):
        torch.testing.assert_close(weighting(ADVANTAGES, torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
                                             MASK),
                                   weighting(ADVANTAGES, NO_PREFERENCE, MASK))


def test_config_refuses_other_signals_and_variants():
    assert PAMAConfig().ppo_training().signal == "ppo"
    for signal in ("sft", "dpo"):
        with pytest.raises(ValueError, match="PAMA trains with PPO"):
            PAMAConfig(train=TrainingConfig(signal=signal))
    with pytest.raises(ValueError, match="per-sample or batch-scalar"):
        PAMAConfig(variant="lambda")  # type: ignore[arg-type]


# -- through the CLI on the toy task -------------------------------------------------------------

def run(folder: Path, cache: Path, *extra: str) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(cache))
        patch.setenv("CI", "true")
        assert main(["run", "--method", "pama", "--task", "toy", "--output", str(folder),
                     *SMALL, *extra]) == 0
    return folder


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A toy run, with what the combiner received and what the engine kept of its output."""
    inputs: list[tuple[torch.Tensor, torch.Tensor]] = []
    kept: list[torch.Tensor] = []
    weighting = pama.WEIGHTINGS["per-sample"]

    def spy(advantages, preferences, mask):  # type: ignore[no-untyped-def]
        inputs.append((advantages.clone(), mask.clone()))
        return weighting(advantages, preferences, mask)

    collect = PPOObjective._collect

    def keep(self, rollout_index, run_context):  # type: ignore[no-untyped-def]
        rollout = collect(self, rollout_index, run_context)
        kept.append(rollout.advantages.clone())
        return rollout

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(pama.WEIGHTINGS, "per-sample", spy)
        patch.setattr(PPOObjective, "_collect", keep)
        folder = run(tmp_path_factory.mktemp("runs") / "pama", tmp_path_factory.mktemp("cache"))
    return folder, inputs, kept


def test_each_objective_is_whitened_before_the_weighting_and_nothing_after(recorded):
    _, inputs, kept = recorded
    assert len(inputs) == len(kept) == 2  # 8 steps of 4 per rollout (2 epochs x 8 / batch 4)
    for (advantages, mask), combined in zip(inputs, kept, strict=True):
        for i in range(advantages.shape[1]):
            entries = advantages[:, i][mask > 0]
            assert float(entries.mean()) == pytest.approx(0.0, abs=1e-5)
            assert float(entries.var(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
        # The engine trains on exactly the combiner's output: Noon's zeros stay zeros.
        torch.testing.assert_close(combined, per_sample_weighting(advantages, NO_PREFERENCE, mask))
        assert float(combined.min()) == 0.0 and float(combined.max()) > 0


def test_the_training_log_shows_how_much_signal_the_weighting_leaves(recorded):
    folder, inputs, kept = recorded
    log = [json.loads(line) for line in
           (folder / "work" / "pama" / "train_log.jsonl").read_text().splitlines()]
    want = set()
    for (_, mask), combined in zip(inputs, kept, strict=True):
        share = float(((combined != 0).float() * mask).sum() / mask.sum())
        mean_abs = float((combined.abs() * mask).sum() / mask.sum())
        assert 0 < share < 1 and mean_abs > 0  # Noon's zeros and the projection's minimum
        want.add((round(share, 6), round(mean_abs, 6)))
    logged = {(round(row["advantage/nonzero_share"], 6), round(row["advantage/mean_abs"], 6))
              for row in log}
    assert logged == want  # each step logs its rollout's numbers


def test_per_objective_whitening_needs_a_combiner():
    with pytest.raises(ValueError, match="advantage combiner"):
        PPOObjective([], None, str, [], {}, PPOConfig(), None, None,  # type: ignore[arg-type]
                     whiten_per_objective=True)


def test_the_run_is_labelled_a_point_with_one_adapter(recorded):
    folder, _, _ = recorded
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["run"]["serves"] == "point"
    assert metrics["run"]["variant"] == "per-sample"
    assert metrics["cost"]["adapters_trained"] == 1 and metrics["cost"]["models_trained"] == 0
    assert metrics["cost"]["reward_calls"] > 0
    saved = json.loads((folder / "policy" / "policy.json").read_text())
    assert saved["kind"] == "single-adapter" and saved["method"] == "pama"


def test_the_reloaded_policy_answers_every_preference_alike(recorded, tmp_path, monkeypatch):
    folder, _, _ = recorded
    monkeypatch.setenv("MOBENCH_CACHE", str(tmp_path))
    spec, _ = load_run(folder)
    policy, _ = load_trained_policy(folder, spec)
    lora_b = [p for n, p in policy.model.named_parameters() if "lora_B" in n]
    assert lora_b and any(float(p.abs().max()) > 0 for p in lora_b)  # B starts at 0: it trained
    sampled = DecodingConfig(max_new_tokens=8, do_sample=True, temperature=1.0)
    answers = [policy.generate(PROMPTS, np.tile(preference, (len(PROMPTS), 1)), sampled, seed=3)
               for preference in ([1.0, 0.0], [0.5, 0.5], [0.0, 1.0])]
    assert answers[0] == answers[1] == answers[2]
    assert any(g.text for g in answers[0])


def test_the_batch_scalar_variant_trains_with_its_own_weighting_and_is_named(tmp_path,
                                                                            monkeypatch):
    calls = {"per-sample": 0, "batch-scalar": 0}
    for name, weighting in list(pama.WEIGHTINGS.items()):
        def counted(advantages, preferences, mask, name=name, weighting=weighting):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return weighting(advantages, preferences, mask)

        monkeypatch.setitem(pama.WEIGHTINGS, name, counted)
    folder = run(tmp_path / "batch", tmp_path / "cache", "method.variant=batch-scalar")
    assert json.loads((folder / "metrics.json").read_text())["run"]["variant"] == "batch-scalar"
    assert calls == {"per-sample": 0, "batch-scalar": 2}  # one call per rollout


def test_a_signal_other_than_ppo_is_refused_by_the_cli(tmp_path, capsys):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(tmp_path / "cache"))
        code = main(["run", "--method", "pama", "--task", "toy", "--output", str(tmp_path / "x"),
                     "method.train.signal=dpo"])
    assert code != 0
    assert "PAMA trains with PPO" in capsys.readouterr().err
