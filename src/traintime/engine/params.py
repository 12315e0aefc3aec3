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

from traintime.errors import SpecError
from traintime.specs import ModelSpec


class ParamCounts(BaseModel):
    """Trainable parameters by component; ``total`` is their sum (the main model, as Hugging Face
    transformers instantiates it). ``experts`` holds the routed experts, ``router`` the routers,
    ``shared_experts`` the shared experts and their gates; ``mtp`` the multi-token-prediction
    layers, which a checkpoint stores but the main model does not run (not in ``total``).
    ``active`` counts what one token touches (routed experts at top-k), with the input
    embedding; ``active_excl_embedding`` without it (the output head stays)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    embedding: int
    position: int
    attention: int
    mlp: int
    experts: int
    router: int
    shared_experts: int
    norms: int
    lm_head: int
    value_embeds: int
    gates: int
    other: int
    total: int
    matmul: int
    lookup: int
    active: int
    active_excl_embedding: int
    mtp: int


def attention_weights_per_layer(spec: ModelSpec) -> int:
    """Weight matrices of one attention block. Standard: q and o are d x H*hd, k and v d x KV*hd
    (grouped-query attention). Latent attention (DeepSeek V2/V3, modeling_deepseek_v3.py):
    q_a d x q_lora and q_b q_lora x H*(nope+rope) (or q d x H*(nope+rope) without q_lora),
    kv_a d x (kv_lora + rope), kv_b kv_lora x H*(nope + v), o H*v x d."""
    d, h = spec.d_model, spec.n_head
    if spec.mla:
        qk = spec.qk_nope_head_dim + spec.qk_rope_head_dim
        r = spec.q_lora_rank
        q = d * r + r * h * qk if r else d * h * qk
        kv = d * (spec.kv_lora_rank + spec.qk_rope_head_dim)
        kv += spec.kv_lora_rank * h * (spec.qk_nope_head_dim + spec.v_head_dim)
        return q + kv + h * spec.v_head_dim * d
    q_width = h * spec.hd
    kv_width = spec.kv_heads * spec.hd
    return 2 * d * q_width + 2 * d * kv_width


def attention_small_per_layer(spec: ModelSpec) -> int:
    """Biases, q/k norm weights, latent-attention norms and sinks of one attention block.
    'qkv' biases: on q, k, v (Qwen2); 'all': also on the output (GPT-2, NeoX, gpt-oss)."""
    out = 0
    if spec.attn_bias != "none":
        qkv = (spec.n_head + 2 * spec.kv_heads) * spec.hd
        out += qkv + (spec.d_model if spec.attn_bias == "all" else 0)
    if spec.qk_norm_width == "head":
        out += 2 * spec.qk_head_dim
    elif spec.qk_norm_width == "full":
        out += (spec.n_head + spec.kv_heads) * spec.hd
    if spec.mla:  # q_a_layernorm and kv_a_layernorm
        out += spec.q_lora_rank + spec.kv_lora_rank
    if spec.attn_sinks:
        out += spec.n_head
    return out


def _mlp_mats(spec: ModelSpec) -> int:
    return 3 if spec.gated else 2


def mlp_weights_per_layer(spec: ModelSpec) -> int:
    """Gated MLPs (SwiGLU, GeGLU) have gate, up and down matrices; others up and down."""
    return _mlp_mats(spec) * spec.d_model * spec.ffn_hidden


def mlp_biases_per_layer(spec: ModelSpec) -> int:
    if not spec.mlp_bias:
        return 0
    return (2 if spec.gated else 1) * spec.ffn_hidden + spec.d_model


def dense_mlp_layers(spec: ModelSpec) -> int:
    """Layers whose MLP is dense (all of them in a dense model)."""
    return spec.dense_layers if spec.moe else spec.n_layer


def expert_params(spec: ModelSpec) -> int:
    """One routed expert: its matrices and, in gpt-oss, biases (gate_up 2f and down d)."""
    f = spec.expert_ffn_hidden
    weights = _mlp_mats(spec) * spec.d_model * f
    biases = ((2 if spec.gated else 1) * f + spec.d_model) if spec.expert_bias else 0
    return weights + biases


def router_params_per_layer(spec: ModelSpec) -> int:
    return spec.d_model * spec.n_experts + (spec.n_experts if spec.router_bias else 0)


def shared_params_per_layer(spec: ModelSpec) -> int:
    """Shared experts together (one MLP of ``shared_ffn_hidden``) and their gate."""
    if not spec.shared_ffn_hidden:
        return 0
    gate = spec.d_model if spec.shared_expert_gate else 0
    return _mlp_mats(spec) * spec.d_model * spec.shared_ffn_hidden + gate


def norm_params(spec: ModelSpec) -> int:
    """``norms_per_layer`` norms per block plus the final norm; parameter-free norms (nanochat)
    count 0."""
    per_norm = spec.d_model * (int(spec.norm_weight) + int(spec.norm_bias))
    return (spec.norms_per_layer * spec.n_layer + 1) * per_norm


def value_embed_params(spec: ModelSpec) -> int:
    return spec.value_embed_layers * spec.vocab * spec.kv_heads * spec.hd


def gate_params(spec: ModelSpec) -> int:
    return spec.value_embed_layers * spec.value_embed_gate_in * spec.kv_heads


def _layer_params(spec: ModelSpec, *, moe: bool) -> int:
    """One decoder layer: attention, its small weights, the norms and a dense or MoE MLP."""
    attn = attention_weights_per_layer(spec) + attention_small_per_layer(spec)
    norms = spec.norms_per_layer * spec.d_model * (int(spec.norm_weight) + int(spec.norm_bias))
    if moe:
        mlp = (
            spec.n_experts * expert_params(spec)
            + router_params_per_layer(spec)
            + shared_params_per_layer(spec)
        )
    else:
        mlp = mlp_weights_per_layer(spec) + mlp_biases_per_layer(spec)
    return attn + norms + mlp


def mtp_params(spec: ModelSpec) -> int:
    """DeepSeek-V3's multi-token-prediction layers (modeling in DeepSeek's inference code): each
    a full MoE decoder layer, two input norms, the 2d x d projection and a final norm; the
    embedding and output head are shared with the main model."""
    if not spec.mtp_layers:
        return 0
    d = spec.d_model
    per = _layer_params(spec, moe=spec.moe) + 2 * d + 2 * d * d + d
    return spec.mtp_layers * per


def count_params(spec: ModelSpec) -> ParamCounts:
    """Every trainable parameter, by component (memoized: specs are frozen)."""
    if not isinstance(spec, ModelSpec):
        raise SpecError(
            f"count_params takes a ModelSpec, got {type(spec).__name__} {spec!r}: look a name up "
            "first, e.g. count_params(traintime.find_model('llama-3.1-8b'))"
        )
    return _count(spec)


@functools.lru_cache(maxsize=256)
def _count(spec: ModelSpec) -> ParamCounts:
    layers = spec.n_layer
    embedding = spec.vocab * spec.d_model
    position = spec.position_rows * spec.d_model
    attention = layers * (attention_weights_per_layer(spec) + attention_small_per_layer(spec))
    mlp = dense_mlp_layers(spec) * (mlp_weights_per_layer(spec) + mlp_biases_per_layer(spec))
    moe_layers = spec.moe_layers
    experts = moe_layers * spec.n_experts * expert_params(spec)
    router = moe_layers * router_params_per_layer(spec)
    shared = moe_layers * shared_params_per_layer(spec)
    norms = norm_params(spec)
    lm_head = 0 if spec.tied_embeddings else spec.vocab * spec.d_model
    value_embeds = value_embed_params(spec) + spec.extra_lookup_params
    gates = gate_params(spec)
    other = spec.extra_matmul_params + spec.scalar_params
    parts = (
        embedding,
        position,
        attention,
        mlp,
        experts,
        router,
        shared,
        norms,
        lm_head,
        value_embeds,
        gates,
        other,
    )
    total = sum(parts)
    idle = moe_layers * (spec.n_experts - spec.top_k) * expert_params(spec)
    active = total - idle
    return ParamCounts(
        embedding=embedding,
        position=position,
        attention=attention,
        mlp=mlp,
        experts=experts,
        router=router,
        shared_experts=shared,
        norms=norms,
        lm_head=lm_head,
        value_embeds=value_embeds,
        gates=gates,
        other=other,
        total=total,
        matmul=matmul_params(spec),
        lookup=embedding + position + value_embeds,
        active=active,
        active_excl_embedding=active - (0 if spec.tied_embeddings else embedding),
        mtp=mtp_params(spec),
    )


def active_mlp_weights_per_token(spec: ModelSpec) -> int:
    """MLP matrix weights one token runs through, all layers: dense MLPs, top-k routed experts
    (matrices only), shared experts and routers."""
    dense = dense_mlp_layers(spec) * mlp_weights_per_layer(spec)
    if not spec.moe:
        return dense
    per_layer = (
        spec.top_k * _mlp_mats(spec) * spec.d_model * spec.expert_ffn_hidden
        + spec.d_model * spec.n_experts
        + (_mlp_mats(spec) * spec.d_model * spec.shared_ffn_hidden if spec.shared_ffn_hidden else 0)
        + (spec.d_model if spec.shared_expert_gate else 0)
    )
    return dense + spec.moe_layers * per_layer


def matmul_params(spec: ModelSpec) -> int:
    """Weights one token multiplies: block matrices (routed experts at top-k), routers, gates and
    the LM head.

    The LM head counts even when tied (the shared matrix is used as the output projection).
    Lookup tables, norms, biases and scalars are excluded: nanochat's ``num_matmul_params``
    (gpt.py ``estimate_flops`` @ 92d63d4), which equals ``nparams - wte`` for the Oct-2025 model.
    """
    blocks = spec.n_layer * attention_weights_per_layer(spec) + active_mlp_weights_per_token(spec)
    lm_head = spec.vocab * spec.d_model
    return blocks + gate_params(spec) + spec.extra_matmul_params + lm_head
