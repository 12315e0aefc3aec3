"""Step-time composition and the properties any honest time model must have: never faster than
executed FLOPs at peak, never faster than its passes alone (the planner's lower bound),
checkpointing never makes a step faster. Toy specs from tests/engine/conftest.py."""

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.conftest import (
    ADAMW,
    EFF,
    MUON,
    ada,
    blackwell,
    device,
    gpt2,
    gpu,
    links,
    llama8b,
    nanochat,
    nanochat_recipe,
    recipe,
)
from traintime.engine.comms import collective_time
from traintime.engine.params import count_params
from traintime.engine.step import DDP_BUCKET_BYTES, pass_lower_bound, step_time
from traintime.specs import Layout

GPUS = {"hopper": gpu, "ada": ada, "blackwell": blackwell}
MODELS = {
    "gpt2": gpt2,
    "nanochat-d12": lambda: nanochat(12),
    "llama-small": lambda: llama8b(n_layer=4, seq_len=2048),
}


def _step(spec=None, g=None, *, layout=None, eff=EFF, **kw):
    layout = layout or Layout()
    lk = links(gpus_per_node=min(layout.n_gpus, 8))
    return step_time(spec or gpt2(), recipe(**kw), layout, device(g, eff), lk, eff)


def test_breakdown_adds_up():
    st_ = _step(layout=Layout(dp=4, zero_stage=0))
    assert sum(st_.breakdown_s.values()) == pytest.approx(st_.step_time_s)


@settings(max_examples=40, deadline=None)
@given(
    model=st.sampled_from(sorted(MODELS)),
    card=st.sampled_from(sorted(GPUS)),
    micro=st.sampled_from([1, 2, 4, 8]),
    ckpt=st.sampled_from(["none", "selective", "selective-op", "full"]),
    impl=st.sampled_from(["flash", "flash3", "triton", "sdpa", "eager"]),
    compiled=st.booleans(),
    norms=st.sampled_from(["fused", "composite"]),
    dropout=st.sampled_from([0.0, 0.1]),
    zero=st.sampled_from([0, 1, 2, 3]),
)
def test_never_faster_than_executed_flops_at_peak_nor_its_passes(
    model, card, micro, ckpt, impl, compiled, norms, dropout, zero
):
    g = GPUS[card]()
    spec = MODELS[model]()
    kw = {
        "micro_batch": micro,
        "act_ckpt": ckpt,
        "attention_impl": impl,
        "compiled": compiled,
        "norm_kernels": norms,
        "dropout": dropout,
        "global_batch_tokens": 8 * micro * 4096,
    }
    layout = Layout(dp=2, zero_stage=zero)
    st_ = _step(spec, g, layout=layout, **kw)
    peak = max(v for v in g.peak_tflops.values() if v) * 1e12
    assert st_.step_time_s >= st_.executed_flops / peak
    assert st_.step_time_s >= pass_lower_bound(spec, recipe(**kw), layout, device(g))


@settings(max_examples=25, deadline=None)
@given(
    model=st.sampled_from(sorted(MODELS)),
    card=st.sampled_from(sorted(GPUS)),
    micro=st.sampled_from([1, 2, 4]),
    dropout=st.sampled_from([0.0, 0.1]),
    offload=st.sampled_from(["none", "optimizer", "optimizer+params"]),
    zero=st.sampled_from([0, 2, 3]),
)
def test_checkpointing_never_makes_a_step_faster(model, card, micro, dropout, offload, zero):
    spec, g = MODELS[model](), GPUS[card]()
    layout = Layout(dp=2, zero_stage=zero, offload=offload)
    times = {
        c: _step(spec, g, layout=layout, micro_batch=micro, act_ckpt=c, dropout=dropout).step_time_s
        for c in ("none", "selective", "selective-op", "full")
    }
    tol = 1 + 1e-12  # equal when the step waits on something else (offloaded weights)
    assert times["none"] <= times["selective"] * tol <= times["full"] * tol**2
    assert times["none"] <= times["selective-op"] * tol <= times["full"] * tol**2


def test_accumulation_amortizes_the_optimizer():
    # same tokens per step: 1 micro-step of 16 vs 16 of 1; the optimizer runs once either way
    one = _step(micro_batch=16, global_batch_tokens=16 * 1024)
    many = _step(micro_batch=1, global_batch_tokens=16 * 1024)
    assert one.breakdown_s["optimizer"] == pytest.approx(many.breakdown_s["optimizer"])
    assert many.micro_steps == 16 and one.micro_steps == 1


