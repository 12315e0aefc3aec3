"""Building blocks shared by the probe's models: norms, rotary embeddings, causal attention with
windows, sinks, ALiBi and soft-capping, and the dense MLP.

Each block holds exactly the parameters :mod:`traintime.engine.params` counts for it; the
numerics follow the architectures closely enough that a training step does the same work
(the same matmuls, the same attention shapes), which is what the probe times.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


class Norm(nn.Module):
    """RMSNorm or LayerNorm over the last ``width`` channels, with an optional weight and bias.

    ``weight=False, bias=False`` is nanochat's parameter-free ``F.rms_norm`` (gpt.py ``norm``);
    a weighted RMSNorm is Llama's, a LayerNorm with bias GPT-2's and Pythia's. engine/params.py
    counts ``width x (weight + bias)`` per norm."""

    def __init__(
        self, width: int, *, kind: str = "rmsnorm", weight: bool = True, bias: bool = False
    ) -> None:
        super().__init__()
        self.width = width
        self.kind = kind
        self.eps = 1e-5 if kind == "layernorm" else 1e-6
        self.weight = nn.Parameter(torch.ones(width)) if weight else None
        self.bias = nn.Parameter(torch.zeros(width)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (self.width,)
        if self.kind == "layernorm":
            return F.layer_norm(x, shape, self.weight, self.bias, self.eps)
        # autocast leaves rms_norm alone: match the weight to the activations (bf16 or fp32)
        weight = self.weight.to(x.dtype) if self.weight is not None else None
        y = F.rms_norm(x, shape, weight, self.eps)
        return y + self.bias.to(x.dtype) if self.bias is not None else y


def rms(x: torch.Tensor) -> torch.Tensor:
    """nanochat's parameter-free RMSNorm over the last dimension (gpt.py ``norm``)."""
    return F.rms_norm(x, (x.size(-1),))


def rotary_tables(seq_len: int, rot_dim: int, *, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of shape ``[seq_len, rot_dim / 2]`` (fp32): RoFormer's frequencies
    ``base^(-2i/rot_dim)``, as nanochat's ``_precompute_rotary_embeddings`` and Hugging Face's
    Llama build them."""
    inv_freq = 1.0 / (base ** (torch.arange(0, rot_dim, 2, dtype=torch.float32) / rot_dim))
    freqs = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    return freqs.cos(), freqs.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the two halves of the last dimension of ``x [B, H, T, D]`` (the half-split
    convention of nanochat's ``apply_rotary_emb`` and Llama's ``rotate_half``)."""
    t, half = x.size(-2), x.size(-1) // 2
    c = cos[:t].to(x.dtype)
    s = sin[:t].to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * c + x2 * s, x2 * c - x1 * s], dim=-1)


def alibi_slopes(n_head: int) -> torch.Tensor:
    """ALiBi's per-head slopes ``2^(-8 i / H)``, i = 1..H (Press et al. 2021, as MPT uses them
    for a power-of-two head count; other counts use the same geometric rule)."""
    return torch.tensor([2.0 ** (-8.0 * (i + 1) / n_head) for i in range(n_head)])


