"""The planner: the fastest setup that fits, over a declared search space, and what every
alternative costs.

**Search space.** For each setting in ``specs.PLANNED`` the user did not set:

* micro-batch: every divisor of one data-parallel rank's share of the global batch (in
  sequences);
* activation checkpointing: ``none``, ``selective``, ``selective-op``, ``full``;
* offload: ``none``; and only when no setup without offload fits, ``optimizer`` and
  ``optimizer+params``, with the update on the CPU or, for optimizers whose update is matrix
  math (Muon), on the GPU from streamed state (offload needs support in the training code, so
  it is a last resort, not a speed-up);
* ZeRO stage 0-3 when weights are replicated over more than one GPU (never ZeRO-3 with a
  pipeline it chose: only torchtitan combines FSDP with pipeline parallelism, which a user may
  set);
* tensor parallelism: divisors of the GPUs per node that divide the attention heads (and the
  KV heads, or are a multiple of them: KV heads are then replicated);
* pipeline parallelism: divisors of the GPU count up to the layer count, each with every
  interleaving ``v`` (model chunks per stage) that divides the stage's layers, when the
  micro-steps are a multiple of the stages (Megatron-LM's condition for interleaving);
* context parallelism: divisors of the remaining GPUs that split the sequence into ``2 cp``
  load-balanced chunks of at least one attention tile;
* expert parallelism (mixture-of-experts models): divisors of the expert count that divide a
  pipeline stage's ``tp x cp x dp`` GPUs (Megatron-Core's parallel folding carves the expert
  layout out of them), with expert tensor parallelism 1 unless the user sets it;
* with ``allow_math_changes`` only: a global batch that does not split over the data-parallel
  GPUs is replaced by the nearest that do, on both sides; and when nothing fits otherwise,
  8-bit optimizer states (16-bit for Muon) and, for a mixture of experts whose routing the
  user left unset, dropping the tokens past each expert's capacity (factor 1.0, padded), which
  removes the dropless imbalance from memory and time.

**Objective.** Among setups that fit, the shortest total time (steps x step time, so rounded
batches compare fairly), then the least recompute, then the least memory; 8-bit states only
when nothing else fits. It is exact over the space: every candidate is sized, and every one
that could win is timed. A candidate is skipped only when it provably cannot win: a setup that
differs from it only by recomputing less already fits (checkpointing never makes a step
faster), or its lower bound (``engine.step.pass_lower_bound``: the passes alone) is above the
best time found. The tests check both properties and brute-force small spaces.

When the user's own settings do not fit, the estimate describes them (its time is "if memory
were unlimited") and the plan adds the nearest setup that fits: the fewest of the user's
settings changed, then the objective above.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict

from traintime.engine.evaluate import Sizing, size, time
from traintime.engine.lora import METHOD_NAMES, ordered_targets
from traintime.engine.step import StepTime, pass_lower_bound
from traintime.errors import SpecError
from traintime.resolve import Option, Resolved
from traintime.specs import Layout
from traintime.units import GIB

CKPTS = ("none", "selective", "selective-op", "full")
#: How much each checkpointing mode recomputes, for ties.
RECOMPUTE = {"none": 0, "selective": 1, "selective-op": 1, "full": 2}
#: Checkpointing modes that recompute no more than each mode (``none`` <= both selectives <=
#: ``full`` in time): if one of them fits, the mode cannot win.
_LIGHTER = {
    "none": (),
    "selective": ("none",),
    "selective-op": ("none",),
    "full": ("none", "selective", "selective-op"),
}
_LABELS = {
    "micro_batch": "micro-batch",
    "act_ckpt": "activation checkpointing",
    "offload": "offload",
    "offload_update": "offloaded update on",
    "zero_stage": "ZeRO stage",
    "tp": "tensor parallel",
    "pp": "pipeline parallel",
    "cp": "context parallel",
    "pp_interleave": "pipeline chunks per stage",
    "ep": "expert parallel",
    "etp": "expert tensor parallel",
}


class Candidate(BaseModel):
    """One setup the planner sized (and timed)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    micro_batch: int
    act_ckpt: str
    offload: str
    offload_update: str
    zero_stage: int
    tp: int
    pp: int
    cp: int
    pp_interleave: int
    ep: int
    etp: int
    global_batch_tokens: int
    optimizer: str
    optimizer_state_dtype: str
    eight_bit_states: bool
    drops_tokens: bool
    finetune: str | None = None  # a lighter fine-tuning method switched to; None: as asked
    step_time_s: float
    total_hours: float
    peak_gib: float
    needed_gib: float
    fits: bool
    host_gib: float
    slowdown: float
    math_changes: list[str]
    changed: list[str]

    @property
    def changes_math(self) -> bool:
        return bool(self.math_changes)


