"""FLOPs per token: nanochat's printed values (model convention) and executed-FLOP properties."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traintime.catalog import find_model
from traintime.engine.flops import causal_mean_keys, executed_keys, flops_per_token


def test_nanochat_d32_model_flops():
    # run1000.sh @ fae3aca prints "Estimated FLOPs per token: 1.207960e+10";
    # 6 x 1,744,830,464 + 12 x 32 x 2048 x 2048 = 12,079,595,520.
    assert flops_per_token(find_model("nanochat-d32")).model == 12_079_595_520


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # nanochat.md section 1.3 table (HEAD, SSSL, T=2048), checked against printed logs:
        ("nanochat-2026-d12", 759_696_048),
        ("nanochat-2026-d24", 4_775_225_616),  # 8xB200 report: 4.775225e9
        ("nanochat-jan2026-d24", 4_945_112_064),  # leaderboard run 1 FLOPs / tokens
    ],
)
def test_nanochat_2026_model_flops(name, expected):
    assert flops_per_token(find_model(name)).model == expected


def test_window_l_and_seq_1024():
    # d12 with window pattern L gives 887,098,032 (lzwjava "~887M"); d12 SSSL at T=1024 gives
    # 7.101507e8 (RTX PRO 3000 report). We get 710,150,832: 144 = 6 x 24 more, the smear gate's
    # matmul parameters, which that report's commit (5124e88) evidently did not count.
    spec = find_model("nanochat-2026-d12")
    full = spec.model_copy(update={"window_pattern": None})
    assert flops_per_token(full).model == 887_098_032
    assert flops_per_token(spec, seq_len=1024).model == pytest.approx(7.101507e8, rel=1e-6)


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
    spec = find_model("llama-3.1-8b")
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
    spec = find_model("llama-3.1-8b")
    none = flops_per_token(spec)
    op = flops_per_token(spec, act_ckpt="selective-op")
    block_matmul_fwd = sum(
        o.forward for o in none.ops if o.kind == "matmul" and o.name != "lm_head"
    )
    assert op.executed - none.executed == pytest.approx(0.5 * block_matmul_fwd)
    assert op.model == none.model


def test_gpt2_dense_convention():
    # 6N + 12 L d T with N = matmul params incl. the tied head: 6 x 123,532,032 + 12x12x768x1024
    f = flops_per_token(find_model("gpt2-124m"))
    assert f.model == 6 * (12 * 12 * 768**2 + 50257 * 768) + 12 * 12 * 768 * 1024


@given(
    layers=st.integers(1, 8),
    heads=st.integers(1, 8),
    seq=st.integers(16, 4096),
    impl=st.sampled_from(["flash", "sdpa", "eager"]),
)
def test_executed_attention_never_exceeds_dense(layers, heads, seq, impl):
    spec = find_model("gpt2-124m").model_copy(
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
