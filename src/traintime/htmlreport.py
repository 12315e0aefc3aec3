"""One self-contained HTML report of an estimate: the summary, the plan and its alternatives,
energy and cost, and the charts as inline SVG (no scripts, no external resources)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from traintime.errors import SpecError
from traintime.report import PLAN_COLUMNS, plan_rows
from traintime.results import Estimate


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _summary(est: Estimate) -> str:
    m, tr, hw = est.model, est.training, est.hardware
    rows: list[list[Any]] = [
        ["model", f"{m.name}: {m.params.total:,} parameters"],
        [
            "FLOPs per token",
            f"{m.flops_per_token.model:.4e} model, {m.flops_per_token.executed:.4e} executed",
        ],
        [
            "training",
            f"{tr.tokens:,.0f} tokens, {tr.steps:,} steps of {tr.global_batch_tokens:,} tokens",
        ],
        ["hardware", f"{hw.count} x {hw.gpu.name} ({hw.peak_tflops} TFLOPS {hw.precision})"],
    ]
    c = est.cost
    costs = [
        f"rent ${c.rent_on_demand:,.0f} (spot ${c.rent_spot:,.0f})"
        if c.rent_on_demand is not None and c.rent_spot is not None
        else "",
        f"own ${c.own_total:,.0f}" if c.own_total is not None else "",
    ]
    time_label = "time" if est.time.runs else "time if memory were unlimited"
    rows += [
        [
            "throughput",
            f"{est.throughput.tokens_per_sec_per_gpu:,.0f} tokens/s per GPU, "
            f"MFU {est.throughput.mfu:.0%}",
        ],
        [
            time_label,
            f"{est.time.total_days:.1f} days (likely {est.time.low_hours / 24:.1f}"
            f" to {est.time.high_hours / 24:.1f})",
        ],
        [
            "memory",
            f"{est.memory.needed_gib:.1f} of {est.memory.capacity_gib:g} GiB "
            f"({'fits' if est.memory.fits else 'does not fit'}); {est.memory.host_note}",
        ],
        [
            "energy",
            f"{est.energy.kwh:,.0f} kWh, ${est.energy.electricity_cost:,.0f} "
            f"electricity, {est.energy.co2_kg:,.0f} kg CO2",
        ],
        ["cost", "; ".join(x for x in costs if x) or "no price"],
    ]
    rows += [["note", n] for n in tr.notes]
    return "<h2>Summary</h2>" + _table(["", ""], rows)


def _plan(est: Estimate) -> str:
    advice = "".join(f"<p>{escape(a)}</p>" for a in est.plan.advice)
    return "<h2>Plan and alternatives</h2>" + advice + _table(list(PLAN_COLUMNS), plan_rows(est))


def write_report(est: Estimate, path: str | Path) -> Path:
    """Write the report; the page loads nothing from the network."""
    from traintime import plots

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise SpecError(f"report file {str(path)!r} must end in .html")
    fig = plots.estimate_figure(est)
    chart = "<h2>Where the time and memory go</h2>" + plots.svg_text(fig)
    plots._pyplot().close(fig)
    title = f"traintime: {est.model.name} on {est.hardware.count} x {est.hardware.gpu.name}"
    page = plots.html_page(title, [_summary(est), _plan(est), chart])
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot write report {str(path)!r}: {exc.strerror}") from None
    return path