class Plan(BaseModel):
    """What the estimate describes (``chosen``), whether it fits, the nearest setup that fits
    when it does not, the alternatives, and what the planner chose."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    chosen: Candidate
    fits: bool
    nearest_fit: Candidate | None
    fastest_unconstrained: Candidate
    alternatives: list[Candidate]
    capacity_gib: float
    searched: int
    allow_math_changes: bool
    chose: list[str]
    advice: list[str]


@dataclass
class _Row:
    """A candidate during the search: its option, sizing and (once timed) step time."""

    option: Option
    sizing: Sizing
    math: tuple[str, ...]
    changed: tuple[str, ...]
    step: StepTime | None = None
    steps: int = 0
    bound: float | None = None

    def key(self, *, time: float | None = None) -> tuple[Any, ...]:
        """The objective: the user's settings changed, the math changes of the last stage (8-bit
        states, dropped tokens), total time
        (to 9 significant digits, so rounding noise decides nothing), less recompute, less
        memory."""
        total = self.total_s if time is None else time
        return (
            len(self.changed),
            int(self.option.eight_bit)
            + int(self.option.drop_tokens)
            + int(self.option.finetune is not None),
            float(f"{total:.9g}"),
            RECOMPUTE[self.option.act_ckpt],
            self.sizing.needed_gib,
        )

    @property
    def fits(self) -> bool:
        return self.sizing.fits

    @property
    def total_s(self) -> float:
        assert self.step is not None
        return self.steps * self.step.step_time_s


def divisors(n: int) -> list[int]:
    """The divisors of ``n``, ascending (trial division up to its square root)."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]


def _tps(r: Resolved) -> list[int]:
    spec, per_node = r.spec, r.machine.links.gpus_per_node
    kv = spec.kv_heads
    return [
        t
        for t in divisors(min(per_node, r.hardware.count))
        if spec.n_head % t == 0 and (kv % t == 0 or t % kv == 0)
    ]


