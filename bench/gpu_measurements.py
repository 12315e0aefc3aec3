"""The one prepared measurement script for a session with a CUDA GPU (under ten minutes).

    python bench/gpu_measurements.py [--device cuda|cpu] [--budget-s 480] [--out DIR] [--smoke]

What it does, in order:

1. Records the device (``probe.run.device_info``) and runs the micro-benchmarks
   (``probe.micro.run_micro``, non-quick), saved with the model's value beside each as
   ``<slug>-micro.json``.
2. Trains real models for a few timed steps (``probe.run.measure_model``): nanochat at
   several depths, the 2026 nanochat family, and Llama-style models, across micro-batches and
   checkpointing modes. An out-of-memory probe is a row with ``oom = true`` and no throughput;
   any other failure is reported and is no row. Once the elapsed time passes ``--budget-s`` the
   remaining probes are skipped, and a probe the uncalibrated model expects to cross it is
   skipped alone; both are said in the summary.
3. Writes every probe as a row of the validation schema (shared/validation/README.md) to
   ``<slug>.csv``: ``kind = measured``, ``peak_mem_kind = allocated`` (CUDA
   ``max_memory_allocated`` of the timed steps), the architecture from the ModelSpec and
   ``params_total`` from ``engine.params.count_params``.
4. Runs ``traintime validate`` on that CSV, fits the device calibration on the measurements
   already taken (``calibration.fit``; nothing is measured twice), stores it
   (``catalog.calibrations.save``) and writes it as an importable export
   (``<slug>-calibration.json``, ``traintime calibrate --import``), then predicts every row
   uncalibrated and calibrated (``calibration.predict``) and writes ``<slug>.md``: measured
   against predicted per row, the MdAPE before and after, the fitted factors. The summary is
   printed too.

``--smoke`` is a tiny sweep (nanochat-d2 at seq 64, micro-batches 1 and 2, two steps, quick
micro-benchmarks) so the script runs in seconds on a CPU; the test runs it so.

The framework cell of nanochat rows says ``(nanochat architecture)``: the probe's nanochat is
nanochat's model (parameter-free norms, QK norm, logit soft-cap, fp32 weights with bf16
embeddings) and validate reads those facts from the word ``nanochat`` in that cell.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import json
import math
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traintime import calibration, catalog
from traintime.catalog import calibrations as store
from traintime.engine.params import count_params
from traintime.errors import TraintimeError
from traintime.measured import CalibrationRecord, DeviceInfo, Measurement, ModelMeasurement
from traintime.probe import run
from traintime.results import Estimate
from traintime.specs import DeviceCalibration, GpuSpec, ModelSpec
from traintime.units import GIB
from traintime.validate import Report, validate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "traintime" / "data" / "measurements"
SCRIPT = "bench/gpu_measurements.py"
#: Warm-up steps run_model_probe takes before the timed ones (its default).
WARMUP = 2

#: The validation schema's columns in the order of shared/validation/README.md and its tables
#: (``runs_dev.csv``): identity, architecture, sequence and numerics, batch and memory-saving
#: settings, hardware and parallelism, observations, notes, then the MoE/config columns.
COLUMNS: tuple[str, ...] = (
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
)

#: ffn_act values the schema has; anything else is ``other`` and the notes name it.
SCHEMA_ACTS = ("gelu", "swiglu", "relu2", "geglu")


@dataclass(frozen=True)
class Probe:
    model: str
    micro_batch: int
    seq_len: int
    act_ckpt: str


#: The GPU sweep, cheapest first so the budget guard keeps the most: nanochat at three depths
#: (d12 across micro-batches and both checkpointing modes), the 2026 nanochat family, and
#: Llama-style models (Qwen3-0.6B, Llama 3.2 1B and 3B). The small settings fit a 12 GB card;
#: the large ones run out of memory on 12-24 GB cards (and the last, the model expects, on
#: 141 GB), which is validation data too. About a minute of steps on an H200 by the model.
GPU_SWEEP: tuple[Probe, ...] = (
    Probe("nanochat-d6", 1, 2048, "none"),
    Probe("nanochat-d6", 2, 2048, "full"),
    Probe("nanochat-d6", 4, 2048, "none"),
    Probe("nanochat-d6", 8, 2048, "none"),
    Probe("nanochat-d12", 2, 2048, "full"),
    Probe("nanochat-d12", 4, 2048, "none"),
    Probe("nanochat-d12", 8, 2048, "none"),
    Probe("nanochat-d12", 8, 2048, "full"),
    Probe("nanochat-d12", 16, 2048, "full"),
    Probe("nanochat-2026-d12", 8, 2048, "none"),
    Probe("nanochat-d20", 8, 2048, "none"),
    Probe("nanochat-d20", 16, 2048, "full"),
    Probe("qwen3-0.6b", 4, 2048, "none"),
    Probe("llama-3.2-1b", 2, 2048, "none"),
    Probe("llama-3.2-1b", 4, 2048, "full"),
    Probe("llama-3.2-1b", 8, 2048, "none"),
    Probe("llama-3.2-3b", 2, 2048, "full"),
    Probe("nanochat-d20", 32, 2048, "none"),
)
#: On a CPU without --smoke: the sweep ``traintime calibrate`` runs there.
CPU_SWEEP: tuple[Probe, ...] = tuple(Probe(*p) for p in run.SWEEPS["cpu"])
SMOKE_SWEEP: tuple[Probe, ...] = (
    Probe("nanochat-d2", 1, 64, "none"),
    Probe("nanochat-d2", 2, 64, "none"),
)


@dataclass
class Outcome:
    """One probe: measured, out of memory, failed, or skipped (``reason`` says why)."""

    probe: Probe
    spec: ModelSpec | None = None
    settings: dict[str, str] = field(default_factory=dict)
    measurement: ModelMeasurement | None = None
    oom: bool = False
    reason: str = ""
    seconds: float = 0.0
    row_id: str = ""

    @property
    def row(self) -> bool:
        """Whether the probe is a row of the table (measured, or out of memory)."""
        return self.measurement is not None or self.oom


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def device_slug(info: DeviceInfo, gpu: GpuSpec) -> str:
    """The file stem: the catalog GPU's name; the CPU's own name for the host CPU."""
    return slug(f"cpu {info.name}" if info.kind == "cpu" else gpu.name)


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _gib(nbytes: float | None) -> float | None:
    return None if nbytes is None else nbytes / GIB


# --- measuring ---------------------------------------------------------------------------------


def save_micro(
    path: Path, info: DeviceInfo, gpu: GpuSpec, measurements: list[Measurement], quick: bool
) -> None:
    """The micro-benchmarks beside the model's value for each (``probe.run.MicroReport``)."""
    mach = calibration.machine(gpu)
    rows = []
    for m in measurements:
        value = calibration.model_value(m, mach)
        rows.append(
            run.MicroRow(measurement=m, model_value=value, ratio=m.value / value if value else None)
        )
    report = run.MicroReport(device=info, gpu=gpu.name, rows=rows)
    doc = {
        "script": SCRIPT,
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "quick": quick,
        **json.loads(report.model_dump_json()),
    }
    _write_text(path, json.dumps(doc, indent=1) + "\n")


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "cublas_status_alloc_failed" in text
    )


