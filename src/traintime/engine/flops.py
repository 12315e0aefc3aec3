"""FLOPs per training token, operation by operation, in two conventions.

*Model FLOPs* are what nanochat and PaLM count (PaLM, Chowdhery et al. 2022, appendix B; nanochat
``GPT.estimate_flops``): ``6 x matmul parameters`` plus ``12 x n_head x head_dim x T`` per layer for
attention scores and values, over the full window (capped at T) with no discount for the causal
mask. Recompute and the optimizer are not counted. This is the numerator of the MFU people quote.

*Executed FLOPs* are the matrix-multiply FLOPs the hardware actually runs:

* every weight matmul runs 2 FLOPs per weight forward and 4 backward (input and weight gradients);
  in a mixture of experts a token runs the router, its top-k routed experts and the shared
  experts, so the weights counted are the active ones (the active-parameter convention of
  DeepSeek-V3 and Megatron-Core's MFU);
* attention scores (QK^T) and values (PV) run over the keys each query really visits: with a
  flash kernel only the causal (and windowed) triangle, ``mean_i min(i, w)`` keys; eager attention
  computes the whole T x T matrix and masks it; PyTorch SDPA takes its causal flash path for full
  attention but a dense masked kernel for sliding windows (nanochat base_train warns "SDPA has no
  support for sliding window attention");
* flash backward recomputes the scores: 5 attention matmuls backward against 2 forward, i.e.
  2.5x the forward (Dao 2023, FlashAttention-2, section 4 benchmark convention); eager backward is
  2x the forward;
* activation checkpointing re-runs forward work in the backward pass: ``full`` re-runs every block
  (not the LM head), ``selective`` re-runs the attention core only (Korthikanti et al. 2022,
  "Reducing Activation Recomputation in Large Transformer Models", section 4.2).

A LoRA or QLoRA fine-tune (``finetune``) freezes every base weight: a frozen matmul runs 2 FLOPs
per weight forward and 2 backward for the input gradient, and computes no weight gradient (4N
instead of 6N, in both conventions); the adapters (``engine.lora``) run ``x A^T`` then ``B``,
forward, and their input and weight gradients backward: ``6 x trainable`` per token, plus their
forward again under recompute. Attention is unchanged. Frozen embeddings get no gradient (their
lookup has no FLOPs either way).

Softmax, norms and other element-wise work is memory-bound and counted by the time model in bytes,
not here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from traintime.engine.lora import adapter_split
from traintime.engine.params import attention_weights_per_layer, dense_mlp_layers, matmul_params
from traintime.errors import SpecError
from traintime.specs import AttentionImpl, Checkpointing, ModelSpec

OpKind = Literal["matmul", "attention"]


class OpFlops(BaseModel):
    """One operation's FLOPs per training token (summed over all layers that run it)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    kind: OpKind
    forward: float
    model: float
    executed: float