def _cps(r: Resolved, rest: int) -> list[int]:
    seq, tile = r.spec.seq_len, r.machine.device.eff.attention_tile
    return [c for c in divisors(rest) if c == 1 or (seq % (2 * c) == 0 and seq // (2 * c) >= tile)]


def _eps(r: Resolved, pins: dict[str, Any], per_stage: int) -> list[tuple[int, int]]:
    """(ep, etp) for a pipeline stage of ``per_stage`` GPUs: every split of the experts whose
    expert layout fits in the stage."""
    spec = r.spec
    if not spec.moe:
        return [(1, 1)]
    etps = [pins["etp"]] if "etp" in pins else [1]
    eps = [pins["ep"]] if "ep" in pins else divisors(spec.n_experts)
    return [(e, t) for e in eps for t in etps if per_stage % (e * t) == 0]


def _layouts(r: Resolved, pins: dict[str, Any]) -> list[tuple[int, int, int, int, int, int]]:
    """(tp, pp, cp, v, ep, etp) in the search space."""
    n, layers = r.hardware.count, r.spec.n_layer
    out = []
    for tp in [pins["tp"]] if "tp" in pins else _tps(r):
        pps = [pins["pp"]] if "pp" in pins else [p for p in divisors(n // tp) if p <= layers]
        for pp in pps:
            if n % (tp * pp) or (pp == 1 and pins.get("pp_interleave", 1) > 1):
                continue
            cps = [pins["cp"]] if "cp" in pins else _cps(r, n // (tp * pp))
            for cp in cps:
                if n % (tp * pp * cp):
                    continue
                per_stage = -(-layers // pp)
                if "pp_interleave" in pins:
                    vs = [pins["pp_interleave"]]
                else:
                    vs = [v for v in divisors(per_stage) if pp > 1 and layers % (pp * v) == 0]
                for v, (ep, etp) in itertools.product(vs or [1], _eps(r, pins, n // pp)):
                    out.append((tp, pp, cp, v, ep, etp))
    return out


def _batches(
    r: Resolved, dp: int, micro: int | None, allow: bool
) -> list[tuple[int, tuple[str, ...]]]:
    """Global batches for ``dp`` data-parallel ranks (of a given ``micro``-batch), each with the
    math changes it makes."""
    batch, seq = r.value("global_batch_tokens"), r.spec.seq_len
    unit = seq * dp * (micro or 1)
    if batch % unit == 0:
        return [(batch, ())]
    below, above = batch // unit * unit, (batch // unit + 1) * unit
    if not r.batch_is_math:  # a default batch is rounded (and the estimate says so)
        return [(below if below and batch - below <= above - batch else above, ())]
    if not allow:
        return []
    what = f"{seq:,} x {dp}" + (f" x micro-batch {micro}" if micro else "")
    return [
        (
            b,
            (
                f"global batch {batch:,} -> {b:,} tokens (a multiple of seq_len x data-parallel "
                f"GPUs{' x micro-batch' if micro else ''} = {what})",
            ),
        )
        for b in (below, above)
        if b > 0
    ]


def _math_options(r: Resolved, math: bool) -> list[tuple[bool, bool, str | None]]:
    """(8-bit states, drop tokens, lighter fine-tuning method) of a stage: none, or the math
    stage's changes."""
    if not math:
        return [(False, False, None)]
    droppable = r.spec.moe and r.settings["moe_routing"].source not in ("given", "recipe")
    base = [(True, False), (False, True), (True, True)] if droppable else [(True, False)]
    out: list[tuple[bool, bool, str | None]] = [(e, d, None) for e, d in base]
    for method in r.lighter_methods():
        out += [(False, False, method), (True, False, method)]
    return out


def _method_change(r: Resolved, method: str) -> str:
    """The math change a lighter fine-tuning method is, worded."""
    recipe = r.recipe(
        Option(
            micro_batch=1, act_ckpt="none", offload="none", offload_update="cpu", zero_stage=0,
            tp=1, pp=1, cp=1, pp_interleave=1, global_batch_tokens=r.value(
                "global_batch_tokens"), finetune=method,
        )
    )  # fmt: skip
    targets = ", ".join(ordered_targets(recipe.lora_targets))
    return (
        f"{METHOD_NAMES[method]} instead of {METHOD_NAMES[r.value('finetune')]} (rank "
        f"{recipe.lora_rank} on {targets}, base {recipe.base_dtype})"
    )


def _options(r: Resolved, *, allow_math: bool, eight_bit: bool, free: bool, offload: bool):
    """Every option of the space (``offload``: the offload stage), with its math changes;
    ``free``: the user's pins relaxed too."""
    pins = {} if free else r.pins
    opt = r.optimizer
    n = r.hardware.count
    if "offload" in pins:
        offloads = [pins["offload"]] if (pins["offload"] != "none") == offload else []
    else:
        offloads = ["optimizer", "optimizer+params"] if offload else ["none"]
    for tp, pp, cp, v, ep, etp in _layouts(r, pins):
        dp = n // (tp * pp * cp)
        replicas = dp * cp
        if "zero_stage" in pins:
            zeros = [pins["zero_stage"]]
        else:
            zeros = [z for z in (0, 1, 2, 3) if replicas > 1 or z == 0]
        if pp > 1 and "pp" not in pins:  # the planner pairs no ZeRO-3 with a pipeline it chose
            zeros = [z for z in zeros if z != 3]
        for batch, math_changes in _batches(r, dp, pins.get("micro_batch"), allow_math):
            share = batch // (r.spec.seq_len * dp)
            micros = [pins["micro_batch"]] if "micro_batch" in pins else divisors(share)
            ckpts = [pins["act_ckpt"]] if "act_ckpt" in pins else list(CKPTS)
            for zero, offload in itertools.product(zeros, offloads):
                if offload == "none":
                    updates = ["cpu"]  # nothing offloaded: the update runs on the GPU anyway
                elif "offload_update" in pins:
                    updates = [pins["offload_update"]]
                else:
                    updates = ["cpu", "gpu"] if opt.matrix_update != "none" else ["cpu"]
                for update, micro, ckpt, (eight, drop, method) in itertools.product(
                    updates, micros, ckpts, _math_options(r, eight_bit)
                ):
                    if v > 1 and (share // micro) % pp:
                        continue  # the interleaved schedule needs micro-steps in multiples of pp
                    extra = ("8-bit optimizer states",) if eight else ()
                    if drop:
                        extra += ("tokens past each expert's capacity (factor 1.0) dropped",)
                    if method:
                        extra += (_method_change(r, method),)
                    yield (
                        Option(
                            micro_batch=micro,
                            act_ckpt=ckpt,
                            offload=offload,
                            offload_update=update,
                            zero_stage=zero,
                            tp=tp,
                            pp=pp,
                            cp=cp,
                            pp_interleave=v,
                            ep=ep,
                            etp=etp,
                            global_batch_tokens=batch,
                            eight_bit=eight,
                            drop_tokens=drop,
                            finetune=method,
                        ),
                        math_changes + extra,
                    )


def _changed(r: Resolved, o: Option) -> tuple[str, ...]:
    """The user's settings this option changes, worded."""
    out = []
    for name, value in r.pins.items():
        mine = getattr(o, name)
        if mine != value:
            out.append(f"{_LABELS[name]} {value} -> {mine}")
    return tuple(out)


def _size_all(r: Resolved, options) -> list[_Row]:
    rows = []
    for option, math_changes in options:
        recipe, layout = r.recipe(option), r.layout(option)
        rows.append(
            _Row(
                option=option,
                sizing=size(r.spec, recipe, layout, r.machine),
                math=math_changes,
                changed=_changed(r, option),
            )
        )
    return rows


def _time(r: Resolved, row: _Row) -> _Row:
    if row.step is None:
        recipe, layout = r.recipe(row.option), r.layout(row.option)
        row.step = time(r.spec, recipe, layout, r.machine)
        row.steps = int(r.tokens // row.option.global_batch_tokens)
    return row


def _bound(r: Resolved, row: _Row) -> float:
    """A lower bound of the row's total time (kept on the row): the passes of its group's
    setup without checkpointing, which recomputes nothing."""
    if row.bound is None:
        key = ("bound", _group(row.option))
        if key not in r.memo:
            o = replace(row.option, act_ckpt="none")
            steps = int(r.tokens // o.global_batch_tokens)
            r.memo[key] = steps * pass_lower_bound(
                r.spec, r.recipe(o), r.layout(o), r.machine.device, r.machine.links
            )
        row.bound = r.memo[key]
    return row.bound


def _group(o: Option) -> tuple[Any, ...]:
    """An option without its checkpointing mode: the candidates that differ only by it."""
    return (
        o.micro_batch,
        o.offload,
        o.offload_update,
        o.zero_stage,
        o.tp,
        o.pp,
        o.cp,
        o.pp_interleave,
        o.ep,
        o.etp,
        o.global_batch_tokens,
        o.eight_bit,
        o.drop_tokens,
        o.finetune,
    )


def _undominated(rows: list[_Row]) -> list[_Row]:
    """Fitting rows with no lighter checkpointing mode that fits in their group."""
    fitting = {(_group(x.option), x.option.act_ckpt) for x in rows if x.fits}
    return [
        x
        for x in rows
        if x.fits and not any((_group(x.option), m) in fitting for m in _LIGHTER[x.option.act_ckpt])
    ]


def _fastest(r: Resolved, rows: list[_Row], key: Any) -> _Row | None:
    """The row with the smallest ``key(row, time=...)``, timing rows in order of their lower
    bound (the key with the total time replaced by ``_bound``) until no untimed row can beat
    the best. Exact, because the bound is never above the time."""
    best: _Row | None = None
    bounded = sorted(((key(x, time=_bound(r, x)), i) for i, x in enumerate(rows)))
    for bound, i in bounded:
        if best is not None and bound > key(best):
            break
        row = _time(r, rows[i])
        if best is None or key(row) < key(best):
            best = row
    return best


def _candidate(r: Resolved, row: _Row, fastest_s: float) -> Candidate:
    _time(r, row)
    recipe = r.recipe(row.option)
    o = row.option
    assert row.step is not None
    return Candidate(
        micro_batch=o.micro_batch,
        act_ckpt=o.act_ckpt,
        offload=o.offload,
        offload_update=o.offload_update,
        zero_stage=o.zero_stage,
        tp=o.tp,
        pp=o.pp,
        cp=o.cp,
        pp_interleave=o.pp_interleave,
        ep=o.ep,
        etp=o.etp,
        global_batch_tokens=o.global_batch_tokens,
        optimizer=recipe.optimizer.name,
        optimizer_state_dtype=recipe.state_dtype,
        eight_bit_states=o.eight_bit,
        drops_tokens=o.drop_tokens,
        finetune=o.finetune,
        step_time_s=row.step.step_time_s,
        total_hours=row.total_s / 3600.0,
        peak_gib=row.sizing.peak_gib,
        needed_gib=row.sizing.needed_gib,
        fits=row.fits,
        host_gib=row.sizing.memory.host / GIB,
        slowdown=row.total_s / fastest_s if fastest_s else 1.0,
        math_changes=list(row.math),
        changed=list(row.changed),
    )


def _search(r: Resolved, *, free: bool) -> list[_Row]:
    """Size the space in stages: without offload, then (only if nothing fits) with offload,
    then (only if still nothing fits and allowed) with 8-bit optimizer states."""
    allow = r.question.allow_math_changes
    rows: list[_Row] = []
    for eight_bit, offload in ((False, False), (False, True), (True, False), (True, True)):
        if eight_bit and not allow:
            break
        options = _options(r, allow_math=allow, eight_bit=eight_bit, free=free, offload=offload)
        rows += _size_all(r, options)
        if any(x.fits for x in rows):
            break
    return rows


def _no_layout_error(r: Resolved) -> SpecError:
    """Nothing in the space can split the global batch: name the values and the nearest
    batches that would split (for the layout the user's degrees leave, all data-parallel)."""
    batch, seq, n = r.value("global_batch_tokens"), r.spec.seq_len, r.hardware.count
    pins = r.pins
    dp = n // (pins.get("tp", 1) * pins.get("pp", 1) * pins.get("cp", 1))
    micro = pins.get("micro_batch")
    if micro is not None and batch % (seq * dp) == 0:
        unit = micro * seq * dp
        return SpecError(
            f"micro_batch={micro} cannot divide the global batch: global_batch_tokens={batch} "
            f"is not a multiple of micro_batch x seq_len x data-parallel GPUs = {micro} x {seq} "
            f"x {dp} = {unit}"
        )
    unit = seq * dp * (micro or 1)
    below, above = batch // unit * unit, (batch // unit + 1) * unit
    options = f"{below} or {above}" if below else f"{above}"
    what = f"seq_len x data-parallel GPUs = {seq} x {dp}" + (f" x {micro}" if micro else "")
    return SpecError(
        f"global_batch_tokens={batch} does not split over {dp} data-parallel GPU(s): it must be "
        f"a multiple of {what} = {unit}; use {options}, or --allow-math-changes to round it"
    )


def _row_key(row: _Row, *, time: float | None = None) -> tuple[Any, ...]:
    return row.key(time=time)


def plan(r: Resolved, *, top: int = 8) -> Plan:
    """Search the space of ``r`` for the fastest setup that fits."""
    rows = _search(r, free=False)
    if not rows:
        raise _no_layout_error(r)
    chosen = _fastest(r, _undominated(rows), _row_key)
    unlimited = [x for x in rows if x.option.act_ckpt == "none"] or rows
    fastest = _fastest(r, unlimited, lambda x, time=None: x.key(time=time)[1:3])
    assert fastest is not None
    nearest = None
    if chosen is None:
        leanest = min(x.sizing.needed_gib for x in rows)
        lean = [x for x in rows if x.sizing.needed_gib <= leanest * (1 + 1e-9)]
        chosen = min((_time(r, x) for x in lean), key=lambda x: x.key())
        if r.pins:
            nearest = _fastest(r, _undominated(_search(r, free=True)), _row_key)
    base = fastest.total_s
    return Plan(
        chosen=_candidate(r, chosen, base),
        fits=chosen.fits,
        nearest_fit=_candidate(r, nearest, base) if nearest is not None else None,
        fastest_unconstrained=_candidate(r, fastest, base),
        alternatives=[_candidate(r, x, base) for x in _alternatives(r, rows, chosen, top)],
        capacity_gib=r.hardware.gpu.memory_gib,
        searched=len(rows),
        allow_math_changes=r.question.allow_math_changes,
        chose=_chose(r, chosen),
        advice=[] if chosen.fits else _advice(r, chosen),
    )


def _kind(row: _Row) -> tuple[Any, ...]:
    """What kind of setup a row is: its memory measures and its layout (any context
    parallelism counts as one kind)."""
    o = row.option
    return (
        o.act_ckpt,
        o.offload,
        o.offload_update,
        o.zero_stage,
        o.tp,
        o.pp,
        o.cp > 1,
        o.ep,
        o.eight_bit,
        o.drop_tokens,
        o.finetune,
    )


def _alternatives(r: Resolved, rows: list[_Row], chosen: _Row, top: int) -> list[_Row]:
    """The chosen setup and the best fitting setup of each other kind (checkpointing x offload x
    ZeRO x layout), best kinds first, then the fastest setups timed that do not fit: what each
    change costs."""
    kinds: dict[tuple[Any, ...], list[_Row]] = {}
    for x in _undominated(rows):
        kinds.setdefault(_kind(x), []).append(x)
    kinds.pop(_kind(chosen), None)
    order = sorted(kinds, key=lambda k: min(_row_key(x, time=_bound(r, x)) for x in kinds[k]))
    out = [chosen] if chosen.fits else []
    for kind in order[: max(0, top - 3)]:  # room for the chosen and two that do not fit
        best = _fastest(r, kinds[kind], _row_key)
        if best is not None:
            out.append(best)
    out.sort(key=_row_key)
    misses = sorted((x for x in rows if not x.fits and x.step is not None), key=lambda x: x.total_s)
    seen = {_kind(x) for x in out}
    for x in misses:
        if len(out) >= top:
            break
        if _kind(x) not in seen:
            seen.add(_kind(x))
            out.append(x)
    return out


def _chose(r: Resolved, row: _Row) -> list[str]:
    """The settings the planner chose (those the user left unset), worded."""
    o, pins = row.option, r.pins
    out = []
    if "micro_batch" not in pins:
        out.append(f"micro-batch {o.micro_batch}")
    if "act_ckpt" not in pins:
        out.append(f"activation checkpointing {o.act_ckpt}")
    if "offload" not in pins or ("offload_update" not in pins and o.offload != "none"):
        where = f" (update on the {o.offload_update.upper()})" if o.offload != "none" else ""
        out.append(f"offload {o.offload}{where}")
    if "zero_stage" not in pins and r.hardware.count > 1:
        out.append(f"ZeRO stage {o.zero_stage}")
    free = [k for k in ("tp", "pp", "cp", "pp_interleave") if k not in pins]
    if free and r.hardware.count > 1:
        chunks = f", {o.pp_interleave} chunks per stage" if o.pp_interleave > 1 else ""
        out.append(f"layout TP {o.tp} x PP {o.pp} x CP {o.cp}{chunks}")
    if r.spec.moe and r.hardware.count > 1 and not {"ep", "etp"} <= set(pins):
        out.append(f"expert parallel EP {o.ep}" + (f" x ETP {o.etp}" if o.etp > 1 else ""))
    return out


def _fused_loss_fit(r: Resolved, row: _Row) -> float | None:
    """The memory the leanest setup needs with a fused loss kernel, when the loss is not fused
    already, the user did not pin it, and that alone makes it fit (None otherwise): the same
    training math, other code."""
    if r.settings["loss_impl"].source == "given" or r.value("loss_impl") == "fused":
        return None
    recipe = replace(r.recipe(row.option), loss_impl="fused")
    sizing = size(r.spec, recipe, r.layout(row.option), r.machine)
    return sizing.needed_gib if sizing.fits else None


def _advice(r: Resolved, row: _Row) -> list[str]:
    need = row.sizing.needed_gib
    gpu = r.hardware.gpu
    out = [
        f"needs {need:.1f} GiB with the leanest setup; a {gpu.name} has {gpu.memory_gib:g} GiB: "
        f"fits a GPU with at least {math.ceil(need)} GiB"
    ]
    lean = replace(
        row.option,
        micro_batch=1,
        act_ckpt="full",
        offload="none",
        tp=1,
        pp=1,
        cp=1,
        pp_interleave=1,
        ep=1,
        etp=1,
    )
    for n in (2, 4, 8, 16, 32, 64, 128, 256):
        if n <= r.hardware.count:
            continue
        layout = Layout(dp=n, zero_stage=3)
        recipe = r.recipe(replace(lean, zero_stage=3))
        if size(r.spec, recipe, layout, replace(r.machine, n_gpus=n)).fits:
            out.append(
                f"or {n} of these GPUs with ZeRO-3 / FSDP (micro-batch 1, full checkpointing)"
            )
            break
    fused = _fused_loss_fit(r, row)
    if fused is not None:
        out.append(
            f"or a fused cross-entropy kernel that never holds the logits in fp32 (llm.c, "
            f"FlashAttention's Triton loss; Liger's and Unsloth's chunked losses need less): "
            f"needs {fused:.1f} GiB: --loss fused"
        )
    if not r.question.allow_math_changes:
        what = (
            "8-bit optimizer states"
            + (", dropping tokens past each expert's capacity" if r.spec.moe else "")
            + "".join(f", {METHOD_NAMES[m]}" for m in r.lighter_methods())
        )
        out.append(f"or allow changes to the training math ({what}): --allow-math-changes")
    return out
