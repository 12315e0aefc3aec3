"""``traintime validate``: predict published runs from their configuration columns only and
compare with what was measured (schema: shared/validation/README.md).

Columns the tool reads to predict: the architecture, sequence/numerics, batch/memory-saving
settings, hardware and parallelism. It never reads ``tokens_per_sec_per_gpu``, ``peak_mem_gib``
or ``oom`` before predicting. Settings a row leaves empty are filled with documented defaults
(listed per row under ``assumed``); a row that cannot be predicted (unknown GPU, missing
architecture or GPU count) is reported as skipped with the reason. Each row is estimated by
the same path as every other question (``estimation.estimate_question``).

Fine-tuning tables (``runs_finetune_dev.csv``) add the method, LoRA rank and targets and the
frozen base's storage (``runrows.row_finetune``); ``trainable_params`` is an observation like
the measured columns: it is compared with the model's count, never read to predict. Their rows
have their own classes (``finetune: <method>``, ...) and stay out of a pre-training summary.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from traintime import catalog
from traintime.engine import lora
from traintime.engine.device import usable_precision
from traintime.engine.evaluate import needed_gib
from traintime.engine.numerics import outside_fp8
from traintime.errors import DataError, TraintimeError
from traintime.estimation import estimate_question, with_overrides
from traintime.runrows import (
    bool_cell,
    finetune_refusal,
    int_cell,
    number_cell,
    row_question,
    schedule_unnamed,
)
from traintime.units import TFLOP

__all__ = ["Report", "RowResult", "Summary", "predict_row", "read_rows", "summarize", "validate"]

MEASURED = ("tokens_per_sec_per_gpu", "peak_mem_gib", "peak_mem_kind", "oom")
#: Columns never read to predict: the observations, and the fine-tuning table's count of
#: trainable parameters (compared with the model's own count afterwards).
NOT_INPUTS = (*MEASURED, "trainable_params")
REQUIRED = ("n_layer", "d_model", "n_head", "ffn_hidden", "vocab", "seq_len", "gpu")
#: What a row whose config column names the architecture still needs.
ARCH_FREE = ("seq_len", "gpu")
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
    predicted_low_tokens_per_sec_per_gpu: float | None = None
    measured_tokens_per_sec_per_gpu: float | None = None
    throughput_error: float | None = None
    baseline_tokens_per_sec_per_gpu: float | None = None
    predicted_peak_mem_gib: float | None = None
    measured_peak_mem_gib: float | None = None
    peak_mem_kind: str | None = None
    capacity_gib: float | None = None
    predicted_fits: bool | None = None
    measured_oom: bool | None = None
    row_class: str = "steady-state"
    code_base: str = "other"
    gpu_generation: str = "other"
    model_kind: str = "dense"
    finetune: str = ""  # the fine-tuning method; empty for a pre-training row
    trainable_params: int | None = None  # the table's count (fine-tuning rows)
    predicted_trainable_params: int | None = None  # the model's count, once it has one
    goodput: float | None = None
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
    n_trainable_checked: int = 0  # fine-tuning rows whose trainable count was compared
    n_trainable_mismatch: int = 0  # ... and differs from the table's


class Report(BaseModel):
    """``summary`` covers the steady-state pre-training rows, what the time model predicts (the
    steady-state fine-tuning rows when the tables hold nothing else); ``classes`` has the same
    figures for each class of rows: ``steady-state`` and ``whole-run`` (averages over a whole
    run, restarts and downtime included, predicted with the goodput), and by GPU generation and
    by code base. Fine-tuning rows have classes of their own, never the pre-training ones:
    ``finetune: <method>`` (full, lora, qlora), ``finetune: steady-state`` / ``whole-run``,
    ``finetune gpu: <generation>``, ``finetune code base: <name>``."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    file: str
    rows: list[RowResult]
    summary: Summary
    classes: dict[str, Summary]


