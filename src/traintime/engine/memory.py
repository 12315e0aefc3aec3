"""Peak GPU memory of a training step, by component (bytes), and what offload puts on the host.

* Weights, gradients and optimizer state per tensor class with their own dtypes: block matrices
  and the LM head in ``param_dtype`` (nanochat: fp32), embedding tables in ``embedding_dtype``
  (nanochat: bf16). Optimizer state per ``engine.optimizer.state_bytes`` in the recipe's state
  dtypes: AdamW two moments, Muon one momentum for matrices (AdamW for the rest), 8-bit Adam
  one byte per moment plus block scales, Adafactor a row and a column per matrix, SGD one
  momentum. A master copy (``master_dtype``) sits with the optimizer state.
* ZeRO (Rajbhandari et al. 2020): stage 1 shards optimizer state (and master weights) over the
  data-parallel ranks, 2 also gradients, 3 also weights (plus, unsharded: two gathered blocks,
  one block's fp32 gradient staged for its reduce-scatter, and the root module's weights and
  output gradient, see ``_fsdp_buffers``). DDP (stage 0, several GPUs) keeps a flat copy of
  the gradients in its buckets. FSDP under PyTorch's pipeline schedules (torchtitan) defers the
  gradient reduction to the last micro-batch and does not reshard after forward: the stage's
  gradients stay whole, in the fp32 reduce dtype, and its weights gathered, for the step
  (Llama 3's own ZeRO-2 + PP shards gradients, as its paper says).
* Activations saved for backward per token and layer (Korthikanti et al. 2022, section 4, for
  a flash kernel that keeps no scores): norm inputs and outputs, q/k/v, the attention output
  and its log-sum-exp, the MLP's up projection and activation output; eager attention also keeps
  the B x H x T^2 probabilities. Under torch.compile the partitioner recomputes the norms'
  outputs (and QK-norm) in backward instead of saving them (Ansel et al. 2024, PyTorch 2,
  section 4: min-cut rematerialization). Selective checkpointing drops the attention internals;
  torchtitan's op-level policy (``selective-op``) keeps each block's input, every other matmul
  output and the attention output; full checkpointing keeps each block's input plus one block
  being recomputed. Tensor/sequence
  parallel divides them by tp; 1F1B pipelining keeps pp micro-batches in flight on stage 0.
* The loss, per vocabulary entry per token at the start of backward (``LOSS_BYTES``): eager
  PyTorch cross-entropy on an fp32 upcast (autocast runs it in fp32; Hugging Face and nanochat
  upcast explicitly) holds the bf16 logits (2 B), their fp32 copy (4 B), the fp32 log-softmax
  it saves for backward (4 B) and the gradient it writes (2 B): 12 B. Compiled, the upcast and
  log-softmax fuse and only the logits and one fp32 working copy remain (6 B). A fused loss
  kernel (FlashAttention's Triton cross-entropy, llm.c's fused classifier, Liger's chunked
  linear cross-entropy) keeps at most the 16-bit logits and writes their 16-bit gradient (4 B;
  llm.c overwrites the logits in place, 2 B). An eager softcap keeps two more fp32 tensors.
* The peak is the larger of the forward/backward phase (activations and logits) and the
  optimizer step (its temporaries), on top of weights, gradients, optimizer state and buffers.
* Offload (ZeRO-Offload, Ren et al. 2021, section 4): the optimizer's master weights and states
  live in host RAM, with an fp32 copy of the gradients when the CPU runs the update; the GPU
  keeps 16-bit weights and gradients (offloading parameters too, only the two layers in flight).
  An update run on the GPU from offloaded state streams it layer by layer through two layers'
  worth of buffers. A paged optimizer's state (bitsandbytes paged optimizers, in CUDA unified
  memory the driver pages out to host RAM) is counted in host RAM (``paged_optimizer``), not in
  the GPU's peak.
* A LoRA or QLoRA fine-tune (``engine.lora``): the frozen block linears at ``base_bytes`` per
  weight (NF4: 0.5 B plus block constants), the rest of the frozen model (norms, biases,
  embeddings, the output head) in its own dtype; the adapters' weights, gradients and optimizer
  state only. Saved activations follow PyTorch autograd: ``mm`` saves its input only when the
  weight needs a gradient (the generated ``MmBackward0``: ``if
  (grad_fn->should_compute_output(1)) grad_fn->self_ = SavedVariable(self, false)``), and
  bitsandbytes' ``MatMul4Bit`` saves none (``ctx.tensors = (None, B)``), so a frozen linear
  keeps no input; an adapter keeps its input (its ``A``'s weight gradient) and ``x A^T`` (its
  ``B``'s). ZeRO-3 shards the frozen weights too; ZeRO-1/2 shard what trains.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from traintime.engine.lora import (
    adapted_linears,
    adapter_dtype,
    adapter_split,
    block_linears,
    casts_input,
    largest_linear,
    lora,
    quantized,
    quantized_weights,
)
from traintime.engine.numerics import LOW_GEMM, compute_bytes, dtype_bytes
from traintime.engine.optimizer import muon_matrices, state_bytes
from traintime.engine.params import count_params
from traintime.specs import Layout, ModelSpec, OptimizerSpec, Recipe
from traintime.units import GIB

#: The two phases of a step whose working memory sits on top of the persistent state.
PHASES = ("forward/backward", "optimizer step")


@dataclass(frozen=True, slots=True)
class Memory:
    """Bytes on the busiest GPU at its peak, by component, and bytes needed in host RAM."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    logits: float
    buffers: float
    optimizer_temporaries: float
    host: float
    paged_optimizer: float = 0.0  # a paged optimizer's state: in ``host``, not on the GPU

    @property
    def persistent(self) -> float:
        """What lives through the whole step."""
        return self.weights + self.gradients + self.optimizer + self.buffers

    @property
    def phase(self) -> str:
        """The phase at which the peak occurs: forward/backward (activations and logits) or the
        optimizer step (its temporaries)."""
        forward = self.activations + self.logits
        return PHASES[0] if forward >= self.optimizer_temporaries else PHASES[1]

    @property
    def total(self) -> float:
        """The peak: the persistent state plus the working memory of the larger phase."""
        return self.persistent + max(self.activations + self.logits, self.optimizer_temporaries)

    def peak_parts(self) -> dict[str, float]:
        """The parts of the peak in bytes (those of its phase): they add up to ``total``."""
        parts = {
            "weights": self.weights,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "buffers": self.buffers,
        }
        if self.phase == PHASES[0]:
            parts |= {"activations": self.activations, "logits": self.logits}
        else:
            parts["optimizer_temporaries"] = self.optimizer_temporaries
        return parts

    def peak_parts_gib(self) -> dict[str, float]:
        return {k: v / GIB for k, v in self.peak_parts().items()}


