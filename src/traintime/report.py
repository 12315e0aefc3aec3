"""Render results for people: rich tables and short text. Formatting only; no arithmetic beyond
unit conversion happens here."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from traintime.engine.lora import METHOD_NAMES, ordered_targets
from traintime.planner import Candidate
from traintime.results import Estimate, TrainingReport
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
    active = ""
    if spec.moe:
        active = f", {human_count(params.active)} active per token"
    mlp = f"{spec.ffn_act} MLP {spec.ffn_hidden}"
    if spec.moe:
        shared = f" + shared {spec.shared_ffn_hidden}" if spec.shared_ffn_hidden else ""
        dense = (
            f", {spec.dense_layers} dense layers of {spec.ffn_hidden}" if spec.dense_layers else ""
        )
        mlp = (
            f"{spec.n_experts} experts (top {spec.top_k}) of {spec.ffn_act} "
            f"{spec.expert_ffn_hidden}{shared}{dense}"
        )
    heads = f"{spec.n_head} heads ({spec.kv_heads} kv)"
    if spec.mla:
        heads = (
            f"{spec.n_head} heads, latent attention (kv rank {spec.kv_lora_rank}, "
            f"q rank {spec.q_lora_rank or 'full'})"
        )
    return [
        (
            "Model",
            f"{spec.name}: {params.total:,} parameters ({human_count(params.total)}){active}",
        ),
        (
            "",
            f"{spec.n_layer} layers, d_model {spec.d_model}, {heads}, {mlp}, "
            f"vocab {spec.vocab:,}, seq {spec.seq_len}{window}",
        ),
        (
            "FLOPs/token",
            f"{flops.model:.6e} model (nanochat/PaLM convention), "
            f"{flops.executed:.6e} executed ({est.training.recipe.attention_impl} "
            f"attention, checkpointing {est.training.recipe.act_ckpt})",
        ),
    ]


def _training_lines(est: Estimate) -> list[tuple[str, str]]:
    tr = est.training
    r = tr.recipe
    ratio = tr.tokens / est.model.params.total
    rows = [
        (
            "Training",
            f"{human_count(tr.tokens)} tokens{_horizon(tr)}{ratio:.3g} per parameter), "
            f"{tr.steps:,} steps of {tr.global_batch_tokens:,} tokens; micro-batch "
            f"{tr.micro_batch} x {tr.grad_accum_steps} accumulation steps",
        ),
        (
            "",
            f"{r.optimizer.name}, {r.precision}, weights {r.param_dtype}, embeddings "
            f"{r.embedding_dtype}, {'compiled' if r.compiled else 'eager'}",
        ),
        (
            "Total FLOPs",
            f"{tr.model_flops_total:.4e} model, {tr.executed_flops_total:.4e} executed",
        ),
    ]
    if r.finetune != "full":
        share = tr.trainable_params / est.model.params.total
        rows.insert(
            2,
            (
                "Fine-tune",
                f"{METHOD_NAMES[r.finetune]} rank {r.lora_rank} on "
                f"{', '.join(ordered_targets(r.lora_targets))}: {tr.trainable_params:,} trainable "
                f"parameters ({share:.2%}); frozen base "
                f"{r.base_dtype} ({r.base_bytes:g} bytes per linear weight)",
            ),
        )
    rows += [("", f"note: {n}") for n in tr.notes]
    return rows


def _horizon(tr: TrainingReport) -> str:
    """How the tokens run follow from the data: epochs and padding, when either applies."""
    parts = []
    if tr.epochs != 1:
        parts.append(f"{tr.epochs:g} epochs")
    if tr.padding_factor != 1:
        parts.append(f"padding x{tr.padding_factor:.2f}")
    return f" run ({', '.join(parts)}; " if parts else " ("


def _hardware_lines(est: Estimate) -> list[tuple[str, str]]:
    hw = est.hardware
    gpu = hw.gpu
    peak = f"{hw.peak_tflops:g} TFLOPS {hw.precision} dense"
    rows = [
        (
            "Hardware",
            f"{hw.count} x {gpu.name}: {peak}, {gpu.memory_gib:g} GiB, "
            f"{gpu.bandwidth_gbs:g} GB/s" + (f", {gpu.tdp_w:g} W" if gpu.tdp_w else ""),
        ),
    ]
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
            "Time" if tm.runs else "If it fit",
            f"{human_duration(tm.total_hours * HOUR)} "
            f"(likely {human_duration(tm.low_hours * HOUR)} to "
            f"{human_duration(tm.high_hours * HOUR)}: {tm.band_basis})"
            + ("" if tm.runs else "; the time if memory were unlimited: this setup does not fit"),
        ),
    ]
    if tm.balanced_routing_hours:
        imbalance = est.training.recipe.moe_imbalance
        rows.append(
            (
                "",
                f"load imbalance: {human_duration(tm.balanced_routing_hours * HOUR)} with routing "
                f"forced even (as MoE benchmarks run) to "
                f"{human_duration(tm.total_hours * HOUR)} dropless with the busiest expert rank "
                f"at {imbalance:g}x the mean",
            )
        )
    if tm.goodput < 0.995:
        rows.append(
            (
                "",
                f"wall-clock with restarts and downtime: {human_duration(tm.expected_hours * HOUR)}"
                f" (goodput {tm.goodput:.0%}: {tm.goodput_source})",
            )
        )
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
    parts = ", ".join(
        f"{k.replace('_', ' ')} {v:.1f}" for k, v in mem.breakdown.items() if v >= 0.05
    )
    verdict = "fits" if mem.fits else "DOES NOT FIT"
    if mem.host_gib:
        offload = est.training.layout.offload
        what = "optimizer state and weights" if offload == "optimizer+params" else "optimizer state"
        parts += f"; in host RAM, not GPU memory: {what} {mem.host_gib:.1f}"
    rows = [
        (
            "Memory",
            f"{mem.peak_gib:.1f} GiB peak per GPU in the {mem.phase} ({parts}); needs "
            f"{mem.needed_gib:.1f} of {mem.capacity_gib:g} GiB: {verdict}",
        )
    ]
    if mem.host_gib:
        rows.append(("", mem.host_note))
    return rows


def _plan_lines(est: Estimate) -> list[tuple[str, str]]:
    plan = est.plan
    pick = plan.chosen
    rows = [
        (
            "Plan",
            f"{describe(pick)}; {pick.slowdown:.2f}x the fastest run if memory were unlimited "
            f"({plan.searched:,} setups searched)",
        )
    ]
    if not plan.fits:
        rows.append(("", "nothing fits as asked: " + "; ".join(plan.advice)))
        near = plan.nearest_fit
        if near is not None:
            rows.append(
                (
                    "Nearest fit",
                    f"{describe(near)}: {human_duration(near.total_hours * HOUR)}, needs "
                    f"{near.needed_gib:.1f} GiB; changes " + ", ".join(near.changed),
                )
            )
    return rows


def describe(c: Candidate) -> str:
    """A setup in a few words: micro-batch, checkpointing, offload, ZeRO and layout."""
    what = f"micro-batch {c.micro_batch}, checkpointing {c.act_ckpt}"
    if c.offload != "none":
        what += f", offload {c.offload} (update on {c.offload_update.upper()})"
    if c.zero_stage:
        what += f", ZeRO {c.zero_stage}"
    if c.tp > 1 or c.pp > 1 or c.cp > 1:
        chunks = f" (x{c.pp_interleave} chunks)" if c.pp_interleave > 1 else ""
        what += f", TP {c.tp} PP {c.pp}{chunks}" + (f" CP {c.cp}" if c.cp > 1 else "")
    if c.ep > 1 or c.etp > 1:
        what += f", EP {c.ep}" + (f" ETP {c.etp}" if c.etp > 1 else "")
    return what


def _money_lines(est: Estimate) -> list[tuple[str, str]]:
    en, co = est.energy, est.cost
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
    rows += [("", f"note: {n}") for n in co.missing]
    return rows


def render_estimate(est: Estimate) -> RenderableType:
    """The one-screen report of an estimate. A setup that does not fit says so first."""
    hw, mem = est.hardware, est.memory
    title = Text(f"traintime: {est.model.name} on {hw.count} x {hw.gpu.name}", style="bold")
    parts: list[RenderableType] = [title]
    if not mem.fits:
        parts.append(
            Text(
                f"DOES NOT FIT: this setup needs {mem.needed_gib:.1f} GiB per GPU and a "
                f"{hw.gpu.name} has {mem.capacity_gib:g} GiB. The time below is what it would "
                "take if memory were unlimited; see the nearest setup that fits under Plan.",
                style="bold red",
            )
        )
    rows = (
        _model_lines(est)
        + _training_lines(est)
        + _hardware_lines(est)
        + _plan_lines(est)
        + _memory_lines(est)
        + _speed_lines(est)
        + _money_lines(est)
    )
    parts.append(_kv_table(rows))
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
    for name, seconds in tp.breakdown_s.items():
        table.add_row(name, f"{seconds:.4g}", f"{seconds / tp.step_time_s:.1%}")
    table.add_row("step", f"{tp.step_time_s:.4g}", "100%", style="bold")
    return table


PLAN_COLUMNS = (
    "micro-batch",
    "checkpointing",
    "offload",
    "ZeRO",
    "TP x PP x CP",
    "EP",
    "step s",
    "slowdown",
    "needs GiB",
    "fits",
    "host GiB",
    "note",
)


def plan_rows(est: Estimate) -> list[list[str]]:
    """The planner's alternatives as table cells, in PLAN_COLUMNS order (terminal and HTML)."""
    rows = []
    for c in est.plan.alternatives:
        note = "changes math" if c.changes_math else ("chosen" if c == est.plan.chosen else "")
        offload = c.offload if c.offload == "none" else f"{c.offload} ({c.offload_update})"
        rows.append(
            [
                str(c.micro_batch),
                c.act_ckpt,
                offload,
                str(c.zero_stage),
                f"{c.tp} x {c.pp} x {c.cp}",
                str(c.ep) + (f" x {c.etp}" if c.etp > 1 else ""),
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
        title="Setups (best of each kind; slowdown vs the fastest run if memory were unlimited)"
    )
    left = ("checkpointing", "offload", "fits", "note")
    for col in PLAN_COLUMNS:
        table.add_column(col, justify="left" if col in left else "right")
    for row in plan_rows(est):
        table.add_row(*row)
    return table
