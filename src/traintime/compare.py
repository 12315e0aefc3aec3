"""Compare training runs across models, GPUs and GPU counts: time, memory, fit, energy, money
and the plan each needs. Every setup is one estimate, through the same path as ``traintime
estimate``. Several models answer "dense or MoE at the same budget?" on the user's hardware."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from traintime import catalog
from traintime.errors import SpecError, UnknownNameError
from traintime.estimation import estimate_question, with_overrides
from traintime.planner import Candidate
from traintime.results import Estimate
from traintime.specs import GpuSpec, ModelSpec


class ComparisonRow(BaseModel):
    """One GPU setup: does the run fit, how, how long, how much energy and money."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    model: str
    params: int
    active_params: int
    model_flops_per_token: float
    gpu: str
    count: int
    label: str
    tensor_rate_sourced: bool = True
    tokens: float = 0.0
    fits: bool
    plan: str
    needed_gib: float
    capacity_gib: float
    tokens_per_sec: float | None
    days: float | None
    kwh: float | None
    cost_usd: float | None
    cost_kind: str
    rent_on_demand_usd: float | None
    own_usd: float | None
    math_changes: list[str] = []
    finetune: str = "full"


def _row(est: Estimate) -> ComparisonRow:
    hw, plan, fits = est.hardware, est.plan, est.memory.fits
    co = est.cost
    rent, own = co.rent_on_demand, co.own_total
    cost, kind = (
        (rent, "rent") if rent is not None else ((own, "own") if own is not None else (None, "-"))
    )
    method = est.training.recipe.finetune
    return ComparisonRow(
        finetune=method,
        math_changes=plan.chosen.math_changes,
        model=est.model.name,
        params=est.model.params.total,
        active_params=est.model.params.active,
        model_flops_per_token=est.model.flops_per_token.model,
        gpu=hw.gpu.name,
        tensor_rate_sourced=hw.tensor_rate_sourced,
        tokens=est.training.tokens,
        count=hw.count,
        label=f"{hw.count} x {hw.gpu.name}",
        fits=fits,
        plan=describe_short(plan.chosen) if fits else "does not fit",
        needed_gib=est.memory.needed_gib,
        capacity_gib=hw.gpu.memory_gib,
        tokens_per_sec=est.throughput.tokens_per_sec if fits else None,
        days=est.time.total_days if fits else None,
        kwh=est.energy.kwh if fits else None,
        cost_usd=cost if fits else None,
        cost_kind=kind if fits else "-",
        rent_on_demand_usd=rent if fits else None,
        own_usd=own if fits else None,
    )


def describe_short(c: Candidate) -> str:
    how = f"mb {c.micro_batch}, ckpt {c.act_ckpt}, offload {c.offload}"
    if c.offload != "none":
        how += f" ({c.offload_update})"
    if c.zero_stage:
        how += f", ZeRO {c.zero_stage}"
    if c.tp > 1 or c.pp > 1 or c.cp > 1:
        how += f", TP {c.tp} PP {c.pp}" + (f" CP {c.cp}" if c.cp > 1 else "")
    if c.ep > 1:
        how += f", EP {c.ep}"
    return how


def check_vendor(vendor: str | None) -> None:
    """A vendor filter must name a vendor of the catalog (close matches suggested)."""
    if vendor is None:
        return
    vendors = sorted({g.vendor for g in catalog.list_gpus() if g.vendor})
    if not any(vendor.strip().lower() in v.lower() for v in vendors if vendor.strip()):
        raise UnknownNameError("vendor", vendor, vendors, hint=f"(vendors: {', '.join(vendors)})")