def _parameter_classes(spec: ModelSpec, layout: Layout) -> tuple[float, float, float, float]:
    """(block matrices + small params, routed experts, LM head, embedding tables) on the
    busiest GPU."""
    return _classes(spec, layout.tp, layout.pp, layout.ep, layout.etp)


@functools.lru_cache(maxsize=4096)
def _classes(
    spec: ModelSpec, tp: int, pp: int, ep: int = 1, etp: int = 1
) -> tuple[float, float, float, float]:
    counts = count_params(spec)
    head = spec.vocab * spec.d_model if not spec.tied_embeddings else 0.0
    tables = float(counts.lookup)
    blocks = counts.total - head - tables - counts.experts
    per_stage_blocks = blocks / pp
    # routed experts are split over the expert-parallel ranks (ep x etp) instead of tp
    experts = counts.experts / (pp * ep * etp)
    # with pipelining the embedding sits on the first stage and the head on the last
    if pp > 1:
        return per_stage_blocks / tp, experts, max(head, tables) / tp, 0.0
    return per_stage_blocks / tp, experts, head / tp, tables / tp


def _mlp_elements(spec: ModelSpec, r: Recipe, *, moe: bool) -> tuple[float, float, float]:
    """(elements saved per token by the layer's MLP, its matmul outputs, the saved elements
    that are inputs of a linear layer): a dense MLP keeps its up projection and the
    activation's output (the down projection's input); an MoE layer keeps, for each of a
    token's ``top_k`` copies (times the busiest rank's load), the permuted input, the expert's
    up projection and activation output, and the expert output the combine's gradient needs,
    plus its shared experts like a dense MLP."""
    up = 2 if spec.gated else 1
    if not moe:
        f = spec.ffn_hidden
        return (up + 1) * f, up * f + spec.d_model, f
    copies = spec.top_k * r.expert_load
    f, fs = spec.expert_ffn_hidden, spec.shared_ffn_hidden
    saved = copies * (2 * spec.d_model + (up + 1) * f) + (up + 1) * fs
    outputs = copies * (up * f + spec.d_model) + up * fs + spec.d_model
    return saved, outputs, copies * (spec.d_model + f) + fs


