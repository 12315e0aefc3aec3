"""Real PyTorch models built from a traintime :class:`~traintime.specs.ModelSpec`.

:func:`build_model` returns nanochat's GPT for the nanochat families (:mod:`.nanochat`) and a
generic pre-norm decoder for every other family, parameterised by the spec so that its parameters
are exactly engine/params.py's ``count_params(spec).total`` (multi-token-prediction layers, which
``total`` leaves out, are not built). The generic decoder follows Hugging Face's modelling code
for the families the catalog holds (Llama, Qwen2/3, Mistral, Gemma 2/3, OLMo 2, Phi-3, GPT-2,
Pythia, MPT, Mixtral, OLMoE, Qwen3-MoE, DeepSeek-V2/V3, gpt-oss, Llama 4, SmolLM3):

* token embedding, learned positions (``position == "learned"``: ``position_rows`` rows), rotary
  (half-split, base 10,000; skipped on ``no_rope_layers`` layers, every
  ``n_layer // no_rope_layers``-th as Llama 4 and SmolLM3 place them) or ALiBi (MPT);
* per block ``norms_per_layer`` norms (2: before attention and MLP; 4: Gemma's pre and post
  norms), RMSNorm or LayerNorm with the spec's weight and bias, and a final norm;
* attention with grouped-query heads of ``head_dim``, biases per ``attn_bias`` ("qkv": q, k, v;
  "all": also the output), q/k norms (weighted per head or over the whole projection per
  ``qk_norm_width``, parameter-free otherwise), per-head sinks, sliding windows per
  ``layer_windows``, logit soft-capping; or DeepSeek's multi-head latent attention;
* a dense MLP (gated for SwiGLU/GeGLU, biases per ``mlp_bias``) or, after the first
  ``dense_layers`` layers, the mixture of experts of :mod:`.moe`;
* an LM head (the embedding's transpose when tied) and final-logit soft-capping.

Numerical details that change no shapes (init scales, Gemma's embedding scale, norm epsilons,
OLMo 2's post-norm order) follow one convention rather than each family's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from traintime.errors import SpecError
from traintime.probe.layers import (
    CHECKPOINT_MODES,
    MLP,
    Norm,
    alibi_slopes,
    apply_rotary,
    attend,
    rms,
    rotary_tables,
    run_checkpointed,
)
from traintime.probe.moe import MoE
from traintime.probe.nanochat import NanochatGPT
from traintime.specs import ModelSpec

NANOCHAT_FAMILIES: frozenset[str] = frozenset({"nanochat", "nanochat-jan2026", "nanochat-2026"})
ROPE_BASE = 10_000.0


def build_model(
    spec: ModelSpec,
    *,
    seq_len: int,
    act_ckpt: str = "none",
    embeddings_bf16: bool = False,
) -> nn.Module:
    """The model ``spec`` describes, for sequences of up to ``seq_len`` tokens, on the current
    default device (build under ``with torch.device("meta"):`` to count parameters for free).

    ``forward(idx [B, T], targets [B, T])`` returns the mean cross-entropy. ``act_ckpt``: "none";
    "full" recomputes every block in the backward (``torch.utils.checkpoint``, non-reentrant);
    "selective" recomputes only the MLPs (dense or MoE), keeping attention's activations.
    ``embeddings_bf16`` stores nanochat's ``wte`` (and 2026 value embeddings) in bf16 as nanochat
    does when it trains in bf16; other families keep fp32 parameters."""
    if act_ckpt not in CHECKPOINT_MODES:
        raise SpecError(f"act_ckpt={act_ckpt!r} is not supported; allowed {list(CHECKPOINT_MODES)}")
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 2:
        raise SpecError(f"seq_len={seq_len!r} must be a whole number of tokens >= 2")
    rows = spec.position_rows
    if rows and seq_len > rows:
        raise SpecError(
            f"seq_len={seq_len} exceeds {spec.name}'s learned position table of {rows} rows; "
            f"allowed seq_len <= {rows}"
        )
    if spec.family in NANOCHAT_FAMILIES:
        return NanochatGPT(
            spec, seq_len=seq_len, act_ckpt=act_ckpt, embeddings_bf16=embeddings_bf16
        )
    _check_generic(spec)
    return Decoder(spec, seq_len=seq_len, act_ckpt=act_ckpt)


def _check_generic(spec: ModelSpec) -> None:
    """Refuse what the generic decoder cannot build with engine/params.py's count."""
    extras = {
        "value_embed_layers": spec.value_embed_layers,
        "extra_matmul_params": spec.extra_matmul_params,
        "extra_lookup_params": spec.extra_lookup_params,
        "scalar_params": spec.scalar_params,
    }
    for name, value in extras.items():
        if value:
            raise SpecError(
                f"{name}={value} in family {spec.family!r}: only the nanochat families "
                f"({', '.join(sorted(NANOCHAT_FAMILIES))}) have that structure; allowed 0"
            )
    if spec.norms_per_layer not in (2, 4):
        raise SpecError(
            f"norms_per_layer={spec.norms_per_layer} is not built; allowed 2 (pre-norm) or 4 "
            "(Gemma's pre and post norms)"
        )
    if spec.mla and (spec.attn_bias != "none" or spec.qk_norm):
        raise SpecError(
            "latent attention (kv_lora_rank) with attn_bias or qk_norm is not built; "
            "allowed attn_bias='none', qk_norm=false"
        )
    if spec.no_rope_layers > spec.n_layer:
        raise SpecError(f"no_rope_layers={spec.no_rope_layers} exceeds n_layer={spec.n_layer}")
    if spec.position == "rotary" and spec.qk_head_dim % 2:
        raise SpecError(f"head_dim={spec.qk_head_dim} must be even for rotary embeddings")
    if spec.mla and spec.qk_rope_head_dim % 2:
        raise SpecError(f"qk_rope_head_dim={spec.qk_rope_head_dim} must be even for rotary")


