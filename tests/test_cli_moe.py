"""The command line with mixture-of-experts models and Hugging Face config sources."""

import json

import pytest

from tests.test_cli import run


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_ep_flag_and_moe_description(capsys):
    code, out, _ = run(
        capsys,
        "estimate",
        "--model",
        "olmoe-1b-7b",
        "--gpu",
        "h100",
        "--gpus",
        "8",
        "--ep",
        "8",
        "--tokens",
        "1B",
    )
    assert code == 0
    assert "64 experts (top 8)" in out and "active per token" in out
    assert "EP 8" in out and "load imbalance" in out


def test_ep_on_dense_model_is_a_one_line_error(capsys):
    code, _, err = run(capsys, "estimate", "--model", "qwen3-8b", "--gpu", "h100", "--ep", "2")
    assert code == 2 and "dense model" in err and "Traceback" not in err


def test_repo_id_from_cache_and_where_it_looked(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    code, _, err = run(capsys, "estimate", "--model", "someone/missing-model", "--gpu", "h100")
    assert code == 2 and "models--someone--missing-model" in err


def test_unsupported_model_type_lists_supported(capsys, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "bert"}))
    code, _, err = run(capsys, "estimate", "--model", str(path), "--gpu", "h100")
    assert code == 2 and "qwen3_moe" in err and "deepseek_v3" in err


def test_readme_style_config_example(capsys):
    """Qwen2.5-7B's 131,072-token max_position_embeddings is not its training length."""
    code, out, _ = run(
        capsys,
        "estimate",
        "--model",
        "Qwen/Qwen2.5-7B",
        "--gpu",
        "h100",
        "--gpus",
        "8",
        "--tokens",
        "1B",
    )
    assert code == 0 and "seq 4096" in out
