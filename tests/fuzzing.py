"""Fuzzing every input surface: hypothesis strategies and one runner per surface.

Each runner takes one generated input and returns its outcome, ``"result"`` or ``"error"``
(one clean line: exit code 2 from the CLI, a ``TraintimeError`` from the API); anything else
(a traceback, another exit code, a multi-line error, an output file left behind by a failed
run, a call over its time limit) raises ``Crash``. ``tests/test_fuzz.py`` runs a few cases per
surface in the normal test run; ``bench/fuzz.py`` runs thousands and writes
``docs/reliability.md``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

#: Seconds one call may take before it counts as a hang.
TIME_LIMIT_S = 60


class Crash(AssertionError):
    """An outcome the tool promises never to give."""


@contextlib.contextmanager
def bounded(seconds: int = TIME_LIMIT_S) -> Iterator[None]:
    """Raise ``Crash`` when the block runs longer than ``seconds`` (SIGALRM, main thread)."""

    def _expired(signum: int, frame: Any) -> None:
        raise Crash(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- values ----------------------------------------------------------------------------------

WEIRD_TEXT = [
    "",
    " ",
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "1e309",
    "h100🚀",
    "\u0000",
    "ü" * 3,
    "a" * 300,
    "../../etc/passwd",
    "{}",
    "[model]",
    "9" * 40,
]
weird_numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 2**63, 10**9, 0.5, -0.0, float("nan"), float("inf")]),
)
weird_text = st.one_of(st.text(max_size=40), st.sampled_from(WEIRD_TEXT))
weird_values = st.one_of(
    weird_numbers,
    weird_text,
    st.booleans(),
    st.none(),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)

MODELS = ["gpt2", "nanochat-d12", "qwen3-0.6b", "olmoe-1b-7b", "llama-3.2-1b", "gemma-3-1b"]
GPUS = ["4070", "4090", "h100", "a100", "b200", "m4 max", "mi300x", "3090", "gb200"]

# (flag, strategy of realistic values): every recipe and hardware option of the CLI
FLAGS: list[tuple[str, st.SearchStrategy[Any]]] = [
    ("--model", st.sampled_from(MODELS)),
    ("--gpu", st.sampled_from(GPUS)),
    ("--gpus", st.sampled_from([1, 2, 3, 4, 8, 16, 64])),
    ("--tokens", st.sampled_from(["1B", "100M", "2e9", "37.6B"])),
    ("--tokens-per-param", st.sampled_from([1, 20, 0.5])),
    ("--batch-tokens", st.sampled_from(["524288", "1M", "65536"])),
    ("--micro-batch", st.sampled_from([1, 2, 4, 8])),
    ("--seq-len", st.sampled_from([512, 1024, 2048, 4096])),
    ("--precision", st.sampled_from(["bf16", "fp16", "fp8", "mxfp8", "nvfp4", "tf32", "fp32"])),
    ("--optimizer", st.sampled_from(["adamw", "muon", "adamw8bit", "adafactor", "sgd"])),
    ("--ckpt", st.sampled_from(["none", "selective", "selective-op", "full"])),
    ("--attention", st.sampled_from(["flash", "flash3", "triton", "sdpa", "eager"])),
    ("--dropout", st.sampled_from([0.0, 0.1])),
    ("--loss", st.sampled_from(["eager", "compiled", "fused"])),
    ("--tp", st.sampled_from([1, 2, 4, 8])),
    ("--pp", st.sampled_from([1, 2, 4])),
    ("--cp", st.sampled_from([1, 2])),
    ("--zero", st.sampled_from([0, 1, 2, 3])),
    ("--offload", st.sampled_from(["none", "optimizer", "optimizer+params"])),
    ("--ep", st.sampled_from([1, 2, 4, 8])),
    ("--moe-routing", st.sampled_from(["balanced", "dropless", "capacity"])),
    ("--moe-dispatcher", st.sampled_from(["alltoall", "deepep", "allgather"])),
    ("--gpus-per-node", st.sampled_from([1, 2, 4, 8, 72])),
    ("--system", st.sampled_from(["dgx-h100", "p5", "workstation-4x4090", "gb200-nvl72"])),
    ("--goodput", st.sampled_from([0.5, 0.9, 1.0])),
    ("--finetune", st.sampled_from(["full", "lora", "qlora"])),
    ("--lora-rank", st.sampled_from([1, 8, 16, 64])),
    ("--lora-targets", st.sampled_from(["all-linear", "attention", "mlp", "q,v", "lm_head"])),
    ("--base-dtype", st.sampled_from(["bf16", "fp16", "int8", "nf4", "nf4-dq", "int4"])),
    ("--epochs", st.sampled_from([0.5, 1, 3])),
    ("--mean-seq-len", st.sampled_from([100, 512, 4096])),
]
SWITCHES = [
    "--compile",
    "--no-compile",
    "--sp",
    "--no-sp",
    "--allow-math-changes",
    "--moe-overlap",
    "--no-packing",
    "--json",
]


@st.composite
def cli_args(draw: Any, outdir: Path) -> list[str]:
    """A command line: a command and flags, most with realistic values, some with anything."""
    command = draw(
        st.sampled_from(["estimate", "plan", "compare", "gpu", "gpus", "validate", "report"])
    )
    argv = [command]
    if command == "gpu":
        return [*argv, draw(st.one_of(st.sampled_from(GPUS), weird_text)), "--json"]
    if command == "gpus":
        extra = draw(st.lists(st.sampled_from(["--vendor", "--min-memory", "--limit"]), max_size=2))
        argv.append(draw(st.one_of(st.sampled_from(["4090", "h100", "rtx"]), weird_text)))
        for flag in extra:
            argv += [flag, str(draw(st.one_of(st.sampled_from(["nvidia", "8", "0"]), weird_text)))]
        return [*argv, "--json"]
    if command == "validate":
        return [*argv, str(draw(st.sampled_from(list(outdir.glob("*.csv")) or [outdir / "x"])))]
    chosen = draw(st.lists(st.sampled_from(FLAGS), max_size=6, unique_by=lambda f: f[0]))
    for flag, values in chosen:
        weird = draw(st.booleans()) and draw(st.integers(0, 4)) == 0
        value = draw(weird_values) if weird else draw(values)
        argv += [flag, str(value)]
    argv += draw(st.lists(st.sampled_from(SWITCHES), max_size=2, unique=True))
    if command == "compare":
        argv += ["--gpu", draw(st.sampled_from(["h100", "4090,h100", "h100,a100,b200"]))]
    if command == "report":
        argv += ["--html", str(outdir / "report.html")]
    elif draw(st.integers(0, 9)) == 0 and command == "estimate":
        argv += ["--plot", str(outdir / draw(st.sampled_from(["p.png", "p.svg", "p.txt"])))]
    return argv


def run_cli(argv: list[str], outdir: Path) -> str:
    """One command line in-process: exit 0, or exit 2 with one line on stderr."""
    from traintime.cli import main

    for stale in outdir.glob("p.*"):
        stale.unlink()
    (outdir / "report.html").unlink(missing_ok=True)
    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    with bounded(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if exc.code is not None else 0
    text = err.getvalue().strip()
    if code == 0:
        return "result"
    if code != 2 or "\n" in text or not text.startswith("traintime: error:"):
        raise Crash(f"{argv}: exit {code}, stderr {text[:500]!r}")
    written = [p.name for p in outdir.glob("p.*")] + (
        ["report.html"] if (outdir / "report.html").exists() else []
    )
    if written:
        raise Crash(f"{argv}: failed but left {written}")
    return "error"


# --- the Python API --------------------------------------------------------------------------

API_KEYS = [
    "tokens",
    "tokens_per_param",
    "global_batch_tokens",
    "micro_batch",
    "seq_len",
    "precision",
    "optimizer",
    "act_ckpt",
    "tp",
    "pp",
    "zero_stage",
    "ep",
    "offload",
    "moe_routing",
    "dropout",
    "compiled",
    "finetune",
    "lora_rank",
    "lora_targets",
    "base_dtype",
    "epochs",
    "mean_seq_len",
    "no_such_setting",
]


@st.composite
def api_calls(draw: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """A public function and its arguments: names, specs, numbers and junk."""
    functions = ["estimate", "find_gpu", "find_model", "count_params", "flops", "trainable"]
    fn = draw(st.sampled_from(functions))
    model = draw(st.one_of(st.sampled_from(MODELS), weird_values))
    if fn == "estimate":
        gpu = draw(st.one_of(st.sampled_from(GPUS), weird_values))
        kwargs = {}
        for key in draw(st.lists(st.sampled_from(API_KEYS), max_size=4, unique=True)):
            kwargs[key] = draw(weird_values)
        gpus = draw(st.one_of(st.sampled_from([1, 2, 8]), weird_values))
        return fn, (model, gpu), {"gpus": gpus, **kwargs}
    if fn == "find_gpu":
        return fn, (draw(st.one_of(st.sampled_from(GPUS), weird_values)),), {}
    if fn == "trainable":
        kwargs = {
            "finetune": draw(st.one_of(st.sampled_from(["full", "lora", "qlora"]), weird_values)),
            "rank": draw(st.one_of(st.sampled_from([1, 16]), weird_values)),
            "targets": draw(st.one_of(st.sampled_from(["all-linear", "q,v"]), weird_values)),
        }
        return fn, (model,), kwargs
    return fn, (model,), {}


def _trainable(model: Any, **kwargs: Any) -> int:
    """``trainable_params`` of a model looked up by name (names are the most common input)."""
    import traintime

    spec = traintime.find_model(model) if isinstance(model, str) else model
    return traintime.trainable_params(spec, **kwargs)


def run_api(call: tuple[str, tuple[Any, ...], dict[str, Any]]) -> str:
    """One call: a result, or a TraintimeError with a one-line message."""
    import traintime

    fn, args, kwargs = call
    funcs: dict[str, Callable[..., Any]] = {
        "estimate": traintime.estimate,
        "find_gpu": traintime.find_gpu,
        "find_model": traintime.find_model,
        "count_params": traintime.count_params,
        "flops": traintime.flops_per_token,
        "trainable": _trainable,
    }
    with bounded():
        try:
            funcs[fn](*args, **kwargs)
        except traintime.TraintimeError as exc:
            if "\n" in str(exc) or not str(exc):
                raise Crash(f"{fn}{args}{kwargs}: multi-line error {str(exc)[:300]!r}") from None
            return "error"
        except Exception as exc:
            raise Crash(f"{fn}{args}{kwargs}: {type(exc).__name__}: {exc}") from exc
    return "result"


# --- files: scenario TOML, config.json, validation CSV ---------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None or isinstance(value, dict):
        return '""'
    return json.dumps(str(value))


SCENARIO_KEYS = {
    "model": ["name"],
    "training": [k for k in API_KEYS if k != "no_such_setting"] + ["bogus"],
    "hardware": ["gpu", "count", "gpus_per_node", "system"],
    "economics": ["electricity_usd_per_kwh", "pue", "goodput", "price_usd", "bogus"],
    "plan": ["allow_math_changes"],
}
#: Realistic values per key (the rest of the time a key gets anything).
REALISTIC: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(MODELS),
    "gpu": st.sampled_from(GPUS),
    "count": st.sampled_from([1, 2, 4, 8]),
    "gpus_per_node": st.sampled_from([1, 2, 4, 8]),
    "system": st.sampled_from(["dgx-h100", "workstation-4x4090"]),
    "tokens": st.sampled_from(["1B", "10B", 5e8]),
    "tokens_per_param": st.sampled_from([1.0, 20.0]),
    "global_batch_tokens": st.sampled_from([65536, 524288, "1M"]),
    "micro_batch": st.sampled_from([1, 2, 4]),
    "seq_len": st.sampled_from([512, 1024, 2048]),
    "precision": st.sampled_from(["bf16", "fp8", "fp32"]),
    "optimizer": st.sampled_from(["adamw", "muon", "adamw8bit"]),
    "act_ckpt": st.sampled_from(["none", "full"]),
    "tp": st.sampled_from([1, 2]),
    "pp": st.sampled_from([1, 2]),
    "zero_stage": st.sampled_from([0, 1, 3]),
    "ep": st.sampled_from([1, 2]),
    "offload": st.sampled_from(["none", "optimizer"]),
    "moe_routing": st.sampled_from(["balanced", "dropless"]),
    "dropout": st.sampled_from([0.0, 0.1]),
    "compiled": st.booleans(),
    "electricity_usd_per_kwh": st.sampled_from([0.1, 0.3]),
    "pue": st.sampled_from([1.0, 1.3]),
    "goodput": st.sampled_from([0.8, 0.95]),
    "price_usd": st.sampled_from([599, 30000]),
    "allow_math_changes": st.booleans(),
    "reference": st.sampled_from(["nanochat-d32-8xh100"]),
}


def _value(draw: Any, key: str) -> Any:
    """A realistic value for ``key`` most of the time, anything the rest."""
    if key in REALISTIC and draw(st.integers(0, 4)) > 0:
        return draw(REALISTIC[key])
    return draw(weird_values)


@st.composite
def scenario_files(draw: Any) -> bytes:
    """A scenario file: sections and keys of the schema with realistic or junk values, or
    raw bytes (binary, UTF-16, truncated)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(
            st.one_of(
                st.binary(max_size=200),
                st.just("[model]\nname = 'gpt2'\n".encode("utf-16")),
                st.just(b'[model]\nname = "gp'),
            )
        )
    lines = []
    if draw(st.integers(0, 5)) == 0:
        lines.append(f"reference = {_toml_value(_value(draw, 'reference'))}")
    for section, keys in SCENARIO_KEYS.items():
        required = {"model": "name", "hardware": "gpu"}.get(section)
        if draw(st.integers(0, 3)) == 0 and not required:
            continue
        lines.append(f"[{section}]")
        chosen = draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))
        if required and required not in chosen and draw(st.integers(0, 9)):
            chosen.insert(0, required)  # a file usually names its model and GPU
        for key in chosen:
            lines.append(f"{key} = {_toml_value(_value(draw, key))}")
    return ("\n".join(lines) + "\n").encode("utf-8", errors="replace")


