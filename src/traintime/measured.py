"""What the probe measures: typed, frozen records shared by the micro-benchmarks, the model
probe, the calibration fit and its SQLite store (core types: no torch here). SI units:
seconds, bytes, FLOP/s, bytes/s."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from traintime.specs import DeviceCalibration, _Frozen

DeviceKind = Literal["cuda", "rocm", "mps", "cpu"]
MeasurementKind = Literal["gemm", "attention", "bandwidth", "transfer", "memory", "collective"]


class DeviceInfo(_Frozen):
    """The measured device and the software that drove it: the calibration's key."""

    kind: DeviceKind
    name: str = Field(description="as the driver names it, e.g. 'NVIDIA GeForce RTX 4070'")
    catalog_gpu: str | None = Field(
        default=None, description="the catalog device it resolves to ('cpu' for the host)"
    )
    driver: str = ""
    runtime: str = Field(default="", description="'CUDA 12.8', 'ROCm 6.3', or '' on CPU/MPS")
    torch: str = ""
    count: int = Field(default=1, ge=1, description="visible devices of this kind")
    memory_bytes: int | None = Field(default=None, ge=0)

    @property
    def key(self) -> str:
        """One string per (device, driver, runtime, torch): calibrations are stored under it."""
        return " | ".join((self.name, self.driver or "-", self.runtime or "-", self.torch or "-"))


class Measurement(_Frozen):
    """One micro-benchmark result. ``value`` is a rate (FLOP/s or bytes/s) or a size (bytes);
    ``work`` the FLOPs or bytes one timed call does; ``seconds`` the median time of a call."""

    kind: MeasurementKind
    name: str = Field(description="e.g. 'gemm', 'sdpa', 'copy', 'h2d_pinned', 'all_reduce'")
    dtype: str = ""
    shape: dict[str, int | float | str] = Field(default_factory=dict)
    seconds: float = Field(ge=0)
    work: float = Field(ge=0)
    value: float = Field(ge=0)
    unit: Literal["FLOP/s", "B/s", "B"]
    note: str = ""


class ModelMeasurement(_Frozen):
    """Timed training steps of a real model (after warm-up): the median step, its tokens/s,
    and the peak memory the device reports."""

    model: str
    param_count: int = Field(ge=0)
    micro_batch: int = Field(gt=0)
    seq_len: int = Field(gt=0)
    steps: int = Field(gt=0)
    act_ckpt: str = "none"
    compiled: bool = False
    precision: str = "bf16"
    optimizer: str = ""
    world_size: int = Field(default=1, ge=1)
    parallel: Literal["single", "ddp", "fsdp2"] = "single"
    step_time_s: float = Field(gt=0)
    step_times_s: list[float] = Field(default_factory=list)
    tokens_per_s: float = Field(gt=0, description="all ranks together")
    peak_allocated_bytes: int | None = Field(default=None, ge=0)
    peak_reserved_bytes: int | None = Field(default=None, ge=0)
    resident_bytes: int | None = Field(
        default=None, ge=0, description="the driver's figure on MPS, the process RSS on CPU"
    )


class CalibrationRecord(_Frozen):
    """One ``traintime calibrate`` run: the device, the raw measurements, the model probes,
    and the fit. What the SQLite store keeps and ``--export`` writes."""

    device: DeviceInfo
    fit: DeviceCalibration
    measurements: list[Measurement] = Field(default_factory=list)
    probes: list[ModelMeasurement] = Field(default_factory=list)
    predicted_step_s: list[float] = Field(
        default_factory=list, description="the uncalibrated model's step time for each probe"
    )
    calibrated_step_s: list[float] = Field(
        default_factory=list, description="the calibrated model's step time for each probe"
    )
