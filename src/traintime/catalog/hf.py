"""Read a local Hugging Face ``config.json`` into a ModelSpec (no hub access).

Supported ``model_type``s and the architecture each implies (transformers modeling files):
llama / mistral (SwiGLU, RMSNorm, rotary, optional ``attention_bias`` / ``mlp_bias``), qwen2
(as llama, with biases on q, k and v only: modeling_qwen2.py), gpt2 (learned positions, tied,
biases and LayerNorm everywhere), gpt_neox (LayerNorm, biases, partial rotary, untied by default)
and mpt (ALiBi, tied, ``no_bias``). The training ``seq_len`` is the pretraining context:
``rope_scaling.original_max_position_embeddings`` when present, else the maximum position.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from traintime.catalog._files import read_json
from traintime.errors import DataError
from traintime.specs import ModelSpec, build


class _Config:
    """A config dict whose missing required keys raise a one-line DataError."""

    def __init__(self, data: dict[str, Any], path: Path, model_type: str) -> None:
        self.data, self.path, self.model_type = data, path, model_type

    def req(self, key: str) -> Any:
        if self.data.get(key) is None:
            raise DataError(
                f"config.json {str(self.path)!r} lacks required field {key!r} "
                f"(model_type {self.model_type!r})"
            )
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value


def _context(c: _Config) -> int:
    scaling = c.get("rope_scaling") or {}
    original = (
        scaling.get("original_max_position_embeddings") if isinstance(scaling, dict) else None
    )
    return int(original or c.req("max_position_embeddings"))


def _llama_like(c: _Config) -> dict[str, Any]:
    act = str(c.get("hidden_act", "silu"))
    fields: dict[str, Any] = {
        "n_layer": c.req("num_hidden_layers"),
        "d_model": c.req("hidden_size"),
        "n_head": c.req("num_attention_heads"),
        "n_kv_head": c.get("num_key_value_heads", c.get("num_attention_heads")),
        "head_dim": c.get("head_dim"),
        "ffn_hidden": c.req("intermediate_size"),
        "ffn_act": "geglu" if act.startswith("gelu") else "swiglu",
        "vocab": c.req("vocab_size"),
        "tied_embeddings": bool(c.get("tie_word_embeddings", False)),
        "position": "rotary",
        "seq_len": _context(c),
        "norm": "rmsnorm",
        "attn_bias": "all" if c.get("attention_bias", False) else "none",
        "mlp_bias": bool(c.get("mlp_bias", False)),
    }
    window = c.get("sliding_window")
    if window and c.get("use_sliding_window", c.model_type == "mistral"):
        fields.update(window_pattern="S", short_window=int(window), last_layer_full=False)
    return fields


def _qwen2(c: _Config) -> dict[str, Any]:
    return {**_llama_like(c), "attn_bias": "qkv"}


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
        "seq_len": c.req("n_positions"),
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
        "seq_len": c.req("max_position_embeddings"),
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
        "seq_len": c.req("max_seq_len"),
        "norm": "layernorm",
        "norm_bias": not no_bias,
        "attn_bias": "none" if no_bias else "all",
        "mlp_bias": not no_bias,
    }


_READERS: dict[str, Callable[[_Config], dict[str, Any]]] = {
    "llama": _llama_like,
    "mistral": _llama_like,
    "qwen2": _qwen2,
    "gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "mpt": _mpt,
}


def load_hf_config(path: Path) -> ModelSpec:
    """Parse ``path`` (a config.json) into a ModelSpec; one-line DataError on any problem."""
    data = read_json(path, what="config.json")
    if not isinstance(data, dict):
        raise DataError(f"config.json {str(path)!r} must hold a JSON object")
    model_type = data.get("model_type")
    if model_type is None:
        raise DataError(f"config.json {str(path)!r} lacks required field 'model_type'")
    reader = _READERS.get(str(model_type))
    if reader is None:
        raise DataError(
            f"config.json {str(path)!r}: model_type {model_type!r} is not supported; "
            f"allowed: {', '.join(sorted(_READERS))}"
        )
    fields = reader(_Config(data, path, str(model_type)))
    name = str(data.get("_name_or_path") or path.parent.name or "config")
    return build(
        ModelSpec,
        f"config.json {str(path)!r}",
        name=name,
        family=str(model_type),
        source=str(path),
        **fields,
    )
