"""What ``traintime probe`` and ``traintime calibrate`` do: measure, set each measurement beside
the time model's value for it, and fit and store a calibration.

Predictions go through the one evaluation (``calibration.predict`` builds the probe's
question and calls ``estimation.estimate_question``); this module only orchestrates.
"""

from __future__ import annotations

import math
import re

from pydantic import BaseModel, ConfigDict, Field

from traintime import calibration, catalog
from traintime.catalog import calibrations as store
from traintime.errors import SpecError, TraintimeError
from traintime.measured import CalibrationRecord, DeviceInfo, Measurement, ModelMeasurement
from traintime.specs import GpuSpec, ModelSpec
from traintime.units import GIB


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class MicroRow(_Out):
    """One micro-benchmark beside the catalog value the model uses (``ratio`` = measured /
    model; None where the model has no such figure)."""

    measurement: Measurement
    model_value: float | None
    ratio: float | None


class MicroReport(_Out):
    device: DeviceInfo
    gpu: str
    rows: list[MicroRow]


class Predicted(_Out):
    """The model's answer for a probe's scenario (calibrated when ``calibrated``)."""

    step_time_s: float
    tokens_per_s: float
    peak_allocated_bytes: float
    peak_reserved_bytes: float
    fits: bool
    breakdown_s: dict[str, float]
    calibrated: bool


class Scaling(_Out):
    """Throughput of N devices over N x one device, measured and predicted."""

    world_size: int
    measured: float
    predicted: float


class ModelProbeReport(_Out):
    device: DeviceInfo
    gpu: str
    measured: ModelMeasurement
    predicted: Predicted
    error: dict[str, float | None] = Field(
        description="predicted / measured - 1: step_time_s, and memory where measured"
    )
    scaling: Scaling | None = None


def device_info(device: str | None) -> DeviceInfo:
    """The device to measure (default: the first GPU, else the CPU)."""
    from traintime.probe import env

    return env.device_info(device or env.available_kinds()[0])


def torch_device(info: DeviceInfo) -> str:
    """The torch device string: ROCm GPUs are driven through ``torch.cuda``."""
    return "cuda" if info.kind in ("cuda", "rocm") else info.kind


def catalog_gpu(info: DeviceInfo, gpu: str | None = None) -> GpuSpec:
    """The catalog device the measured one is: ``gpu`` when given, the host CPU for ``cpu``,
    else the driver's name with vendor words dropped (``NVIDIA GeForce RTX 4070``)."""
    if gpu is not None:
        return catalog.find_gpu(gpu)
    if info.kind == "cpu":
        return catalog.find_gpu("cpu")
    name = re.sub(r"\b(NVIDIA|AMD|Apple)\b", "", info.name).strip()
    try:
        return catalog.find_gpu(name)
    except TraintimeError as exc:
        raise SpecError(
            f"the device {info.name!r} is not one catalog GPU ({exc}); name it with --gpu"
        ) from None


def micro(device: str | None, *, quick: bool, gpu: str | None = None) -> MicroReport:
    """Run the micro-benchmarks and set each beside the model's value."""
    from traintime.probe.micro import run_micro

    info = device_info(device)
    spec = catalog_gpu(info, gpu)
    return MicroReport(
        device=info.model_copy(update={"catalog_gpu": spec.name}),
        gpu=spec.name,
        rows=_rows(run_micro(torch_device(info), quick=quick), spec),
    )


def _rows(measurements: list[Measurement], spec: GpuSpec) -> list[MicroRow]:
    mach = calibration.machine(spec)
    rows = []
    for m in measurements:
        value = calibration.model_value(m, mach)
        ratio = m.value / value if value else None
        rows.append(MicroRow(measurement=m, model_value=value, ratio=ratio))
    return rows


def recipe_defaults(spec: ModelSpec) -> dict[str, str]:
    """The optimizer and precision the model's recipe trains with (AdamW and bf16 else)."""
    recipe = catalog.model_recipe(spec)
    return {
        "optimizer": str(recipe.get("optimizer") or "adamw"),
        "precision": str(recipe.get("precision") or "bf16"),
    }


def measure_model(
    *,
    spec: ModelSpec,
    info: DeviceInfo,
    micro_batch: int,
    seq_len: int,
    steps: int,
    act_ckpt: str,
    compiled: bool,
    precision: str,
    optimizer: str,
    gpus: int = 1,
    parallel: str = "ddp",
) -> ModelMeasurement:
    """Timed training steps of the real model (under torchrun for more than one device)."""
    from traintime.probe import train

    kwargs = {
        "spec": spec,
        "micro_batch": micro_batch,
        "seq_len": seq_len,
        "steps": steps,
        "act_ckpt": act_ckpt,
        "compiled": compiled,
        "precision": precision,
        "optimizer": optimizer,
        "device": torch_device(info),
    }
    if gpus > 1:
        return train.run_distributed(nproc=gpus, parallel=parallel, **kwargs)
    return train.run_model_probe(**kwargs)


