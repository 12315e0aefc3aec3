"""Step-time composition and the properties any honest time model must have (issue 4):
never faster than executed FLOPs at peak, more work never takes less time, checkpointing never
makes a step faster."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traintime import estimate
from traintime.catalog import efficiency, find_gpu, find_model, links_for
from traintime.engine.comms import collective_time
from traintime.engine.device import Device
from traintime.engine.params import count_params
from traintime.engine.step import DDP_BUCKET_BYTES, Recipe, default_micro_batch, step_time
from traintime.specs import Parallel

GPUS = ["4070", "4090", "a100", "h100", "v100", "mi300x", "l4"]
MODELS = ["gpt2", "nanochat-d12", "nanochat-2026-d12", "pythia-410m", "tinyllama"]


def _step(model="gpt2", gpu="4090", *, par=None, eff=None, **recipe):
    eff = eff or efficiency()
    g = find_gpu(gpu)
    spec = find_model(model)
    base = {"global_batch_tokens": 262144, "micro_batch": 4}
    par = par or Parallel()
    links = links_for(g, gpus_per_node=min(par.n_gpus, 8))
    return step_time(spec, Recipe(**{**base, **recipe}), par, Device(g, eff), links, eff)


def test_breakdown_adds_up():
    st_ = _step(par=Parallel(dp=4, zero_stage=0))
    assert sum(st_.breakdown_s.values()) == pytest.approx(st_.step_time_s)


@settings(max_examples=40, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    gpu=st.sampled_from(GPUS),
    micro=st.sampled_from([1, 2, 4, 8]),
    ckpt=st.sampled_from(["none", "selective", "full"]),
    impl=st.sampled_from(["flash", "flash3", "triton", "sdpa", "eager"]),
    compiled=st.booleans(),
    norms=st.sampled_from(["fused", "composite"]),
    dropout=st.sampled_from([0.0, 0.1]),
)
def test_never_faster_than_executed_flops_at_peak(
    model, gpu, micro, ckpt, impl, compiled, norms, dropout
):
    g = find_gpu(gpu)
    st_ = _step(
        model,
        gpu,
        micro_batch=micro,
        act_ckpt=ckpt,
        attention_impl=impl,
        compiled=compiled,
        norm_kernels=norms,
        dropout=dropout,
    )
    peak = max(v for v in g.peak_tflops.values() if v) * 1e12
    assert st_.step_time_s >= st_.executed_flops / peak


@settings(max_examples=25, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    gpu=st.sampled_from(GPUS),
    micro=st.sampled_from([1, 2, 4]),
    dropout=st.sampled_from([0.0, 0.1]),
)
def test_checkpointing_never_makes_a_step_faster(model, gpu, micro, dropout):
    times = {
        c: _step(model, gpu, micro_batch=micro, act_ckpt=c, dropout=dropout).step_time_s
        for c in ("none", "selective", "selective-op", "full")
    }
    assert times["none"] <= times["selective"] <= times["full"]
    assert times["none"] <= times["selective-op"] <= times["full"]


@settings(max_examples=20, deadline=None)
@given(tokens=st.integers(10**8, 10**10), extra=st.integers(1, 10**9))
def test_more_tokens_never_take_less_time(tokens, extra):
    a = estimate("gpt2", "4090", tokens=tokens, micro_batch=4)
    b = estimate("gpt2", "4090", tokens=tokens + extra, micro_batch=4)
    assert b.time.total_hours >= a.time.total_hours


def test_accumulation_amortizes_the_optimizer():
    # same tokens per step: 1 micro-step of 16 vs 16 of 1; the optimizer runs once either way
    one = _step(micro_batch=16, global_batch_tokens=16 * 1024)
    many = _step(micro_batch=1, global_batch_tokens=16 * 1024)
    assert one.breakdown_s["optimizer"] == pytest.approx(many.breakdown_s["optimizer"])
    assert many.micro_steps == 16 and one.micro_steps == 1


def test_zero3_exposes_more_communication_than_ddp_across_nodes():
    ddp = _step("tinyllama", "a100", par=Parallel(dp=16, zero_stage=0), micro_batch=1)
    fsdp = _step("tinyllama", "a100", par=Parallel(dp=16, zero_stage=3), micro_batch=1)
    assert fsdp.breakdown_s["communication"] > ddp.breakdown_s["communication"]


def test_overlapped_communication_slows_the_compute_it_hides_behind():
    # Lee et al. 2025 (arXiv:2507.03114): compute overlapped by collectives runs ~18.9% slower.
    # GPT-2 DDP on 8 x H100: the 0.5 GB fp32 all-reduce (~2 ms) hides behind a ~20 ms backward,
    # so the only cost left is the slowdown of the compute it overlaps, s x all-reduce time.
    eff = efficiency()
    free = eff.model_copy(update={"overlap_compute_slowdown": 0.0})
    par = Parallel(dp=8, zero_stage=0)
    kwargs = {"par": par, "micro_batch": 16, "global_batch_tokens": 8 * 16 * 1024}
    with_contention = _step("gpt2", "h100", eff=eff, **kwargs).breakdown_s["communication"]
    without = _step("gpt2", "h100", eff=free, **kwargs).breakdown_s["communication"]
    links = links_for(find_gpu("h100"), gpus_per_node=8)
    grads = count_params(find_model("gpt2")).total * 4
    buckets = math.ceil(grads / DDP_BUCKET_BYTES)  # DDP's 25 MB buckets, each a collective
    comm = buckets * collective_time(
        grads / buckets, 8, kind="all_reduce", links=links, eff=eff, spans_nodes=False
    )
    assert with_contention - without == pytest.approx(eff.overlap_compute_slowdown * comm)


def test_fsdp_gathers_and_reduces_each_block_separately():
    # FSDP wraps every block: 3 collectives per block per micro-step, each paying NCCL's
    # latency, so the same bytes cost more across 512 GPUs (64 nodes) than across 8
    kw = {"micro_batch": 4, "global_batch_tokens": 4 * 2048 * 512}
    wide = _step("llama-3.1-8b", "h100", par=Parallel(dp=512, zero_stage=3), **kw)
    kw8 = {"micro_batch": 4, "global_batch_tokens": 4 * 2048 * 8}
    node = _step("llama-3.1-8b", "h100", par=Parallel(dp=8, zero_stage=3), **kw8)
    assert wide.breakdown_s["communication"] > node.breakdown_s["communication"]


def test_ring_latency_counts_network_steps_only_at_node_boundaries():
    # NCCL tuning.cc: a ring all-gather over 16 GPUs in 2 nodes takes 15 steps, 1 of them
    # across the network
    eff = efficiency()
    links = links_for(find_gpu("h100"), gpus_per_node=8)
    t = collective_time(1.0, 16, kind="all_gather", links=links, eff=eff, spans_nodes=True)
    latency = eff.base_latency_us + 14 * links.intra_step_us + 1 * links.inter_step_us
    assert t == pytest.approx(latency * 1e-6, rel=1e-3)


def test_context_parallel_exchanges_keys_and_values():
    # ring attention (Liu et al. 2023): K/V gathered forward and backward, dK/dV reduced; with
    # one data-parallel rank it is the only communication, and at 8K tokens with grouped-query
    # K/V it hides behind attention but for the slowdown of the attention it overlaps
    kw = {"micro_batch": 1, "global_batch_tokens": 8192}
    st_ = _step("llama-3.1-8b", "h100", par=Parallel(cp=2), **kw)
    assert 0 < st_.breakdown_s["communication"] < 0.25 * st_.breakdown_s["attention"]
    assert _step("llama-3.1-8b", "h100", **kw).breakdown_s["communication"] == 0


def test_offload_moves_the_optimizer_to_the_host():
    base = _step("tinyllama", "4090", micro_batch=1)
    off = _step("tinyllama", "4090", micro_batch=1, par=Parallel(offload="optimizer"))
    assert off.breakdown_s["optimizer"] == 0 and off.breakdown_s["offload"] > 0
    assert off.step_time_s > base.step_time_s


def test_pipeline_bubble():
    # 1F1B: (pp - 1) micro-step times of bubble (Narayanan et al. 2021)
    st_ = _step(
        "pythia-410m", "a100", par=Parallel(pp=4), micro_batch=1, global_batch_tokens=8 * 2048
    )
    assert st_.breakdown_s["overhead"] > 0
    assert st_.micro_steps == 8


def test_default_micro_batch():
    assert default_micro_batch(2048, dp=8, pp=1, global_batch_tokens=524288) == 8
    assert default_micro_batch(1024, dp=1, pp=4, global_batch_tokens=None) == 1
    assert default_micro_batch(8192, dp=64, pp=1, global_batch_tokens=64 * 8192) == 1


def test_composite_norm_and_rotary_cost_only_eager_rmsnorm_models():
    """RMSNorm and rotary written as tensor ops add memory passes in eager mode only; GPT-2's
    LayerNorm has a fused kernel either way. Ground truth for the size: torchtitan's Llama 3.1
    8B on 8 x H100 gains 16% from torch.compile (docs/performance.md, Table 1)."""
    kw = {"model": "llama-3.1-8b", "gpu": "h100", "micro_batch": 2}
    fused = _step(**kw, norm_kernels="fused")
    composite = _step(**kw, norm_kernels="composite")
    compiled = _step(**kw, norm_kernels="composite", compiled=True)
    gain = composite.step_time_s / compiled.step_time_s - 1
    assert fused.step_time_s < composite.step_time_s
    assert 0.08 < gain < 0.25
    gpt2 = [_step(norm_kernels=k).step_time_s for k in ("fused", "composite")]
    assert gpt2[0] == gpt2[1]  # LayerNorm and learned positions: nothing to add


def test_dropout_costs_eager_passes_and_only_its_mask_compiled():
    """Eager nn.Dropout reads, writes and stores a 1-byte mask (and reads it back in
    backward); under torch.compile the draw fuses into neighbouring kernels and only the
    saved mask's write and read remain."""
    base = {"model": "gpt2", "gpu": "a100", "micro_batch": 8}
    eager = [_step(**base, dropout=p).step_time_s for p in (0.0, 0.1)]
    compiled = [_step(**base, dropout=p, compiled=True).step_time_s for p in (0.0, 0.1)]
    assert eager[1] > eager[0] * 1.01
    assert compiled[0] < compiled[1] < compiled[0] * 1.02
    assert compiled[1] - compiled[0] < eager[1] - eager[0]
    with_eager_attention = [
        _step(**base, dropout=p, attention_impl="eager").step_time_s for p in (0.0, 0.1)
    ]
    assert with_eager_attention[1] - with_eager_attention[0] > eager[1] - eager[0]


def test_eager_attention_traffic_scales_with_the_activation_dtype():
    """The materialized scores and probabilities are activation-sized: fp32 moves twice the
    bytes of bf16 per score."""
    kw = {"model": "gpt2", "gpu": "a100", "micro_batch": 8, "attention_impl": "eager"}
    bf16 = _step(**kw, precision="bf16").breakdown_s["attention"]
    fp32 = _step(**kw, precision="fp32").breakdown_s["attention"]
    assert fp32 > 2 * bf16


def test_sequence_parallel_splits_the_norm_and_residual_work():
    """Korthikanti et al. 2022: with SP each TP rank runs LayerNorm, dropout and residual adds
    on 1/tp of the tokens; the TP communication has the same volume (all-gather +
    reduce-scatter instead of all-reduce)."""
    par = {"tp": 8, "dp": 1}
    on = _step("llama-3.1-8b", "h100", par=Parallel(**par, sequence_parallel=True))
    off = _step("llama-3.1-8b", "h100", par=Parallel(**par, sequence_parallel=False))
    assert on.breakdown_s["memory"] < off.breakdown_s["memory"]
    assert on.breakdown_s["communication"] == pytest.approx(off.breakdown_s["communication"])
