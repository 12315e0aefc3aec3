"""Typed results of an estimate. The JSON of :class:`Estimate` is the documented ``--json`` schema
(``docs/schema.md``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from traintime.engine.flops import FlopsPerToken
from traintime.engine.params import ParamCounts
from traintime.planner import Plan
from traintime.specs import DeviceCalibration, GpuSpec, Layout, ModelSpec, Recipe

SCHEMA_VERSION = 2


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class ModelReport(_Result):
    """The architecture, its parameters by component and its FLOPs per token by operation."""

    name: str
    spec: ModelSpec
    params: ParamCounts
    flops_per_token: FlopsPerToken


class SettingReport(_Result):
    """One setting as the estimate used it, and where its value came from: ``given`` (flags,
    scenario file, API, validation row), ``recipe`` (the model family's), ``default``,
    ``planner`` (chosen as the fastest that fits), ``derived`` (follows from other settings) or
    ``model``."""

    name: str
    value: Any
    source: str
    reason: str


class TrainingReport(_Result):
    """The recipe and layout as run (every setting settled) and the horizon they imply.
    ``trainable_params`` is what receives gradients (every parameter in full training; the
    adapters in LoRA and QLoRA); ``tokens`` are the tokens run: the data's tokens x
    ``epochs`` x ``padding_factor`` (sequence length over the mean sample, when padded)."""

    recipe: Recipe
    layout: Layout
    settings: list[SettingReport]
    tokens_requested: float
    tokens: float
    steps: int
    global_batch_tokens: int
    seq_len: int
    micro_batch: int
    sequences_per_step: int
    grad_accum_steps: int
    model_flops_total: float
    executed_flops_total: float
    trainable_params: int
    epochs: float = 1.0
    padding_factor: float = 1.0
    notes: list[str]


class HardwareReport(_Result):
    """The GPUs, the precision their peak is taken at, and the compute floor of the run.
    ``tensor_rate_sourced`` is false for a device timed at a vector rate because the catalog has
    no sourced tensor rate for it (the notes say which). ``calibration`` is this machine's
    measured calibration of the device, when the estimate used one."""

    gpu: GpuSpec
    count: int
    gpus_per_node: int | None
    precision: str
    peak_tflops: float
    compute_floor_hours: float
    tensor_rate_sourced: bool
    calibration: DeviceCalibration | None = None
    notes: list[str]


class ThroughputReport(_Result):
    """Predicted speed of one optimizer step on the busiest GPU, and where its time goes."""

    tokens_per_sec_per_gpu: float
    tokens_per_sec: float
    step_time_s: float
    micro_batch: int
    micro_steps: int
    breakdown_s: dict[str, float]
    mfu: float
    hfu: float
    mfu_peak_tflops: float
    links: str
    notes: list[str]


class ReferenceComparison(_Result):
    """The hand method: scale a measured run by FLOPs and by GPU peak, beside our estimate."""

    reference: str
    description: str
    measured_step_time_s: float
    measured_hours: float
    measured_mfu: float
    scaled_total_hours: float
    estimate_total_hours: float
    ratio: float
    explanation: str
    source: str


class TimeReport(_Result):
    """Wall-clock for the whole run: the estimate and a band from the model's own validation
    error (10th-90th percentile of predicted/measured throughput on published runs).
    ``runs`` is false when the setup does not fit: the time is then what the run would take if
    memory were unlimited. ``total_hours`` is steady-state training; ``expected_hours`` the
    wall-clock with restarts, lost work and downtime (``total_hours / goodput``). For a
    mixture of experts under dropless routing, ``balanced_routing_hours`` is the same setup
    with routing forced even (as published benchmarks run): the fast end of the load-imbalance
    band whose slow end is ``total_hours``."""

    runs: bool
    total_hours: float
    low_hours: float
    high_hours: float
    total_days: float
    band_source: str
    band_basis: str
    goodput: float
    expected_hours: float
    goodput_source: str
    balanced_routing_hours: float | None = None
    reference: ReferenceComparison | None = None


class MemoryReport(_Result):
    """Peak memory on the busiest GPU for the setup estimated, and whether it fits. The peak
    occurs in ``phase`` (forward/backward or the optimizer step); ``breakdown`` lists that
    phase's parts, which add up to ``peak_gib``."""

    peak_gib: float
    reserved_gib: float
    needed_gib: float
    capacity_gib: float
    fits: bool
    phase: str
    breakdown: dict[str, float]
    host_gib: float
    host_note: str
    assumptions: str


class EnergyReport(_Result):
    """Energy of the whole run (all GPUs, host and facility), its electricity cost and CO2."""

    kwh: float
    gpu_kwh: float
    host_kwh: float
    average_gpu_w: float
    electricity_cost: float
    co2_kg: float
    assumptions: dict[str, float]
    notes: list[str] = []


class CostReport(_Result):
    """Renting vs owning for this run, in US dollars; null where a price is unknown."""

    rent_on_demand: float | None
    rent_spot: float | None
    rent_usd_per_gpu_hour: float | None
    purchase: float | None
    own_amortized: float | None
    own_total: float | None
    break_even_hours: float | None
    missing: list[str]
    notes: list[str]


class Estimate(_Result):
    """Everything traintime computes for one question. Top-level keys are stable."""

    model: ModelReport
    training: TrainingReport
    hardware: HardwareReport
    throughput: ThroughputReport
    time: TimeReport
    memory: MemoryReport
    plan: Plan
    energy: EnergyReport
    cost: CostReport

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)
