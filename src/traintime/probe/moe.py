"""A mixture-of-experts MLP with the parameters engine/params.py counts for an MoE layer.

Layout (Mixtral, Qwen-MoE, DeepSeek, gpt-oss and Llama 4 in Hugging Face's modelling code):
a router ``Linear(d, n_experts)`` (bias in gpt-oss), ``n_experts`` routed expert MLPs of
``expert_ffn_hidden`` (biases in gpt-oss), and optionally the shared experts as one MLP of
``shared_ffn_hidden`` with a sigmoid gate ``Linear(d, 1)`` (Qwen2-MoE).

Routing is token-choice and dropless: softmax over the router logits, the top-k experts per token,
their weights renormalised to sum to 1. Families score experts differently (DeepSeek-V3's
sigmoid with a bias correction, Llama 4's sigmoid top-1); the work per token, which the probe
times, is the same. Every expert runs, on however many tokens it got (possibly none), so every
parameter takes part in the backward (DDP needs no ``find_unused_parameters``).
"""

from __future__ import annotations

import torch
from torch import nn

from traintime.probe.layers import MLP
from traintime.specs import ModelSpec


class MoE(nn.Module):
    """Routed experts, the router, and shared experts with their optional gate."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        d = spec.d_model
        self.top_k = spec.top_k
        self.router = nn.Linear(d, spec.n_experts, bias=spec.router_bias)
        self.experts = nn.ModuleList(
            MLP(d, spec.expert_ffn_hidden, spec.ffn_act, bias=spec.expert_bias)
            for _ in range(spec.n_experts)
        )
        shared = spec.shared_ffn_hidden
        self.shared = MLP(d, shared, spec.ffn_act) if shared else None
        self.shared_gate = (
            nn.Linear(d, 1, bias=False) if shared and spec.shared_expert_gate else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        probs = self.router(flat).float().softmax(dim=-1)
        weights, chosen = probs.topk(self.top_k, dim=-1)
        weights = (weights / weights.sum(dim=-1, keepdim=True)).to(flat.dtype)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            rows, slot = torch.where(chosen == e)
            y = expert(flat[rows]) * weights[rows, slot, None]
            out = out.index_add(0, rows, y.to(out.dtype))
        if self.shared is not None:
            s = self.shared(flat)
            if self.shared_gate is not None:
                s = torch.sigmoid(self.shared_gate(flat)) * s
            out = out + s.to(out.dtype)
        return out.view(shape)
