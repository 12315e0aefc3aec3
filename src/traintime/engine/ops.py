"""The operations of one forward + backward micro-step on one GPU, each timed on a Device.

For every transformer block (layers of this pipeline stage, tensor-parallel shards of width
1/tp) the step runs:

* GEMMs with their real shapes: forward ``[tokens, K] x [K, N]``, backward data gradient
  ``[tokens, N] x [N, K]`` and weight gradient ``[K, tokens] x [tokens, N]``;
* the attention core: a fused flash/SDPA kernel over the keys it really visits
  (``flops.executed_keys``), or eager attention, which materializes the T x T scores
  (two batched GEMMs plus softmax passes over B*H*T^2 elements);
* element-wise work, counted in bytes: norms, rotary, residual adds, the MLP activation,
  dropout if any, and their backward passes; under torch.compile each chain between GEMMs is
  one fused kernel that reads its inputs and writes its outputs once, in eager mode every op
  does;
* the LM head and the loss over the vocabulary (fp32 logits; nanochat's tanh softcap adds
  passes in eager mode), the embedding gather and its gradient;
* weight traffic: casting fp32 master weights to the compute dtype each micro-step, casting the
  gradient back, and accumulating it (read + add + write) across micro-steps;
* recompute: ``full`` checkpointing re-runs each block's forward, ``selective`` the attention
  core (Korthikanti et al. 2022).

FP8 (torchao/TE tensorwise), MXFP8 and NVFP4: block GEMMs at the format's rate, plus quantizing
each operand (``numerics.LOW_GEMM``).

A LoRA or QLoRA fine-tune (``Recipe.finetune``) freezes the base: its GEMMs skip the weight
gradient and keep the data gradient; each adapted linear (``engine.lora``) adds ``x A^T``
(K = d_in, N = r) and ``(x A^T) B^T`` (K = r) forward, their data and weight gradients backward
(tiny-K GEMMs the shape model runs far below peak), and PEFT's element-wise work around them;
a quantized base (bitsandbytes NF4, int8, GPTQ) dequantizes each frozen linear's weight for
every GEMM that reads it (``Recipe.dequant_bytes`` per weight: forward, data gradient, and again
under recompute; bitsandbytes ``MatMul4Bit`` calls ``dequantize_4bit`` in forward and in
backward). Frozen embeddings get no gradient.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from traintime.engine.device import Device, vector_elements
from traintime.engine.flops import counted_as, executed_keys
from traintime.engine.lora import (
    Linear,
    adapted_linears,
    adapter_dtype,
    block_linears,
    casts_input,
    head_linear,
    lora,
    quantized,
)
from traintime.engine.moe import grouped_gemm_time, grouped_wgrad_time, routing
from traintime.engine.numerics import (
    LOW_GEMM,
    GemmFormat,
    compute_bytes,
    compute_dtype,
    dtype_bytes,
    outside_fp8,
)
from traintime.specs import Efficiency, Layout, ModelSpec, Recipe


@dataclass(frozen=True, slots=True)
class Op:
    """A timed piece of work: ``seconds`` on the GPU, ``kernels`` launches, executed FLOPs."""

    name: str
    category: str
    seconds: float
    flops: float = 0.0
    kernels: int = 1


@dataclass(frozen=True, slots=True)
class Stage:
    """One GPU's share of a micro-step: the candidate's recipe and layout, and what they imply
    for this GPU (the busiest pipeline stage, one tensor shard)."""

    recipe: Recipe
    layout: Layout
    seq_len: int
    layers: int
    accum_steps: int
    params_local: float
    lookup_params_local: float
    expert_params_local: float = 0.0
    trainable_local: float | None = None  # adapters on this GPU; None: every parameter trains
    quantized_local: float = 0.0  # frozen linear weights stored quantized on this GPU

    @property
    def tokens(self) -> int:
        """Tokens this GPU processes per micro-step (its 1/cp of each sequence)."""
        return self.recipe.micro_batch * math.ceil(self.seq_len / self.layout.cp)

    @property
    def precision(self) -> str:
        """Precision of everything but the fp8 block GEMMs."""
        return outside_fp8(self.recipe.precision)

    @property
    def fp8(self) -> bool:
        """Whether the block GEMMs run in a low-precision format (fp8, mxfp8, nvfp4)."""
        return self.recipe.precision in LOW_GEMM

    @property
    def low(self) -> GemmFormat:
        """The block GEMMs' low-precision format (only when ``fp8``)."""
        return LOW_GEMM[self.recipe.precision]

    @property
    def act_bytes(self) -> float:
        return compute_bytes(self.recipe.precision)

    @property
    def compute_dtype(self) -> str:
        return compute_dtype(self.recipe.precision)

    @property
    def tp(self) -> int:
        return self.layout.tp

    @property
    def composite_ops(self) -> bool:
        return self.recipe.norm_kernels == "composite" and not self.recipe.compiled

    @property
    def frozen(self) -> bool:
        """Whether the base weights are frozen (a LoRA or QLoRA fine-tune)."""
        return lora(self.recipe)

    @property
    def dequant(self) -> float:
        """Bytes one dequantization of a frozen linear weight moves (0: not quantized)."""
        return self.recipe.dequant_bytes if quantized(self.recipe) else 0.0