def run_file(kind: str, content: bytes, workdir: Path) -> str:
    """Write ``content`` and read it through the surface ``kind`` (scenario, config, csv)."""
    import traintime
    from traintime.catalog import load_hf_config
    from traintime.validate import validate

    name = {"scenario": "s.toml", "config": "config.json", "csv": "runs.csv"}[kind]
    path = workdir / name
    path.write_bytes(content)
    with bounded():
        try:
            if kind == "scenario":
                traintime.estimate_scenario(path)
            elif kind == "config":
                traintime.count_params(load_hf_config(path))
            else:
                validate(path)
        except traintime.TraintimeError as exc:
            if "\n" in str(exc):
                raise Crash(f"{kind}: multi-line error {str(exc)[:300]!r}") from None
            return "error"
        except Exception as exc:
            raise Crash(f"{kind} {content[:300]!r}: {type(exc).__name__}: {exc}") from exc
    return "result"


CONFIG_BASE = {
    "model_type": "llama",
    "hidden_size": 512,
    "intermediate_size": 1024,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "vocab_size": 32000,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": False,
}
MODEL_TYPES = [
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "qwen3_moe",
    "gemma2",
    "gemma3",
    "phi3",
    "olmo2",
    "olmoe",
    "mixtral",
    "deepseek_v3",
    "gpt_oss",
    "llama4",
    "smollm3",
    "gpt2",
    "bert",
]
CONFIG_KEYS = [
    *CONFIG_BASE,
    "head_dim",
    "num_experts",
    "num_local_experts",
    "num_experts_per_tok",
    "moe_intermediate_size",
    "n_routed_experts",
    "kv_lora_rank",
    "q_lora_rank",
    "qk_rope_head_dim",
    "qk_nope_head_dim",
    "v_head_dim",
    "first_k_dense_replace",
    "sliding_window",
    "layer_types",
    "rope_scaling",
    "text_config",
    "no_rope_layers",
    "n_embd",
    "n_layer",
    "n_head",
    "n_positions",
]


