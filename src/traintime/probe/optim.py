"""Optimizers as the recipes use them, for timing real training steps.

* ``"adamw"``: ``torch.optim.AdamW`` over every parameter (weight decay on matrices only;
  fused on CUDA, as nanochat's single-GPU AdamW).
* ``"muon"`` (nanochat): Muon on the 2-D matrices inside the blocks (parameters named
  ``blocks.*``, nanochat's ``transformer.h``), AdamW on the rest (embeddings, ``lm_head``,
  value embeddings, gates outside the blocks, scalars and norm weights), with nanochat's
  hyper-parameters (gpt.py ``setup_optimizers`` @ 3a5e0bc: Muon lr 0.02, momentum 0.95 with
  Nesterov; AdamW betas (0.8, 0.95), eps 1e-10, no weight decay, embedding lr 0.2 and head lr
  0.004, both scaled by (d/768)^-0.5). The learning rates do not change the step time.

Muon (Keller Jordan, "Muon: An optimizer for hidden layers in neural networks", 2024): SGD
momentum whose update is replaced by its nearest semi-orthogonal matrix, found by five quintic
Newton-Schulz iterations in bf16 with coefficients (3.4445, -4.7750, 2.0315), scaled by
``sqrt(max(1, rows / cols))``. Written here from the write-up.

Under DDP the gradients are already all-reduced, so every rank runs the same update (nanochat's
``DistMuon`` instead splits the matrices between ranks; the probe times the simple form). Under
FSDP2 the parameters are shards and Newton-Schulz needs whole matrices, so Muon is refused.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from traintime.errors import SpecError

OPTIMIZERS: tuple[str, ...] = ("adamw", "muon")
NS_COEFFS = (3.4445, -4.7750, 2.0315)  # the quintic's (a, b, c), Muon write-up
NS_STEPS = 5


def newton_schulz(g: torch.Tensor, steps: int = NS_STEPS) -> torch.Tensor:
    """An approximately orthogonal matrix with ``g``'s singular vectors (``U V^T`` of its SVD,
    singular values pushed towards 1 by the quintic ``a X + b (X X^T) X + c (X X^T)^2 X``)."""
    a, b, c = NS_COEFFS
    x = g.bfloat16()
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.mT
    x = x / (x.norm() + 1e-7)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.mT if tall else x


class Muon(torch.optim.Optimizer):
    """Muon for 2-D parameters: Nesterov momentum, then the orthogonalised update."""

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        *,
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = NS_STEPS,
    ) -> None:
        defaults = {"lr": lr, "momentum": momentum, "nesterov": nesterov, "ns_steps": ns_steps}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise SpecError(f"Muon takes 2-D matrices, got a parameter of shape {p.shape}")

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad)
                buf = state["momentum_buffer"]
                buf.mul_(mu).add_(p.grad)
                g = p.grad.add(buf, alpha=mu) if group["nesterov"] else buf
                update = newton_schulz(g, group["ns_steps"]).to(p.dtype)
                scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
                p.add_(update, alpha=-group["lr"] * scale)


class OptimizerSet:
    """Several optimizers stepped as one (Muon and AdamW in nanochat)."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        self.optimizers = optimizers

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def zero_grad(self) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)


def _fused(params: list[nn.Parameter], parallel: str) -> bool:
    return parallel != "fsdp2" and bool(params) and all(p.is_cuda for p in params)


def _adamw(model: nn.Module, parallel: str) -> OptimizerSet:
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    opt = torch.optim.AdamW(groups, lr=3e-4, betas=(0.9, 0.95), fused=_fused(params, parallel))
    return OptimizerSet([opt])


def _muon(model: nn.Module, parallel: str) -> OptimizerSet:
    if parallel == "fsdp2":
        raise SpecError(
            "optimizer='muon' under FSDP2 is not supported (Newton-Schulz needs whole matrices, "
            "FSDP2 holds shards); allowed: adamw with fsdp2, or muon with single/ddp"
        )
    matrices: list[nn.Parameter] = []
    embeddings: list[nn.Parameter] = []
    head: list[nn.Parameter] = []
    other: list[nn.Parameter] = []
    embedding_ids = {
        id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding) and m.weight.ndim
    }
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("blocks.") and p.ndim == 2:
            matrices.append(p)
        elif id(p) in embedding_ids:
            embeddings.append(p)
        elif name.startswith("lm_head."):
            head.append(p)
        else:
            other.append(p)
    width = next((p.size(1) for p in embeddings), 768)
    scale = (width / 768) ** -0.5
    groups = [
        {"params": head, "lr": 0.004 * scale},
        {"params": embeddings, "lr": 0.2 * scale},
        {"params": other, "lr": 0.02},
    ]
    groups = [g for g in groups if g["params"]]
    adam_params = head + embeddings + other
    opts: list[torch.optim.Optimizer] = []
    if groups:
        opts.append(
            torch.optim.AdamW(
                groups,
                betas=(0.8, 0.95),
                eps=1e-10,
                weight_decay=0.0,
                fused=_fused(adam_params, parallel),
            )
        )
    if matrices:
        opts.append(Muon(matrices))
    return OptimizerSet(opts)


def build_optimizer(model: nn.Module, name: str, *, parallel: str = "single") -> OptimizerSet:
    """The optimizer ``name`` for ``model`` (unwrapped: parameter names must start at the model,
    not at a DDP ``module.`` prefix); ``parallel`` is "single", "ddp" or "fsdp2"."""
    if name == "adamw":
        return _adamw(model, parallel)
    if name == "muon":
        return _muon(model, parallel)
    raise SpecError(f"optimizer={name!r} is not supported by the probe; allowed {list(OPTIMIZERS)}")
