"""LoRA and QLoRA: exact trainable parameters, the FLOPs, memory, operations and step time of a
frozen base. Toy specs from tests/engine/conftest.py; the recipes below settle what
resolve.storage() gives a fine-tune (frozen bf16 base, fp32 adapters, gradients and state)."""

from dataclasses import replace

import pytest

from tests.engine.conftest import ADAMW, ada, gpt2, llama8b, machine, mla, moe, recipe
from traintime.engine.evaluate import evaluate
from traintime.engine.flops import flops_per_token
from traintime.engine.lora import SETS, adapted_linears, block_linears, trainable_params
from traintime.engine.memory import _activation_bytes_per_token_layer, peak_memory
from traintime.engine.ops import pass_ops
from traintime.engine.params import (
    attention_weights_per_layer,
    count_params,
    dense_mlp_layers,
    matmul_params,
    mlp_weights_per_layer,
)
from traintime.engine.step import pass_lower_bound, stage_of
from traintime.specs import Layout, ModelSpec, OptimizerSpec
from traintime.units import GIB

ALL = SETS["all-linear"]

#: bitsandbytes PagedAdamW8bit as data/optimizers.toml has it, fixed here.
PAGED = OptimizerSpec(
    name="paged-adamw8bit", moments=2, moment_bytes=1.0, scale_bytes=1 / 64, kernels=2, paged=True
)


def toy(**kw) -> ModelSpec:
    """Two layers of d 64, 4 heads of 16, 2 kv heads, SwiGLU 128, vocabulary 100."""
    base = {
        "n_layer": 2,
        "d_model": 64,
        "n_head": 4,
        "n_kv_head": 2,
        "ffn_hidden": 128,
        "ffn_act": "swiglu",
        "vocab": 100,
        "seq_len": 256,
    }
    return ModelSpec(**{**base, **kw})


def lora(targets=ALL, rank=16, **kw):
    """A LoRA recipe as resolve.storage() settles it: frozen bf16 base, fp32 adapters."""
    base = recipe(
        finetune="lora",
        lora_rank=rank,
        lora_targets=frozenset(targets),
        param_dtype="bf16",
        embedding_dtype="bf16",
        grad_dtype="fp32",
        state_dtype="fp32",
        embedding_state_dtype="fp32",
        base_bytes=2.0,
    )
    return replace(base, **kw)


def qlora(**kw):
    """QLoRA with NF4 and double quantization (data/quantization.toml: 0.5159 B per weight
    stored, 2.5159 B moved per dequantization)."""
    base = lora(finetune="qlora", base_dtype="nf4-dq", base_bytes=0.5159, dequant_bytes=2.5159)
    return replace(base, **kw)


# -- trainable parameters ------------------------------------------------------------------


def test_toy_trainable_by_hand():
    # r (d_in + d_out) per matrix, r = 4: q 4 (64 + 64) = 512, k and v 4 (64 + 32) = 384 each,
    # o 512, gate / up / down 4 (64 + 128) = 768 each: 4,096 a layer, 8,192 for 2 layers; the
    # output head adds 4 (64 + 100) = 656
    spec = toy()
    assert trainable_params(spec, finetune="lora", rank=4, targets=ALL) == 8192
    assert trainable_params(spec, finetune="lora", rank=4, targets=ALL | {"lm_head"}) == 8848
    assert trainable_params(spec, finetune="lora", rank=4, targets=SETS["attn-qv"]) == 2 * 896
    assert trainable_params(spec, finetune="full") == count_params(spec).total


def test_llama_3_1_8b_r16_all_linear():
    # shared/validation/README.md, trainable_params: Llama-3.1-8B, r=16, all-linear =
    # 41,943,040 = 32 x 16 x (8,192 q + 5,120 k + 5,120 v + 8,192 o + 3 x 18,432 MLP)
    spec = llama8b()
    assert trainable_params(spec, finetune="qlora", rank=16, targets=ALL) == 41_943_040
    mats = adapted_linears(spec, ALL)
    assert mats["k_proj"] == (4096, 1024, 32)  # grouped-query: 8 kv heads of 128
    assert mats["mlp.down_proj"] == (14336, 4096, 32)