def nope_layer_ids(n_layer: int, count: int) -> set[int]:
    """Layers without rotary: every ``n_layer // count``-th (Llama 4 and SmolLM3 put NoPE on
    every 4th layer, ``(i + 1) % 4 == 0``), ``count`` of them."""
    if not count:
        return set()
    every = max(1, n_layer // count)
    return set([i for i in range(n_layer) if (i + 1) % every == 0][:count])


class _Rotary(nn.Module):
    """Holds the cos/sin tables (buffers, not parameters) and applies them."""

    def __init__(self, seq_len: int, rot_dim: int) -> None:
        super().__init__()
        cos, sin = rotary_tables(seq_len, rot_dim, base=ROPE_BASE)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_rotary(x, self.cos, self.sin)


class Attention(nn.Module):
    """Multi-head attention with grouped-query heads (engine/params.py
    ``attention_weights_per_layer`` and ``attention_small_per_layer``)."""

    def __init__(self, spec: ModelSpec, *, window: int, rotary: _Rotary | None) -> None:
        super().__init__()
        d, h, kv, hd = spec.d_model, spec.n_head, spec.kv_heads, spec.hd
        self.n_head, self.n_kv_head, self.head_dim = h, kv, hd
        qkv_bias = spec.attn_bias != "none"
        self.q = nn.Linear(d, h * hd, bias=qkv_bias)
        self.k = nn.Linear(d, kv * hd, bias=qkv_bias)
        self.v = nn.Linear(d, kv * hd, bias=qkv_bias)
        self.o = nn.Linear(h * hd, d, bias=spec.attn_bias == "all")
        width = spec.qk_norm_width
        self.qk_norm = spec.qk_norm
        self.q_norm = self.k_norm = None
        if width == "head":  # Qwen3, Gemma 3: RMSNorm(head_dim) on each head
            self.q_norm, self.k_norm = Norm(hd), Norm(hd)
        elif width == "full":  # OLMo 2, OLMoE: RMSNorm over the whole projection
            self.q_norm, self.k_norm = Norm(h * hd), Norm(kv * hd)
        self.full_width_norm = width == "full"
        self.sinks = nn.Parameter(torch.zeros(h)) if spec.attn_sinks else None
        self.window = window
        self.rotary = rotary
        self.softcap = spec.attn_logit_softcap
        slopes = alibi_slopes(h) if spec.position == "alibi" else None
        self.register_buffer("slopes", slopes, persistent=False)

    def _norm_qk(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.q_norm is not None and self.k_norm is not None:
            return self.q_norm(q), self.k_norm(k)
        if self.qk_norm:  # Llama 4's parameter-free q/k norm
            return rms(q), rms(k)
        return q, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k = self.q(x), self.k(x)
        if self.full_width_norm:
            q, k = self._norm_qk(q, k)
        q = q.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.v(x).view(b, t, self.n_kv_head, self.head_dim).transpose(1, 2)
        if not self.full_width_norm:
            q, k = self._norm_qk(q, k)
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        y = attend(
            q, k, v, window=self.window, sinks=self.sinks, slopes=self.slopes, softcap=self.softcap
        )
        return self.o(y.transpose(1, 2).reshape(b, t, -1))


class LatentAttention(nn.Module):
    """DeepSeek-V2/V3 multi-head latent attention (modeling_deepseek_v3.py): q through a
    low-rank ``q_a`` / RMSNorm / ``q_b`` (or one ``q`` projection without ``q_lora_rank``), k and v
    from a shared latent ``kv_a`` (plus one rotary key shared by the heads), RMSNorm, ``kv_b``.
    Heads are ``qk_nope_head_dim + qk_rope_head_dim`` wide for q and k, ``v_head_dim`` for v."""

    def __init__(self, spec: ModelSpec, *, window: int, seq_len: int) -> None:
        super().__init__()
        d, h = spec.d_model, spec.n_head
        self.n_head = h
        self.nope, self.rope, self.v_dim = (
            spec.qk_nope_head_dim,
            spec.qk_rope_head_dim,
            spec.v_head_dim,
        )
        qk = self.nope + self.rope
        r = spec.q_lora_rank
        if r:
            self.q_a: nn.Linear | None = nn.Linear(d, r, bias=False)
            self.q_a_norm: Norm | None = Norm(r)
            self.q_b = nn.Linear(r, h * qk, bias=False)
        else:
            self.q_a, self.q_a_norm = None, None
            self.q_b = nn.Linear(d, h * qk, bias=False)
        self.kv_lora = spec.kv_lora_rank
        self.kv_a = nn.Linear(d, self.kv_lora + self.rope, bias=False)
        self.kv_a_norm = Norm(self.kv_lora)
        self.kv_b = nn.Linear(self.kv_lora, h * (self.nope + self.v_dim), bias=False)
        self.o = nn.Linear(h * self.v_dim, d, bias=False)
        self.rotary = _Rotary(seq_len, self.rope)
        self.window = window

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        h = self.n_head
        if self.q_a is not None and self.q_a_norm is not None:
            q_in = self.q_a_norm(self.q_a(x))
        else:
            q_in = x
        q = self.q_b(q_in).view(b, t, h, -1).transpose(1, 2)
        q_nope, q_rope = q.split([self.nope, self.rope], dim=-1)
        latent, k_rope = self.kv_a(x).split([self.kv_lora, self.rope], dim=-1)
        kv = self.kv_b(self.kv_a_norm(latent)).view(b, t, h, -1).transpose(1, 2)
        k_nope, v = kv.split([self.nope, self.v_dim], dim=-1)
        k_rope = self.rotary(k_rope.view(b, t, 1, self.rope).transpose(1, 2))
        q = torch.cat([q_nope, self.rotary(q_rope)], dim=-1)
        k = torch.cat([k_nope, k_rope.expand(b, h, t, self.rope)], dim=-1)
        y = attend(q, k, v, window=self.window)
        return self.o(y.transpose(1, 2).reshape(b, t, -1))


class Block(nn.Module):
    """One decoder layer: pre-norm attention and MLP with residuals; with four norms, Gemma's
    extra norms on each branch's output before the residual add."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        window: int,
        rotary: _Rotary | None,
        moe: bool,
        seq_len: int,
        ckpt_mlp: bool,
    ) -> None:
        super().__init__()

        def norm() -> Norm:
            return Norm(spec.d_model, kind=spec.norm, weight=spec.norm_weight, bias=spec.norm_bias)

        self.attn_norm, self.mlp_norm = norm(), norm()
        post = spec.norms_per_layer == 4
        self.attn_post_norm = norm() if post else None
        self.mlp_post_norm = norm() if post else None
        self.attn: nn.Module = (
            LatentAttention(spec, window=window, seq_len=seq_len)
            if spec.mla
            else Attention(spec, window=window, rotary=rotary)
        )
        self.mlp: nn.Module = (
            MoE(spec)
            if moe
            else MLP(spec.d_model, spec.ffn_hidden, spec.ffn_act, bias=spec.mlp_bias)
        )
        self.ckpt_mlp = ckpt_mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attn(self.attn_norm(x))
        if self.attn_post_norm is not None:
            a = self.attn_post_norm(a)
        x = x + a
        return x + run_checkpointed(self._mlp, x, enabled=self.ckpt_mlp)

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        m = self.mlp(self.mlp_norm(x))
        return self.mlp_post_norm(m) if self.mlp_post_norm is not None else m


class Decoder(nn.Module):
    """The generic decoder (see the module docstring)."""

    def __init__(self, spec: ModelSpec, *, seq_len: int, act_ckpt: str) -> None:
        super().__init__()
        d, v = spec.d_model, spec.vocab
        self.seq_len = seq_len
        self.wte = nn.Embedding(v, d)
        rows = spec.position_rows
        self.wpe = nn.Embedding(rows, d) if rows else None
        rotary = None
        if spec.position == "rotary" and not spec.mla:
            rotary = _Rotary(seq_len, spec.hd)
        nope = nope_layer_ids(spec.n_layer, spec.no_rope_layers)
        windows = spec.layer_windows(seq_len)
        flags = spec.moe_layer_flags()
        self.blocks = nn.ModuleList(
            Block(
                spec,
                window=windows[i],
                rotary=None if i in nope else rotary,
                moe=flags[i],
                seq_len=seq_len,
                ckpt_mlp=act_ckpt == "selective",
            )
            for i in range(spec.n_layer)
        )
        self.norm_f = Norm(d, kind=spec.norm, weight=spec.norm_weight, bias=spec.norm_bias)
        self.lm_head = None if spec.tied_embeddings else nn.Linear(d, v, bias=False)
        self.softcap = spec.logit_softcap
        self.full_ckpt = act_ckpt == "full"
        self._init_weights(spec)

    @torch.no_grad()
    def _init_weights(self, spec: ModelSpec) -> None:
        """GPT-2's init: normal(0, 0.02) matrices and embeddings, zero biases, output projections
        scaled by 1/sqrt(2 n_layer)."""
        out_std = 0.02 / math.sqrt(2 * spec.n_layer)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                last = name.rsplit(".", 1)[-1]
                std = out_std if last in ("o", "down") else 0.02
                nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        t = idx.size(1)
        if t > self.seq_len:
            raise SpecError(f"sequence of {t} tokens exceeds the model's seq_len={self.seq_len}")
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = run_checkpointed(block, x, enabled=self.full_ckpt)
        x = self.norm_f(x)
        weight = self.lm_head.weight if self.lm_head is not None else self.wte.weight
        logits = F.linear(x, weight).float()
        if self.softcap:
            logits = self.softcap * torch.tanh(logits / self.softcap)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
