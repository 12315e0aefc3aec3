"""One self-contained HTML report of an estimate: the summary, the plan and its alternatives,
energy and cost, and the charts as inline SVG (no scripts, no external resources).

Every quantity carries its unit, ranges on both ends ("95.2 days to 151.9 days"); the file is
written whole or not at all (``plots.write_atomic``)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import IO, Any

from traintime.engine.lora import METHOD_NAMES
from traintime.errors import SpecError
from traintime.report import PLAN_COLUMNS, plan_rows
from traintime.results import Estimate
from traintime.units import HOUR, human_duration


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    """A table with one header row (column names) and a body."""
    head = "".join(f"<th scope='col'>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(rows: list[tuple[str, str]]) -> str:
    """A two-column table of what and value: each row headed by its own name, no header row."""
    body = "".join(
        f"<tr><th scope='row'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows
    )
    return f"<table><tbody>{body}</tbody></table>"


def _hours(hours: float) -> str:
    return human_duration(hours * HOUR)


def _finetune_row(est: Estimate) -> list[tuple[str, str]]:
    """A LoRA or QLoRA fine-tune's adapters and frozen base (nothing for full training)."""
    r, tr = est.training.recipe, est.training
    if r.finetune == "full":
        return []
    return [
        (
            "fine-tune",
            f"{METHOD_NAMES[r.finetune]} rank {r.lora_rank}: {tr.trainable_params:,} trainable "
            "parameters; "
            f"frozen base {r.base_dtype}; {tr.epochs:g} epoch(s), padding x{tr.padding_factor:.2f}",
        )
    ]


def _summary(est: Estimate) -> str:
    m, tr, hw, tp, tm, mem = (
        est.model,
        est.training,
        est.hardware,
        est.throughput,
        est.time,
        est.memory,
    )
    rows: list[tuple[str, str]] = [
        ("model", f"{m.name}: {m.params.total:,} parameters"),
        (
            "FLOPs per token",
            f"{m.flops_per_token.model:.4e} model, {m.flops_per_token.executed:.4e} executed",
        ),
        (
            "training",
            f"{tr.tokens:,.0f} tokens, {tr.steps:,} steps of {tr.global_batch_tokens:,} tokens",
        ),
        *_finetune_row(est),
        ("hardware", f"{hw.count} x {hw.gpu.name} ({hw.peak_tflops:g} TFLOPS {hw.precision})"),
        (
            "throughput",
            f"{tp.tokens_per_sec_per_gpu:,.0f} tokens/s per GPU "
            f"({tp.tokens_per_sec:,.0f} tokens/s in all), MFU {tp.mfu:.0%}",
        ),
        (
            "time" if tm.runs else "time if memory were unlimited",
            f"{_hours(tm.total_hours)} (likely {_hours(tm.low_hours)} to "
            f"{_hours(tm.high_hours)}: {tm.band_basis})",
        ),
    ]
    if tm.balanced_routing_hours:
        rows.append(
            (
                "load imbalance",
                f"{_hours(tm.balanced_routing_hours)} with routing forced even to "
                f"{_hours(tm.total_hours)} dropless with the busiest expert rank at "
                f"{est.training.recipe.moe_imbalance:g}x the mean",
            )
        )
    if tm.goodput < 0.995:
        rows.append(
            (
                "wall-clock",
                f"{_hours(tm.expected_hours)} with restarts and downtime "
                f"(goodput {tm.goodput:.0%}: {tm.goodput_source})",
            )
        )
    c = est.cost
    costs = [
        f"rent ${c.rent_on_demand:,.0f} (spot ${c.rent_spot:,.0f})"
        if c.rent_on_demand is not None and c.rent_spot is not None
        else "",
        f"own ${c.own_total:,.0f}" if c.own_total is not None else "",
    ]
    rows += [
        (
            "memory",
            f"{mem.needed_gib:.1f} GiB of {mem.capacity_gib:g} GiB per GPU "
            f"({'fits' if mem.fits else 'does not fit'}); {mem.host_note}",
        ),
        (
            "energy",
            f"{est.energy.kwh:,.0f} kWh, ${est.energy.electricity_cost:,.0f} "
            f"electricity, {est.energy.co2_kg:,.0f} kg CO2",
        ),
        ("cost", "; ".join(x for x in costs if x) or "no price"),
    ]
    rows += [("note", n) for n in tr.notes]
    return "<h2>Summary</h2>" + _facts(rows)


def _plan(est: Estimate) -> str:
    advice = "".join(f"<p>{escape(a)}</p>" for a in est.plan.advice)
    return "<h2>Plan and alternatives</h2>" + advice + _table(list(PLAN_COLUMNS), plan_rows(est))


def render_report(est: Estimate) -> str:
    """The report page as text."""
    from traintime import plots

    fig = plots.estimate_figure(est)
    chart = "<h2>Where the time and memory go</h2>" + plots.svg_text(fig)
    title = f"traintime: {est.model.name} on {est.hardware.count} x {est.hardware.gpu.name}"
    return plots.html_page(title, [_summary(est), _plan(est), chart])


def write_report(est: Estimate, path: str | Path) -> Path:
    """Write the report, whole or not at all; the page loads nothing from the network.
    Returns the path written."""
    from traintime import plots

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise SpecError(f"report file {str(path)!r} must end in .html")

    def write(f: IO[bytes]) -> None:
        f.write(render_report(est).encode("utf-8"))

    return plots.write_atomic(path, write, what="report")
