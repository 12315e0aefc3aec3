"""Toy versions of the catalog's presets for the probe tests (no torch needed here).

Tests import the builder from here (``from tests.probe.conftest import shrink``).
"""

from __future__ import annotations

from typing import Any

from traintime.catalog import find_model
from traintime.specs import ModelSpec

NANOCHAT_FAMILIES = ("nanochat", "nanochat-jan2026", "nanochat-2026")


def shrink(spec: ModelSpec) -> ModelSpec:
    """``spec`` at toy size with the same architecture: the nanochat families at depth 2 by their
    own rule (``<family>-d2``); every other family with 2 layers (the first dense layer kept in
    an MoE), at most 2 kv heads of 16 channels with the same grouping (up to 2 query heads per kv
    head), d_model 64 where head_dim is explicit (so H x head_dim may differ from d_model, as in
    Gemma and Qwen3) else H x 16, MLP 96, vocabulary 500, at most 4 experts (top-k at most 2) of
    width 32, shared experts 48 wide, latent-attention ranks 32 / 24 with 16 + 8 channel heads,
    learned positions 128 rows, short windows 16 tokens (so windows bite at seq_len 64), at most
    one NoPE layer. Validated like any spec."""
    if spec.family in NANOCHAT_FAMILIES:
        return find_model(f"{spec.family}-d2")
    fields: dict[str, Any] = {"ffn_hidden": 96, "vocab": 500, "seq_len": 64}
    if spec.n_kv_head is None:
        n_head = min(spec.n_head, 4)
        fields["n_kv_head"] = None
    else:
        kv = min(spec.kv_heads, 2)
        n_head = kv * min(spec.n_head // spec.kv_heads, 2)
        fields["n_kv_head"] = kv
    fields["n_head"] = n_head
    if spec.head_dim is None:
        fields.update(d_model=n_head * 16, head_dim=None)
    else:
        fields.update(d_model=64, head_dim=16)
    if spec.max_position:
        fields["max_position"] = 128
    if spec.short_window:
        fields["short_window"] = 16
    layers = 2
    if spec.moe:
        dense = min(spec.dense_layers, 1)
        layers = max(2, dense + 1)
        fields.update(
            n_experts=min(spec.n_experts, 4),
            top_k=min(spec.top_k, 2),
            expert_ffn_hidden=32,
            dense_layers=dense,
        )
        if spec.shared_ffn_hidden:
            fields["shared_ffn_hidden"] = 48
    if spec.mla:
        fields.update(
            q_lora_rank=32 if spec.q_lora_rank else 0,
            kv_lora_rank=24,
            qk_nope_head_dim=16,
            qk_rope_head_dim=8,
            v_head_dim=16,
        )
    fields.update(n_layer=layers, no_rope_layers=min(spec.no_rope_layers, 1))
    return ModelSpec.model_validate({**spec.model_dump(), **fields})


def tiny(name: str) -> ModelSpec:
    """The preset ``name`` shrunk (see :func:`shrink`)."""
    return shrink(find_model(name))