def _linear(
    dev: Device,
    ms: Stage,
    name: str,
    k: int,
    n: int,
    *,
    fp8: bool,
    forward_only: bool = False,
    frozen: bool = False,
) -> list[Op]:
    """Forward, data-gradient and weight-gradient GEMMs of one [k -> n] linear layer; a
    ``frozen`` weight has no weight gradient."""
    t = ms.tokens
    prec = ms.low.rate if fp8 else ms.precision
    elt = ms.low.operand_bytes if fp8 else ms.act_bytes
    # weights are stored [n, k] and activations [tokens, features]: k and n are the rows'
    # lengths, the token count never is
    aligned = dev.aligned(n, k, precision=prec, elt=elt)
    fwd = dev.gemm_time(t, n, k, precision=prec, elt=elt, aligned=aligned)
    ops = [Op(f"{name}.fwd", "matmul", fwd, 2.0 * t * n * k)]
    q = ms.low.quantize_bytes if fp8 else 0.0
    if fp8:  # quantize both operands (numerics.LOW_GEMM)
        ops.append(Op(f"{name}.fp8_cast", "memory", dev.memory_time(q * (t * k + k * n), 2), 0, 2))
    if forward_only:
        return ops
    dgrad = dev.gemm_time(t, k, n, precision=prec, elt=elt, aligned=aligned)
    ops.append(Op(f"{name}.dgrad", "matmul", dgrad, 2.0 * t * n * k))
    if not frozen:
        wgrad = dev.gemm_time(k, n, t, precision=prec, elt=elt, aligned=aligned)
        ops.append(Op(f"{name}.wgrad", "matmul", wgrad, 2.0 * t * n * k))
    if fp8:  # the output gradient for each backward GEMM, and the weight
        grads = 1 if frozen else 2
        ops.append(
            Op(
                f"{name}.fp8_cast_bwd",
                "memory",
                dev.memory_time(q * (grads * t * n + k * n), 2),
                0,
                2,
            )
        )
    return ops


