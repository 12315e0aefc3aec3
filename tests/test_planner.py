"""The planner: the winner fits and is the fastest that does; given settings are kept; when
nothing fits it says how close it came and what would fit."""

import pytest

import traintime


@pytest.fixture(scope="module")
def founding():
    return traintime.estimate_scenario(plan=True)


def test_winner_fits_and_is_fastest(founding):
    plan = founding.plan
    assert plan.chosen is not None and plan.chosen.fits
    fitting = [c for c in plan.alternatives if c.fits]
    assert all(plan.chosen.step_time_s <= c.step_time_s for c in fitting)
    assert plan.chosen.slowdown >= 1.0
    assert founding.memory.fits and founding.memory.needed_gib <= 12


def test_d32_on_a_4070_needs_offload(founding):
    # 22.6 GB of fp32 weights, gradients and Muon state cannot sit on a 12 GiB card
    assert founding.plan.chosen.offload != "none"
    assert founding.memory.host_gib > 15
    assert any("offload" in n for n in founding.training.notes)  # the change is stated


def test_given_settings_are_kept():
    est = traintime.estimate("nanochat-d20", "4090", micro_batch=2, act_ckpt="full", plan=True)
    assert est.plan.chosen.micro_batch == 2 and est.plan.chosen.act_ckpt == "full"


def test_small_model_needs_no_change():
    est = traintime.estimate("gpt2", "h100", plan=True)
    assert est.plan.chosen.offload == "none" and est.plan.chosen.act_ckpt == "none"


def test_nothing_fits_gives_advice():
    est = traintime.estimate("llama-3.1-70b", "4070", plan=True)
    assert est.plan.chosen is None and not est.memory.fits
    assert "needs" in est.plan.advice[0] and "GiB" in est.plan.advice[0]
    assert any("allow" in a for a in est.plan.advice)


def test_math_changes_only_when_allowed():
    plain = traintime.estimate("llama-3.1-8b", "4090", plan=True)
    assert not any(c.changes_math for c in plain.plan.alternatives)
    allowed = traintime.estimate("llama-3.1-8b", "4090", plan=True, allow_math_changes=True)
    assert allowed.plan.allow_math_changes


def test_multi_gpu_considers_zero():
    est = traintime.estimate("llama-3.1-8b", "a100", gpus=8, plan=True)
    assert {c.zero_stage for c in est.plan.alternatives} - {0}


def test_plan_on_many_matches_single_plans_for_fit():
    from traintime.catalog import find_gpu
    from traintime.estimation import plan_on_many

    gpus = [find_gpu(n) for n in ("4070", "4090", "h100")]
    results = plan_on_many("nanochat-d20", gpus)
    for gpu, cand, _ in results:
        single = traintime.estimate("nanochat-d20", gpu, plan=True).plan.chosen
        assert (cand is None) == (single is None)
        assert cand.needed_gib <= gpu.memory_gib
