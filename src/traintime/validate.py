"""``traintime validate``: predict published runs from their configuration columns only and
compare with what was measured (schema: shared/validation/README.md).

Columns the tool reads to predict: the architecture, sequence/numerics, batch/memory-saving
settings, hardware and parallelism. It never reads ``tokens_per_sec_per_gpu``, ``peak_mem_gib``
or ``oom`` before predicting. Settings a row leaves empty are filled with documented defaults
(listed per row under ``assumed``); a row that cannot be predicted (unknown GPU, missing
architecture or GPU count) is reported as skipped with the reason.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from traintime import catalog
from traintime.engine.device import Device, usable_precision
from traintime.engine.memory import GIB, peak_memory
from traintime.engine.params import count_params
from traintime.engine.step import Recipe, default_micro_batch, memory_inputs, step_time
from traintime.errors import DataError, TraintimeError
from traintime.specs import ModelSpec, Parallel, build

MEASURED = ("tokens_per_sec_per_gpu", "peak_mem_gib", "peak_mem_kind", "oom")
REQUIRED = ("n_layer", "d_model", "n_head", "ffn_hidden", "vocab", "seq_len", "gpu")
BASELINE_EFFICIENCY = 0.40  # the constant-efficiency guess: 6 N D / (peak x 40%)


class RowResult(BaseModel):
    """One run: what we predicted, what was measured, and how they compare."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    status: str  # "used" | "unreliable" | "skipped" | "no-throughput"
    reason: str = ""
    gpu: str = ""
    n_gpus: int | None = None
    predicted_tokens_per_sec_per_gpu: float | None = None
    measured_tokens_per_sec_per_gpu: float | None = None
    throughput_error: float | None = None
    baseline_tokens_per_sec_per_gpu: float | None = None
    predicted_peak_mem_gib: float | None = None
    measured_peak_mem_gib: float | None = None
    peak_mem_kind: str | None = None
    capacity_gib: float | None = None
    predicted_fits: bool | None = None
    measured_oom: bool | None = None
    assumed: list[str] = []