@functools.lru_cache(maxsize=65536)
def _activation_bytes_per_token_layer(
    spec: ModelSpec, r: Recipe, seq: int, *, moe: bool = False
) -> float:
    a = compute_bytes(r.precision)
    d = spec.d_model
    qkv = spec.n_head * spec.qk_head_dim + spec.kv_heads * (spec.qk_head_dim + spec.v_dim)
    attn_out = spec.n_head * spec.v_dim
    mlp, mm_out, mlp_inputs = _mlp_elements(spec, r, moe=moe)
    qk_norm = (spec.n_head + spec.kv_heads) * spec.hd if spec.qk_norm else 0
    # eager saves each norm's input and output and QK-norm's input; under torch.compile the
    # min-cut partitioner recomputes the norm outputs in backward instead
    elems = 2 * d + qkv + mlp if r.compiled else 4 * d + qkv + qk_norm + mlp
    internals = a * attn_out + dtype_bytes("fp32") * spec.n_head  # + fp32 log-sum-exp
    low = LOW_GEMM.get(r.precision)
    if low is not None and low.scale_bytes and r.act_ckpt != "selective-op" and not lora(r):
        # block-scaled recipes (Transformer Engine's MXFP8 / NVFP4) keep each linear layer's
        # input quantized for its weight gradient instead of in bf16 (Megatron-Core: "Stores
        # linear layer inputs in FP8 instead of BF16"): the norm outputs (eager), the attention
        # output and the MLP's down-projection (and experts') inputs. Tensorwise fp8 as torchao
        # runs it keeps them in bf16 (nanochat d24 fp8 on 8 x B200: 51.5 GiB allocated)
        inputs = mlp_inputs + (0 if r.compiled else 2 * d)
        saved = low.operand_bytes + low.scale_bytes
        internals -= (a - saved) * (inputs + attn_out)
    if moe:  # the router's fp32 probabilities
        internals += dtype_bytes("fp32") * spec.n_experts
    if r.attention_impl == "eager":
        internals += a * spec.n_head * seq  # the softmax probabilities, T keys per query
    if r.dropout > 0:  # dropout keeps 1-byte masks for backward (fused attention kernels
        # regenerate theirs from the RNG state; eager attention keeps the T x T one)
        internals += 2 * d + (spec.n_head * seq if r.attention_impl == "eager" else 0)
    if r.act_ckpt == "selective":
        internals = 0.0
    if r.act_ckpt == "selective-op":  # block input, every other matmul output, SDPA's output
        elems = d + (qkv + d + mm_out) // 2
    if lora(r):
        elems += _frozen_saved_elements(spec, r, moe=moe)
    return a * elems + internals


def _frozen_saved_elements(spec: ModelSpec, r: Recipe, *, moe: bool) -> float:
    """Elements per token a LoRA layer saves beyond full training's (negative: fewer). Frozen
    linears keep no input (module docstring), so the inputs saved only for weight gradients go:
    the norms' outputs (eager), the MLP's down-projection inputs and an MoE layer's permuted
    tokens. Each adapter keeps ``x A^T`` (r) and its input: its own copy where it casts it
    (``lora.casts_input``), else the tensor the base reads, once per tensor (the attention
    output is the attention kernel's own; under torch.compile the norm outputs are recomputed).
    Under torchtitan's op-level policy only the adapters' ``x A^T`` is added."""
    d, rank = spec.d_model, r.lora_rank
    copies = spec.top_k * r.expert_load
    adapted = [lin for lin in block_linears(spec, moe=moe) if lin.modules & r.lora_targets]
    add = sum(rank * (copies if lin.expert else 1) for lin in adapted)
    if r.act_ckpt == "selective-op":
        return add
    _, _, mlp_inputs = _mlp_elements(spec, r, moe=moe)
    drop = mlp_inputs + (0 if r.compiled else 2 * d)
    if casts_input(r):
        return add - drop + sum(lin.d_in * (copies if lin.expert else 1) for lin in adapted)
    norm_out = 0 if r.compiled else d
    widths = {
        "attn_in": norm_out,
        "q_latent": spec.q_lora_rank,
        "kv_latent": spec.kv_lora_rank,
        "attn_out": 0,
        "mlp_in": norm_out,
        "mlp_hidden": spec.ffn_hidden,
        "shared_hidden": spec.shared_ffn_hidden,
        "expert_in": copies * d,
        "expert_hidden": copies * spec.expert_ffn_hidden,
    }
    return add - drop + sum(widths[src] for src in {lin.source for lin in adapted})


