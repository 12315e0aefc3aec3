"""``estimate(...)``: compose the engine over resolved specs into an :class:`Estimate`.

Resolution order for the training recipe: TrainingSpec defaults < the model family's recipe
(nanochat's) < a scenario's [training] table < explicit keyword arguments.
"""

from __future__ import annotations

from typing import Any

from traintime import catalog
from traintime.engine.flops import flops_per_token
from traintime.engine.params import count_params
from traintime.engine.schedule import make_schedule
from traintime.errors import SpecError
from traintime.results import Estimate, HardwareReport, ModelReport, TrainingReport
from traintime.specs import GpuSpec, HardwareSpec, ModelSpec, TrainingSpec, build
from traintime.units import HOUR, TFLOP, parse_count

DEFAULT_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022 (Chinchilla), compute-optimal ratio

#: Where a device lacks a precision, what a user would train in instead, best first (V100 and
#: T4 have no BF16: mixed precision there is FP16 with a loss scaler; cards without tensor cores
#: train in whichever of fp16 and fp32 is faster, e.g. fp32 on Pascal GeForce, whose fp16 runs
#: at 1/64 rate).
_FALLBACK = {"bf16": ("fp16", "fp32"), "fp16": ("fp32",), "fp8": ("bf16", "fp16", "fp32"),
             "tf32": ("fp32",)}


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


def _precision_on(gpu: GpuSpec, precision: str) -> tuple[str, float | None, list[str]]:
    """The precision the device runs ``precision`` at, its peak, and a note if it fell back."""
    if gpu.peak(precision) is not None:
        return precision, gpu.peak(precision), []
    options = [p for p in _FALLBACK.get(precision, ()) if gpu.peak(p) is not None]
    if not options:
        return precision, None, [f"{gpu.name} has no known {precision} rate"]
    best = max(options, key=lambda p: gpu.peak(p) or 0.0)
    return best, gpu.peak(best), [f"{gpu.name} has no {precision} tensor rate; using {best}"]


def estimate(
    model: str | ModelSpec = "nanochat-d32",
    gpu: str | GpuSpec = "GeForce RTX 4070",
    *,
    gpus: int = 1,
    gpus_per_node: int | None = None,
    training: dict[str, Any] | TrainingSpec | None = None,
    **training_overrides: Any,
) -> Estimate:
    """Estimate training ``model`` on ``gpus`` x ``gpu``.

    ``training_overrides`` are TrainingSpec fields (``tokens``, ``tokens_per_param``,
    ``global_batch_tokens``, ``micro_batch``, ``seq_len``, ``precision``, ``optimizer``,
    ``act_ckpt``, ``attention_impl``, ``compiled``, dtypes); ``tokens`` accepts '37.6B'.
    Raises :class:`~traintime.errors.TraintimeError` (one-line message) on bad input.
    """
    unknown = set(training_overrides) - set(TrainingSpec.model_fields)
    if unknown:
        name = sorted(unknown)[0]
        raise SpecError(f"unknown training field {name!r}; allowed: "
                        f"{', '.join(TrainingSpec.model_fields)}")
    spec = resolve_model(model)
    hardware = build(
        HardwareSpec, "hardware", gpu=resolve_gpu(gpu), count=gpus, gpus_per_node=gpus_per_node
    )
    train = resolve_training(spec, training, training_overrides)
    if train.seq_len is not None and train.seq_len != spec.seq_len:
        spec = build(ModelSpec, f"model {spec.name}", **{**spec.model_dump(), "seq_len": train.seq_len})
    return _compose(spec, train, hardware)


def _compose(spec: ModelSpec, train: TrainingSpec, hw: HardwareSpec) -> Estimate:
    params = count_params(spec)
    flops = flops_per_token(
        spec, attention_impl=train.attention_impl, act_ckpt=train.act_ckpt
    )
    notes: list[str] = []
    if train.tokens is not None:
        tokens = train.tokens
    else:
        ratio = train.tokens_per_param
        if ratio is None:
            ratio = DEFAULT_TOKENS_PER_PARAM
            notes.append(f"tokens not given: {ratio:g} tokens per parameter (Chinchilla)")
        tokens = ratio * params.total
    schedule = make_schedule(
        tokens=tokens,
        global_batch_tokens=train.global_batch_tokens,
        seq_len=spec.seq_len,
        n_gpus=hw.count,
        micro_batch=train.micro_batch,
    )
    training = TrainingReport(
        spec=train,
        tokens_requested=schedule.tokens_requested,
        tokens=schedule.tokens,
        steps=schedule.steps,
        global_batch_tokens=schedule.global_batch_tokens,
        seq_len=spec.seq_len,
        micro_batch=schedule.micro_batch,
        sequences_per_step=schedule.sequences_per_step,
        grad_accum_steps=schedule.grad_accum_steps,
        model_flops_total=flops.model * schedule.tokens,
        executed_flops_total=flops.executed * schedule.tokens,
        notes=notes + schedule.notes,
    )
    return Estimate(
        model=ModelReport(name=spec.name, spec=spec, params=params, flops_per_token=flops),
        training=training,
        hardware=_hardware_report(hw, train, training.executed_flops_total),
    )


def _hardware_report(hw: HardwareSpec, train: TrainingSpec, executed: float) -> HardwareReport:
    precision, peak, notes = _precision_on(hw.gpu, train.precision)
    floor = None
    if peak:
        # No run can beat every executed FLOP at the dense peak on every GPU at once.
        floor = executed / (peak * TFLOP * hw.count) / HOUR
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
    from pathlib import Path

    scenario = catalog.load_scenario(Path(path) if path else None)
    return estimate(
        overrides.pop("model", None) or scenario.model,
        overrides.pop("gpu", None) or scenario.gpu,
        gpus=overrides.pop("gpus", None) or scenario.gpus,
        gpus_per_node=overrides.pop("gpus_per_node", None) or scenario.gpus_per_node,
        training=scenario.training,
        **overrides,
    )
