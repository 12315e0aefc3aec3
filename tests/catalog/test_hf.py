"""Hugging Face config.json files (written here from the published configs) load exactly."""

import json

import pytest

from traintime.catalog import load_hf_config
from traintime.engine.params import count_params
from traintime.errors import DataError, SpecError

CONFIGS = {
    # https://huggingface.co/meta-llama/Llama-3.1-8B/blob/main/config.json (abridged)
    "llama": (
        {
            "model_type": "llama",
            "hidden_size": 4096,
            "intermediate_size": 14336,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "vocab_size": 128256,
            "max_position_embeddings": 131072,
            "hidden_act": "silu",
            "tie_word_embeddings": False,
            "rope_scaling": {"rope_type": "llama3", "original_max_position_embeddings": 8192},
        },
        8_030_261_248,
    ),
    # https://huggingface.co/openai-community/gpt2/blob/main/config.json
    "gpt2": (
        {
            "model_type": "gpt2",
            "n_embd": 768,
            "n_layer": 12,
            "n_head": 12,
            "n_positions": 1024,
            "n_inner": None,
            "vocab_size": 50257,
        },
        124_439_808,
    ),
    # https://huggingface.co/EleutherAI/pythia-160m/blob/main/config.json; Pythia paper Table 1.
    "gpt_neox": (
        {
            "model_type": "gpt_neox",
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "vocab_size": 50304,
            "max_position_embeddings": 2048,
            "rotary_pct": 0.25,
            "tie_word_embeddings": False,
            "use_parallel_residual": True,
        },
        162_322_944,
    ),
    # https://huggingface.co/mosaicml/mpt-7b/blob/main/config.json: 6,649,286,656 (HF "6.65B").
    "mpt": (
        {
            "model_type": "mpt",
            "d_model": 4096,
            "n_heads": 32,
            "n_layers": 32,
            "expansion_ratio": 4,
            "max_seq_len": 2048,
            "vocab_size": 50432,
            "no_bias": True,
            "attn_config": {"alibi": True},
        },
        6_649_286_656,
    ),
    # https://huggingface.co/mistralai/Mistral-7B-v0.1/blob/main/config.json: 7,241,732,096.
    "mistral": (
        {
            "model_type": "mistral",
            "hidden_size": 4096,
            "intermediate_size": 14336,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "vocab_size": 32000,
            "max_position_embeddings": 32768,
            "sliding_window": 4096,
            "tie_word_embeddings": False,
        },
        7_241_732_096,
    ),
    # https://huggingface.co/Qwen/Qwen2-0.5B/blob/main/config.json: q/k/v biases
    # (modeling_qwen2.py), tied: 494,032,768 (model card "0.49B").
    "qwen2": (
        {
            "model_type": "qwen2",
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "vocab_size": 151936,
            "max_position_embeddings": 131072,
            "tie_word_embeddings": True,
        },
        494_032_768,
    ),
}


def _write(tmp_path, data, name="config.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_config_param_counts(tmp_path, family):
    data, expected = CONFIGS[family]
    spec = load_hf_config(_write(tmp_path, data))
    assert count_params(spec).total == expected


def test_llama_pretraining_context(tmp_path):
    spec = load_hf_config(_write(tmp_path, CONFIGS["llama"][0]))
    assert spec.seq_len == 8192 and spec.kv_heads == 8


def test_mistral_sliding_window(tmp_path):
    spec = load_hf_config(_write(tmp_path, CONFIGS["mistral"][0]))
    assert spec.short_window == 4096 and spec.layer_windows(8192) == [4096] * 32


def test_not_json(tmp_path):
    with pytest.raises(DataError, match="is not valid JSON"):
        load_hf_config(_write(tmp_path, "{not json"))


def test_missing_field(tmp_path):
    data = dict(CONFIGS["llama"][0])
    del data["hidden_size"]
    with pytest.raises(DataError, match="lacks required field 'hidden_size'"):
        load_hf_config(_write(tmp_path, data))


def test_unsupported_type(tmp_path):
    with pytest.raises(DataError, match="model_type 'bert' is not supported; allowed: gpt2"):
        load_hf_config(_write(tmp_path, {"model_type": "bert"}))


def test_impossible_heads(tmp_path):
    data = {**CONFIGS["gpt2"][0], "n_head": 7}
    with pytest.raises(SpecError, match="n_head=7 must divide d_model=768"):
        load_hf_config(_write(tmp_path, data))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_hf_config(tmp_path / "nope" / "config.json")
