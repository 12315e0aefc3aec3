"""The one path: a Question, resolved once, planned, evaluated once, reported.

Every door builds a :class:`~traintime.specs.Question` and calls :func:`estimate_question`:
``traintime`` and ``traintime estimate`` / ``plan`` / ``report`` (through
:func:`estimate_scenario`), ``traintime.estimate(...)``, ``compare`` and ``validate``. So the
same question always gets the same answer.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from pathlib import Path
from typing import Any

from traintime import catalog
from traintime.economics import cost_report, energy_report
from traintime.engine.device import usable_precision
from traintime.engine.evaluate import Evaluation, evaluate
from traintime.engine.evaluate import time as step_of
from traintime.engine.flops import FlopsPerToken, counted_as, flops_per_token
from traintime.engine.goodput import goodput
from traintime.engine.lora import trainable_params
from traintime.engine.numerics import gemm_rate, outside_fp8
from traintime.engine.ops import Misaligned
from traintime.engine.params import count_params
from traintime.engine.schedule import Schedule, make_schedule
from traintime.errors import SpecError
from traintime.planner import Candidate, Plan, plan
from traintime.reference import with_reference
from traintime.resolve import Option, Resolved, padding_factor, resolve
from traintime.results import (
    Estimate,
    HardwareReport,
    MemoryReport,
    ModelReport,
    SettingReport,
    ThroughputReport,
    TimeReport,
    TrainingReport,
)
from traintime.specs import (
    PLANNED,
    DeviceCalibration,
    Economics,
    GpuSpec,
    Layout,
    ModelSpec,
    NodeSpec,
    Question,
    Recipe,
    TrainingSpec,
    build,
)
from traintime.units import GIB, HOUR, TFLOP

_QUESTION_KEYS = {
    "model",
    "gpu",
    "gpus",
    "gpus_per_node",
    "system",
    "reference",
    "allow_math_changes",
    "calibration",
}


def _training(base: TrainingSpec, overrides: dict[str, Any]) -> TrainingSpec:
    unknown = set(overrides) - set(TrainingSpec.model_fields)
    if unknown:
        name = sorted(unknown)[0]
        raise SpecError(
            f"unknown training field {name!r}; allowed: {', '.join(TrainingSpec.model_fields)}"
        )
    upper = build(TrainingSpec, "training settings", **overrides)
    return base.under(upper)


def with_overrides(question: Question, **overrides: Any) -> Question:
    """``question`` with ``overrides`` on top: question keys (``model``, ``gpu``, ``gpus``,
    ``gpus_per_node``, ``system``, ``reference``, ``allow_math_changes``, ``calibration``),
    ``economics`` (a dict or Economics), ``training`` and TrainingSpec fields. None means "not
    given". Another model drops the question's measured reference (it belongs to its model)
    unless one is given."""
    given = {k: v for k, v in overrides.items() if v is not None}
    fields = {k: given.pop(k) for k in list(given) if k in _QUESTION_KEYS}
    if "model" in fields and fields["model"] != question.model and "reference" not in fields:
        fields["reference"] = None  # a measured reference belongs to its own model
    econ = given.pop("economics", None)
    if econ is not None:
        upper = econ if isinstance(econ, Economics) else build(Economics, "economics", **econ)
        fields["economics"] = question.economics.under(upper)
    if "training" in given:
        training = given.pop("training")
        if not isinstance(training, TrainingSpec):
            training = build(TrainingSpec, "training settings", **training)
        fields["training"] = question.training.under(training)
    fields["training"] = _training(fields.get("training", question.training), given)
    current = {name: getattr(question, name) for name in Question.model_fields}
    return build(Question, "question", **{**current, **fields})


def estimate(
    model: str | os.PathLike[str] | ModelSpec | None = None,
    gpu: str | GpuSpec | None = None,
    *,
    gpus: int = 1,
    gpus_per_node: int | None = None,
    system: str | NodeSpec | None = None,
    training: dict[str, Any] | TrainingSpec | None = None,
    reference: str | None = None,
    allow_math_changes: bool = False,
    economics: Economics | dict[str, Any] | None = None,
    calibration: bool | DeviceCalibration = True,
    **training_overrides: Any,
) -> Estimate:
    """Estimate training ``model`` on ``gpus`` x ``gpu`` (defaults: the founding question's).

    ``training_overrides`` are TrainingSpec fields (``tokens``, ``tokens_per_param``,
    ``global_batch_tokens``, ``micro_batch``, ``seq_len``, ``precision``, ``optimizer``,
    ``act_ckpt``, ``attention_impl``, ``compiled``, ``tp``, ``pp``, ``cp``, ``zero_stage``,
    ``offload``, ``offload_update``, dtypes); ``tokens`` accepts '37.6B'. Settings you give are
    kept; the planner chooses the micro-batch, checkpointing, offload, ZeRO stage and layout you
    leave unset, as the fastest setup that fits, and the estimate says what it chose.
    ``system`` names a node preset (``dgx-h100``, ``p5``); ``reference`` a measured run to
    scale by hand beside the estimate; ``allow_math_changes`` lets the planner round a global
    batch that does not split over the GPUs and use 8-bit optimizer states when nothing else
    fits; ``economics`` overrides prices, PUE and CO2 intensity; ``calibration`` uses this
    machine's stored calibration of the GPU (True, ``traintime calibrate``), none (False), or
    the one given.
    Raises :class:`~traintime.errors.TraintimeError` (one-line message) on bad input.
    """
    if "plan" in training_overrides:
        raise SpecError(
            "plan is not a setting: the planner always chooses the settings you leave unset "
            "(estimate.plan shows what it chose and the alternatives)"
        )
    founding = catalog.load_scenario(None)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise SpecError(f"gpus={gpus!r}: the number of GPUs must be a whole number >= 1")
    base = training if isinstance(training, TrainingSpec) else None
    if base is None:
        base = build(TrainingSpec, "training settings", **(training or {}))
    econ = economics if isinstance(economics, Economics) else None
    if econ is None:
        econ = build(Economics, "economics", **(economics or {}))
    question = build(
        Question,
        "question",
        model=model if model is not None else founding.model,
        gpu=gpu if gpu is not None else founding.gpu,
        gpus=gpus,
        gpus_per_node=gpus_per_node,
        system=system,
        training=_training(base, training_overrides),
        economics=econ,
        reference=reference,
        allow_math_changes=allow_math_changes,
        calibration=calibration,
    )
    return estimate_question(question)


def estimate_scenario(path: str | Path | None = None, **overrides: Any) -> Estimate:
    """Estimate a scenario file (None: the founding question), with keyword overrides (the
    keys of :func:`with_overrides`)."""
    question = catalog.load_scenario(Path(path) if path is not None else None)
    return estimate_question(with_overrides(question, **overrides))


def estimate_question(question: Question) -> Estimate:
    """Resolve, plan, evaluate and report one question: the only way an estimate is made."""
    r = resolve(question)
    _check_precision(r)
    p = plan(r)
    option = _option(p.chosen)
    recipe, layout = r.recipe(option), r.layout(option)
    ev = evaluate(r.spec, recipe, layout, r.machine)
    est = _report(r, p, recipe, ev)
    if question.reference is not None:
        est = with_reference(est, question.reference)
    return est


def _option(c: Candidate) -> Option:
    return Option(
        micro_batch=c.micro_batch,
        act_ckpt=c.act_ckpt,
        offload=c.offload,
        offload_update=c.offload_update,
        zero_stage=c.zero_stage,
        tp=c.tp,
        pp=c.pp,
        cp=c.cp,
        pp_interleave=c.pp_interleave,
        global_batch_tokens=c.global_batch_tokens,
        eight_bit=c.eight_bit_states,
        drop_tokens=c.drops_tokens,
        finetune=c.finetune,
        ep=c.ep,
        etp=c.etp,
    )


def _check_precision(r: Resolved) -> None:
    gpu, precision = r.hardware.gpu, r.value("precision")
    if precision in ("mxfp8", "nvfp4") and not gpu.peak("fp4"):
        raise SpecError(
            f"precision={precision!r} needs block-scaled tensor cores (Blackwell: B200, B300, "
            f"GB200, GB300, RTX 50-series); gpu={gpu.name!r} has none: use fp8 or bf16"
        )
    precision = gemm_rate(precision)
    if not gpu.peak(usable_precision(gpu, precision)):
        raise SpecError(
            f"gpu={gpu.name!r} has no known {precision} rate (nor a wider one to fall back to); "
            "the catalog cannot time it"
        )


def _report(r: Resolved, p: Plan, recipe: Recipe, ev: Evaluation) -> Estimate:
    spec, hw = r.spec, r.hardware
    step = ev.step
    layout = r.layout(_option(p.chosen))
    flops = flops_per_token(
        spec,
        attention_impl=counted_as(recipe.attention_impl),
        act_ckpt=recipe.act_ckpt,
        capacity_factor=recipe.padding,
        finetune=recipe.finetune,
        lora_rank=recipe.lora_rank,
        lora_targets=recipe.lora_targets,
    )
    schedule = make_schedule(
        tokens=r.tokens,
        global_batch_tokens=recipe.global_batch_tokens,
        seq_len=spec.seq_len,
        data_parallel=layout.dp,
        micro_batch=recipe.micro_batch,
    )
    seconds = step.step_time_s * schedule.steps
    energy = energy_report(step, schedule.steps, hw, r.question.economics)
    wall_hours = seconds / HOUR / _goodput(r)[0]  # renting pays for the wall-clock
    return Estimate(
        model=ModelReport(
            name=spec.name, spec=spec, params=count_params(spec), flops_per_token=flops
        ),
        training=_training_report(r, p, recipe, layout, schedule, flops),
        hardware=_hardware_report(r, flops.executed * schedule.tokens),
        throughput=_throughput(r, ev, flops, recipe),
        time=_time(
            seconds,
            runs=ev.sizing.fits,
            r=r,
            recipe=recipe,
            balanced_s=_balanced_step(r, recipe, layout) * schedule.steps,
        ),
        memory=_memory_report(r, ev),
        plan=p,
        energy=energy,
        cost=cost_report(wall_hours, hw, r.question.economics, energy),
    )


def _settings(r: Resolved, p: Plan, recipe: Recipe, layout: Any) -> list[SettingReport]:
    """Every setting with its source: the resolved ones, the planner's, and the dtypes that
    follow from them."""
    out = [
        SettingReport(name=s.name, value=s.value, source=s.source, reason=s.reason)
        for s in r.settings.values()
        if not s.name.endswith("_dtype")
    ]
    chosen = p.chosen
    for name in PLANNED:
        if name in ("ep", "etp") and not r.spec.moe:
            continue
        value = getattr(chosen, name)
        source = "given" if name in r.pins else "planner"
        out.append(SettingReport(name=name, value=value, source=source, reason=""))
    given = {k for k, s in r.settings.items() if k.endswith("_dtype") and s.source == "given"}
    for name in ("param_dtype", "grad_dtype", "embedding_dtype", "master_dtype", "state_dtype"):
        key = "optimizer_state_dtype" if name == "state_dtype" else name
        source = "given" if key in given else "derived"
        if key in r.settings and r.settings[key].source == "recipe":
            source = "recipe"
        out.append(
            SettingReport(
                name=key,
                value=getattr(recipe, name),
                source=source,
                reason="" if source != "derived" else _storage_reason(layout),
            )
        )
    return out


def _storage_reason(layout: Any) -> str:
    if layout.offload != "none":
        return "offload: 16-bit weights on the GPU, fp32 master weights with the optimizer"
    if layout.zero_stage in (1, 2):
        return "ZeRO-1/2: 16-bit working weights, fp32 master weights in the sharded optimizer"
    return "mixed precision: fp32 weights and gradients under autocast"


def _training_report(
    r: Resolved, p: Plan, recipe: Recipe, layout: Any, schedule: Schedule, flops: FlopsPerToken
) -> TrainingReport:
    return TrainingReport(
        recipe=recipe,
        layout=layout,
        settings=_settings(r, p, recipe, layout),
        tokens_requested=schedule.tokens_requested,
        tokens=schedule.tokens,
        steps=schedule.steps,
        global_batch_tokens=schedule.global_batch_tokens,
        seq_len=schedule.seq_len,
        micro_batch=recipe.micro_batch,
        sequences_per_step=schedule.sequences_per_step,
        grad_accum_steps=schedule.grad_accum_steps,
        model_flops_total=flops.model * schedule.tokens,
        executed_flops_total=flops.executed * schedule.tokens,
        trainable_params=trainable_params(
            r.spec, finetune=recipe.finetune, rank=recipe.lora_rank, targets=recipe.lora_targets
        ),
        epochs=r.value("epochs"),
        padding_factor=padding_factor(r),
        notes=_notes(r, p, layout) + schedule.notes,
    )


def _notes(r: Resolved, p: Plan, layout: Any) -> list[str]:
    notes = []
    if "tokens" not in r.settings and r.settings["tokens_per_param"].source == "default":
        notes.append(
            f"tokens not given: {r.value('tokens_per_param'):g} tokens per parameter (Chinchilla)"
        )
    zero = r.pins.get("zero_stage", 0)
    if zero and layout.replicas == 1:
        notes.append(
            f"ZeRO stage {zero} shards over the data-parallel replicas, and this layout has one "
            f"({r.hardware.count} GPU(s), TP {layout.tp} x PP {layout.pp}): it does nothing here"
        )
    batch = r.value("global_batch_tokens")
    if p.chosen.global_batch_tokens != batch and not p.chosen.math_changes:
        notes.append(
            f"the default global batch of {batch:,} tokens does not split over "
            f"{layout.dp} data-parallel GPU(s): {p.chosen.global_batch_tokens:,} tokens, the "
            "nearest that does"
        )
    defaults = [
        f"{name.replace('_', ' ')} {setting.value}"
        for name, setting in r.settings.items()
        if setting.source == "default"
        and name not in ("tokens_per_param", "global_batch_tokens")
        and (name != "sequence_parallel" or layout.tp > 1)
        and r.applies(name)
    ]
    if defaults:
        notes.append("defaults (you left these unset): " + ", ".join(defaults))
    notes += [f"changed the training math: {m}" for m in p.chosen.math_changes]
    if p.chose:
        notes.append("the planner chose (you left these unset): " + ", ".join(p.chose))
    if layout.offload != "none":
        notes.append(_offload_note(layout, r.optimizer))
    if not r.value("packing"):
        notes.append(
            f"padded samples: a mean of {r.value('mean_seq_len'):,} tokens padded to "
            f"{r.spec.seq_len:,}: {padding_factor(r):.2f} tokens run per token learned"
        )
    return notes


def _offload_note(layout: Any, opt: Any) -> str:
    """The offload mode, and what it needs from the training code."""
    what = f"offload {layout.offload} with the update on the {layout.offload_update.upper()}"
    if layout.offload_update == "gpu":
        needs = (
            "training code that keeps the optimizer state in host memory and streams it through "
            "the update on the GPU layer by layer (nanochat, DeepSpeed and FSDP2 do not)"
        )
    elif opt.matrix_update == "none":
        needs = (
            "an offloading trainer: DeepSpeed's ZeRO-Offload or FSDP2's CPUOffloadPolicy runs "
            "Adam-style updates on the CPU (nanochat has no offload)"
        )
    else:
        needs = (
            f"a CPU implementation of {opt.name} over offloaded state (DeepSpeed and FSDP2 offload "
            "only Adam-style optimizers; nanochat has no offload)"
        )
    return f"{what}: needs {needs}"


def _misaligned_note(m: Misaligned, fraction: float) -> str:
    per_rank = f" / tp {m.tp}" if m.tp > 1 and m.name != "d_model" else ""
    return (
        f"{m.name} {m.width}{per_rank} is not a multiple of {m.vector}: its GEMMs load unaligned "
        f"rows at {fraction:.0%} of the tensor-core rate (padding to {m.padded} avoids it)"
    )


def _throughput(
    r: Resolved, ev: Evaluation, flops: FlopsPerToken, recipe: Recipe
) -> ThroughputReport:
    hw, step = r.hardware, ev.step
    mfu_precision = usable_precision(hw.gpu, outside_fp8(recipe.precision))
    peak = hw.gpu.peak(mfu_precision) or float("nan")
    rate = peak * TFLOP * hw.count
    tokens_per_sec = step.tokens / step.step_time_s
    eff = r.machine.device.eff
    notes = [_misaligned_note(m, eff.gemm_unaligned_fraction) for m in step.misaligned]
    if step.host_bound:
        notes.append("host-bound: launching kernels takes longer than running them")
    if hw.gpu.host_link_gbs is None and (ev.step.breakdown_s["offload"] or hw.count > 1):
        link, _ = catalog.default_host_link()
        notes.append(f"{hw.gpu.name}'s host link is unknown: taken as {link}")
    return ThroughputReport(
        tokens_per_sec_per_gpu=tokens_per_sec / hw.count,
        tokens_per_sec=tokens_per_sec,
        step_time_s=step.step_time_s,
        micro_batch=recipe.micro_batch,
        micro_steps=step.micro_steps,
        breakdown_s=step.breakdown_s,
        mfu=flops.model * tokens_per_sec / rate,
        hfu=step.executed_flops * hw.count / step.step_time_s / rate,
        mfu_peak_tflops=peak,
        links=r.machine.links.description,
        notes=notes,
    )


#: Rows a device class needs before its own percentiles stand beside the overall band.
_CLASS_ROWS = 8


@functools.cache
def _band(kind: str, device_class: str) -> tuple[float, float, str, str]:
    """(p10, p90, source, basis): the band of the run's ``kind``: ``dense`` pre-training, ``moe``
    (its own table, held out by model: every published MoE row is one code base's) or
    ``finetune`` (LoRA, QLoRA and full fine-tunes: their own table, held out by code base),
    widened for the GPU's device class where the validation measures a larger error or has no
    run: a class with enough rows adds its 10th-90th percentiles, one with a few rows its
    extremes, one with none doubles the band. Never narrower than the kind's band."""
    doc: dict[str, Any] = catalog.band()
    classes: dict[str, Any] = doc.get("device_class", {})
    table = doc.get(kind, doc)
    p10, p90 = float(table["log_ratio_p10"]), float(table["log_ratio_p90"])
    basis = str(table.get("basis", "the model's error on published runs, held out by code base"))
    entry = classes.get(device_class)
    covered = entry is not None and (kind != "moe" or device_class == "datacenter")
    if not covered:
        what = "MoE run" if kind == "moe" else "run"
        return (
            2 * p10,
            2 * p90,
            str(table["source"]),
            f"{basis}, doubled: no published {what} on "
            f"{'CPUs' if device_class == 'cpu' else device_class.replace('_', ' ') + ' GPUs'} in "
            "the validation"
            + ("; traintime calibrate measures this one" if device_class == "cpu" else ""),
        )
    n = int(entry["n_rows"])
    lo, hi = (
        (float(entry["log_ratio_p10"]), float(entry["log_ratio_p90"]))
        if n >= _CLASS_ROWS
        else (float(entry["log_ratio_min"]), float(entry["log_ratio_max"]))
    )
    if lo < p10 or hi > p90:
        # pre-training runs measure the device class; a fine-tune's band adds their spread
        shown = (lo, hi) if kind == "finetune" else (min(lo, p10), max(hi, p90))
        basis += (
            f", widened for {device_class} GPUs: the validation's {n} pre-training run(s) on "
            f"them are off by {math.expm1(shown[0]):+.0%} to {math.expm1(shown[1]):+.0%}"
        )
    return min(p10, lo), max(p90, hi), str(table["source"]), basis


def _band_kind(r: Resolved, recipe: Recipe) -> str:
    """Which validation table speaks for this run: a LoRA or QLoRA fine-tune first (its error
    is the largest; the method run, which the planner may have switched to), then
    mixture-of-experts, else dense pre-training."""
    if recipe.finetune != "full":
        return "finetune"
    return "moe" if r.spec.moe else "dense"


def _goodput(r: Resolved) -> tuple[float, str]:
    """The share of wall-clock time spent training: given, or scaled from Llama 3's."""
    given = r.question.economics.goodput
    if given is not None:
        return given, "given"
    d = catalog.goodput_defaults()
    value = goodput(
        r.hardware.count,
        reference_gpus=int(d["reference_gpus"]),
        reference_goodput=float(d["reference_goodput"]),
        max_lost_fraction=float(d["max_lost_fraction"]),
    )
    return value, (
        f"Llama 3's >{d['reference_goodput']:.0%} effective training time on "
        f"{d['reference_gpus']:,} GPUs, lost time scaled by GPU count ({d['source']})"
    )


def _balanced_step(r: Resolved, recipe: Recipe, layout: Layout) -> float:
    """The step time of the same setup with routing forced even: the other end of the
    load-imbalance band (0 when routing is not dropless: nothing to band)."""
    if not r.spec.moe or recipe.moe_routing != "dropless":
        return 0.0
    balanced = dataclasses.replace(recipe, moe_routing="balanced")
    return step_of(r.spec, balanced, layout, r.machine).step_time_s


def _calibrated_band(cal: DeviceCalibration) -> tuple[float, float, str, str]:
    """A calibrated device's band: the calibration's own largest probe error, both ways."""
    return (
        -cal.residual,
        cal.residual,
        f"traintime calibrate on this machine ({cal.key}, {cal.created[:10]})",
        f"this machine's calibration: its {cal.probes} model probe(s) are within "
        f"{math.expm1(cal.residual):.1%} of the calibrated model"
        + (", each predicted by the fit of the others" if cal.probes > 3 else ""),
    )


def _time(
    seconds: float, *, runs: bool, r: Resolved, recipe: Recipe, balanced_s: float = 0.0
) -> TimeReport:
    cal = r.machine.device.cal
    p10, p90, source, basis = (
        _calibrated_band(cal)
        if cal is not None and cal.probes
        else _band(_band_kind(r, recipe), r.hardware.gpu.device_class)
    )
    hours = seconds / HOUR
    share, why = _goodput(r)
    # actual time = predicted time x (predicted / measured throughput)
    return TimeReport(
        runs=runs,
        total_hours=hours,
        low_hours=hours * math.exp(p10),
        high_hours=hours * math.exp(p90),
        total_days=hours / 24,
        band_source=source,
        band_basis=basis,
        goodput=share,
        expected_hours=hours / share,
        goodput_source=why,
        balanced_routing_hours=balanced_s / HOUR if balanced_s else None,
    )


def _memory_report(r: Resolved, ev: Evaluation) -> MemoryReport:
    policy, hw = r.machine.policy, r.hardware
    mem = ev.sizing.memory
    peak = mem.total / GIB
    context = policy.context(hw.count)
    host = mem.host / GIB
    paged = mem.paged_optimizer / GIB
    what = [
        f"{part} {gib:.1f} GiB"
        for part, gib in (("offload", host - paged), ("paged optimizer state", paged))
        if gib > 0
    ]
    host_note = (
        f"host RAM per GPU: {', '.join(what)} (plus ~{policy.host_process_gib:g} GiB for the "
        f"process): {host * hw.count + policy.host_process_gib:.0f} GiB of RAM for "
        f"{hw.count} GPU(s)"
        if host
        else "no offload"
    )
    return MemoryReport(
        peak_gib=peak,
        reserved_gib=peak * policy.reserved_factor,
        needed_gib=ev.sizing.needed_gib,
        capacity_gib=hw.gpu.memory_gib,
        fits=ev.sizing.fits,
        phase=mem.phase,
        breakdown=mem.peak_parts_gib(),
        host_gib=host,
        host_note=host_note,
        assumptions=(
            f"allocated peak x {policy.reserved_factor:g} allocator slack + {context:g} "
            f"GiB CUDA context must fit in {hw.gpu.memory_gib:g} GiB"
        ),
    )


def _hardware_report(r: Resolved, executed: float) -> HardwareReport:
    hw, precision = r.hardware, gemm_rate(r.value("precision"))
    usable = usable_precision(hw.gpu, precision)
    peak = hw.gpu.peak(usable) or 0.0
    notes = []
    unsourced = catalog.tensor_rate_note(hw.gpu, precision)
    if unsourced:
        notes.append(unsourced)
    elif usable != precision:
        notes.append(f"{hw.gpu.name} has no {precision} tensor rate; using {usable}")
    cal = r.machine.device.cal
    if cal is not None:
        notes.append(calibration_note(cal, precision))
    return HardwareReport(
        gpu=hw.gpu,
        count=hw.count,
        gpus_per_node=hw.gpus_per_node,
        precision=usable,
        peak_tflops=peak,
        compute_floor_hours=executed / (peak * TFLOP * hw.count) / HOUR,
        tensor_rate_sourced=unsourced is None,
        calibration=cal,
        notes=notes,
    )


def calibration_note(cal: DeviceCalibration, precision: str) -> str:
    """One line: which calibration an estimate used and what it changed."""
    parts = [f"GEMM x{cal.gemm(precision):.3g}", f"attention x{cal.attention_scale:.3g}"]
    parts.append(f"memory bandwidth x{cal.memory_scale:.3g}")
    if cal.step_overhead_s:
        parts.append(f"+{cal.step_overhead_s * 1e3:.3g} ms per step")
    if cal.reserved_factor is not None:
        parts.append(f"allocator slack x{cal.reserved_factor:.3g}")
    return (
        f"calibrated on this machine ({cal.key}, {cal.created[:10]}): "
        + ", ".join(parts)
        + " (traintime calibrate --show; --no-calibration ignores it)"
    )
