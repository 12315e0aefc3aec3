"""One optimizer step on the busiest GPU: micro-steps, pipeline bubble, communication, the
optimizer, offload and host overhead, composed into a step time with a breakdown.

* Gradient accumulation: ``m = global_batch / (micro_batch x seq_len x dp)`` micro-steps per
  step; the optimizer and data-parallel gradient communication run once per step.
* Pipeline (1F1B, Narayanan et al. 2021): the step takes ``(m + (pp-1)/v)`` micro-step times of
  the busiest stage; the ``(pp-1)/v`` part is the bubble. The interleaved schedule's ``v`` model
  chunks per stage send activations across ``v`` times as many stage boundaries (section 2.2.2).
* Tensor parallel (Megatron, Shoeybi et al. 2019): two all-reduces of the block's activations
  forward and two backward per layer (two more forward when recomputing), not overlapped.
* Context parallel (ring attention, Liu et al. 2023): K and V gathered forward and backward and
  dK, dV reduce-scattered, behind each layer's attention.
* Expert parallel (mixture of experts): dispatch and combine all-to-alls per MoE layer,
  forward and backward (``engine/moe.py``), exposed unless overlapped with another
  micro-batch; expert gradients reduce over the experts' own replicas.
* Data parallel: DDP (ZeRO-0) and ZeRO-2 reduce gradients in buckets during the last backward,
  so only the part longer than that backward is exposed (never less than one layer's bucket),
  plus the slowdown of the compute it overlaps (Lee et al. 2025: 18.9% on average);
  ZeRO-1 optimizers that shard work by owner (nanochat's DistMuon/DistAdamW, DeepSpeed stage 1)
  reduce-scatter and all-gather in the optimizer step, exposed; ZeRO-3/FSDP all-gathers weights
  forward and backward and reduce-scatters gradients every micro-step, prefetched behind compute
  (with the same slowdown).
* Offload (ZeRO-Offload, Ren et al. 2021): with the update on the CPU, gradients go to the host
  and weights come back over PCIe while the CPU runs the update at host-memory bandwidth (and
  Muon's Newton-Schulz at its matmul rate); the two overlap each other but not the GPU step.
  With the update on the GPU, each layer's optimizer state and master weights stream in and
  back out over PCIe (full duplex) while the GPU updates the layer before: exposed is the
  longer of the stream and the update, plus one layer's transfer to fill the pipeline.
* Host overhead: every kernel costs CPU time to launch; when the host needs longer than the GPU,
  the difference is exposed.
* A LoRA or QLoRA fine-tune updates and reduces only the adapters (their gradients in their own
  dtype); ZeRO-3 still gathers the frozen weights, in their storage format, forward and
  backward. A paged optimizer's state (bitsandbytes) lives in host RAM (``engine.memory``):
  each step pages it in and back out over the host link, full duplex, not overlapped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from traintime.engine.comms import collective_time, expert_exchange_time
from traintime.engine.device import Device
from traintime.engine.lora import adapter_dtype, lora, quantized, quantized_weights
from traintime.engine.memory import adapters_local, frozen_weight_bytes, optimizer_state_bytes
from traintime.engine.moe import routing
from traintime.engine.numerics import compute_bytes, dtype_bytes
from traintime.engine.ops import Misaligned, Op, Stage, microstep_ops, misaligned, pass_seconds
from traintime.engine.optimizer import (
    matrix_params,
    muon_matrices,
    muon_time,
    newton_schulz_flops,
    update_time,
)
from traintime.engine.params import count_params
from traintime.specs import Efficiency, Layout, Links, ModelSpec, Recipe
from traintime.units import GB, TFLOP, US

CATEGORIES = ("matmul", "attention", "memory", "optimizer", "communication", "offload", "overhead")

#: PyTorch DDP's default gradient bucket (``bucket_cap_mb=25``, torch.nn.parallel docs).
DDP_BUCKET_BYTES = 25 * 2**20


@dataclass(frozen=True)
class StepTime:
    """A step's time on the busiest GPU, by category, and what it executed. ``host_bound``: the
    host needs longer to launch the micro-steps' kernels than the GPU to run them;
    ``misaligned``: GEMM widths that run at the unaligned rate."""

    step_time_s: float
    breakdown_s: dict[str, float]
    micro_steps: int
    executed_flops: float
    tokens: int
    host_bound: bool = False
    misaligned: list[Misaligned] = field(default_factory=list)


def stage_of(spec: ModelSpec, recipe: Recipe, layout: Layout) -> Stage:
    """The busiest GPU's share of a micro-step under this recipe and layout."""
    per_pass = recipe.micro_batch * spec.seq_len * layout.dp
    counts = count_params(spec)
    experts = counts.experts / (layout.pp * layout.ep * layout.etp)
    trainable, quantized_local = None, 0.0
    if lora(recipe):
        trainable = sum(adapters_local(spec, recipe, layout))
        if quantized(recipe):
            dense_q, expert_q = quantized_weights(spec)
            quantized_local = dense_q / (layout.tp * layout.pp) + expert_q / (
                layout.pp * layout.ep * layout.etp
            )
    return Stage(
        recipe=recipe,
        layout=layout,
        seq_len=spec.seq_len,
        layers=math.ceil(spec.n_layer / layout.pp),
        accum_steps=max(1, round(recipe.global_batch_tokens / per_pass)),
        params_local=(counts.total - counts.experts) / (layout.tp * layout.pp) + experts,
        lookup_params_local=counts.lookup / (layout.tp * layout.pp),
        expert_params_local=experts,
        trainable_local=trainable,
        quantized_local=quantized_local,
    )


