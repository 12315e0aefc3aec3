"""Model presets: every shipped preset loads, cites a source, and names resolve."""

import pytest

from traintime.catalog import describe_model, find_model, list_models
from traintime.catalog.models import _tables
from traintime.errors import DataError, SpecError, UnknownNameError

REQUIRED = [
    "gpt2-124m",
    "gpt2-350m",
    "gpt2-774m",
    "gpt2-1.5b",
    "llama-2-7b",
    "llama-2-13b",
    "llama-2-70b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "mistral-7b",
    "pythia-160m",
    "pythia-410m",
    "pythia-1b",
    "pythia-1.4b",
    "pythia-2.8b",
    "pythia-6.9b",
    "pythia-12b",
    "tinyllama-1.1b",
    "mpt-7b",
    "mpt-30b",
    "nanochat-d20",
    "nanochat-d32",
]


@pytest.mark.parametrize("name", list_models())
def test_every_listed_preset_builds_with_a_source(name):
    spec = find_model(name)
    assert spec.name == name
    assert describe_model(name)["source"].startswith(("https://", "shared/"))


def test_required_presets_present():
    assert set(REQUIRED) <= set(list_models())


def test_aliases_unique_and_resolve():
    presets, aliases, _ = _tables()
    assert not set(aliases) & set(presets)
    for alias, name in aliases.items():
        assert find_model(alias).name == name


@pytest.mark.parametrize("depth", [1, 6, 12, 26, 34, 48])
def test_nanochat_any_depth(depth):
    old = find_model(f"nanochat-d{depth}")
    new = find_model(f"nanochat-2026-d{depth}")
    assert old.n_layer == new.n_layer == depth
    assert old.d_model == 64 * depth  # Oct-2025: model_dim = depth * 64
    assert new.d_model % 128 == 0 and new.d_model >= 64 * depth  # 2026: rounded up to head_dim
    assert new.value_embed_layers == (depth + 1) // 2


def test_nanochat_2026_windows():
    # HEAD d12: SSSL with the last layer full, short window ceil(2048/4/128)*128 = 512.
    spec = find_model("nanochat-2026-d12")
    assert spec.layer_windows() == [512, 512, 512, 2048] * 3


def test_unknown_model_suggests():
    with pytest.raises(UnknownNameError) as exc:
        find_model("lama-3.1-8b")
    assert "llama-3.1-8b" in exc.value.suggestions
    assert "\n" not in str(exc.value)


def test_bad_depth():
    with pytest.raises(DataError, match="depth=0"):
        find_model("nanochat-d0")


def test_model_toml_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(
        "n_layer = 2\nd_model = 64\nn_head = 4\nffn_hidden = 256\nvocab = 100\nseq_len = 32\n"
    )
    assert find_model(str(path)).name == "tiny"
    path.write_text(
        "n_layer = 2\nd_model = 64\nn_head = 5\nffn_hidden = 256\nvocab = 100\nseq_len = 32\n"
    )
    with pytest.raises(SpecError, match="n_head=5 must divide d_model=64"):
        find_model(str(path))
