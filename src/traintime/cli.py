"""The command line: parse flags, call the public API, render. No estimation logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from traintime.errors import TraintimeError

app = typer.Typer(
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    help=(
        "How long will training this language model take on that hardware, and what will it "
        "cost? With no command, answers the founding question: nanochat d32 (Oct-2025 recipe) "
        "on one RTX 4070.\n\nExamples:\n\n"
        "  traintime\n\n"
        "  traintime estimate --model llama-3.1-8b --gpu h100 --gpus 8 --tokens 15T\n\n"
        "  traintime models llama"
    ),
)

_JSON = typer.Option(False, "--json", help="Print the result as JSON (schema: docs/schema.md).")


def _console() -> Any:
    from rich.console import Console

    return Console()


@app.callback(invoke_without_command=True)
def root(ctx: typer.Context, json_out: bool = _JSON) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from traintime import catalog

    founding = catalog.load_scenario(None)
    _run_estimate(
        scenario=None,
        overrides={"reference": founding.reference, "plan": True},
        json_out=json_out,
        details=False,
    )


def _run_estimate(
    *,
    scenario: Path | None,
    overrides: dict[str, Any],
    json_out: bool,
    details: bool,
    table: bool = False,
    outputs: dict[str, Path | None] | None = None,
) -> None:
    from traintime.estimation import estimate_scenario

    est = estimate_scenario(str(scenario) if scenario else None, **overrides)
    _write_outputs(est, outputs or {})
    if json_out:
        typer.echo(est.to_json())
        return
    from traintime.report import (
        render_breakdown,
        render_estimate,
        render_flops,
        render_params,
        render_plan,
    )

    console = _console()
    console.print(render_estimate(est))
    if est.plan is not None and (details or table):
        console.print(render_plan(est))
    if details:
        console.print(render_breakdown(est))
        console.print(render_params(est))
        console.print(render_flops(est))


@app.command(
    epilog=(
        "Examples:\n\n"
        "  traintime estimate --model nanochat-d20 --gpu 4090 --micro-batch 4\n\n"
        "  traintime estimate --model ./config.json --gpu a100 --gpus 8 --tokens 100B --json\n\n"
        "  traintime estimate --scenario my_run.toml --ckpt full"
    )
)
def estimate(
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Preset, alias, nanochat-d<N>, or a path to a Hugging Face config.json / model .toml.",
    ),
    gpu: str = typer.Option(None, "--gpu", "-g", help="GPU name as you would type it: 4070, h100."),
    gpus: int = typer.Option(None, "--gpus", "-n", help="Number of GPUs (default 1)."),
    scenario: Path = typer.Option(
        None,
        "--scenario",
        "-s",
        help="Scenario TOML with [model], [training], [hardware]; flags override it.",
    ),
    tokens: str = typer.Option(None, help="Training tokens: 37.6B, 500M, 2e9."),
    tokens_per_param: float = typer.Option(None, help="Tokens per parameter (20 = Chinchilla)."),
    batch_tokens: str = typer.Option(None, help="Global batch in tokens per optimizer step."),
    micro_batch: int = typer.Option(None, help="Sequences per GPU per forward/backward."),
    seq_len: int = typer.Option(None, help="Sequence length (default: the model's)."),
    precision: str = typer.Option(None, help="bf16 | fp16 | fp8 | tf32 | fp32."),
    optimizer: str = typer.Option(None, help="adamw | muon | adamw8bit | adafactor | sgd."),
    param_dtype: str = typer.Option(None, help="Weight storage dtype: fp32 | bf16 | fp16."),
    embedding_dtype: str = typer.Option(None, help="Embedding table dtype (default: weights')."),
    grad_dtype: str = typer.Option(None, help="Gradient dtype (default: weights')."),
    master_dtype: str = typer.Option(None, help="Separate master-weight copy dtype, if any."),
    state_dtype: str = typer.Option(None, help="Optimizer state dtype (default fp32)."),
    ckpt: str = typer.Option(
        None, help="Activation checkpointing: none | selective | selective-op | full."
    ),
    attention: str = typer.Option(
        None, help="Attention kernel: flash (FA2-class) | flash3 | triton | sdpa | eager."
    ),
    compile_: bool = typer.Option(None, "--compile/--no-compile", help="torch.compile or eager."),
    dropout: float = typer.Option(
        None, help="Dropout probability (embeddings, residuals, eager attention); default 0."
    ),
    norm_kernels: str = typer.Option(
        None,
        help="Eager RMSNorm/rotary: fused | composite (tensor-op chains, as in HF and torchtitan).",
    ),
    tp: int = typer.Option(None, "--tp", help="Tensor-parallel degree."),
    sequence_parallel: bool = typer.Option(
        None,
        "--sp/--no-sp",
        help="Sequence parallelism with --tp: norms and dropout split over the TP ranks (on).",
    ),
    pp: int = typer.Option(None, "--pp", help="Pipeline-parallel degree."),
    cp: int = typer.Option(
        None, "--cp", help="Context-parallel degree (each sequence split over this many GPUs)."
    ),
    zero: int = typer.Option(None, "--zero", help="ZeRO stage / FSDP: 0 (DDP), 1, 2, 3."),
    offload: str = typer.Option(None, help="none | optimizer | optimizer+params (to CPU)."),
    system: str = typer.Option(
        None, help="Node preset for links: dgx-h100, p5, workstation-4x4090 (`traintime systems`)."
    ),
    gpus_per_node: int = typer.Option(None, help="GPUs per node (default: the system's, max 8)."),
    reference: str = typer.Option(
        None,
        help="Scale a measured run by hand beside the "
        "estimate: nanochat-d32-8xh100, nanochat-d20-8xh100.",
    ),
    details: bool = typer.Option(
        False, "--details", help="Also print parameters and FLOPs by operation."
    ),
    plan: bool = typer.Option(
        False,
        "--plan",
        help="Let the planner pick the settings you did "
        "not give (fastest configuration that fits).",
    ),
    allow_math_changes: bool = typer.Option(
        False,
        "--allow-math-changes",
        help="Allow changes to the training math: 8-bit optimizer states, a rounded global batch.",
    ),
    plan_table: bool = typer.Option(False, "--plan-table", hidden=True),
    plot: Path = typer.Option(
        None, "--plot", help="Write the step-time and memory charts (.png, .svg or .html)."
    ),
    html: Path = typer.Option(None, "--html", help="Write a self-contained HTML report."),
    electricity_price: float = typer.Option(None, help="Electricity, $/kWh (default 0.17)."),
    co2: float = typer.Option(None, help="Grid carbon intensity, kg CO2/kWh (default 0.48)."),
    pue: float = typer.Option(None, help="Facility PUE (default 1.2 data centre, 1.0 home)."),
    rent_price: float = typer.Option(None, help="Rental $/GPU-hour (default: the catalog's)."),
    gpu_price: float = typer.Option(None, help="Purchase $ per GPU (default: launch price)."),
    spot: float = typer.Option(None, help="Spot price as a fraction of on-demand (0.4)."),
    lifetime: float = typer.Option(None, help="Years to write owned hardware off (3)."),
    json_out: bool = _JSON,
) -> None:
    """Estimate one training run (model x GPUs x recipe)."""
    overrides = {
        "model": model,
        "gpu": gpu,
        "gpus": gpus,
        "tokens": tokens,
        "tokens_per_param": tokens_per_param,
        "global_batch_tokens": batch_tokens,
        "micro_batch": micro_batch,
        "seq_len": seq_len,
        "precision": precision,
        "optimizer": optimizer,
        "param_dtype": param_dtype,
        "embedding_dtype": embedding_dtype,
        "grad_dtype": grad_dtype,
        "master_dtype": master_dtype,
        "optimizer_state_dtype": state_dtype,
        "act_ckpt": ckpt,
        "attention_impl": attention,
        "compiled": compile_,
        "norm_kernels": norm_kernels,
        "dropout": dropout,
        "tp": tp,
        "sequence_parallel": sequence_parallel,
        "pp": pp,
        "cp": cp,
        "zero_stage": zero,
        "offload": offload,
        "system": system,
        "gpus_per_node": gpus_per_node,
        "reference": reference,
        "plan": plan or None,
        "allow_math_changes": allow_math_changes or None,
    }
    econ = {
        "electricity_usd_per_kwh": electricity_price,
        "co2_kg_per_kwh": co2,
        "pue": pue,
        "rent_usd_per_gpu_hour": rent_price,
        "price_usd": gpu_price,
        "spot_fraction": spot,
        "lifetime_years": lifetime,
    }
    econ = {k: v for k, v in econ.items() if v is not None}
    if econ:
        overrides["economics"] = econ
    given = {k: v for k, v in overrides.items() if v is not None}
    table = given.pop("plan_table", None)
    outputs: dict[str, Path | None] = {"plot": plot, "html": html}
    if scenario is None and "model" in given and "gpu" not in given:
        given["gpu"] = "GeForce RTX 4070"
    _run_estimate(
        scenario=scenario,
        overrides=given,
        json_out=json_out,
        details=details or scenario is not None or bool(given),
        table=bool(table),
        outputs=outputs,
    )


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog=(
        "Takes every option of `traintime estimate`; settings you give are kept, the rest are "
        "searched.\n\nExamples:\n\n  traintime plan\n\n"
        "  traintime plan --model nanochat-d20 --gpu 3090\n\n"
        "  traintime plan --model llama-3.1-8b --gpu a100 --gpus 8 --allow-math-changes --json"
    ),
)
def plan(ctx: typer.Context) -> None:
    """Find the fastest configuration that fits (micro-batch, checkpointing, offload, ZeRO,
    TP/PP) and rank the alternatives."""
    command = typer.main.get_command(app)
    estimate_cmd = command.commands["estimate"]  # type: ignore[attr-defined]
    args = list(ctx.args)
    if not any(a in ("--model", "-m", "--scenario", "-s", "--gpu", "-g") for a in args):
        from traintime import catalog

        founding = catalog.load_scenario(None)
        args += ["--model", founding.model, "--gpu", founding.gpu]
        if founding.reference:
            args += ["--reference", founding.reference]
        for key, value in founding.training.items():
            if key == "tokens_per_param":
                args += ["--tokens-per-param", str(value)]
            elif key == "global_batch_tokens":
                args += ["--batch-tokens", str(value)]
    estimate_cmd.main(
        args=[*args, "--plan", "--plan-table"], prog_name="traintime plan", standalone_mode=False
    )


@app.command(epilog="Examples:\n\n  traintime models\n\n  traintime models llama --json")
def models(
    query: str = typer.Argument(None, help="Only names containing this text."),
    json_out: bool = _JSON,
) -> None:
    """List model presets with their parameter counts and sources."""
    import json

    from traintime import catalog
    from traintime.engine.params import count_params

    rows = []
    for name in catalog.list_models():
        if query and query.lower() not in name.lower():
            continue
        spec = catalog.find_model(name)
        info = catalog.describe_model(name)
        rows.append(
            {
                "name": name,
                "params": count_params(spec).total,
                "n_layer": spec.n_layer,
                "d_model": spec.d_model,
                "vocab": spec.vocab,
                "aliases": info.get("aliases", []),
                "source": info.get("source", ""),
            }
        )
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    from traintime.tables import render_models

    _console().print(render_models(rows))


@app.command(
    epilog=(
        "Examples:\n\n  traintime gpus 4090\n\n"
        "  traintime gpus --vendor nvidia --min-memory 40 --sort bandwidth\n\n"
        "  traintime gpus --sort price --limit 0 --json"
    )
)
def gpus(
    query: str = typer.Argument(None, help="Only devices whose name contains these words."),
    vendor: str = typer.Option(None, help="NVIDIA, AMD, Intel, Google, Apple."),
    min_memory: float = typer.Option(None, "--min-memory", help="At least this many GiB."),
    sort: str = typer.Option("bf16", help="bf16 | memory | bandwidth | price (descending)."),
    limit: int = typer.Option(40, help="Rows to show; 0 = all."),
    json_out: bool = _JSON,
) -> None:
    """List the GPU catalog: dense peaks, memory, bandwidth, power and price."""
    from traintime import catalog

    found = catalog.search_gpus(query, vendor=vendor, min_memory_gib=min_memory, sort=sort)
    shown = found if limit <= 0 else found[:limit]
    if json_out:
        typer.echo("[" + ",\n".join(g.model_dump_json() for g in shown) + "]")
        return
    from traintime.tables import render_gpus

    _console().print(render_gpus(shown, total=len(found)))


@app.command(epilog='Examples:\n\n  traintime gpu 4070\n\n  traintime gpu "H100 SXM" --json')
def gpu(
    name: str = typer.Argument(..., help="A GPU as you would type it: 4070, h100, mi300x."),
    json_out: bool = _JSON,
) -> None:
    """Show one GPU with the source of each number."""
    from traintime import catalog

    spec = catalog.find_gpu(name)
    if json_out:
        typer.echo(spec.model_dump_json(indent=2))
        return
    from traintime.tables import render_gpu

    _console().print(render_gpu(spec, sustained=catalog.efficiency().gemm_sustained_fraction))


@app.command(
    epilog=(
        "Examples:\n\n  traintime validate ../shared/validation/runs_dev.csv\n\n"
        "  traintime validate runs.csv --json > accuracy.json"
    )
)
def validate(
    file: Path = typer.Argument(..., help="CSV of measured runs (shared/validation/README.md)."),
    json_out: bool = _JSON,
) -> None:
    """Predict published runs from their configuration and compare with what was measured."""
    import sys

    from traintime.validate import validate as run_validation

    progress = None
    if not json_out and sys.stdout.isatty():
        from rich.progress import track

        def progress(rows):  # type: ignore[no-untyped-def]
            return track(rows, description="predicting runs", transient=True)

    report = run_validation(file, progress=progress)
    if json_out:
        typer.echo(report.model_dump_json(indent=2))
        return
    from traintime.tables import render_validation

    _console().print(render_validation(report))


@app.command(epilog="Examples:\n\n  traintime systems\n\n  traintime systems --json")
def systems(json_out: bool = _JSON) -> None:
    """List node presets (DGX/HGX, cloud instances, workstations) and inter-node fabrics."""
    from traintime import catalog

    nodes, fabrics = catalog.list_systems(), catalog.list_fabrics()
    if json_out:
        import json

        typer.echo(
            json.dumps(
                {
                    "nodes": [n.model_dump() for n in nodes],
                    "fabrics": [f.model_dump() for f in fabrics],
                },
                indent=2,
            )
        )
        return
    from traintime.tables import render_systems

    _console().print(render_systems(nodes, fabrics))


@app.command(epilog="Example:\n\n  traintime schema > estimate.schema.json")
def schema() -> None:
    """Print the JSON schema of `--json` output (documented in docs/schema.md)."""
    import json

    from traintime.results import Estimate

    typer.echo(json.dumps(Estimate.model_json_schema(), indent=2))


def _write_outputs(est: Any, outputs: dict[str, Path | None]) -> None:
    if outputs.get("plot"):
        from traintime import plots

        plots.save(
            plots.estimate_figure(est),
            outputs["plot"],  # type: ignore[arg-type]
            title=f"traintime: {est.model.name}",
        )
    if outputs.get("html"):
        from traintime.htmlreport import write_report

        write_report(est, outputs["html"])  # type: ignore[arg-type]


@app.command(
    epilog=(
        "Examples:\n\n  traintime compare --gpu 4070,4090,3090,a100,h100 --count 1,8\n\n"
        "  traintime compare --model nanochat-d20 --all --min-memory 16 --sort cost\n\n"
        "  traintime compare --gpu 4090,h100 --plot compare.png --json"
    )
)
def compare(
    model: str = typer.Option("nanochat-d32", "--model", "-m", help="Preset, alias or path."),
    gpu: str = typer.Option(None, "--gpu", "-g", help="Comma-separated GPUs: 4070,4090,h100."),
    count: str = typer.Option("1", "--count", help="Comma-separated GPU counts: 1,8."),
    all_gpus: bool = typer.Option(False, "--all", help="Every catalog GPU passing the filters."),
    min_memory: float = typer.Option(
        None, "--min-memory", help="Only GPUs with this many GiB (default 8 with --all)."
    ),
    max_price: float = typer.Option(
        None, "--max-price", help="Only GPUs bought for at most this many USD."
    ),
    vendor: str = typer.Option(None, help="NVIDIA, AMD, Intel, Google, Apple."),
    sort: str = typer.Option("time", help="time | cost."),
    tokens: str = typer.Option(None, help="Training tokens (default: the model's recipe)."),
    limit: int = typer.Option(30, help="Rows to show; 0 = all."),
    plot: Path = typer.Option(None, "--plot", help="Write time against cost (.png/.svg/.html)."),
    allow_math_changes: bool = typer.Option(
        False,
        "--allow-math-changes",
        help="Round a global batch that does not split over a GPU count (changes the math).",
    ),
    json_out: bool = _JSON,
) -> None:
    """Compare a run across GPUs and GPU counts: plan, fit, time, energy and cost."""
    import json
    import sys

    from traintime.compare import compare as run_compare
    from traintime.units import parse_count

    try:
        counts = [int(c) for c in count.split(",") if c.strip()]
    except ValueError:
        raise typer.BadParameter(f"--count {count!r} must be integers like 1,8") from None
    progress = None
    if not json_out and sys.stdout.isatty():
        from rich.progress import track

        def progress(items):  # type: ignore[no-untyped-def]
            return track(items, description="planning", transient=True)

    training: dict[str, Any] = {}
    if tokens:
        training["tokens"] = parse_count(tokens, field="tokens")
    rows = run_compare(
        model,
        [g.strip() for g in (gpu or "").split(",") if g.strip()],
        counts=counts,
        all_gpus=all_gpus,
        min_memory_gib=min_memory,
        max_price_usd=max_price,
        vendor=vendor,
        sort=sort,
        progress=progress,
        allow_math_changes=allow_math_changes,
        **training,
    )
    if plot:
        from traintime import plots

        plots.save(
            plots.comparison_figure([r.model_dump() for r in rows]),
            plot,
            title=f"traintime compare: {model}",
        )
    if json_out:
        typer.echo(json.dumps([r.model_dump() for r in rows], indent=2))
        return
    from traintime.tables import render_comparison

    _console().print(render_comparison(rows, limit=limit or None))
    for note in sorted({f"{r.count} GPUs: {n}" for r in rows for n in r.math_changes}):
        _console().print(f"note: {note}")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog=(
        "Takes every option of `traintime estimate`; plans unless settings are given.\n\n"
        "Examples:\n\n  traintime report --html founding.html\n\n"
        "  traintime report --model llama-3.1-8b --gpu h100 --gpus 8 --html llama.html"
    ),
)
def report(ctx: typer.Context) -> None:
    """Write one self-contained HTML report: estimate, plan, alternatives and charts."""
    if "--html" not in ctx.args:
        raise typer.BadParameter("report needs --html FILE")
    plan(ctx)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with exit code 2, never a traceback."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="traintime", standalone_mode=False)
    except TraintimeError as exc:
        _fail(str(exc))
    except Exception as exc:
        # Usage errors of typer's click (vendored in recent typer): they carry exit_code 2 and
        # format_message(); anything else is a bug and keeps its traceback.
        if getattr(exc, "exit_code", None) == 2 and hasattr(exc, "format_message"):
            _fail(_with_value(exc.format_message(), argv if argv is not None else sys.argv[1:]))
        if type(exc).__name__ == "Abort":
            print("traintime: aborted", file=sys.stderr)
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)


def _with_value(message: str, argv: list[str]) -> str:
    """Add the offending value to a usage error that names only its option."""
    import re

    match = re.search(r"'(--[a-z0-9-]+)'", message)
    if match and match.group(1) in argv:
        i = argv.index(match.group(1))
        if i + 1 < len(argv) and argv[i + 1] not in message:
            return f"{message} (got {argv[i + 1]!r})"
    return message


def _fail(message: str) -> None:
    print(f"traintime: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)
