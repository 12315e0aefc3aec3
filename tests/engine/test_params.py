"""Parameter counts by component, on specs built in code (tests/engine/conftest.py)."""

from tests.engine.conftest import gpt2, llama8b, nanochat
from traintime.engine.params import count_params, matmul_params


def test_toy_counts_match_the_published_ones():
    # GPT-2 124M (HF, tied, learned positions): 124,439,808; Llama 3.1 8B: 8,030,261,248 (HF
    # safetensors metadata); nanochat d32 (run1000.sh): 1,879,048,192.
    assert count_params(gpt2()).total == 124_439_808
    assert count_params(llama8b()).total == 8_030_261_248
    assert count_params(nanochat(32)).total == 1_879_048_192


def test_components_add_up():
    p = count_params(llama8b())
    parts = (
        p.embedding,
        p.position,
        p.attention,
        p.mlp,
        p.norms,
        p.lm_head,
        p.value_embeds,
        p.gates,
        p.other,
    )
    assert sum(parts) == p.total


def test_tied_head_still_a_matmul():
    spec = gpt2()
    p = count_params(spec)
    assert p.lm_head == 0
    assert matmul_params(spec) == 12 * (4 * 768**2 + 2 * 768 * 3072) + 50257 * 768


def test_gqa_shrinks_kv_projections():
    # Llama-3.1 8B: 8 kv heads of 128 -> k and v are 4096 x 1024 each.
    p = count_params(llama8b())
    assert p.attention == 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024)