class Prediction(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    tokens_per_sec_per_gpu: float
    low_tokens_per_sec_per_gpu: float
    high_tokens_per_sec_per_gpu: float
    baseline: float
    allocated_gib: float
    capacity_gib: float
    fits: bool
    goodput: float
    architecture: str
    moe: bool = False
    trainable_params: int | None = None
    assumed: list[str]


def predict_row(row: dict[str, str], *, configs: Path | None = None) -> Prediction:
    """Throughput, the constant-efficiency baseline, peak memory and the fit, from config only:
    the row as a question, through the same estimate as every other door (``configs``: the
    folder of the Hugging Face configs the ``config`` column names)."""
    safe = {k: v for k, v in row.items() if k not in NOT_INPUTS}
    refusal = finetune_refusal(safe) or _boundary(safe)
    if refusal:
        raise DataError(refusal)
    # a config file gives the architecture the columns would
    needed = ARCH_FREE if (safe.get("config") or "").strip() else REQUIRED
    missing = [k for k in needed if not (safe.get(k) or "").strip()]
    if missing:
        raise DataError(f"missing {', '.join(missing)}")
    assumed: list[str] = []
    question = row_question(safe, assumed, configs=configs)
    est = estimate_question(question)
    assumed += [
        f"{s.name}={s.value}"
        for s in est.training.settings
        if s.source in ("default", "planner")
        and s.name not in _UNREPORTED
        and (s.name != "capacity_factor" or est.training.recipe.moe_routing == "capacity")
    ]
    low = high = est.throughput.tokens_per_sec_per_gpu
    if schedule_unnamed(safe):  # plain 1F1B to the interleaving the planner picks
        plain = with_overrides(question, pp_interleave=1)
        low = min(low, estimate_question(plain).throughput.tokens_per_sec_per_gpu)
        assumed.append("pipeline schedule unnamed: plain to interleaved 1F1B")
    return Prediction(
        tokens_per_sec_per_gpu=est.throughput.tokens_per_sec_per_gpu,
        low_tokens_per_sec_per_gpu=low,
        high_tokens_per_sec_per_gpu=high,
        baseline=_baseline(
            est.model.params.active if est.model.spec.moe else int_cell(safe, "params_total"),
            est.hardware.gpu,
            est.training.recipe.precision,
        ),
        allocated_gib=est.memory.peak_gib,
        capacity_gib=est.memory.capacity_gib,
        fits=est.memory.fits,
        goodput=est.time.goodput,
        architecture=est.hardware.gpu.architecture,
        moe=est.model.spec.moe,
        trainable_params=_trainable(est) if (safe.get("finetune") or "").strip() else None,
        assumed=assumed,
    )


#: Settings whose default says nothing about the row (the horizon and the passes over the data
#: do not change speed; a pre-training row is full training; the throughput counts padding).
_UNREPORTED = {
    "tokens_per_param",
    "dropout",
    "norm_kernels",
    "offload_update",
    "finetune",
    "epochs",
    "packing",
}

_BUDGET = re.compile(r"(\d+) ?GB (?:VRAM )?budget|single (\d+) ?GB GPU")


def _boundary(row: dict[str, str]) -> str | None:
    """A VRAM-budget boundary row with no GPU (README, "Conventions of the fine-tuning table"):
    the budget is only in the notes and the schema has no column for it, so there is no card
    to predict against."""
    notes = row.get("notes") or ""
    if (row.get("gpu") or "").strip() or not notes.startswith("memory-only row: boundary"):
        return None
    budget = _BUDGET.search(notes)
    size = next((g for g in budget.groups() if g), None) if budget else None
    what = f"a {size} GB VRAM budget" if size else "a VRAM budget"
    return f"boundary row: {what} and no GPU (the budget has no column to predict against)"


def _trainable(est: Any) -> int | None:
    """The model's count of trainable parameters for a fine-tune (``engine.lora``), or None
    while the engine has none."""
    count = getattr(lora, "trainable_params", None)
    if count is None:
        return None
    recipe = est.training.recipe
    return int(
        count(
            est.model.spec,
            finetune=recipe.finetune,
            rank=recipe.lora_rank,
            targets=recipe.lora_targets,
        )
    )


def _as_measured(allocated_gib: float, kind: str, n_gpus: int) -> float:
    """Convert a predicted allocated peak to what the source measured (README: compare like
    with like): reserved adds the allocator's slack, nvidia-smi also the CUDA context (the fit
    rule's left side)."""
    policy = catalog.memory_policy()
    if kind == "reserved":
        return allocated_gib * policy.reserved_factor
    if kind == "nvidia-smi":
        return needed_gib(allocated_gib, policy, n_gpus)
    return allocated_gib


def _baseline(params: int | None, gpu: Any, precision: str) -> float:
    """The envelope: tokens/s = peak x 40% / (6 N), N = params_total (the active parameters of
    a mixture of experts, as people size MoE compute)."""
    n = params or 0
    peak = gpu.peak(usable_precision(gpu, outside_fp8(precision))) or 0.0
    return peak * TFLOP * BASELINE_EFFICIENCY / (6.0 * n) if n else float("nan")


def _evaluate(row: dict[str, str], configs: Path | None = None) -> RowResult:
    rid = row.get("id") or "?"
    unreliable = (row.get("notes") or "").startswith("unreliable:")
    method = (row.get("finetune") or "").strip()
    base: dict[str, Any] = {
        "id": rid,
        "gpu": row.get("gpu") or "",
        "finetune": method,
        "code_base": code_base(row),
    }
    try:
        base["n_gpus"] = int_cell(row, "n_gpus")
        base["trainable_params"] = int_cell(row, "trainable_params") if method else None
        base["measured_oom"] = bool_cell(row, "oom")
        measured_mem = number_cell(row, "peak_mem_gib")
        value = number_cell(row, "tokens_per_sec_per_gpu") or None
        pred = predict_row(row, configs=configs)
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
    whole = whole_run(row)
    # a whole-run average includes restarts and downtime: compare it with the expected
    # wall-clock throughput, steady state x goodput
    scale = pred.goodput if whole else 1.0
    predicted = pred.tokens_per_sec_per_gpu * scale
    low, high = pred.low_tokens_per_sec_per_gpu * scale, pred.high_tokens_per_sec_per_gpu * scale
    return RowResult(
        **base,
        **memory,
        status=status,
        reason=(row.get("notes") or "")[:120] if unreliable else "",
        predicted_tokens_per_sec_per_gpu=predicted,
        predicted_low_tokens_per_sec_per_gpu=low if low < high else None,
        measured_tokens_per_sec_per_gpu=value,
        throughput_error=_range_error(low, high, value) if value else None,
        baseline_tokens_per_sec_per_gpu=pred.baseline if value else None,
        row_class="whole-run" if whole else "steady-state",
        gpu_generation=generation(pred.architecture),
        model_kind="moe" if pred.moe else "dense",
        predicted_trainable_params=pred.trainable_params if method else None,
        goodput=pred.goodput,
        assumed=pred.assumed,
    )


_WHOLE_RUN = re.compile(r"not steady-state|whole-run|whole run")
#: Notes that say the source does not tell whole run from steady state (the fine-tuning
#: table's Qwen and torchtune rows): read as steady state, like any row that says nothing.
_UNSTATED = re.compile(
    r"whole-run vs\.? steady[- ]state not stated|steady[- ]state vs\.? whole-run not stated"
)


def whole_run(row: dict[str, str]) -> bool:
    """A throughput averaged over a whole run (GPU-hours or days for all its tokens): the
    schema's notes say so (shared/validation/README.md, "Row kinds and reliability")."""
    notes = _UNSTATED.sub("", (row.get("notes") or "").lower())
    return bool(_WHOLE_RUN.search(notes))


#: Code bases by the words their framework cells use, most specific first.
CODE_BASES = (
    ("llm-foundry / Composer", ("foundry", "composer", "mosaicml")),
    ("nanochat and forks", ("nanochat",)),
    ("llm.c", ("llm.c",)),
    ("torchtitan", ("torchtitan",)),
    ("Megatron / DeepSpeed", ("megatron", "deepspeed")),
    ("Meta internal", ("meta internal",)),
    ("Hugging Face / LitGPT / torchtune", ("hugging", "transformers", "litgpt", "torchtune")),
    ("nanoGPT-style PyTorch", ("nanogpt", "pytorch")),
)


#: The fine-tuning code bases, most specific first (an HF baseline that a README benchmarks
#: against is HF's; Qwen's finetune.py is its own recipe on the HF Trainer).
FINETUNE_CODE_BASES = (
    ("torchtune", ("torchtune",)),
    ("LitGPT", ("litgpt", "lit-gpt")),
    ("Qwen finetune.py", ("qwen finetune",)),
    ("HF Transformers + PEFT", ("peft", "transformers", "hugging", "hf ")),
    ("Unsloth", ("unsloth",)),
)


def code_base(row: dict[str, str]) -> str:
    """The code base a row ran, from its framework cell (fine-tuning rows by their own list)."""
    text = (row.get("framework") or "").lower()
    bases = FINETUNE_CODE_BASES if (row.get("finetune") or "").strip() else CODE_BASES
    return next((name for name, keys in bases if any(k in text for k in keys)), "other")


def generation(architecture: str) -> str:
    """A GPU's generation: the first word of its architecture (Hopper, Ampere, Ada ...)."""
    word = architecture.split(" ")[0] if architecture else ""
    return word or "other"


def _classes(rows: list[RowResult]) -> dict[str, Summary]:
    """The summary figures of each class of rows."""
    groups: dict[str, list[RowResult]] = {}
    for r in rows:
        if r.status == "skipped":
            continue
        keys = (
            (
                f"finetune: {r.finetune}",
                f"finetune: {r.row_class}",
                f"finetune gpu: {r.gpu_generation}",
                f"finetune code base: {r.code_base}",
            )
            if r.finetune
            else (
                r.row_class,
                f"model: {r.model_kind}",
                f"gpu: {r.gpu_generation}",
                f"code base: {r.code_base}",
            )
        )
        for key in keys:
            groups.setdefault(key, []).append(r)
    return {k: summarize(v) for k, v in sorted(groups.items())}


def _range_error(low: float, high: float, measured: float) -> float:
    """The error of a predicted range: none inside it, else against its nearer end."""
    if low <= measured <= high:
        return 0.0 if low < high else high / measured - 1.0
    return (high if measured > high else low) / measured - 1.0


def summarize(rows: list[RowResult]) -> Summary:
    """The accuracy figures over ``rows``: throughput of the used rows, memory and the fit of
    the reliable ones (the unreliable and skipped are counted, never scored)."""
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
    counted = [
        r.predicted_trainable_params == r.trainable_params
        for r in rows
        if r.predicted_trainable_params is not None and r.trainable_params is not None
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
        n_trainable_checked=len(counted),
        n_trainable_mismatch=counted.count(False),
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
    except (OSError, ValueError, csv.Error) as exc:  # ValueError: bad UTF-8, a NUL in the name
        raise DataError(f"validation file {str(path)!r} cannot be read: {exc}") from None
    if not rows:
        raise DataError(f"validation file {str(path)!r} has no rows (a header and one run per row)")
    if "id" not in rows[0]:
        raise DataError(f"validation file {str(path)!r} has no 'id' column; see the schema")
    return rows


def validate(
    *paths: str | Path, progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None
) -> Report:
    """Predict every row of the tables at ``paths`` and summarize the accuracy. A row's
    ``config`` names a Hugging Face config in the ``configs/`` folder beside its table."""
    if not paths:
        raise DataError("validate needs at least one validation file")
    tables = [(Path(p), row) for p in paths for row in read_rows(Path(p))]
    iterator = progress(tables) if progress else tables
    results = [_evaluate(row, path.parent / "configs") for path, row in iterator]
    # fine-tuning rows never move a pre-training summary: their accuracy is in their classes
    scope = [r for r in results if not r.finetune] or results
    steady = [r for r in scope if r.row_class == "steady-state"]
    return Report(
        file=", ".join(str(p) for p in paths),
        rows=results,
        summary=summarize(steady),
        classes=_classes(results),
    )
