"""One optimizer step on the busiest GPU: micro-steps, pipeline bubble, communication, the
optimizer, offload and host overhead, composed into a step time with a breakdown.

* Gradient accumulation: ``m = global_batch / (micro_batch x seq_len x dp)`` micro-steps per
  step; the optimizer and data-parallel gradient communication run once per step.
* Pipeline (1F1B, Narayanan et al. 2021): the step takes ``(m + (pp-1)/v)`` micro-step times of
  the busiest stage; the ``(pp-1)/v`` part is the bubble.
* Tensor parallel (Megatron, Shoeybi et al. 2019): two all-reduces of the block's activations
  forward and two backward per layer (two more forward when recomputing), not overlapped.
* Context parallel (ring attention, Liu et al. 2023): K and V gathered forward and backward and
  dK, dV reduce-scattered, behind each layer's attention.
* Data parallel: DDP (ZeRO-0) and ZeRO-2 reduce gradients in buckets during the last backward,
  so only the part longer than that backward is exposed (never less than one layer's bucket),
  plus the slowdown of the compute it overlaps (Lee et al. 2025: 18.9% on average);
  ZeRO-1 optimizers that shard work by owner (nanochat's DistMuon/DistAdamW, DeepSpeed stage 1)
  reduce-scatter and all-gather in the optimizer step, exposed; ZeRO-3/FSDP all-gathers weights
  forward and backward and reduce-scatters gradients every micro-step, prefetched behind compute
  (with the same slowdown).
* Offload (ZeRO-Offload, Ren et al. 2021): gradients to host and weights back over PCIe, Adam on
  the CPU at host-memory bandwidth; the two overlap each other but not the GPU step.
* Host overhead: every kernel costs CPU time to launch; when the host needs longer than the GPU,
  the difference is exposed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from traintime.engine.comms import collective_time
from traintime.engine.device import Device
from traintime.engine.memory import MemoryInputs
from traintime.engine.ops import DTYPE_BYTES, MicroStep, Op, microstep_ops
from traintime.engine.optimizer import adam_like_time, muon_matrices, muon_time
from traintime.engine.params import count_params
from traintime.specs import Efficiency, Links, ModelSpec, Parallel

CATEGORIES = ("matmul", "attention", "memory", "optimizer", "communication", "offload", "overhead")

#: PyTorch DDP's default gradient bucket (``bucket_cap_mb=25``, torch.nn.parallel docs).
DDP_BUCKET_BYTES = 25 * 2**20


@dataclass(frozen=True, slots=True)
class Recipe:
    """The training settings the time model needs (resolved, no defaults left open)."""

    global_batch_tokens: int
    micro_batch: int
    precision: str = "bf16"
    optimizer: str = "adamw"
    param_dtype: str = "fp32"
    grad_dtype: str = "fp32"
    state_dtype: str | None = None  # None: like each parameter (torch.zeros_like)
    embedding_dtype: str = "fp32"
    master_dtype: str | None = None
    act_ckpt: str = "none"
    attention_impl: str = "flash"
    compiled: bool = False
    norm_kernels: str = "fused"  # eager RMSNorm / rotary: fused kernels or chains of tensor ops
    dropout: float = 0.0


@dataclass(frozen=True)
class StepTime:
    """A step's time on the busiest GPU, by category, and what it executed."""

    step_time_s: float
    breakdown_s: dict[str, float]
    micro_steps: int
    executed_flops: float
    tokens: int
    notes: list[str] = field(default_factory=list)


def memory_inputs(recipe: Recipe) -> MemoryInputs:
    """The memory model's view of a recipe."""
    return MemoryInputs(
        micro_batch=recipe.micro_batch,
        precision=recipe.precision,
        optimizer=recipe.optimizer,
        param_dtype=recipe.param_dtype,
        grad_dtype=recipe.grad_dtype,
        embedding_dtype=recipe.embedding_dtype,
        master_dtype=recipe.master_dtype,
        state_dtype=recipe.state_dtype,
        act_ckpt=recipe.act_ckpt,
        attention_impl=recipe.attention_impl,
        compiled=recipe.compiled,
        dropout=recipe.dropout,
    )


