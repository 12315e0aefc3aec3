"""The second opinion people compute by hand: a measured run scaled by model FLOPs and GPU
peak, shown beside the operation-level estimate with the reason they differ."""

from __future__ import annotations

from traintime import catalog
from traintime.engine.flops import flops_per_token
from traintime.results import Estimate, ReferenceComparison
from traintime.units import HOUR, TFLOP


def with_reference(est: Estimate, name: str) -> Estimate:
    """Scale a measured run the way people do by hand: by model FLOPs and by GPU peak."""
    ref = catalog.find_reference(name)
    ref_model = catalog.find_model(ref.model)
    ref_gpu = catalog.find_gpu(ref.gpu)
    ref_flops = flops_per_token(ref_model).model
    ref_peak = ref_gpu.peak("bf16") or 1.0
    peak = est.hardware.peak_tflops or 1.0
    per_token_ref = ref.step_time_s / ref.global_batch_tokens  # seconds per token, all GPUs
    scale = (
        (est.model.flops_per_token.model / ref_flops)
        * (ref.gpus * ref_peak)
        / (est.hardware.count * peak)
    )
    scaled_hours = per_token_ref * scale * est.training.tokens / HOUR
    ref_mfu = ref_flops * ref.global_batch_tokens / ref.step_time_s / (ref.gpus * ref_peak * TFLOP)
    ours = est.time.total_hours
    explanation = _why_they_differ(ref_mfu, est)
    comparison = ReferenceComparison(
        reference=name,
        description=ref.description,
        measured_step_time_s=ref.step_time_s,
        measured_hours=ref.total_hours,
        measured_mfu=ref_mfu,
        scaled_total_hours=scaled_hours,
        estimate_total_hours=ours,
        ratio=scaled_hours / ours,
        explanation=explanation,
        source=ref.source,
    )
    return est.model_copy(update={"time": est.time.model_copy(update={"reference": comparison})})


def _why_they_differ(ref_mfu: float, est: Estimate) -> str:
    """One sentence on why scaling a measured run by peak FLOPs differs from the model."""
    tp = est.throughput
    biggest = max(
        (k for k in tp.breakdown_s if k not in ("matmul", "attention")),
        key=lambda k: tp.breakdown_s[k],
    )
    share = tp.breakdown_s[biggest] / tp.step_time_s
    return (
        f"scaling assumes the reference's {ref_mfu:.0%} MFU; the model predicts "
        f"{tp.mfu:.0%} here (its largest non-matmul cost: {biggest}, {share:.0%} of the step)"
    )
