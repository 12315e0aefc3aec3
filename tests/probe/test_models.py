"""The probe's real models: parameter counts, attention paths, checkpointing, optimizers."""

import pytest

torch = pytest.importorskip("torch")

from tests.probe.conftest import shrink, tiny  # noqa: E402
from traintime.catalog import find_model, list_models  # noqa: E402
from traintime.engine.params import count_params  # noqa: E402
from traintime.errors import SpecError  # noqa: E402
from traintime.probe.layers import attend  # noqa: E402
from traintime.probe.models import build_model, nope_layer_ids  # noqa: E402
from traintime.probe.nanochat import value_embed_layer_ids  # noqa: E402
from traintime.probe.optim import Muon, build_optimizer, newton_schulz  # noqa: E402


def _meta_params(spec, **kwargs) -> int:
    with torch.device("meta"):
        model = build_model(spec, seq_len=min(spec.seq_len, 64), **kwargs)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list_models())
def test_every_preset_builds_with_the_analytic_count(name):
    """Every preset (so every family), shrunk to toy size, builds a model with exactly
    count_params(spec).total parameters. The ground truth is engine/params.py's analytic count
    (itself checked against the counts the code bases print, tests/engine/test_params.py); for the
    nanochat families the structure is nanochat's gpt.py as summarised in
    shared/reference/nanochat.md sections 1.1-1.3. Multi-token-prediction layers are in neither
    (count_params keeps them in ``mtp``, outside ``total``)."""
    spec = shrink(find_model(name))
    assert _meta_params(spec) == count_params(spec).total


def test_the_shrunk_presets_cover_every_feature():
    """The toy presets exercise each architectural switch the generic decoder has."""
    specs = [shrink(find_model(n)) for n in list_models()]
    features = {
        "moe": any(s.moe for s in specs),
        "mla": any(s.mla for s in specs),
        "mla without q_lora": any(s.mla and not s.q_lora_rank for s in specs),
        "shared experts": any(s.shared_ffn_hidden for s in specs),
        "dense layers": any(s.dense_layers for s in specs),
        "expert biases": any(s.expert_bias and s.router_bias for s in specs),
        "sinks": any(s.attn_sinks for s in specs),
        "learned positions": any(s.position == "learned" for s in specs),
        "alibi": any(s.position == "alibi" for s in specs),
        "tied": any(s.tied_embeddings for s in specs),
        "four norms": any(s.norms_per_layer == 4 for s in specs),
        "qk norm per head": any(s.qk_norm_width == "head" for s in specs),
        "qk norm full": any(s.qk_norm_width == "full" for s in specs),
        "attention bias qkv": any(s.attn_bias == "qkv" for s in specs),
        "attention bias all": any(s.attn_bias == "all" for s in specs),
        "layernorm with bias": any(s.norm == "layernorm" and s.norm_bias for s in specs),
        "windows": any(min(s.layer_windows(64)) < 64 for s in specs),
        "nope layers": any(s.no_rope_layers for s in specs),
        "value embeddings": any(s.value_embed_layers for s in specs),
        "smear gate": any(s.extra_matmul_params for s in specs),
    }
    assert all(features.values()), [k for k, v in features.items() if not v]


@pytest.mark.parametrize(
    ("name", "printed"),
    [
        ("nanochat-d20", 560_988_160),  # 8xH100 report card "Number of parameters"
        ("nanochat-d32", 1_879_048_192),  # run1000.sh @ fae3aca pasted log
        ("nanochat-2026-d12", 286_261_730),  # RTX PRO 3000 and RTX 4070 logs
        ("nanochat-2026-d24", 1_384_122_122),  # 8xB200 report
        ("nanochat-jan2026-d24", 1_384_124_976),  # Leaderboard Run-1 (derived, section 1.3)
    ],
)
def test_full_size_nanochat_matches_the_printed_count(name, printed):
    """At full size (on the meta device, no memory), nanochat's GPT holds the parameter count
    nanochat printed in the logs shared/reference/nanochat.md cites, and count_params agrees."""
    spec = find_model(name)
    assert _meta_params(spec, embeddings_bf16=True) == printed == count_params(spec).total


def test_nanochat_layout_follows_gpt_py():
    """Value embeddings on layers i % 2 == (L - 1) % 2 (gpt.py has_ve); NoPE every 4th layer."""
    assert value_embed_layer_ids(12, 6) == [1, 3, 5, 7, 9, 11]
    assert value_embed_layer_ids(5, 3) == [0, 2, 4]
    assert nope_layer_ids(36, 9) == {3, 7, 11, 15, 19, 23, 27, 31, 35}
    assert nope_layer_ids(4, 0) == set()
    with torch.device("meta"):
        model = build_model(find_model("nanochat-2026-d4"), seq_len=64, embeddings_bf16=True)
    assert model.wte.weight.dtype == torch.bfloat16
    assert model.lm_head.weight.dtype == torch.float32
    assert [b.attn.ve_gate is not None for b in model.blocks] == [False, True, False, True]


