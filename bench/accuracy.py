"""Regenerate docs/accuracy.md and src/traintime/data/band.toml from `traintime validate`.

    python bench/accuracy.py [../shared/validation/runs_dev.csv]

The report lists every row's predicted and measured throughput, the summary the tool computes,
the constant-efficiency baseline beside it (tokens/s = peak x 40% / 6N), and the error split by
GPU class. The band file holds the 10th/90th percentiles of ln(predicted / measured), which the
estimate uses as its low/high time band. Nothing here feeds measured values into predictions.
"""

from __future__ import annotations

import csv
import datetime as dt
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from traintime.catalog import find_gpu
from traintime.tables import throughput_cells
from traintime.validate import Report, RowResult, validate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "validation" / "runs_dev.csv"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _errors_by(report: Report, key: Callable[[RowResult], str]) -> dict[str, list[float]]:
    """Throughput errors of the rows in the summary, grouped by ``key``."""
    groups: dict[str, list[float]] = defaultdict(list)
    for row in report.rows:
        if row.status == "used" and row.throughput_error is not None:
            groups[key(row)].append(row.throughput_error)
    return groups


def _device_class(row: RowResult) -> str:
    try:
        return find_gpu(row.gpu).device_class
    except Exception:  # noqa: BLE001 - a row's GPU already resolved once
        return "other"


def _by_class(report: Report) -> list[str]:
    groups = _errors_by(report, _device_class)
    lines = ["| GPU class | rows | MdAPE | median signed error |", "|---|---:|---:|---:|"]
    for cls, errs in sorted(groups.items()):
        lines.append(
            f"| {cls} | {len(errs)} | {statistics.median(abs(e) for e in errs):.1%} | "
            f"{statistics.median(errs):+.1%} |"
        )
    return lines


_STACKS = (
    ("llm-foundry / Composer", ("foundry", "composer")),
    ("nanochat and forks", ("nanochat",)),
    ("llm.c", ("llm.c",)),
    ("Megatron / DeepSpeed", ("megatron", "deepspeed")),
    ("nanoGPT-style PyTorch", ("nanogpt", "pytorch")),
)


def _by_stack(report: Report, csv_path: Path) -> list[str]:
    """The error by training code base (the framework column), to show where it concentrates."""
    import csv

    with csv_path.open(newline="") as f:
        framework = {r["id"]: (r.get("framework") or "").lower() for r in csv.DictReader(f)}

    def stack(row: RowResult) -> str:
        text = framework.get(row.id, "")
        return next((name for name, keys in _STACKS if any(k in text for k in keys)), "other")

    groups = _errors_by(report, stack)
    lines = [
        "| code base | rows | MdAPE | median signed error | within +-25% |",
        "|---|---:|---:|---:|---:|",
    ]
    for stack, errs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        within = sum(abs(e) <= 0.25 for e in errs) / len(errs)
        lines.append(
            f"| {stack} | {len(errs)} | {statistics.median(abs(e) for e in errs):.1%} | "
            f"{statistics.median(errs):+.1%} | {within:.0%} |"
        )
    return ["## By code base", "", *lines, ""]


def _strict(report: Report, csv_path: Path) -> list[str]:
    """The summary without the rows whose notes flag a caveat (DOUBTFUL, LOW CONFIDENCE, ...)."""
    import csv

    with csv_path.open(newline="") as f:
        flagged = {
            r["id"]
            for r in csv.DictReader(f)
            if any(w in (r.get("notes") or "") for w in ("DOUBTFUL", "LOW CONFIDENCE", "TIER B"))
        }
    errs = [
        abs(r.throughput_error)
        for r in report.rows
        if r.status == "used" and r.throughput_error is not None and r.id not in flagged
    ]
    if not errs:
        return []
    within = sum(e <= 0.25 for e in errs) / len(errs)
    return [
        f"Without the {len(flagged)} rows the table flags as DOUBTFUL, LOW CONFIDENCE or TIER B "
        f"(whole-run averages, secondary sources): throughput MdAPE "
        f"{statistics.median(errs):.1%}, within +-25% {within:.1%} over {len(errs)} rows.",
        "",
    ]


