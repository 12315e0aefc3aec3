"""Parameter counts by component, from the architecture alone.

Conventions (checked against the counts the code bases print, see tests/engine/test_params.py):

* A block holds attention (q, k, v, o), the MLP (2 matrices, 3 when gated) and, where the
  architecture has learnable norms, two norms. A final norm follows the last block.
* Tied embeddings count the shared matrix once (as ``embedding``); the LM head still runs as a
  matmul, so it is counted in :func:`matmul_params`.
* nanochat 2026 value embeddings are lookup tables of ``vocab x n_kv_head*head_dim`` on
  ``value_embed_layers`` layers, each mixed in by a gate
  ``Linear(value_embed_gate_in -> n_kv_head)`` (nanochat gpt.py @ 92d63d4).
"""

from __future__ import annotations

import functools

from pydantic import BaseModel, ConfigDict

from traintime.specs import ModelSpec


class ParamCounts(BaseModel):
    """Trainable parameters by component; ``total`` is their sum."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    embedding: int
    position: int
    attention: int
    mlp: int
    norms: int
    lm_head: int
    value_embeds: int
    gates: int
    other: int
    total: int
    matmul: int
    lookup: int


def attention_weights_per_layer(spec: ModelSpec) -> int:
    """q and o are d x H*hd; k and v are d x KV*hd (grouped-query attention)."""
    q_width = spec.n_head * spec.hd
    kv_width = spec.kv_heads * spec.hd
    return 2 * spec.d_model * q_width + 2 * spec.d_model * kv_width


def attention_biases_per_layer(spec: ModelSpec) -> int:
    """'qkv': biases on q, k, v (Qwen2); 'all': also on the output projection (GPT-2, NeoX)."""
    if spec.attn_bias == "none":
        return 0
    qkv = (spec.n_head + 2 * spec.kv_heads) * spec.hd
    return qkv + (spec.d_model if spec.attn_bias == "all" else 0)


def mlp_weights_per_layer(spec: ModelSpec) -> int:
    """Gated MLPs (SwiGLU, GeGLU) have gate, up and down matrices; others up and down."""
    return (3 if spec.gated else 2) * spec.d_model * spec.ffn_hidden


def mlp_biases_per_layer(spec: ModelSpec) -> int:
    if not spec.mlp_bias:
        return 0
    return (2 if spec.gated else 1) * spec.ffn_hidden + spec.d_model


def norm_params(spec: ModelSpec) -> int:
    """Two norms per block plus the final norm; parameter-free norms (nanochat) count 0."""
    per_norm = spec.d_model * (int(spec.norm_weight) + int(spec.norm_bias))
    return (2 * spec.n_layer + 1) * per_norm


def value_embed_params(spec: ModelSpec) -> int:
    return spec.value_embed_layers * spec.vocab * spec.kv_heads * spec.hd


def gate_params(spec: ModelSpec) -> int:
    return spec.value_embed_layers * spec.value_embed_gate_in * spec.kv_heads


@functools.lru_cache(maxsize=256)
def count_params(spec: ModelSpec) -> ParamCounts:
    """Every trainable parameter, by component (memoized: specs are frozen)."""
    layers = spec.n_layer
    embedding = spec.vocab * spec.d_model
    position = spec.position_rows * spec.d_model
    attention = layers * (attention_weights_per_layer(spec) + attention_biases_per_layer(spec))
    mlp = layers * (mlp_weights_per_layer(spec) + mlp_biases_per_layer(spec))
    norms = norm_params(spec)
    lm_head = 0 if spec.tied_embeddings else spec.vocab * spec.d_model
    value_embeds = value_embed_params(spec) + spec.extra_lookup_params
    gates = gate_params(spec)
    other = spec.extra_matmul_params + spec.scalar_params
    parts = (embedding, position, attention, mlp, norms, lm_head, value_embeds, gates, other)
    return ParamCounts(
        embedding=embedding,
        position=position,
        attention=attention,
        mlp=mlp,
        norms=norms,
        lm_head=lm_head,
        value_embeds=value_embeds,
        gates=gates,
        other=other,
        total=sum(parts),
        matmul=matmul_params(spec),
        lookup=embedding + position + value_embeds,
    )


def matmul_params(spec: ModelSpec) -> int:
    """Weights that take part in a matrix multiply: block matrices, gates and the LM head.

    The LM head counts even when tied (the shared matrix is used as the output projection).
    Lookup tables, norms, biases and scalars are excluded: nanochat's ``num_matmul_params``
    (gpt.py ``estimate_flops`` @ 92d63d4), which equals ``nparams - wte`` for the Oct-2025 model.
    """
    blocks = spec.n_layer * (attention_weights_per_layer(spec) + mlp_weights_per_layer(spec))
    lm_head = spec.vocab * spec.d_model
    return blocks + gate_params(spec) + spec.extra_matmul_params + lm_head
