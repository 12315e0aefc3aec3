"""Calibration: the time model's rates fitted to measurements on one device.

Two stages, each a least-squares fit, each judged by the same single evaluation every other
door uses (``estimation.estimate_question``):

1. **Micro-benchmarks** (``traintime probe``). Each measurement has a model value: the rate the
   engine's ``Device`` predicts for the same GEMM shape, attention problem or streaming kernel.
   The GEMM factor per precision, the attention factor (on top of the GEMM one: attention runs
   at a fraction of the GEMM rate) and the bandwidth factor (STREAM copy and triad) are the
   least-squares fits of
   ``log(measured) = log(factor) + log(model)``: the geometric mean of measured / model.
2. **Model probes** (real training steps). With stage 1 applied, the model predicts each
   probe's step ``t``; ``T = a t + c`` is fitted to the measured steps ``T`` by least squares
   (``c >= 0``: a fixed time per step that no kernel explains: the data loader, Python, syncs;
   ``a`` divides the stage-1 rates: real kernels inside a training step versus isolated ones).
   With fewer than three probes, or probes of one size, only ``a`` is fitted.

The allocator's slack is the least-squares ratio of reserved to allocated peaks over the
probes (CUDA); the CUDA context comes from its micro-benchmark. ``residual`` is the largest
``|log(T / t')|``, each probe predicted by the fit of the others when there are more than
three (in-sample with fewer): calibrated estimates carry it as their band.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from traintime.engine.device import Device
from traintime.engine.evaluate import Machine
from traintime.errors import SpecError
from traintime.estimation import estimate_question
from traintime.measured import DeviceInfo, Measurement, ModelMeasurement
from traintime.resolve import machine_for
from traintime.results import Estimate
from traintime.specs import (
    DeviceCalibration,
    GpuSpec,
    HardwareSpec,
    ModelSpec,
    Question,
    TrainingSpec,
    build,
)
from traintime.units import GB, GIB

#: Bytes per element of the precisions micro-benchmarks measure.
_ELT = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0}
#: The STREAM kernels the memory-bandwidth factor is fitted on.
_STREAM = ("copy", "triad")
#: Backward FLOPs of fused attention per forward FLOP (FlashAttention-2 paper, section 3).
_BACKWARD = 2.5


def machine(gpu: GpuSpec, cal: DeviceCalibration | None = None, *, count: int = 1) -> Machine:
    """The engine's view of ``count`` of ``gpu`` (calibrated by ``cal``)."""
    hw = build(HardwareSpec, "hardware", gpu=gpu, count=count)
    return machine_for(hw, cal)


def _gemm(m: Measurement, dev: Device) -> float:
    s = m.shape
    mm, n, k = int(s["m"]), int(s["n"]), int(s["k"])
    precision = m.dtype if m.dtype in _ELT else "bf16"
    t = dev.gemm_time(mm, n, k, precision=precision, elt=_ELT[precision])
    return 2.0 * mm * n * k / t


def _attention(m: Measurement, dev: Device) -> float:
    """Forward plus backward of one causal attention problem, as the step model times it."""
    s = m.shape
    b, h, t, hd = (int(s[k]) for k in ("batch", "heads", "seq", "head_dim"))
    precision = m.dtype if m.dtype in _ELT else "bf16"
    elt = _ELT[precision]
    impl = "flash" if m.name == "flash_attn" else "sdpa"
    forward = m.work / (1.0 + _BACKWARD)
    io = 4.0 * b * h * t * hd * elt  # q, k, v read and o written
    seconds = dev.attention_time(
        forward, io, impl=impl, precision=precision, head_dim=hd
    ) + dev.attention_time(
        forward * _BACKWARD, 2.0 * io, impl=impl, precision=precision, head_dim=hd, backward=True
    )
    return m.work / seconds


