"""The optimizer step: bytes through memory per parameter, and Muon's Newton-Schulz GEMMs.

* AdamW (fused / foreach): read weight, gradient and both moments, write weight and moments:
  ``2p + g + 4s`` bytes per parameter (28 B in fp32, PyTorch ``_fused_adamw``).
* 8-bit Adam: moments of 1 byte plus block scales; Adafactor: factored second moment, no first
  moment; SGD with momentum: one state.
* Muon (Jordan et al. 2024; nanochat): for each block matrix (m <= n after transposing),
  momentum update (``g + 2s`` bytes), 5 Newton-Schulz iterations, each ``A = X X^T``
  (m x m x n), ``B = bA + cA^2`` (m x m x m) and ``X = aX + BX`` (m x n x m) in bf16, then the
  weight update. Embeddings and the LM head use AdamW.
* With ZeRO (stage >= 1, and nanochat's owner-sharded DistMuon/DistAdamW) each data-parallel
  rank updates 1/dp of the parameters.
"""

from __future__ import annotations

from traintime.engine.device import Device
from traintime.engine.ops import DTYPE_BYTES, Op
from traintime.specs import ModelSpec


def _state_bytes(optimizer: str, state_dtype: str | None) -> tuple[float, int]:
    """(bytes of optimizer state per parameter read+written, kernels per tensor group)."""
    s = DTYPE_BYTES.get(state_dtype or "fp32", 4.0)
    return {
        "adamw": (4 * s, 1),
        "adamw8bit": (4 * 1.0 + 0.1, 2),
        "adafactor": (0.2, 4),
        "sgd": (2 * s, 1),
        "muon": (4 * s, 1),
    }.get(optimizer, (4 * s, 1))


def adam_like_time(
    params: float,
    *,
    optimizer: str,
    param_dtype: str,
    grad_dtype: str,
    state_dtype: str | None,
    dev: Device,
) -> Op:
    state, kernels = _state_bytes(optimizer, state_dtype)
    per_param = 2 * DTYPE_BYTES.get(param_dtype, 4.0) + DTYPE_BYTES.get(grad_dtype, 4.0) + state
    return Op(
        "optimizer.update", "optimizer", dev.memory_time(per_param * params, kernels), 0, kernels
    )


def muon_matrices(spec: ModelSpec, tp: int, layers: int) -> list[tuple[int, int, int]]:
    """(rows, cols, count) of the block matrices Muon orthogonalizes on one GPU."""
    d, hd = spec.d_model, spec.hd
    q, kv = spec.n_head * hd // tp, spec.kv_heads * hd // tp
    f = spec.ffn_hidden // tp
    mats = [(d, max(q, 1), 1), (d, max(kv, 1), 2), (max(q, 1), d, 1)]
    mats += [(d, max(f, 1), 2 if spec.gated else 1), (max(f, 1), d, 1)]
    return [(m, n, c * layers) for m, n, c in mats]


def muon_time(
    spec: ModelSpec,
    *,
    tp: int,
    layers: int,
    shards: int,
    grad_dtype: str,
    param_dtype: str,
    dev: Device,
    iterations: int = 5,
) -> Op:
    """Newton-Schulz GEMMs and momentum/update traffic for this GPU's share of matrices."""
    seconds, flops, kernels, params = 0.0, 0.0, 0, 0.0
    for rows, cols, count in muon_matrices(spec, tp, layers):
        m, n = min(rows, cols), max(rows, cols)
        ok = dev.aligned(m, n, precision="bf16", elt=2.0)
        per_iter = (
            dev.gemm_time(m, m, n, precision="bf16", elt=2.0, aligned=ok)
            + dev.gemm_time(m, m, m, precision="bf16", elt=2.0, aligned=ok)
            + dev.gemm_time(m, n, m, precision="bf16", elt=2.0, aligned=ok)
        )
        seconds += count * iterations * per_iter
        flops += count * iterations * (4.0 * m * m * n + 2.0 * m**3)
        kernels += count * (iterations * 4 + 6)
        params += count * m * n
    g, p = DTYPE_BYTES.get(grad_dtype, 4.0), DTYPE_BYTES.get(param_dtype, 4.0)
    traffic = dev.memory_time(params * (g + 2 * 4.0 + 2 * p + 2.0 * 2), 1)
    share = 1.0 / shards
    return Op(
        "optimizer.muon",
        "optimizer",
        (seconds + traffic) * share,
        flops * share,
        max(1, int(kernels * share)),
    )
