"""The optimizer: its state in memory, and the time of its update.

Each optimizer is data (``data/optimizers.toml``, :class:`~traintime.specs.OptimizerSpec`);
the formulas are here, named once and used by both the memory and the time model.

* State: ``moments`` tensors per parameter of ``moment_bytes`` each (else the state dtype's
  size) plus quantization scales; Adafactor's factored second moment keeps one row and one
  column per matrix (Shazeer & Stern 2018, section 3) instead of a full tensor.
* Update traffic per parameter (fused / foreach kernels): read the weight and its gradient,
  read and write every moment, write the weight, plus the optimizer's extra full passes:
  ``2p + g + 2 x moments x s + extra x s`` bytes (AdamW in fp32: 28 B, PyTorch ``_fused_adamw``).
* Muon (Jordan et al. 2024; nanochat): for each block matrix (m <= n after transposing), the
  momentum update, then ``iterations`` Newton-Schulz steps, each ``A = X X^T`` (m x m x n),
  ``B = bA + cA^2`` (m x m x m) and ``X = aX + BX`` (m x n x m) in bf16, then the weight
  update. Embeddings and the LM head use the ``fallback`` optimizer (AdamW).
* With ZeRO (stage >= 1, and nanochat's owner-sharded DistMuon/DistAdamW) each data-parallel
  rank updates 1/dp of the parameters.
"""

from __future__ import annotations

from traintime.engine.device import Device
from traintime.engine.numerics import dtype_bytes
from traintime.engine.ops import Op
from traintime.specs import ModelSpec, OptimizerSpec


def newton_schulz_flops(rows: int, cols: int, iterations: int) -> float:
    """FLOPs of ``iterations`` Newton-Schulz steps on a rows x cols matrix (m = min, n = max):
    ``X X^T`` 2 m^2 n, ``A^2`` 2 m^3 and ``B X`` 2 m^2 n per step."""
    m, n = min(rows, cols), max(rows, cols)
    return iterations * (4.0 * m * m * n + 2.0 * m**3)


def moment_bytes(opt: OptimizerSpec, state_dtype: str) -> float:
    """Bytes per parameter of one moment tensor, quantization scales included."""
    base = opt.moment_bytes if opt.moment_bytes is not None else dtype_bytes(state_dtype)
    return base + opt.scale_bytes


def state_bytes(
    opt: OptimizerSpec, params: float, state_dtype: str, *, rows_cols: float = 0.0
) -> float:
    """Optimizer state of ``params`` parameters. A factored optimizer keeps ``rows_cols``
    elements (the rows plus columns of those parameters' matrices) instead of full moments."""
    if opt.factored:
        return rows_cols * dtype_bytes(state_dtype)
    return opt.moments * moment_bytes(opt, state_dtype) * params


def update_bytes_per_param(opt: OptimizerSpec, *, param: str, grad: str, state: str) -> float:
    """Bytes one parameter's update moves through memory."""
    s = 0.0 if opt.factored else moment_bytes(opt, state)
    moments = 2 * opt.moments * s + opt.extra_passes * dtype_bytes(state)
    return 2 * dtype_bytes(param) + dtype_bytes(grad) + moments


def update_time(
    params: float,
    opt: OptimizerSpec,
    *,
    param_dtype: str,
    grad_dtype: str,
    state_dtype: str,
    dev: Device,
) -> Op:
    """An element-wise optimizer (AdamW, SGD, Adafactor, 8-bit Adam) on ``params`` parameters."""
    per_param = update_bytes_per_param(opt, param=param_dtype, grad=grad_dtype, state=state_dtype)
    return Op(
        "optimizer.update",
        "optimizer",
        dev.memory_time(per_param * params, opt.kernels),
        0,
        opt.kernels,
    )


def muon_matrices(spec: ModelSpec, tp: int, layers: int) -> list[tuple[int, int, int]]:
    """(rows, cols, count) of the block matrices Muon orthogonalizes on one GPU."""
    d, hd = spec.d_model, spec.hd
    q, kv = spec.n_head * hd // tp, spec.kv_heads * hd // tp
    f = spec.ffn_hidden // tp
    mats = [(d, max(q, 1), 1), (d, max(kv, 1), 2), (max(q, 1), d, 1)]
    mats += [(d, max(f, 1), 2 if spec.gated else 1), (max(f, 1), d, 1)]
    return [(m, n, c * layers) for m, n, c in mats]


def matrix_params(spec: ModelSpec, tp: int, layers: int) -> float:
    """Parameters in the block matrices of one GPU's share."""
    return float(sum(m * n * c for m, n, c in muon_matrices(spec, tp, layers)))


def muon_compute(
    spec: ModelSpec, opt: OptimizerSpec, *, tp: int, layers: int, dev: Device
) -> tuple[float, float, int]:
    """(seconds, FLOPs, kernels) of the Newton-Schulz GEMMs for one GPU's matrices, in bf16
    (memoized on the Device)."""
    key = ("muon", spec, opt.iterations, tp, layers)
    if key not in dev.memo:
        dev.memo[key] = _muon_compute(spec, opt, tp=tp, layers=layers, dev=dev)
    return dev.memo[key]  # type: ignore[return-value]


def _muon_compute(
    spec: ModelSpec, opt: OptimizerSpec, *, tp: int, layers: int, dev: Device
) -> tuple[float, float, int]:
    seconds, flops, kernels = 0.0, 0.0, 0
    for rows, cols, count in muon_matrices(spec, tp, layers):
        m, n = min(rows, cols), max(rows, cols)
        ok = dev.aligned(m, n, precision="bf16", elt=2.0)
        per_iter = (
            dev.gemm_time(m, m, n, precision="bf16", elt=2.0, aligned=ok)
            + dev.gemm_time(m, m, m, precision="bf16", elt=2.0, aligned=ok)
            + dev.gemm_time(m, n, m, precision="bf16", elt=2.0, aligned=ok)
        )
        seconds += count * opt.iterations * per_iter
        flops += count * newton_schulz_flops(m, n, opt.iterations)
        kernels += count * (opt.iterations * 4 + 6)
    return seconds, flops, kernels


def muon_update_bytes_per_param(*, param: str, grad: str, state: str) -> float:
    """Muon's element-wise traffic per matrix parameter: read the gradient, read and write the
    momentum, read and write the weight, and write then read the bf16 copy Newton-Schulz runs
    on."""
    bf16 = dtype_bytes("bf16")
    return dtype_bytes(grad) + 2 * dtype_bytes(state) + 2 * dtype_bytes(param) + 2 * bf16


def muon_time(
    spec: ModelSpec,
    opt: OptimizerSpec,
    *,
    tp: int,
    layers: int,
    shards: int,
    grad_dtype: str,
    param_dtype: str,
    state_dtype: str,
    dev: Device,
) -> Op:
    """Newton-Schulz GEMMs and momentum/update traffic for this GPU's share of matrices."""
    seconds, flops, kernels = muon_compute(spec, opt, tp=tp, layers=layers, dev=dev)
    params = matrix_params(spec, tp, layers)
    per = muon_update_bytes_per_param(param=param_dtype, grad=grad_dtype, state=state_dtype)
    traffic = dev.memory_time(params * per, 1)
    share = 1.0 / shards
    return Op(
        "optimizer.muon",
        "optimizer",
        (seconds + traffic) * share,
        flops * share,
        max(1, int(kernels * share)),
    )