def model_value(m: Measurement, mach: Machine) -> float | None:
    """What the time model assumes for the quantity ``m`` measured, in ``m``'s unit; None
    where the model has no such figure."""
    dev = mach.device
    if m.kind == "gemm":
        return _gemm(m, dev)
    if m.kind == "attention":
        return _attention(m, dev)
    if m.kind == "bandwidth":
        return dev.mem_bw
    if m.kind == "transfer" and m.name.startswith(("h2d", "d2h")):
        return mach.links.host_gbs * GB
    if m.kind == "collective":
        return mach.links.intra_gbs * GB
    if m.kind == "memory" and "context" in m.name:
        return mach.policy.context(1) * GIB
    return None


def _geomean_ratio(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Least squares of log(measured) = log(f) + log(model): f = geometric mean of ratios."""
    logs = [math.log(a / b) for a, b in pairs if a > 0 and b > 0]
    return math.exp(statistics.fmean(logs)) if logs else None


def fit_micro(gpu: GpuSpec, measurements: Sequence[Measurement], *, key: str) -> DeviceCalibration:
    """Stage 1: GEMM (per precision), attention and bandwidth factors."""
    base = machine(gpu)
    gemm: dict[str, list[tuple[float, float]]] = {}
    for m in measurements:
        if m.kind == "gemm":
            gemm.setdefault(m.dtype, []).append((m.value, _gemm(m, base.device)))
    scales = {p: f for p, pairs in gemm.items() if (f := _geomean_ratio(pairs)) is not None}
    if not scales:
        raise SpecError("calibration needs at least one GEMM measurement; none was made")
    cal = DeviceCalibration(key=key, gpu=gpu.name, created=_now(), gemm_scale=scales)
    dev = machine(gpu, cal).device
    attention = _geomean_ratio(
        [(m.value, _attention(m, dev)) for m in measurements if m.kind == "attention"]
    )
    # the streaming kernels the bandwidth efficiency is defined on (STREAM copy and triad); a
    # norm is shown beside the model, but an unfused one is not bandwidth-bound on a CPU
    memory = _geomean_ratio(
        [(m.value, dev.mem_bw) for m in measurements if m.kind == "bandwidth" and m.name in _STREAM]
    )
    context = [m.value for m in measurements if m.kind == "memory" and "context" in m.name]
    return cal.model_copy(
        update={
            "attention_scale": attention or 1.0,
            "memory_scale": memory or 1.0,
            "context_gib": context[0] / GIB if context else None,
        }
    )


def probe_question(
    probe: ModelMeasurement, spec: ModelSpec, gpu: GpuSpec, cal: DeviceCalibration | None
) -> Question:
    """The question a model probe asks: the same model, micro-batch, sequence, checkpointing,
    compilation, precision and optimizer on the same devices, one micro-step per step, every
    planner setting pinned (FSDP2 is ZeRO-3)."""
    world = probe.world_size
    training = TrainingSpec(
        micro_batch=probe.micro_batch,
        seq_len=probe.seq_len,
        global_batch_tokens=probe.micro_batch * probe.seq_len * world,
        tokens=float(probe.micro_batch * probe.seq_len * world * max(probe.steps, 1)),
        act_ckpt=probe.act_ckpt,  # type: ignore[arg-type]
        compiled=probe.compiled,
        precision=probe.precision,  # type: ignore[arg-type]
        optimizer=probe.optimizer or None,  # type: ignore[arg-type]
        attention_impl="sdpa",
        zero_stage=3 if probe.parallel == "fsdp2" else 0,
        offload="none",
        tp=1,
        pp=1,
        cp=1,
    )
    return Question(
        model=spec,
        gpu=gpu,
        gpus=world,
        training=training,
        calibration=cal if cal is not None else False,
    )


def predict(
    probe: ModelMeasurement, spec: ModelSpec, gpu: GpuSpec, cal: DeviceCalibration | None
) -> Estimate:
    """The model's estimate of one probe (uncalibrated when ``cal`` is None)."""
    return estimate_question(probe_question(probe, spec, gpu, cal))


#: Probes a fit needs before it also fits a fixed time per step: with two, the line would pass
#: through both exactly and extrapolate its intercept freely.
_LINE_AT_LEAST = 3


def _line(ts: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least squares y = a t + c with c >= 0 (c = 0 when the t do not vary or are fewer than
    three)."""
    n = len(ts)
    mean_t, mean_y = statistics.fmean(ts), statistics.fmean(ys)
    var = sum((t - mean_t) ** 2 for t in ts)
    if n >= _LINE_AT_LEAST and var > 1e-12 * max(mean_t, 1e-30) ** 2:
        a = sum((t - mean_t) * (y - mean_y) for t, y in zip(ts, ys, strict=True)) / var
        c = mean_y - a * mean_t
        if a > 0 and c >= 0:
            return a, c
    return sum(t * y for t, y in zip(ts, ys, strict=True)) / sum(t * t for t in ts), 0.0


def fit(
    gpu: GpuSpec,
    device: DeviceInfo,
    measurements: Sequence[Measurement],
    probes: Sequence[tuple[ModelMeasurement, ModelSpec]],
    *,
    predictor: Callable[..., Estimate] = predict,
) -> tuple[DeviceCalibration, list[float], list[float]]:
    """Both stages; returns the calibration and each probe's predicted step, uncalibrated and
    calibrated."""
    cal = fit_micro(gpu, measurements, key=device.key)
    before = [predictor(p, s, gpu, None).throughput.step_time_s for p, s in probes]
    if not probes:
        return cal, before, []
    staged = [predictor(p, s, gpu, cal).throughput.step_time_s for p, s in probes]
    measured = [p.step_time_s for p, _ in probes]
    slack = _slack([p for p, _ in probes])
    final = _apply(cal, *_line(staged, measured), slack)
    after = [predictor(p, s, gpu, final).throughput.step_time_s for p, s in probes]
    errors = [abs(math.log(m / t)) for m, t in zip(measured, after, strict=True)]
    if len(probes) > _LINE_AT_LEAST:
        # held out: each probe predicted by the fit of the others (an honest band)
        errors = []
        for i, (p, s) in enumerate(probes):
            rest = [j for j in range(len(probes)) if j != i]
            line = _line([staged[j] for j in rest], [measured[j] for j in rest])
            t = predictor(p, s, gpu, _apply(cal, *line, slack)).throughput.step_time_s
            errors.append(abs(math.log(measured[i] / t)))
    cal = final.model_copy(
        update={
            "residual": max(errors),
            "probes": len(probes),
            "error_before": _median_error(measured, before),
            "error_after": _median_error(measured, after),
        }
    )
    return DeviceCalibration.model_validate(cal.model_dump()), before, after


def _apply(cal: DeviceCalibration, a: float, c: float, slack: float | None) -> DeviceCalibration:
    """Stage 2 on top of stage 1: rates divided by ``a``, ``c`` seconds added per step."""
    return cal.model_copy(
        update={
            "gemm_scale": {k: v / a for k, v in cal.gemm_scale.items()},
            "memory_scale": cal.memory_scale / a,
            "step_overhead_s": c,
            "reserved_factor": slack,
        }
    )


def _slack(probes: Sequence[ModelMeasurement]) -> float | None:
    """Least-squares ratio of reserved to allocated peak memory (CUDA), at least 1."""
    pairs = [
        (p.peak_reserved_bytes, p.peak_allocated_bytes)
        for p in probes
        if p.peak_reserved_bytes and p.peak_allocated_bytes
    ]
    if not pairs:
        return None
    return max(1.0, sum(r * a for r, a in pairs) / sum(a * a for _, a in pairs))


def _median_error(measured: Sequence[float], predicted: Sequence[float]) -> float:
    return statistics.median(abs(p / m - 1.0) for m, p in zip(measured, predicted, strict=True))


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
