"""Peak GPU memory of a training step, by component (bytes), and what offload puts on the host.

* Weights, gradients and optimizer state per tensor class with their own dtypes: block matrices
  and the LM head in ``param_dtype`` (nanochat: fp32), embedding tables in ``embedding_dtype``
  (nanochat: bf16). Optimizer state follows ``zeros_like`` of its parameter unless a state
  dtype is given: AdamW two states, Muon one momentum for matrices (AdamW for the rest),
  8-bit Adam 2 B, Adafactor factored rows + columns, SGD one momentum.
* ZeRO (Rajbhandari et al. 2020): stage 1 shards optimizer state (and master weights) over the
  data-parallel ranks, 2 also gradients, 3 also weights (plus two gathered layers in flight).
  DDP (stage 0, several GPUs) keeps a flat copy of the gradients in its buckets.
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
* The loss: bf16 logits plus one fp32 working copy (6 B per vocab entry per token: autocast runs
  cross-entropy in fp32, nanochat upcasts explicitly); an eager softcap keeps two more fp32
  tensors.
* The peak is the larger of the forward/backward phase (activations and logits) and the
  optimizer step (its temporaries), on top of weights, gradients, optimizer state and buffers.
* Offload (ZeRO-Offload, Ren et al. 2021): the optimizer's fp32 master weights, states and
  gradients live in host RAM; the GPU keeps bf16 weights (and, offloading parameters too, only
  the two layers in flight).
"""

from __future__ import annotations

from dataclasses import dataclass

from traintime.engine.ops import DTYPE_BYTES
from traintime.engine.params import count_params
from traintime.specs import ModelSpec, Parallel

GIB = 2.0**30


@dataclass(frozen=True, slots=True)
class MemoryInputs:
    """The recipe facts memory depends on."""

    micro_batch: int
    precision: str = "bf16"
    optimizer: str = "adamw"
    param_dtype: str = "fp32"
    grad_dtype: str | None = None
    embedding_dtype: str | None = None
    master_dtype: str | None = None
    state_dtype: str | None = None
    act_ckpt: str = "none"
    attention_impl: str = "flash"
    compiled: bool = False
    dropout: float = 0.0


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

    @property
    def persistent(self) -> float:
        """What lives through the whole step."""
        return self.weights + self.gradients + self.optimizer + self.buffers

    @property
    def total(self) -> float:
        """The peak: forward/backward (activations, logits) or the optimizer step (its
        temporaries), whichever needs more on top of the persistent state."""
        return self.persistent + max(self.activations + self.logits, self.optimizer_temporaries)

    def as_gib(self) -> dict[str, float]:
        parts = {
            "weights": self.weights,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "activations": self.activations,
            "logits": self.logits,
            "buffers": self.buffers,
            "optimizer_temporaries": self.optimizer_temporaries,
        }
        return {k: v / GIB for k, v in parts.items()}


def _b(dtype: str | None, default: str) -> float:
    return DTYPE_BYTES.get(dtype or default, 4.0)


def _state_bytes(optimizer: str, dtype: float, *, matrix: bool) -> float:
    """Optimizer state bytes per parameter for one tensor class."""
    if optimizer == "muon":
        return dtype if matrix else 2 * dtype
    return {"adamw": 2 * dtype, "adamw8bit": 2.02, "adafactor": 0.02, "sgd": dtype}.get(
        optimizer, 2 * dtype
    )


def _parameter_classes(spec: ModelSpec, par: Parallel) -> tuple[float, float, float]:
    """(block matrices + small params, LM head, embedding tables) on the busiest GPU."""
    counts = count_params(spec)
    head = spec.vocab * spec.d_model if not spec.tied_embeddings else 0.0
    tables = float(counts.lookup)
    blocks = counts.total - head - tables
    shard = par.tp
    per_stage_blocks = blocks / par.pp
    # with pipelining the embedding sits on the first stage and the head on the last
    if par.pp > 1:
        return per_stage_blocks / shard, max(head, tables) / shard, 0.0
    return per_stage_blocks / shard, head / shard, tables / shard


def _act_bytes(m: MemoryInputs) -> float:
    """Bytes of one activation (and compute-dtype weight) element: 4 in fp32/tf32, else 2."""
    return 4.0 if m.precision in ("fp32", "tf32") else 2.0


def _activation_bytes_per_token_layer(spec: ModelSpec, m: MemoryInputs, seq: int) -> float:
    a = _act_bytes(m)
    d, hd = spec.d_model, spec.hd
    qkv = (spec.n_head + 2 * spec.kv_heads) * hd
    attn_out = spec.n_head * hd
    mlp = (3 if spec.gated else 2) * spec.ffn_hidden
    qk_norm = (spec.n_head + spec.kv_heads) * hd if spec.qk_norm else 0
    # eager saves each norm's input and output and QK-norm's input; under torch.compile the
    # min-cut partitioner recomputes the norm outputs in backward instead
    elems = 2 * d + qkv + mlp if m.compiled else 4 * d + qkv + qk_norm + mlp
    internals = a * attn_out + 4.0 * spec.n_head  # attention output + fp32 log-sum-exp
    if m.attention_impl == "eager":
        internals += a * spec.n_head * seq  # the softmax probabilities, T keys per query
    if m.dropout > 0:  # dropout keeps 1-byte masks for backward (fused attention kernels
        # regenerate theirs from the RNG state; eager attention keeps the T x T one)
        internals += 2 * d + (spec.n_head * seq if m.attention_impl == "eager" else 0)
    if m.act_ckpt == "selective":
        internals = 0.0
    if m.act_ckpt == "selective-op":  # block input, every other matmul output, SDPA's output
        mm_out = qkv + d + (2 if spec.gated else 1) * spec.ffn_hidden + d
        elems = d + mm_out // 2
    return a * elems + internals