def _free_device() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _projected_s(
    probe: Probe, spec: ModelSpec, settings: dict[str, str], gpu: GpuSpec, steps: int
) -> float:
    """What the uncalibrated model expects the probe to take, with a safety factor of 3."""
    question = _stand_in(probe, settings, steps)
    try:
        step = calibration.predict(question, spec, gpu, None).throughput.step_time_s
    except TraintimeError:
        return 0.0
    return 3.0 * step * (steps + WARMUP)


def _stand_in(probe: Probe, settings: dict[str, str], steps: int) -> ModelMeasurement:
    """A probe's settings as calibration.predict reads them, for a run with no timing (out of
    memory, or not run yet): ``probe_question`` reads only the settings, never the times."""
    return ModelMeasurement(
        model=probe.model,
        param_count=0,
        micro_batch=probe.micro_batch,
        seq_len=probe.seq_len,
        steps=steps,
        act_ckpt=probe.act_ckpt,
        compiled=False,
        step_time_s=1.0,
        tokens_per_s=1.0,
        **settings,
    )


def run_probes(
    sweep: tuple[Probe, ...],
    info: DeviceInfo,
    gpu: GpuSpec,
    *,
    steps: int,
    budget_s: float,
    start: float,
    say: Any = print,
) -> list[Outcome]:
    """Every probe of ``sweep``, each guarded: out of memory is an outcome, any other failure
    too; the budget stops the sweep."""
    outcomes: list[Outcome] = []
    for i, probe in enumerate(sweep):
        elapsed = time.monotonic() - start
        if elapsed > budget_s:
            why = f"skipped: {elapsed:.0f} s elapsed passed the {budget_s:.0f} s budget"
            outcomes += [Outcome(probe=rest, reason=why) for rest in sweep[i:]]
            say(f"budget: {why}; {len(sweep) - i} probe(s) not run")
            break
        out = Outcome(probe=probe)
        outcomes.append(out)
        try:
            out.spec = catalog.find_model(probe.model)
        except TraintimeError as exc:
            out.reason = f"failed: {_one_line(exc)}"
            say(f"{probe.model}: {out.reason}")
            continue
        out.settings = run.recipe_defaults(out.spec)
        projected = _projected_s(probe, out.spec, out.settings, gpu, steps)
        if elapsed + projected > budget_s:
            out.reason = (
                f"skipped: expected about {projected:.0f} s (3x the uncalibrated model) after "
                f"{elapsed:.0f} s elapsed, past the {budget_s:.0f} s budget"
            )
            say(f"{_label(probe)}: {out.reason}")
            continue
        t0 = time.monotonic()
        try:
            out.measurement = run.measure_model(
                spec=out.spec,
                info=info,
                micro_batch=probe.micro_batch,
                seq_len=probe.seq_len,
                steps=steps,
                act_ckpt=probe.act_ckpt,
                compiled=False,
                **out.settings,
            )
        except Exception as exc:  # noqa: BLE001 - one probe's failure is reported, not fatal
            if _is_oom(exc):
                out.oom = True
                out.reason = f"out of memory: {_one_line(exc, 300)}"
            else:
                out.reason = f"failed: {type(exc).__name__}: {_one_line(exc)}"
        finally:
            _free_device()
        out.seconds = time.monotonic() - t0
        m = out.measurement
        result = (
            f"{m.tokens_per_s:,.0f} tokens/s, step {m.step_time_s * 1e3:.1f} ms"
            if m is not None
            else out.reason
        )
        say(f"{_label(probe)}: {result} ({out.seconds:.1f} s)")
    return outcomes