class Summary(BaseModel):
    """Accuracy over the reliable rows (fractions as 0-1 numbers)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    throughput_mdape: float | None
    throughput_within_25: float | None
    memory_mdape: float | None
    oom_accuracy: float | None
    n_throughput: int
    n_memory: int
    n_oom: int
    n_rows: int
    n_skipped: int
    n_unreliable: int
    baseline_throughput_mdape: float | None
    baseline_within_25: float | None
    log_ratio_p10: float | None
    log_ratio_p90: float | None


class Report(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    file: str
    rows: list[RowResult]
    summary: Summary


def _number(row: dict[str, str], key: str) -> float | None:
    """A numeric cell: None when empty; a non-number or a negative value refuses the row."""
    cell = (row.get(key) or "").strip()
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{key}={cell!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise DataError(f"{key}={cell!r} must be a finite number >= 0")
    return value


def _int(row: dict[str, str], key: str) -> int | None:
    value = _number(row, key)
    return int(value) if value is not None else None


def _bool(row: dict[str, str], key: str) -> bool | None:
    cell = (row.get(key) or "").strip().lower()
    if cell and cell not in ("true", "false"):
        raise DataError(f"{key}={cell!r} is not true or false")
    return None if not cell else cell == "true"


#: The schema's keyword columns and their values (shared/validation/README.md).
KEYWORDS = {
    "precision": ("bf16", "fp8", "fp16", "fp32", "tf32"),
    "optimizer": ("adamw", "muon", "adafactor", "sgd", "adamw8bit", "lamb", "other"),
    "act_ckpt": ("none", "selective", "full"),
    "attention_impl": ("flash", "sdpa", "eager", "other"),
}


def _keyword(row: dict[str, str], key: str) -> str:
    """A keyword cell as written (empty when unknown); a value outside the schema refuses it."""
    cell = (row.get(key) or "").strip()
    if cell and cell not in KEYWORDS[key]:
        raise DataError(f"{key}={cell!r} is not one of {', '.join(KEYWORDS[key])}")
    return cell


def row_model(row: dict[str, str], assumed: list[str] | None = None) -> ModelSpec:
    """The architecture columns as a ModelSpec (an ``other`` activation is timed as GELU, and
    says so in ``assumed``)."""
    d, seq = _int(row, "d_model") or 0, _int(row, "seq_len") or 0
    extra = _int(row, "extra_embed_params") or 0
    act = (row.get("ffn_act") or "").strip()
    if act not in ("gelu", "swiglu", "geglu", "relu2", "relu"):
        if assumed is not None:
            assumed.append(f"ffn_act={act or 'empty'} timed as gelu")
        act = "gelu"
    fields: dict[str, Any] = {
        "name": row.get("id") or "row",
        "family": "validation",
        "n_layer": _int(row, "n_layer"),
        "d_model": d,
        "n_head": _int(row, "n_head"),
        "n_kv_head": _int(row, "n_kv_head"),
        "head_dim": _int(row, "head_dim"),
        "ffn_hidden": _int(row, "ffn_hidden"),
        "ffn_act": act,
        "vocab": _int(row, "vocab"),
        "tied_embeddings": _bool(row, "tied_embeddings") or False,
        "seq_len": seq,
    }
    if extra and d and extra % d == 0 and extra // d >= seq and extra // d <= 4 * seq:
        fields.update(position="learned", max_position=extra // d)
    else:
        fields["extra_lookup_params"] = extra
    window = _int(row, "attn_window")
    if window:
        pattern = re.search(r"\b([SL]*S[SL]*)\b", row.get("notes") or "")
        fields.update(
            short_window=window,
            window_pattern=pattern.group(1) if pattern else "S",
            last_layer_full=bool(pattern),
        )
    if "nanochat" in (row.get("framework") or "").lower():
        fields.update(qk_norm=True, logit_softcap=15.0, norm_weight=False)
    spec = build(ModelSpec, f"row {row.get('id')!r}", **fields)
    return _with_biases(spec, _int(row, "params_total"))


def _with_biases(spec: ModelSpec, params_total: int | None) -> ModelSpec:
    """No column says whether the linear layers and norms carry biases, but ``params_total``
    counts them: GPT-2 style models (GPT-2, MPT, Megatron's GPT, BLOOM) add 9 d per layer of
    linear biases and 2 d of LayerNorm biases. Take that layout when it, and not the bias-free
    one, reproduces the published count to within half a d_model per layer."""
    if not params_total:
        return spec
    biased = spec.model_copy(update={"attn_bias": "all", "mlp_bias": True, "norm_bias": True})
    tolerance = 0.5 * spec.d_model * spec.n_layer
    plain_off = abs(count_params(spec).total - params_total)
    biased_off = abs(count_params(biased).total - params_total)
    return biased if biased_off <= tolerance < plain_off else spec


def row_parallel(row: dict[str, str], assumed: list[str]) -> Parallel:
    n = _int(row, "n_gpus")
    if n is None:
        raise DataError("n_gpus is empty: the parallel layout cannot be known")
    dims = [_int(row, k) for k in ("dp", "tp", "pp", "cp")]
    if all(x is None for x in dims):
        dims = [n, 1, 1, 1]
        assumed.append(f"layout dp={n}")
    if n < 1 or any(x is not None and x < 1 for x in dims):
        raise DataError("n_gpus, dp, tp, pp and cp must be at least 1")
    dp, tp, pp, cp = (x or 1 for x in dims)
    if dp * tp * pp * cp != n:
        raise DataError(f"dp x tp x pp x cp = {dp * tp * pp * cp} differs from n_gpus={n}")
    zero = _int(row, "zero_stage")
    if zero is not None and zero > 3:
        raise DataError(f"zero_stage={zero} is not one of 0, 1, 2, 3")
    if zero is None:
        zero = 0
        assumed.append("zero_stage=0")
    return build(
        Parallel, "layout", dp=dp, tp=tp, pp=pp, cp=cp, zero_stage=zero, sequence_parallel=False
    )


def _default(row: dict[str, str], key: str, value: Any, assumed: list[str]) -> Any:
    cell = _keyword(row, key)
    if cell and cell != "other":
        return cell
    assumed.append(f"{key}={value}")
    return value


_TRITON_ATTENTION = re.compile(r"llm-foundry|\bcomposer\b|mosaicml")


def _attention_kernel(row: dict[str, str], assumed: list[str]) -> str:
    """The attention column, sharpened by the framework: FA3 / cuDNN kernels are FA3-class;
    llm-foundry / Composer (MPT) ran FlashAttention written in Triton: `attn_impl: triton` in
    its pretraining yamls and the benchmarking script's default until March 2024 (llm-foundry
    c26309de5 removed it), unless the framework names FlashAttention-2."""
    impl = _default(row, "attention_impl", "flash", assumed)
    framework = (row.get("framework") or "").lower()
    if impl == "flash" and re.search(r"\bfa3\b|flash-?attention-?3|cudnn", framework):
        return "flash3"
    named_fa2 = re.search(r"\bfa2\b|flash-?attn[ -=]*2|flash-?attention-?2", framework)
    if impl == "flash" and _TRITON_ATTENTION.search(framework) and not named_fa2:
        return "triton"
    return impl


def _checkpointing(row: dict[str, str]) -> str:
    """The act_ckpt column as the framework runs it: torchtitan's `selective` is its op-level
    policy (saves SDPA and every other matmul output, recomputes the rest), not Megatron's
    attention-core recompute (torchtitan activation_checkpoint.py, `mm_count % 2`)."""
    ckpt = _keyword(row, "act_ckpt") or "none"
    if ckpt == "selective" and "torchtitan" in (row.get("framework") or "").lower():
        return "selective-op"
    return ckpt


_COMPOSITE_NORMS = re.compile(r"torchtitan|hugging ?face|\btransformers\b|\bhf\b|litgpt|lit-gpt")


def _norm_kernels(row: dict[str, str]) -> str:
    """How the code base runs RMSNorm and rotary in eager mode: torchtitan, Hugging Face
    Transformers and LitGPT write them as chains of tensor ops (fp32 upcast, square, mean,
    rsqrt, scale; rotate-half or complex rotary); other code bases use fused kernels."""
    return "composite" if _COMPOSITE_NORMS.search((row.get("framework") or "").lower()) else "fused"


def row_recipe(row: dict[str, str], spec: ModelSpec, par: Parallel, assumed: list[str]) -> Recipe:
    precision = _default(row, "precision", "bf16", assumed)
    optimizer = _default(row, "optimizer", "adamw", assumed)
    if optimizer not in ("adamw", "muon", "adamw8bit", "adafactor", "sgd"):
        assumed.append(f"optimizer {optimizer} timed as adamw")
        optimizer = "adamw"
    batch = _int(row, "global_batch_tokens")
    micro = _int(row, "micro_batch")
    if batch == 0 or micro == 0:
        raise DataError("global_batch_tokens and micro_batch must be at least 1")
    compiled = _bool(row, "compiled")
    if compiled is None:
        compiled = False
        assumed.append("compiled=false")
    recipe = Recipe(
        global_batch_tokens=batch or 0,
        micro_batch=micro or 1,
        precision=precision,
        optimizer=optimizer,
        state_dtype="int8" if optimizer == "adamw8bit" else None,
        act_ckpt=_checkpointing(row),
        attention_impl=_attention_kernel(row, assumed),
        compiled=compiled,
        norm_kernels=_norm_kernels(row),
        **_dtype_layout(row, par, precision),
    )
    if micro is None or not (row.get("act_ckpt") or "").strip():
        recipe = _fill_like_a_practitioner(row, spec, par, recipe, micro, assumed)
    if batch is None:
        per_pass = recipe.micro_batch * spec.seq_len * par.dp
        batch = per_pass * max(1, round(2**19 / per_pass))
        assumed.append(f"global_batch_tokens={batch}")
    return replace(recipe, global_batch_tokens=batch)


def _dtype_layout(row: dict[str, str], par: Parallel, precision: str) -> dict[str, Any]:
    """Where each tensor lives, by implementation: PyTorch AMP (DDP, nanochat) keeps fp32
    weights and gradients; ZeRO-1/2 optimizers (DeepSpeed, Megatron's distributed optimizer)
    keep 16-bit working weights and gradients with an fp32 master copy in the sharded optimizer
    state (Rajbhandari et al. 2020, section 3); FSDP (stage 3) shards the fp32 weights themselves
    and reduces gradients in fp32 (its default mixed precision). nanochat keeps its embedding
    tables in bf16 (nanochat.md section 3.2)."""
    framework = (row.get("framework") or "").lower()
    if precision in ("fp32", "tf32"):
        return {"param_dtype": "fp32", "grad_dtype": "fp32", "embedding_dtype": "fp32"}
    if "nanochat" in framework:
        return {"param_dtype": "fp32", "grad_dtype": "fp32", "embedding_dtype": "bf16"}
    if par.zero_stage in (1, 2):
        return {
            "param_dtype": "bf16",
            "grad_dtype": "bf16",
            "embedding_dtype": "bf16",
            "master_dtype": "fp32",
        }
    return {"param_dtype": "fp32", "grad_dtype": "fp32", "embedding_dtype": "fp32"}


def _fill_like_a_practitioner(
    row: dict[str, str],
    spec: ModelSpec,
    par: Parallel,
    recipe: Recipe,
    micro: int | None,
    assumed: list[str],
) -> Recipe:
    """Settings a run leaves empty, chosen the way its authors would have: the largest
    micro-batch up to ~16K tokens (1 under pipelining) that fits the GPU, without activation
    checkpointing if anything fits without it. Uses the memory model, never the outcome."""
    gpu = catalog.find_gpu(row["gpu"])
    ckpt_known = bool((row.get("act_ckpt") or "").strip())
    start = micro or default_micro_batch(
        spec.seq_len, dp=par.dp, pp=par.pp, global_batch_tokens=_int(row, "global_batch_tokens")
    )
    micros = [micro] if micro else [m for m in (start >> i for i in range(12)) if m >= 1]
    ckpts = [recipe.act_ckpt] if ckpt_known else ["none", "full"]
    for ckpt in ckpts:
        for m in micros:
            candidate = replace(recipe, micro_batch=m, act_ckpt=ckpt)
            if _fits(spec, candidate, par, gpu):
                break
        else:
            continue
        break
    else:
        candidate = replace(recipe, micro_batch=micros[-1], act_ckpt=ckpts[-1])
    if micro is None:
        assumed.append(f"micro_batch={candidate.micro_batch}")
    if not ckpt_known:
        assumed.append(f"act_ckpt={candidate.act_ckpt}")
    return candidate


def _memory(spec: ModelSpec, recipe: Recipe, par: Parallel) -> Any:
    return peak_memory(spec, memory_inputs(recipe), par)


def _fits(spec: ModelSpec, recipe: Recipe, par: Parallel, gpu: Any) -> bool:
    d = catalog.memory_defaults()
    context = d["context_gib_multi_gpu" if par.n_gpus > 1 else "context_gib"]
    return _memory(spec, recipe, par).total / GIB * d["reserved_factor"] + context <= gpu.memory_gib


class Prediction(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    tokens_per_sec_per_gpu: float
    baseline: float
    allocated_gib: float
    capacity_gib: float
    fits: bool
    assumed: list[str]


def predict_row(row: dict[str, str]) -> Prediction:
    """Throughput, the constant-efficiency baseline, peak memory and the fit, from config only."""
    safe = {k: v for k, v in row.items() if k not in MEASURED}
    missing = [k for k in REQUIRED if not (safe.get(k) or "").strip()]
    if missing:
        raise DataError(f"missing {', '.join(missing)}")
    assumed: list[str] = []
    gpu = catalog.find_gpu(safe["gpu"])
    spec = row_model(safe, assumed)
    par = row_parallel(safe, assumed)
    if par.tp > 1:
        par, recipe = _sequence_parallel(safe, spec, par, gpu, assumed)
    else:
        recipe = row_recipe(safe, spec, par, assumed)
    gpn = _int(safe, "gpus_per_node") or min(par.n_gpus, 8)
    if not gpu.peak(usable_precision(gpu, recipe.precision)):
        raise DataError(f"{gpu.name} has no known {recipe.precision} rate")
    eff = catalog.efficiency()
    links = catalog.links_for(gpu, gpus_per_node=gpn)
    st = step_time(spec, recipe, par, Device(gpu, eff), links, eff)
    predicted = recipe.global_batch_tokens / st.step_time_s / par.n_gpus
    allocated = _memory(spec, recipe, par).total / GIB
    fits = _fits(spec, recipe, par, gpu)
    return Prediction(
        tokens_per_sec_per_gpu=predicted,
        baseline=_baseline(safe, gpu, recipe.precision),
        allocated_gib=allocated,
        capacity_gib=gpu.memory_gib,
        fits=fits,
        assumed=assumed,
    )


_RECOMPUTE = {"none": 0, "selective": 1, "selective-op": 1, "full": 2}


def _sequence_parallel(
    row: dict[str, str], spec: ModelSpec, par: Parallel, gpu: Any, assumed: list[str]
) -> tuple[Parallel, Recipe]:
    """No column says whether a tensor-parallel run used sequence parallelism. Like the other
    settings a row leaves open, choose it as its authors would have, judged by the memory
    model and never by the outcome: a setup that fits before one that does not, less
    recompute before more (SP costs no extra communication, recompute a third of a forward),
    and plain tensor parallelism (Megatron-LM's default; SP arrived in 2022) when both do."""
    options = []
    for sp in (False, True):
        notes = list(assumed)
        p = par.model_copy(update={"sequence_parallel": sp})
        recipe = row_recipe(row, spec, p, notes)
        rank = (not _fits(spec, recipe, p, gpu), _RECOMPUTE.get(recipe.act_ckpt, 2), sp)
        options.append((rank, p, recipe, [*notes, f"sequence_parallel={str(sp).lower()}"]))
    _, p, recipe, notes = min(options, key=lambda o: o[0])
    assumed[:] = notes
    return p, recipe


def _as_measured(allocated_gib: float, kind: str, n_gpus: int) -> float:
    """Convert a predicted allocated peak to what the source measured (README: compare like
    with like): reserved adds the allocator's slack, nvidia-smi also the CUDA context."""
    d = catalog.memory_defaults()
    if kind == "reserved":
        return allocated_gib * d["reserved_factor"]
    if kind == "nvidia-smi":
        context = d["context_gib_multi_gpu" if n_gpus > 1 else "context_gib"]
        return allocated_gib * d["reserved_factor"] + context
    return allocated_gib


def _baseline(row: dict[str, str], gpu: Any, precision: str) -> float:
    """The envelope: tokens/s = peak x 40% / (6 N), N = params_total."""
    n = _int(row, "params_total") or 0
    peak = gpu.peak(usable_precision(gpu, "bf16" if precision == "fp8" else precision)) or 0.0
    return peak * 1e12 * BASELINE_EFFICIENCY / (6.0 * n) if n else float("nan")


def _evaluate(row: dict[str, str]) -> RowResult:
    rid = row.get("id") or "?"
    unreliable = (row.get("notes") or "").startswith("unreliable:")
    base: dict[str, Any] = {"id": rid, "gpu": row.get("gpu") or ""}
    try:
        base["n_gpus"] = _int(row, "n_gpus")
        base["measured_oom"] = _bool(row, "oom")
        measured_mem = _number(row, "peak_mem_gib")
        value = _number(row, "tokens_per_sec_per_gpu") or None
        pred = predict_row(row)
    except TraintimeError as exc:
        return RowResult(**base, status="skipped", reason=str(exc))
    kind = (row.get("peak_mem_kind") or "allocated").strip() or "allocated"
    memory: dict[str, Any] = {
        "predicted_fits": pred.fits,
        "predicted_peak_mem_gib": _as_measured(pred.allocated_gib, kind, base["n_gpus"] or 1),
        "measured_peak_mem_gib": measured_mem,
        "peak_mem_kind": kind if measured_mem is not None else None,
        "capacity_gib": pred.capacity_gib,
    }
    status = "unreliable" if unreliable else ("used" if value else "no-throughput")
    return RowResult(
        **base,
        **memory,
        status=status,
        reason=(row.get("notes") or "")[:120] if unreliable else "",
        predicted_tokens_per_sec_per_gpu=pred.tokens_per_sec_per_gpu,
        measured_tokens_per_sec_per_gpu=value,
        throughput_error=pred.tokens_per_sec_per_gpu / value - 1.0 if value else None,
        baseline_tokens_per_sec_per_gpu=pred.baseline if value else None,
        assumed=pred.assumed,
    )


def _summary(rows: list[RowResult]) -> Summary:
    used = [r for r in rows if r.status == "used" and r.throughput_error is not None]
    errors = [abs(r.throughput_error) for r in used if r.throughput_error is not None]
    base = [
        abs(r.baseline_tokens_per_sec_per_gpu / r.measured_tokens_per_sec_per_gpu - 1)
        for r in used
        if r.baseline_tokens_per_sec_per_gpu
        and r.measured_tokens_per_sec_per_gpu
        and not math.isnan(r.baseline_tokens_per_sec_per_gpu)
    ]
    logs = sorted(
        math.log1p(r.throughput_error)
        for r in used
        if r.throughput_error is not None and r.throughput_error > -1
    )
    reliable = [r for r in rows if r.status in ("used", "no-throughput")]
    mem = [
        abs(r.predicted_peak_mem_gib / r.measured_peak_mem_gib - 1)
        for r in reliable
        if r.measured_peak_mem_gib and r.predicted_peak_mem_gib is not None and not r.measured_oom
    ]
    oom = [
        r.predicted_fits == (not r.measured_oom)
        for r in reliable
        if r.measured_oom is not None and r.predicted_fits is not None
    ]
    return Summary(
        throughput_mdape=statistics.median(errors) if errors else None,
        throughput_within_25=sum(e <= 0.25 for e in errors) / len(errors) if errors else None,
        memory_mdape=statistics.median(mem) if mem else None,
        oom_accuracy=sum(oom) / len(oom) if oom else None,
        n_throughput=len(errors),
        n_memory=len(mem),
        n_oom=len(oom),
        n_rows=len(rows),
        n_skipped=sum(r.status == "skipped" for r in rows),
        n_unreliable=sum(r.status == "unreliable" for r in rows),
        baseline_throughput_mdape=statistics.median(base) if base else None,
        baseline_within_25=sum(e <= 0.25 for e in base) / len(base) if base else None,
        log_ratio_p10=_quantile(logs, 0.1),
        log_ratio_p90=_quantile(logs, 0.9),
    )


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    pos = q * (len(values) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def read_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise DataError(f"validation file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"validation file {str(path)!r} cannot be read: {exc}") from None
    if rows and "id" not in rows[0]:
        raise DataError(f"validation file {str(path)!r} has no 'id' column; see the schema")
    return rows


def validate(
    path: str | Path, *, progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None
) -> Report:
    """Predict every row of ``path`` and summarize the accuracy."""
    rows = read_rows(Path(path))
    iterator = progress(rows) if progress else rows
    results = [_evaluate(row) for row in iterator]
    return Report(file=str(path), rows=results, summary=_summary(results))
