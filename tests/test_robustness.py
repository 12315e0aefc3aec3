"""Every case issue 14 reported, as a new user would try it: one line naming the value and what
is allowed (exit 2), or an answer that says what it did; never a traceback or a number for a
setup that cannot exist."""

from __future__ import annotations

import json

import pytest

import traintime
from tests.test_cli import run

TRACEBACKS_BEFORE = [
    ["estimate", "--tokens-per-param", "inf"],
    ["estimate", "--model", "llama-3.1-8b", "--gpu", "h100", "--gpus", "64", "--tp", "64"],
    ["estimate", "--model", "nanochat-d20", "--gpu", "h100", "--gpus", "4", "--tp", "4"],
    ["estimate", "--model", "llama-3.1-8b", "--gpu", "h100", "--gpus", "64", "--pp", "64"],
    ["estimate", "--model", "gpt2", "--gpu", "h100", "--gpus", "8", "--gpus-per-node", "3"],
    ["estimate", "--model", "gpt2", "--gpu", "4090", "--gpus", "8", "--system", "aws-p5"],
    ["estimate", "--model", "gpt2", "--gpu", "h100", "--electricity-price", "inf"],
    ["estimate", "--gpu", "h100🚀"],
    ["estimate", "--gpu", "m4"],
    ["compare", "--vendor", "nvidya", "--all"],
    ["compare", "--gpu", "h100", "--limit", "-1"],
    ["estimate", "--gpus", "99999999999999999999"],
]


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize("argv", TRACEBACKS_BEFORE, ids=lambda a: " ".join(a)[:60])
def test_refused_in_one_line(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("traintime: error:") and err.count("\n") == 1


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe[\x00m\x00",
        "[model]\nname = 'gpt2'\n".encode("utf-16"),
        '[model]\nname="gpt2"\n[hardware]\ngpu="h100"\ncount="eight"\n',
        'reference=42\n[model]\nname="gpt2"\n[hardware]\ngpu="h100"\n',
        '[model]\nname="gpt2"\n[training]\ntokens_per_param=inf\n[hardware]\ngpu="h100"\n',
    ],
)
def test_bad_scenario_files(capsys, tmp_path, content):
    code, _, err = run(capsys, "estimate", "--scenario", str(_write(tmp_path, "s.toml", content)))
    assert code == 2 and err.count("\n") == 1


@pytest.mark.parametrize(
    "patch",
    [
        {"num_hidden_layers": True},
        {"rope_scaling": {"original_max_position_embeddings": "abc"}},
        {"num_local_experts": 8},
    ],
)
def test_bad_config_fields(tmp_path, patch):
    base = {
        "model_type": "llama",
        "hidden_size": 512,
        "intermediate_size": 1024,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "vocab_size": 32000,
        "max_position_embeddings": 2048,
    }
    path = _write(tmp_path, "config.json", json.dumps({**base, **patch}))
    with pytest.raises(traintime.DataError):
        traintime.load_hf_config(str(path))


def test_deeply_nested_config(tmp_path):
    path = _write(tmp_path, "config.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(traintime.DataError, match="nests too deeply"):
        traintime.load_hf_config(path)


@pytest.mark.parametrize(
    "call",
    [
        lambda: traintime.estimate("gpt2", "h100", tokens=float("inf")),
        lambda: traintime.estimate("gpt2", "h100", gpus="8"),
        lambda: traintime.estimate("gpt2", "h100", gpus=None),
        lambda: traintime.estimate(123, "h100"),
        lambda: traintime.count_params("llama-3.1-8b"),
        lambda: traintime.find_gpu(None),
    ],
)
def test_python_api_raises_one_clean_error(call):
    with pytest.raises(traintime.TraintimeError) as exc:
        call()
    assert "\n" not in str(exc.value)


def test_zero_on_one_gpu_is_named_as_doing_nothing():
    est = traintime.estimate("gpt2", "h100", zero_stage=3, tokens="1B")
    assert any("it does nothing here" in n for n in est.throughput.notes + _notes(est))


def _notes(est):
    return [s.reason for s in est.training.settings] + est.hardware.notes + est.training.notes


def test_names_that_exist_resolve():
    assert traintime.find_model("meta-llama/Llama-3.1-8B").name == "llama-3.1-8b"
    assert "1080 Ti" in traintime.find_gpu("1080 ti").name


def test_devices_without_a_sourced_tensor_rate_say_so():
    est = traintime.estimate("gpt2", "gtx 1080", tokens="1B")
    assert not est.hardware.tensor_rate_sourced
    assert any("no sourced tensor rate" in n for n in est.hardware.notes)
    assert est.throughput.mfu < 0.9  # timed at its vector rate and its measured share


def test_empty_validation_file_is_refused(capsys, tmp_path):
    path = _write(tmp_path, "runs.csv", "id,gpu\n")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 2 and "has no rows" in err
