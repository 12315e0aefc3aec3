"""Render results for people: rich tables and short text. Formatting only; no arithmetic beyond
unit conversion happens here."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from traintime.results import Estimate
from traintime.units import HOUR, human_count, human_duration


def _kv_table(rows: Iterable[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


def _model_lines(est: Estimate) -> list[tuple[str, str]]:
    spec, params, flops = est.model.spec, est.model.params, est.model.flops_per_token
    window = ""
    if spec.window_pattern:
        window = f", windows {spec.window_pattern} (short {spec.short_window})"
    return [
        ("Model", f"{spec.name}: {params.total:,} parameters ({human_count(params.total)})"),
        (
            "",
            f"{spec.n_layer} layers, d_model {spec.d_model}, {spec.n_head} heads"
            f" ({spec.kv_heads} kv), {spec.ffn_act} MLP {spec.ffn_hidden}, vocab {spec.vocab:,},"
            f" seq {spec.seq_len}{window}",
        ),
        (
            "FLOPs/token",
            f"{flops.model:.6e} model (nanochat/PaLM convention), "
            f"{flops.executed:.6e} executed ({est.training.spec.attention_impl} "
            f"attention, checkpointing {est.training.spec.act_ckpt})",
        ),
    ]


def _training_lines(est: Estimate) -> list[tuple[str, str]]:
    tr = est.training
    spec = tr.spec
    ratio = tr.tokens / est.model.params.total
    accum = (
        f"micro-batch {tr.micro_batch} x {tr.grad_accum_steps} accumulation steps"
        if tr.micro_batch
        else "micro-batch not set"
    )
    rows = [
        (
            "Training",
            f"{human_count(tr.tokens)} tokens ({ratio:.3g} per parameter), "
            f"{tr.steps:,} steps of {tr.global_batch_tokens:,} tokens; {accum}",
        ),
        (
            "",
            f"{spec.optimizer}, {spec.precision}, weights {spec.param_dtype}"
            f"{', embeddings ' + spec.embedding_dtype if spec.embedding_dtype else ''}, "
            f"{'compiled' if spec.compiled else 'eager'}",
        ),
        (
            "Total FLOPs",
            f"{tr.model_flops_total:.4e} model, {tr.executed_flops_total:.4e} executed",
        ),
    ]
    rows += [("", f"note: {n}") for n in tr.notes]
    return rows


def _hardware_lines(est: Estimate) -> list[tuple[str, str]]:
    hw = est.hardware
    gpu = hw.gpu
    peak = f"{hw.peak_tflops:g} TFLOPS {hw.precision} dense" if hw.peak_tflops else "no peak known"
    rows = [
        (
            "Hardware",
            f"{hw.count} x {gpu.name}: {peak}, {gpu.memory_gib:g} GiB, "
            f"{gpu.bandwidth_gbs:g} GB/s" + (f", {gpu.tdp_w:g} W" if gpu.tdp_w else ""),
        ),
    ]
    if hw.compute_floor_hours is not None:
        rows.append(
            (
                "Compute floor",
                f">= {human_duration(hw.compute_floor_hours * HOUR)} even at "
                f"100% of peak on every GPU (no real run gets there)",
            )
        )
    rows += [("", f"note: {n}") for n in hw.notes]
    return rows


def _speed_lines(est: Estimate) -> list[tuple[str, str]]:
    tp, tm = est.throughput, est.time
    if tp is None or tm is None:
        return []
    total = tp.step_time_s
    parts = ", ".join(
        f"{k} {v / total:.0%}" for k, v in tp.breakdown_s.items() if v / total >= 0.005
    )
    rows = [
        (
            "Throughput",
            f"{tp.tokens_per_sec_per_gpu:,.0f} tokens/s per GPU "
            f"({tp.tokens_per_sec:,.0f} total); {tp.step_time_s:.3g} s per step of "
            f"{tp.micro_steps} x micro-batch {tp.micro_batch}",
        ),
        ("", f"step time: {parts}"),
        (
            "",
            f"MFU {tp.mfu:.0%} (model FLOPs), {tp.hfu:.0%} (executed FLOPs) of "
            f"{tp.mfu_peak_tflops:g} TFLOPS per GPU",
        ),
        (
            "Time",
            f"{human_duration(tm.total_hours * HOUR)} "
            f"(likely {human_duration(tm.low_hours * HOUR)} to "
            f"{human_duration(tm.high_hours * HOUR)}: the model's error on published runs)",
        ),
    ]
    rows += [("", f"note: {n}") for n in tp.notes]
    ref = tm.reference
    if ref is not None:
        rows += [
            (
                "By hand",
                f"{ref.description}: {ref.measured_hours:.1f} h measured; scaled by "
                f"FLOPs and GPU peak: {human_duration(ref.scaled_total_hours * HOUR)} "
                f"({ref.ratio:.2f}x our estimate)",
            ),
            ("", ref.explanation),
        ]
    return rows


def _memory_lines(est: Estimate) -> list[tuple[str, str]]:
    mem = est.memory
    if mem is None:
        return []
    parts = ", ".join(
        f"{k.replace('_', ' ')} {v:.1f}" for k, v in mem.breakdown.items() if v >= 0.05
    )
    verdict = "fits" if mem.fits else "DOES NOT FIT"
    rows = [
        (
            "Memory",
            f"{mem.peak_gib:.1f} GiB peak per GPU ({parts}); needs {mem.needed_gib:.1f}"
            f" of {mem.capacity_gib:g} GiB: {verdict}",
        )
    ]
    if mem.host_gib:
        rows.append(("", mem.host_note))
    if not mem.fits and est.plan is None:
        rows.append(("", "`traintime plan` (or --plan) finds the fastest configuration that fits"))
    return rows


def _plan_lines(est: Estimate) -> list[tuple[str, str]]:
    plan = est.plan
    if plan is None:
        return []
    pick = plan.chosen
    if pick is None:
        return [("Plan", "nothing fits; " + "; ".join(plan.advice))]
    what = (
        f"micro-batch {pick.micro_batch} x {est.throughput.micro_steps if est.throughput else '?'}"
        f" accumulation, checkpointing {pick.act_ckpt}, offload {pick.offload}"
    )
    if pick.zero_stage or pick.tp > 1 or pick.pp > 1:
        what += f", ZeRO {pick.zero_stage}, TP {pick.tp}, PP {pick.pp}"
    rows = [
        (
            "Plan",
            f"{what}; {pick.slowdown:.2f}x the fastest step if memory were unlimited "
            f"({plan.searched} configurations searched)",
        )
    ]
    if pick.changes:
        rows.append(("", "changed: " + ", ".join(pick.changes)))
    return rows


def _money_lines(est: Estimate) -> list[tuple[str, str]]:
    en, co = est.energy, est.cost
    if en is None or co is None:
        return []
    a = en.assumptions
    rows = [
        (
            "Energy",
            f"{en.kwh:,.0f} kWh (GPUs {en.gpu_kwh:,.0f}, average {en.average_gpu_w:.0f} W "
            f"of {a['tdp_w']:g} W TDP; host {en.host_kwh:,.0f}; PUE {a['pue']:g}): "
            f"${en.electricity_cost:,.0f} at ${a['electricity_usd_per_kwh']:g}/kWh, "
            f"{en.co2_kg:,.0f} kg CO2 at {a['co2_kg_per_kwh']:g} kg/kWh",
        )
    ]
    parts = []
    if co.rent_on_demand is not None:
        parts.append(
            f"rent ${co.rent_on_demand:,.0f} on demand (${co.rent_usd_per_gpu_hour:g}/GPU-h), "
            f"${co.rent_spot:,.0f} spot"
        )
    if co.own_total is not None:
        parts.append(
            f"own ${co.own_total:,.0f} (${co.own_amortized:,.0f} of ${co.purchase:,.0f} "
            f"hardware written off + electricity)"
        )
    if co.break_even_hours is not None:
        parts.append(f"buying beats renting after {co.break_even_hours:,.0f} GPU-hours")
    rows += [("", f"note: {n}") for n in en.notes]
    rows.append(("Cost", "; ".join(parts) if parts else "no price known"))
    rows += [("", f"note: {n}") for n in co.notes if n.startswith("no ")]
    return rows


def render_estimate(est: Estimate) -> RenderableType:
    """The one-screen report of an estimate."""
    hw = est.hardware
    title = Text(f"traintime: {est.model.name} on {hw.count} x {hw.gpu.name}", style="bold")
    rows = (
        _model_lines(est)
        + _training_lines(est)
        + _hardware_lines(est)
        + _plan_lines(est)
        + _memory_lines(est)
        + _speed_lines(est)
    )
    rows += _money_lines(est)
    pending = [
        k for k in ("throughput", "time", "memory", "energy", "cost") if getattr(est, k) is None
    ]
    parts: list[RenderableType] = [title, _kv_table(rows)]
    if pending:
        parts.append(Text(f"Not estimated in this version: {', '.join(pending)}.", style="dim"))
    return Group(*parts)


def render_flops(est: Estimate) -> Table:
    """FLOPs per token by operation, both conventions."""
    table = Table(title="FLOPs per token by operation (training step)")
    for col in ("operation", "forward", "model", "executed"):
        table.add_column(col, justify="left" if col == "operation" else "right")
    for op in est.model.flops_per_token.ops:
        table.add_row(op.name, f"{op.forward:.4e}", f"{op.model:.4e}", f"{op.executed:.4e}")
    f = est.model.flops_per_token
    table.add_row("total", f"{f.forward:.4e}", f"{f.model:.4e}", f"{f.executed:.4e}", style="bold")
    return table


def render_params(est: Estimate) -> Table:
    table = Table(title="Parameters by component")
    table.add_column("component")
    table.add_column("parameters", justify="right")
    p = est.model.params
    for name in (
        "embedding",
        "position",
        "attention",
        "mlp",
        "norms",
        "lm_head",
        "value_embeds",
        "gates",
        "other",
    ):
        value = getattr(p, name)
        if value:
            table.add_row(name, f"{value:,}")
    table.add_row("total", f"{p.total:,}", style="bold")
    return table


def render_breakdown(est: Estimate) -> RenderableType:
    """Step time by category."""
    tp = est.throughput
    table = Table(title="Step time by category (busiest GPU)")
    table.add_column("category")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    if tp is None:
        return table
    for name, seconds in tp.breakdown_s.items():
        table.add_row(name, f"{seconds:.4g}", f"{seconds / tp.step_time_s:.1%}")
    table.add_row("step", f"{tp.step_time_s:.4g}", "100%", style="bold")
    return table


PLAN_COLUMNS = (
    "micro-batch",
    "checkpointing",
    "offload",
    "ZeRO",
    "TP x PP",
    "step s",
    "slowdown",
    "needs GiB",
    "fits",
    "host GiB",
    "note",
)


def plan_rows(est: Estimate) -> list[list[str]]:
    """The planner's alternatives as table cells, in PLAN_COLUMNS order (terminal and HTML)."""
    if est.plan is None:
        return []
    rows = []
    for c in est.plan.alternatives:
        note = "changes math" if c.changes_math else ("chosen" if c == est.plan.chosen else "")
        rows.append(
            [
                str(c.micro_batch),
                c.act_ckpt,
                c.offload,
                str(c.zero_stage),
                f"{c.tp} x {c.pp}",
                f"{c.step_time_s:.3g}",
                f"{c.slowdown:.2f}x",
                f"{c.needed_gib:.1f}",
                "yes" if c.fits else "no",
                f"{c.host_gib:.1f}" if c.host_gib else "-",
                note,
            ]
        )
    return rows


def render_plan(est: Estimate) -> RenderableType:
    """The planner's ranked alternatives: what each change costs in speed and memory."""
    table = Table(
        title="Configurations (best of each kind; slowdown vs the fastest step if "
        "memory were unlimited)"
    )
    left = ("checkpointing", "offload", "fits", "note")
    for col in PLAN_COLUMNS:
        table.add_column(col, justify="left" if col in left else "right")
    for row in plan_rows(est):
        table.add_row(*row)
    return table
