"""Hugging Face config.json files (written here from the published configs) load exactly."""

import json
from pathlib import Path

import pytest

from traintime.catalog import find_model, load_hf_config
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
    with pytest.raises(
        DataError, match="model_type 'bert' is not supported; allowed: deepseek_v2, .*qwen3_moe"
    ):
        load_hf_config(_write(tmp_path, {"model_type": "bert"}))


def test_impossible_heads(tmp_path):
    data = {**CONFIGS["gpt2"][0], "n_head": 7}
    with pytest.raises(SpecError, match="n_head=7 must divide d_model=768"):
        load_hf_config(_write(tmp_path, data))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_hf_config(tmp_path / "nope" / "config.json")


# Total, active (with the input embedding) and active without it, as Hugging Face transformers
# instantiates each shipped config (shared/validation/configs/README.md, cross-checked there
# against a weight-by-weight hand count), beside the vendor's published figure.
PINNED = {
    # Qwen3-8B model card: "Number of Parameters: 8.2B"
    "qwen3-8b": (8_190_735_360, 8_190_735_360, 7_568_405_504),
    # Qwen2.5-7B model card: "Number of Parameters: 7.61B"
    "qwen2.5-7b": (7_615_616_512, 7_615_616_512, 7_070_619_136),
    # Qwen3-30B-A3B model card: 30.5B total, 3.3B activated
    "qwen3-30b-a3b": (30_532_122_624, 3_353_032_704, 3_041_867_776),
    # Qwen3-235B-A22B model card: 235B total, 22B activated
    "qwen3-235b-a22b": (235_093_634_560, 22_190_763_520, 21_568_433_664),
    # DeepSeek-V3 model card: 671B total, 37B activated (main model, MTP excluded)
    "deepseek-v3": (671_026_404_352, 37_552_282_624, 36_625_603_584),
    # Kimi-K2 model card: 1T total, 32B activated
    "kimi-k2": (1_026_408_209_408, 32_861_477_888, 31_687_072_768),
    # Llama 3.2 model card: 1.23B
    "llama-3.2-1b": (1_235_814_400, 1_235_814_400, 1_235_814_400),
    # gpt-oss model card Table 1: 20.91B total, 3.61B active
    "gpt-oss-20b": (20_914_757_184, 4_187_440_704, 3_608_307_264),
    # gpt-oss model card Table 1: 116.83B total, 5.13B active
    "gpt-oss-120b": (116_829_156_672, 5_711_982_912, 5_132_849_472),
    # Gemma 2 report Table 2: 917,504,000 embedding + 8,324,201,984 non-embedding
    "gemma-2-9b": (9_241_705_984, 9_241_705_984, 9_241_705_984),
    # Gemma 3 report Table 1: 302M embedding + 698M non-embedding
    "gemma-3-1b": (999_885_952, 999_885_952, 999_885_952),
    # Phi-3 report: "phi-3-mini, a 3.8 billion parameter language model"
    "phi-3-mini-4k": (3_821_079_552, 3_821_079_552, 3_722_578_944),
    # OLMo 2 7B
    "olmo-2-7b": (7_298_617_344, 7_298_617_344, 6_887_575_552),
    # Mixtral paper: 47B parameters, 13B active
    "mixtral-8x7b": (46_702_792_704, 12_879_925_248, 12_748_853_248),
    # SmolLM3 model card: 3B
    "smollm3-3b": (3_075_098_624, 3_075_098_624, 3_075_098_624),
    # OLMoE model card: 7B total, 1B active
    "olmoe-1b-7b": (6_919_161_856, 1_282_017_280, 1_178_994_688),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_shipped_config_counts(name):
    counts = count_params(find_model(name))
    assert (counts.total, counts.active, counts.active_excl_embedding) == PINNED[name]


def test_deepseek_v3_mtp_layer():
    """configs/README.md: the 685B checkpoint adds the MTP layer's own 11,610,067,968 weights
    (a full MoE layer, two norms, the 2d x d projection and a final norm) to the 671B model."""
    counts = count_params(find_model("deepseek-v3"))
    assert counts.mtp == 11_610_067_968
    assert counts.total == 671_026_404_352


def test_every_weight_family_is_counted():
    """The parts each modelling file adds: q/k norms (Qwen3: 2 x head_dim per layer), MLA norms
    and low-rank projections, shared experts, gpt-oss sinks and expert biases, routers."""
    qwen3 = find_model("qwen3-8b")
    assert qwen3.qk_norm_width == "head" and qwen3.qk_head_dim == 128
    dsv3 = find_model("deepseek-v3")
    assert (dsv3.q_lora_rank, dsv3.kv_lora_rank, dsv3.qk_head_dim, dsv3.v_dim) == (
        1536,
        512,
        192,
        128,
    )
    assert (dsv3.dense_layers, dsv3.moe_layers, dsv3.shared_ffn_hidden) == (3, 58, 2048)
    oss = find_model("gpt-oss-20b")
    assert oss.attn_sinks and oss.expert_bias and oss.router_bias
    assert oss.window_pattern is not None and oss.layer_windows(4096)[:2] == [128, 4096]
    # router: 24 layers x (2880 x 32 weights + 32 biases)
    assert count_params(oss).router == 24 * (2880 * 32 + 32)


def test_gemma_architecture_features():
    g2 = find_model("gemma-2-9b")
    assert g2.attn_logit_softcap == 50.0 and g2.logit_softcap == 30.0
    assert g2.layer_windows(8192)[:2] == [4096, 8192] and g2.norms_per_layer == 4
    g3 = find_model("gemma-3-1b")
    assert g3.layer_windows(8192)[:6] == [512] * 5 + [8192]


def test_smollm3_nope_layers():
    # no_rope_layers: 0 marks a layer without rotary, every 4th of 36
    assert find_model("smollm3-3b").no_rope_layers == 9


def test_deepseek_missing_q_lora_rank_is_default(tmp_path):
    """configs/README.md: a missing q_lora_rank is transformers' 1536; an explicit null is none."""
    base = json.loads(Path(_preset_path("deepseek-v3")).read_text())
    del base["q_lora_rank"]
    assert load_hf_config(_write(tmp_path, base)).q_lora_rank == 1536
    base["q_lora_rank"] = None
    assert load_hf_config(_write(tmp_path, base, "null.json")).q_lora_rank == 0


def _preset_path(name):
    from traintime.catalog._files import data_dir

    return str(data_dir() / "models" / "hf" / f"{name}.json")


SHARED = Path(__file__).parents[3] / "shared" / "validation" / "configs"


@pytest.mark.skipif(not SHARED.exists(), reason="shared/validation not beside the checkout")
def test_shipped_configs_match_the_validation_set():
    """The shipped presets are the validation set's files, read the same way."""
    names = {
        "gemma-3-1b": "gemma-3-1b-it",
        "phi-3-mini-4k": "phi-3-mini-4k-instruct",
        "olmo-2-7b": "olmo-2-1124-7b",
        "mixtral-8x7b": "mixtral-8x7b-v0.1",
        "olmoe-1b-7b": "olmoe-1b-7b-0924",
    }
    for preset in PINNED:
        shared = load_hf_config(SHARED / f"{names.get(preset, preset)}.json")
        assert count_params(shared) == count_params(find_model(preset))


def test_model_directory_and_path(tmp_path):
    _write(tmp_path, CONFIGS["qwen2"][0])
    assert count_params(find_model(str(tmp_path))).total == 494_032_768
    assert count_params(find_model(tmp_path)).total == 494_032_768
    assert count_params(find_model(tmp_path / "config.json")).total == 494_032_768


def test_directory_without_config(tmp_path):
    with pytest.raises(DataError, match="has no config.json"):
        find_model(str(tmp_path))


def _cache(root, repo_id, data, revision="abc123"):
    repo = root / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / revision
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(data))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)