def _fsdp(model: str, gpu: str, gpus: int, micro: int, seq: int, ckpt: str, **extra: object):
    """Estimate kwargs of a torchtitan FSDP run: SDPA, 8 GPUs per node, global batch = GPUs x
    micro-batch x sequence (torchtitan's convention), RMSNorm and rotary as tensor-op chains
    (torchtitan's `rmsnorm` norm_type and complex-number rotary; only eager runs pay for them),
    ``extra`` for compile and precision."""
    return {
        "model": model,
        "gpu": gpu,
        "gpus": gpus,
        "gpus_per_node": 8,
        "micro_batch": micro,
        "act_ckpt": ckpt,
        "zero_stage": 3,
        "attention_impl": "sdpa",
        "global_batch_tokens": gpus * micro * seq,
        "norm_kernels": "composite",
        **extra,
    }


_NANOCHAT = {"global_batch_tokens": 524288}
_NANOCHAT_RUNS = "shared/reference/nanochat.md section 5.2 (report.md of public forks)"
_A100 = "A100 SXM4 80GB"
_H100_500W = "H100 SXM 96GB HBM2e (500 W)"
_TITAN_A100 = "torchtitan docs/performance.md @0413364 (64 A100)"
_TITAN_H100 = "torchtitan docs/performance.md (Grand Teton H100), Table 1"

EXTERNAL = [
    # (label, estimate kwargs, published tokens/s/GPU, source)
    (
        "Llama 3 8B, 64 x A100 80GB, FSDP, micro-batch 1 x 8192, selective op AC",
        _fsdp("llama-3.1-8b", _A100, 64, 1, 8192, "selective-op"),
        2973,
        f"{_TITAN_A100}, Llama 3 table (selective op AC)",
    ),
    (
        "Llama 3 70B, 64 x A100 80GB, FSDP, micro-batch 1 x 8192, full AC",
        _fsdp("llama-3.1-70b", _A100, 64, 1, 8192, "full"),
        331,
        f"{_TITAN_A100}, Llama 3 table",
    ),
    (
        "Llama 2 13B, 64 x A100 80GB, FSDP, micro-batch 2 x 4096, no AC",
        _fsdp("llama-2-13b", _A100, 64, 2, 4096, "none"),
        2162,
        f"{_TITAN_A100}, Llama 2 table",
    ),
    (
        "Llama 2 13B, 64 x A100 80GB, FSDP, micro-batch 2 x 4096, selective op AC",
        _fsdp("llama-2-13b", _A100, 64, 2, 4096, "selective-op"),
        1904,
        f"{_TITAN_A100}, Llama 2 table (selective op AC)",
    ),
    (
        "Llama 2 70B, 64 x A100 80GB, FSDP, micro-batch 1 x 4096, selective op AC",
        _fsdp("llama-2-70b", _A100, 64, 1, 4096, "selective-op"),
        355,
        f"{_TITAN_A100}, Llama 2 table (selective op AC)",
    ),
    (
        "Llama 2 70B, 64 x A100 80GB, FSDP, micro-batch 2 x 4096, full AC",
        _fsdp("llama-2-70b", _A100, 64, 2, 4096, "full"),
        353,
        f"{_TITAN_A100}, Llama 2 table",
    ),
    (
        "Llama 3.1 8B, 8 x H100 96GB (500 W), FSDP, micro-batch 2 x 8192, selective op AC",
        _fsdp("llama-3.1-8b", _H100_500W, 8, 2, 8192, "selective-op", compiled=False),
        5762,
        _TITAN_H100,
    ),
    (
        "the same, torch.compile",
        _fsdp("llama-3.1-8b", _H100_500W, 8, 2, 8192, "selective-op", compiled=True),
        6667,
        f"{_TITAN_H100} (+ torch.compile)",
    ),
    (
        "the same, torch.compile + Float8",
        _fsdp(
            "llama-3.1-8b", _H100_500W, 8, 2, 8192, "selective-op", compiled=True, precision="fp8"
        ),
        8532,
        f"{_TITAN_H100} (+ Float8)",
    ),
    (
        "nanochat d20 (Oct 2025), 1 x RTX 5090, micro-batch 8, SDPA, compiled",
        {"model": "nanochat-d20", "gpu": "5090", "micro_batch": 8, **_NANOCHAT},
        47700,
        f"{_NANOCHAT_RUNS}, row C2",
    ),
    (
        "nanochat d10 (Oct 2025), 1 x RTX 5090, micro-batch 8, SDPA, compiled",
        {"model": "nanochat-d10", "gpu": "5090", "micro_batch": 8, **_NANOCHAT},
        227800,
        f"{_NANOCHAT_RUNS}, row C3",
    ),
    (
        "nanochat d12 (2026, SSSL windows), 1 x RTX PRO 3000 Blackwell Laptop, seq 1024, "
        "micro-batch 4, SDPA",
        {
            "model": "nanochat-2026-d12",
            "gpu": "RTX PRO 3000 Blackwell Laptop",
            "micro_batch": 4,
            "seq_len": 1024,
            "attention_impl": "sdpa",
            **_NANOCHAT,
        },
        49700,
        f"{_NANOCHAT_RUNS}, row C10",
    ),
]