def test_head_dim_and_two_matrix_mlp():
    # Qwen3-like: head_dim 32 with d 64 and 4 heads, so q is 64 -> 128; a GELU MLP has up and
    # down only: r = 2: q 2 (64 + 128), k/v 2 (64 + 64), o 2 (128 + 64), up/down 2 (64 + 128)
    spec = toy(head_dim=32, ffn_act="gelu")
    per_layer = 2 * (192 + 128 + 128 + 192 + 192 + 192)
    assert trainable_params(spec, finetune="lora", rank=2, targets=ALL) == 2 * per_layer
    assert "mlp.gate_proj" not in adapted_linears(spec, ALL)


def test_fused_qkv_family_is_one_matrix():
    # GPT-2's c_attn is one 768 -> 2304 linear (PEFT adapts it whole), c_proj 768 -> 768, c_fc
    # 768 -> 3072 and mlp.c_proj 3072 -> 768: r = 8 x 12 layers
    spec = gpt2(family="gpt2")
    expected = 12 * 8 * ((768 + 2304) + (768 + 768) + 2 * (768 + 3072))
    assert trainable_params(spec, finetune="lora", rank=8, targets=ALL) == expected
    # q alone selects the fused matrix; o and the MLP stay frozen
    assert set(adapted_linears(spec, frozenset({"q"}))) == {"qkv_proj"}


def test_moe_experts_each_adapted_routers_not():
    # Qwen3-30B-A3B-shaped: 128 experts of 768, each expert's gate / up / down its own adapter,
    # per layer 128 x 3 x r (2048 + 768); the router (2048 -> 128) carries none
    spec = moe()
    mats = adapted_linears(spec, SETS["mlp"])
    assert mats == {
        "experts.gate_proj": (2048, 768, 48 * 128),
        "experts.up_proj": (2048, 768, 48 * 128),
        "experts.down_proj": (768, 2048, 48 * 128),
    }
    assert trainable_params(spec, finetune="lora", rank=1, targets=SETS["mlp"]) == (
        48 * 128 * 3 * (2048 + 768)
    )


def test_latent_attention_maps_as_all_linear_sees_it():
    # DeepSeek-V2-Lite: no query rank (q_proj 2048 -> 16 x 192), kv_a_proj_with_mqa 2048 ->
    # 512 + 64 and kv_b_proj 512 -> 16 x (128 + 128) both carry k and v, o_proj 2048 -> 2048;
    # the first layer's dense MLP and 26 layers of 64 experts and shared experts of 2816
    spec = mla()
    assert set(adapted_linears(spec, frozenset({"k"}))) == {"kv_a_proj_with_mqa", "kv_b_proj"}
    mats = adapted_linears(spec, ALL)
    assert mats["q_proj"] == (2048, 3072, 27)
    assert mats["kv_b_proj"] == (512, 4096, 27)
    assert mats["mlp.gate_proj"] == (2048, 10944, 1)
    assert mats["shared_experts.down_proj"] == (2816, 2048, 26)
    assert mats["experts.up_proj"] == (2048, 1408, 26 * 64)
    with_q_rank = mla(q_lora_rank=1536)
    assert adapted_linears(with_q_rank, frozenset({"q"})) == {
        "q_a_proj": (2048, 1536, 27),
        "q_b_proj": (1536, 3072, 27),
    }


def test_every_block_linear_is_a_weight_of_the_model():
    # the linears PEFT sees hold exactly the block matrices params.py counts (routers aside)
    for spec in (llama8b(), moe(), mla(), gpt2(family="gpt2"), toy(head_dim=32)):
        dense = spec.dense_layers if spec.moe else spec.n_layer
        weights = sum(
            layers * lin.count * lin.d_in * lin.d_out
            for moe_layer, layers in ((False, dense), (True, spec.moe_layers))
            for lin in block_linears(spec, moe=moe_layer)
        )
        mats = 3 if spec.gated else 2
        experts = spec.n_experts * spec.expert_ffn_hidden + spec.shared_ffn_hidden
        expected = (
            spec.n_layer * attention_weights_per_layer(spec)
            + dense_mlp_layers(spec) * mlp_weights_per_layer(spec)
            + spec.moe_layers * mats * spec.d_model * experts
        )
        assert weights == expected


