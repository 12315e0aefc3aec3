"""Architectures defined by a rule rather than a table: nanochat at any depth.

The rules are nanochat's code (facts such as the vocabulary and window fractions come from
``data/models/nanochat.toml``):

* Oct-2025 (base_train.py @ 3a5e0bc): ``d = 64 x depth``, ``n_head = ceil(d / 128)``.
* 2026 (base_train.py @ 348fbb3 and ``build_model_meta`` @ 92d63d4): ``d`` rounded up to a
  multiple of ``head_dim``, ``n_head = d / head_dim``; value embeddings on layers with
  ``i % 2 == (L - 1) % 2`` (``ceil(L / 2)`` layers); short window
  ``ceil(T x fraction / multiple) x multiple``; per-layer ``resid_lambdas`` and ``x0_lambdas``.
"""

from __future__ import annotations

import math
from typing import Any

from traintime.specs import ModelSpec, build


def nanochat_spec(depth: int, facts: dict[str, Any], *, name: str) -> ModelSpec:
    """Build nanochat's model at ``depth`` from one version's facts."""
    aspect, head_dim = facts["aspect_ratio"], facts["head_dim"]
    if facts.get("round_dim_to_head", False):
        d_model = math.ceil(depth * aspect / head_dim) * head_dim
        n_head = d_model // head_dim
    else:
        d_model = depth * aspect
        n_head = max(1, math.ceil(d_model / head_dim))
        head_dim = None if d_model % n_head == 0 else head_dim
    seq_len = facts["seq_len"]
    fields: dict[str, Any] = {
        "name": name,
        "family": facts["family"],
        "n_layer": depth,
        "d_model": d_model,
        "n_head": n_head,
        "head_dim": head_dim,
        "ffn_hidden": facts["ffn_mult"] * d_model,
        "ffn_act": facts["ffn_act"],
        "vocab": facts["vocab"],
        "tied_embeddings": False,
        "position": "rotary",
        "seq_len": seq_len,
        "norm": "rmsnorm",
        "norm_weight": False,
        "qk_norm": True,
        "logit_softcap": facts.get("logit_softcap"),
        "source": facts["source"],
    }
    if "window_pattern" in facts:
        fields["window_pattern"] = facts["window_pattern"]
        fields["short_window_fraction"] = facts["short_window_fraction"]
        fields["short_window_multiple"] = facts["short_window_multiple"]
    if facts.get("value_embeds", False):
        fields["value_embed_layers"] = math.ceil(depth / 2)
        fields["value_embed_gate_in"] = facts["value_embed_gate_in"]
    fields["extra_matmul_params"] = facts.get("extra_matmul_params", 0)
    fields["scalar_params"] = facts.get("scalars_per_layer", 0) * depth + facts.get(
        "extra_scalars", 0
    )
    return build(ModelSpec, f"model {name}", **fields)