def stage_experts(spec: ModelSpec, layout: Layout) -> float:
    """Routed-expert parameters on one GPU."""
    return count_params(spec).experts / (layout.pp * layout.ep * layout.etp)


def pass_lower_bound(
    spec: ModelSpec,
    recipe: Recipe,
    layout: Layout,
    dev: Device,
    links: Links | None = None,
) -> float:
    """A lower bound of :func:`step_time`: the micro-steps' forward and backward passes alone,
    and (given ``links``) an expert exchange that nothing overlaps. Every other term of a step
    (weight traffic, communication, the bubble, the optimizer, offload, host waiting) is never
    negative, so no step is faster; the planner uses it to skip candidates that cannot win."""
    ms = stage_of(spec, recipe, layout)
    bound = pass_seconds(spec, ms, dev)
    if links is not None and not recipe.moe_overlap:
        bound += _ep_comm(spec, ms, links, dev.eff, compute=0.0)
    return ms.accum_steps * bound


def _sum(ops: list[Op], category: str) -> float:
    return sum(op.seconds for op in ops if op.category == category)


def _tp_comm(spec: ModelSpec, ms: Stage, links: Links, eff: Efficiency) -> float:
    tp = ms.layout.tp
    if tp <= 1:
        return 0.0
    per = ms.act_bytes * ms.tokens * spec.d_model
    count = 4 + (2 if ms.recipe.act_ckpt == "full" else 0)
    one = collective_time(
        per, tp, kind="all_reduce", links=links, eff=eff, spans_nodes=tp > links.gpus_per_node
    )
    return count * ms.layers * one


