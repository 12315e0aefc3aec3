"""Physical laws over random valid setups (issue 14, point 3): what any honest time and memory
model must satisfy whatever its constants. Engine laws run on the toy specs of
tests/engine/conftest.py; the estimate-level laws go through the public API."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import traintime
from tests.engine.conftest import (
    EFF,
    ada,
    blackwell,
    device,
    gpt2,
    gpu,
    links,
    llama8b,
    moe,
    nanochat,
    recipe,
)
from traintime.engine.evaluate import size
from traintime.engine.memory import activation_bytes, peak_memory
from traintime.engine.numerics import compute_bytes
from traintime.engine.params import count_params
from traintime.engine.step import stage_of, step_time
from traintime.specs import Layout

MODELS = {
    "gpt2": gpt2,
    "nanochat-d8": lambda: nanochat(8),
    "llama-4-layers": lambda: llama8b(n_layer=4, seq_len=2048),
    "llama-16-layers": lambda: llama8b(n_layer=16, seq_len=2048),
    "moe-16-layers": lambda: moe(n_layer=16, seq_len=1024),
}
GPUS = {"hopper": gpu, "ada": ada, "blackwell": blackwell}
CKPTS = ("none", "selective", "selective-op", "full")

LAWS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def setups(draw):
    spec = MODELS[draw(st.sampled_from(sorted(MODELS)))]()
    g = GPUS[draw(st.sampled_from(sorted(GPUS)))]()
    dp = draw(st.sampled_from([1, 2, 4, 8]))
    ep = draw(st.sampled_from([e for e in (1, 2, 4, 8) if dp % e == 0])) if spec.moe else 1
    r = recipe(
        micro_batch=draw(st.sampled_from([1, 2, 4])),
        act_ckpt=draw(st.sampled_from(CKPTS)),
        precision=draw(st.sampled_from(["bf16", "fp8"])),
        param_dtype="bf16",
        grad_dtype="bf16",
        master_dtype="fp32",
        compiled=draw(st.booleans()),
        global_batch_tokens=spec.seq_len * 4 * 8,
    )
    layout = Layout(dp=dp, zero_stage=draw(st.sampled_from([0, 1, 2, 3])), ep=ep)
    return spec, g, r, layout


@LAWS
@given(setups())
def test_step_never_beats_peak_flops_nor_reading_its_weights(setup):
    """Step time >= executed FLOPs at the device's fastest tensor rate, and >= one read of the
    local weights per micro-step at full memory bandwidth."""
    spec, g, r, layout = setup
    st_ = step_time(spec, r, layout, device(g), links(), EFF)
    fastest = max(v for v in g.peak_tflops.values() if v) * 1e12
    assert st_.step_time_s >= st_.executed_flops / fastest
    ms = stage_of(spec, r, layout)
    weights = ms.accum_steps * ms.params_local * compute_bytes(r.precision)
    assert st_.step_time_s >= weights / (g.bandwidth_gbs * 1e9)


@LAWS
@given(setups(), st.sampled_from([("none", "full"), ("none", "selective"), ("selective", "full")]))
def test_checkpointing_never_faster_nor_holding_more_activations(setup, pair):
    spec, g, r, layout = setup
    light, heavy = (replace(r, act_ckpt=c) for c in pair)
    dev = device(g)
    assert (
        step_time(spec, light, layout, dev, links(), EFF).step_time_s
        <= step_time(spec, heavy, layout, dev, links(), EFF).step_time_s
    )
    assert activation_bytes(spec, heavy, layout) <= activation_bytes(spec, light, layout)


@LAWS
@given(setups(), st.sampled_from([1, 2, 3]))
def test_a_higher_zero_stage_never_needs_more_memory(setup, stage):
    """ZeRO stage k shards more than k - 1 over the same replicas (dtypes held equal).

    One documented exception, for stage 3: FSDP2 keeps its root module (embeddings and output
    layer) gathered from forward to backward ("the root FSDP state has its value specially set
    to False", PyTorch ``fully_shard`` docs), with the output layer's fp32 gradient; a model
    whose embeddings outweigh its blocks can then need more than under ZeRO-2, and so can one
    of a few large blocks (FSDP gathers two blocks and stages one block's fp32 gradient), or a
    run over few replicas, where sharding saves less than that working set holds: the law is
    checked for stage 3 from 8 replicas up."""
    spec, _, r, layout = setup
    if layout.replicas < 2 or stage == 3:
        layout = replace(layout, dp=max(8, layout.dp), ep=min(layout.ep, 4))
    counts = count_params(spec)
    root = counts.lookup + (0 if spec.tied_embeddings else spec.vocab * spec.d_model)
    assume(stage < 3 or (root < counts.total - root and spec.n_layer >= 8))
    lower = peak_memory(spec, r, replace(layout, zero_stage=stage - 1)).total
    higher = peak_memory(spec, r, replace(layout, zero_stage=stage)).total
    assert higher <= lower * (1 + 1e-9)


@LAWS
@given(setups())
def test_more_data_parallel_gpus_never_need_more_memory_per_gpu(setup):
    """Doubling the data-parallel replicas (from two replicas of every weight up: a second
    replica is what brings DDP's gradient buckets) never raises one GPU's peak."""
    spec, _, r, layout = setup
    # from two replicas of the dense weights and of each expert shard up
    base = replace(layout, dp=max(2, layout.dp, 2 * layout.ep))
    doubled = replace(base, dp=2 * base.dp)
    assert peak_memory(spec, r, doubled).total <= peak_memory(spec, r, base).total * (1 + 1e-9)


# --- estimate-level laws ---------------------------------------------------------------------

QUESTIONS = st.tuples(
    st.sampled_from(["gpt2", "nanochat-d12", "qwen3-0.6b", "olmoe-1b-7b"]),
    st.sampled_from(["4090", "h100", "a100", "4070"]),
    st.sampled_from([1, 2, 8]),
    st.sampled_from([1e8, 1e9, 3e9]),
)
ESTIMATES = settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))


@ESTIMATES
@given(QUESTIONS)
def test_more_tokens_never_take_less_time(question):
    model, g, n, tokens = question
    a = traintime.estimate(model, g, gpus=n, tokens=tokens)
    b = traintime.estimate(model, g, gpus=n, tokens=2 * tokens)
    assert b.time.total_hours >= a.time.total_hours


@ESTIMATES
@given(QUESTIONS)
def test_a_plan_that_fits_fits_under_the_models_own_accounting(question):
    model, g, n, tokens = question
    est = traintime.estimate(model, g, gpus=n, tokens=tokens)
    if not est.memory.fits:
        return
    assert est.memory.needed_gib <= est.memory.capacity_gib
    from traintime.resolve import machine_for, resolve
    from traintime.specs import Question

    r = resolve(Question(model=model, gpu=g, gpus=n, training={"tokens": tokens}))
    sized = size(r.spec, est.training.recipe, est.training.layout, machine_for(r.hardware))
    assert sized.fits and sized.needed_gib == pytest.approx(est.memory.needed_gib)


@ESTIMATES
@given(QUESTIONS)
def test_energy_and_cost_are_non_negative_and_proportional_to_time(question):
    """At fixed power and prices, twice the steps take twice the energy and twice the rent."""
    model, g, n, tokens = question
    econ = {"rent_usd_per_gpu_hour": 2.0, "electricity_usd_per_kwh": 0.2}
    a = traintime.estimate(model, g, gpus=n, tokens=tokens, economics=econ)
    b = traintime.estimate(model, g, gpus=n, tokens=2 * tokens, economics=econ)
    for est in (a, b):
        assert est.energy.kwh >= 0 and est.energy.electricity_cost >= 0
        assert est.cost.rent_on_demand is not None and est.cost.rent_on_demand >= 0
    ratio = b.time.total_hours / a.time.total_hours
    assert b.energy.kwh / a.energy.kwh == pytest.approx(ratio, rel=1e-6)
    assert b.cost.rent_on_demand / a.cost.rent_on_demand == pytest.approx(ratio, rel=1e-6)
