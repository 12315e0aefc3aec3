"""``estimate(...)``: resolve the specs, run the engine, and assemble an :class:`Estimate`.

Resolution order for the training recipe: TrainingSpec defaults < the model family's recipe
(nanochat's) < a scenario's [training] table < explicit keyword arguments.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from traintime import catalog
from traintime.economics import cost_report
from traintime.economics import energy_report as energy_report_for
from traintime.engine.device import Device, usable_precision, vector_elements
from traintime.engine.flops import FlopsPerToken, counted_as, flops_per_token
from traintime.engine.memory import GIB, peak_memory
from traintime.engine.params import count_params
from traintime.engine.schedule import Schedule, make_schedule
from traintime.engine.step import (
    Recipe,
    StepTime,
    default_micro_batch,
    memory_inputs,
    offload_layout,
    step_time,
)
from traintime.errors import SpecError
from traintime.planner import Candidate, Plan, Problem, recipe_for, search, search_many
from traintime.reference import with_reference
from traintime.results import (
    Estimate,
    HardwareReport,
    MemoryReport,
    ModelReport,
    ThroughputReport,
    TimeReport,
    TrainingReport,
)
from traintime.specs import (
    Economics,
    GpuSpec,
    HardwareSpec,
    Links,
    ModelSpec,
    NodeSpec,
    Parallel,
    TrainingSpec,
    build,
)
from traintime.units import HOUR, TFLOP, parse_count

DEFAULT_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022 (Chinchilla), compute-optimal ratio


def resolve_model(model: str | ModelSpec) -> ModelSpec:
    return model if isinstance(model, ModelSpec) else catalog.find_model(model)


def resolve_gpu(gpu: str | GpuSpec) -> GpuSpec:
    return gpu if isinstance(gpu, GpuSpec) else catalog.find_gpu(gpu)


def resolve_training(
    spec: ModelSpec, base: dict[str, Any] | TrainingSpec | None, overrides: dict[str, Any]
) -> TrainingSpec:
    """Merge recipe, base and overrides (None values in overrides mean 'not given')."""
    fields: dict[str, Any] = catalog.model_recipe(spec)
    if isinstance(base, TrainingSpec):
        fields.update(base.model_dump(exclude_unset=True))
    elif base:
        fields.update(base)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "tokens" in given:
        fields.pop("tokens_per_param", None)
    if "tokens_per_param" in given:
        fields.pop("tokens", None)
    fields.update(given)
    if isinstance(fields.get("tokens"), str):
        fields["tokens"] = parse_count(fields["tokens"], field="tokens")
    if isinstance(fields.get("global_batch_tokens"), str):
        fields["global_batch_tokens"] = int(
            parse_count(fields["global_batch_tokens"], field="global_batch_tokens")
        )
    return build(TrainingSpec, "training spec", **fields)


def _layout(train: TrainingSpec, count: int) -> Parallel:
    model_parallel = train.tp * train.pp * train.cp
    if count % model_parallel:
        raise SpecError(
            f"gpus={count} is not a multiple of tp x pp x cp = {train.tp} x {train.pp} x "
            f"{train.cp} = {model_parallel}"
        )
    return build(
        Parallel,
        "parallel layout",
        dp=count // model_parallel,
        tp=train.tp,
        pp=train.pp,
        cp=train.cp,
        zero_stage=train.zero_stage,
        pp_interleave=train.pp_interleave,
        sequence_parallel=train.sequence_parallel,
        offload=train.offload,
    )


def estimate(
    model: str | ModelSpec = "nanochat-d32",
    gpu: str | GpuSpec = "GeForce RTX 4070",
    *,
    gpus: int = 1,
    gpus_per_node: int | None = None,
    system: str | NodeSpec | None = None,
    training: dict[str, Any] | TrainingSpec | None = None,
    reference: str | None = None,
    plan: bool = False,
    allow_math_changes: bool = False,
    economics: Economics | dict[str, Any] | None = None,
    **training_overrides: Any,
) -> Estimate:
    """Estimate training ``model`` on ``gpus`` x ``gpu``.

    ``training_overrides`` are TrainingSpec fields (``tokens``, ``tokens_per_param``,
    ``global_batch_tokens``, ``micro_batch``, ``seq_len``, ``precision``, ``optimizer``,
    ``act_ckpt``, ``attention_impl``, ``compiled``, ``tp``, ``pp``, ``zero_stage``, ``offload``,
    dtypes); ``tokens`` accepts '37.6B'. ``system`` names a node preset (``dgx-h100``, ``p5``)
    whose links are used; ``reference`` a measured run to scale by hand beside the estimate.
    With ``plan`` the planner searches micro-batch, checkpointing, offload, ZeRO and model
    parallelism for the fastest configuration that fits (settings given explicitly are kept),
    and the estimate describes that configuration; ``allow_math_changes`` lets it use 8-bit
    optimizer states and round a global batch that does not split over the GPUs.
    ``economics`` overrides electricity price, CO2 intensity, PUE, rental and purchase prices,
    spot fraction, hardware lifetime and host power.
    Raises :class:`~traintime.errors.TraintimeError` (one-line message) on bad input.
    """
    unknown = set(training_overrides) - set(TrainingSpec.model_fields)
    if unknown:
        name = sorted(unknown)[0]
        raise SpecError(
            f"unknown training field {name!r}; allowed: {', '.join(TrainingSpec.model_fields)}"
        )
    if gpus < 1:
        raise SpecError(f"gpus={gpus}: the number of GPUs must be at least 1")
    spec = resolve_model(model)
    node = catalog.find_system(system) if isinstance(system, str) else system
    gpu_spec = resolve_gpu(gpu)
    hardware = build(
        HardwareSpec, "hardware", gpu=gpu_spec, count=gpus, gpus_per_node=gpus_per_node, system=node
    )
    train = resolve_training(spec, training, training_overrides)
    if train.seq_len is not None and train.seq_len != spec.seq_len:
        spec = build(
            ModelSpec, f"model {spec.name}", **{**spec.model_dump(), "seq_len": train.seq_len}
        )
    econ = (
        economics
        if isinstance(economics, Economics)
        else build(Economics, "economics", **(economics or {}))
    )
    est = _compose(spec, train, hardware, plan=plan, allow_math=allow_math_changes, econ=econ)
    if reference is not None:
        est = with_reference(est, reference)
    return est


def _split_global_batch(
    train: TrainingSpec, seq_len: int, dp: int, *, allow_math: bool, notes: list[str]
) -> TrainingSpec:
    """The global batch must be whole sequences on every data-parallel GPU. Otherwise, with
    ``allow_math`` the nearest batch that splits is used and labelled a change to the training
    math; without it a one-line error names the two nearest batches that split."""
    batch, unit = train.global_batch_tokens, seq_len * dp
    if batch % unit == 0:
        return train
    below, above = batch // unit * unit, (batch // unit + 1) * unit
    if not allow_math:
        options = f"{below} or {above}" if below else f"{above}"
        raise SpecError(
            f"global_batch_tokens={batch} does not split over {dp} data-parallel GPU(s): it "
            f"must be a multiple of seq_len x data-parallel GPUs = {seq_len} x {dp} = {unit}; "
            f"use {options}, or --allow-math-changes to round it"
        )
    rounded = below if below and batch - below <= above - batch else above
    notes.append(
        f"changed the training math: global batch {batch:,} -> {rounded:,} tokens, the nearest "
        f"multiple of seq_len x data-parallel GPUs ({seq_len:,} x {dp})"
    )
    return train.model_copy(update={"global_batch_tokens": rounded})


def _tokens(train: TrainingSpec, total_params: int, notes: list[str]) -> float:
    if train.tokens is not None:
        return train.tokens
    ratio = train.tokens_per_param
    if ratio is None:
        ratio = DEFAULT_TOKENS_PER_PARAM
        notes.append(f"tokens not given: {ratio:g} tokens per parameter (Chinchilla)")
    return ratio * total_params


def _compose(
    spec: ModelSpec,
    train: TrainingSpec,
    hw: HardwareSpec,
    *,
    plan: bool,
    allow_math: bool,
    econ: Economics,
) -> Estimate:
    params = count_params(spec)
    notes: list[str] = []
    par = _layout(train, hw.count)
    train = _split_global_batch(train, spec.seq_len, par.dp, allow_math=allow_math, notes=notes)
    tokens = _tokens(train, params.total, notes)
    micro = train.micro_batch
    if micro is None:
        micro = default_micro_batch(
            spec.seq_len, dp=par.dp, pp=par.pp, global_batch_tokens=train.global_batch_tokens
        )
        if not plan:
            notes.append(
                f"micro-batch not given: assumed {micro} sequence{'s' * (micro != 1)} per GPU "
                f"(about 16K tokens per micro-step); `traintime plan` picks the fastest that fits"
            )
    recipe = _recipe(train, micro)
    links = _links(hw)
    eff = catalog.efficiency()
    plan_result = None
    if plan:
        plan_result = search(
            _problem(spec, train, hw, par, recipe, links), allow_math_changes=allow_math
        )
        pick = plan_result.chosen or plan_result.nearest
        par = par.model_copy(  # the user's context parallelism and interleaving are kept
            update={
                "dp": hw.count // (pick.tp * pick.pp * par.cp),
                "tp": pick.tp,
                "pp": pick.pp,
                "zero_stage": pick.zero_stage,
                "offload": pick.offload,
            }
        )
        recipe = replace(
            recipe_for(recipe, pick.offload, pick.optimizer_state_dtype),
            micro_batch=pick.micro_batch,
            act_ckpt=pick.act_ckpt,
        )
        notes += _plan_notes(plan_result, pick)
    flops = flops_per_token(spec, attention_impl=_flops_impl(train), act_ckpt=recipe.act_ckpt)  # type: ignore[arg-type]
    schedule = make_schedule(
        tokens=tokens,
        global_batch_tokens=train.global_batch_tokens,
        seq_len=spec.seq_len,
        data_parallel=par.dp,
        micro_batch=recipe.micro_batch,
    )
    step = step_time(spec, recipe, par, Device(hw.gpu, eff), links, eff)
    used = train.model_copy(
        update={
            "micro_batch": recipe.micro_batch,
            "act_ckpt": recipe.act_ckpt,
            "offload": par.offload,
            "zero_stage": par.zero_stage,
            "tp": par.tp,
            "pp": par.pp,
        }
    )
    energy_report = energy_report_for(step, schedule.steps, hw, econ)
    return Estimate(
        model=ModelReport(name=spec.name, spec=spec, params=params, flops_per_token=flops),
        training=_training_report(used, schedule, flops, notes),
        hardware=_hardware_report(hw, train, flops.executed * schedule.tokens),
        throughput=_throughput(
            step,
            flops,
            hw,
            train,
            par,
            recipe.micro_batch,
            links,
            notes=[*step.notes, *_alignment_notes(spec, hw, train, par.tp)],
        ),
        time=_time(step.step_time_s * schedule.steps),
        memory=_memory_report(spec, recipe, par, hw),
        plan=plan_result,
        energy=energy_report,
        cost=cost_report(step.step_time_s * schedule.steps / HOUR, hw, econ, energy_report),
    )


def _links(hw: HardwareSpec) -> Links:
    per_node = hw.gpus_per_node or (hw.system.gpus_per_node if hw.system else min(hw.count, 8))
    return catalog.links_for(hw.gpu, gpus_per_node=per_node, system=hw.system)


def _context_gib(n_gpus: int) -> float:
    d = catalog.memory_defaults()
    return d["context_gib_multi_gpu" if n_gpus > 1 else "context_gib"]


def _problem(
    spec: ModelSpec,
    train: TrainingSpec,
    hw: HardwareSpec,
    par: Parallel,
    recipe: Recipe,
    links: Links,
) -> Problem:
    given = train.model_fields_set
    return Problem(
        spec=spec,
        recipe=recipe,
        gpu=hw.gpu,
        n_gpus=hw.count,
        links=links,
        eff=catalog.efficiency(),
        base=par,
        usable_gib=hw.gpu.memory_gib,
        reserved_factor=catalog.memory_defaults()["reserved_factor"],
        context_gib=_context_gib(hw.count),
        user_micro=train.micro_batch,
        user_ckpt=train.act_ckpt if "act_ckpt" in given else None,
        user_offload=train.offload if "offload" in given else None,
        user_zero=train.zero_stage if "zero_stage" in given else None,
    )


def _plan_notes(plan: Plan, pick: Candidate) -> list[str]:
    if plan.chosen is None:
        return [
            "nothing fits: the estimate shows the configuration that comes closest; "
            + "; ".join(plan.advice)
        ]
    if not pick.changes:
        return []
    return ["the planner changed the setup to fit and run fastest: " + ", ".join(pick.changes)]


def _memory_report(
    spec: ModelSpec, recipe: Recipe, par: Parallel, hw: HardwareSpec
) -> MemoryReport:
    d = catalog.memory_defaults()
    mem = peak_memory(spec, memory_inputs(recipe), par, offload=par.offload)
    peak = mem.total / GIB
    context = _context_gib(hw.count)
    needed = peak * d["reserved_factor"] + context
    host = mem.host / GIB
    host_note = (
        f"offload keeps {host:.1f} GiB in host RAM per GPU (plus ~"
        f"{d['host_process_gib']:g} GiB for the process): "
        f"{host * hw.count + d['host_process_gib']:.0f} GiB of RAM for {hw.count} GPU(s)"
        if host
        else "no offload"
    )
    return MemoryReport(
        peak_gib=peak,
        reserved_gib=peak * d["reserved_factor"],
        needed_gib=needed,
        capacity_gib=hw.gpu.memory_gib,
        fits=needed <= hw.gpu.memory_gib,
        breakdown=mem.as_gib(),
        host_gib=host,
        host_note=host_note,
        assumptions=(
            f"allocated peak x {d['reserved_factor']:g} allocator slack + {context:g} "
            f"GiB CUDA context must fit in {hw.gpu.memory_gib:g} GiB"
        ),
    )


def _flops_impl(train: TrainingSpec) -> Any:
    return counted_as(train.attention_impl)


def _training_report(
    train: TrainingSpec, schedule: Schedule, flops: FlopsPerToken, notes: list[str]
) -> TrainingReport:
    return TrainingReport(
        spec=train,
        tokens_requested=schedule.tokens_requested,
        tokens=schedule.tokens,
        steps=schedule.steps,
        global_batch_tokens=schedule.global_batch_tokens,
        seq_len=schedule.seq_len,
        micro_batch=schedule.micro_batch,
        sequences_per_step=schedule.sequences_per_step,
        grad_accum_steps=schedule.grad_accum_steps,
        model_flops_total=flops.model * schedule.tokens,
        executed_flops_total=flops.executed * schedule.tokens,
        notes=notes + schedule.notes,
    )


def _recipe(train: TrainingSpec, micro: int) -> Recipe:
    recipe = Recipe(
        global_batch_tokens=train.global_batch_tokens,
        micro_batch=micro,
        precision=train.precision,
        optimizer=train.optimizer,
        param_dtype=train.param_dtype,
        grad_dtype=train.grad_dtype or train.param_dtype,
        state_dtype=train.optimizer_state_dtype
        or ("int8" if train.optimizer == "adamw8bit" else None),
        embedding_dtype=train.embedding_dtype or train.param_dtype,
        master_dtype=train.master_dtype,
        act_ckpt=train.act_ckpt,
        attention_impl=train.attention_impl,
        compiled=train.compiled,
        norm_kernels=train.norm_kernels,
        dropout=train.dropout,
    )
    return offload_layout(recipe) if train.offload != "none" else recipe


def _throughput(
    step: StepTime,
    flops: FlopsPerToken,
    hw: HardwareSpec,
    train: TrainingSpec,
    par: Parallel,
    micro: int,
    links: Links,
    *,
    notes: list[str],
) -> ThroughputReport:
    mfu_precision = usable_precision(
        hw.gpu, "bf16" if train.precision == "fp8" else train.precision
    )
    peak = hw.gpu.peak(mfu_precision) or float("nan")
    per_gpu_flop_rate = peak * TFLOP * hw.count
    tokens_per_sec = step.tokens / step.step_time_s
    return ThroughputReport(
        tokens_per_sec_per_gpu=tokens_per_sec / hw.count,
        tokens_per_sec=tokens_per_sec,
        step_time_s=step.step_time_s,
        micro_batch=micro,
        micro_steps=step.micro_steps,
        breakdown_s=step.breakdown_s,
        mfu=flops.model * tokens_per_sec / per_gpu_flop_rate,
        hfu=step.executed_flops * par.n_gpus / step.step_time_s / per_gpu_flop_rate,
        mfu_peak_tflops=peak,
        layout={
            "dp": par.dp,
            "tp": par.tp,
            "pp": par.pp,
            "cp": par.cp,
            "zero_stage": par.zero_stage,
        },
        links=links.description,
        notes=notes,
    )


@functools.cache
def _band() -> tuple[float, float, str]:
    doc: dict[str, Any] = catalog.band()
    return float(doc["log_ratio_p10"]), float(doc["log_ratio_p90"]), str(doc["source"])


def _time(seconds: float) -> TimeReport:
    p10, p90, source = _band()
    hours = seconds / HOUR
    # actual time = predicted time x (predicted / measured throughput)
    return TimeReport(
        total_hours=hours,
        low_hours=hours * math.exp(p10),
        high_hours=hours * math.exp(p90),
        total_days=hours / 24,
        band_source=source,
    )


def _alignment_notes(spec: ModelSpec, hw: HardwareSpec, train: TrainingSpec, tp: int) -> list[str]:
    """Feature widths whose rows are not 16-byte aligned run their GEMMs at a fraction of the
    tensor-core rate (engine.device); say which, and the padded width that avoids it."""
    eff = catalog.efficiency()
    dev = Device(hw.gpu, eff)
    wide = 4.0 if train.precision in ("fp32", "tf32") else 2.0
    block = 1.0 if train.precision == "fp8" else wide  # the LM head stays in bf16 under fp8
    widths = {
        "vocabulary": (spec.vocab, wide),
        "d_model": (spec.d_model, block),
        "ffn_hidden": (spec.ffn_hidden, block),
    }
    notes = []
    for name, (width, elt) in widths.items():
        vector = vector_elements(elt)
        if dev.aligned(width // tp, precision=train.precision, elt=elt):
            continue
        padded = -(-width // (vector * tp)) * vector * tp
        per_rank = f" / tp {tp}" if tp > 1 else ""
        notes.append(
            f"{name} {width}{per_rank} is not a multiple of {vector}: its GEMMs load unaligned "
            f"rows at {eff.gemm_unaligned_fraction:.0%} of the tensor-core rate (padding to "
            f"{padded} avoids it)"
        )
    return notes


def _hardware_report(hw: HardwareSpec, train: TrainingSpec, executed: float) -> HardwareReport:
    precision = usable_precision(hw.gpu, train.precision)
    peak = hw.gpu.peak(precision)
    notes = []
    if precision != train.precision:
        notes.append(f"{hw.gpu.name} has no {train.precision} tensor rate; using {precision}")
    if peak is None:
        notes.append(f"{hw.gpu.name} has no known {train.precision} rate")
    floor = executed / (peak * TFLOP * hw.count) / HOUR if peak else None
    return HardwareReport(
        gpu=hw.gpu,
        count=hw.count,
        gpus_per_node=hw.gpus_per_node,
        precision=precision,
        peak_tflops=peak,
        compute_floor_hours=floor,
        notes=notes,
    )


def estimate_scenario(path: str | None = None, **overrides: Any) -> Estimate:
    """Estimate a scenario file (None: the founding question), with keyword overrides."""
    scenario = catalog.load_scenario(Path(path) if path else None)

    def given(key: str, default: Any) -> Any:  # a flag set to 0 is an answer, not "unset"
        value = overrides.pop(key, None)
        return default if value is None else value

    return estimate(
        given("model", scenario.model),
        given("gpu", scenario.gpu),
        gpus=given("gpus", scenario.gpus),
        gpus_per_node=given("gpus_per_node", scenario.gpus_per_node),
        system=overrides.pop("system", None),
        reference=overrides.pop("reference", None),
        economics=overrides.pop("economics", None),
        training=scenario.training,
        **overrides,
    )


def plan_on_many(
    model: str | ModelSpec,
    gpus: list[GpuSpec],
    *,
    count: int = 1,
    training: dict[str, Any] | TrainingSpec | None = None,
    allow_math_changes: bool = False,
    **training_overrides: Any,
) -> list[tuple[GpuSpec, Candidate | None, float]]:
    """Plan one scenario on many GPUs at once (``compare --all``): each GPU gets the fastest
    configuration that fits it, or None with the GiB the leanest configuration needs."""
    spec = resolve_model(model)
    if not gpus:
        return []
    train = resolve_training(spec, training, training_overrides)
    par = _layout(train, count)
    train = _split_global_batch(
        train, spec.seq_len, par.dp, allow_math=allow_math_changes, notes=[]
    )
    micro = train.micro_batch or default_micro_batch(
        spec.seq_len, dp=par.dp, pp=par.pp, global_batch_tokens=train.global_batch_tokens
    )
    first = build(HardwareSpec, "hardware", gpu=gpus[0], count=count)
    problem = _problem(spec, train, first, par, _recipe(train, micro), _links(first))

    def links(gpu: GpuSpec) -> Links:
        return _links(first.model_copy(update={"gpu": gpu}))

    return search_many(problem, gpus, links)