def test_zero3_exposes_more_communication_than_ddp_across_nodes():
    spec = llama8b(n_layer=8, seq_len=2048)
    ddp = _step(spec, layout=Layout(dp=16, zero_stage=0), micro_batch=1)
    fsdp = _step(spec, layout=Layout(dp=16, zero_stage=3), micro_batch=1)
    assert fsdp.breakdown_s["communication"] > ddp.breakdown_s["communication"]


def test_overlapped_communication_slows_the_compute_it_hides_behind():
    # Lee et al. 2025 (arXiv:2507.03114): compute overlapped by collectives runs ~18.9% slower.
    # GPT-2 DDP on 8 GPUs: the 0.5 GB fp32 all-reduce (~2 ms) hides behind a ~20 ms backward,
    # so the only cost left is the slowdown of the compute it overlaps, s x all-reduce time.
    free = EFF.model_copy(update={"overlap_compute_slowdown": 0.0})
    layout = Layout(dp=8, zero_stage=0)
    kwargs = {"layout": layout, "micro_batch": 16, "global_batch_tokens": 8 * 16 * 1024}
    with_contention = _step(eff=EFF, **kwargs).breakdown_s["communication"]
    without = _step(eff=free, **kwargs).breakdown_s["communication"]
    lk = links(gpus_per_node=8)
    grads = count_params(gpt2()).total * 4
    buckets = math.ceil(grads / DDP_BUCKET_BYTES)  # DDP's 25 MB buckets, each a collective
    comm = buckets * collective_time(
        grads / buckets, 8, kind="all_reduce", links=lk, eff=EFF, spans_nodes=False
    )
    assert with_contention - without == pytest.approx(EFF.overlap_compute_slowdown * comm)


def test_fsdp_gathers_and_reduces_each_block_separately():
    # FSDP wraps every block: 3 collectives per block per micro-step, each paying NCCL's
    # latency, so the same bytes cost more across 512 GPUs (64 nodes) than across 8
    spec = llama8b(seq_len=2048)
    wide = _step(
        spec, layout=Layout(dp=512, zero_stage=3), micro_batch=4, global_batch_tokens=4 * 2048 * 512
    )
    node = _step(
        spec, layout=Layout(dp=8, zero_stage=3), micro_batch=4, global_batch_tokens=4 * 2048 * 8
    )
    assert wide.breakdown_s["communication"] > node.breakdown_s["communication"]


def test_context_parallel_exchanges_keys_and_values():
    # ring attention (Liu et al. 2023): K/V gathered forward and backward, dK/dV reduced; with
    # one data-parallel rank it is the only communication, and at 8K tokens with grouped-query
    # K/V it hides behind attention but for the slowdown of the attention it overlaps
    kw = {"micro_batch": 1, "global_batch_tokens": 8192}
    st_ = _step(llama8b(), layout=Layout(cp=2), **kw)
    assert 0 < st_.breakdown_s["communication"] < 0.25 * st_.breakdown_s["attention"]
    assert _step(llama8b(), **kw).breakdown_s["communication"] == 0


def test_offload_runs_the_update_where_it_says():
    """ZeRO-Offload: the CPU update moves 16-bit gradients and weights over PCIe and runs the
    update (and Muon's Newton-Schulz) at host speed; the GPU update streams the state in and
    out and runs the math on the GPU."""
    spec, g = nanochat(20), ada()
    r = nanochat_recipe(
        param_dtype="bf16",
        grad_dtype="bf16",
        master_dtype="fp32",
        embedding_state_dtype="fp32",
        micro_batch=4,
    )
    lk = links(gpus_per_node=1, host_gbs=25.0)
    on = step_time(
        spec,
        replace(r, param_dtype="fp32", grad_dtype="fp32", master_dtype="none"),
        Layout(),
        device(g),
        lk,
        EFF,
    )
    cpu = step_time(spec, r, Layout(offload="optimizer"), device(g), lk, EFF)
    gpu_side = step_time(
        spec, r, Layout(offload="optimizer", offload_update="gpu"), device(g), lk, EFF
    )
    assert cpu.breakdown_s["optimizer"] == 0 and cpu.breakdown_s["offload"] > 0
    assert gpu_side.breakdown_s["optimizer"] > 0
    # Muon's Newton-Schulz at ~1 TFLOPS on a host is far slower than streaming its state
    assert gpu_side.breakdown_s["offload"] < cpu.breakdown_s["offload"]
    assert cpu.step_time_s > on.step_time_s