def _replicated_bytes_per_token_layer(spec: ModelSpec, r: Recipe) -> float:
    """The d_model-wide part of a layer's saved activations, which sequence parallelism shards
    and plain tensor parallelism keeps whole on every rank."""
    a = compute_bytes(r.precision)
    if r.act_ckpt == "selective-op":  # the block input
        return a * spec.d_model
    d = spec.d_model
    norms = 2 * d if r.compiled else 4 * d
    masks = 2 * d if r.dropout > 0 else 0
    return a * norms + masks


def activation_bytes(spec: ModelSpec, r: Recipe, layout: Layout) -> float:
    """Activations saved for backward on the busiest GPU (pipeline stage 0)."""
    tokens = r.micro_batch * spec.seq_len / layout.cp
    layers = -(-spec.n_layer // layout.pp)
    tp = layout.tp
    # the stage's mix of dense and MoE layers (its last `layers`, as the time model runs)
    flags = spec.moe_layer_flags()[spec.n_layer - layers :]
    moe_share = sum(flags) / max(len(flags), 1)
    per_token = (1 - moe_share) * _activation_bytes_per_token_layer(spec, r, spec.seq_len)
    if moe_share:
        per_token += moe_share * _activation_bytes_per_token_layer(spec, r, spec.seq_len, moe=True)
    per_layer = per_token * tokens / tp
    a = compute_bytes(r.precision)
    replicated = 1.0
    if tp > 1 and not layout.sequence_parallel:
        # without sequence parallelism the d_model-wide tensors (norm inputs and outputs,
        # residual stream, dropout masks, a checkpointed layer input) sit whole on every
        # tensor-parallel rank (Korthikanti et al. 2022, Table 2: 10 sbh unsharded)
        replicated = float(tp)
        per_layer += _replicated_bytes_per_token_layer(spec, r) * tokens * (1 - 1 / tp)
    in_flight = layout.pp if layout.pp > 1 else 1  # 1F1B: stage 0 holds pp micro-batches
    head = 0.0
    if lora(r) and "lm_head" in r.lora_targets:  # its adapter keeps the final norm's output
        head = a * (spec.d_model + r.lora_rank) * tokens / tp
    if r.act_ckpt == "full":
        # every in-flight micro-batch keeps its layer inputs; one layer's full activations
        # exist only while that layer is recomputed for the micro-batch in backward
        inputs = layers * a * spec.d_model * tokens / tp * replicated
        return inputs * in_flight + per_layer + permute_buffers(spec, r, layout) + head
    return layers * per_layer * in_flight + permute_buffers(spec, r, layout) + head


def permute_buffers(spec: ModelSpec, r: Recipe, layout: Layout) -> float:
    """The dispatch's send and receive buffers of the MoE layer in flight: two copies of the
    permuted tokens (``top_k`` copies each, at the busiest rank's load)."""
    if not spec.moe:
        return 0.0
    tokens = r.micro_batch * spec.seq_len / layout.cp / layout.tp
    copies = tokens * spec.top_k * r.expert_load
    return 2 * copies * spec.d_model * compute_bytes(r.precision)


#: Bytes per vocabulary entry per token the loss holds at the start of backward, by kernel.
LOSS_BYTES = {"eager": 12.0, "compiled": 6.0, "fused": 4.0}


def logits_bytes(spec: ModelSpec, r: Recipe, layout: Layout) -> float:
    """The loss's logits and working copies (``LOSS_BYTES``); an eager softcap keeps two more
    fp32 tensors (its tanh input and output)."""
    tokens = r.micro_batch * spec.seq_len / layout.cp
    softcap = 8.0 if spec.logit_softcap and r.loss_impl == "eager" else 0.0
    per_entry = LOSS_BYTES[r.loss_impl] + softcap
    return tokens * spec.vocab / layout.tp * per_entry


def _rows_cols(spec: ModelSpec, layout: Layout, layers: int) -> float:
    """Row plus column elements of one GPU's block matrices (a factored optimizer's state)."""
    return float(sum((m + n) * c for m, n, c in muon_matrices(spec, layout.tp, layers)))


def _states(spec: ModelSpec, r: Recipe, layout: Layout) -> tuple[float, float]:
    """Optimizer state of one GPU's (non-expert, expert) parameters, before ZeRO sharding."""
    return _state_total(
        spec,
        r.optimizer,
        r.state_dtype,
        r.embedding_state_dtype,
        layout.tp,
        layout.pp,
        layout.ep,
        layout.etp,
    )


@functools.lru_cache(maxsize=4096)
def _state_total(
    spec: ModelSpec,
    opt: OptimizerSpec,
    state: str,
    table_state: str,
    tp: int,
    pp: int,
    ep: int = 1,
    etp: int = 1,
) -> tuple[float, float]:
    layout = Layout(tp=tp, pp=pp, ep=ep, etp=etp)
    blocks, experts, head, tables = _parameter_classes(spec, layout)
    fallback = opt.fallback
    layers = -(-spec.n_layer // pp)
    rows_cols = _rows_cols(spec, layout, layers)
    # experts: one matrix per expert and projection; Muon orthogonalizes them like the others
    expert_rows_cols = experts / max(spec.expert_ffn_hidden, 1) + (experts / max(spec.d_model, 1))
    expert_state = state_bytes(opt, experts, state, rows_cols=expert_rows_cols)
    if fallback is not None:  # Muon: its fallback (AdamW) off the block matrices
        return (
            state_bytes(opt, blocks, state)
            + state_bytes(fallback, head, state)
            + state_bytes(fallback, tables, table_state)
        ), expert_state
    return (
        state_bytes(opt, blocks, state, rows_cols=rows_cols)
        + state_bytes(opt, head, state, rows_cols=spec.vocab / tp + spec.d_model)
        + state_bytes(opt, tables, table_state, rows_cols=tables / spec.d_model + spec.d_model)
    ), expert_state


@functools.lru_cache(maxsize=65536)
def peak_memory(spec: ModelSpec, r: Recipe, layout: Layout) -> Memory:
    """Peak bytes on the busiest GPU, and the host RAM that offload needs (memoized: it does
    not depend on the GPU, so a comparison across GPUs sizes each setup once). Routed experts
    are sharded over their own replicas (``Layout.expert_replicas``), the rest over the
    data-parallel replicas."""
    if lora(r):
        return _paged(_frozen_base_memory(spec, r, layout), r, layout)
    blocks, experts, head, tables = _parameter_classes(spec, layout)
    p, g = dtype_bytes(r.param_dtype), dtype_bytes(r.grad_dtype)
    e, c = dtype_bytes(r.embedding_dtype), compute_bytes(r.precision)
    dense = blocks + head
    optimizer = optimizer_state_bytes(spec, r, layout)
    weights = dense * p + tables * e
    grads = dense * g + tables * e
    expert_weights, expert_grads = experts * p, experts * g
    replicas, expert_replicas = layout.replicas, layout.expert_replicas
    deferred = layout.pp > 1 and layout.zero_stage >= 3 and replicas > 1
    if deferred:  # FSDP under pipelining reduces once, after the last micro-batch: fp32, whole
        grads = (dense + tables) * dtype_bytes("fp32")
        expert_grads = experts * dtype_bytes("fp32")
    elif layout.zero_stage >= 2:
        grads /= replicas
        expert_grads /= expert_replicas
    layers = max(1, -(-spec.n_layer // layout.pp))
    layer_params = (blocks + experts) / layers
    layer = layer_params * c
    buffers = 0.0
    if layout.zero_stage >= 3:
        weights /= replicas
        expert_weights /= expert_replicas
        buffers += _fsdp_buffers(
            layer_params, head, tables, c, deferred=deferred, dense=dense + experts
        )
    elif layout.zero_stage == 0 and (replicas > 1 or expert_replicas > 1):
        # DDP's flat gradient buckets
        buffers += (grads if replicas > 1 else 0.0) + (expert_grads if expert_replicas > 1 else 0.0)
    weights += expert_weights
    grads += expert_grads
    host = 0.0
    temporaries = 0.0
    if layout.offload != "none":
        host = optimizer
        if layout.offload_update == "cpu":  # an fp32 copy of the gradients for the CPU update
            host += (dense + tables) * dtype_bytes("fp32") / layout.shards
            host += experts * dtype_bytes("fp32") / layout.expert_shards
        else:  # two layers' state and master copy in flight, and the update's own working set
            temporaries = 2 * optimizer / layers
            temporaries += _optimizer_temporaries(spec, r, layout, adam_params=0.0)
        optimizer = 0.0
        if layout.offload == "optimizer+params":
            host += weights
            weights = 2 * layer
    else:
        adam = (head + tables) if r.optimizer.matrix_update != "none" else (dense + tables)
        adam_local = adam / layout.shards
        if r.optimizer.matrix_update == "none":
            adam_local += experts / layout.expert_shards
        temporaries = _optimizer_temporaries(spec, r, layout, adam_params=adam_local)
    memory = Memory(
        weights=weights,
        gradients=grads,
        optimizer=optimizer,
        activations=activation_bytes(spec, r, layout),
        logits=logits_bytes(spec, r, layout),
        buffers=buffers,
        optimizer_temporaries=temporaries,
        host=host,
    )
    return _paged(memory, r, layout)


def _paged(memory: Memory, r: Recipe, layout: Layout) -> Memory:
    """A paged optimizer's state in host RAM instead of the GPU's peak (module docstring)."""
    if not r.optimizer.paged or layout.offload != "none":
        return memory
    return replace(
        memory,
        optimizer=0.0,
        host=memory.host + memory.optimizer,
        paged_optimizer=memory.optimizer,
    )


def frozen_weight_bytes(spec: ModelSpec, r: Recipe, layout: Layout) -> tuple[float, float]:
    """Bytes of one GPU's frozen weights (outside, inside the routed experts) before ZeRO-3:
    block linears at ``base_bytes`` per weight, norms, biases and the output head in the
    parameter dtype, embedding tables in theirs."""
    blocks, experts, head, tables = _parameter_classes(spec, layout)
    dense_q, expert_q = quantized_weights(spec)
    linears = dense_q / (layout.pp * layout.tp)
    expert_linears = expert_q / (layout.pp * layout.ep * layout.etp)
    p, base = dtype_bytes(r.param_dtype), r.base_bytes
    dense = linears * base + (blocks - linears + head) * p + tables * dtype_bytes(r.embedding_dtype)
    return dense, expert_linears * base + (experts - expert_linears) * p


def adapters_local(spec: ModelSpec, r: Recipe, layout: Layout) -> tuple[float, float]:
    """One GPU's adapter parameters (outside, inside the routed experts), before ZeRO."""
    dense, experts = adapter_split(spec, r.lora_rank, r.lora_targets)
    return dense / (layout.tp * layout.pp), experts / (layout.pp * layout.ep * layout.etp)


def _frozen_base_memory(spec: ModelSpec, r: Recipe, layout: Layout) -> Memory:
    """Peak memory of a LoRA or QLoRA step (module docstring): ZeRO-1/2 shard the adapters'
    state and gradients, ZeRO-3 the frozen weights too (with two gathered layers and the root
    module beside them); a quantized base's GEMM reads a dequantized copy of one weight at a
    time, the largest of which is counted as a buffer."""
    frozen, frozen_experts = frozen_weight_bytes(spec, r, layout)
    ad, ae = adapters_local(spec, r, layout)
    w, g = dtype_bytes(adapter_dtype(r)), dtype_bytes(r.grad_dtype)
    c = compute_bytes(r.precision)
    replicas, expert_replicas = layout.replicas, layout.expert_replicas
    weights, expert_weights = frozen + ad * w, frozen_experts + ae * w
    grads, expert_grads = ad * g, ae * g
    layers = max(1, -(-spec.n_layer // layout.pp))
    buffers = 0.0
    if quantized(r):
        buffers += c * largest_linear(spec) / layout.tp
    if layout.zero_stage >= 2:
        grads /= replicas
        expert_grads /= expert_replicas
    elif layout.zero_stage == 0:  # DDP's flat gradient buckets
        buffers += (grads if replicas > 1 else 0.0) + (expert_grads if expert_replicas > 1 else 0.0)
    if layout.zero_stage >= 3:  # two blocks gathered, and the root module (FSDP2)
        _, _, head, tables = _parameter_classes(spec, layout)
        root = head * dtype_bytes(r.param_dtype) + tables * dtype_bytes(r.embedding_dtype)
        layer = (weights + expert_weights - root) / layers
        weights /= replicas
        expert_weights /= expert_replicas
        buffers += 2 * layer + (head + tables) * c
    optimizer = optimizer_state_bytes(spec, r, layout)
    weights += expert_weights
    grads += expert_grads
    host = temporaries = 0.0
    if layout.offload != "none":
        host = optimizer
        if layout.offload_update == "cpu":  # an fp32 copy of the gradients for the CPU update
            host += (ad / layout.shards + ae / layout.expert_shards) * dtype_bytes("fp32")
        else:  # two layers' state in flight
            temporaries = 2 * optimizer / layers
        optimizer = 0.0
        if layout.offload == "optimizer+params":
            host += weights
            weights = 2 * weights / layers
    elif r.optimizer.name in ("adamw", "muon"):  # foreach AdamW's state-sized temporary
        local = ad / layout.shards + ae / layout.expert_shards
        temporaries = local * dtype_bytes(r.state_dtype)
    return Memory(
        weights=weights,
        gradients=grads,
        optimizer=optimizer,
        activations=activation_bytes(spec, r, layout),
        logits=logits_bytes(spec, r, layout),
        buffers=buffers,
        optimizer_temporaries=temporaries,
        host=host,
    )


def _fsdp_buffers(
    layer_params: float, head: float, tables: float, c: float, *, deferred: bool, dense: float
) -> float:
    """What FSDP holds unsharded beside the sharded state, at the start of backward: the block
    in use and the one prefetched (compute dtype), the fp32 gradient of one block staged for its
    reduce-scatter, and the root module (embedding and output layer), which is not resharded
    after forward, with the output layer's fp32 gradient (PyTorch FSDP2 ``fully_shard``:
    ``reshard_after_forward`` is False for the root; torchtitan applies it that way). Under
    pipeline parallelism FSDP2 does not reshard after forward at all: the stage's weights stay
    gathered for the whole step."""
    fp32 = dtype_bytes("fp32")
    gathered = dense * c if deferred else 2 * layer_params * c
    return gathered + layer_params * fp32 + (head + tables) * c + head * fp32


def _optimizer_temporaries(
    spec: ModelSpec, r: Recipe, layout: Layout, *, adam_params: float
) -> float:
    """Working memory of the optimizer step, after activations are freed: PyTorch's default
    (foreach) AdamW allocates a state-sized temporary (the square root of the second moment,
    torch/optim/adamw.py ``_multi_tensor_adamw``); Muon's Newton-Schulz works on bf16 copies of
    the largest matrix (X, A = X X^T, B = bA + cA^2)."""
    name = r.optimizer.name
    temp = adam_params * dtype_bytes(r.state_dtype) if name in ("adamw", "muon") else 0.0
    if r.optimizer.matrix_update != "none":
        d, f = spec.d_model, spec.ffn_hidden / layout.tp
        temp += dtype_bytes("bf16") * (d * f + 2 * min(d, f) ** 2)
    return temp


def _adapter_rows_cols(spec: ModelSpec, r: Recipe) -> float:
    """Rows plus columns of the adapters' matrices outside the experts (``A`` r x d_in, ``B``
    d_out x r): a factored optimizer's state for them."""
    rank, out = r.lora_rank, 0
    for name, (d_in, d_out, n) in adapted_linears(spec, r.lora_targets).items():
        if not name.startswith("experts."):
            out += n * (2 * rank + d_in + d_out)
    return float(out)


def optimizer_state_bytes(spec: ModelSpec, r: Recipe, layout: Layout) -> float:
    """Optimizer state and master weights of one GPU's share (after ZeRO sharding): what an
    offloaded optimizer keeps in host memory and streams through an update on the GPU. Expert
    state is sharded over the experts' own replicas (Megatron's expert data-parallel group)."""
    wide = 0.0 if r.master_dtype == "none" else dtype_bytes(r.master_dtype)
    if lora(r):  # the adapters' state only
        ad, ae = adapters_local(spec, r, layout)
        rows_cols = _adapter_rows_cols(spec, r) / (layout.tp * layout.pp)
        dense_state = state_bytes(r.optimizer, ad, r.state_dtype, rows_cols=rows_cols)
        expert_state = state_bytes(r.optimizer, ae, r.state_dtype, rows_cols=0.0)
        return (dense_state + ad * wide) / layout.shards + (
            expert_state + ae * wide
        ) / layout.expert_shards
    blocks, experts, head, tables = _parameter_classes(spec, layout)
    dense = blocks + head
    dense_state, expert_state = _states(spec, r, layout)
    return (dense_state + (dense + tables) * wide) / layout.shards + (
        expert_state + experts * wide
    ) / layout.expert_shards
