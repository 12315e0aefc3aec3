"""Rich tables for ``traintime probe`` and ``traintime calibrate``."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from traintime.measured import CalibrationRecord, Measurement
from traintime.probe.run import MicroReport, ModelProbeReport, ratio_text
from traintime.specs import DeviceCalibration

_SCALE = {"FLOP/s": (1e12, "TFLOP/s"), "B/s": (1e9, "GB/s"), "B": (2**30, "GiB")}


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    div, name = _SCALE[unit]
    return f"{value / div:,.3g} {name}"


def _shape(m: Measurement) -> str:
    return " ".join(f"{k}={v}" for k, v in m.shape.items())


def render_micro(report: MicroReport) -> Any:
    d = report.device
    table = Table(
        title=f"{d.name} ({d.kind}; {d.runtime or 'no GPU runtime'}; torch {d.torch}) "
        f"as catalog device {report.gpu!r}",
        caption="model: the rate the time model uses for the same work (catalog peak x "
        "ceiling x shape effects); ratio = measured / model",
    )
    for col in ("kind", "name", "dtype", "shape", "measured", "model", "ratio"):
        table.add_column(col, justify="right" if col in ("measured", "model", "ratio") else "left")
    for row in report.rows:
        m = row.measurement
        table.add_row(
            m.kind,
            m.name,
            m.dtype,
            _shape(m),
            _amount(m.value, m.unit),
            _amount(row.model_value, m.unit),
            ratio_text(row.ratio),
        )
    return table


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"


def _gib(x: float | None) -> str:
    return "-" if x is None else f"{x / 2**30:.2f} GiB"


def render_model_probe(r: ModelProbeReport) -> Any:
    m, p = r.measured, r.predicted
    table = Table(
        title=f"{m.model} on {r.device.name} ({m.world_size} x {r.device.kind}, {m.parallel}): "
        f"micro-batch {m.micro_batch} x {m.seq_len} tokens, checkpointing {m.act_ckpt}, "
        f"{m.precision}, {m.optimizer}{', compiled' if m.compiled else ''}",
        caption=(
            "predicted with this machine's calibration"
            if p.calibrated
            else "predicted by the uncalibrated model (traintime calibrate fits it to this device)"
        ),
    )
    for col in ("", "measured", "predicted", "error"):
        table.add_column(col, justify="left" if not col else "right")
    table.add_row(
        "step time",
        f"{m.step_time_s * 1e3:,.1f} ms",
        f"{p.step_time_s * 1e3:,.1f} ms",
        _pct(r.error["step_time_s"]),
    )
    table.add_row("tokens/s", f"{m.tokens_per_s:,.0f}", f"{p.tokens_per_s:,.0f}", "")
    measured_memory = m.peak_allocated_bytes or m.resident_bytes
    what = "peak allocated" if m.peak_allocated_bytes else "peak resident (whole process)"
    table.add_row(
        f"memory ({what})",
        _gib(measured_memory),
        _gib(p.peak_allocated_bytes),
        _pct(r.error["memory"]),
    )
    if m.peak_reserved_bytes:
        table.add_row(
            "memory (reserved)", _gib(m.peak_reserved_bytes), _gib(p.peak_reserved_bytes), ""
        )
    if r.scaling:
        s = r.scaling
        table.add_row(f"scaling over {s.world_size}", f"{s.measured:.0%}", f"{s.predicted:.0%}", "")
    return table


def render_fit(cal: DeviceCalibration) -> Text:
    gemm = ", ".join(f"{k} x{v:.3g}" for k, v in sorted(cal.gemm_scale.items()))
    lines = [
        f"{cal.gpu}: {cal.key}, measured {cal.created}",
        f"  GEMM {gemm}; attention x{cal.attention_scale:.3g}; memory bandwidth "
        f"x{cal.memory_scale:.3g}; +{cal.step_overhead_s * 1e3:.3g} ms per step",
    ]
    if cal.reserved_factor is not None or cal.context_gib is not None:
        slack = "-" if cal.reserved_factor is None else f"x{cal.reserved_factor:.3g}"
        ctx = "-" if cal.context_gib is None else f"{cal.context_gib:.2f} GiB"
        lines.append(f"  allocator slack {slack}; context {ctx}")
    if cal.probes:
        lines.append(
            f"  {cal.probes} model probe(s): median error {cal.error_before:.1%} before, "
            f"{cal.error_after:.1%} after; band +-{cal.residual:.1%} (largest log error)"
        )
    return Text("\n".join(lines))


def render_record(record: CalibrationRecord) -> Any:
    table = Table(title="model probes: measured and predicted step time")
    for col in ("model", "micro-batch", "seq", "ckpt", "measured", "before", "after"):
        table.add_column(col, justify="left" if col in ("model", "ckpt") else "right")
    fit = record.fit
    afters = record.calibrated_step_s or [None] * len(record.probes)
    for probe, before, after in zip(record.probes, record.predicted_step_s, afters, strict=False):
        table.add_row(
            probe.model,
            str(probe.micro_batch),
            str(probe.seq_len),
            probe.act_ckpt,
            f"{probe.step_time_s * 1e3:,.1f} ms",
            f"{before * 1e3:,.1f} ms",
            "-" if after is None else f"{after * 1e3:,.1f} ms",
        )
    return Group(render_fit(fit), table)
