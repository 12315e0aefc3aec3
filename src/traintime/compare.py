"""Compare one training run across GPUs and GPU counts: time, energy, money and the plan each
needs. ``compare(...)`` plans every setup with the full planner; ``all_gpus=True`` runs the
founding question's search over the whole catalog (fast path: planner.search_many)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from traintime import catalog
from traintime.errors import SpecError
from traintime.estimation import estimate, plan_on_many
from traintime.results import Estimate
from traintime.specs import GpuSpec


class ComparisonRow(BaseModel):
    """One GPU setup: does the run fit, how, how long, how much energy and money."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    gpu: str
    count: int
    label: str
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


def _row(est: Estimate, fits: bool) -> ComparisonRow:
    hw, plan = est.hardware, est.plan
    pick = plan.chosen if plan else None
    if pick is not None:
        how = (
            f"mb {pick.micro_batch}, ckpt {pick.act_ckpt}, offload {pick.offload}"
            + (f", ZeRO {pick.zero_stage}" if pick.zero_stage else "")
            + (f", TP {pick.tp} PP {pick.pp}" if pick.tp > 1 or pick.pp > 1 else "")
        )
    else:
        how = "does not fit"
    co = est.cost
    rent = co.rent_on_demand if co else None
    own = co.own_total if co else None
    cost, kind = (
        (rent, "rent") if rent is not None else ((own, "own") if own is not None else (None, "-"))
    )
    days = est.time.total_days if est.time and fits else None
    changes = [n for n in est.training.notes if n.startswith("changed the training math")]
    return ComparisonRow(
        math_changes=changes,
        gpu=hw.gpu.name,
        count=hw.count,
        label=f"{hw.count} x {hw.gpu.name}",
        fits=fits,
        plan=how,
        needed_gib=est.memory.needed_gib if est.memory else float("nan"),
        capacity_gib=hw.gpu.memory_gib,
        tokens_per_sec=est.throughput.tokens_per_sec if est.throughput and fits else None,
        days=days,
        kwh=est.energy.kwh if est.energy and fits else None,
        cost_usd=cost if fits else None,
        cost_kind=kind if fits else "-",
        rent_on_demand_usd=rent if fits else None,
        own_usd=own if fits else None,
    )


def select_gpus(
    *,
    min_memory_gib: float | None = None,
    max_price_usd: float | None = None,
    vendor: str | None = None,
) -> list[GpuSpec]:
    """Catalog GPUs passing the filters (every device with tensor or vector rates)."""
    out = []
    for gpu in catalog.search_gpus(None, vendor=vendor, min_memory_gib=min_memory_gib):
        if max_price_usd is not None and (
            gpu.launch_price_usd is None or gpu.launch_price_usd > max_price_usd
        ):
            continue
        if gpu.peak("bf16") or gpu.peak("fp16") or gpu.peak("fp32"):
            out.append(gpu)
    return out


def compare(
    model: str = "nanochat-d32",
    gpus: Iterable[str] = (),
    *,
    counts: Iterable[int] = (1,),
    all_gpus: bool = False,
    min_memory_gib: float | None = None,
    max_price_usd: float | None = None,
    vendor: str | None = None,
    sort: str = "time",
    progress: Callable[[list[Any]], Iterable[Any]] | None = None,
    allow_math_changes: bool = False,
    **overrides: Any,
) -> list[ComparisonRow]:
    """Plan ``model`` on each GPU x count and return rows sorted by time or cost
    (``allow_math_changes``: round a global batch that does not split over a count)."""
    if sort not in ("time", "cost"):
        raise SpecError(f"sort={sort!r} is not allowed; allowed: time, cost")
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
    rows: list[ComparisonRow] = []
    for count in counts:
        rows += _compare_count(
            model,
            devices,
            count,
            all_gpus=all_gpus,
            progress=progress,
            overrides={**overrides, "allow_math_changes": allow_math_changes},
        )
    key = (
        (lambda r: (r.days is None, r.days or 0.0))
        if sort == "time"
        else (lambda r: (r.cost_usd is None, r.cost_usd or 0.0))
    )
    return sorted(rows, key=key)


def _compare_count(
    model: str,
    devices: list[GpuSpec],
    count: int,
    *,
    all_gpus: bool,
    progress: Callable[[list[Any]], Iterable[Any]] | None,
    overrides: dict[str, Any],
) -> list[ComparisonRow]:
    if not all_gpus:
        out = []
        for gpu in progress(devices) if progress else devices:
            est = estimate(model, gpu, gpus=count, plan=True, **overrides)
            out.append(_row(est, est.plan is not None and est.plan.chosen is not None))
        return out
    planned = plan_on_many(model, devices, count=count, **overrides)
    out = []
    for gpu, cand, _ in progress(planned) if progress else planned:
        if cand is None:
            est = estimate(model, gpu, gpus=count, act_ckpt="full", micro_batch=1, **overrides)
            out.append(_row(est, False))
            continue
        est = estimate(
            model,
            gpu,
            gpus=count,
            micro_batch=cand.micro_batch,
            act_ckpt=cand.act_ckpt,
            offload=cand.offload,
            zero_stage=cand.zero_stage,
            tp=cand.tp,
            pp=cand.pp,
            **overrides,
        )
        out.append(
            _row(est, True).model_copy(
                update={
                    "plan": (f"mb {cand.micro_batch}, ckpt {cand.act_ckpt}, offload {cand.offload}")
                }
            )
        )
    return out