def _replicated_bytes_per_token_layer(spec: ModelSpec, m: MemoryInputs) -> float:
    """The d_model-wide part of a layer's saved activations, which sequence parallelism shards
    and plain tensor parallelism keeps whole on every rank."""
    a = _act_bytes(m)
    if m.act_ckpt == "selective-op":  # the block input
        return a * spec.d_model
    d = spec.d_model
    norms = 2 * d if m.compiled else 4 * d
    masks = 2 * d if m.dropout > 0 else 0
    return a * norms + masks


def activation_bytes(spec: ModelSpec, m: MemoryInputs, par: Parallel) -> float:
    """Activations saved for backward on the busiest GPU (pipeline stage 0)."""
    tokens = m.micro_batch * spec.seq_len / par.cp
    layers = -(-spec.n_layer // par.pp)
    per_layer = _activation_bytes_per_token_layer(spec, m, spec.seq_len) * tokens / par.tp
    a = _act_bytes(m)
    replicated = 1.0
    if par.tp > 1 and not par.sequence_parallel:
        # without sequence parallelism the d_model-wide tensors (norm inputs and outputs,
        # residual stream, dropout masks, a checkpointed layer input) sit whole on every
        # tensor-parallel rank (Korthikanti et al. 2022, Table 2: 10 sbh unsharded)
        replicated = float(par.tp)
        per_layer += _replicated_bytes_per_token_layer(spec, m) * tokens * (1 - 1 / par.tp)
    in_flight = par.pp if par.pp > 1 else 1  # 1F1B: stage 0 holds pp micro-batches
    if m.act_ckpt == "full":
        # every in-flight micro-batch keeps its layer inputs; one layer's full activations
        # exist only while that layer is recomputed for the micro-batch in backward
        inputs = layers * a * spec.d_model * tokens / par.tp * replicated
        return inputs * in_flight + per_layer
    return layers * per_layer * in_flight


def logits_bytes(spec: ModelSpec, m: MemoryInputs, par: Parallel) -> float:
    tokens = m.micro_batch * spec.seq_len / par.cp
    per_entry = 6.0 + (8.0 if spec.logit_softcap and not m.compiled else 0.0)
    return tokens * spec.vocab / par.tp * per_entry


def peak_memory(
    spec: ModelSpec, m: MemoryInputs, par: Parallel, *, offload: str = "none"
) -> Memory:
    """Peak bytes on the busiest GPU, and the host RAM that offload needs."""
    blocks, head, tables = _parameter_classes(spec, par)
    p = _b(m.param_dtype, "fp32")
    g = _b(m.grad_dtype, m.param_dtype)
    e = _b(m.embedding_dtype, m.param_dtype)
    c = _act_bytes(m)
    dense = blocks + head
    s_dense = _b(m.state_dtype, m.master_dtype or m.param_dtype)
    s_table = _b(m.state_dtype, m.master_dtype or m.embedding_dtype or m.param_dtype)
    states = (
        blocks * _state_bytes(m.optimizer, s_dense, matrix=True)
        + head * _state_bytes(m.optimizer, s_dense, matrix=False)
        + tables * _state_bytes(m.optimizer, s_table, matrix=False)
    )
    master = (dense + tables) * _b(m.master_dtype, "fp32") if m.master_dtype else 0.0
    weights = dense * p + tables * e
    grads = dense * g + tables * e
    dp = par.replicas
    optimizer = (states + master) / (dp if par.zero_stage >= 1 else 1)
    if par.zero_stage >= 2:
        grads /= dp
    layer = (blocks / max(1, -(-spec.n_layer // par.pp))) * c
    buffers = 0.0
    if par.zero_stage >= 3:
        weights /= dp
        buffers += 2 * layer  # the layer in use and the one being prefetched
    elif dp > 1 and par.zero_stage == 0:
        buffers += grads  # DDP's flat gradient buckets
    host = 0.0
    if offload != "none":
        host = optimizer + (dense + tables) * (4.0 + g)  # fp32 master + gradients on the host
        optimizer = 0.0
        weights = (dense + tables) * c
        grads = (dense + tables) * c / (dp if par.zero_stage >= 2 else 1)
        if offload == "optimizer+params":
            host += weights
            weights = 2 * layer
    temporaries = 0.0
    if offload == "none":
        shards = dp if par.zero_stage >= 1 else 1
        temporaries = _optimizer_temporaries(
            spec,
            m,
            par,
            adam_params=((head + tables) if m.optimizer == "muon" else (dense + tables)) / shards,
            state_bytes=s_dense,
        )
    return Memory(
        weights=weights,
        gradients=grads,
        optimizer=optimizer,
        activations=activation_bytes(spec, m, par),
        logits=logits_bytes(spec, m, par),
        buffers=buffers,
        optimizer_temporaries=temporaries,
        host=host,
    )


def _optimizer_temporaries(
    spec: ModelSpec, m: MemoryInputs, par: Parallel, *, adam_params: float, state_bytes: float
) -> float:
    """Working memory of the optimizer step, after activations are freed: PyTorch's default
    (foreach) AdamW allocates a state-sized temporary (the square root of the second moment,
    torch/optim/adamw.py ``_multi_tensor_adamw``); Muon's Newton-Schulz works on bf16 copies of
    the largest matrix (X, A = X X^T, B = bA + cA^2)."""
    temp = adam_params * state_bytes if m.optimizer in ("adamw", "muon") else 0.0
    if m.optimizer == "muon":
        d, f = spec.d_model, spec.ffn_hidden / par.tp
        temp += 2.0 * (d * f + 2 * min(d, f) ** 2)
    return temp