# -- FLOPs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("targets", [ALL, SETS["attn-qv"], ALL | {"lm_head"}])
def test_lora_flops_per_token_by_hand(targets):
    # the frozen base runs forward (2 per weight) and the input gradient (2): 4 N; the adapters
    # forward, input and weight gradients: 6 T; attention as for full training
    spec = llama8b()
    full = flops_per_token(spec)
    t = trainable_params(spec, finetune="lora", rank=16, targets=targets)
    f = flops_per_token(spec, finetune="lora", lora_rank=16, lora_targets=targets)
    attention = sum(op.model for op in full.ops if op.kind == "attention")
    assert f.model == pytest.approx(4 * matmul_params(spec) + 6 * t + attention)
    assert f.model < full.model


def test_lora_flops_count_top_k_experts_adapters():
    # a token runs its top-8 of 128 experts, and their adapters only
    spec = moe()
    f = flops_per_token(spec, finetune="lora", lora_rank=8, lora_targets=SETS["mlp"])
    routed = trainable_params(spec, finetune="lora", rank=8, targets=SETS["mlp"])
    adapters = sum(op.model for op in f.ops if op.name.startswith("lora"))
    assert adapters == pytest.approx(6 * routed * 8 / 128)


def test_lora_recompute_reruns_the_adapters_forward():
    spec = llama8b()
    kw = {"finetune": "lora", "lora_rank": 16, "lora_targets": ALL}
    none = flops_per_token(spec, **kw)
    full = flops_per_token(spec, act_ckpt="full", **kw)
    lm_fwd = 2 * spec.vocab * spec.d_model
    assert full.executed - none.executed == pytest.approx(none.forward - lm_fwd)
    assert full.model == none.model


# -- memory --------------------------------------------------------------------------------


def test_qlora_weights_below_lora_below_full():
    spec = llama8b(seq_len=2048)
    mems = [peak_memory(spec, r, Layout()) for r in (recipe(), lora(), qlora())]
    assert mems[0].weights > mems[1].weights > mems[2].weights
    assert mems[0].total > mems[1].total > mems[2].total
    # frozen block linears: 6,979,321,856 x 2 B (LoRA) or x 0.5159 B (NF4 with double
    # quantization); embedding, head and norms in bf16: 2 x 525,336,576 + 266,240 parameters;
    # the adapters in fp32: 41,943,040 x 4 B
    rest = 2 * (2 * 128256 * 4096 + 65 * 4096)
    adapters = 41_943_040 * 4
    assert mems[1].weights == pytest.approx(6_979_321_856 * 2 + rest + adapters)
    assert mems[2].weights == pytest.approx(6_979_321_856 * 0.5159 + rest + adapters)
    assert mems[2].weights / GIB == pytest.approx(5.47, abs=0.01)


def test_optimizer_state_scales_with_trainable_parameters():
    # AdamW in fp32 keeps 8 B per trainable parameter; gradients 4 B: the adapters only
    spec = llama8b(seq_len=2048)
    for rank in (8, 16, 64):
        m = peak_memory(spec, lora(rank=rank), Layout())
        t = trainable_params(spec, finetune="lora", rank=rank, targets=ALL)
        assert m.optimizer == pytest.approx(8 * t)
        assert m.gradients == pytest.approx(4 * t)


def test_paged_optimizer_state_is_in_host_memory_not_on_the_gpu():
    spec = llama8b(seq_len=2048)
    unpaged = peak_memory(spec, qlora(optimizer=replace(PAGED, paged=False)), Layout())
    paged = peak_memory(spec, qlora(optimizer=PAGED), Layout())
    assert unpaged.optimizer > 0
    assert paged.optimizer == 0
    assert paged.host == paged.paged_optimizer == pytest.approx(unpaged.optimizer)
    assert paged.total == pytest.approx(unpaged.total - unpaged.optimizer)


def test_a_frozen_linear_saves_no_input():
    # autograd: mm saves its input only for the weight's gradient (MmBackward0), so with only
    # q and v adapted (adapters in the activations' dtype, sharing their input) the MLP norm's
    # output (d) and the down projection's input (f) are no longer saved; the adapters add
    # x A^T (r each); eager bf16, per token and layer: -(4096 + 14336) + 2 x 16 elements
    spec = llama8b(seq_len=2048)
    full = _activation_bytes_per_token_layer(spec, recipe(), 2048)
    qv = lora(SETS["attn-qv"], grad_dtype="bf16", state_dtype="bf16")
    frozen = _activation_bytes_per_token_layer(spec, qv, 2048)
    assert frozen - full == 2 * (-(4096 + 14336) + 2 * 16)


