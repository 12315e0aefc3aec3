"""The command line: the founding report, JSON, help with examples, one-line errors (exit 2)."""

import json

import pytest

from traintime.cli import main


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_no_arguments_answers_the_founding_question(capsys):
    code, out, _ = run(capsys)
    assert code == 0
    assert "nanochat-d32" in out and "GeForce RTX 4070" in out
    assert "1,879,048,192" in out
    assert "71,680 steps" in out
    assert "31.3 h measured" in out and "By hand" in out  # the measured 8xH100 reference
    assert "Throughput" in out and "tokens/s per GPU" in out and "Time" in out


def test_json(capsys):
    code, out, _ = run(capsys, "--json")
    data = json.loads(out)
    assert code == 0
    assert data["training"]["steps"] == 71_680
    assert data["model"]["flops_per_token"]["model"] == 12_079_595_520


def test_estimate_flags(capsys):
    code, out, _ = run(
        capsys,
        "estimate",
        "--model",
        "llama-3.1-8b",
        "--gpu",
        "h100",
        "--gpus",
        "8",
        "--tokens",
        "15T",
        "--micro-batch",
        "2",
        "--json",
    )
    data = json.loads(out)
    assert code == 0
    dp = data["training"]["layout"]["dp"]
    assert data["training"]["grad_accum_steps"] == 524_288 // (2 * 8192 * dp)
    assert data["training"]["micro_batch"] == 2 and data["hardware"]["count"] == 8


def test_scenario_file(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text(
        '[model]\nname = "gpt2"\n[training]\ntokens = "10B"\nmicro_batch = 8\n'
        '[hardware]\ngpu = "4090"\ncount = 2\n'
    )
    code, out, _ = run(capsys, "estimate", "--scenario", str(path), "--json")
    data = json.loads(out)
    assert code == 0 and data["hardware"]["count"] == 2
    assert data["training"]["grad_accum_steps"] == 524_288 // (8 * 1024 * 2)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["estimate", "--model", "gpt3"], "unknown model 'gpt3'; did you mean"),
        (["estimate", "--gpu", "rtx 4071"], "did you mean GeForce RTX 4070"),
        (["estimate", "--tokens", "-5"], "tokens=-5"),
        (
            ["estimate", "--micro-batch", "3", "--batch-tokens", "524288"],
            "micro_batch=3 cannot divide the global batch",
        ),
        (["estimate", "--precision", "bf17"], "precision='bf17'"),
        (["estimate", "--model", "nope.json"], "does not exist"),
        (["estimate", "--scenario", "nope.toml"], "does not exist"),
        (["estimate", "--gpus", "many"], "'many'"),
        (["estimate", "--gpus", "0"], "gpus=0"),  # never silently 1
        (["estimate", "--gpus-per-node", "0"], "gpus_per_node=0"),
        (["nosuchcommand"], "nosuchcommand"),
    ],
)
def test_bad_input_exit_2_one_line(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and needle in err
    assert "Traceback" not in err + out


def test_bad_config_json(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text("{oops")
    code, _, err = run(capsys, "estimate", "--model", str(path))
    assert code == 2 and "is not valid JSON" in err


@pytest.mark.parametrize("argv", [["--help"], ["estimate", "--help"], ["models", "--help"]])
def test_help_shows_examples(capsys, argv):
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "Example" in out and "traintime " in out


def test_models_lists_presets(capsys):
    code, out, _ = run(capsys, "models", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0
    assert rows["llama-3.1-8b"]["params"] == 8_030_261_248
    assert rows["nanochat-d20"]["params"] == 560_988_160


def test_gpu_json_keys(capsys):
    code, out, _ = run(capsys, "gpu", "RTX 4070", "--json")
    data = json.loads(out)
    assert code == 0
    assert {"name", "memory_gib", "bandwidth_gbs", "tdp_w", "peak_tflops"} <= set(data)
    assert set(data["peak_tflops"]) == {"bf16", "fp16", "fp8", "fp4", "tf32", "fp32"}
    assert data["peak_tflops"]["fp4"] is None  # Ada: no FP4 tensor path
    assert data["peak_tflops"]["bf16"] == 58.3


def test_gpu_table_shows_sources(capsys):
    code, out, _ = run(capsys, "gpu", "h100")
    assert code == 0 and "989.4 TFLOPS" in out and "https://" in out
    # the rate the time model uses: MAMF 794.5 / 989.4 = 0.80, x 0.96 sustained = 0.77
    assert "0.80 of peak" in out and "0.77 of peak" in out


def test_gpus_filters(capsys):
    code, out, _ = run(
        capsys,
        "gpus",
        "--vendor",
        "amd",
        "--min-memory",
        "128",
        "--sort",
        "memory",
        "--json",
        "--limit",
        "0",
    )
    rows = json.loads(out)
    assert code == 0 and rows
    assert all(r["vendor"] == "AMD" and r["memory_gib"] >= 128 for r in rows)


def test_gpus_table(capsys):
    code, out, _ = run(capsys, "gpus", "4090")
    assert code == 0 and "GeForce RTX 4090" in out and "165.2" in out


def test_gpu_unknown_and_bad_sort(capsys):
    code, _, err = run(capsys, "gpu", "rtx 4071")
    assert code == 2 and "did you mean GeForce RTX 4070" in err
    code, _, err = run(capsys, "gpus", "--sort", "fast")
    assert code == 2 and "sort='fast'" in err


def test_systems(capsys):
    code, out, _ = run(capsys, "systems", "--json")
    data = json.loads(out)
    assert code == 0 and {n["name"] for n in data["nodes"]} >= {"dgx-h100", "aws-p5"}


@pytest.mark.parametrize(
    "command", ["gpus", "gpu", "systems", "schema", "validate", "compare", "plan", "report"]
)
def test_every_command_help_has_examples(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "Example" in out
