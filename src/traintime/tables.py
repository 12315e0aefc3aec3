"""Tables for the catalog, validation and comparison commands (formatting only)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from traintime.specs import GpuSpec
from traintime.units import human_count, human_duration


def render_models(rows: list[dict[str, Any]]) -> Table:
    table = Table(
        title="Model presets (any nanochat depth works: nanochat-d<N>, nanochat-2026-d<N>)"
    )
    for col in ("name", "family", "parameters (active)", "layers", "d_model", "vocab", "source"):
        right = col in ("parameters (active)", "layers", "d_model", "vocab")
        table.add_column(col, justify="right" if right else "left", overflow="fold")
    for row in rows:
        active = row.get("active_params", row["params"])
        sparse = f" ({human_count(active)})" if active != row["params"] else ""
        table.add_row(
            row["name"],
            row.get("family", ""),
            human_count(row["params"]) + sparse,
            str(row["n_layer"]),
            str(row["d_model"]),
            f"{row['vocab']:,}",
            row["source"],
        )
    return table


def _tf(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _price(gpu: GpuSpec) -> str:
    if gpu.launch_price_usd is not None:
        return f"${gpu.launch_price_usd:,.0f}"
    if gpu.rent_usd_per_hour is not None:
        return f"${gpu.rent_usd_per_hour:.2f}/h"
    return "-"


def render_gpus(gpus: list[GpuSpec], *, total: int) -> RenderableType:
    """The catalog as a table (dense TFLOPS, FP32 accumulate)."""
    table = Table(title=f"GPUs ({len(gpus)} of {total} shown; dense TFLOPS, FP32 accumulate)")
    for col in (
        "name",
        "vendor",
        "bf16",
        "fp16",
        "fp8",
        "fp4",
        "memory GiB",
        "GB/s",
        "TDP W",
        "price",
        "source",
    ):
        table.add_column(col, justify="left" if col in ("name", "vendor", "source") else "right")
    for g in gpus:
        table.add_row(
            g.name,
            g.vendor,
            _tf(g.peak("bf16")),
            _tf(g.peak("fp16")),
            _tf(g.peak("fp8")),
            _tf(g.peak("fp4")),
            f"{g.memory_gib:g}",
            f"{g.bandwidth_gbs:,.0f}",
            "-" if g.tdp_w is None else f"{g.tdp_w:g}",
            _price(g),
            g.origin,
        )
    return table


def render_gpu(gpu: GpuSpec, *, sustained: float | None = None) -> RenderableType:
    """One device, every number with where it comes from; ``sustained`` is the share of the
    matmul ceiling the time model keeps for hours of training (efficiency.toml)."""
    src = gpu.field_sources
    table = Table(
        title=f"{gpu.name} ({gpu.vendor} {gpu.architecture}, {gpu.origin})", show_lines=False
    )
    table.add_column("field", style="bold cyan", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("source", overflow="fold")
    peaks_src = src.get("peak_tflops", gpu.sources)
    for precision in ("bf16", "fp16", "fp8", "fp4", "tf32", "fp32"):
        value = gpu.peak(precision)
        shown = "none" if value is None else f"{value:,.1f} TFLOPS"
        table.add_row(f"peak {precision}", shown, peaks_src if precision == "bf16" else "")
    rows = [
        ("memory", f"{gpu.memory_gib:g} GiB", src.get("memory_gib", "")),
        ("bandwidth", f"{gpu.bandwidth_gbs:,.0f} GB/s", src.get("bandwidth_gbs", "")),
        ("TDP", "-" if gpu.tdp_w is None else f"{gpu.tdp_w:g} W", src.get("tdp_w", "")),
        ("host link", _host_link(gpu), src.get("host_link_gbs", "")),
        ("scale-up link", _scaleup(gpu), src.get("scaleup_bw_gbs", "")),
        ("matmul ceiling", f"{gpu.matmul_ceiling:.2f} of peak", gpu.matmul_ceiling_basis),
        *(
            [
                (
                    "in training",
                    f"{gpu.matmul_ceiling * sustained:.2f} of peak",
                    f"ceiling x {sustained:g}: the rate kept for hours at the power limit "
                    "(steady-state GEMM sweeps; efficiency.toml [gemm] sustained_fraction)",
                )
            ]
            if sustained
            else []
        ),
        ("price", _price(gpu), gpu.price_note),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _host_link(gpu: GpuSpec) -> str:
    if gpu.pcie_gen is None:
        return "-"
    bw = f", {gpu.host_link_gbs:.1f} GB/s each way" if gpu.host_link_gbs else ""
    return f"PCIe {gpu.pcie_gen}.0 x{gpu.pcie_lanes}{bw}"


def _scaleup(gpu: GpuSpec) -> str:
    if gpu.scaleup_bw_gbs is None:
        return "unknown"
    if gpu.scaleup_bw_gbs == 0:
        return "none"
    return f"{gpu.scaleup_type}: {gpu.scaleup_bw_gbs:g} GB/s"


def render_systems(nodes: list[Any], fabrics: list[Any]) -> RenderableType:
    """Node presets and fabrics."""
    table = Table(title="Node presets")
    for col in ("name", "GPUs", "intra-node link", "GB/s/GPU", "network", "$/h"):
        table.add_column(col, justify="right" if col in ("GB/s/GPU", "$/h") else "left")
    for n in nodes:
        network = f"{n.nics} x {n.nic_gbps:g} Gb/s {n.fabric}" if n.nics else "-"
        price = "-" if n.price_usd_per_hour is None else f"{n.price_usd_per_hour:.2f}"
        table.add_row(
            n.name,
            f"{n.gpus_per_node} x {n.gpu}",
            n.intra_link,
            f"{n.intra_bw_gbs:g}",
            network,
            price,
        )
    fab = Table(title="Inter-node fabrics")
    for col in ("name", "Gb/s per port", "latency us", "description"):
        fab.add_column(col)
    for f in fabrics:
        fab.add_row(f.name, f"{f.port_gbps:g}", f"{f.latency_us:g}", f.description)
    return Group(table, fab)


def throughput_cells(row: Any) -> tuple[str, str, str]:
    """A validation row's predicted and measured tokens/s per GPU and the error, as text."""

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:,.0f}"

    err = "-" if row.throughput_error is None else f"{row.throughput_error:+.0%}"
    return num(row.predicted_tokens_per_sec_per_gpu), num(row.measured_tokens_per_sec_per_gpu), err