def test_peft_input_casts_keep_a_copy_per_adapter():
    # PEFT's lora.Linear casts x to the fp32 adapters' dtype and autocast casts it back: each
    # adapted linear keeps its own bf16 copy (q, k, v, gate, up: d; o: d; down: f), while a
    # bitsandbytes layer under autocast shares the base's input (peft lora/bnb.py)
    spec = llama8b(seq_len=2048)
    full = _activation_bytes_per_token_layer(spec, recipe(), 2048)
    cast = _activation_bytes_per_token_layer(spec, lora(), 2048)
    shared = _activation_bytes_per_token_layer(spec, qlora(), 2048)
    d, f, r = 4096, 14336, 16
    assert shared - full == 2 * 7 * r
    assert cast - full == 2 * (-(2 * d + f) + 6 * d + f + 7 * r)


def test_zero3_shards_frozen_weights_and_zero2_the_adapters_gradients():
    spec = llama8b(seq_len=2048)
    one = peak_memory(spec, qlora(), Layout())
    z2 = peak_memory(spec, qlora(), Layout(dp=4, zero_stage=2))
    z3 = peak_memory(spec, qlora(), Layout(dp=4, zero_stage=3))
    assert z2.weights == pytest.approx(one.weights)
    assert z2.gradients == pytest.approx(one.gradients / 4)
    assert z2.optimizer == pytest.approx(one.optimizer / 4)
    assert z3.weights == pytest.approx(one.weights / 4)


def test_fine_tune_memory_is_the_same_for_every_adam_variant_but_its_state():
    spec = llama8b(seq_len=2048)
    a = peak_memory(spec, qlora(optimizer=ADAMW), Layout())
    b = peak_memory(spec, qlora(optimizer=replace(PAGED, paged=False)), Layout())
    assert a.weights == b.weights and a.activations == b.activations
    assert b.optimizer == pytest.approx(a.optimizer * (2 * (1 + 1 / 64)) / 8)


# -- operations and time -------------------------------------------------------------------


def _ops(spec, r, layout=None):
    ms = stage_of(spec, r, layout or Layout())
    return [op.name for op in pass_ops(spec, ms, machine().device)]


def test_a_frozen_linear_has_no_weight_gradient_gemm():
    names = _ops(llama8b(n_layer=2, seq_len=1024), lora(SETS["attn-qv"]))
    assert "attn.qkv.dgrad" in names and "mlp.down.dgrad" in names
    assert not [n for n in names if n.endswith(".wgrad") and ".lora_" not in n]
    assert "lm_head.dgrad" in names
    # q and v carry adapters: x A^T and its weight gradient, B and its weight gradient
    assert {"q_proj.lora_a.fwd", "q_proj.lora_a.wgrad", "v_proj.lora_b.wgrad"} <= set(names)
    assert not [n for n in names if n.startswith(("k_proj", "o_proj", "mlp.")) and "lora" in n]
    full = _ops(llama8b(n_layer=2, seq_len=1024), recipe())
    assert "attn.qkv.wgrad" in full and "lm_head.wgrad" in full


def test_frozen_experts_and_router_have_no_weight_gradient():
    spec = moe(n_layer=2, seq_len=1024)
    names = _ops(spec, lora(SETS["mlp"]))
    assert "moe.fc1.dgrad" in names and "moe.router.dgrad" in names
    assert "moe.fc1.wgrad" not in names and "moe.router.wgrad" not in names
    assert "moe.experts.down_proj.lora_b.wgrad" in names


def test_dequantization_each_gemm_pass_and_again_on_recompute():
    # a quantized linear is dequantized for its forward GEMM and its data-gradient GEMM, and
    # again when full checkpointing re-runs the forward: 3 passes of dequant_bytes per weight
    spec = llama8b(n_layer=2, seq_len=1024)
    dev = machine().device
    r = qlora(act_ckpt="full")
    ms = stage_of(spec, r, Layout())
    deq = [op for op in pass_ops(spec, ms, dev) if "dequant" in op.name]
    assert sorted({op.name for op in deq}) == ["dequant.bwd", "dequant.fwd", "dequant.recompute"]
    per_layer = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336
    nbytes = 3 * spec.n_layer * 2.5159 * per_layer
    seconds = sum(op.seconds for op in deq)
    assert seconds == pytest.approx(nbytes / dev.mem_bw)
    assert "dequant.fwd" not in _ops(spec, lora())


