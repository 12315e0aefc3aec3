"""Render results for people: rich tables and short text. Formatting only; no arithmetic beyond
unit conversion happens here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from traintime.catalog import ReferenceRun
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
        ("", f"{spec.n_layer} layers, d_model {spec.d_model}, {spec.n_head} heads"
             f" ({spec.kv_heads} kv), {spec.ffn_act} MLP {spec.ffn_hidden}, vocab {spec.vocab:,},"
             f" seq {spec.seq_len}{window}"),
        ("FLOPs/token", f"{flops.model:.6e} model (nanochat/PaLM convention), "
                        f"{flops.executed:.6e} executed ({est.training.spec.attention_impl} "
                        f"attention, checkpointing {est.training.spec.act_ckpt})"),
    ]


def _training_lines(est: Estimate) -> list[tuple[str, str]]:
    tr = est.training
    spec = tr.spec
    ratio = tr.tokens / est.model.params.total
    accum = (f"micro-batch {tr.micro_batch} x {tr.grad_accum_steps} accumulation steps"
             if tr.micro_batch else "micro-batch not set")
    rows = [
        ("Training", f"{human_count(tr.tokens)} tokens ({ratio:.3g} per parameter), "
                     f"{tr.steps:,} steps of {tr.global_batch_tokens:,} tokens; {accum}"),
        ("", f"{spec.optimizer}, {spec.precision}, weights {spec.param_dtype}"
             f"{', embeddings ' + spec.embedding_dtype if spec.embedding_dtype else ''}, "
             f"{'compiled' if spec.compiled else 'eager'}"),
        ("Total FLOPs", f"{tr.model_flops_total:.4e} model, {tr.executed_flops_total:.4e} executed"),
    ]
    rows += [("", f"note: {n}") for n in tr.notes]
    return rows


def _hardware_lines(est: Estimate) -> list[tuple[str, str]]:
    hw = est.hardware
    gpu = hw.gpu
    peak = f"{hw.peak_tflops:g} TFLOPS {hw.precision} dense" if hw.peak_tflops else "no peak known"
    rows = [
        ("Hardware", f"{hw.count} x {gpu.name}: {peak}, {gpu.memory_gib:g} GiB, "
                     f"{gpu.bandwidth_gbs:g} GB/s" + (f", {gpu.tdp_w:g} W" if gpu.tdp_w else "")),
    ]
    if hw.compute_floor_hours is not None:
        rows.append(("Compute floor", f">= {human_duration(hw.compute_floor_hours * HOUR)} even at "
                                      f"100% of peak on every GPU (no real run gets there)"))
    rows += [("", f"note: {n}") for n in hw.notes]
    return rows


def _reference_lines(est: Estimate, ref: ReferenceRun) -> list[tuple[str, str]]:
    rows = [
        ("Reference", f"{ref.description}: measured {ref.step_time_s:.3f} s/step -> "
                      f"{ref.total_hours:.1f} h for {ref.steps:,} steps "
                      f"({ref.tokens_per_sec / 1e3:,.1f}k tok/s)"),
    ]
    floor = est.hardware.compute_floor_hours
    if floor is not None:
        rows.append(("", f"the compute floor above is already {floor / ref.total_hours:,.0f}x "
                         f"the reference's measured time"))
    rows.append(("", f"source: {ref.source}"))
    return rows


def render_estimate(est: Estimate, *, reference: ReferenceRun | None = None) -> RenderableType:
    """The one-screen report of an estimate."""
    hw = est.hardware
    title = Text(f"traintime: {est.model.name} on {hw.count} x {hw.gpu.name}", style="bold")
    rows = _model_lines(est) + _training_lines(est) + _hardware_lines(est)
    if reference is not None:
        rows += _reference_lines(est, reference)
    pending = [k for k in ("throughput", "time", "memory", "plan", "energy", "cost")
               if getattr(est, k) is None]
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
    for name in ("embedding", "position", "attention", "mlp", "norms", "lm_head",
                 "value_embeds", "gates", "other"):
        value = getattr(p, name)
        if value:
            table.add_row(name, f"{value:,}")
    table.add_row("total", f"{p.total:,}", style="bold")
    return table


def render_models(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Model presets (any nanochat depth works: nanochat-d<N>, nanochat-2026-d<N>)")
    for col in ("name", "parameters", "layers", "d_model", "vocab", "source"):
        table.add_column(col, justify="right" if col in ("parameters", "layers", "d_model", "vocab")
                         else "left", overflow="fold")
    for row in rows:
        table.add_row(row["name"], human_count(row["params"]), str(row["n_layer"]),
                      str(row["d_model"]), f"{row['vocab']:,}", row["source"])
    return table