def test_repo_id_from_hub_cache(tmp_path, monkeypatch):
    """huggingface_hub's cache layout: HF_HUB_CACHE/models--org--name/snapshots/<rev>/."""
    _cache(tmp_path / "hub", "someone/tiny-qwen", CONFIGS["qwen2"][0])
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert count_params(find_model("someone/tiny-qwen")).total == 494_032_768


def test_repo_id_from_hf_home(tmp_path, monkeypatch):
    _cache(tmp_path / "hub", "someone/tiny-qwen", CONFIGS["qwen2"][0])
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert count_params(find_model("someone/tiny-qwen")).total == 494_032_768


def test_repo_id_not_cached_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(DataError, match=r"looked in .*models--nobody--nothing/snapshots"):
        find_model("nobody/nothing")


def test_repo_id_of_a_preset_needs_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert find_model("Qwen/Qwen3-8B").name == "qwen3-8b"


def test_seq_len_is_a_training_choice():
    """Qwen2.5-7B's max_position_embeddings is 131,072; the training default is not."""
    spec = find_model("qwen2.5-7b")
    assert spec.seq_len < 131_072 and spec.seq_len_basis
    assert find_model("deepseek-v3").seq_len == 4096  # rope_scaling original length


# Family sizes against the vendors' published figures, to the figure's own rounding (the field
# `published` of each preset in data/models/hf.toml names the source). (total, active) in
# billions; None where the vendor gives none.
PUBLISHED = {
    "qwen3-0.6b": ((0.6, 0.05), None),
    "qwen3-1.7b": ((1.7, 0.05), None),
    "qwen3-4b": ((4.0, 0.5), None),
    "qwen3-14b": ((14.8, 0.05), None),
    "qwen3-32b": ((32.8, 0.05), None),
    "gemma-2-2b": ((2.6, 0.05), None),
    "gemma-2-27b": ((27.2, 0.05), None),
    "deepseek-v2": ((236, 0.5), (21, 0.5)),
    "mixtral-8x22b": ((141, 0.5), (39, 0.5)),
    "llama-4-maverick": ((400, 1.0), (17, 0.5)),
    "llama-3.2-3b": ((3.21, 0.005), None),
    "phi-3-medium-4k": ((14, 0.5), None),
    "phi-4": ((14, 0.7), None),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_family_sizes_match_published(name):
    counts = count_params(find_model(name))
    (total, tol), active = PUBLISHED[name]
    assert abs(counts.total / 1e9 - total) <= tol
    if active is not None:
        value, tol_a = active
        # DeepSeek quotes active without the input embedding, Mistral and Meta with it
        measured = counts.active_excl_embedding if name.startswith("deepseek") else counts.active
        assert abs(measured / 1e9 - value) <= tol_a


def test_deepseek_v2_lite_has_a_full_rank_query():
    """Its config's explicit null q_lora_rank: 16B total, 2.4B activated (model card)."""
    spec = find_model("deepseek-v2-lite")
    counts = count_params(spec)
    assert spec.q_lora_rank == 0
    assert (
        abs(counts.total / 1e9 - 15.7) < 0.05
        and abs(counts.active_excl_embedding / 1e9 - 2.4) < 0.1
    )


def test_llama4_interleaves_dense_and_moe_layers():
    """Maverick: MoE every second layer (interleave_moe_layer_step 2), dense ones of
    intermediate_size_mlp; NoPE every fourth layer (modeling_llama4.py)."""
    spec = find_model("llama-4-maverick")
    assert spec.dense_layers == 24 and spec.n_experts == 128 and spec.top_k == 1
    assert spec.no_rope_layers == 12 and spec.shared_ffn_hidden == spec.expert_ffn_hidden


def test_dense_type_with_experts_is_refused(tmp_path):
    """A llama-type config with MoE keys would be sized as a dense model: refused."""
    data = {**CONFIGS["llama"][0], "num_local_experts": 8, "num_experts_per_tok": 2}
    with pytest.raises(DataError, match="model_type 'llama' is dense but the config sets"):
        load_hf_config(_write(tmp_path, data))