def _external() -> list[str]:
    """Published runs outside the validation table, predicted the same way (never fitted)."""
    import traintime

    lines = [
        "## Independent checks (runs not in the validation table)",
        "",
        "| run | predicted tok/s/GPU | published | error | source |",
        "|---|---:|---:|---:|---|",
    ]
    for label, kwargs, published, source in EXTERNAL:
        kw = dict(kwargs)
        est = traintime.estimate(kw.pop("model"), kw.pop("gpu"), tokens="1B", **kw)
        pred = est.throughput.tokens_per_sec_per_gpu
        lines.append(
            f"| {label} | {pred:,.0f} | {published:,} | {pred / published - 1:+.0%} | {source} |"
        )
    return [*lines, ""]


_RASCHKA = (
    "rasbt/LLMs-from-scratch ch05/10_llm-training-speed/README.md @0636158, steps 8-10 "
    "(01_opt_single_gpu.py: untied GPT-2 124M shape, dropout 0.1, bf16, torch.compile, SDPA)"
)
ALIGNMENT = [
    # (label, vocabulary, micro-batch, published tokens/s)
    ("step 8: vocabulary 50,257, batch 8", 50257, 8, 112046),
    ("step 9: vocabulary 50,304, batch 8", 50304, 8, 127345),
    ("step 10: vocabulary 50,304, batch 32", 50304, 32, 142156),
]


