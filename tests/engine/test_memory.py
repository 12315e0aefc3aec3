"""Memory model: hand-computed components, ZeRO monotonicity, checkpointing, offload, and the
peak's phase (its parts add up to it). Toy specs from tests/engine/conftest.py."""

from dataclasses import replace

import pytest

from tests.engine.conftest import (
    ADAFACTOR,
    ADAMW,
    ADAMW8BIT,
    gpt2,
    llama8b,
    nanochat,
    nanochat_recipe,
    recipe,
)
from traintime.engine.memory import PHASES, optimizer_state_bytes, peak_memory
from traintime.specs import Layout
from traintime.units import GIB


def _mem(spec=None, layout=None, **kw):
    return peak_memory(spec or nanochat(32), nanochat_recipe(**kw), layout or Layout())


def test_nanochat_d32_persistent_state():
    # nanochat.md section 3.2: matrices fp32 weight + grad + Muon momentum = 12 B, lm_head
    # AdamW 16 B, bf16 wte 8 B -> ~22.6 GB of weights, gradients and optimizer state.
    m = _mem()
    state = m.weights + m.gradients + m.optimizer
    expected = 1_610_612_736 * 12 + 134_217_728 * 16 + 134_217_728 * 8  # blocks, head, wte
    assert state == pytest.approx(expected, rel=1e-3)
    assert state / 1e9 == pytest.approx(22.6, abs=0.1)


def test_zero_stages_only_shrink():
    totals = [_mem(layout=Layout(dp=8, zero_stage=z)).persistent for z in (1, 2, 3)]
    assert totals[0] > totals[1] > totals[2]


def test_zero_shards_over_context_parallel_ranks_too():
    # context-parallel ranks hold the same weights, so FSDP / the distributed optimizer shard
    # over data x context parallel (Megatron-LM's DP-CP group; torchtitan's dp_shard_cp mesh);
    # activations still shrink with the sequence split
    cp = _mem(layout=Layout(cp=8, zero_stage=3))
    dp = _mem(layout=Layout(dp=8, zero_stage=3))
    assert cp.persistent == pytest.approx(dp.persistent)
    assert cp.activations < dp.activations


def test_checkpointing_lowers_activations():
    acts = [_mem(micro_batch=8, act_ckpt=c).activations for c in ("none", "selective", "full")]
    assert acts[0] >= acts[1] > acts[2]


def test_op_level_checkpointing_saves_half_the_matmul_outputs():
    # torchtitan's policy keeps each block's input, every other matmul output and the attention
    # output: per token and layer d + (qkv + d + 2 f + d) / 2 elements in bf16 (+ attention out)
    spec = llama8b()
    kw = {"micro_batch": 1, "compiled": True, "attention_impl": "sdpa"}
    op = peak_memory(spec, recipe(**kw, act_ckpt="selective-op"), Layout()).activations
    sel = peak_memory(spec, recipe(**kw, act_ckpt="selective"), Layout()).activations
    full = peak_memory(spec, recipe(**kw, act_ckpt="full"), Layout()).activations
    assert full < op < sel
    d, qkv, f = 4096, (32 + 2 * 8) * 128, 14336
    elems = d + (qkv + d + 2 * f + d) // 2
    per_token_layer = 2 * (elems + d) + 4 * 32  # + attention output, fp32 log-sum-exp
    assert op == pytest.approx(per_token_layer * spec.seq_len * spec.n_layer)


def test_eager_attention_keeps_the_scores():
    flash = peak_memory(gpt2(), recipe(attention_impl="flash"), Layout()).activations
    eager = peak_memory(gpt2(), recipe(attention_impl="eager"), Layout()).activations
    # probabilities: H x T per token per layer in bf16 = 12 x 1024 x 2 B x 12 layers x 1024 tokens
    # (x 4 sequences)
    assert eager - flash == pytest.approx(4 * 12 * 1024 * 2 * 12 * 1024, rel=0.05)


def test_offload_moves_state_to_the_host():
    on_gpu = _mem()
    layout = Layout(offload="optimizer")
    # offload keeps 16-bit weights on the GPU and an fp32 master copy with the optimizer
    off_recipe = nanochat_recipe(
        param_dtype="bf16", grad_dtype="bf16", master_dtype="fp32", embedding_state_dtype="fp32"
    )
    off = peak_memory(nanochat(32), off_recipe, layout)
    assert off.optimizer == 0 and off.host > on_gpu.optimizer
    assert off.persistent < on_gpu.persistent
    # the CPU update keeps an fp32 copy of the gradients on the host; the GPU update does not
    # but streams two layers' state through the GPU
    gpu_side = peak_memory(nanochat(32), off_recipe, replace(layout, offload_update="gpu"))
    assert off.host - gpu_side.host == pytest.approx(1_879_048_192 * 4.0)
    assert gpu_side.optimizer_temporaries > off.optimizer_temporaries


def test_logits_scale_with_vocab_and_tokens():
    a = _mem(micro_batch=1).logits
    b = _mem(micro_batch=2).logits
    assert b == pytest.approx(2 * a)
    assert a == pytest.approx(2048 * 65536 * 6)  # compiled: bf16 logits + fp32 copy


def test_loss_memory_follows_the_loss_kernel():
    """Per logit at the start of backward: eager cross-entropy on an fp32 upcast keeps the bf16
    logits, the fp32 copy, the fp32 log-softmax and writes the gradient (12 B); compiled keeps
    the logits and one fp32 copy (6 B); a fused kernel the logits and their gradient (4 B)."""
    entries = 4 * 1024 * 50257
    per = {
        impl: peak_memory(gpt2(), recipe(loss_impl=impl), Layout()).logits / entries
        for impl in ("eager", "compiled", "fused")
    }
    assert per == pytest.approx({"eager": 12.0, "compiled": 6.0, "fused": 4.0})