def predicted(
    probe: ModelMeasurement, spec: ModelSpec, gpu: GpuSpec, *, use_calibration: bool = True
) -> Predicted:
    """The model's answer for the probe's scenario, with this machine's stored calibration of
    the device when there is one (and ``use_calibration``)."""
    cal = catalog.calibration_for(gpu.name) if use_calibration else None
    est = calibration.predict(probe, spec, gpu, cal)
    return Predicted(
        step_time_s=est.throughput.step_time_s,
        tokens_per_s=est.throughput.tokens_per_sec,
        peak_allocated_bytes=est.memory.peak_gib * GIB,
        peak_reserved_bytes=est.memory.reserved_gib * GIB,
        fits=est.memory.fits,
        breakdown_s=est.throughput.breakdown_s,
        calibrated=cal is not None,
    )


def _error(predicted_value: float, measured: float | None) -> float | None:
    return predicted_value / measured - 1.0 if measured else None


def model_probe(
    *,
    spec: ModelSpec,
    device: str | None,
    gpu: str | None = None,
    use_calibration: bool = True,
    **settings: object,
) -> ModelProbeReport:
    """Measure a model and set the prediction beside it; with several devices also the
    scaling efficiency, measured against one device and predicted."""
    info = device_info(device)
    target = catalog_gpu(info, gpu)
    gpus = int(settings.get("gpus", 1))  # type: ignore[call-overload]
    if gpus > info.count and info.kind != "cpu":
        raise SpecError(f"--gpus {gpus}: this machine has {info.count} {info.kind} device(s)")
    measured = measure_model(spec=spec, info=info, **settings)  # type: ignore[arg-type]
    pred = predicted(measured, spec, target, use_calibration=use_calibration)
    memory = measured.peak_allocated_bytes or measured.resident_bytes
    error = {
        "step_time_s": _error(pred.step_time_s, measured.step_time_s),
        "memory": _error(pred.peak_allocated_bytes, memory),
    }
    scaling = None
    if gpus > 1:
        single = measure_model(spec=spec, info=info, **{**settings, "gpus": 1})  # type: ignore[arg-type]
        alone = predicted(single, spec, target, use_calibration=use_calibration)
        scaling = Scaling(
            world_size=gpus,
            measured=measured.tokens_per_s / (gpus * single.tokens_per_s),
            predicted=pred.tokens_per_s / (gpus * alone.tokens_per_s),
        )
    return ModelProbeReport(
        device=info.model_copy(update={"catalog_gpu": target.name}),
        gpu=target.name,
        measured=measured,
        predicted=pred,
        error=error,
        scaling=scaling,
    )


#: The model probes ``calibrate`` runs: (preset, micro-batch, seq_len, checkpointing). Small on
#: a CPU so a quick calibration takes seconds; on a GPU, nanochat at three depths and a
#: Llama-style model (small enough for a 12 GB card) across micro-batches and checkpointing.
SWEEPS: dict[str, list[tuple[str, int, int, str]]] = {
    "cpu-quick": [("nanochat-d2", 1, 64, "none"), ("nanochat-d2", 4, 64, "none")],
    "cpu": [
        ("nanochat-d2", 1, 128, "none"),
        ("nanochat-d2", 4, 128, "none"),
        ("nanochat-d4", 1, 128, "none"),
        ("nanochat-d4", 2, 128, "full"),
    ],
    "gpu-quick": [("nanochat-d6", 4, 1024, "none"), ("nanochat-d12", 8, 2048, "none")],
    "gpu": [
        ("nanochat-d6", 4, 2048, "none"),
        ("nanochat-d12", 4, 2048, "none"),
        ("nanochat-d12", 8, 2048, "full"),
        ("nanochat-d20", 4, 2048, "full"),
        ("llama-3.2-1b", 2, 2048, "full"),
    ],
}


def sweep_for(info: DeviceInfo, *, quick: bool) -> list[tuple[str, int, int, str]]:
    base = "cpu" if info.kind == "cpu" else "gpu"
    return SWEEPS[f"{base}-quick" if quick else base]


def calibrate(
    device: str | None, *, quick: bool, gpu: str | None = None, steps: int | None = None
) -> CalibrationRecord:
    """Micro-benchmarks, a sweep of model probes, the fit; stored and returned."""
    from traintime.probe.micro import run_micro

    info = device_info(device)
    target = catalog_gpu(info, gpu)
    info = info.model_copy(update={"catalog_gpu": target.name})
    measurements = run_micro(torch_device(info), quick=quick)
    probes: list[tuple[ModelMeasurement, ModelSpec]] = []
    for name, micro_batch, seq_len, ckpt in sweep_for(info, quick=quick):
        spec = catalog.find_model(name)
        defaults = recipe_defaults(spec)
        probe = measure_model(
            spec=spec,
            info=info,
            micro_batch=micro_batch,
            seq_len=seq_len,
            steps=steps or (3 if quick else 10),
            act_ckpt=ckpt,
            compiled=False,
            **defaults,
        )
        probes.append((probe, spec))
    fit, before, after = calibration.fit(target, info, measurements, probes)
    record = CalibrationRecord(
        device=info,
        fit=fit,
        measurements=measurements,
        probes=[p for p, _ in probes],
        predicted_step_s=before,
        calibrated_step_s=after,
    )
    store.save(record)
    return record


def ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None or not math.isfinite(ratio) else f"{ratio:.2f}"