def _alignment() -> list[str]:
    """A measured ladder on one A100: padding the vocabulary to a multiple of 64 (engine.device
    alignment) and a larger batch. The published rate includes an evaluation and two
    DataLoader restarts every 10 steps, so the level sits above it; the ratios are the check."""
    import traintime
    from traintime.catalog import find_model

    lines = [
        "## Vocabulary alignment (one A100, measured ladder)",
        "",
        f"Source: {_RASCHKA}. Its tokens/s are timed over 10 steps that also run an evaluation "
        "and restart two 4-worker DataLoaders, so every level is predicted too fast; what this "
        "checks is the step-to-step ratio.",
        "",
        "| step | predicted tok/s | published | error | predicted ratio | published ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    previous: tuple[float, int] | None = None
    for label, vocab, micro, published in ALIGNMENT:
        spec = find_model("gpt2-124m").model_copy(update={"vocab": vocab, "tied_embeddings": False})
        est = traintime.estimate(
            spec,
            "A100 SXM4 40GB",
            tokens="1B",
            micro_batch=micro,
            global_batch_tokens=micro * 1024,
            compiled=True,
            attention_impl="sdpa",
            dropout=0.1,
        )
        pred = est.throughput.tokens_per_sec_per_gpu
        ratios = ("-", "-")
        if previous is not None:
            ratios = (f"{pred / previous[0]:.2f}x", f"{published / previous[1]:.2f}x")
        lines.append(
            f"| {label} | {pred:,.0f} | {published:,} | {pred / published - 1:+.0%} | "
            f"{ratios[0]} | {ratios[1]} |"
        )
        previous = (pred, published)
    return [*lines, ""]


_FOUNDRY = (
    "llm-foundry scripts/train/benchmarking/README.md @061f2c7, tables 'H100 80GB BF16' and "
    "'A100 40GB with 1600 Gbps node-node interconnect (RoCE)' (the rows at other GPU counts "
    "than runs_dev.csv's)"
)
# The same model from one node to many, at seq 2048: (label, table, model)
SCALING = [
    ("MPT-13B, H100", "H100 80GB BF16", "13b"),
    ("MPT-1B, H100", "H100 80GB BF16", "1b"),
    ("MPT-7B, A100 40GB", "A100 40GB with 1600 Gbps node-node interconnect (RoCE)", "7b"),
]


FOUNDRY_CELLS = ROOT / "bench" / "llm_foundry_tables.csv"
# d_model, n_heads, n_layers of scripts/train/yamls/pretrain/mpt-<model>.yaml @061f2c7 (MPT:
# GELU MLP 4x, biases, learned positions, tied 50,368-token vocabulary)
MPT_SHAPES = {
    "125m": (768, 12, 12),
    "350m": (1024, 16, 24),
    "760m": (1536, 12, 24),
    "1b": (2048, 16, 24),
    "3b": (2560, 20, 32),
    "7b": (4096, 32, 32),
    "13b": (5120, 40, 40),
    "30b": (7168, 56, 48),
    "70b": (8192, 64, 80),
}
_FOUNDRY_GPUS = {
    "h100_80gb": "H100 SXM5 80GB",
    "a100_80gb": "A100 SXM4 80GB",
    "a100_40gb": "A100 SXM4 40GB",
}


def _foundry_cells() -> list[dict[str, str]]:
    with FOUNDRY_CELLS.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _foundry_row(cell: dict[str, str]) -> dict[str, str]:
    """A validation-schema row for one llm-foundry benchmark cell (configuration only)."""
    d, heads, layers = MPT_SHAPES[cell["model"]]
    seq, gpus = int(cell["seq_len"]), int(cell["n_gpus"])
    micro, accum = int(cell["micro_batch"]), int(cell["grad_accum"])
    return {
        "id": f"{cell['table']} {cell['model']} T={seq} x{gpus}",
        "n_layer": str(layers),
        "d_model": str(d),
        "n_head": str(heads),
        "n_kv_head": str(heads),
        "head_dim": str(d // heads),
        "ffn_hidden": str(4 * d),
        "ffn_act": "gelu",
        "vocab": "50368",
        "tied_embeddings": "true",
        "extra_embed_params": str(seq * d),
        "params_total": cell["num_params"],
        "seq_len": str(seq),
        "precision": cell["precision"].removeprefix("amp_"),
        "optimizer": "adamw",
        "global_batch_tokens": str(micro * accum * gpus * seq),
        "micro_batch": str(micro),
        "act_ckpt": "full" if cell["act_ckpt"] == "True" else "none",
        "attention_impl": "flash",
        "compiled": "false",
        "framework": "llm-foundry / Composer (PyTorch FSDP"
        + (", flash-attn 2.4.2)" if cell["attn_impl"] == "flash" else ")"),
        "gpu": _FOUNDRY_GPUS[cell["gpu"]],
        "n_gpus": str(gpus),
        "gpus_per_node": str(min(gpus, 8)),
        "dp": str(gpus),
        "tp": "1",
        "pp": "1",
        "cp": "1",
        "zero_stage": "3" if cell["sharding"] == "FULL_SHARD" else "2",
    }


def _foundry_tables(csv_path: Path) -> list[str]:
    """Every cell of the four llm-foundry tables runs_dev.csv samples from, predicted the same
    way: a check that what fits the sampled cells also fits the ones left out."""
    from traintime.validate import predict_row, read_rows

    in_dev = {
        float(r["tokens_per_sec_per_gpu"])
        for r in read_rows(csv_path)
        if r["id"].startswith("foundry-") and r.get("tokens_per_sec_per_gpu")
    }
    cells = _foundry_cells()
    by_table: dict[str, list[tuple[float, bool]]] = {}
    for cell in cells:
        measured = float(cell["tokens_per_sec_per_gpu"])
        predicted = predict_row(_foundry_row(cell)).tokens_per_sec_per_gpu
        by_table.setdefault(cell["table"], []).append(
            (predicted / measured - 1, measured in in_dev)
        )
    lines = [
        "## Every llm-foundry benchmark cell",
        "",
        f"All {len(cells)} throughput cells of llm-foundry's benchmark tables (its "
        "scripts/train/benchmarking/README.md: four tables at 061f2c7, October 2023, and the "
        "large-scale H100 table added in January 2024, as printed at 8c8dd48; copied in "
        "bench/llm_foundry_tables.csv), predicted from their configuration like any row, with "
        "the attention kernel each sweep script ran: FlashAttention in Triton (`triton`) for "
        "the 2023 tables, flash-attn 2.4.2 for the large-scale 1B/3B/7B/70B runs. runs_dev.csv "
        "holds 19 of these cells; the last columns leave them out.",
        "",
        "| table | cells | MdAPE | within +-25% | median signed error | cells not in runs_dev | "
        "their MdAPE | their within +-25% |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for table, errors in by_table.items():
        every = [e for e, _ in errors]
        new = [e for e, dev in errors if not dev]
        lines.append(
            f"| {table} | {len(every)} | {_pct(_median_abs(every))} | {_pct(_within(every))} | "
            f"{statistics.median(every):+.1%} | {len(new)} | {_pct(_median_abs(new))} | "
            f"{_pct(_within(new))} |"
        )
    return [*lines, ""]


def _median_abs(errors: list[float]) -> float | None:
    return statistics.median(abs(e) for e in errors) if errors else None


def _within(errors: list[float]) -> float | None:
    return sum(abs(e) <= 0.25 for e in errors) / len(errors) if errors else None


def _scaling() -> list[str]:
    """Per-GPU throughput of the same model from one node to many: llm-foundry measured it flat,
    which a ring per NIC reproduces and one GPU's NIC share would not."""
    from traintime.validate import predict_row

    lines = [
        "## Scaling across nodes (same tables, other GPU counts)",
        "",
        "| model | GPUs | micro-batch x accumulation | predicted tok/s/GPU | published | error |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    cells = _foundry_cells()
    for label, table, model in SCALING:
        chosen = [
            c
            for c in cells
            if c["table"] == table and c["model"] == model and c["seq_len"] == "2048"
        ]
        for cell in sorted(chosen, key=lambda c: int(c["n_gpus"])):
            published = float(cell["tokens_per_sec_per_gpu"])
            pred = predict_row(_foundry_row(cell)).tokens_per_sec_per_gpu
            lines.append(
                f"| {label} | {cell['n_gpus']} | {cell['micro_batch']} x {cell['grad_accum']} | "
                f"{pred:,.0f} | {published:,.0f} | {pred / published - 1:+.0%} |"
            )
    return [
        *lines,
        "",
        f"Source: {_FOUNDRY}. Per-GPU throughput barely moves from 8 GPUs (one node) to 64 or "
        "128 (FSDP gathering and reducing every parameter across all of them every step). The "
        "model keeps it flat because a ring that spans nodes runs one channel per NIC (bus "
        "bandwidth up to the node's whole NIC bandwidth, as nccl-tests measures); charging "
        "each GPU only its own NIC share, as earlier versions did, predicted MPT-13B on 64 H100s "
        "at 1,812 tokens/s/GPU, 62% below the measurement. What is left is the same "
        "over-prediction at every scale, on the compute side.",
        "",
    ]


def _rows(report: Report) -> list[str]:
    lines = [
        "| run | GPU | GPUs | predicted tok/s/GPU | measured | error | baseline error | status |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in report.rows:
        pred, meas, err = throughput_cells(r)
        base = "-"
        if r.baseline_tokens_per_sec_per_gpu and r.measured_tokens_per_sec_per_gpu:
            base = (
                f"{r.baseline_tokens_per_sec_per_gpu / r.measured_tokens_per_sec_per_gpu - 1:+.0%}"
            )
        status = r.status if r.status != "skipped" else f"skipped: {r.reason}"
        if r.assumed:
            status += f" (assumed {', '.join(r.assumed)})"
        lines.append(
            f"| {r.id} | {r.gpu} | {r.n_gpus or '-'} | {pred} | {meas} | {err} | "
            f"{base} | {status} |"
        )
    return lines


def write_report(report: Report, path: Path, source: str, csv_path: Path) -> None:
    s = report.summary
    ratio = (
        s.baseline_throughput_mdape / s.throughput_mdape
        if s.baseline_throughput_mdape and s.throughput_mdape
        else None
    )
    text = [
        "# Accuracy on published training runs",
        "",
        f"Generated by `python bench/accuracy.py` from `traintime validate {source}` on "
        f"{dt.date.today().isoformat()}. Do not edit by hand.",
        "",
        "Each run is predicted from its configuration columns only (model, sequence, precision, "
        "batch, checkpointing, attention kernel, framework, GPU, layout); measured columns are "
        "read only to compare. One set of physical constants (`src/traintime/data/"
        "efficiency.toml`, `ceilings.toml`) serves every row.",
        "",
        "## Summary",
        "",
        "| metric | traintime | constant-efficiency baseline (peak x 40% / 6N) | target |",
        "|---|---:|---:|---:|",
        f"| throughput MdAPE | {_pct(s.throughput_mdape)} | {_pct(s.baseline_throughput_mdape)} "
        f"| <= 12% |",
        f"| rows within +-25% | {_pct(s.throughput_within_25)} | {_pct(s.baseline_within_25)} "
        f"| >= 80% |",
        f"| peak-memory MdAPE | {_pct(s.memory_mdape)} | - | <= 12% |",
        f"| fit / OOM accuracy | {_pct(s.oom_accuracy)} | - | 100% |",
        "",
        f"Rows: {s.n_throughput} with throughput in the summary, {s.n_skipped} skipped (reason "
        f"below), {s.n_unreliable} marked unreliable by the table (shown, not counted), "
        f"{s.n_rows} in all. Baseline / traintime MdAPE ratio: "
        f"{'n/a' if ratio is None else f'{ratio:.2f}x'}.",
        "",
        "Band used for time estimates: 10th-90th percentile of predicted/measured throughput "
        f"= {s.log_ratio_p10:+.3f} .. {s.log_ratio_p90:+.3f} in ln units.",
        "",
        *_strict(report, csv_path),
        "## By GPU class",
        "",
        *_by_class(report),
        "",
        *_by_stack(report, csv_path),
        *_external(),
        *_alignment(),
        *_foundry_tables(csv_path),
        *_scaling(),
        "## Where the model misses, and why we think so",
        "",
        "- **llm-foundry ran FlashAttention written in Triton.** Its pretraining yamls set "
        "`attn_impl: triton` and its benchmarking script (submit_benchmarks.py) defaults to it; "
        "sweep.sh, which produced the tables, passes no --attn_impl (llm-foundry @061f2c7; the "
        "yamls dropped it in c26309de5, March 2024). The validation schema files that kernel "
        "under `flash`; `validate` reads llm-foundry / Composer rows as `triton` and times it "
        "from the FlashAttention-2 paper's own comparison (FA2 is 1.3-1.5x faster forward and "
        "about 2x faster backward than FlashAttention in Triton, Dao 2023 section 4.1), no "
        "constant fitted to these rows. That took llm-foundry from MdAPE 28.7% to 19.5% (the "
        "A100 tables to +3..+15%, MPT-7B scaling on A100 to +2..+5%) and the whole table "
        "from 15.3% to 13.4%. One exception the columns cannot show: foundry-01, -03 and -04 "
        "come from the large-scale table added in January 2024, whose sweep.py (llm-foundry "
        "5e85bd62d) ran flash-attn 2.4.2 for those models; validate times them as Triton like "
        "every llm-foundry row whose framework names no kernel. Timed as FA2 they move to "
        "+25%, +47% and +55% and the summary stays at the same MdAPE and share within "
        "+-25%. The large-scale table as a whole is the worst-predicted set we have (above).",
        "- **GEMMs run slower for hours than in a benchmark.** Catalog ceilings come from short "
        "benchmarks (MAMF, torch GEMM sweeps) on a cool GPU; training holds the tensor cores at "
        "the power limit for hours. Azure's steady-state cuBLASLt sweep (random data, 10,000 "
        "warm-up iterations; github.com/Azure/AI-benchmarking-guide, ND A100 v4) sustains "
        "253.7 TFLOPS at 8192^3 on A100 80GB where a short torch benchmark of the same shape "
        "reaches 264.5, so the model runs every GEMM at 0.96 of its catalog ceiling (on B200 "
        "the same throttling costs 15% within 100 back-to-back iterations, flashinfer PR "
        "#2899). The constant comes from that pair of measurements, not from this table; it "
        "moved the throughput MdAPE from 13.0% to 10.3%, the GeForce median error from +3.7% "
        "to +0.8% and the datacenter median from +13.3% to +9.7%.",
        "- **Datacenter GPUs are still predicted too fast**, most on H100 (median signed error "
        "above): llm-foundry's 2023 H100 table at a median +15% and its 2024 large-scale "
        "table (128-512 H100s) at +29%, torchtitan's H100 checks at +17..+21%, nanochat and "
        "llm.c at +3..+15%, against -8..+8% for the same code bases on A100 (llm-foundry's "
        "A100 tables: median +2.0% and +1.2% over 139 cells). The same llm-foundry code on "
        "the same model sizes is predicted within a few percent on A100 and 15-30% too fast "
        "on H100, so what is missing is on the H100 side. What multi-GPU H100 training loses "
        "beyond the kernels we model (clocks "
        "with HBM and NVLink busy at the same time as the tensor cores, NCCL kernels holding "
        "SMs longer than their transfers, attention at other head sizes than the 128 it is "
        "calibrated at) has no published measurement we could use.",
        "- **Communication behind compute is not free**: collectives that overlap compute slow "
        "it (NCCL holds SMs and memory bandwidth); the model charges the published average, "
        "18.9% of the overlapped time (Lee et al. 2025, arXiv:2507.03114), to DDP, ZeRO-2 and "
        "FSDP runs. Adding it lowered the throughput MdAPE on this table from 16.9% to 14.9% "
        "(rows within +-25%: 61.8% to 70.9%) and moved the two torchtitan A100 FSDP checks "
        "then in the report from -1% and +3% to about -10% (under the per-GPU NIC share of "
        "that time): one average cannot be right for every overlap (it "
        "depends on how many SMs NCCL takes and on how the GEMMs' waves fit the SMs left).",
        "- **Across nodes, a ring runs one channel per NIC.** Rings that span nodes are charged "
        "the NIC bandwidth of the group's GPUs in one node (capped by NVLink), as nccl-tests "
        "measures (85-96 of 100 GB/s on 8 x A100 with 4 x HDR, nccl-tests issue #119), not one "
        "GPU's NIC share. Earlier versions charged the share: that fitted this table better "
        "(MdAPE 14.7% against 16.0% with this change alone) because the too-slow network hid "
        "the compute gap of multi-node datacenter rows, but it predicted the llm-foundry "
        "scaling above wrong by up to 62% and the six torchtitan A100 checks at -10..-53%; the "
        "change moved them to +18..+27% (the table above has them now), the same offset as the "
        "single-node H100 checks. We keep the measured physics.",
        "- **Selective checkpointing means two things.** Megatron and nanochat-style "
        "`selective` recomputes the attention core (Korthikanti et al. 2022); torchtitan's "
        "default op-level policy saves the attention output and every other matmul output and "
        "recomputes the rest. The model has both (`selective`, `selective-op`), and `validate` "
        "reads a torchtitan row's `selective` as the latter. Under the Megatron reading Llama 2 "
        "70B at micro-batch 1 on 80 GB was predicted not to fit although it ran; under "
        "torchtitan's it fits.",
        "- **Consumer cards are predicted well** (nanochat and its forks, torch.compile, one GPU).",
        "- **Attention on Blackwell**: the 8xB200 nanochat run used SDPA with a sliding-window "
        "mask (no Blackwell-native kernel at the time) and was slower than 8xH100. Kernels "
        "written before Blackwell are bound by exponential units and shared memory that "
        "Blackwell did not grow per SM (FlashAttention-4, arXiv:2603.05451), so the model runs "
        "them at Hopper's rate per SM-clock there: that row went from +66% to +8%.",
        "- **Outliers with a known cause**: the "
        "M4 Max row is a 12-step test including MPS warm-up; the TITAN Xp and A100-DDP rows mix "
        "evaluation or unknown attention paths into the measurement; whole-run averages (MPT-7B, "
        "StarCoderBase, BLOOM) include restarts and evaluation.",
        "",
        "## Every row",
        "",
        *_rows(report),
        "",
    ]
    path.write_text("\n".join(text), encoding="utf-8")


def write_band(report: Report, path: Path, source: str) -> None:
    s = report.summary
    path.write_text(
        "# Uncertainty band of the time estimate, from the model's own validation error: the 10th\n"
        "# and 90th percentiles of ln(predicted / measured throughput) over the reliable rows.\n"
        "# Regenerated by bench/accuracy.py (do not edit by hand).\n"
        f"log_ratio_p10 = {s.log_ratio_p10:.4f}\n"
        f"log_ratio_p90 = {s.log_ratio_p90:.4f}\n"
        f"n_rows = {s.n_throughput}\n"
        f'source = "traintime validate on {source} ({s.n_throughput} runs), '
        f'{dt.date.today().isoformat()}: see docs/accuracy.md"\n',
        encoding="utf-8",
    )


def main() -> None:
    csv_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    report = validate(csv_path)
    source = (
        "shared/validation/" + csv_path.name
        if csv_path.parent.name == "validation"
        else str(csv_path)
    )
    write_report(report, ROOT / "docs" / "accuracy.md", source, csv_path)
    write_band(report, ROOT / "src" / "traintime" / "data" / "band.toml", source)
    s = report.summary
    print(
        f"throughput MdAPE {_pct(s.throughput_mdape)}, within 25% "
        f"{_pct(s.throughput_within_25)}, baseline {_pct(s.baseline_throughput_mdape)}"
    )


if __name__ == "__main__":
    main()
