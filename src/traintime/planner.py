"""The planner: the fastest way to make a run fit, and what every alternative costs.

It searches micro-batch (1..per-GPU share, keeping the global batch through gradient
accumulation), activation checkpointing, CPU offload, ZeRO stage / FSDP and, on several GPUs,
tensor and pipeline parallelism; with ``allow_math_changes`` also 8-bit optimizer states. Each
candidate is timed by the step model and sized by the memory model; the fastest that fits wins,
and every alternative is reported with its peak memory and its slowdown against the fastest step
ignoring memory. The search is staged: offload and model parallelism are only tried when nothing
fits without them (they never make a step faster).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict

from traintime.engine.device import Device
from traintime.engine.memory import GIB, Memory, peak_memory
from traintime.engine.step import Recipe, memory_inputs, offload_layout, step_time
from traintime.specs import Efficiency, GpuSpec, Links, ModelSpec, Parallel

CKPTS = ("none", "selective", "full")


class Candidate(BaseModel):
    """One configuration the planner tried."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    micro_batch: int
    act_ckpt: str
    offload: str
    zero_stage: int
    tp: int
    pp: int
    optimizer_state_dtype: str | None
    step_time_s: float
    peak_gib: float
    needed_gib: float
    fits: bool
    host_gib: float
    slowdown: float
    changes_math: bool
    changes: list[str]


class Plan(BaseModel):
    """The chosen configuration, ranked alternatives, and advice when nothing fits."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    chosen: Candidate | None
    fastest_unconstrained: Candidate
    alternatives: list[Candidate]
    nearest: Candidate
    capacity_gib: float
    searched: int
    allow_math_changes: bool
    advice: list[str]


@dataclass(frozen=True)
class Problem:
    """Everything fixed while the planner searches."""

    spec: ModelSpec
    recipe: Recipe
    gpu: GpuSpec
    n_gpus: int
    links: Links
    eff: Efficiency
    base: Parallel
    usable_gib: float
    reserved_factor: float
    context_gib: float
    user_micro: int | None
    user_ckpt: str | None
    user_offload: str | None
    user_zero: int | None


def micro_batches(spec: ModelSpec, recipe: Recipe, dp: int) -> list[int]:
    """Powers of two that divide one GPU's share of the global batch (largest 64)."""
    share = recipe.global_batch_tokens // (spec.seq_len * dp)
    return [m for m in (1 << i for i in range(7)) if m <= max(share, 1) and share % m == 0] or [1]


