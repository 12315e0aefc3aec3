"""FLOPs per token: nanochat's printed values (model convention) and executed-FLOP properties."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.engine.conftest import gpt2, llama8b, nanochat
from traintime.engine.flops import causal_mean_keys, executed_keys, flops_per_token


def test_nanochat_d32_model_flops():
    # run1000.sh @ fae3aca prints "Estimated FLOPs per token: 1.207960e+10";
    # 6 x 1,744,830,464 + 12 x 32 x 2048 x 2048 = 12,079,595,520.
    assert flops_per_token(nanochat(32)).model == 12_079_595_520


def test_causal_mean_keys_by_hand():
    # T=4, full: queries see 1,2,3,4 keys -> 2.5; window 2: 1,2,2,2 -> 1.75.
    assert causal_mean_keys(4, 4) == 2.5
    assert causal_mean_keys(4, 2) == 1.75
    assert causal_mean_keys(4, 100) == 2.5


def test_executed_keys_by_kernel():
    assert executed_keys(2048, 2048, "flash") == 1024.5
    assert executed_keys(2048, 2048, "eager") == 2048
    # SDPA has no sliding-window kernel: a masked dense kernel computes all T keys.
    assert executed_keys(2048, 512, "sdpa") == 2048
    assert executed_keys(2048, 512, "flash") < 512


def test_checkpointing_adds_recompute():
    spec = llama8b()
    none = flops_per_token(spec)
    sel = flops_per_token(spec, act_ckpt="selective")
    full = flops_per_token(spec, act_ckpt="full")
    assert none.executed < sel.executed < full.executed
    assert none.model == sel.model == full.model  # model FLOPs never count recompute
    # full recompute re-runs one forward of every block: executed grows by forward - lm_head.
    lm_fwd = 2 * spec.vocab * spec.d_model
    assert full.executed - none.executed == pytest.approx(none.forward - lm_fwd)


def test_op_level_checkpointing_recomputes_half_the_block_matmuls():
    # torchtitan's op-level policy (activation_checkpoint.py: `mm_count % 2`): every other
    # matmul is recomputed, the attention output is saved
    spec = llama8b()
    none = flops_per_token(spec)
    op = flops_per_token(spec, act_ckpt="selective-op")
    block_matmul_fwd = sum(
        o.forward for o in none.ops if o.kind == "matmul" and o.name != "lm_head"
    )
    assert op.executed - none.executed == pytest.approx(0.5 * block_matmul_fwd)
    assert op.model == none.model


def test_gpt2_dense_convention():
    # 6N + 12 L d T with N = matmul params incl. the tied head: 6 x 123,532,032 + 12x12x768x1024
    f = flops_per_token(gpt2())
    assert f.model == 6 * (12 * 12 * 768**2 + 50257 * 768) + 12 * 12 * 768 * 1024


@given(
    layers=st.integers(1, 8),
    heads=st.integers(1, 8),
    seq=st.integers(16, 4096),
    impl=st.sampled_from(["flash", "sdpa", "eager"]),
)
def test_executed_attention_never_exceeds_dense(layers, heads, seq, impl):
    spec = gpt2().model_copy(
        update={
            "n_layer": layers,
            "n_head": heads,
            "d_model": 64 * heads,
            "ffn_hidden": 256,
            "seq_len": seq,
            "max_position": seq,
        }
    )
    f = flops_per_token(spec, attention_impl=impl)
    for op in f.ops:
        assert op.executed > 0
        if op.kind == "attention":
            # never more keys than the dense T x T matrix, fwd + at most 2.5x bwd
            assert op.forward <= 2 * heads * 64 * seq * layers + 1e-6