def _bias(
    t: int,
    *,
    window: int,
    slopes: torch.Tensor | None,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Additive attention bias ``[1 or H, T, T]``: 0 where query i may see key j (j <= i and
    i - j < window), -inf elsewhere, plus ALiBi's ``-slope_h (i - j)``."""
    pos = torch.arange(t, device=device)
    dist = pos[:, None] - pos[None, :]
    allowed = (dist >= 0) & (dist < window)
    bias = torch.zeros(t, t, device=device, dtype=dtype).masked_fill(~allowed, float("-inf"))
    bias = bias[None]
    if slopes is not None:
        bias = bias - slopes.to(device=device, dtype=dtype)[:, None, None] * dist.to(dtype)
    return bias


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    window: int,
    sinks: torch.Tensor | None = None,
    slopes: torch.Tensor | None = None,
    softcap: float | None = None,
) -> torch.Tensor:
    """Causal attention of ``q [B, H, T, Dqk]`` over ``k [B, KV, T, Dqk]`` and
    ``v [B, KV, T, Dv]`` (grouped-query when KV < H), each query seeing the last ``window`` keys.

    Plain causal attention goes to ``F.scaled_dot_product_attention(is_causal=True)``; windows
    and ALiBi to it with an additive mask. Sinks (gpt-oss: one learned logit per head in the
    softmax denominator) are an extra zero key and value whose mask entry is the sink logit.
    Attention-logit soft-capping (Gemma 2: ``cap tanh(s / cap)`` before the softmax) has no SDPA
    form, so it runs eagerly."""
    b, h, t, _ = q.shape
    gqa = k.size(1) != h
    if softcap is not None:
        return _attend_eager(q, k, v, window=window, sinks=sinks, slopes=slopes, softcap=softcap)
    if window >= t and sinks is None and slopes is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
    mask = _bias(t, window=window, slopes=slopes, device=q.device, dtype=q.dtype)
    if sinks is not None:
        zeros_k = k.new_zeros(b, k.size(1), 1, k.size(-1))
        zeros_v = v.new_zeros(b, v.size(1), 1, v.size(-1))
        k, v = torch.cat([k, zeros_k], dim=2), torch.cat([v, zeros_v], dim=2)
        sink_col = sinks.to(q.dtype)[:, None, None].expand(h, t, 1)
        mask = torch.cat([mask.expand(h, t, t), sink_col], dim=-1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask[None], enable_gqa=gqa)


def _attend_eager(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    window: int,
    sinks: torch.Tensor | None,
    slopes: torch.Tensor | None,
    softcap: float,
) -> torch.Tensor:
    """Attention written out (scores, soft-cap, mask, softmax in fp32), for soft-capped logits."""
    h, t = q.size(1), q.size(2)
    if k.size(1) != h:
        k = k.repeat_interleave(h // k.size(1), dim=1)
        v = v.repeat_interleave(h // v.size(1), dim=1)
    scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(q.size(-1))
    scores = softcap * torch.tanh(scores / softcap)
    scores = scores + _bias(t, window=window, slopes=slopes, device=q.device, dtype=scores.dtype)
    if sinks is not None:
        sink_col = sinks.float()[None, :, None, None].expand(q.size(0), h, t, 1)
        scores = torch.cat([scores, sink_col], dim=-1)
    probs = scores.softmax(dim=-1)[..., :t].to(v.dtype)
    return probs @ v


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The MLP non-linearity: ReLU^2 (nanochat's ``relu(x).square()``), GELU (tanh form for
    GeGLU, as Gemma's ``gelu_pytorch_tanh``), SiLU for SwiGLU, or ReLU."""
    if name == "relu2":
        return lambda x: F.relu(x).square()
    if name == "relu":
        return F.relu
    if name == "swiglu":
        return F.silu
    if name == "geglu":
        return lambda x: F.gelu(x, approximate="tanh")
    return F.gelu


class MLP(nn.Module):
    """The dense MLP: ``down(act(up x))``, or ``down(act(gate x) * up x)`` when gated (SwiGLU,
    GeGLU). With biases on every matrix it holds ``(2 if gated else 1) f + d`` biases, the count
    of engine/params.py ``mlp_biases_per_layer`` and ``expert_params``."""

    def __init__(self, d_model: int, hidden: int, act: str, *, bias: bool = False) -> None:
        super().__init__()
        self.gated = act in ("swiglu", "geglu")
        self.act = activation(act)
        self.gate = nn.Linear(d_model, hidden, bias=bias) if self.gated else None
        self.up = nn.Linear(d_model, hidden, bias=bias)
        self.down = nn.Linear(hidden, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate is not None:
            return self.down(self.act(self.gate(x)) * self.up(x))
        return self.down(self.act(self.up(x)))


CHECKPOINT_MODES: tuple[str, ...] = ("none", "selective", "full")


def run_checkpointed(fn: Callable[..., Any], *args: Any, enabled: bool) -> Any:
    """``fn(*args)``, recomputed in the backward when ``enabled`` (non-reentrant
    ``torch.utils.checkpoint``) and only while gradients are being recorded."""
    if enabled and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)
