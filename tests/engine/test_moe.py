"""Mixture-of-experts physics on toy specs: routing, grouped GEMMs, the expert exchange, memory
and FLOPs (engine/moe.py, comms.expert_exchange_time, memory.peak_memory)."""

from __future__ import annotations

import math

import pytest

from tests.engine.conftest import EFF, device, links, llama8b, mla, moe, recipe
from traintime.engine.comms import expert_exchange_time
from traintime.engine.flops import flops_per_token
from traintime.engine.memory import activation_bytes, peak_memory
from traintime.engine.moe import grouped_gemm_time, grouped_wgrad_time, routing
from traintime.engine.params import count_params, matmul_params
from traintime.engine.step import step_time
from traintime.specs import Layout

GIB = 2**30


def test_routing_counts_copies_on_the_busiest_rank():
    """Each token goes to top_k experts; ep ranks split the experts; the busiest rank's load
    multiplies its share; tensor parallelism splits the tokens (engine/moe.py docstring)."""
    spec = moe()
    rt = routing(spec, tokens=8192, tp=2, ep=8, etp=1, load=1.3)
    assert rt.tokens == 4096
    assert rt.local_experts == 16
    assert rt.copies == pytest.approx(4096 * 8 * 1.3)
    assert rt.per_expert == pytest.approx(rt.copies / 16)


def test_expert_tensor_parallel_shares_tokens():
    """etp ranks see the same tokens, each with 1/etp of every expert: per-GPU FLOPs equal."""
    spec = moe()
    one = routing(spec, tokens=4096, tp=1, ep=8, etp=1, load=1.0)
    two = routing(spec, tokens=4096, tp=1, ep=8, etp=2, load=1.0)
    assert two.copies == 2 * one.copies


def test_grouped_gemm_rows_fill_whole_tiles():
    """A partly filled output tile computes in full: 1 row per expert costs a whole tile."""
    dev = device()
    one = grouped_gemm_time(dev, 1, 1536, 2048, groups=16, precision="bf16", elt=2)
    full = grouped_gemm_time(dev, 128, 1536, 2048, groups=16, precision="bf16", elt=2)
    assert one == pytest.approx(full)


def test_grouped_gemm_efficiency_grows_with_tokens_per_expert():
    """FLOPs per second rise with the rows each expert gets (tiles, and the weight gradient's
    depth)."""
    dev = device()

    def rate(m: float) -> float:
        t = grouped_wgrad_time(dev, m, 1536, 2048, groups=16, precision="bf16", elt=2)
        return 2 * m * 1536 * 2048 * 16 / t

    assert rate(64) < rate(512) < rate(4096)
    assert rate(4096) <= dev.matmul_rate("bf16") * EFF.grouped_gemm_fraction * 1.0001


def test_no_exchange_without_expert_parallelism():
    assert (
        expert_exchange_time(
            4096,
            top_k=8,
            token_bytes=4096,
            load=1,
            ep=1,
            dispatcher="alltoall",
            links=links(),
            eff=EFF,
            per_node=8,
        )
        == 0.0
    )


def _exchange(ep: int, dispatcher: str, per_node: int = 8) -> float:
    return expert_exchange_time(
        8192,
        top_k=8,
        token_bytes=2 * 2048,
        load=1.0,
        ep=ep,
        dispatcher=dispatcher,
        links=links(),
        eff=EFF,
        per_node=per_node,
    )


def test_exchange_inside_a_node_uses_nvlink():
    """ep 8 in one node: 7/8 of the copies cross NVLink at the node's bus bandwidth."""
    copies = 8192 * 8 * 4096
    expected = copies * 7 / 8 / (369e9) + (8.4 + 3.4) * 1e-6
    assert _exchange(8, "alltoall") == pytest.approx(expected)


def test_exchange_across_nodes_is_slower_and_deepep_dedups():
    """Across nodes copies go over the NIC share; DeepEP sends a token once per node
    (DeepEP README), so it moves fewer bytes than NCCL's all-to-all."""
    assert _exchange(32, "alltoall") > _exchange(8, "alltoall")
    assert _exchange(32, "deepep") < _exchange(32, "alltoall")
    nodes = 4
    reached = (nodes - 1) * (1 - (1 - 1 / nodes) ** 8)
    assert reached < 8 * 24 / 32  # fewer node crossings than remote copies


def test_allgather_dispatch_gathers_every_token():
    """The all-gather dispatcher moves every token of the group (ep x tokens), the all-to-all
    only the top_k copies: with top_k 2 of ep 8, four times the bytes."""

    def one(dispatcher: str) -> float:
        return expert_exchange_time(
            8192,
            top_k=2,
            token_bytes=2 * 2048,
            load=1.0,
            ep=8,
            dispatcher=dispatcher,
            links=links(),
            eff=EFF,
            per_node=8,
        )

    latency = (8.4 + 3.4) * 1e-6
    gathered = one("allgather") - (8.4 + 7 * 3.4) * 1e-6
    assert gathered / (one("alltoall") - latency) == pytest.approx(4.0, rel=0.01)