def test_eager_adapters_are_cast_and_accumulated_tensor_by_tensor():
    # bench/hf_kernel_count.py (PEFT LoRA under autocast, a dispatch hook): each fp32 adapter
    # weight is cast to bf16 per forward (again when a checkpointed block is recomputed), its
    # gradient cast back, and AccumulateGrad adds it into .grad on all micro-steps but the
    # first. toy(): 2 layers x 7 matrices x (A, B) = 28 tensors
    from traintime.engine.ops import weight_traffic

    spec, dev = toy(), machine().device

    def kernels(r, global_batch_tokens):
        r = replace(r, global_batch_tokens=global_batch_tokens)
        return weight_traffic(spec, stage_of(spec, r, Layout()), dev).kernels

    one = 256 * recipe().micro_batch  # one micro-step per step: nothing accumulates
    assert kernels(lora(), one) == 28 * 2  # weight cast + gradient cast
    assert kernels(lora(), 4 * one) == 28 * 2 + 21  # + 3/4 of an accumulation each
    assert kernels(lora(act_ckpt="full"), one) == 28 * 3  # cast again on recompute
    assert kernels(lora(compiled=True), one) == 3  # compiled: fused


def _seconds(spec, r, g=None, layout=None):
    layout = layout or Layout()
    return evaluate(spec, r, layout, machine(g, n_gpus=layout.n_gpus)).step.step_time_s


@pytest.mark.parametrize("g", [None, ada()])
def test_qlora_slower_than_lora_faster_than_full(g):
    # the same adapters (bf16, as torchtune keeps them: no input casts either way), so the
    # difference between QLoRA and LoRA is the dequantization (and PEFT's defensive clone)
    spec = llama8b(n_layer=4, seq_len=2048)
    kw = {"micro_batch": 1, "global_batch_tokens": 2048 * 8, "act_ckpt": "full"}
    adapters = {"grad_dtype": "bf16", "state_dtype": "bf16"}
    full = _seconds(spec, recipe(**kw), g)
    lo = _seconds(spec, lora(**kw, **adapters), g)
    ql = _seconds(spec, qlora(**kw, **adapters), g)
    assert lo < ql
    assert lo < full
    # QLoRA's usual short samples (one of 512 tokens a micro-step) with PEFT's fp32 adapters
    short = {"micro_batch": 1, "global_batch_tokens": 512 * 16}
    spec = llama8b(n_layer=4, seq_len=512)
    assert _seconds(spec, lora(**short), g) < _seconds(spec, qlora(**short), g)


def test_lower_bound_holds_for_frozen_bases():
    # the planner skips candidates by pass_lower_bound: it must never exceed the step
    cases = [
        (llama8b(n_layer=4, seq_len=2048), Layout()),
        (llama8b(n_layer=4, seq_len=2048), Layout(dp=4, zero_stage=3)),
        (moe(n_layer=2, seq_len=1024), Layout(dp=8, ep=8)),
        (mla(n_layer=3, seq_len=1024), Layout(dp=2, tp=2, zero_stage=1)),
    ]
    for spec, layout in cases:
        for r in (lora(act_ckpt="full"), qlora(), qlora(optimizer=PAGED, compiled=True)):
            m = machine(n_gpus=layout.n_gpus)
            step = evaluate(spec, r, layout, m).step.step_time_s
            assert pass_lower_bound(spec, r, layout, m.device, m.links) <= step


def test_data_parallel_reduces_only_the_adapters():
    # DDP over 8 GPUs all-reduces 41.9M fp32 adapter gradients instead of 8B parameters
    spec = llama8b(seq_len=2048)
    layout = Layout(dp=8)
    m = machine(n_gpus=8)
    kw = {"micro_batch": 1, "global_batch_tokens": 2048 * 8}
    full = evaluate(spec, recipe(**kw), layout, m).step.breakdown_s["communication"]
    lo = evaluate(spec, lora(**kw), layout, m).step.breakdown_s["communication"]
    assert lo < full / 20