def render_validation(report: Any) -> RenderableType:
    """Per-row predicted vs measured, then the summary."""
    table = Table(title=f"Validation: {report.file}")
    for col in ("run", "gpu", "GPUs", "predicted tok/s/GPU", "measured", "error", "status"):
        table.add_column(
            col,
            justify="right"
            if col in ("GPUs", "predicted tok/s/GPU", "measured", "error")
            else "left",
        )
    for r in report.rows:
        pred, meas, err = throughput_cells(r)
        status = r.status + (f": {r.reason}" if r.status == "skipped" else "")
        table.add_row(r.id, r.gpu, str(r.n_gpus or "-"), pred, meas, err, status)
    s = report.summary

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.1%}"

    lines = [
        f"steady-state rows: throughput MdAPE {pct(s.throughput_mdape)}, within +-25% "
        f"{pct(s.throughput_within_25)} over {s.n_throughput} rows (constant-efficiency baseline: "
        f"MdAPE {pct(s.baseline_throughput_mdape)}, within +-25% {pct(s.baseline_within_25)})",
        f"peak-memory MdAPE {pct(s.memory_mdape)} over {s.n_memory} rows; fit/OOM accuracy "
        f"{pct(s.oom_accuracy)} over {s.n_oom} rows",
        f"{len(report.rows)} rows: {s.n_skipped} skipped (reason in the table), "
        f"{s.n_unreliable} marked unreliable (shown, not in the summary); whole-run averages "
        "are their own class, predicted with the goodput",
    ]
    classes = Table(title="By class (rows with a throughput)")
    for col in ("class", "rows", "MdAPE", "within +-25%", "memory MdAPE"):
        classes.add_column(col, justify="left" if col == "class" else "right")
    for name, c in report.classes.items():
        if c.n_throughput or c.n_memory:
            classes.add_row(
                name,
                str(c.n_throughput),
                pct(c.throughput_mdape),
                pct(c.throughput_within_25),
                pct(c.memory_mdape),
            )
    return Group(table, Text("\n".join(lines)), classes)


def render_comparison(rows: list[Any], *, limit: int | None = None) -> RenderableType:
    """Setups side by side: model (when several), plan, fit, memory, time, energy and cost."""
    shown = rows if not limit else rows[:limit]
    several = len({r.model for r in rows}) > 1
    methods = len({r.finetune for r in rows}) > 1 or any(r.finetune != "full" for r in rows)
    unsourced = any(not r.tensor_rate_sourced for r in shown)
    caption = "(*) no sourced tensor rate: timed at a vector rate" if unsourced else None
    table = Table(title=f"Comparison ({len(shown)} of {len(rows)} setups)", caption=caption)
    columns = (
        (["model", "params (active)"] if several else [])
        + (["method"] if methods else [])
        + ["GPUs"]
    ) + [
        "fits",
        "plan",
        "needs/has GiB",
        "time",
        "kWh",
        "cost",
    ]
    right = ("params (active)", "needs/has GiB", "time", "kWh", "cost")
    for col in columns:
        table.add_column(col, justify="right" if col in right else "left", overflow="fold")
    for r in shown:
        time_s = human_duration(r.days * 86400) if r.days is not None else "-"
        cost = f"${r.cost_usd:,.0f} {r.cost_kind}" if r.cost_usd is not None else "-"
        kwh = f"{r.kwh:,.0f}" if r.kwh is not None else "-"
        model = []
        if several:
            active = f" ({human_count(r.active_params)})" if r.active_params != r.params else ""
            model = [r.model, f"{human_count(r.params)}{active}"]
        label = r.label if r.tensor_rate_sourced else f"{r.label} (*)"
        table.add_row(
            *model,
            *([r.finetune] if methods else []),
            label,
            "yes" if r.fits else "no",
            r.plan,
            f"{r.needed_gib:.1f}/{r.capacity_gib:g}",
            time_s,
            kwh,
            cost,
        )
    return table
