"""nanochat's GPT, rebuilt from a traintime ModelSpec (families ``nanochat``, ``nanochat-jan2026``
and ``nanochat-2026``).

Architecture as summarised in shared/reference/nanochat.md sections 1.1-1.3 (nanochat gpt.py at
3a5e0bc, 348fbb3 and 92d63d4), written anew here:

* all versions: untied ``wte`` and ``lm_head``, no biases, parameter-free RMSNorm (after the
  embedding, before attention and MLP, before the head), rotary embeddings, QK-norm after the
  rotation, ReLU^2 MLP of ``ffn_hidden``, logits soft-capped ``cap tanh(x / cap)`` in fp32, and
  ``wte`` stored in bf16 when training in bf16;
* 2026 (Jan and HEAD): per-layer ``resid_lambdas`` and ``x0_lambdas`` (``x = r_i x + l_i x0``
  before each block), value embeddings ``Embedding(vocab, n_kv_head x head_dim)`` on alternating
  layers ending with the last, mixed into v by ``range x sigmoid(ve_gate(x[..., :C]))`` with
  ``ve_gate = Linear(C -> n_kv_head)`` (C = 32 and range 2 in Jan, 12 and 3 at HEAD), sliding
  windows per ``window_pattern``;
* HEAD: the smear gate ``Linear(24, 1)`` and ``smear_lambda`` (the previous token's embedding
  mixed into the current one), ``backout_lambda`` (the residual after layer L/2 subtracted
  before the final norm), q and k scaled x1.2 after QK-norm, RoPE base 100,000.

Which of these a model has follows from the spec's counts (``value_embed_layers``,
``value_embed_gate_in``, ``scalar_params``, ``extra_matmul_params``), so the parameters equal
engine/params.py's count exactly; a spec whose counts fit no nanochat version is refused.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from traintime.errors import SpecError
from traintime.probe.layers import apply_rotary, attend, rms, rotary_tables, run_checkpointed
from traintime.specs import ModelSpec

SMEAR_CHANNELS = 24  # gpt.py @ 92d63d4: smear_gate = Linear(24, 1)


def value_embed_layer_ids(n_layer: int, count: int) -> list[int]:
    """The layers with a value embedding: nanochat's ``has_ve`` (``i % 2 == (L - 1) % 2``,
    alternating and always the last), which gives ``ceil(L / 2)`` layers; a spec asking for
    another count takes that many from the last layer backwards (alternating first)."""
    alternating = list(range(n_layer - 1, -1, -2))
    rest = list(range(n_layer - 2, -1, -2))
    return sorted((alternating + rest)[:count])


class _Attention(nn.Module):
    def __init__(self, spec: ModelSpec, *, value_gate: bool, head: bool) -> None:
        super().__init__()
        d, h, kv, hd = spec.d_model, spec.n_head, spec.kv_heads, spec.hd
        self.n_head, self.n_kv_head, self.head_dim = h, kv, hd
        self.c_q = nn.Linear(d, h * hd, bias=False)
        self.c_k = nn.Linear(d, kv * hd, bias=False)
        self.c_v = nn.Linear(d, kv * hd, bias=False)
        self.c_proj = nn.Linear(h * hd, d, bias=False)
        self.gate_channels = spec.value_embed_gate_in
        self.ve_gate = nn.Linear(self.gate_channels, kv, bias=False) if value_gate else None
        self.gate_range = 3.0 if head else 2.0
        self.qk_scale = 1.2 if head else 1.0

    def forward(
        self,
        x: torch.Tensor,
        ve: torch.Tensor | None,
        cos: torch.Tensor,
        sin: torch.Tensor,
        window: int,
    ) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.c_q(x).view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = self.c_k(x).view(b, t, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.c_v(x).view(b, t, self.n_kv_head, self.head_dim)
        if ve is not None and self.ve_gate is not None:
            gate = self.gate_range * torch.sigmoid(self.ve_gate(x[..., : self.gate_channels]))
            v = v + gate.unsqueeze(-1) * ve.view_as(v).to(v.dtype)
        v = v.transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        q, k = rms(q) * self.qk_scale, rms(k) * self.qk_scale
        y = attend(q, k, v, window=window)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, -1))


class _MLP(nn.Module):
    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(d_model, hidden, bias=False)
        self.c_proj = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.relu(self.c_fc(x)).square())


class _Block(nn.Module):
    def __init__(self, spec: ModelSpec, *, value_gate: bool, head: bool, ckpt_mlp: bool) -> None:
        super().__init__()
        self.attn = _Attention(spec, value_gate=value_gate, head=head)
        self.mlp = _MLP(spec.d_model, spec.ffn_hidden)
        self.ckpt_mlp = ckpt_mlp

    def forward(
        self,
        x: torch.Tensor,
        ve: torch.Tensor | None,
        cos: torch.Tensor,
        sin: torch.Tensor,
        window: int,
    ) -> torch.Tensor:
        x = x + self.attn(rms(x), ve, cos, sin, window)
        return x + run_checkpointed(self._mlp, x, enabled=self.ckpt_mlp)

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(rms(x))


def _variant(spec: ModelSpec) -> tuple[bool, bool]:
    """(per-layer lambdas, HEAD's smear and backout) from the spec's counts, or SpecError."""
    layers = spec.n_layer
    smear = spec.extra_matmul_params == SMEAR_CHANNELS
    if spec.extra_matmul_params not in (0, SMEAR_CHANNELS):
        raise SpecError(
            f"extra_matmul_params={spec.extra_matmul_params} fits no nanochat version; allowed 0 "
            f"or {SMEAR_CHANNELS} (the smear gate Linear(24, 1))"
        )
    lambdas = spec.scalar_params >= 2 * layers
    expected = (2 * layers if lambdas else 0) + (2 if smear else 0)
    if spec.scalar_params != expected or spec.extra_lookup_params:
        raise SpecError(
            f"scalar_params={spec.scalar_params} and extra_lookup_params="
            f"{spec.extra_lookup_params} fit no nanochat version; allowed scalar_params 0, "
            f"2 x n_layer (resid and x0 lambdas) or 2 x n_layer + 2 with the smear gate "
            f"(smear and backout lambdas), and no extra lookups"
        )
    if smear and spec.d_model < SMEAR_CHANNELS:
        raise SpecError(f"d_model={spec.d_model} is narrower than the smear gate's 24 channels")
    if spec.value_embed_layers and spec.value_embed_gate_in > spec.d_model:
        raise SpecError(
            f"value_embed_gate_in={spec.value_embed_gate_in} exceeds d_model={spec.d_model}"
        )
    return lambdas, smear


class NanochatGPT(nn.Module):
    """nanochat's GPT (see the module docstring); ``forward(idx, targets)`` returns the mean
    cross-entropy. ``act_ckpt``: "full" recomputes each block, "selective" each MLP."""

    def __init__(
        self, spec: ModelSpec, *, seq_len: int, act_ckpt: str, embeddings_bf16: bool
    ) -> None:
        super().__init__()
        lambdas, smear = _variant(spec)
        head = spec.family == "nanochat-2026"
        d, v, layers = spec.d_model, spec.vocab, spec.n_layer
        ve_ids = value_embed_layer_ids(layers, spec.value_embed_layers)
        self.wte = nn.Embedding(v, d)
        self.blocks = nn.ModuleList(
            _Block(spec, value_gate=i in ve_ids, head=head, ckpt_mlp=act_ckpt == "selective")
            for i in range(layers)
        )
        self.lm_head = nn.Linear(d, v, bias=False)
        self.value_embeds = nn.ModuleDict(
            {str(i): nn.Embedding(v, spec.kv_heads * spec.hd) for i in ve_ids}
        )
        self.resid_lambdas = nn.Parameter(torch.ones(layers)) if lambdas else None
        self.x0_lambdas = nn.Parameter(torch.full((layers,), 0.1)) if lambdas else None
        self.smear_gate = nn.Linear(SMEAR_CHANNELS, 1, bias=False) if smear else None
        self.smear_lambda = nn.Parameter(torch.zeros(1)) if smear else None
        self.backout_lambda = nn.Parameter(torch.full((1,), 0.2)) if smear else None
        self.windows = spec.layer_windows(seq_len)
        self.seq_len = seq_len
        self.softcap = spec.logit_softcap
        self.full_ckpt = act_ckpt == "full"
        cos, sin = rotary_tables(seq_len, spec.hd, base=100_000.0 if head else 10_000.0)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self._init_weights()
        if embeddings_bf16:  # gpt.py: "optim can tolerate it and it saves memory"
            self.wte.to(torch.bfloat16)
            if head or spec.family == "nanochat-jan2026":
                self.value_embeds.to(torch.bfloat16)

    @torch.no_grad()
    def _init_weights(self) -> None:
        """nanochat's init at HEAD (gpt.py ``init_weights``): projections and ``lm_head`` near
        zero, the rest uniform of std 1/sqrt(d)."""
        s = 3**0.5 * self.wte.embedding_dim**-0.5
        nn.init.normal_(self.wte.weight, std=0.8)
        nn.init.normal_(self.lm_head.weight, std=0.001)
        for block in self.blocks:
            for lin in (block.attn.c_q, block.attn.c_k, block.attn.c_v):
                nn.init.uniform_(lin.weight, -s, s)
            nn.init.uniform_(block.mlp.c_fc.weight, -0.4 * s, 0.4 * s)
            nn.init.zeros_(block.attn.c_proj.weight)
            nn.init.zeros_(block.mlp.c_proj.weight)
            if block.attn.ve_gate is not None:
                nn.init.uniform_(block.attn.ve_gate.weight, 0.0, 0.02)
        for emb in self.value_embeds.values():
            nn.init.uniform_(emb.weight, -s, s)
        if self.smear_gate is not None:
            nn.init.uniform_(self.smear_gate.weight, 0.0, 0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        t = idx.size(1)
        if t > self.seq_len:
            raise SpecError(f"sequence of {t} tokens exceeds the model's seq_len={self.seq_len}")
        x = rms(self.wte(idx))
        if self.smear_gate is not None and self.smear_lambda is not None:
            gate = self.smear_lambda.to(x.dtype) * torch.sigmoid(
                self.smear_gate(x[:, 1:, :SMEAR_CHANNELS])
            )
            x = torch.cat([x[:, :1], x[:, 1:] + gate.to(x.dtype) * x[:, :-1]], dim=1)
        x0 = x
        backout_at = len(self.blocks) // 2
        x_backout = None
        for i, block in enumerate(self.blocks):
            if self.resid_lambdas is not None and self.x0_lambdas is not None:
                x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
            key = str(i)
            ve = self.value_embeds[key](idx) if key in self.value_embeds else None
            args = (x, ve, self.cos, self.sin, self.windows[i])
            x = run_checkpointed(block, *args, enabled=self.full_ckpt)
            if i == backout_at:
                x_backout = x
        if self.backout_lambda is not None and x_backout is not None:
            x = x - self.backout_lambda.to(x.dtype) * x_backout
        logits = self.lm_head(rms(x)).float()
        if self.softcap:
            logits = self.softcap * torch.tanh(logits / self.softcap)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
