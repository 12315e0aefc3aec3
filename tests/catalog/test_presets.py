"""Shipped presets against the counts their code bases print: the catalog's architecture
facts through the engine's counting (exact)."""

import pytest

from traintime.catalog import find_model
from traintime.engine.flops import flops_per_token
from traintime.engine.params import count_params, matmul_params

PINNED = [
    # nanochat Oct-2025 run logs: "Number of parameters: 560,988,160" (8xH100 report card) and
    # "Number of parameters: 1,879,048,192" (run1000.sh @ fae3aca); d10 RTX 5090 report card.
    ("nanochat-d20", 560_988_160),
    ("nanochat-d32", 1_879_048_192),
    ("nanochat-d10", 133_038_080),
    # nanochat HEAD (92d63d4): d12 printed by the RTX PRO 3000 report and the lzwjava 4070 logs,
    # d24 by the 8xB200 report (shared/reference/nanochat.md section 1.3).
    ("nanochat-2026-d12", 286_261_730),
    ("nanochat-2026-d24", 1_384_122_122),
    # Jan-2026 variant (ve_gate 32 channels): 1,384,124,976 (nanochat.md section 1.3 cross-checks).
    ("nanochat-jan2026-d24", 1_384_124_976),
    # GPT-2 124M with vocab 50257, tied, learned positions: 124,439,808 (HF model, nanoGPT).
    ("gpt2-124m", 124_439_808),
    # Llama-3.1 8B: 8,030,261,248 and Llama-2 7B: 6,738,415,616 (HF safetensors metadata).
    ("llama-3.1-8b", 8_030_261_248),
    ("llama-2-7b", 6_738_415_616),
    # Pythia (Biderman et al. 2023, Table 1 "total params"): 160M 162,322,944; 12B 11,846,072,320.
    ("pythia-160m", 162_322_944),
    ("pythia-12b", 11_846_072_320),
]


@pytest.mark.parametrize(("name", "expected"), PINNED)
def test_pinned_totals(name, expected):
    assert count_params(find_model(name)).total == expected


def test_nanochat_head_components():
    # nanochat.md section 1.3 table, d12: transformer_matrices 84,935,088 (incl. ve gates),
    # value_embeds 150,994,944, scaling params (matrices + lm_head) 110,100,912.
    spec = find_model("nanochat-2026-d12")
    p = count_params(spec)
    assert p.attention + p.mlp + p.gates == 84_935_088
    assert p.value_embeds == 150_994_944
    assert p.attention + p.mlp + p.gates + p.lm_head == 110_100_912
    # smear gate Linear(24, 1) is a matmul; 2L + 2 scalars are not.
    assert matmul_params(spec) == 110_100_912 + 24


def test_nanochat_d32_model_flops():
    # run1000.sh @ fae3aca prints "Estimated FLOPs per token: 1.207960e+10"
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