def offload_layout(recipe: Recipe) -> Recipe:
    """ZeRO-Offload's tensors: 16-bit weights and gradients stay on the GPU, the fp32 master
    weights live with the optimizer on the host (Ren et al. 2021, section 4)."""
    c = "fp32" if recipe.precision in ("fp32", "tf32") else "bf16"
    return replace(recipe, param_dtype=c, grad_dtype=c, embedding_dtype=c, master_dtype="fp32")


def default_micro_batch(seq_len: int, *, dp: int, pp: int, global_batch_tokens: int | None) -> int:
    """A micro-batch when none is given: 1 under pipeline parallelism (Megatron's convention),
    else about 16K tokens (a power of two of sequences), no more than one GPU's share of the
    batch. The planner replaces this with the largest micro-batch that fits."""
    if pp > 1:
        return 1
    target = 1 << max(0, (max(1, 16384 // seq_len)).bit_length() - 1)
    if global_batch_tokens is not None:
        share = max(1, global_batch_tokens // (seq_len * dp))
        while target > 1 and (target > share or share % target):
            target //= 2
    return target


def _sum(ops: list[Op], category: str) -> float:
    return sum(op.seconds for op in ops if op.category == category)


def _tp_comm(spec: ModelSpec, ms: MicroStep, par: Parallel, links: Links, eff: Efficiency) -> float:
    if par.tp <= 1:
        return 0.0
    per = ms.act_bytes * ms.tokens * spec.d_model
    count = 4 + (2 if ms.act_ckpt == "full" else 0)
    one = collective_time(
        per,
        par.tp,
        kind="all_reduce",
        links=links,
        eff=eff,
        spans_nodes=par.tp > links.gpus_per_node,
    )
    return count * ms.layers * one


def _cp_comm(
    spec: ModelSpec, ms: MicroStep, par: Parallel, links: Links, eff: Efficiency, attention: float
) -> float:
    """Exposed context-parallel traffic of one micro-step. Each layer gathers the other ranks'
    K and V forward and again backward, and reduce-scatters dK and dV: three transfers of
    ``(cp-1)`` local K/V chunks (ring attention, Liu et al. 2023; torchtitan's all-gather CP),
    run behind that layer's attention (``attention`` is all layers' attention time): exposed
    is the overhang plus the slowdown of the attention it overlaps."""
    if par.cp <= 1:
        return 0.0
    kv = 2 * ms.tokens * max(1, spec.kv_heads // ms.tp) * spec.hd * ms.act_bytes
    one = collective_time(
        kv * par.cp,
        par.cp,
        kind="all_gather",
        links=links,
        eff=eff,
        spans_nodes=par.cp * par.tp > links.gpus_per_node,
        per_node=links.gpus_per_node // par.tp,
    )
    comm, behind = 3 * one * ms.layers, attention
    return max(comm - behind, 0.0) + eff.overlap_compute_slowdown * min(comm, behind)


def _pp_comm(spec: ModelSpec, ms: MicroStep, par: Parallel, links: Links) -> float:
    if par.pp <= 1:
        return 0.0
    nbytes = ms.act_bytes * ms.tokens * spec.d_model / par.tp
    bw = links.inter_gbs or links.intra_gbs
    return 2 * (nbytes / (bw * 1e9) + links.inter_step_us * 1e-6)


def _dp_comm(
    params: float,
    recipe: Recipe,
    par: Parallel,
    links: Links,
    eff: Efficiency,
    *,
    t_micro: float,
    layers: int,
    micro_steps: int,
) -> float:
    """Exposed data-parallel communication per step."""
    n = par.replicas
    if n <= 1:
        return 0.0
    spans = n * par.tp > links.gpus_per_node
    g = DTYPE_BYTES.get(recipe.grad_dtype, 4.0)
    p = DTYPE_BYTES.get(recipe.param_dtype, 4.0)
    c = 4.0 if recipe.precision in ("fp32", "tf32") else 2.0

    def coll(nbytes: float, kind: str) -> float:
        return collective_time(
            nbytes,
            n,
            kind=kind,
            links=links,
            eff=eff,
            spans_nodes=spans,
            per_node=links.gpus_per_node // par.tp,
        )

    def behind(comm: float, compute: float) -> float:
        """Exposed part of ``comm`` run behind ``compute``: the overhang (never less than one
        layer's share), plus the slowdown of the compute it overlaps (SM and bandwidth
        contention, ``overlap_compute_slowdown``, Lee et al. 2025)."""
        overhang = max(comm - compute, comm / max(layers, 1))
        return overhang + eff.overlap_compute_slowdown * min(comm, compute)

    backward = 2.0 / 3.0 * t_micro
    if par.zero_stage == 0:  # DDP reduces gradients in buckets of 25 MB (bucket_cap_mb)
        buckets = max(1, math.ceil(params * g / DDP_BUCKET_BYTES))
        return behind(buckets * coll(params * g / buckets, "all_reduce"), backward)
    if par.zero_stage == 1:
        return coll(params * g, "reduce_scatter") + coll(params * p, "all_gather")
    if par.zero_stage == 2:
        rs = coll(params * g, "reduce_scatter")
        return behind(rs, backward) + coll(params * p, "all_gather")
    # FSDP wraps each block: one all-gather forward, one backward and one reduce-scatter per
    # block, each paying the collective's latency
    unit = params / max(layers, 1)
    per_micro = layers * (2 * coll(unit * c, "all_gather") + coll(unit * g, "reduce_scatter"))
    return micro_steps * behind(per_micro, t_micro)


def _optimizer(
    spec: ModelSpec, recipe: Recipe, par: Parallel, dev: Device, *, params: float, layers: int
) -> list[Op]:
    shards = par.replicas if par.zero_stage >= 1 else 1
    common: dict[str, Any] = {
        "param_dtype": recipe.master_dtype or recipe.param_dtype,
        "grad_dtype": recipe.grad_dtype,
        "state_dtype": recipe.state_dtype,
        "dev": dev,
    }
    if recipe.optimizer != "muon":
        return [adam_like_time(params / shards, optimizer=recipe.optimizer, **common)]
    matrix_params = sum(m * n * c for m, n, c in muon_matrices(spec, par.tp, layers))
    muon = muon_time(
        spec,
        tp=par.tp,
        layers=layers,
        shards=shards,
        grad_dtype=recipe.grad_dtype,
        param_dtype=recipe.param_dtype,
        dev=dev,
    )
    rest = max(params - matrix_params, 0.0) / shards
    return [muon, adam_like_time(rest, optimizer="adamw", **common)]


def _offload(
    spec: ModelSpec,
    recipe: Recipe,
    par: Parallel,
    links: Links,
    eff: Efficiency,
    *,
    params: float,
    layers: int,
    t_micro: float,
    micro_steps: int,
) -> float:
    if par.offload == "none":
        return 0.0
    shards = par.replicas if par.zero_stage >= 1 else 1
    local = params / shards
    c = 4.0 if recipe.precision in ("fp32", "tf32") else 2.0
    transfer = local * (c + c) / (links.host_gbs * 1e9)  # 16-bit gradients down, weights up
    cpu = local * eff.cpu_adam_bytes_per_param / (eff.host_memory_bw_gbs * 1e9)
    if recipe.optimizer == "muon":  # Newton-Schulz on the host
        ns = sum(
            c_ * 5 * (4.0 * min(m, n) ** 2 * max(m, n) + 2.0 * min(m, n) ** 3)
            for m, n, c_ in muon_matrices(spec, par.tp, layers)
        )
        cpu += ns / shards / (eff.cpu_matmul_tflops * 1e12)
    exposed = max(transfer, cpu)
    if par.offload == "optimizer+params":
        fetch = 2 * params * c / (links.host_gbs * 1e9)  # weights in for forward and backward
        exposed += micro_steps * max(fetch - t_micro, fetch * 0.1)
    return exposed


def step_time(
    spec: ModelSpec, recipe: Recipe, par: Parallel, dev: Device, links: Links, eff: Efficiency
) -> StepTime:
    """The step time of ``recipe`` on ``par`` with this device and these links."""
    notes: list[str] = []
    per_pass = recipe.micro_batch * spec.seq_len * par.dp
    micro_steps = max(1, round(recipe.global_batch_tokens / per_pass))
    layers = math.ceil(spec.n_layer / par.pp)
    counts = count_params(spec)
    params = counts.total / (par.tp * par.pp)
    lookups = counts.lookup / (par.tp * par.pp)
    fp8 = recipe.precision == "fp8"
    ms = MicroStep(
        micro_batch=recipe.micro_batch,
        seq_len=spec.seq_len,
        layers=layers,
        tp=par.tp,
        cp=par.cp,
        sequence_parallel=par.sequence_parallel,
        precision="bf16" if fp8 else recipe.precision,
        param_dtype=recipe.param_dtype,
        grad_dtype=recipe.grad_dtype,
        compiled=recipe.compiled,
        composite_ops=recipe.norm_kernels == "composite" and not recipe.compiled,
        dropout=recipe.dropout,
        attention_impl=recipe.attention_impl,
        act_ckpt=recipe.act_ckpt,
        accum_steps=micro_steps,
        params_local=params,
        lookup_params_local=lookups,
        embedding_dtype=recipe.embedding_dtype,
    )
    ops = microstep_ops(spec, ms, dev, fp8=fp8)
    t_ops = sum(op.seconds for op in ops)
    t_comm_micro = (
        _tp_comm(spec, ms, par, links, eff)
        + _pp_comm(spec, ms, par, links)
        + _cp_comm(spec, ms, par, links, eff, attention=_sum(ops, "attention"))
    )
    t_micro = t_ops + t_comm_micro
    bubble = (par.pp - 1) / par.pp_interleave * t_micro if par.pp > 1 else 0.0
    dp = _dp_comm(
        params, recipe, par, links, eff, t_micro=t_micro, layers=layers, micro_steps=micro_steps
    )
    opt = _optimizer(spec, recipe, par, dev, params=params, layers=layers)
    offload = _offload(
        spec,
        recipe,
        par,
        links,
        eff,
        params=params,
        layers=layers,
        t_micro=t_micro,
        micro_steps=micro_steps,
    )
    if par.offload != "none":
        opt = []  # the optimizer runs on the host: its time is in `offload`
    breakdown = {c: micro_steps * _sum(ops, c) for c in ("matmul", "attention", "memory")}
    breakdown["optimizer"] = sum(op.seconds for op in opt)
    breakdown["communication"] = micro_steps * t_comm_micro + dp
    breakdown["offload"] = offload
    # Host launch time, per phase: the forward/backward micro-steps (compiled or eager) and the
    # optimizer, which runs outside torch.compile's graph and launches its kernels eagerly.
    per_kernel = (eff.cpu_compiled_us if recipe.compiled else eff.cpu_eager_us) * 1e-6
    host_micro = micro_steps * sum(op.kernels for op in ops) * per_kernel
    gpu_micro = sum(breakdown[c] for c in ("matmul", "attention", "memory")) + bubble
    host_opt = sum(op.kernels for op in opt) * eff.cpu_eager_us * 1e-6
    waiting = max(host_micro - gpu_micro, 0.0) + max(host_opt - breakdown["optimizer"], 0.0)
    if host_micro > gpu_micro:
        notes.append("host-bound: launching kernels takes longer than running them")
    breakdown["overhead"] = bubble + waiting
    executed = micro_steps * sum(op.flops for op in ops) + sum(op.flops for op in opt)
    return StepTime(
        step_time_s=sum(breakdown.values()),
        breakdown_s=breakdown,
        micro_steps=micro_steps,
        executed_flops=executed,
        tokens=recipe.global_batch_tokens,
        notes=notes,
    )