def test_sdpa_paths_agree_with_the_written_out_attention():
    """Windows, ALiBi and sinks through SDPA equal the eager path (a soft-cap of 1e4 changes
    nothing at these scores), grouped-query heads included."""
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 12, 8, generator=gen)
    k = torch.randn(2, 2, 12, 8, generator=gen)
    v = torch.randn(2, 2, 12, 8, generator=gen)
    sinks = torch.randn(4, generator=gen)
    slopes = torch.tensor([0.5, 0.25, 0.125, 0.0625])
    for kwargs in ({}, {"sinks": sinks}, {"slopes": slopes}, {"sinks": sinks, "slopes": slopes}):
        for window in (12, 5, 1):
            fast = attend(q, k, v, window=window, **kwargs)
            slow = attend(q, k, v, window=window, softcap=1e4, **kwargs)
            torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)
    # a window of 1 sees only the token itself: the output is its own value (no sinks)
    one = attend(q, k, v, window=1)
    torch.testing.assert_close(one, v.repeat_interleave(2, dim=1))


@pytest.mark.parametrize("name", ["nanochat-2026-d12", "deepseek-v3", "gemma-2-9b"])
def test_checkpointing_changes_neither_loss_nor_gradients(name):
    """Recompute (full: every block; selective: every MLP) gives the same loss and gradients."""
    spec = tiny(name)
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(0, spec.vocab, (2, 32), generator=gen)
    targets = torch.randint(0, spec.vocab, (2, 32), generator=gen)
    results = []
    for mode in ("none", "selective", "full"):
        torch.manual_seed(0)
        model = build_model(spec, seq_len=32, act_ckpt=mode)
        loss = model(idx, targets)
        loss.backward()
        assert torch.isfinite(loss)
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    for loss, grads in results[1:]:
        torch.testing.assert_close(loss, results[0][0])
        for g, ref in zip(grads, results[0][1], strict=True):
            torch.testing.assert_close(g, ref)


def test_build_model_refuses_what_it_cannot_build():
    gpt2 = tiny("gpt2-124m")  # 128 learned positions
    with pytest.raises(SpecError, match="learned position table"):
        build_model(gpt2, seq_len=129)
    with pytest.raises(SpecError, match="act_ckpt"):
        build_model(gpt2, seq_len=64, act_ckpt="selective-op")
    with pytest.raises(SpecError, match="only the nanochat families"):
        build_model(gpt2.model_copy(update={"scalar_params": 3}), seq_len=64)
    nanochat = find_model("nanochat-2026-d2")
    with pytest.raises(SpecError, match="scalar_params=5"):
        build_model(nanochat.model_copy(update={"scalar_params": 5}), seq_len=64)
    with pytest.raises(SpecError, match="norms_per_layer=3"):
        build_model(gpt2.model_copy(update={"norms_per_layer": 3}), seq_len=64)


def test_newton_schulz_orthogonalises():
    """Five quintic iterations keep the singular vectors and push singular values spread over
    two decades (0.1..10) towards 1 (the write-up's coefficients land them in roughly
    0.7..1.2; the smallest move least), for wide and tall matrices alike."""
    gen = torch.Generator().manual_seed(0)
    for rows, cols in ((32, 96), (96, 32), (48, 48)):
        k = min(rows, cols)
        u, _ = torch.linalg.qr(torch.randn(rows, k, generator=gen))
        v, _ = torch.linalg.qr(torch.randn(cols, k, generator=gen))
        sigma = torch.logspace(-1, 1, k)
        out = newton_schulz(u @ torch.diag(sigma) @ v.T).float()
        core = u.T @ out @ v  # diagonal when the singular vectors are kept
        diag = torch.diagonal(core)
        assert (core - torch.diag(diag)).abs().max() < 0.05
        assert diag.min() > 0.5 and diag.max() < 1.3, (rows, cols, diag.min(), diag.max())


def test_muon_takes_the_block_matrices_and_adamw_the_rest():
    """nanochat's split (gpt.py setup_optimizers): Muon on transformer.h's matrices, AdamW on
    wte, lm_head, value embeddings and scalars; FSDP2 with Muon is refused."""
    with torch.device("meta"):
        model = build_model(find_model("nanochat-2026-d4"), seq_len=64)
    opt = build_optimizer(model, "muon")
    muon = next(o for o in opt.optimizers if isinstance(o, Muon))
    adamw = next(o for o in opt.optimizers if isinstance(o, torch.optim.AdamW))
    muon_ids = {id(p) for g in muon.param_groups for p in g["params"]}
    adam_ids = {id(p) for g in adamw.param_groups for p in g["params"]}
    block_ids = {id(p) for p in model.blocks.parameters()}
    assert muon_ids == block_ids
    assert adam_ids == {id(p) for p in model.parameters()} - block_ids
    with pytest.raises(SpecError, match="FSDP2"):
        build_optimizer(model, "muon", parallel="fsdp2")
    with pytest.raises(SpecError, match="optimizer='sgd'"):
        build_optimizer(model, "sgd")
