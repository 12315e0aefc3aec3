"""The command line: parse flags, call the public API, render. No estimation logic lives here."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import typer

from traintime.errors import TraintimeError

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
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


def _check_limit(limit: int) -> None:
    if limit < 0:
        raise typer.BadParameter(f"--limit {limit}: rows to show must be 0 (all) or more")


class _Piped:
    """Output for a pipe or a file: no hard wrapping (the width is COLUMNS, else wide enough
    for any line), no colour, no trailing spaces."""

    def __init__(self) -> None:
        import io
        import os

        from rich.console import Console

        width = int(os.environ.get("COLUMNS") or 0) or 1000
        self._buffer = io.StringIO()
        self._console = Console(file=self._buffer, width=width, no_color=True, highlight=False)

    def print(self, *objects: Any) -> None:
        self._console.print(*objects)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        sys.stdout.write("".join(line.rstrip() + "\n" for line in text.splitlines()))


def _console() -> Any:
    """A rich console on a terminal; plain, unwrapped lines into a pipe or a file."""
    if not sys.stdout.isatty():
        return _Piped()
    from rich.console import Console

    return Console()


def _opt(*names: str, help: str, **kw: Any) -> Any:
    return typer.Option(None, *names, help=help, **kw)


#: The flags that say what to train and how: shared by estimate, plan, report and compare. Each
#: maps to a key of ``estimation.with_overrides`` (a Question or TrainingSpec field); help texts
#: with {placeholders} are filled from the data files when the command line is built.
_RECIPE: dict[str, tuple[str, Any, Any]] = {
    "model": (
        "model",
        str,
        _opt(
            "--model",
            "-m",
            help="Preset, alias, nanochat-d<N>, a Hugging Face config.json, model directory "
            "or repo id (Qwen/Qwen3-8B, from the local HF cache), or a model .toml "
            "(compare: several, comma-separated).",
        ),
    ),
    "tokens": ("tokens", str, _opt("--tokens", help="Training tokens: 37.6B, 500M, 2e9.")),
    "tokens_per_param": (
        "tokens_per_param",
        float,
        _opt(
            "--tokens-per-param",
            help="Tokens per parameter (default: the model's recipe, else 20).",
        ),
    ),
    "batch_tokens": (
        "global_batch_tokens",
        str,
        _opt(
            "--batch-tokens",
            help="Global batch in tokens per optimizer step (default: the model's recipe, else "
            "{global_batch_tokens}).",
        ),
    ),
    "micro_batch": (
        "micro_batch",
        int,
        _opt(
            "--micro-batch", help="Sequences per GPU per forward/backward (default: the planner's)."
        ),
    ),
    "seq_len": ("seq_len", int, _opt("--seq-len", help="Sequence length (default: the model's).")),
    "precision": (
        "precision",
        str,
        _opt("--precision", help="bf16 | fp16 | fp8 | mxfp8 | nvfp4 (Blackwell) | tf32 | fp32."),
    ),
    "optimizer": (
        "optimizer",
        str,
        _opt(
            "--optimizer",
            help="adamw | muon | adamw8bit | paged-adamw8bit (state pages to host RAM) | "
            "adafactor | sgd.",
        ),
    ),
    "param_dtype": (
        "param_dtype",
        str,
        _opt(
            "--param-dtype",
            help="Weight storage dtype: fp32 | bf16 | fp16 (default: by ZeRO and offload).",
        ),
    ),
    "embedding_dtype": (
        "embedding_dtype",
        str,
        _opt("--embedding-dtype", help="Embedding table dtype (default: the weights')."),
    ),
    "grad_dtype": (
        "grad_dtype",
        str,
        _opt("--grad-dtype", help="Gradient dtype (default: the weights')."),
    ),
    "master_dtype": (
        "master_dtype",
        str,
        _opt("--master-dtype", help="Master-weight copy dtype, or none."),
    ),
    "state_dtype": (
        "optimizer_state_dtype",
        str,
        _opt("--state-dtype", help="Optimizer state dtype (default: the master weights')."),
    ),
    "ckpt": (
        "act_ckpt",
        str,
        _opt(
            "--ckpt",
            help="Activation checkpointing: none | selective | "
            "selective-op | full (default: the planner's).",
        ),
    ),
    "attention": (
        "attention_impl",
        str,
        _opt(
            "--attention",
            help="Attention kernel: flash (FA2-class) | flash3 | triton | sdpa | eager.",
        ),
    ),
    "compile_": ("compiled", bool, _opt("--compile/--no-compile", help="torch.compile or eager.")),
    "dropout": ("dropout", float, _opt("--dropout", help="Dropout probability (default 0).")),
    "norm_kernels": (
        "norm_kernels",
        str,
        _opt(
            "--norm-kernels",
            help="Eager RMSNorm/rotary: "
            "fused | composite (tensor-op chains, as in HF and torchtitan).",
        ),
    ),
    "loss_impl": (
        "loss_impl",
        str,
        _opt(
            "--loss",
            help="Loss kernel: eager (fp32 upcast) | compiled | fused (chunked, as llm.c and "
            "Liger; default: follows --compile).",
        ),
    ),
    "tp": ("tp", int, _opt("--tp", help="Tensor-parallel degree (default: the planner's).")),
    "sequence_parallel": (
        "sequence_parallel",
        bool,
        _opt("--sp/--no-sp", help="Sequence parallelism with --tp (default on)."),
    ),
    "pp": ("pp", int, _opt("--pp", help="Pipeline-parallel degree (default: the planner's).")),
    "pp_interleave": (
        "pp_interleave",
        int,
        _opt("--pp-interleave", help="Model chunks per pipeline stage (interleaved 1F1B)."),
    ),
    "cp": (
        "cp",
        int,
        _opt("--cp", help="Context-parallel degree (each sequence split over this many GPUs)."),
    ),
    "zero": ("zero_stage", int, _opt("--zero", help="ZeRO stage / FSDP: 0 (DDP), 1, 2, 3.")),
    "offload": (
        "offload",
        str,
        _opt("--offload", help="none | optimizer | optimizer+params (to host RAM)."),
    ),
    "offload_update": (
        "offload_update",
        str,
        _opt(
            "--offload-update", help="Where an offloaded optimizer's update runs: cpu | gpu (Muon)."
        ),
    ),
    "ep": (
        "ep",
        int,
        _opt("--ep", help="Expert-parallel degree, MoE models (default: the planner's)."),
    ),
    "etp": (
        "etp",
        int,
        _opt("--etp", help="Expert tensor-parallel degree, MoE models (default 1)."),
    ),
    "moe_dispatcher": (
        "moe_dispatcher",
        str,
        _opt(
            "--moe-dispatcher",
            help="Token dispatch: alltoall (NCCL) | deepep | allgather (default {moe_dispatcher}).",
        ),
    ),
    "moe_routing": (
        "moe_routing",
        str,
        _opt(
            "--moe-routing",
            help="balanced (forced, as benchmarks) | dropless | capacity (drops tokens: needs "
            "--allow-math-changes; default {moe_routing}).",
        ),
    ),
    "capacity_factor": (
        "capacity_factor",
        float,
        _opt("--capacity-factor", help="Expert capacity / mean load, with --moe-routing capacity."),
    ),
    "moe_overlap": (
        "moe_overlap",
        bool,
        _opt(
            "--moe-overlap/--no-moe-overlap",
            help="Overlap the expert all-to-all with another micro-batch (Megatron, DualPipe).",
        ),
    ),
    "system": (
        "system",
        str,
        _opt(
            "--system",
            help="Node preset for links: dgx-h100, p5, workstation-4x4090 (`traintime systems`).",
        ),
    ),
    "gpus_per_node": (
        "gpus_per_node",
        int,
        _opt("--gpus-per-node", help="GPUs per node (default: the system's, max 8)."),
    ),
    "reference": (
        "reference",
        str,
        _opt(
            "--reference",
            help="Scale a measured run by hand "
            "beside the estimate: nanochat-d32-8xh100, nanochat-d20-8xh100.",
        ),
    ),
    "finetune": (
        "finetune",
        str,
        _opt(
            "--finetune",
            help="full (default: every weight trained) | lora | qlora (LoRA on a quantized "
            "frozen base). A fine-tune is sized by --tokens (its dataset) and --epochs.",
        ),
    ),
    "lora_rank": ("lora_rank", int, _opt("--lora-rank", help="LoRA rank (default 16).")),
    "lora_alpha": (
        "lora_alpha",
        float,
        _opt("--lora-alpha", help="LoRA alpha (recorded; changes no time or memory)."),
    ),
    "lora_targets": (
        "lora_targets",
        str,
        _opt(
            "--lora-targets",
            help="all-linear (default) | attention | attn-qv | mlp, or module names "
            "q,k,v,o,gate,up,down,lm_head.",
        ),
    ),
    "base_dtype": (
        "base_dtype",
        str,
        _opt(
            "--base-dtype",
            help="Frozen base storage: bf16 (LoRA default) | fp16 | fp32 | int8 | nf4 | nf4-dq "
            "(QLoRA default: NF4 with double quantization) | int4 (GPTQ).",
        ),
    ),
    "epochs": ("epochs", float, _opt("--epochs", help="Passes over --tokens (default 1).")),
    "packing": (
        "packing",
        bool,
        _opt(
            "--packing/--no-packing",
            help="Samples packed into full sequences (default), or padded: then give "
            "--mean-seq-len, and the padding costs time.",
        ),
    ),
    "mean_seq_len": (
        "mean_seq_len",
        int,
        _opt("--mean-seq-len", help="Mean tokens per sample, for padded samples."),
    ),
    "allow_math_changes": (
        "allow_math_changes",
        bool,
        typer.Option(
            False,
            "--allow-math-changes",
            help="Let the planner change the training math when "
            "nothing else works: round a global batch that does not split, 8-bit optimizer states.",
        ),
    ),
    "electricity_price": (
        "electricity_usd_per_kwh",
        float,
        _opt("--electricity-price", help="Electricity, $/kWh (default {electricity_usd_per_kwh})."),
    ),
    "co2": (
        "co2_kg_per_kwh",
        float,
        _opt("--co2", help="Grid carbon intensity, kg CO2/kWh (default {co2_kg_per_kwh})."),
    ),
    "pue": (
        "pue",
        float,
        _opt("--pue", help="Facility PUE (default {datacenter_pue} data centre, {home_pue} home)."),
    ),
    "rent_price": (
        "rent_usd_per_gpu_hour",
        float,
        _opt("--rent-price", help="Rental $/GPU-hour (default: the catalog's)."),
    ),
    "gpu_price": (
        "price_usd",
        float,
        _opt("--gpu-price", help="Purchase $ per GPU (default: the launch price)."),
    ),
    "spot": (
        "spot_fraction",
        float,
        _opt("--spot", help="Spot price as a fraction of on-demand (default {spot_fraction})."),
    ),
    "lifetime": (
        "lifetime_years",
        float,
        _opt("--lifetime", help="Years to write owned hardware off (default {lifetime_years})."),
    ),
    "goodput": (
        "goodput",
        float,
        _opt(
            "--goodput",
            help="Share of wall-clock time spent training, restarts and downtime excluded "
            "(default: Llama 3's {reference_goodput} at {reference_gpus} GPUs, scaled by GPU "
            "count).",
        ),
    ),
}
_ECONOMICS = {
    "electricity_price",
    "co2",
    "pue",
    "rent_price",
    "gpu_price",
    "spot",
    "lifetime",
    "goodput",
}
_HARDWARE: dict[str, tuple[str, Any, Any]] = {
    "gpu": ("gpu", str, _opt("--gpu", "-g", help="GPU name as you would type it: 4070, h100.")),
    "gpus": ("gpus", int, _opt("--gpus", "-n", help="Number of GPUs (default 1).")),
    "no_calibration": (
        "calibration",
        bool,
        typer.Option(
            False,
            "--no-calibration",
            help="Ignore this machine's calibration of the GPU (traintime calibrate), if any.",
        ),
    ),
}
_SCENARIO = typer.Option(
    None,
    "--scenario",
    "-s",
    help="Scenario TOML ([model], [training], [hardware], [economics], [plan]); flags override it.",
)


def _with_options(*tables: dict[str, tuple[str, Any, Any]]) -> Any:
    """Add the shared flags to a command's signature (typer reads ``__signature__``); the
    command receives them in ``**flags``."""

    def wrap(func: Any) -> Any:
        sig = inspect.signature(func)
        params = [p for p in sig.parameters.values() if p.kind != p.VAR_KEYWORD]
        for table in tables:
            for name, (_, annotation, option) in table.items():
                params.append(
                    inspect.Parameter(
                        name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation
                    )
                )
        func.__signature__ = sig.replace(parameters=params)
        return func

    return wrap


def _overrides(flags: dict[str, Any]) -> dict[str, Any]:
    """The flags as ``with_overrides`` keys (None: not given)."""
    tables = {**_RECIPE, **_HARDWARE}
    out: dict[str, Any] = {}
    econ: dict[str, Any] = {}
    for name, value in flags.items():
        if value is None or (name in ("allow_math_changes", "no_calibration") and not value):
            continue
        if name == "no_calibration":
            out["calibration"] = False
            continue
        key = tables[name][0]
        (econ if name in _ECONOMICS else out)[key] = value
    if econ:
        out["economics"] = econ
    return out


def command_line(overrides: dict[str, Any], command: str = "estimate") -> str:
    """The ``traintime`` command line that asks what ``overrides`` (``with_overrides`` keys,
    economics as a dict) ask on top of the founding scenario: the inverse of ``_overrides``,
    read from the same flag tables (the web page's "command line" link)."""
    import shlex

    flags: dict[str, str] = {}  # key -> long flag (or "--x/--no-x")
    for name, (key, _, option) in {**_RECIPE, **_HARDWARE}.items():
        decl = next(d for d in option.param_decls if d.startswith("--"))
        flags["economics." + key if name in _ECONOMICS else key] = decl
    given = {k: v for k, v in overrides.items() if k not in ("economics", "training")}
    given |= overrides.get("training") or {}
    given |= {"economics." + k: v for k, v in (overrides.get("economics") or {}).items()}
    words = ["traintime", command]
    for key, value in given.items():
        if value is None:
            continue
        if key == "calibration":
            if not value:
                words.append("--no-calibration")
            continue
        if key not in flags:
            raise TraintimeError(f"{key} has no command-line flag")
        decl = flags[key]
        if isinstance(value, bool):
            on, _, off = decl.partition("/")
            if value or off:
                words.append(on if value else off)
            continue
        words += [decl, str(value)]
    return shlex.join(words)


@app.callback(invoke_without_command=True)
def root(ctx: typer.Context, json_out: bool = _JSON) -> None:
    if ctx.invoked_subcommand is not None:
        return
    _run_estimate(scenario=None, overrides={}, json_out=json_out)


def _run_estimate(
    *,
    scenario: Path | None,
    overrides: dict[str, Any],
    json_out: bool,
    details: bool = False,
    table: bool = False,
    outputs: dict[str, Path | None] | None = None,
) -> None:
    from traintime.estimation import estimate_scenario

    est = estimate_scenario(scenario, **overrides)
    _write_outputs(est, outputs or {}, json_out=json_out)
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
    if table:
        console.print(render_plan(est))
    if details:
        console.print(render_breakdown(est))
        console.print(render_params(est))
        console.print(render_flops(est))


@app.command(
    epilog=(
        "Settings you give are kept; the planner chooses the micro-batch, checkpointing, "
        "offload, ZeRO stage and layout you leave unset, and says so.\n\n"
        "Examples:\n\n"
        "  traintime estimate --model nanochat-d20 --gpu 4090 --micro-batch 4\n\n"
        "  traintime estimate --model ./config.json --gpu a100 --gpus 8 --tokens 100B --json\n\n"
        "  traintime estimate --scenario my_run.toml --ckpt full"
    )
)
@_with_options(_HARDWARE, _RECIPE)
def estimate(
    scenario: Path = _SCENARIO,
    details: bool = typer.Option(
        False, "--details", help="Also print the step time by category, parameters and FLOPs."
    ),
    plan: bool = typer.Option(False, "--plan", help="Also print the planner's alternatives."),
    plot: Path = typer.Option(
        None, "--plot", help="Write the step-time and memory charts (.png, .svg or .html)."
    ),
    html: Path = typer.Option(None, "--html", help="Write a self-contained HTML report."),
    json_out: bool = _JSON,
    **flags: Any,
) -> None:
    """Estimate one training run (model x GPUs x recipe)."""
    _run_estimate(
        scenario=scenario,
        overrides=_overrides(flags),
        json_out=json_out,
        details=details,
        table=plan,
        outputs={"plot": plot, "html": html},
    )


@app.command(
    epilog=(
        "Takes every option of `traintime estimate`; settings you give are kept, the rest are "
        "searched.\n\nExamples:\n\n  traintime plan\n\n"
        "  traintime plan --model nanochat-d20 --gpu 3090\n\n"
        "  traintime plan --model llama-3.1-8b --gpu a100 --gpus 8 --allow-math-changes --json"
    ),
)
@_with_options(_HARDWARE, _RECIPE)
def plan(scenario: Path = _SCENARIO, json_out: bool = _JSON, **flags: Any) -> None:
    """Find the fastest setup that fits (micro-batch, checkpointing, offload, ZeRO, TP/PP/CP)
    and rank the alternatives."""
    _run_estimate(scenario=scenario, overrides=_overrides(flags), json_out=json_out, table=True)


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
        counts = count_params(spec)
        rows.append(
            {
                "name": name,
                "family": spec.family,
                "params": counts.total,
                "active_params": counts.active,
                "n_layer": spec.n_layer,
                "d_model": spec.d_model,
                "vocab": spec.vocab,
                "aliases": info.get("aliases", []),
                "source": info.get("source", ""),
                "published": info.get("published", ""),
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
    from traintime.compare import check_vendor

    _check_limit(limit)
    check_vendor(vendor)
    found = catalog.search_gpus(query, vendor=vendor, min_memory_gib=min_memory, sort=sort)
    shown = found if limit == 0 else found[:limit]
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
    files: list[Path] = typer.Argument(
        ...,
        help="CSVs of measured runs (shared/validation/README.md), e.g. runs_dev.csv "
        "runs_moe_dev.csv; a row's config column names a file in configs/ beside its table.",
    ),
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

    report = run_validation(*files, progress=progress)
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


def _write_outputs(est: Any, outputs: dict[str, Path | None], *, json_out: bool = False) -> None:
    """Write the charts and the HTML report asked for, and say where (on stderr under --json,
    whose stdout is the JSON document alone)."""
    written = []
    if outputs.get("plot"):
        from traintime import plots

        written.append(
            plots.save(
                plots.estimate_figure(est),
                outputs["plot"],  # type: ignore[arg-type]
                title=f"traintime: {est.model.name}",
            )
        )
    if outputs.get("html"):
        from traintime.htmlreport import write_report

        written.append(write_report(est, outputs["html"]))  # type: ignore[arg-type]
    for path in written:
        _wrote(path, json_out=json_out)


def _wrote(path: Path, *, json_out: bool = False) -> None:
    typer.echo(f"wrote {path}", err=json_out)


@app.command(
    epilog=(
        "Takes the recipe options of `traintime estimate` (all but --gpu and --gpus).\n\n"
        "Examples:\n\n  traintime compare --gpu 4070,4090,3090,a100,h100 --count 1,8\n\n"
        "  traintime compare --model nanochat-d20 --all --min-memory 16 --sort cost\n\n"
        "  traintime compare --gpu 4090,h100 --scenario my_run.toml --plot compare.png --json"
    )
)
@_with_options(_RECIPE)
def compare(
    scenario: Path = _SCENARIO,
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
    limit: int = typer.Option(30, help="Rows to show; 0 = all."),
    plot: Path = typer.Option(None, "--plot", help="Write time against cost (.png/.svg/.html)."),
    json_out: bool = _JSON,
    **flags: Any,
) -> None:
    """Compare a run across GPUs and GPU counts: plan, fit, time, energy and cost."""
    import json
    import sys

    from traintime.compare import compare as run_compare

    _check_limit(limit)
    try:
        counts = [int(c) for c in count.split(",") if c.strip()]
    except ValueError:
        raise typer.BadParameter(f"--count {count!r} must be integers like 1,8") from None
    if not counts or any(c < 1 for c in counts):
        raise typer.BadParameter(f"--count {count!r} must be whole numbers >= 1, like 1,8")
    progress = None
    if not json_out and sys.stdout.isatty():
        from rich.progress import track

        def progress(items):  # type: ignore[no-untyped-def]
            return track(items, description="planning", transient=True)

    rows = run_compare(
        gpus=[g.strip() for g in (gpu or "").split(",") if g.strip()],
        counts=counts,
        all_gpus=all_gpus,
        min_memory_gib=min_memory,
        max_price_usd=max_price,
        vendor=vendor,
        sort=sort,
        progress=progress,
        scenario=scenario,
        **_overrides(flags),
    )
    title = rows[0].model if rows else "compare"
    if plot:
        from traintime import plots

        written = plots.save(
            plots.comparison_figure(
                [r.model_dump() for r in rows], tokens=rows[0].tokens if rows else None
            ),
            plot,
            title=f"traintime compare: {title}",
        )
        _wrote(written, json_out=json_out)
    if json_out:
        typer.echo(json.dumps([r.model_dump() for r in rows], indent=2))
        return
    from traintime.tables import render_comparison

    _console().print(render_comparison(rows, limit=limit or None))
    for note in sorted({f"{r.count} GPUs: {n}" for r in rows for n in r.math_changes}):
        _console().print(f"note: changed the training math: {note}")


@app.command(
    epilog=(
        "Takes every option of `traintime estimate`.\n\n"
        "Examples:\n\n  traintime report --html founding.html\n\n"
        "  traintime report --model llama-3.1-8b --gpu h100 --gpus 8 --html llama.html"
    ),
)
@_with_options(_HARDWARE, _RECIPE)
def report(
    html: Path = typer.Option(..., "--html", help="The HTML file to write."),
    scenario: Path = _SCENARIO,
    **flags: Any,
) -> None:
    """Write one self-contained HTML report: estimate, plan, alternatives and charts."""
    from traintime.estimation import estimate_scenario
    from traintime.htmlreport import write_report

    _wrote(write_report(estimate_scenario(scenario, **_overrides(flags)), html))


def _need_torch() -> None:
    """One line, not a traceback, when the probe's PyTorch is not installed."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise TraintimeError(
            "this command measures the device with PyTorch, which is not installed: "
            'pip install "traintime[probe]" (on a machine without a GPU, install the CPU build '
            "of torch first)"
        )


_DEVICE = typer.Option(
    None, "--device", help="cuda | rocm | mps | cpu (default: the first GPU, else the CPU)."
)
_AS_GPU = typer.Option(
    None,
    "--gpu",
    "-g",
    help="The catalog GPU the device is, when its driver name is not one (default: from it).",
)


@app.command(
    epilog=(
        "Without --model: micro-benchmarks (GEMM, attention, bandwidth, host transfers, memory "
        "overheads, collectives), each beside the value the model uses. With --model: timed "
        'training steps of the real model beside the prediction. Needs pip install "traintime'
        '[probe]".\n\nExamples:\n\n  traintime probe --device cuda --quick\n\n'
        "  traintime probe --model nanochat-d12 --micro-batch 8 --steps 20 --ckpt full\n\n"
        "  traintime probe --model nanochat-d2 --seq-len 128 --device cpu --json"
    )
)
def probe(
    device: str = _DEVICE,
    quick: bool = typer.Option(False, "--quick", help="Fewer shapes and sizes (seconds)."),
    model: str = typer.Option(
        None, "--model", "-m", help="Probe this model instead (preset, nanochat-d<N>, config.json)."
    ),
    micro_batch: int = typer.Option(1, "--micro-batch", min=1, help="Sequences per step."),
    seq_len: int = typer.Option(
        None, "--seq-len", min=1, help="Tokens per sequence (default: the model's)."
    ),
    steps: int = typer.Option(20, "--steps", min=1, help="Timed steps after warm-up."),
    ckpt: str = typer.Option("none", "--ckpt", help="Activation checkpointing: none | full."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the model."),
    precision: str = typer.Option(
        None, "--precision", help="bf16 | fp32 (default: the model's recipe)."
    ),
    optimizer: str = typer.Option(
        None, "--optimizer", help="adamw | muon (default: the model's recipe)."
    ),
    gpus: int = typer.Option(1, "--gpus", "-n", min=1, help="Devices, under torchrun."),
    parallel: str = typer.Option("ddp", "--parallel", help="ddp | fsdp2, with --gpus > 1."),
    gpu: str = _AS_GPU,
    no_calibration: bool = typer.Option(
        False, "--no-calibration", help="Predict with the uncalibrated model."
    ),
    json_out: bool = _JSON,
) -> None:
    """Measure this machine's device, or a real model on it, beside the prediction."""
    _need_torch()
    from traintime.probe import run

    if model is None:
        micro = run.micro(device, quick=quick, gpu=gpu)
        if json_out:
            typer.echo(micro.model_dump_json(indent=2))
            return
        from traintime.probe.render import render_micro

        _console().print(render_micro(micro))
        return
    if ckpt not in ("none", "full"):
        # the probe's "selective" (recompute the MLP) is not the model's (attention internals)
        raise TraintimeError(f"--ckpt {ckpt!r} is not one of none, full")
    if parallel not in ("ddp", "fsdp2"):
        raise TraintimeError(f"--parallel {parallel!r} is not one of ddp, fsdp2")
    from traintime import catalog

    spec = catalog.find_model(model)
    defaults = run.recipe_defaults(spec)
    result = run.model_probe(
        spec=spec,
        device=device,
        gpu=gpu,
        use_calibration=not no_calibration,
        micro_batch=micro_batch,
        seq_len=seq_len or spec.seq_len,
        steps=steps,
        act_ckpt=ckpt,
        compiled=compile_model,
        precision=precision or defaults["precision"],
        optimizer=optimizer or defaults["optimizer"],
        gpus=gpus,
        parallel=parallel,
    )
    if json_out:
        typer.echo(result.model_dump_json(indent=2))
        return
    from traintime.probe.render import render_model_probe

    _console().print(render_model_probe(result))


@app.command(
    epilog=(
        "Runs the micro-benchmarks and a short sweep of model probes, fits this device's GEMM, "
        "attention and memory-bound rates, per-step overhead and allocator slack by least "
        "squares, and stores them (with the raw measurements) in a SQLite file in your data "
        "directory. Later estimates on the device use it and say so.\n\n"
        "Examples:\n\n  traintime calibrate --quick\n\n  traintime calibrate --show\n\n"
        "  traintime calibrate --export team.json\n\n  traintime calibrate --import team.json"
    )
)
def calibrate(
    device: str = _DEVICE,
    quick: bool = typer.Option(False, "--quick", help="Fewer measurements (about a minute)."),
    gpu: str = _AS_GPU,
    show: bool = typer.Option(False, "--show", help="List the stored calibrations."),
    reset: bool = typer.Option(
        False, "--reset", help="Delete the stored calibrations (of --gpu only, when given)."
    ),
    export: Path = typer.Option(None, "--export", help="Write the stored calibrations to JSON."),
    import_: Path = typer.Option(None, "--import", help="Add calibrations from an export."),
    json_out: bool = _JSON,
) -> None:
    """Measure this machine's device and fit the model to it."""
    from traintime import catalog
    from traintime.catalog import calibrations as store

    actions = [
        a
        for a, on in (
            ("--show", show),
            ("--reset", reset),
            ("--export", export),
            ("--import", import_),
        )
        if on
    ]
    if len(actions) > 1:
        raise TraintimeError(f"{' and '.join(actions)}: give one of them at a time")
    target = catalog.find_gpu(gpu).name if gpu else None
    if reset:
        typer.echo(f"deleted {store.reset(target)} calibration(s) from {store.store_path()}")
        return
    if export:
        n = store.export_json(export, target)
        _wrote(export, json_out=json_out)
        typer.echo(f"{n} calibration(s)", err=json_out)
        return
    if import_:
        n = store.import_json(import_)
        typer.echo(f"imported {n} calibration(s) into {store.store_path()}")
        return
    if show:
        records = store.records(target)
        if json_out:
            typer.echo("[" + ",\n".join(r.model_dump_json() for r in records) + "]")
            return
        if not records:
            typer.echo(f"no calibrations in {store.store_path()}")
            return
        from traintime.probe.render import render_fit

        for record in records:
            _console().print(render_fit(record.fit))
        return
    _need_torch()
    from traintime.probe import run

    record = run.calibrate(device, quick=quick, gpu=gpu)
    if json_out:
        typer.echo(record.model_dump_json(indent=2))
        return
    from traintime.probe.render import render_record

    _console().print(render_record(record))
    typer.echo(f"stored in {store.store_path()}")


@app.command(
    epilog=(
        'Needs pip install "traintime[web]". The page and its assets ship in the package: no '
        "CDN, no network. The JSON API is described at /docs.\n\nExamples:\n\n"
        "  traintime serve\n\n  traintime serve --port 9000\n\n"
        "  traintime serve --host 0.0.0.0   # reachable from other machines"
    )
)
def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind (loopback: only this machine)."
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """Start the local web page: the same answers as the command line, with charts."""
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise TraintimeError(
            f"traintime serve needs {' and '.join(missing)}, which is not installed: "
            'pip install "traintime[web]"'
        )
    import uvicorn

    from traintime.web.app import create_app

    loopback = host in ("127.0.0.1", "localhost", "::1")
    reach = (
        "loopback only: this machine; --host 0.0.0.0 to share it"
        if loopback
        else "reachable from other machines on the network"
    )
    typer.echo(f"traintime: serving on http://{host}:{port}/ ({reach}); API at /docs", err=True)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")


def _fill_help(command: Any) -> None:
    """Fill the {placeholders} of help texts from the data files (one source for defaults)."""
    from traintime import catalog
    from traintime.resolve import DEFAULTS

    values: dict[str, Any] = {
        k: f"{v:g}" if isinstance(v, float) else v for k, (v, _) in DEFAULTS.items()
    }
    for table in catalog.energy_defaults().values():
        values.update({k: f"{v:g}" for k, v in table.items()})
    values.update({k: v for k, v in catalog.goodput_defaults().items() if k != "source"})
    for sub in getattr(command, "commands", {}).values():
        for param in sub.params:
            text = getattr(param, "help", None)
            if text and "{" in text:
                param.help = text.format(**values)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with exit code 2, never a traceback."""
    command = typer.main.get_command(app)
    args = argv if argv is not None else sys.argv[1:]
    try:
        if "--help" in args or "-h" in args:
            _fill_help(command)
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