def _label(p: Probe) -> str:
    return f"{p.model} mb={p.micro_batch} seq={p.seq_len} ckpt={p.act_ckpt}"


# --- the table ---------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _step_stats(m: ModelMeasurement) -> str:
    times = m.step_times_s or [m.step_time_s]
    spread = statistics.stdev(times) if len(times) > 1 else 0.0
    return (
        f"step time over {len(times)} timed steps after {WARMUP} warm-up: median "
        f"{m.step_time_s * 1e3:.2f} ms, mean {statistics.fmean(times) * 1e3:.2f} ms, min "
        f"{min(times) * 1e3:.2f} ms, max {max(times) * 1e3:.2f} ms, stdev {spread * 1e3:.2f} ms"
    )


def table_row(
    out: Outcome, info: DeviceInfo, gpu: GpuSpec, *, date: str, device: str
) -> dict[str, str]:
    """One probe as a row of the validation schema."""
    spec, probe, m = out.spec, out.probe, out.measurement
    assert spec is not None
    params = count_params(spec)
    window = spec.short_window_at(probe.seq_len) if spec.window_pattern else None
    if window is not None and window >= probe.seq_len:
        window = None
    notes: list[str] = []
    if window is not None:
        # validate reads the pattern from the notes: it comes first
        last = "; last layer full" if spec.last_layer_full else ""
        notes.append(f"window pattern {spec.window_pattern}{last}")
    if m is None:
        notes.append(f"out of memory during the probe's steps ({out.reason})")
    precision = out.settings.get("precision")
    numerics = "bf16 autocast over fp32 weights" if precision == "bf16" else f"{precision}"
    notes.append(
        f"traintime probe of the catalog preset {spec.name}: random tokens, one micro-batch of "
        f"{probe.micro_batch} x {probe.seq_len} tokens per optimizer step, optimizer "
        f"{out.settings.get('optimizer')}, {numerics}, eager (not compiled), attention through "
        "torch scaled_dot_product_attention"
    )
    if spec.ffn_act not in SCHEMA_ACTS:
        notes.append(f"ffn_act {spec.ffn_act}")
    if m is not None:
        notes.append(_step_stats(m))
        if m.peak_allocated_bytes is not None:
            reserved = _gib(m.peak_reserved_bytes)
            notes.append(
                f"peak memory of the timed steps: max_memory_allocated "
                f"{_gib(m.peak_allocated_bytes):.3f} GiB"
                + (f", max_memory_reserved {reserved:.3f} GiB" if reserved is not None else "")
            )
        elif m.resident_bytes is not None:
            notes.append(
                f"process peak resident set {_gib(m.resident_bytes):.3f} GiB (not a schema "
                "memory kind, so peak_mem_gib is empty)"
            )
        if m.param_count != params.total:
            notes.append(f"the probe's model has {m.param_count:,} parameters")
    notes.append(
        f"device {info.name}; driver {info.driver or 'n/a'}; runtime {info.runtime or 'n/a'}; "
        f"torch {info.torch or 'n/a'}"
    )
    allocated = _gib(m.peak_allocated_bytes) if m is not None else None
    attention = "sdpa"
    family = "nanochat" in spec.family
    framework = f"traintime-probe torch {info.torch}" + (
        " (nanochat architecture)" if family else ""
    )
    n_head = spec.n_head
    values: dict[str, object] = {
        "id": out.row_id,
        "source": f"traintime probe, {SCRIPT}, {date}, {device}",
        "kind": "measured",
        "model": f"{spec.name} (traintime probe model)",
        "n_layer": spec.n_layer,
        "d_model": spec.d_model,
        "n_head": n_head,
        "n_kv_head": spec.n_kv_head or n_head,
        "head_dim": spec.head_dim or spec.d_model // n_head,
        "ffn_hidden": spec.ffn_hidden,
        "ffn_act": spec.ffn_act if spec.ffn_act in SCHEMA_ACTS else "other",
        "vocab": spec.vocab,
        "tied_embeddings": spec.tied_embeddings,
        "extra_embed_params": params.position + params.value_embeds,
        "params_total": params.total,
        "seq_len": probe.seq_len,
        "attn_window": window,
        "precision": out.settings.get("precision"),
        "optimizer": out.settings.get("optimizer"),
        "global_batch_tokens": probe.micro_batch * probe.seq_len,
        "micro_batch": probe.micro_batch,
        "act_ckpt": probe.act_ckpt,
        "attention_impl": attention,
        "compiled": False,
        "framework": framework,
        "gpu": gpu.name,
        "n_gpus": 1,
        "gpus_per_node": 1,
        "dp": 1,
        "tp": 1,
        "pp": 1,
        "cp": 1,
        "zero_stage": 0,
        "tokens_per_sec_per_gpu": f"{m.tokens_per_s:.1f}" if m is not None else None,
        "peak_mem_gib": f"{allocated:.3f}" if allocated is not None else None,
        "peak_mem_kind": "allocated" if allocated is not None else None,
        "oom": out.oom,
        "notes": "; ".join(notes),
    }
    return {c: _cell(values.get(c)) for c in COLUMNS}


