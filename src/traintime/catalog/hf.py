"""Read a local Hugging Face ``config.json`` into a ModelSpec (no hub access).

Each supported ``model_type`` has a reader that follows the weights its transformers modelling
file creates (``models/<type>/modeling_<type>.py``); the counts they give are pinned in
tests/catalog/test_hf.py against the counts transformers itself instantiates.

The training ``seq_len`` is a choice, not the model's maximum context: the config's own
pre-extension length (``rope_scaling.original_max_position_embeddings``, gpt-oss's
``initial_context_length``), else the family's known pre-training length
(``data/pretraining.toml``), else 4,096; ``seq_len_basis`` says which.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from traintime.catalog._files import data_dir, read_json, read_toml
from traintime.errors import DataError
from traintime.specs import ModelSpec, build

DEFAULT_SEQ_LEN = 4096


class _Config:
    """A config dict whose missing required keys raise a one-line DataError."""

    def __init__(self, data: dict[str, Any], where: str, model_type: str) -> None:
        self.data, self.where, self.model_type = data, where, model_type

    def req(self, key: str) -> Any:
        if self.data.get(key) is None:
            raise DataError(
                f"{self.where} lacks required field {key!r} (model_type {self.model_type!r})"
            )
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def has(self, key: str) -> bool:
        return key in self.data


@functools.cache
def _pretraining() -> dict[str, dict[str, Any]]:
    return read_toml(data_dir() / "pretraining.toml", what="pretraining table").get(
        "model_types", {}
    )


def _seq_len(c: _Config) -> tuple[int, str]:
    """(training sequence length, where it comes from)."""
    limit = c.get("max_position_embeddings") or c.get("n_positions") or c.get("max_seq_len")
    scaling = c.get("rope_scaling") or c.get("rope_parameters") or {}
    original = (
        scaling.get("original_max_position_embeddings") if isinstance(scaling, dict) else None
    )
    if original:
        return int(original), "the config's rope_scaling.original_max_position_embeddings"
    if c.get("original_max_position_embeddings"):  # Phi-3 long-context variants
        return int(c.get("original_max_position_embeddings")), (
            "the config's original_max_position_embeddings"
        )
    if c.get("initial_context_length"):
        return int(c.get("initial_context_length")), "the config's initial_context_length"
    family = _pretraining().get(c.model_type)
    if family is not None and family["seq_len"] == "max_position_embeddings" and limit:
        return int(limit), f"{family['family']} pre-train at the config's full context"
    if family is not None and isinstance(family["seq_len"], int):
        length = int(family["seq_len"])
        basis = f"{family['family']}'s pre-training length"
    else:
        length, basis = (
            DEFAULT_SEQ_LEN,
            f"the default {DEFAULT_SEQ_LEN:,} (no known pre-training length)",
        )
    if limit and int(limit) < length:
        return int(limit), "the config's maximum context"
    return length, basis


def _heads(c: _Config) -> dict[str, Any]:
    return {
        "n_layer": c.req("num_hidden_layers"),
        "d_model": c.req("hidden_size"),
        "n_head": c.req("num_attention_heads"),
        "n_kv_head": c.get("num_key_value_heads", c.get("num_attention_heads")),
        "head_dim": c.get("head_dim"),
        "vocab": c.req("vocab_size"),
    }


def _llama_like(c: _Config) -> dict[str, Any]:
    act = str(c.get("hidden_act", c.get("hidden_activation", "silu")))
    fields: dict[str, Any] = {
        **_heads(c),
        "ffn_hidden": c.req("intermediate_size"),
        "ffn_act": "geglu" if act.startswith("gelu") else "swiglu",
        "tied_embeddings": bool(c.get("tie_word_embeddings", False)),
        "position": "rotary",
        "norm": "rmsnorm",
        "attn_bias": "all" if c.get("attention_bias", False) else "none",
        "mlp_bias": bool(c.get("mlp_bias", False)),
    }
    window = c.get("sliding_window")
    if window and c.get("use_sliding_window", c.model_type in ("mistral", "phi3")):
        fields.update(window_pattern="S", short_window=int(window), last_layer_full=False)
    return fields


def _qwen2(c: _Config) -> dict[str, Any]:
    return {**_llama_like(c), "attn_bias": "qkv"}


def _qwen3(c: _Config) -> dict[str, Any]:
    """q_norm and k_norm of head_dim on every layer (modeling_qwen3.py)."""
    return {**_llama_like(c), "qk_norm": True, "qk_norm_width": "head"}


def _qwen3_moe(c: _Config) -> dict[str, Any]:
    """Qwen3 attention; layer i is sparse unless in ``mlp_only_layers`` or off the
    ``decoder_sparse_step`` (modeling_qwen3_moe.py). No shared experts."""
    n = int(c.req("num_hidden_layers"))
    step = int(c.get("decoder_sparse_step", 1))
    dense_only = set(c.get("mlp_only_layers", []))
    sparse = sum(1 for i in range(n) if i not in dense_only and (i + 1) % step == 0)
    return {
        **_qwen3(c),
        "n_experts": c.req("num_experts"),
        "top_k": c.req("num_experts_per_tok"),
        "expert_ffn_hidden": c.req("moe_intermediate_size"),
        "dense_layers": n - sparse,
    }


def _qwen2_moe(c: _Config) -> dict[str, Any]:
    """Qwen1.5/2-MoE: qkv biases, a shared expert of ``shared_expert_intermediate_size`` with a
    Linear(d, 1) gate (modeling_qwen2_moe.py)."""
    n = int(c.req("num_hidden_layers"))
    step = int(c.get("decoder_sparse_step", 1))
    dense_only = set(c.get("mlp_only_layers", []))
    sparse = sum(1 for i in range(n) if i not in dense_only and (i + 1) % step == 0)
    return {
        **_qwen2(c),
        "n_experts": c.req("num_experts"),
        "top_k": c.req("num_experts_per_tok"),
        "expert_ffn_hidden": c.req("moe_intermediate_size"),
        "shared_ffn_hidden": c.get("shared_expert_intermediate_size", 0),
        "shared_expert_gate": bool(c.get("shared_expert_intermediate_size", 0)),
        "dense_layers": n - sparse,
    }


def _gemma_windows(c: _Config, default_pattern: str) -> dict[str, Any]:
    window = c.get("sliding_window")
    if not window:
        return {}
    types = c.get("layer_types")
    if isinstance(types, list) and types:
        pattern = "".join("S" if t == "sliding_attention" else "L" for t in types)
    else:
        every = c.get("sliding_window_pattern")
        pattern = "S" * (int(every) - 1) + "L" if every else default_pattern
    return {"window_pattern": pattern, "short_window": int(window), "last_layer_full": False}


def _gemma2(c: _Config) -> dict[str, Any]:
    """Gemma 2: pre and post norms around attention and MLP (4 per layer), GeGLU, tied, local
    and global layers alternating from a local first, attention and final logit soft-capping
    (modeling_gemma2.py)."""
    return {
        **_llama_like(c),
        "ffn_act": "geglu",
        "tied_embeddings": bool(c.get("tie_word_embeddings", True)),
        "norms_per_layer": 4,
        "attn_logit_softcap": c.get("attn_logit_softcapping"),
        "logit_softcap": c.get("final_logit_softcapping"),
        **_gemma_windows(c, "SL"),
    }


# Gemma3TextConfig defaults (configuration_gemma3.py) for fields a gemma3 text_config omits.
_GEMMA3_TEXT = {
    "vocab_size": 262_208,
    "hidden_size": 2304,
    "intermediate_size": 9216,
    "num_hidden_layers": 26,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "sliding_window": 4096,
    "sliding_window_pattern": 6,
    "max_position_embeddings": 131_072,
}


def _gemma3(c: _Config) -> dict[str, Any]:
    """Gemma 3 text: Gemma 2's layout plus q/k norms of head_dim, five local layers per global
    one, no soft-capping by default (modeling_gemma3.py)."""
    return {
        **_gemma2(c),
        "qk_norm": True,
        "qk_norm_width": "head",
        **_gemma_windows(c, "SSSSSL"),
    }


def _phi3(c: _Config) -> dict[str, Any]:
    """Phi-3: fused qkv and gate_up projections (same counts as separate ones), the
    ``sliding_window`` on every layer (modeling_phi3.py)."""
    return _llama_like(c)


def _olmo2(c: _Config) -> dict[str, Any]:
    """OLMo 2: norms after attention and after the MLP only (2 per layer), q/k RMSNorm over the
    whole projection (modeling_olmo2.py)."""
    return {**_llama_like(c), "qk_norm": True, "qk_norm_width": "full"}


def _olmoe(c: _Config) -> dict[str, Any]:
    """OLMoE: OLMo-style full-width q/k norms, pre-norms, experts of ``intermediate_size``
    (modeling_olmoe.py)."""
    return {
        **_olmo2(c),
        "ffn_hidden": c.req("intermediate_size"),
        "n_experts": c.req("num_experts"),
        "top_k": c.req("num_experts_per_tok"),
        "expert_ffn_hidden": c.req("intermediate_size"),
    }


def _mixtral(c: _Config) -> dict[str, Any]:
    """Mixtral: Mistral attention, every MLP a router and ``num_local_experts`` SwiGLU experts of
    ``intermediate_size`` (modeling_mixtral.py)."""
    return {
        **_llama_like(c),
        "n_experts": c.req("num_local_experts"),
        "top_k": c.req("num_experts_per_tok"),
        "expert_ffn_hidden": c.req("intermediate_size"),
    }


def _deepseek(c: _Config) -> dict[str, Any]:
    """DeepSeek V2/V3: multi-head latent attention, ``first_k_dense_replace`` dense layers of
    ``intermediate_size``, then MoE every ``moe_layer_freq`` layers with ``n_shared_experts``
    shared experts of ``moe_intermediate_size`` (modeling_deepseek_v3.py). The V3 router's
    correction bias is a buffer, not a parameter. A missing ``q_lora_rank`` is transformers'
    default 1536; an explicit null means a full-rank query."""
    n = int(c.req("num_hidden_layers"))
    first = int(c.get("first_k_dense_replace", 0))
    freq = int(c.get("moe_layer_freq", 1))
    experts = int(c.get("n_routed_experts", 0))
    sparse = sum(1 for i in range(n) if experts and i >= first and i % freq == 0)
    q_lora = c.data["q_lora_rank"] if c.has("q_lora_rank") else 1536
    moe_width = int(c.get("moe_intermediate_size", 0))
    fields = {
        **_llama_like(c),
        "head_dim": c.req("v_head_dim"),
        "q_lora_rank": int(q_lora or 0),
        "kv_lora_rank": c.req("kv_lora_rank"),
        "qk_nope_head_dim": c.req("qk_nope_head_dim"),
        "qk_rope_head_dim": c.req("qk_rope_head_dim"),
        "v_head_dim": c.req("v_head_dim"),
        "mtp_layers": int(c.get("num_nextn_predict_layers", 0)),
    }
    if experts:
        fields.update(
            n_experts=experts,
            top_k=c.req("num_experts_per_tok"),
            expert_ffn_hidden=moe_width,
            shared_ffn_hidden=moe_width * int(c.get("n_shared_experts", 0)),
            dense_layers=n - sparse,
        )
    return fields


def _gpt_oss(c: _Config) -> dict[str, Any]:
    """gpt-oss: biases on q, k, v and o, a learned sink per head, alternating 128-token sliding
    and full layers (``layer_types``), a biased router, experts with fused gate_up (2f) and down
    biases (modeling_gpt_oss.py)."""
    return {
        **_llama_like(c),
        "attn_bias": "all" if c.get("attention_bias", True) else "none",
        "attn_sinks": True,
        "n_experts": c.req("num_local_experts"),
        "top_k": c.req("num_experts_per_tok"),
        "expert_ffn_hidden": c.req("intermediate_size"),
        "router_bias": True,
        "expert_bias": True,
        **_gemma_windows(c, "SL"),
    }


def _llama4(c: _Config) -> dict[str, Any]:
    """Llama 4 text model: MoE layers (``moe_layers``, default every
    ``interleave_moe_layer_step``-th) with one shared expert of ``intermediate_size`` and
    routed experts of the same width; dense layers of ``intermediate_size_mlp``; parameter-free
    L2 q/k norms on RoPE layers; NoPE layers where ``no_rope_layers`` is 0; chunked attention
    (``attention_chunk_size``) on RoPE layers, modelled as a window (modeling_llama4.py)."""
    n = int(c.req("num_hidden_layers"))
    step = int(c.get("interleave_moe_layer_step", 1))
    moe_layers = c.get("moe_layers")
    if moe_layers is None:
        moe_layers = list(range(step - 1, n, step))
    width = int(c.req("intermediate_size"))
    # transformers' default: NoPE on every no_rope_layer_interval-th layer (configuration_llama4)
    every = int(c.get("no_rope_layer_interval", 4))
    nope = c.get("no_rope_layers") or [int((i + 1) % every != 0) for i in range(n)]
    fields = {
        **_llama_like(c),
        "ffn_hidden": int(c.get("intermediate_size_mlp", width)),
        "qk_norm": bool(c.get("use_qk_norm", True)),
        "no_rope_layers": sum(1 for flag in nope if not flag),
        "n_experts": c.req("num_local_experts"),
        "top_k": c.req("num_experts_per_tok"),
        "expert_ffn_hidden": width,
        "shared_ffn_hidden": width,
        "dense_layers": n - len(moe_layers),
    }
    chunk = c.get("attention_chunk_size")
    if chunk and isinstance(nope, list) and nope:
        pattern = "".join("S" if flag else "L" for flag in nope)
        fields.update(window_pattern=pattern, short_window=int(chunk), last_layer_full=False)
    return fields


def _smollm3(c: _Config) -> dict[str, Any]:
    """SmolLM3: Llama with NoPE on the layers where ``no_rope_layers`` is 0, tied
    (modeling_smollm3.py)."""
    nope = c.get("no_rope_layers") or []
    return {
        **_llama_like(c),
        "tied_embeddings": bool(c.get("tie_word_embeddings", True)),
        "no_rope_layers": sum(1 for flag in nope if not flag),
    }


def _gpt2(c: _Config) -> dict[str, Any]:
    d = c.req("n_embd")
    return {
        "n_layer": c.req("n_layer"),
        "d_model": d,
        "n_head": c.req("n_head"),
        "ffn_hidden": c.get("n_inner", 4 * d),
        "ffn_act": "gelu",
        "vocab": c.req("vocab_size"),
        "tied_embeddings": bool(c.get("tie_word_embeddings", True)),
        "position": "learned",
        "max_position": c.req("n_positions"),
        "norm": "layernorm",
        "norm_bias": True,
        "attn_bias": "all",
        "mlp_bias": True,
    }


def _gpt_neox(c: _Config) -> dict[str, Any]:
    bias = bool(c.get("attention_bias", True))
    return {
        "n_layer": c.req("num_hidden_layers"),
        "d_model": c.req("hidden_size"),
        "n_head": c.req("num_attention_heads"),
        "ffn_hidden": c.req("intermediate_size"),
        "ffn_act": "gelu",
        "vocab": c.req("vocab_size"),
        "tied_embeddings": bool(c.get("tie_word_embeddings", False)),
        "position": "rotary",
        "norm": "layernorm",
        "norm_bias": True,
        "attn_bias": "all" if bias else "none",
        "mlp_bias": True,
    }


def _mpt(c: _Config) -> dict[str, Any]:
    d = c.req("d_model")
    attn = c.get("attn_config", {})
    alibi = attn.get("alibi", True) if isinstance(attn, dict) else True
    no_bias = bool(c.get("no_bias", True))
    return {
        "n_layer": c.req("n_layers"),
        "d_model": d,
        "n_head": c.req("n_heads"),
        "ffn_hidden": int(c.get("expansion_ratio", 4) * d),
        "ffn_act": "gelu",
        "vocab": c.req("vocab_size"),
        "tied_embeddings": True,
        "position": "alibi" if alibi else "learned",
        "max_position": None if alibi else c.req("max_seq_len"),
        "norm": "layernorm",
        "norm_bias": not no_bias,
        "attn_bias": "none" if no_bias else "all",
        "mlp_bias": not no_bias,
    }


_READERS: dict[str, Callable[[_Config], dict[str, Any]]] = {
    "llama": _llama_like,
    "mistral": _llama_like,
    "qwen2": _qwen2,
    "qwen2_moe": _qwen2_moe,
    "qwen3": _qwen3,
    "qwen3_moe": _qwen3_moe,
    "gemma2": _gemma2,
    "gemma3_text": _gemma3,
    "phi3": _phi3,
    "olmo2": _olmo2,
    "olmoe": _olmoe,
    "mixtral": _mixtral,
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "gpt_oss": _gpt_oss,
    "llama4_text": _llama4,
    "smollm3": _smollm3,
    "gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "mpt": _mpt,
}

# Multimodal wrappers whose language model lives in ``text_config`` (vision towers not counted).
_TEXT_OF = {"gemma3": ("gemma3_text", _GEMMA3_TEXT), "llama4": ("llama4_text", {})}


def supported_model_types() -> list[str]:
    return sorted([*_READERS, *_TEXT_OF])


def _text_model(data: dict[str, Any], where: str) -> tuple[dict[str, Any], str, str]:
    """(the language model's config, its model_type, a note) — unwrapping multimodal configs."""
    model_type = str(data["model_type"])
    if model_type not in _TEXT_OF:
        return data, model_type, ""
    inner_type, defaults = _TEXT_OF[model_type]
    text = data.get("text_config")
    if not isinstance(text, dict):
        raise DataError(f"{where} (model_type {model_type!r}) lacks its 'text_config'")
    merged = {**defaults, **{k: v for k, v in text.items() if k != "model_type"}}
    for key in ("tie_word_embeddings",):
        if key not in merged and key in data:
            merged[key] = data[key]
    return merged, inner_type, f"; the text model of {model_type} (vision tower not counted)"


def load_hf_config(path: str | os.PathLike[str]) -> ModelSpec:
    """Parse ``path`` (a config.json) into a ModelSpec; one-line DataError on any problem."""
    path = Path(os.fspath(path))
    data = read_json(path, what="config.json")
    name = str((isinstance(data, dict) and data.get("_name_or_path")) or path.parent.name)
    return parse_hf_config(data, where=f"config.json {str(path)!r}", source=str(path), name=name)


#: Whole-number fields the readers use (checked before reading: a bool or a string is not a
#: layer count), and the lists and decimal fields.
_INT_KEYS = (
    "num_hidden_layers",
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
    "sliding_window",
    "sliding_window_pattern",
    "n_embd",
    "n_layer",
    "n_head",
    "n_positions",
    "n_inner",
    "d_model",
    "n_heads",
    "n_layers",
    "max_seq_len",
    "num_experts",
    "num_experts_per_tok",
    "moe_intermediate_size",
    "num_local_experts",
    "decoder_sparse_step",
    "shared_expert_intermediate_size",
    "first_k_dense_replace",
    "moe_layer_freq",
    "n_routed_experts",
    "n_shared_experts",
    "q_lora_rank",
    "kv_lora_rank",
    "qk_nope_head_dim",
    "qk_rope_head_dim",
    "v_head_dim",
    "num_nextn_predict_layers",
    "interleave_moe_layer_step",
    "intermediate_size_mlp",
    "attention_chunk_size",
    "no_rope_layer_interval",
    "initial_context_length",
    "original_max_position_embeddings",
)
_INT_LISTS = ("mlp_only_layers", "moe_layers", "no_rope_layers")
#: Upper bounds where a reader walks the value (layers) or the model would not fit any memory.
_LIMITS = {
    key: 10_000
    for key in (
        "num_hidden_layers",
        "n_layer",
        "n_layers",
        "sliding_window_pattern",
        "decoder_sparse_step",
        "interleave_moe_layer_step",
        "moe_layer_freq",
        "no_rope_layer_interval",
        "first_k_dense_replace",
    )
}
_NUMBERS = ("attn_logit_softcapping", "final_logit_softcapping", "expansion_ratio")


def _check_types(data: dict[str, Any], where: str) -> None:
    """Refuse a field of the wrong type with its name, before any reader uses it."""
    scaling = data.get("rope_scaling")
    fields = dict(data)
    if isinstance(scaling, dict) and "original_max_position_embeddings" in scaling:
        fields["rope_scaling.original_max_position_embeddings"] = scaling[
            "original_max_position_embeddings"
        ]
    for key, value in fields.items():
        name = key.rsplit(".", 1)[-1]
        if value is None:
            continue
        whole = isinstance(value, int) and not isinstance(value, bool)
        if name in _INT_KEYS and not (whole and 0 <= value <= _LIMITS.get(name, 10**9)):
            top = _LIMITS.get(name, 10**9)
            raise DataError(f"{where}: {key}={value!r} must be a whole number from 0 to {top:,}")
        if name in _INT_LISTS and not (
            isinstance(value, list)
            and len(value) <= 10_000
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise DataError(f"{where}: {key}={value!r} must be a list of whole numbers")
        if name in _NUMBERS and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value != value
        ):
            raise DataError(f"{where}: {key}={value!r} must be a number")
        if name == "layer_types" and not (
            isinstance(value, list)
            and len(value) <= 10_000
            and all(isinstance(v, str) for v in value)
        ):
            raise DataError(f"{where}: {key}={value!r} must be a list of layer type names")


#: Keys that give a config experts; a dense model type that carries one is not what it says.
_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_intermediate_size")
_MOE_TYPES = {
    "qwen2_moe",
    "qwen3_moe",
    "olmoe",
    "mixtral",
    "deepseek_v2",
    "deepseek_v3",
    "gpt_oss",
    "llama4_text",
}


def _check_dense(c: _Config) -> None:
    """Refuse a dense model type whose config has experts: reading it as dense would size the
    wrong model (e.g. a llama config with num_local_experts)."""
    if c.model_type in _MOE_TYPES:
        return
    found = [k for k in _EXPERT_KEYS if c.data.get(k)]
    if found:
        raise DataError(
            f"{c.where}: model_type {c.model_type!r} is dense but the config sets {found[0]}="
            f"{c.data[found[0]]!r}; use the model type that has experts (mixtral, qwen3_moe, "
            "deepseek_v3, ...)"
        )


def parse_hf_config(data: Any, *, where: str, source: str, name: str = "config") -> ModelSpec:
    """A config.json's content into a ModelSpec; ``where`` names it in errors."""
    if not isinstance(data, dict):
        raise DataError(f"{where} must hold a JSON object")
    if data.get("model_type") is None:
        raise DataError(f"{where} lacks required field 'model_type'")
    model_type = str(data["model_type"])
    if model_type not in _READERS and model_type not in _TEXT_OF:
        raise DataError(
            f"{where}: model_type {model_type!r} is not supported; "
            f"allowed: {', '.join(supported_model_types())}"
        )
    text, inner_type, note = _text_model(data, where)
    _check_types(text, where)
    config = _Config(text, where, inner_type)
    _check_dense(config)
    fields = _READERS[inner_type](config)
    seq_len, basis = _seq_len(config)
    if fields.get("max_position"):
        seq_len = min(seq_len, int(fields["max_position"]))
    return build(
        ModelSpec,
        where,
        name=name or "config",
        family=model_type,
        source=source + note,
        seq_len=seq_len,
        seq_len_basis=basis,
        **fields,
    )