def _adapter_width(lin: Linear, ms: Stage) -> tuple[int, int]:
    """(d_in, d_out) of an adapted linear on one rank: tensor parallelism splits its base's
    parallel side (expert tensor parallelism a routed expert's)."""
    ways = ms.layout.etp if lin.expert else ms.tp
    if lin.split == "out":
        return lin.d_in, max(1, lin.d_out // ways)
    if lin.split == "in":
        return max(1, lin.d_in // ways), lin.d_out
    return lin.d_in, lin.d_out


def _adapter_elementwise(
    dev: Device, ms: Stage, lins: list[tuple[int, int]], rows: float
) -> tuple[Op, Op]:
    """PEFT's element-wise work around the adapters ((d_in, d_out) each, on ``rows`` rows):
    forward ``lora_B(...) * scaling`` (2 n a bytes) and ``result + ...`` (3 n a); backward the
    scaling's gradient (2 n a) and the adapter's input gradient summed into the layer's (3 k a).
    bitsandbytes layers clone the base output first ("defensively clone", peft lora/bnb.py:
    2 n a); casting layers (:func:`casts_input`) move ``(2 a + 8) k`` each way. Compiled: one
    fused kernel each way, ``3 n a`` forward and ``(n + 3 k) a`` backward."""
    a = ms.act_bytes
    if ms.recipe.compiled:
        fwd = sum(3 * n * a for _, n in lins)
        bwd = sum((n + 3 * k) * a for k, n in lins)
        kernels = len(lins)
        return (
            Op("lora.elementwise.fwd", "memory", dev.memory_time(rows * fwd, kernels), 0, kernels),
            Op("lora.elementwise.bwd", "memory", dev.memory_time(rows * bwd, kernels), 0, kernels),
        )
    clone = 2.0 if quantized(ms.recipe) else 0.0
    cast = (2 * a + 8) if casts_input(ms.recipe) else 0.0
    fwd = sum((5 + clone) * n * a + cast * k for k, n in lins)
    bwd = sum(2 * n * a + 3 * k * a + cast * k for k, n in lins)
    kf = len(lins) * (2 + (1 if clone else 0) + (2 if cast else 0))
    kb = len(lins) * (2 + (2 if cast else 0))
    return (
        Op("lora.elementwise.fwd", "memory", dev.memory_time(rows * fwd, kf), 0, kf),
        Op("lora.elementwise.bwd", "memory", dev.memory_time(rows * bwd, kb), 0, kb),
    )


def _adapter_gemms(dev: Device, ms: Stage, name: str, k: int, n: int) -> tuple[list[Op], list[Op]]:
    """One adapter on a [k -> n] linear, forward and backward: ``h = x A^T`` ([t, k] x [k, r])
    and ``h B^T`` ([t, r] x [r, n]); backward ``dh = dY B``, ``dB = dY^T h``, ``dA = dh^T x``
    and ``dx = dh A``, in the compute dtype (autocast)."""
    t, r = ms.tokens, ms.recipe.lora_rank
    kw = {"precision": ms.precision, "elt": ms.act_bytes}
    aligned = dev.aligned(k, n, r, **kw)
    fa, fb = 2.0 * t * r * k, 2.0 * t * r * n
    forward = [
        Op(f"{name}.lora_a.fwd", "matmul", dev.gemm_time(t, r, k, **kw, aligned=aligned), fa),
        Op(f"{name}.lora_b.fwd", "matmul", dev.gemm_time(t, n, r, **kw, aligned=aligned), fb),
    ]
    backward = [
        Op(f"{name}.lora_b.dgrad", "matmul", dev.gemm_time(t, r, n, **kw, aligned=aligned), fb),
        Op(f"{name}.lora_b.wgrad", "matmul", dev.gemm_time(n, r, t, **kw, aligned=aligned), fb),
        Op(f"{name}.lora_a.wgrad", "matmul", dev.gemm_time(r, k, t, **kw, aligned=aligned), fa),
        Op(f"{name}.lora_a.dgrad", "matmul", dev.gemm_time(t, k, r, **kw, aligned=aligned), fa),
    ]
    return forward, backward


def adapter_ops(ms: Stage, dev: Device, lins: list[Linear]) -> tuple[list[Op], list[Op]]:
    """The adapters of ``lins`` (dense linears of one block, or the output head): their GEMMs
    and element-wise work, forward and backward."""
    forward: list[Op] = []
    backward: list[Op] = []
    widths = [_adapter_width(lin, ms) for lin in lins]
    for lin, (k, n) in zip(lins, widths, strict=True):
        f, b = _adapter_gemms(dev, ms, lin.name, k, n)
        forward += f
        backward += b
    if lins:
        ef, eb = _adapter_elementwise(dev, ms, widths, ms.tokens)
        forward.append(ef)
        backward.append(eb)
    return forward, backward


def _dequant(dev: Device, ms: Stage, name: str, weights: float, kernels: int) -> Op:
    """One dequantization pass over ``weights`` frozen quantized weights (``kernels``
    matrices): ``dequant_bytes`` each (read the packed weight and its constants, write the
    compute-dtype copy the GEMM reads)."""
    return Op(name, "memory", dev.memory_time(ms.dequant * weights, kernels), 0, kernels)


def gemm_widths(spec: ModelSpec) -> dict[str, int]:
    """The feature widths of the model's GEMMs (whole model, before tensor parallelism)."""
    h, d = spec.n_head, spec.d_model
    widths = {"d_model": d, "attention": h * spec.v_dim, "vocabulary": spec.vocab}
    if spec.mla:
        if spec.q_lora_rank:
            widths["q_lora"] = spec.q_lora_rank
        widths |= {
            "q": h * spec.qk_head_dim,
            "kv_a": spec.kv_lora_rank + spec.qk_rope_head_dim,
            "kv_lora": spec.kv_lora_rank,
            "kv_b": h * (spec.qk_nope_head_dim + spec.v_head_dim),
        }
    else:
        widths["qkv"] = (h + 2 * spec.kv_heads) * spec.hd
    up = 2 if spec.gated else 1
    if not spec.moe or spec.dense_layers:
        widths |= {"mlp_up": spec.ffn_hidden * up, "ffn_hidden": spec.ffn_hidden}
    if spec.moe:
        widths |= {
            "experts": spec.n_experts,
            "expert_up": spec.expert_ffn_hidden * up,
            "expert_hidden": spec.expert_ffn_hidden,
        }
        if spec.shared_ffn_hidden:
            widths |= {"shared_up": spec.shared_ffn_hidden * up, "shared": spec.shared_ffn_hidden}
    return widths


#: Widths every tensor-parallel rank holds whole (Megatron replicates MLA's down-projections
#: and the router); expert widths split by expert tensor parallelism instead.
_WHOLE = frozenset({"d_model", "q_lora", "kv_a", "kv_lora", "experts"})
_EXPERT = frozenset({"expert_up", "expert_hidden"})


def _per_rank(width: int, name: str, tp: int, etp: int = 1) -> int:
    if name in _WHOLE:
        return width
    return max(1, width // (etp if name in _EXPERT else tp))


def _block_linears(spec: ModelSpec, ms: Stage, *, moe: bool = False) -> list[tuple[str, int, int]]:
    """The block's weight GEMMs as (name, k, n) per tensor-parallel rank; in an MoE layer the
    dense MLP gives way to the shared experts (the routed experts are :func:`_expert_ops`)."""
    w = {
        name: _per_rank(width, name, ms.tp, ms.layout.etp)
        for name, width in gemm_widths(spec).items()
    }
    if spec.mla:
        d = w["d_model"]
        q = (
            [("attn.q_a", d, w["q_lora"]), ("attn.q_b", w["q_lora"], w["q"])]
            if "q_lora" in w
            else [("attn.q", d, w["q"])]
        )
        attn = [*q, ("attn.kv_a", d, w["kv_a"]), ("attn.kv_b", w["kv_lora"], w["kv_b"])]
    else:
        attn = [("attn.qkv", w["d_model"], w["qkv"])]
    attn.append(("attn.out", w["attention"], w["d_model"]))
    if not moe:
        return [
            *attn,
            ("mlp.up", w["d_model"], w["mlp_up"]),
            ("mlp.down", w["ffn_hidden"], w["d_model"]),
        ]
    if "shared" in w:
        attn += [
            ("moe.shared_up", w["d_model"], w["shared_up"]),
            ("moe.shared_down", w["shared"], w["d_model"]),
        ]
    return attn


@dataclass(frozen=True, slots=True)
class Misaligned:
    """A GEMM feature width whose rows are not 16-byte aligned on this GPU: ``per_rank`` of the
    model's ``width`` elements is not a multiple of ``vector`` (elements per 16-byte load)."""

    name: str
    width: int
    per_rank: int
    vector: int
    tp: int

    @property
    def padded(self) -> int:
        """The nearest larger width that every tensor-parallel rank holds aligned."""
        unit = self.vector * (1 if self.name == "d_model" else self.tp)
        return -(-self.width // unit) * unit


def misaligned(spec: ModelSpec, ms: Stage, dev: Device) -> list[Misaligned]:
    """The widths the GEMMs of :func:`_linear` run unaligned (at ``gemm_unaligned_fraction``):
    the block GEMMs at their precision (fp8 under fp8 training), the LM head at the compute
    precision (memoized on the Device)."""
    key = ("misaligned", spec, ms.recipe.precision, ms.tp, ms.layout.etp)
    if key not in dev.memo:
        dev.memo[key] = _misaligned(spec, ms, dev)
    return list(dev.memo[key])  # type: ignore[call-overload]


def _misaligned(spec: ModelSpec, ms: Stage, dev: Device) -> list[Misaligned]:
    out = []
    for name, width in gemm_widths(spec).items():
        head = name == "vocabulary"
        low = ms.fp8 and not head
        prec = ms.low.rate if low else ms.precision
        elt = ms.low.operand_bytes if low else ms.act_bytes
        rank = _per_rank(width, name, ms.tp, ms.layout.etp)
        if not dev.aligned(rank, precision=prec, elt=elt):
            out.append(Misaligned(name, width, rank, vector_elements(elt), ms.tp))
    return out


def _tile_waste(keys: float, windowed: bool, eff: Efficiency) -> float:
    """Work of a fused causal kernel relative to the attention it was calibrated on: each query
    computes about half a tile of masked keys on the diagonal (and another at a sliding
    window's far edge) beside its ``keys`` useful ones (FlashAttention-2 section 3.1.1)."""
    half = eff.attention_tile / 2
    ref_keys = (eff.attention_reference_seq + 1) / 2  # causal, full attention
    waste = (keys + half * (2 if windowed else 1)) / max(keys, 1.0)
    return waste / ((ref_keys + half) / ref_keys)


def _attention(spec: ModelSpec, ms: Stage, dev: Device, window: int) -> tuple[Op, Op]:
    """Forward and backward of the attention core for one layer."""
    heads = max(1, spec.n_head // ms.tp)
    t, b, hd = ms.seq_len, ms.recipe.micro_batch, spec.hd
    qk, v = spec.qk_head_dim, spec.v_dim
    queries = b * math.ceil(t / ms.layout.cp)
    impl = (
        "eager"
        if (ms.recipe.attention_impl == "sdpa" and dev.gpu.vendor == "Apple")
        else ms.recipe.attention_impl
    )  # PyTorch MPS has no fused attention kernel: SDPA runs its math path
    keys = executed_keys(t, window, counted_as(impl))  # type: ignore[arg-type]
    fwd_flops = 2.0 * queries * heads * (qk + v) * keys
    masked = impl == "sdpa" and window < t
    if impl == "eager":
        score_elems = b * heads * math.ceil(t / ms.layout.cp) * t
        gemm = 2 * dev.gemm_time(
            t,
            t,
            hd,
            precision=ms.precision,
            elt=ms.act_bytes,
            batch=b * heads,
            aligned=dev.aligned(t, hd, precision=ms.precision, elt=ms.act_bytes),
        )
        # scores written, masked, softmax read/write, probabilities read by PV: six passes
        # forward, eight backward, each of one activation-sized element per score, plus any
        # dropout on the probabilities; a logit soft-cap (Gemma 2: tanh(s / c) c) reads and
        # writes the scores twice more each way
        a, drop = ms.act_bytes, _dropout_bytes(ms)
        cap = 4 * a if spec.attn_logit_softcap else 0.0
        fwd = gemm + dev.memory_time((6 * a + cap + drop) * score_elems, 3)
        bwd = 2 * gemm + dev.memory_time((8 * a + cap + drop) * score_elems, 3)
        return (
            Op("attn.core.fwd", "attention", fwd, fwd_flops, 5),
            Op("attn.core.bwd", "attention", bwd, 2 * fwd_flops, 7),
        )
    kv_heads = max(1, spec.kv_heads // ms.tp)
    qkvo_bytes = ms.act_bytes * queries * (heads * qk + kv_heads * (qk + v) + heads * v)
    # masked SDPA runs the dense T x T problem: no diagonal tiles to count
    tiles = 1.0 if masked else _tile_waste(keys, window < t, dev.eff)
    fwd = dev.attention_time(
        tiles * fwd_flops,
        qkvo_bytes,
        impl=impl,
        precision=ms.compute_dtype,
        masked=masked,
        head_dim=qk,
    )
    bwd = dev.attention_time(
        tiles * 2.5 * fwd_flops,
        2 * qkvo_bytes,
        impl=impl,
        precision=ms.compute_dtype,
        masked=masked,
        backward=True,
        head_dim=qk,
    )
    return (
        Op("attn.core.fwd", "attention", fwd, fwd_flops),
        Op("attn.core.bwd", "attention", bwd, 2.5 * fwd_flops, 2),
    )


def _norm_width(spec: ModelSpec, ms: Stage) -> float:
    """The d_model-wide work one rank does per token: all of it, or its 1/tp share under
    sequence parallelism (Korthikanti et al. 2022, section 4.2.2)."""
    return spec.d_model / ms.tp if ms.layout.sequence_parallel else float(spec.d_model)


def _elementwise(spec: ModelSpec, ms: Stage, dev: Device, *, moe: bool = False) -> tuple[Op, Op]:
    """Norms, rotary, residual adds and the activation of one block, forward and backward. With
    sequence parallelism each tensor-parallel rank runs the d_model-wide work (norms, residual
    adds, dropout) on its 1/tp share of the tokens (Korthikanti et al. 2022, section 4.2.2);
    without it every rank repeats that work on all tokens. ``moe``: the layer's MLP is a
    mixture of experts."""
    a, t, d = ms.act_bytes, ms.tokens, _norm_width(spec, ms)
    # an MoE layer's activation runs in its shared experts here, its routed experts'
    # in _expert_ops
    f = (spec.shared_ffn_hidden if moe else spec.ffn_hidden) / ms.tp
    qk = (spec.n_head + spec.kv_heads) * spec.hd / ms.tp
    gated = spec.gated
    # rotary on every layer but the no-positional-encoding ones (SmolLM3, Llama 4)
    rope_share = 1.0 - spec.no_rope_layers / spec.n_layer
    rot = 2 * qk * rope_share if spec.position == "rotary" else 0.0
    qkn = 2 * qk if spec.qk_norm else 0.0
    if ms.recipe.compiled:  # fused: (add + norm) x 2, rotary (+ qk-norm), activation
        fwd = 8 * d + rot + (3 * f if gated else 2 * f)
        bwd = 8 * d + rot + qkn + (5 * f if gated else 3 * f)
        kf, kb = 4, 6
    else:  # every op reads its inputs and writes its output
        fwd = 2 * (2 * d) + 2 * (3 * d) + rot + qkn + (3 * f if gated else 2 * f)
        bwd = 2 * (3 * d) + 2 * (3 * d) + rot + 1.5 * qkn + (5 * f if gated else 3 * f)
        kf, kb = 10 + (4 if spec.qk_norm else 0), 16 + (6 if spec.qk_norm else 0)
    if spec.mlp_bias or spec.attn_bias != "none":  # bias gradients: one more read of dY
        bwd += d + f
    xf, xb, xkf, xkb = _composite(spec, ms) if ms.composite_ops else (0.0, 0.0, 0, 0)
    if ms.recipe.dropout > 0:  # on the attention and MLP outputs
        xf, xb = xf + 2 * d * _dropout_bytes(ms), xb + 2 * d * _dropout_bytes(ms)
        if not ms.recipe.compiled:
            xkf, xkb = xkf + 2, xkb + 2
    kf, kb = kf + xkf, kb + xkb
    return (
        Op("elementwise.fwd", "memory", dev.memory_time(t * (a * fwd + xf), kf), 0, kf),
        Op("elementwise.bwd", "memory", dev.memory_time(t * (a * bwd + xb), kb), 0, kb),
    )


def _dropout_bytes(ms: Stage) -> float:
    """Bytes per dropped element, forward and again backward. Dropout keeps a 1-byte mask for
    backward; eager ``nn.Dropout`` also reads x and writes y (backward: reads the gradient and
    the mask, writes the result). Compiled, the random draw and the scaling fuse into the
    neighbouring kernels and only the mask's write and read remain: AOTAutograd saves random
    ops' results rather than recomputing them (``functionalize_rng_ops`` off by default,
    torch/_functorch/config.py)."""
    if ms.recipe.dropout <= 0:
        return 0.0
    return 1.0 if ms.recipe.compiled else 2 * ms.act_bytes + 1


def _composite(spec: ModelSpec, ms: Stage) -> tuple[float, float, int, int]:
    """Bytes per token (forward, backward) and kernels that eager PyTorch adds when RMSNorm and
    rotary are written as tensor ops instead of fused kernels (``norm_kernels = composite``).

    * RMSNorm as tensor ops (Hugging Face, torchtitan, Meta's reference Llama; PyTorch's own
      ``F.rms_norm`` until its CUDA kernel, pytorch/pytorch#153666, 2025): upcast to fp32,
      square, mean, rsqrt, scale, downcast, weight: ``28 + 4a`` bytes per element forward
      instead of the fused ``2a``, and through autograd ``56 + 7a`` backward instead of ``3a``
      (a = activation bytes). LayerNorm has a fused kernel in eager PyTorch and adds nothing.
    * Rotary as ``q cos + rotate_half(q) sin``: negate, concatenate, two products and a sum,
      ``10a`` bytes per element of q and k forward instead of ``2a``, ``8a`` backward.
    Measured: torchtitan's Llama 3.1 8B on 8 x H100 runs 16% faster under torch.compile
    (5,762 -> 6,667 tokens/s/GPU, docs/performance.md), which fuses these chains."""
    a, d = ms.act_bytes, _norm_width(spec, ms)
    qk = (spec.n_head + spec.kv_heads) * spec.hd / ms.tp
    fwd = bwd = 0.0
    kf = kb = 0
    if spec.norm == "rmsnorm":
        elems = 2 * d + (qk if spec.qk_norm else 0.0)
        fwd, bwd = elems * (28 + 2 * a), elems * (56 + 4 * a)
        kf, kb = 12, 22
    if spec.position == "rotary":
        fwd, bwd = fwd + qk * 8 * a, bwd + qk * 6 * a
        kf, kb = kf + 8, kb + 8
    return fwd, bwd, kf, kb


def _expert_ops(spec: ModelSpec, ms: Stage, dev: Device, *, fp8: bool) -> tuple[list[Op], list[Op]]:
    """The routed experts of one MoE layer on the busiest expert rank, forward and backward:
    router, permute, grouped GEMMs, activation, unpermute (engine/moe.py); under a frozen base,
    no weight gradients, the experts' adapters as grouped GEMMs, and any dequantization."""
    layout, r = ms.layout, ms.recipe
    rt = routing(
        spec, tokens=ms.tokens, tp=layout.tp, ep=layout.ep, etp=layout.etp, load=r.expert_load
    )
    a, d, e = ms.act_bytes, spec.d_model, spec.n_experts
    prec = ms.low.rate if fp8 else ms.precision
    elt = ms.low.operand_bytes if fp8 else a
    up = (2 if spec.gated else 1) * spec.expert_ffn_hidden // layout.etp
    hidden = max(1, spec.expert_ffn_hidden // layout.etp)
    g, m = rt.local_experts, rt.per_expert
    executed = rt.copies / r.expert_load * r.padding  # token copies whose FLOPs run, on average
    frozen = ms.frozen

    def grouped(name: str, k: int, n: int) -> tuple[Op, list[Op]]:
        kw = {"groups": g, "precision": prec, "elt": elt}
        flops = 2.0 * executed * k * n
        fwd = Op(f"{name}.fwd", "matmul", grouped_gemm_time(dev, m, n, k, **kw), flops)
        bwd = [Op(f"{name}.dgrad", "matmul", grouped_gemm_time(dev, m, k, n, **kw), flops)]
        if not frozen:
            bwd.append(Op(f"{name}.wgrad", "matmul", grouped_wgrad_time(dev, m, n, k, **kw), flops))
        return fwd, bwd

    fc1, fc2 = grouped("moe.fc1", d, up), grouped("moe.fc2", hidden, d)
    router_n = max(1, e // layout.tp)
    router = _linear(dev, ms, "moe.router", d, router_n, fp8=False, frozen=frozen)
    scores = rt.tokens * e * dtype_bytes("fp32")
    moved = a * (rt.tokens + rt.copies) * d  # one read and one write of every token copy
    act_f, act_b = (3, 5) if spec.gated else (2, 3)
    forward = [
        router[0],
        Op("moe.route.fwd", "memory", dev.memory_time(4 * scores, 4), 0, 4),
        Op("moe.permute.fwd", "memory", dev.memory_time(moved, 2), 0, 2),
        fc1[0],
        Op("moe.act.fwd", "memory", dev.memory_time(a * act_f * hidden * rt.copies), 0, 1),
        fc2[0],
        Op("moe.unpermute.fwd", "memory", dev.memory_time(moved, 2), 0, 2),
    ]
    backward = [
        *router[1:],
        Op("moe.route.bwd", "memory", dev.memory_time(4 * scores, 4), 0, 4),
        Op("moe.permute.bwd", "memory", dev.memory_time(moved, 2), 0, 2),
        *fc1[1],
        Op("moe.act.bwd", "memory", dev.memory_time(a * act_b * hidden * rt.copies), 0, 1),
        *fc2[1],
        Op("moe.unpermute.bwd", "memory", dev.memory_time(2 * moved, 2), 0, 2),
    ]
    if fp8:  # quantize each GEMM's input and weights, forward and backward
        cast = ms.low.quantize_bytes * (rt.copies * (d + hidden) + g * (d * up + hidden * d))
        forward.append(Op("moe.fp8_cast", "memory", dev.memory_time(cast, 2), 0, 2))
        backward.append(Op("moe.fp8_cast_bwd", "memory", dev.memory_time(2 * cast, 2), 0, 2))
    if frozen:
        lins = [lin for lin in block_linears(spec, moe=True) if lin.expert and _adapted(lin, ms)]
        f, b = _expert_adapters(dev, ms, lins, rows=m, groups=g, executed=executed)
        forward += f
        backward += b
        if ms.dequant:  # each local expert's matrices and the router, per pass
            weights = g * (d * up + hidden * d) + d * router_n
            kernels = g * (3 if spec.gated else 2) + 1
            forward.append(_dequant(dev, ms, "moe.dequant.fwd", weights, kernels))
            backward.append(_dequant(dev, ms, "moe.dequant.bwd", weights, kernels))
    return forward, backward


def _adapted(lin: Linear, ms: Stage) -> bool:
    return bool(lin.modules & ms.recipe.lora_targets)


def _expert_adapters(
    dev: Device, ms: Stage, lins: list[Linear], *, rows: float, groups: int, executed: float
) -> tuple[list[Op], list[Op]]:
    """The routed experts' adapters as grouped GEMMs (``groups`` local experts of ``rows`` token
    copies each, ``executed`` copies in all), like their base GEMMs (:func:`_adapter_gemms`)."""
    r = ms.recipe.lora_rank
    kw = {"groups": groups, "precision": ms.precision, "elt": ms.act_bytes}
    forward: list[Op] = []
    backward: list[Op] = []
    widths = [_adapter_width(lin, ms) for lin in lins]
    for lin, (k, n) in zip(lins, widths, strict=True):
        fa, fb = 2.0 * executed * r * k, 2.0 * executed * r * n
        name = f"moe.{lin.name}"
        forward += [
            Op(f"{name}.lora_a.fwd", "matmul", grouped_gemm_time(dev, rows, r, k, **kw), fa),
            Op(f"{name}.lora_b.fwd", "matmul", grouped_gemm_time(dev, rows, n, r, **kw), fb),
        ]
        backward += [
            Op(f"{name}.lora_b.dgrad", "matmul", grouped_gemm_time(dev, rows, r, n, **kw), fb),
            Op(f"{name}.lora_b.wgrad", "matmul", grouped_wgrad_time(dev, rows, r, n, **kw), fb),
            Op(f"{name}.lora_a.wgrad", "matmul", grouped_wgrad_time(dev, rows, k, r, **kw), fa),
            Op(f"{name}.lora_a.dgrad", "matmul", grouped_gemm_time(dev, rows, k, r, **kw), fa),
        ]
    if lins:
        ef, eb = _adapter_elementwise(dev, ms, widths, rows * groups)
        forward.append(ef)
        backward.append(eb)
    return forward, backward


def block_ops(
    spec: ModelSpec, ms: Stage, dev: Device, window: int, *, fp8: bool, moe: bool = False
) -> list[Op]:
    """One transformer block (an MoE layer when ``moe``): forward, backward and any
    recompute."""
    linears = _block_linears(spec, ms, moe=moe)
    ops: list[Op] = []
    for name, k, n in linears:
        ops += _linear(dev, ms, name, k, n, fp8=fp8, frozen=ms.frozen)
    attn_fwd, attn_bwd = _attention(spec, ms, dev, window)
    elem_fwd, elem_bwd = _elementwise(spec, ms, dev, moe=moe)
    ops += [attn_fwd, attn_bwd, elem_fwd, elem_bwd]
    experts_fwd: list[Op] = []
    if moe:
        experts_fwd, experts_bwd = _expert_ops(spec, ms, dev, fp8=fp8)
        ops += experts_fwd + experts_bwd
    frozen_fwd: list[Op] = []  # the adapters' forward and the dequantization, rerun on recompute
    if ms.frozen:
        frozen_fwd, frozen_bwd = _frozen_block_ops(spec, ms, dev, linears, moe=moe)
        ops += frozen_fwd + frozen_bwd
    if ms.recipe.act_ckpt == "full":
        for name, k, n in linears:
            ops += [
                _recompute(op) for op in _linear(dev, ms, name, k, n, fp8=fp8, forward_only=True)
            ]
        ops += [_recompute(attn_fwd), _recompute(elem_fwd)]
        ops += [_recompute(op) for op in experts_fwd + frozen_fwd]
    elif ms.recipe.act_ckpt == "selective":
        ops.append(_recompute(attn_fwd))
    elif ms.recipe.act_ckpt == "selective-op":  # torchtitan: every other matmul and the cheap ops
        for name, k, n in linears:
            ops += [
                scaled(_recompute(op), 0.5)
                for op in _linear(dev, ms, name, k, n, fp8=fp8, forward_only=True)
            ]
        ops.append(_recompute(elem_fwd))
        ops += [scaled(_recompute(op), 0.5) for op in experts_fwd + frozen_fwd]
    return ops


def _frozen_block_ops(
    spec: ModelSpec, ms: Stage, dev: Device, linears: list[tuple[str, int, int]], *, moe: bool
) -> tuple[list[Op], list[Op]]:
    """A frozen block's adapters (its dense linears'; routed experts' are in
    :func:`_expert_ops`) and the dequantization of its quantized linears ((name, k, n) on this
    rank), forward and backward."""
    lins = [lin for lin in block_linears(spec, moe=moe) if not lin.expert]
    forward, backward = adapter_ops(ms, dev, [lin for lin in lins if _adapted(lin, ms)])
    if ms.dequant:
        weights = float(sum(k * n for _, k, n in linears))
        forward.append(_dequant(dev, ms, "dequant.fwd", weights, len(lins)))
        backward.append(_dequant(dev, ms, "dequant.bwd", weights, len(lins)))
    return forward, backward


def scaled(op: Op, times: float) -> Op:
    """``op`` repeated ``times`` times."""
    return Op(
        op.name, op.category, op.seconds * times, op.flops * times, int(round(op.kernels * times))
    )


def _recompute(op: Op) -> Op:
    name = op.name.replace(".fwd", ".recompute")
    if name == op.name:
        name += ".recompute"
    return Op(name, op.category, op.seconds, op.flops, op.kernels)


def head_ops(spec: ModelSpec, ms: Stage, dev: Device) -> list[Op]:
    """Final norm, LM head, loss over the (vocab-parallel) logits, embedding and its grad."""
    t, d, a = ms.tokens, spec.d_model, ms.act_bytes
    v = spec.vocab / ms.tp
    vocab = _per_rank(spec.vocab, "vocabulary", ms.tp)
    ops = _linear(dev, ms, "lm_head", d, vocab, fp8=False, frozen=ms.frozen)
    head = head_linear(spec)
    if ms.frozen and _adapted(head, ms):
        forward, backward = adapter_ops(ms, dev, [head])
        ops += forward + backward
    loss = ms.recipe.loss_impl
    if loss == "fused":  # one kernel reads the bf16 logits twice and writes their gradient
        per_token, kernels = 6.0 * v, 1
    elif loss == "compiled":  # fused cast + softcap + log-softmax; fp32 logits saved
        per_token, kernels = 16.0 * v, 4
    else:
        per_token = 36.0 * v + (60.0 * v if spec.logit_softcap else 0.0)
        kernels = 8 + (6 if spec.logit_softcap else 0)
    ops.append(
        Op(
            "loss",
            "memory",
            dev.memory_time(per_token * t + 5 * a * d * t, kernels),
            0,
            kernels + 2,
        )
    )
    grad_bytes = dtype_bytes(ms.recipe.embedding_dtype)
    # embedding gathers forward; backward zero-fills and scatter-adds a full gradient per table
    tables = spec.vocab * d + spec.value_embed_layers * spec.vocab * spec.kv_heads * spec.hd
    dropout = 2 * _dropout_bytes(ms) * d * t  # on the embeddings, forward and backward
    if ms.frozen:  # a frozen table gathers forward and has no gradient to fill or scatter
        embed = dev.memory_time(2 * a * d * t + dropout, 1)
        ops.append(Op("embedding", "memory", embed, 0, 1))
        return ops
    embed = dev.memory_time(2 * a * d * t + 2 * grad_bytes * tables / ms.tp + dropout, 3)
    ops.append(Op("embedding", "memory", embed, 0, 3))
    return ops


def _traffic_per_param(p: float, c: float, g: float, accum: int) -> float:
    """Bytes per parameter per micro-step: forward cast p -> c, gradient cast c -> g, and the
    gradient accumulation (first micro-step writes g, later ones read-add-write 3g)."""
    cast = (p + c if p != c else 0.0) + (c + g if g != c else 0.0)
    return cast + g * (1 + 3 * (accum - 1)) / accum


def _adapter_tensor_kernels(spec: ModelSpec, ms: Stage, a: float, c: float, g: float) -> float:
    """Kernels eager PyTorch launches per micro-step for the adapters' own tensors (A and B of
    each adapted matrix on this GPU): autocast casts each fp32 weight to the compute dtype
    once per forward region (again when a checkpointed block is recomputed), autograd casts
    its gradient back, and ``AccumulateGrad`` adds it into ``.grad`` on every micro-step but
    the first. Counted with a dispatch hook on PEFT LoRA (bench/hf_kernel_count.py)."""
    matrices = sum(
        n
        for name, (_, _, n) in adapted_linears(spec, ms.recipe.lora_targets).items()
        if name != "lm_head"
    ) * ms.layers / spec.n_layer + (1 if "lm_head" in ms.recipe.lora_targets else 0)
    casts = (1.0 + (ms.recipe.act_ckpt == "full")) if a != c else 0.0
    casts += 1.0 if g != c else 0.0
    return 2 * matrices * (casts + (ms.accum_steps - 1) / ms.accum_steps)


def weight_traffic(spec: ModelSpec, ms: Stage, dev: Device) -> Op:
    """Per micro-step: cast master weights to the compute dtype, cast gradients back, and
    accumulate them. Lookup tables stored in the compute dtype (nanochat's bf16 embeddings)
    need no cast; their gradients accumulate in their own dtype. Fused (3 kernels), except
    eager LoRA adapters, which are cast and accumulated tensor by tensor."""
    c = dtype_bytes(ms.compute_dtype)
    p = dtype_bytes(ms.recipe.param_dtype)
    g = dtype_bytes(ms.recipe.grad_dtype)
    e = dtype_bytes(ms.recipe.embedding_dtype)
    dense = max(ms.params_local - ms.lookup_params_local, 0.0)
    if ms.trainable_local is not None:  # a frozen base: only the adapters have gradients
        frozen = max(dense - ms.quantized_local, 0.0)  # quantized ones dequantize instead
        a = dtype_bytes(adapter_dtype(ms.recipe))
        nbytes = frozen * (p + c if p != c else 0.0)
        nbytes += ms.trainable_local * _traffic_per_param(a, c, g, ms.accum_steps)
        kernels = (
            3 if ms.recipe.compiled else max(3, round(_adapter_tensor_kernels(spec, ms, a, c, g)))
        )
        return Op("weights.cast_accumulate", "memory", dev.memory_time(nbytes, kernels), 0, kernels)
    nbytes = dense * _traffic_per_param(
        p, c, g, ms.accum_steps
    ) + ms.lookup_params_local * _traffic_per_param(e, c, e, ms.accum_steps)
    return Op("weights.cast_accumulate", "memory", dev.memory_time(nbytes, 3), 0, 3)


def pass_ops(spec: ModelSpec, ms: Stage, dev: Device) -> list[Op]:
    """Every op of one forward + backward pass on the busiest pipeline stage (the one with the
    LM head), without the weight traffic: the same for every ZeRO stage, offload and dtype
    layout, so the planner's candidates share it (memoized on the Device)."""
    memo = dev.memo
    key = _pass_key(spec, ms)
    if key not in memo:
        kinds = list(zip(spec.layer_windows(ms.seq_len), spec.moe_layer_flags(), strict=True))
        # this stage's layers: the last `ms.layers` of the model (they hold the full-attention
        # last layer of windowed patterns, and MoE layers rather than DeepSeek's dense first
        # ones); identical layers are timed once and counted
        ops: list[Op] = []
        for (window, moe), count in Counter(kinds[len(kinds) - ms.layers :]).items():
            block = block_ops(spec, ms, dev, window, fp8=ms.fp8, moe=moe)
            ops += [scaled(op, count) for op in block]
        memo[key] = ops + head_ops(spec, ms, dev)
    return memo[key]  # type: ignore[return-value]


def pass_seconds(spec: ModelSpec, ms: Stage, dev: Device) -> float:
    """The GPU time of :func:`pass_ops` (memoized on the Device)."""
    key = ("seconds", _pass_key(spec, ms))
    if key not in dev.memo:
        dev.memo[key] = sum(op.seconds for op in pass_ops(spec, ms, dev))
    return dev.memo[key]  # type: ignore[return-value]


def _pass_key(spec: ModelSpec, ms: Stage) -> tuple[object, ...]:
    r = ms.recipe
    return (
        spec,
        r.micro_batch,
        r.precision,
        r.compiled,
        r.norm_kernels,
        r.dropout,
        r.attention_impl,
        r.act_ckpt,
        r.loss_impl,
        r.embedding_dtype,
        ms.layout.tp,
        ms.layout.cp,
        ms.layout.sequence_parallel,
        ms.layout.ep,
        ms.layout.etp,
        r.moe_routing,
        r.capacity_factor,
        r.moe_imbalance,
        ms.layers,
        ms.seq_len,
        r.finetune,
        r.lora_rank,
        r.lora_targets,
        r.base_dtype,
        r.dequant_bytes,
        r.grad_dtype if lora(r) else None,  # the adapters' dtype: PEFT's input casts
    )


def microstep_ops(spec: ModelSpec, ms: Stage, dev: Device) -> list[Op]:
    """Every op of one micro-step on the busiest pipeline stage: the pass and the weights'
    casts and gradient accumulation."""
    return [*pass_ops(spec, ms, dev), weight_traffic(spec, ms, dev)]