@st.composite
def config_files(draw: Any) -> bytes:
    """A config.json: a small valid config of a random type with keys dropped, added or given
    junk values; or truncated, nested or binary content."""
    roll = draw(st.integers(0, 19))
    if roll == 0:
        return draw(st.binary(max_size=200))
    if roll == 1:
        return b"[" * 5000 + b"]" * 5000
    data: dict[str, Any] = dict(CONFIG_BASE)
    data["model_type"] = (
        draw(st.sampled_from(MODEL_TYPES)) if draw(st.integers(0, 4)) else draw(weird_values)
    )
    for key in draw(st.lists(st.sampled_from(CONFIG_KEYS), max_size=3)):
        if draw(st.booleans()):
            data.pop(key, None)
        else:
            data[key] = draw(st.one_of(weird_values, st.sampled_from([1, 2, 8, 64, 128])))
    text = json.dumps(data, default=str, allow_nan=True)
    if roll == 2:
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode("utf-8", errors="replace")


CSV_HEADER = [
    "id",
    "source",
    "kind",
    "model",
    "n_layer",
    "d_model",
    "n_head",
    "n_kv_head",
    "head_dim",
    "ffn_hidden",
    "ffn_act",
    "vocab",
    "tied_embeddings",
    "extra_embed_params",
    "params_total",
    "seq_len",
    "attn_window",
    "precision",
    "optimizer",
    "global_batch_tokens",
    "micro_batch",
    "act_ckpt",
    "attention_impl",
    "compiled",
    "framework",
    "gpu",
    "n_gpus",
    "gpus_per_node",
    "dp",
    "tp",
    "pp",
    "cp",
    "zero_stage",
    "tokens_per_sec_per_gpu",
    "peak_mem_gib",
    "peak_mem_kind",
    "oom",
    "notes",
    "config",
    "ep",
    "etp",
    "moe_dispatcher",
    "moe_routing",
]
CSV_ROW = {
    "id": "row",
    "kind": "measured",
    "n_layer": "12",
    "d_model": "768",
    "n_head": "12",
    "n_kv_head": "12",
    "head_dim": "64",
    "ffn_hidden": "3072",
    "ffn_act": "gelu",
    "vocab": "50304",
    "tied_embeddings": "true",
    "params_total": "124475904",
    "seq_len": "1024",
    "precision": "bf16",
    "optimizer": "adamw",
    "global_batch_tokens": "524288",
    "micro_batch": "16",
    "act_ckpt": "none",
    "attention_impl": "flash",
    "compiled": "true",
    "framework": "PyTorch",
    "gpu": "GeForce RTX 4090",
    "n_gpus": "1",
    "dp": "1",
    "tp": "1",
    "pp": "1",
    "tokens_per_sec_per_gpu": "100000",
    "oom": "false",
    "notes": "synthetic",
}


@st.composite
def csv_files(draw: Any) -> bytes:
    """A validation table: rows mutated from a valid one (cells emptied or given junk), or a
    broken file."""
    roll = draw(st.integers(0, 19))
    if roll == 0:
        return draw(st.binary(max_size=200))
    if roll == 1:
        return b"id,gpu\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_HEADER)
    writer.writeheader()
    for i in range(draw(st.integers(1, 3))):
        row = {**CSV_ROW, "id": f"row{i}"}
        for key in draw(st.lists(st.sampled_from(CSV_HEADER), max_size=4)):
            row[key] = str(draw(weird_values)) if draw(st.booleans()) else ""
        writer.writerow(row)
    return out.getvalue().encode("utf-8", errors="replace")


def workdir() -> Path:
    """A scratch folder for one surface's files."""
    return Path(tempfile.mkdtemp(prefix="traintime-fuzz-"))