def _layouts(p: Problem) -> Iterable[tuple[Parallel, bool]]:
    """(layout, uses model parallelism) in the order they are tried."""
    zeros = (
        [p.user_zero] if p.user_zero is not None else ([0, 1, 2, 3] if p.base.replicas > 1 else [0])
    )
    for zero in zeros:
        yield p.base.model_copy(update={"zero_stage": zero}), False
    if p.n_gpus > 1 and p.base.tp == 1 and p.base.pp == 1 and p.base.cp == 1:
        per_node = p.links.gpus_per_node
        for tp in (2, 4, 8):
            if tp <= min(p.n_gpus, per_node) and p.n_gpus % tp == 0 and p.spec.n_head % tp == 0:
                yield (
                    Parallel(
                        dp=p.n_gpus // tp,
                        tp=tp,
                        zero_stage=1 if p.n_gpus > tp else 0,
                        sequence_parallel=p.base.sequence_parallel,
                    ),
                    True,
                )
        for pp in (2, 4, 8):
            if p.n_gpus % pp == 0 and p.spec.n_layer >= pp:
                yield Parallel(dp=p.n_gpus // pp, pp=pp, zero_stage=1 if p.n_gpus > pp else 0), True


def recipe_for(recipe: Recipe, offload: str, state_dtype: str | None) -> Recipe:
    """``recipe`` as a candidate runs it: offload's tensor layout, and 8-bit (or bf16) states."""
    if offload != "none":
        recipe = offload_layout(recipe)
    if state_dtype is not None:
        optimizer = "adamw8bit" if recipe.optimizer == "adamw" else recipe.optimizer
        recipe = replace(recipe, state_dtype=state_dtype, optimizer=optimizer)
    return recipe


def _evaluate(
    p: Problem, par: Parallel, micro: int, ckpt: str, offload: str, state_dtype: str | None
) -> tuple[float, Memory, Recipe]:
    recipe = replace(recipe_for(p.recipe, offload, state_dtype), micro_batch=micro, act_ckpt=ckpt)
    par = par.model_copy(update={"offload": offload})  # validated Literal below
    mem = peak_memory(p.spec, memory_inputs(recipe), par, offload=offload)
    st = step_time(p.spec, recipe, par, Device(p.gpu, p.eff), p.links, p.eff)
    return st.step_time_s, mem, recipe


def _changes(p: Problem, c: Candidate) -> list[str]:
    out = []
    if p.user_micro is not None and c.micro_batch != p.user_micro:
        out.append(f"micro-batch {p.user_micro} -> {c.micro_batch}")
    if c.act_ckpt != (p.user_ckpt or "none"):
        out.append(f"activation checkpointing {c.act_ckpt}")
    if c.offload != "none":
        out.append(f"offload {c.offload} to CPU")
    if c.zero_stage != p.base.zero_stage:
        out.append(f"ZeRO stage {c.zero_stage}")
    if c.tp > 1 or c.pp > 1:
        out.append(f"tensor parallel {c.tp}, pipeline parallel {c.pp}")
    if c.optimizer_state_dtype:
        out.append(f"{c.optimizer_state_dtype} optimizer states (changes the training math)")
    return out


def _candidates(p: Problem, *, stage: int, allow_math: bool) -> list[Candidate]:
    """Every configuration of this stage, timed and sized (slowdown and changes filled later)."""
    rows: list[Candidate] = []
    offloads = ["none"] if stage == 1 else ["optimizer", "optimizer+params"]
    if p.user_offload is not None:
        offloads = [p.user_offload]
    states = [None] + (["int8" if p.recipe.optimizer == "adamw" else "bf16"] if allow_math else [])
    for par, model_parallel in _layouts(p):
        if model_parallel and stage == 1:
            continue
        micros = [p.user_micro] if p.user_micro else micro_batches(p.spec, p.recipe, par.dp)
        ckpts = [p.user_ckpt] if p.user_ckpt else list(CKPTS)
        for offload, state, ckpt, micro in itertools.product(offloads, states, ckpts, micros):
            t, mem, _ = _evaluate(p, par, micro, ckpt, offload, state)
            peak = mem.total / GIB
            needed = peak * p.reserved_factor + p.context_gib
            rows.append(
                Candidate(
                    micro_batch=micro,
                    act_ckpt=ckpt,
                    offload=offload,
                    zero_stage=par.zero_stage,
                    tp=par.tp,
                    pp=par.pp,
                    optimizer_state_dtype=state,
                    step_time_s=t,
                    peak_gib=peak,
                    needed_gib=needed,
                    fits=needed <= p.usable_gib,
                    host_gib=mem.host / GIB,
                    slowdown=float("nan"),
                    changes_math=state is not None,
                    changes=[],
                )
            )
    return rows


def search(p: Problem, *, allow_math_changes: bool = False, top: int = 8) -> Plan:
    """Stage 1 (no offload, no model parallelism); stage 2 only when nothing fits."""
    rows = _candidates(p, stage=1, allow_math=False)
    if not any(r.fits for r in rows):
        rows += _candidates(p, stage=2, allow_math=False)
    if allow_math_changes and not any(r.fits for r in rows):
        rows += _candidates(p, stage=1, allow_math=True) + _candidates(p, stage=2, allow_math=True)
    fastest = min(r.step_time_s for r in rows)
    cands = [
        r.model_copy(update={"slowdown": r.step_time_s / fastest, "changes": _changes(p, r)})
        for r in rows
    ]
    fitting = sorted((c for c in cands if c.fits), key=lambda c: c.step_time_s)
    unconstrained = min(cands, key=lambda c: c.step_time_s)
    nearest = min(cands, key=lambda c: (c.needed_gib, c.step_time_s))
    chosen = fitting[0] if fitting else None
    alternatives = _alternatives(fitting, cands, top)
    advice = [] if chosen else _advice(p, nearest, allow_math_changes)
    return Plan(
        chosen=chosen,
        fastest_unconstrained=unconstrained,
        alternatives=alternatives,
        nearest=nearest,
        capacity_gib=p.usable_gib,
        searched=len(cands),
        allow_math_changes=allow_math_changes,
        advice=advice,
    )


def _alternatives(fitting: list[Candidate], cands: list[Candidate], top: int) -> list[Candidate]:
    """The best fitting configuration of each distinct kind (checkpointing x offload x layout),
    then the fastest that do not fit, so the table shows what each change costs."""
    seen, out = set(), []
    for c in fitting + sorted((c for c in cands if not c.fits), key=lambda c: c.step_time_s):
        key = (c.act_ckpt, c.offload, c.zero_stage, c.tp, c.pp, c.optimizer_state_dtype, c.fits)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out[:top]


def _advice(p: Problem, nearest: Candidate, allowed: bool) -> list[str]:
    need = nearest.needed_gib
    how = ", ".join(nearest.changes) or "as given"
    out = [
        f"needs {need:.1f} GiB with the leanest configuration ({how}); this GPU has "
        f"{p.usable_gib:g} GiB: fits a GPU with at least {math.ceil(need)} GiB"
    ]
    for n in (2, 4, 8, 16, 32, 64):
        par = Parallel(dp=n, zero_stage=3)
        lean = replace(p.recipe, micro_batch=1, act_ckpt="full")
        mem = peak_memory(p.spec, memory_inputs(lean), par)
        if mem.total / GIB * p.reserved_factor + p.context_gib <= p.usable_gib:
            out.append(
                f"or {n} of these GPUs with ZeRO-3 / FSDP (micro-batch 1, full checkpointing)"
            )
            break
    if not allowed:
        out.append(
            "or allow changes to the training math (8-bit optimizer states): --allow-math-changes"
        )
    return out


def search_many(
    p: Problem, gpus: list[GpuSpec], links: Callable[[GpuSpec], Links]
) -> list[tuple[GpuSpec, Candidate | None, float]]:
    """The plan for one scenario on many GPUs, fast enough for the whole catalog.

    Memory does not depend on the GPU, so every candidate is sized once; the candidates are
    ranked once by step time on ``p.gpu`` (their order -- larger micro-batches, less
    recomputation, no offload first -- barely depends on the device), and each GPU gets the
    first candidate in that order that fits its memory, timed on that GPU. Returns
    (gpu, candidate or None when nothing fits, GiB the leanest candidate needs).
    """
    rows = _candidates(p, stage=1, allow_math=False) + _candidates(p, stage=2, allow_math=False)
    order = sorted(rows, key=lambda r: r.step_time_s)
    leanest = min(r.needed_gib for r in rows)
    out: list[tuple[GpuSpec, Candidate | None, float]] = []
    for gpu in gpus:
        pick = next((r for r in order if r.needed_gib <= gpu.memory_gib), None)
        if pick is None:
            out.append((gpu, None, leanest))
            continue
        q = replace(p, gpu=gpu, links=links(gpu), usable_gib=gpu.memory_gib)
        par = p.base.model_copy(
            update={
                "dp": p.n_gpus // (pick.tp * pick.pp * p.base.cp),
                "tp": pick.tp,
                "pp": pick.pp,
                "zero_stage": pick.zero_stage,
            }
        )
        t, _, _ = _evaluate(
            q, par, pick.micro_batch, pick.act_ckpt, pick.offload, pick.optimizer_state_dtype
        )
        cand = pick.model_copy(
            update={"changes": _changes(q, pick), "step_time_s": t, "fits": True}
        )
        out.append((gpu, cand, leanest))
    return out