def test_eager_dropout_keeps_one_byte_masks():
    """nn.Dropout saves a bool mask (1 byte per element) for backward: two per layer on
    d_model-wide outputs (plus the T x T probabilities under eager attention), compiled or
    not: AOTAutograd saves random ops' results instead of recomputing them."""
    spec = gpt2()
    tokens_layers = 8 * spec.seq_len * spec.n_layer
    for compiled in (False, True):
        plain = peak_memory(spec, recipe(micro_batch=8, compiled=compiled), Layout())
        masked = peak_memory(spec, recipe(micro_batch=8, compiled=compiled, dropout=0.1), Layout())
        assert masked.activations - plain.activations == pytest.approx(
            2 * spec.d_model * tokens_layers
        )


def test_sequence_parallel_shards_the_d_model_wide_activations():
    """Korthikanti et al. 2022, Table 2: per layer, plain TP keeps 10 sbh bytes whole (norm
    inputs/outputs, residual, dropout masks) and shards the rest; SP shards everything."""
    spec = llama8b()
    r = recipe(micro_batch=1)
    on = peak_memory(spec, r, Layout(tp=8, sequence_parallel=True)).activations
    off = peak_memory(spec, r, Layout(tp=8, sequence_parallel=False)).activations
    tokens_layers = spec.seq_len * spec.n_layer
    assert off - on == pytest.approx(2 * 4 * spec.d_model * tokens_layers * (1 - 1 / 8))


def test_full_recompute_keeps_one_layer_working_set_under_pipelining():
    """1F1B: stage 0 holds pp micro-batches' layer inputs, but recomputes one layer of one
    micro-batch at a time (Narayanan et al. 2021; Korthikanti et al. 2022 section 5)."""
    spec, r = llama8b(), recipe(micro_batch=1, act_ckpt="full")
    pp4 = peak_memory(spec, r, Layout(pp=4)).activations
    pp8 = peak_memory(spec, r, Layout(pp=8)).activations
    # doubling pp halves the layers per stage and doubles the micro-batches in flight: the
    # stored inputs stay the same, and the recompute working set is counted once
    assert pp8 == pytest.approx(pp4)


def test_optimizer_state_bytes_per_optimizer():
    # AdamW: two fp32 moments, 8 B per parameter; 8-bit Adam: two 1-byte moments plus one fp32
    # absmax per 256 elements (bitsandbytes), 2.03 B; Adafactor: a row and a column per matrix.
    spec = llama8b()
    n = 8_030_261_248
    adam = optimizer_state_bytes(spec, recipe(optimizer=ADAMW), Layout())
    eight = optimizer_state_bytes(spec, recipe(optimizer=ADAMW8BIT), Layout())
    factored = optimizer_state_bytes(spec, recipe(optimizer=ADAFACTOR), Layout())
    assert adam == pytest.approx(8 * n)
    assert eight == pytest.approx(2 * (1 + 4 / 256) * n)
    assert factored < 0.001 * adam


def test_peak_parts_add_up_and_name_their_phase():
    """The peak is the persistent state plus the larger phase's working memory; its parts (those
    of that phase) add up to it."""
    small = peak_memory(gpt2(), recipe(micro_batch=1), Layout())
    assert small.phase in PHASES
    assert sum(small.peak_parts().values()) == pytest.approx(small.total)
    # a huge optimizer temporary and tiny activations: the peak is in the optimizer step
    big = replace(small, activations=0.0, logits=0.0, optimizer_temporaries=10 * GIB)
    assert big.phase == "optimizer step" and "activations" not in big.peak_parts()
    assert sum(big.peak_parts().values()) == pytest.approx(big.total)


def test_fsdp_with_pipelining_keeps_gradients_and_weights_whole():
    """FSDP2 under pipeline parallelism defers the gradient reduction to the last micro-batch
    and does not reshard after forward: the stage's gradients stay whole in fp32 and its weights
    gathered for the step (torchtitan's FSDP + PP)."""
    spec, r = llama8b(), recipe(micro_batch=1)
    fsdp = peak_memory(spec, r, Layout(dp=8, zero_stage=3))
    piped = peak_memory(spec, r, Layout(dp=4, pp=2, zero_stage=3))
    stage = 8_030_261_248 / 2  # about half the model per stage
    assert piped.gradients == pytest.approx(4.0 * stage, rel=0.1)
    assert piped.buffers > fsdp.buffers + 1.5 * stage  # the stage's weights, gathered in bf16
    assert fsdp.gradients == pytest.approx(4.0 * 8_030_261_248 / 8, rel=0.01)


def test_fsdp_holds_the_root_module_and_a_staged_gradient():
    # beside the two gathered blocks: one block's fp32 gradient for its reduce-scatter, and the
    # root's embedding and output weights (bf16) with the output layer's fp32 gradient
    spec = llama8b()
    m = peak_memory(spec, recipe(micro_batch=1), Layout(dp=8, zero_stage=3))
    block = (8_030_261_248 - 2 * 128256 * 4096 - 4096) / 32
    root = 2 * 128256 * 4096
    expected = 2 * block * 2 + block * 4 + root * 2 + root / 2 * 4
    assert m.buffers == pytest.approx(expected, rel=0.01)