def select_gpus(
    *,
    min_memory_gib: float | None = None,
    max_price_usd: float | None = None,
    vendor: str | None = None,
) -> list[GpuSpec]:
    """Catalog GPUs passing the filters (every device with tensor or vector rates); filters
    that no device passes are refused with the values."""
    check_vendor(vendor)
    for name, value in (("min_memory_gib", min_memory_gib), ("max_price_usd", max_price_usd)):
        if value is not None and not (value >= 0 and value != float("inf")):
            raise SpecError(f"{name}={value!r} must be a finite number >= 0")
    out = []
    for gpu in catalog.search_gpus(None, vendor=vendor, min_memory_gib=min_memory_gib):
        if max_price_usd is not None and (
            gpu.launch_price_usd is None or gpu.launch_price_usd > max_price_usd
        ):
            continue
        if gpu.peak("bf16") or gpu.peak("fp16") or gpu.peak("fp32"):
            out.append(gpu)
    if not out:
        raise SpecError(
            f"no catalog GPU passes the filters (vendor={vendor!r}, min_memory_gib="
            f"{min_memory_gib!r}, max_price_usd={max_price_usd!r}); loosen them"
        )
    return out


def _models(model: str | ModelSpec | Iterable[str | ModelSpec] | None) -> list[Any]:
    """One model or several: a list, or names separated by commas."""
    if model is None or isinstance(model, ModelSpec):
        return [model]
    if isinstance(model, str):
        return [m.strip() for m in model.split(",") if m.strip()] or [None]
    return list(model) or [None]


def _methods(finetune: str | Iterable[str] | None) -> list[str | None]:
    """One fine-tuning method or several (a list, or names separated by commas): an axis of
    the comparison like the models."""
    if finetune is None:
        return [None]
    if isinstance(finetune, str):
        return [f.strip() for f in finetune.split(",") if f.strip()] or [None]
    return list(finetune) or [None]


def compare(
    model: str | ModelSpec | Iterable[str | ModelSpec] | None = None,
    gpus: Iterable[str] = (),
    *,
    counts: Iterable[int] = (1,),
    all_gpus: bool = False,
    min_memory_gib: float | None = None,
    max_price_usd: float | None = None,
    vendor: str | None = None,
    sort: str = "time",
    progress: Callable[[list[Any]], Iterable[Any]] | None = None,
    scenario: str | Path | None = None,
    **overrides: Any,
) -> list[ComparisonRow]:
    """Estimate one question for each model x GPU x count and return rows sorted by time or
    cost.

    The question is ``scenario`` (a file; None: the founding question) with ``overrides``
    (every key of ``estimation.with_overrides``: training settings, ``allow_math_changes``,
    ``economics``, ...); ``model`` is one model or several (a list, or names separated by
    commas), each asked the same question; so is ``finetune`` (``"qlora,lora"``). Each setup
    goes through the same estimate as ``traintime estimate``, planner included."""
    if sort not in ("time", "cost"):
        raise SpecError(f"sort={sort!r} is not allowed; allowed: time, cost")
    base = catalog.load_scenario(Path(scenario) if scenario is not None else None)
    methods = _methods(overrides.pop("finetune", None))
    bases = [
        with_overrides(base, model=m, finetune=f, **overrides)
        for m in _models(model)
        for f in methods
    ]
    counts = list(counts)
    if all_gpus:
        if min_memory_gib is None:
            min_memory_gib = 8.0
        devices = select_gpus(
            min_memory_gib=min_memory_gib, max_price_usd=max_price_usd, vendor=vendor
        )
    else:
        devices = [catalog.find_gpu(name) for name in gpus]
        if not devices:
            raise SpecError("give --gpu NAME[,NAME...] or --all")
    setups = [(q, gpu, count) for q in bases for count in counts for gpu in devices]
    rows = [
        _row(estimate_question(with_overrides(q, gpu=gpu, gpus=count)))
        for q, gpu, count in (progress(setups) if progress else setups)
    ]
    key = (
        (lambda r: (r.days is None, r.days or 0.0))
        if sort == "time"
        else (lambda r: (r.cost_usd is None, r.cost_usd or 0.0))
    )
    return sorted(rows, key=key)