class FlopsPerToken(BaseModel):
    """FLOPs per training token: both conventions, and the per-operation breakdown."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    model: float
    executed: float
    forward: float
    ops: list[OpFlops]


def causal_mean_keys(seq_len: int, window: int) -> float:
    """Mean number of keys a query attends to under a causal mask and a sliding window.

    Query i (1-based) sees min(i, w) keys: sum = w(w+1)/2 + (T - w) w for w <= T.
    """
    w = min(window, seq_len)
    return (w * (w + 1) / 2 + (seq_len - w) * w) / seq_len


def counted_as(impl: AttentionImpl) -> AttentionImpl:
    """FLOP counting sees three kernel families: fused tiles that skip masked blocks (every
    FlashAttention generation, in CUDA or Triton), SDPA, and eager attention."""
    return "flash" if impl in ("flash3", "triton") else impl


def executed_keys(seq_len: int, window: int, impl: AttentionImpl) -> float:
    """Keys per query that the attention kernel actually computes (see module docstring)."""
    if impl == "eager":
        return float(seq_len)
    if impl == "sdpa" and window < seq_len:
        return float(seq_len)
    return causal_mean_keys(seq_len, window)


def _matmul_op(name: str, weights: float, *, recompute: float, frozen: bool = False) -> OpFlops:
    """``recompute``: the share of the forward run again in backward (1 full checkpointing,
    0.5 torchtitan's op-level policy, which recomputes every other matmul); ``frozen``: no
    weight gradient (forward and input gradient: 2 passes, not 3)."""
    fwd = 2.0 * weights
    passes = 2.0 if frozen else 3.0
    return OpFlops(
        name=name,
        kind="matmul",
        forward=fwd,
        model=passes * fwd,
        executed=fwd * (passes + recompute),
    )


def _attention_ops(
    spec: ModelSpec, seq_len: int, *, impl: AttentionImpl, ckpt: Checkpointing
) -> list[OpFlops]:
    """Scores run over the query/key width (``qk_head_dim``: 192 under DeepSeek's latent
    attention), values over the value width."""
    windows = spec.layer_windows(seq_len)
    model_keys = float(sum(windows))
    exec_keys = sum(executed_keys(seq_len, w, impl) for w in windows)
    backward = 2.5 if impl in ("flash", "sdpa") else 2.0
    recompute = 1.0 if ckpt in ("full", "selective") else 0.0
    ops = []
    widths = {
        "attention.scores": spec.n_head * spec.qk_head_dim,
        "attention.values": spec.n_head * spec.v_dim,
    }
    for name, width in widths.items():
        fwd = 2.0 * width * exec_keys
        ops.append(
            OpFlops(
                name=name,
                kind="attention",
                forward=fwd,
                model=6.0 * width * model_keys,
                executed=fwd * (1.0 + backward + recompute),
            )
        )
    return ops


def _mlp_ops(
    spec: ModelSpec, *, recompute: float, capacity_factor: float, frozen: bool
) -> list[OpFlops]:
    """Dense MLPs; in a mixture of experts the router, the top-k routed experts (padded to
    ``capacity_factor`` when tokens are dropped or padded to a capacity: the padding executes,
    it is not model FLOPs) and the shared experts."""
    mats = 3 if spec.gated else 2
    d = spec.d_model
    ops = []
    kw = {"recompute": recompute, "frozen": frozen}
    dense = dense_mlp_layers(spec) * mats * d * spec.ffn_hidden
    if dense:
        ops.append(_matmul_op("mlp", dense, **kw))
    if spec.moe:
        layers = spec.moe_layers
        ops.append(_matmul_op("moe.router", layers * d * spec.n_experts, **kw))
        experts = _matmul_op(
            "moe.experts", layers * spec.top_k * mats * d * spec.expert_ffn_hidden, **kw
        )
        ops.append(experts.model_copy(update={"executed": experts.executed * capacity_factor}))
        shared = mats * d * spec.shared_ffn_hidden + (d if spec.shared_expert_gate else 0)
        if shared:
            ops.append(_matmul_op("moe.shared", layers * shared, **kw))
    return ops


def adapter_weights_per_token(
    spec: ModelSpec, *, rank: int, targets: frozenset[str]
) -> tuple[float, float]:
    """Adapter weights one token multiplies: (in the blocks, in the output head's adapter). A
    token runs the adapters of its ``top_k`` routed experts, not all ``n_experts``."""
    dense, experts = adapter_split(spec, rank, targets)
    head = rank * (spec.d_model + spec.vocab) if "lm_head" in targets else 0
    routed = experts * spec.top_k / spec.n_experts if spec.moe else 0.0
    return float(dense - head) + routed, float(head)


def flops_per_token(
    spec: ModelSpec,
    *,
    seq_len: int | None = None,
    attention_impl: AttentionImpl = "flash",
    act_ckpt: Checkpointing = "none",
    capacity_factor: float = 1.0,
    finetune: str = "full",
    lora_rank: int = 0,
    lora_targets: frozenset[str] = frozenset(),
) -> FlopsPerToken:
    """FLOPs per token of one training step (forward + backward [+ recompute]); a LoRA or QLoRA
    ``finetune`` (the recipe's ``lora_rank`` and ``lora_targets``) freezes the base (module
    docstring)."""
    if not isinstance(spec, ModelSpec):
        raise SpecError(
            f"flops_per_token takes a ModelSpec, got {type(spec).__name__} {spec!r}: look a "
            "name up first, e.g. flops_per_token(traintime.find_model('gpt2'))"
        )
    t = seq_len or spec.seq_len
    layers = spec.n_layer
    d = spec.d_model
    full = {"full": 1.0, "selective-op": 0.5}.get(act_ckpt, 0.0)
    frozen = finetune != "full"
    out = spec.n_head * spec.v_dim * d
    kw = {"recompute": full, "frozen": frozen}
    ops = [
        _matmul_op("attention.qkv", layers * (attention_weights_per_layer(spec) - out), **kw),
        *_attention_ops(spec, t, impl=attention_impl, ckpt=act_ckpt),
        _matmul_op("attention.out", layers * out, **kw),
        *_mlp_ops(spec, recompute=full, capacity_factor=capacity_factor, frozen=frozen),
    ]
    gates = spec.value_embed_layers * spec.value_embed_gate_in * spec.kv_heads
    if gates or spec.extra_matmul_params:
        ops.append(_matmul_op("gates", gates + spec.extra_matmul_params, **kw))
    ops.append(_matmul_op("lm_head", spec.vocab * d, recompute=0.0, frozen=frozen))
    adapters = 0.0
    if frozen:
        blocks, head = adapter_weights_per_token(spec, rank=lora_rank, targets=lora_targets)
        adapters = blocks + head
        if blocks:
            ops.append(_matmul_op("lora", blocks, recompute=full))
        if head:
            ops.append(_matmul_op("lora.lm_head", head, recompute=0.0))
    result = FlopsPerToken(
        model=sum(op.model for op in ops),
        executed=sum(op.executed for op in ops),
        forward=sum(op.forward for op in ops),
        ops=ops,
    )
    _check_matmul_total(spec, result, frozen=frozen, adapters=adapters)
    return result


def _check_matmul_total(
    spec: ModelSpec, result: FlopsPerToken, *, frozen: bool, adapters: float
) -> None:
    """The per-op matmul model FLOPs must add up to 6 x matmul_params, or for a frozen base
    4 x matmul_params + 6 x the adapters a token runs (an internal invariant)."""
    got = sum(op.model for op in result.ops if op.kind == "matmul")
    want = (4.0 if frozen else 6.0) * matmul_params(spec) + 6.0 * adapters
    if abs(got - want) > 1e-6 * want:
        raise AssertionError(f"matmul FLOPs {got} != {want} (matmul params and adapters)")