def test_moe_flops_count_active_weights():
    """6 x active matmul weights: top-k experts, router and the rest (flops.py docstring)."""
    spec = moe()
    f = flops_per_token(spec)
    matmul = sum(op.model for op in f.ops if op.kind == "matmul")
    assert matmul == pytest.approx(6 * matmul_params(spec))
    assert matmul_params(spec) < count_params(spec).total / 5


def test_capacity_padding_executes():
    """Padding every expert to capacity 1.25 runs 1.25x the routed experts' FLOPs."""
    spec = moe()
    base = flops_per_token(spec)
    padded = flops_per_token(spec, capacity_factor=1.25)
    experts = next(op for op in base.ops if op.name == "moe.experts")
    assert padded.executed - base.executed == pytest.approx(0.25 * experts.executed)
    assert padded.model == base.model


def test_latent_attention_scores_use_qk_width():
    """DeepSeek MLA: scores over 192 = 128 + 64, values over 128."""
    spec = mla()
    ops = {op.name: op for op in flops_per_token(spec).ops}
    ratio = ops["attention.scores"].forward / ops["attention.values"].forward
    assert ratio == pytest.approx(192 / 128)


def test_expert_weights_shard_by_ep_not_activations():
    """Every expert's weights are resident, split over ep; dispatched activations are about
    top_k x tokens whatever ep is."""
    spec, r = moe(), recipe(param_dtype="bf16", grad_dtype="bf16", state_dtype="fp32")
    one = peak_memory(spec, r, Layout(dp=8))
    eight = peak_memory(spec, r, Layout(dp=8, ep=8))
    experts = count_params(spec).experts
    assert one.weights - eight.weights == pytest.approx(experts * 2 * (1 - 1 / 8))
    assert activation_bytes(spec, r, Layout(dp=8)) == activation_bytes(spec, r, Layout(dp=8, ep=8))


def test_dispatched_activations_scale_with_top_k():
    r = recipe()
    low = activation_bytes(moe(top_k=2), r, Layout())
    high = activation_bytes(moe(top_k=8), r, Layout())
    assert high > 2 * low


def test_expert_optimizer_state_shards_over_expert_replicas():
    """ZeRO-1 shards expert state over dp x tp x cp / (ep x etp) ranks (Megatron's expert
    data-parallel group), the rest over the data-parallel replicas."""
    spec, r = moe(), recipe(param_dtype="bf16", grad_dtype="bf16", master_dtype="fp32")
    layout = Layout(dp=16, ep=8, zero_stage=1)
    assert layout.expert_replicas == 2
    mem = peak_memory(spec, r, layout)
    experts = count_params(spec).experts / 8
    rest = count_params(spec).total - count_params(spec).experts
    expected = (experts * (8 + 4) / 2 + rest * (8 + 4) / 16) / GIB
    assert mem.optimizer / GIB == pytest.approx(expected, rel=0.01)


def test_balanced_routing_is_faster_than_dropless():
    """The busiest rank sets the pace: forcing routing even removes the imbalance."""
    spec, dev = moe(), device()
    lay = Layout(dp=8, ep=8)
    dropless = step_time(spec, recipe(moe_imbalance=1.3), lay, dev, links(), EFF)
    balanced = step_time(
        spec, recipe(moe_imbalance=1.3, moe_routing="balanced"), lay, dev, links(), EFF
    )
    assert balanced.step_time_s < dropless.step_time_s


def test_overlap_hides_expert_exchange():
    spec, dev = moe(), device()
    lay = Layout(dp=32, ep=32)
    plain = step_time(spec, recipe(), lay, dev, links(), EFF)
    overlapped = step_time(spec, recipe(moe_overlap=True), lay, dev, links(), EFF)
    assert overlapped.breakdown_s["communication"] < plain.breakdown_s["communication"]


def test_dense_model_unchanged_by_moe_fields():
    """A dense model has no MoE work: the routing settings change nothing."""
    spec, dev = llama8b(seq_len=2048), device()
    a = step_time(spec, recipe(), Layout(), dev, links(), EFF)
    b = step_time(
        spec, recipe(moe_routing="balanced", moe_imbalance=2.0), Layout(), dev, links(), EFF
    )
    assert math.isclose(a.step_time_s, b.step_time_s)


def test_nope_layers_skip_rotary_work():
    """No rotary on NoPE layers (SmolLM3: every 4th): less element-wise work per step."""
    dev = device()
    rope = step_time(llama8b(seq_len=2048), recipe(), Layout(), dev, links(), EFF)
    nope = step_time(llama8b(seq_len=2048, no_rope_layers=8), recipe(), Layout(), dev, links(), EFF)
    assert nope.breakdown_s["memory"] < rope.breakdown_s["memory"]


def test_eager_attention_softcap_costs_passes():
    """Gemma 2's attention soft-cap adds passes over the eager T x T scores."""
    dev = device()
    r = recipe(attention_impl="eager", micro_batch=1)
    plain = step_time(llama8b(seq_len=2048), r, Layout(), dev, links(), EFF)
    capped = step_time(
        llama8b(seq_len=2048, attn_logit_softcap=50.0), r, Layout(), dev, links(), EFF
    )
    assert capped.breakdown_s["attention"] > plain.breakdown_s["attention"]