def _cp_comm(spec: ModelSpec, ms: Stage, links: Links, eff: Efficiency, attention: float) -> float:
    """Exposed context-parallel traffic of one micro-step. Each layer gathers the other ranks'
    K and V forward and again backward, and reduce-scatters dK and dV: three transfers of
    ``(cp-1)`` local K/V chunks (ring attention, Liu et al. 2023; torchtitan's all-gather CP),
    run behind that layer's attention (``attention`` is all layers' attention time): exposed
    is the overhang plus the slowdown of the attention it overlaps."""
    cp, tp = ms.layout.cp, ms.layout.tp
    if cp <= 1:
        return 0.0
    kv = 2 * ms.tokens * max(1, spec.kv_heads // tp) * spec.hd * ms.act_bytes
    one = collective_time(
        kv * cp,
        cp,
        kind="all_gather",
        links=links,
        eff=eff,
        spans_nodes=cp * tp > links.gpus_per_node,
        per_node=links.gpus_per_node // tp,
    )
    comm, behind = 3 * one * ms.layers, attention
    return max(comm - behind, 0.0) + eff.overlap_compute_slowdown * min(comm, behind)


def _ep_comm(spec: ModelSpec, ms: Stage, links: Links, eff: Efficiency, compute: float) -> float:
    """Exposed expert-parallel traffic of one micro-step: each MoE layer of the stage
    dispatches and combines forward, and again (as combine and dispatch of the gradients)
    backward; full recomputation dispatches and combines once more. The busiest rank
    receives its load's share. Overlapped with another micro-batch's compute
    (``moe_overlap``: Megatron's EP A2A overlap, DeepSeek's DualPipe), exposed is the
    overhang plus the slowdown of the compute it overlaps."""
    layout, r = ms.layout, ms.recipe
    if not spec.moe or layout.ep <= 1:
        return 0.0
    moe_layers = sum(spec.moe_layer_flags()[spec.n_layer - ms.layers :])
    rt = routing(
        spec, tokens=ms.tokens, tp=layout.tp, ep=layout.ep, etp=layout.etp, load=r.expert_load
    )
    one = expert_exchange_time(
        rt.tokens,
        top_k=spec.top_k,
        token_bytes=spec.d_model * ms.act_bytes,
        load=r.expert_load,
        ep=layout.ep,
        dispatcher=r.moe_dispatcher,
        links=links,
        eff=eff,
        per_node=max(1, links.gpus_per_node // layout.etp),
    )
    transfers = 4 + (2 if r.act_ckpt == "full" else 0)
    comm = transfers * moe_layers * one
    if not r.moe_overlap:
        return comm
    return max(comm - compute, 0.0) + eff.overlap_compute_slowdown * min(comm, compute)


def _pp_comm(spec: ModelSpec, ms: Stage, links: Links) -> float:
    """Activations sent forward and gradients back across each of the stage's ``v`` chunk
    boundaries per micro-step."""
    layout = ms.layout
    if layout.pp <= 1:
        return 0.0
    nbytes = ms.act_bytes * ms.tokens * spec.d_model / layout.tp
    bw = links.inter_gbs or links.intra_gbs
    return 2 * layout.pp_interleave * (nbytes / (bw * GB) + links.inter_step_us * US)


def _dp_comm(
    params: float,
    recipe: Recipe,
    layout: Layout,
    links: Links,
    eff: Efficiency,
    *,
    t_micro: float,
    layers: int,
    micro_steps: int,
    replicas: int | None = None,
    per_node: int | None = None,
    update_bytes: float | None = None,
    gathered_bytes: float | None = None,
) -> float:
    """Exposed data-parallel communication per step, over ``replicas`` ranks (default: the
    data- and context-parallel replicas; experts pass their own). ``params`` have gradients;
    ``update_bytes`` is each one's size when all-gathered after a sharded update (default: the
    parameter dtype's), ``gathered_bytes`` what ZeRO-3 gathers per pass (default: ``params``
    in the compute dtype; a frozen base adds its frozen weights)."""
    n = layout.replicas if replicas is None else replicas
    if n <= 1 or (params <= 0 and not gathered_bytes):
        return 0.0
    spans = layout.replicas * layout.tp > links.gpus_per_node
    in_node = per_node if per_node is not None else links.gpus_per_node // layout.tp
    g, p = dtype_bytes(recipe.grad_dtype), dtype_bytes(recipe.param_dtype)
    p = p if update_bytes is None else update_bytes
    c = compute_bytes(recipe.precision)
    gathered = params * c if gathered_bytes is None else gathered_bytes

    def coll(nbytes: float, kind: str) -> float:
        return collective_time(
            nbytes,
            n,
            kind=kind,
            links=links,
            eff=eff,
            spans_nodes=spans,
            per_node=in_node,
        )

    def behind(comm: float, compute: float) -> float:
        """Exposed part of ``comm`` run behind ``compute``: the overhang (never less than one
        layer's share), plus the slowdown of the compute it overlaps (SM and bandwidth
        contention, ``overlap_compute_slowdown``, Lee et al. 2025)."""
        overhang = max(comm - compute, comm / max(layers, 1))
        return overhang + eff.overlap_compute_slowdown * min(comm, compute)

    backward = 2.0 / 3.0 * t_micro
    if layout.zero_stage < 3 and params <= 0:
        return 0.0
    if layout.zero_stage == 0:  # DDP reduces gradients in buckets of 25 MB (bucket_cap_mb)
        buckets = max(1, math.ceil(params * g / DDP_BUCKET_BYTES))
        return behind(buckets * coll(params * g / buckets, "all_reduce"), backward)
    if layout.zero_stage == 1:
        return coll(params * g, "reduce_scatter") + coll(params * p, "all_gather")
    if layout.zero_stage == 2:
        rs = coll(params * g, "reduce_scatter")
        return behind(rs, backward) + coll(params * p, "all_gather")
    # FSDP wraps each block: one all-gather forward, one backward and one reduce-scatter per
    # block, each paying the collective's latency
    unit = params / max(layers, 1)
    gather = 2 * coll(gathered / max(layers, 1), "all_gather")
    per_micro = layers * (gather + (coll(unit * g, "reduce_scatter") if unit > 0 else 0.0))
    return micro_steps * behind(per_micro, t_micro)


def _optimizer(
    spec: ModelSpec, recipe: Recipe, layout: Layout, dev: Device, *, params: float, layers: int
) -> list[Op]:
    """The update on the GPU for this GPU's share of the parameters."""
    shards, opt = layout.shards, recipe.optimizer
    # expert parameters are sharded over their own replicas: as many parameters over `shards`
    experts = stage_experts(spec, layout)
    params += experts * (shards / layout.expert_shards - 1)
    common: dict[str, Any] = {
        "param_dtype": recipe.param_dtype if recipe.master_dtype == "none" else recipe.master_dtype,
        "grad_dtype": recipe.grad_dtype,
        "state_dtype": recipe.state_dtype,
        "dev": dev,
    }
    if opt.fallback is None:
        return [update_time(params / shards, opt, **common)]
    muon = muon_time(
        spec,
        opt,
        tp=layout.tp,
        layers=layers,
        shards=shards,
        grad_dtype=recipe.grad_dtype,
        param_dtype=recipe.param_dtype,
        state_dtype=recipe.state_dtype,
        dev=dev,
    )
    rest = max(params - matrix_params(spec, layout.tp, layers), 0.0) / shards
    return [muon, update_time(rest, opt.fallback, **common)]


def _host_update(
    spec: ModelSpec,
    recipe: Recipe,
    layout: Layout,
    links: Links,
    eff: Efficiency,
    *,
    params: float,
    layers: int,
) -> float:
    """The update on the CPU: 16-bit gradients down and weights up over PCIe, overlapping the
    CPU's update at host-memory bandwidth and, for Muon, its Newton-Schulz matmuls."""
    local = params / layout.shards
    c = compute_bytes(recipe.precision)
    transfer = local * (c + c) / (links.host_gbs * GB)
    cpu = local * eff.cpu_adam_bytes_per_param / (eff.host_memory_bw_gbs * GB)
    opt = recipe.optimizer
    if opt.matrix_update == "newton_schulz" and not lora(recipe):
        ns = sum(
            count * newton_schulz_flops(m, n, opt.iterations)
            for m, n, count in muon_matrices(spec, layout.tp, layers)
        )
        cpu += ns / layout.shards / (eff.cpu_matmul_tflops * TFLOP)
    return max(transfer, cpu)


def _streamed_update(
    spec: ModelSpec,
    recipe: Recipe,
    layout: Layout,
    links: Links,
    *,
    gpu_update: float,
    layers: int,
) -> float:
    """Exposed time of an update run on the GPU from state kept in host memory: each layer's
    state and master weights stream in and back out (full duplex) behind the update of the
    layer before; one layer's transfer fills the pipeline."""
    stream = optimizer_state_bytes(spec, recipe, layout) / (links.host_gbs * GB)
    return max(stream - gpu_update, 0.0) + stream / max(layers, 1)


def _data_parallel(
    spec: ModelSpec, ms: Stage, links: Links, eff: Efficiency, *, t_micro: float
) -> float:
    """Exposed data-parallel communication per step: the non-expert parameters over the
    data-parallel replicas and the routed experts over their own. Under a frozen base only the
    adapters' gradients reduce, in the adapters' dtype, and ZeRO-3 gathers the frozen weights
    in their storage format beside the adapters."""
    recipe, layout = ms.recipe, ms.layout
    kw: dict[str, Any] = {"t_micro": t_micro, "layers": ms.layers, "micro_steps": ms.accum_steps}
    expert_kw: dict[str, Any] = {
        "replicas": layout.expert_replicas,
        "per_node": max(1, links.gpus_per_node // (layout.ep * layout.etp)),
    }
    if ms.trainable_local is None:
        experts = ms.expert_params_local
        dp = _dp_comm(ms.params_local - experts, recipe, layout, links, eff, **kw)
        if experts:  # expert gradients reduce over the experts' own replicas
            dp += _dp_comm(experts, recipe, layout, links, eff, **kw, **expert_kw)
        return dp
    ad, ae = adapters_local(spec, recipe, layout)
    frozen, frozen_experts = frozen_weight_bytes(spec, recipe, layout)
    w, c = dtype_bytes(adapter_dtype(recipe)), compute_bytes(recipe.precision)
    kw["update_bytes"] = w
    dp = _dp_comm(ad, recipe, layout, links, eff, gathered_bytes=frozen + ad * c, **kw)
    if spec.moe:
        gathered = frozen_experts + ae * c
        dp += _dp_comm(ae, recipe, layout, links, eff, gathered_bytes=gathered, **kw, **expert_kw)
    return dp


def _adapter_update(spec: ModelSpec, recipe: Recipe, layout: Layout, dev: Device) -> Op:
    """The adapters' update on the GPU, this GPU's share: an element-wise optimizer (Muon's
    fallback for Muon: the adapters are thin r-wide matrices) over weights in the adapters'
    dtype."""
    ad, ae = adapters_local(spec, recipe, layout)
    opt = recipe.optimizer.fallback or recipe.optimizer
    return update_time(
        ad / layout.shards + ae / layout.expert_shards,
        opt,
        param_dtype=adapter_dtype(recipe),
        grad_dtype=recipe.grad_dtype,
        state_dtype=recipe.state_dtype,
        dev=dev,
    )


def _param_fetch(
    recipe: Recipe, layout: Layout, links: Links, *, params: float, t_micro: float, layers: int
) -> float:
    """Exposed time per micro-step of offloaded weights fetched for forward and again for
    backward, behind the compute; the first layer's fetch is never hidden."""
    if layout.offload != "optimizer+params":
        return 0.0
    c = compute_bytes(recipe.precision)
    fetch = 2 * params * c / (links.host_gbs * GB)
    return max(fetch - t_micro, fetch / max(layers, 1))


def step_time(
    spec: ModelSpec, recipe: Recipe, layout: Layout, dev: Device, links: Links, eff: Efficiency
) -> StepTime:
    """The step time of ``recipe`` on ``layout`` with this device and these links."""
    ms = stage_of(spec, recipe, layout)
    micro_steps, layers, params = ms.accum_steps, ms.layers, ms.params_local
    ops = microstep_ops(spec, ms, dev)
    t_ops = sum(op.seconds for op in ops)
    t_comm_micro = (
        _tp_comm(spec, ms, links, eff)
        + _pp_comm(spec, ms, links)
        + _cp_comm(spec, ms, links, eff, attention=_sum(ops, "attention"))
        + _ep_comm(spec, ms, links, eff, compute=t_ops)
    )
    fetch = _param_fetch(
        recipe, layout, links, params=params, t_micro=t_ops + t_comm_micro, layers=layers
    )
    if ms.trainable_local is not None:  # a frozen base: the adapters update and reduce
        params = ms.trainable_local
    # the micro-step as long as its weights take to arrive: the bubble and the data-parallel
    # collectives run behind that, not behind the compute alone (both overlap the same time)
    t_micro = t_ops + t_comm_micro + fetch
    pp = layout.pp
    bubble = (pp - 1) / layout.pp_interleave * t_micro if pp > 1 else 0.0
    dp = _data_parallel(spec, ms, links, eff, t_micro=t_micro)
    opt: list[Op] = []
    offload = 0.0
    if layout.offload == "none" or layout.offload_update == "gpu":
        opt = (
            _optimizer(spec, recipe, layout, dev, params=params, layers=layers)
            if ms.trainable_local is None
            else [_adapter_update(spec, recipe, layout, dev)]
        )
    if layout.offload != "none":
        if layout.offload_update == "gpu":
            gpu_update = sum(op.seconds for op in opt)
            offload = _streamed_update(
                spec, recipe, layout, links, gpu_update=gpu_update, layers=layers
            )
        else:
            offload = _host_update(spec, recipe, layout, links, eff, params=params, layers=layers)
    offload += micro_steps * fetch
    if recipe.optimizer.paged and layout.offload == "none":
        offload += optimizer_state_bytes(spec, recipe, layout) / (links.host_gbs * GB)
    breakdown = {c: micro_steps * _sum(ops, c) for c in ("matmul", "attention", "memory")}
    breakdown["optimizer"] = sum(op.seconds for op in opt)
    breakdown["communication"] = micro_steps * t_comm_micro + dp
    breakdown["offload"] = offload
    # Host launch time, per phase: the forward/backward micro-steps (compiled or eager) and the
    # optimizer, which runs outside torch.compile's graph and launches its kernels eagerly.
    per_kernel = (eff.cpu_compiled_us if recipe.compiled else eff.cpu_eager_us) * US
    host_micro = micro_steps * sum(op.kernels for op in ops) * per_kernel
    gpu_micro = micro_steps * t_micro + bubble  # the host launches while the GPU runs or waits
    host_opt = sum(op.kernels for op in opt) * eff.cpu_eager_us * US
    waiting = max(host_micro - gpu_micro, 0.0) + max(host_opt - breakdown["optimizer"], 0.0)
    # a calibrated device's measured fixed time per step (data loading, Python, syncs)
    fixed = dev.cal.step_overhead_s if dev.cal is not None else 0.0
    breakdown["overhead"] = bubble + waiting + fixed
    executed = micro_steps * sum(op.flops for op in ops) + sum(op.flops for op in opt)
    return StepTime(
        step_time_s=sum(breakdown.values()),
        breakdown_s=breakdown,
        micro_steps=micro_steps,
        executed_flops=executed,
        tokens=recipe.global_batch_tokens,
        host_bound=host_micro > gpu_micro,
        misaligned=misaligned(spec, ms, dev),
    )