def test_streamed_update_exposes_the_longer_of_stream_and_update():
    """The streamed update hides behind the GPU's update of the layer before: a slower host link
    exposes more of it, and no link exposes less than one layer's transfer."""
    spec, g = nanochat(12), gpu()
    r = nanochat_recipe(
        param_dtype="bf16", grad_dtype="bf16", master_dtype="fp32", embedding_state_dtype="fp32"
    )
    layout = Layout(offload="optimizer", offload_update="gpu")
    slow = step_time(spec, r, layout, device(g), links(host_gbs=5.0), EFF)
    fast = step_time(spec, r, layout, device(g), links(host_gbs=500.0), EFF)
    assert slow.breakdown_s["offload"] > fast.breakdown_s["offload"] > 0


def test_pipeline_bubble_and_interleaving():
    # 1F1B: (pp - 1) micro-step times of bubble (Narayanan et al. 2021); interleaving v chunks
    # divides it by v and sends v times the activations across stage boundaries
    spec = llama8b(n_layer=8, seq_len=2048)
    kw = {"micro_batch": 1, "global_batch_tokens": 8 * 2048}
    plain = _step(spec, layout=Layout(pp=4), **kw)
    inter = _step(spec, layout=Layout(pp=4, pp_interleave=2), **kw)
    assert plain.micro_steps == 8 and plain.breakdown_s["overhead"] > 0
    assert inter.breakdown_s["overhead"] < plain.breakdown_s["overhead"]
    assert inter.breakdown_s["communication"] == pytest.approx(
        2 * plain.breakdown_s["communication"]
    )


def test_composite_norm_and_rotary_cost_only_eager_rmsnorm_models():
    """RMSNorm and rotary written as tensor ops add memory passes in eager mode only; GPT-2's
    LayerNorm has a fused kernel either way. Ground truth for the size: torchtitan's Llama 3.1
    8B on 8 x H100 gains 16% from torch.compile (docs/performance.md, Table 1)."""
    kw = {"micro_batch": 2}
    fused = _step(llama8b(), **kw, norm_kernels="fused")
    composite = _step(llama8b(), **kw, norm_kernels="composite")
    compiled = _step(llama8b(), **kw, norm_kernels="composite", compiled=True)
    gain = composite.step_time_s / compiled.step_time_s - 1
    assert fused.step_time_s < composite.step_time_s
    assert 0.08 < gain < 0.25
    plain = [_step(norm_kernels=k).step_time_s for k in ("fused", "composite")]
    assert plain[0] == plain[1]  # LayerNorm and learned positions: nothing to add


def test_dropout_costs_eager_passes_and_only_its_mask_compiled():
    """Eager nn.Dropout reads, writes and stores a 1-byte mask (and reads it back in
    backward); under torch.compile the draw fuses into neighbouring kernels and only the
    saved mask's write and read remain."""
    base = {"micro_batch": 8}
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
    kw = {"micro_batch": 8, "attention_impl": "eager"}
    bf16 = _step(**kw, precision="bf16").breakdown_s["attention"]
    fp32 = _step(**kw, precision="fp32").breakdown_s["attention"]
    assert fp32 > 2 * bf16


def test_sequence_parallel_splits_the_norm_and_residual_work():
    """Korthikanti et al. 2022: with SP each TP rank runs LayerNorm, dropout and residual adds
    on 1/tp of the tokens; the TP communication has the same volume (all-gather +
    reduce-scatter instead of all-reduce)."""
    on = _step(llama8b(), layout=Layout(tp=8, sequence_parallel=True))
    off = _step(llama8b(), layout=Layout(tp=8, sequence_parallel=False))
    assert on.breakdown_s["memory"] < off.breakdown_s["memory"]
    assert on.breakdown_s["communication"] == pytest.approx(off.breakdown_s["communication"])


def test_misaligned_widths_are_reported_by_the_gemm_model():
    # GPT-2's 50257-token vocabulary is not a multiple of 8 bf16 elements: the LM head runs
    # unaligned, and padding to 50264 avoids it (Horace He 2024)
    odd = _step(micro_batch=4)
    assert [(m.name, m.width, m.padded) for m in odd.misaligned] == [("vocabulary", 50257, 50264)]
    even = _step(gpt2(vocab=50304), micro_batch=4)
    assert even.misaligned == [] and even.step_time_s < odd.step_time_s


def test_muon_update_runs_newton_schulz_once_per_step():
    spec = nanochat(12)
    adam = _step(spec, micro_batch=1, optimizer=ADAMW, global_batch_tokens=2048)
    muon = _step(spec, micro_batch=1, optimizer=MUON, global_batch_tokens=2048)
    assert muon.breakdown_s["optimizer"] > adam.breakdown_s["optimizer"]
    assert muon.executed_flops > adam.executed_flops