def write_table(path: Path, rows: list[dict[str, str]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def assign_ids(outcomes: list[Outcome], device: str) -> None:
    seen: dict[str, int] = {}
    for out in outcomes:
        p = out.probe
        base = slug(f"probe {device} {p.model} mb{p.micro_batch} s{p.seq_len} {p.act_ckpt}")
        seen[base] = seen.get(base, 0) + 1
        out.row_id = base if seen[base] == 1 else f"{base}-{seen[base]}"


# --- calibration and the summary ---------------------------------------------------------------


@dataclass
class Fitted:
    record: CalibrationRecord | None
    error: str = ""


def fit_and_store(
    gpu: GpuSpec,
    info: DeviceInfo,
    measurements: list[Measurement],
    outcomes: list[Outcome],
    path: Path,
) -> Fitted:
    """calibration.fit on what was measured; stored, and written as an importable export."""
    probes = [(o.measurement, o.spec) for o in outcomes if o.measurement is not None and o.spec]
    try:
        fit, before, after = calibration.fit(gpu, info, measurements, probes)  # type: ignore[arg-type]
    except TraintimeError as exc:
        return Fitted(None, _one_line(exc))
    record = CalibrationRecord(
        device=info,
        fit=fit,
        measurements=measurements,
        probes=[p for p, _ in probes],  # type: ignore[misc]
        predicted_step_s=before,
        calibrated_step_s=after,
    )
    store.save(record)
    doc = {
        "schema": store.SCHEMA,
        "version": store.VERSION,
        "calibrations": [json.loads(record.model_dump_json())],
    }
    _write_text(path, json.dumps(doc, indent=1) + "\n")
    return Fitted(record)


def _predict(
    out: Outcome, gpu: GpuSpec, cal: DeviceCalibration | None, steps: int
) -> Estimate | None:
    if out.spec is None:
        return None
    probe = out.measurement or _stand_in(out.probe, out.settings, steps)
    try:
        return calibration.predict(probe, out.spec, gpu, cal)
    except TraintimeError:
        return None


def _err(predicted: float | None, measured: float | None) -> float | None:
    if predicted is None or not measured:
        return None
    return predicted / measured - 1.0


def _pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:+.1%}"


def _num(x: float | None, fmt: str = ",.0f") -> str:
    return "-" if x is None else format(x, fmt)


def _mdape(errors: list[float | None]) -> tuple[float | None, int]:
    vals = [abs(e) for e in errors if e is not None]
    return (statistics.median(vals) if vals else None), len(vals)


def summary(
    *,
    outcomes: list[Outcome],
    report: Report | None,
    fitted: Fitted,
    info: DeviceInfo,
    gpu: GpuSpec,
    steps: int,
    files: dict[str, str],
    elapsed_s: float,
    date: str,
    micro_count: int,
) -> str:
    """The markdown summary: each row measured against predicted before and after, the MdAPE
    of both, the fitted factors, and every probe that is no row."""
    cal = fitted.record.fit if fitted.record else None
    by_id = {r.id: r for r in report.rows} if report else {}
    rows = [o for o in outcomes if o.row]
    lines = [
        f"# Measured training steps on {gpu.name}",
        "",
        f"`{SCRIPT}`, {date}: {info.name} (driver {info.driver or 'n/a'}, "
        f"{info.runtime or 'no GPU runtime'}, torch {info.torch}); {micro_count} micro-benchmarks, "
        f"{sum(o.measurement is not None for o in rows)} model probes measured, "
        f"{sum(o.oom for o in rows)} out of memory, {len(outcomes) - len(rows)} not run; "
        f"{elapsed_s:.0f} s in all. Files: "
        + ", ".join(f"`{v}` ({k})" for k, v in files.items())
        + ".",
        "",
        "Throughput in tokens/s (one GPU), memory in GiB (allocated peak). *validate*: "
        "`traintime validate` on the table's columns (uncalibrated); *before*: the time model "
        "for the probe's settings, uncalibrated; *after*: with the calibration fitted here "
        "(in-sample: fitted to these same probes). Errors are predicted / measured - 1.",
        "",
        "| row | measured tok/s | validate | before | error | after | error | measured GiB "
        "| predicted GiB | fits (predicted) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    errors: dict[str, list[float | None]] = {"validate": [], "before": [], "after": []}
    mem_errors: list[float | None] = []
    for out in rows:
        m = out.measurement
        measured = m.tokens_per_s if m else None
        checked = by_id.get(out.row_id)
        val = checked.predicted_tokens_per_sec_per_gpu if checked else None
        before = _predict(out, gpu, None, steps)
        after = _predict(out, gpu, cal, steps) if cal else None
        b_tps = before.throughput.tokens_per_sec if before else None
        a_tps = after.throughput.tokens_per_sec if after else None
        measured_gib = _gib(m.peak_allocated_bytes) if m else None
        predicted_gib = before.memory.peak_gib if before else None
        fits = "-" if before is None else ("yes" if before.memory.fits else "no")
        if out.oom:
            fits += " (measured: out of memory)"
        if measured:
            errors["validate"].append(_err(val, measured))
            errors["before"].append(_err(b_tps, measured))
            errors["after"].append(_err(a_tps, measured))
        mem_errors.append(_err(predicted_gib, measured_gib))
        lines.append(
            f"| {out.row_id} | {_num(measured)} | {_num(val)} | {_num(b_tps)} | "
            f"{_pct(_err(b_tps, measured))} | {_num(a_tps)} | {_pct(_err(a_tps, measured))} | "
            f"{_num(measured_gib, '.2f')} | {_num(predicted_gib, '.2f')} | {fits} |"
        )
    lines += ["", "## Accuracy", ""]
    for name, label in (
        ("validate", "traintime validate (uncalibrated)"),
        ("before", "before calibration"),
        ("after", "after calibration (in-sample)"),
    ):
        value, n = _mdape(errors[name])
        lines.append(f"- Throughput MdAPE, {label}: {_pct(value).lstrip('+')} over {n} rows")
    mem, n_mem = _mdape(mem_errors)
    lines.append(f"- Allocated-memory MdAPE: {_pct(mem).lstrip('+')} over {n_mem} rows")
    oom_rows = [o for o in rows if o.oom]
    if oom_rows:
        called = sum(
            1
            for o in oom_rows
            if (est := _predict(o, gpu, None, steps)) is not None and not est.memory.fits
        )
        lines.append(f"- Out-of-memory rows predicted not to fit: {called} of {len(oom_rows)}")
    if report is not None:
        skipped = [r for r in report.rows if r.status == "skipped"]
        lines.append(
            f"- `traintime validate` read {len(report.rows)} rows, skipped {len(skipped)}"
            + "".join(f"; {r.id}: {r.reason}" for r in skipped)
        )
    lines += ["", "## Fitted calibration", ""]
    if cal is None:
        lines.append(f"No calibration was fitted: {fitted.error or 'nothing to fit'}.")
    else:
        lines += ["| factor | value |", "|---|---:|"]
        for precision, scale in sorted(cal.gemm_scale.items()):
            lines.append(f"| GEMM scale ({precision}) | {scale:.3f} |")
        lines += [
            f"| attention scale | {cal.attention_scale:.3f} |",
            f"| memory-bandwidth scale | {cal.memory_scale:.3f} |",
            f"| per-step overhead (s) | {cal.step_overhead_s:.4f} |",
            f"| reserved / allocated | {_num(cal.reserved_factor, '.3f')} |",
            f"| CUDA context (GiB) | {_num(cal.context_gib, '.3f')} |",
            f"| residual (max abs log error) | {cal.residual:.3f} |",
            f"| probes fitted | {cal.probes} |",
            f"| step-time median abs error before | {_pct(cal.error_before).lstrip('+')} |",
            f"| step-time median abs error after | {_pct(cal.error_after).lstrip('+')} |",
        ]
        lines += ["", f"Device key: `{cal.key}`; stored under catalog GPU `{cal.gpu}`."]
    others = [o for o in outcomes if not o.row]
    if others:
        lines += ["", "## Probes that are no row", ""]
        lines += [f"- {_label(o.probe)}: {o.reason}" for o in others]
    return "\n".join(lines) + "\n"


# --- main --------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default=None, help="default: a GPU if any")
    p.add_argument("--gpu", default=None, help="the catalog GPU when the driver's name is not one")
    p.add_argument("--budget-s", type=float, default=480.0, help="skip probes past this (s)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the files go")
    p.add_argument("--steps", type=int, default=None, help="timed steps per probe (default 10)")
    p.add_argument("--smoke", action="store_true", help="tiny sweep, quick micro-benchmarks")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start = time.monotonic()
    date = dt.datetime.now(dt.UTC).date().isoformat()
    try:
        info = run.device_info(args.device)
        gpu = run.catalog_gpu(info, args.gpu)
    except TraintimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info = info.model_copy(update={"catalog_gpu": gpu.name})
    device = device_slug(info, gpu)
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = args.steps or (2 if args.smoke else 10)
    sweep = SMOKE_SWEEP if args.smoke else (CPU_SWEEP if info.kind == "cpu" else GPU_SWEEP)
    print(f"device: {info.key} -> catalog {gpu.name!r}; files {out_dir}/{device}*")

    from traintime.probe.micro import run_micro

    measurements = run_micro(run.torch_device(info), quick=args.smoke)
    micro_path = out_dir / f"{device}-micro.json"
    save_micro(micro_path, info, gpu, measurements, quick=args.smoke)
    print(f"micro-benchmarks: {len(measurements)} in {time.monotonic() - start:.0f} s")

    outcomes = run_probes(sweep, info, gpu, steps=steps, budget_s=args.budget_s, start=start)
    assign_ids(outcomes, device)
    csv_path = out_dir / f"{device}.csv"
    rows = [table_row(o, info, gpu, date=date, device=info.key) for o in outcomes if o.row]
    report: Report | None = None
    if rows:
        write_table(csv_path, rows)
        report = validate(csv_path)
    else:
        print("no probe ran or ran out of memory: no table written", file=sys.stderr)
    cal_path = out_dir / f"{device}-calibration.json"
    fitted = fit_and_store(gpu, info, measurements, outcomes, cal_path)
    files = {"micro-benchmarks": micro_path.name}
    if rows:
        files["rows"] = csv_path.name
    if fitted.record:
        files["calibration export"] = cal_path.name
    md_path = out_dir / f"{device}.md"
    files["this summary"] = md_path.name
    text = summary(
        outcomes=outcomes,
        report=report,
        fitted=fitted,
        info=info,
        gpu=gpu,
        steps=steps,
        files=files,
        elapsed_s=time.monotonic() - start,
        date=date,
        micro_count=len(measurements),
    )
    _write_text(md_path, text)
    print()
    print(text)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
