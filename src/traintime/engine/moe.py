"""A mixture-of-experts layer on one GPU: router, dispatch, grouped expert GEMMs, shared
experts, combine, and the expert-parallel all-to-all.

Per micro-step each GPU routes the tokens of its tensor-parallel share (``tokens / tp``):

* the router is a ``[tokens, d] x [d, E]`` GEMM; softmax or sigmoid, top-k and the auxiliary
  statistics are memory-bound passes over the ``tokens x E`` scores;
* permute copies each token to its ``top_k`` experts' buffer and unpermute (combine) sums the
  ``top_k`` expert outputs back, weighted by the router's probabilities: memory-bound, one read
  and one write of ``top_k x d`` per token each way (Megatron-Core's fused permute kernels);
* the routed experts run as one grouped GEMM per matrix: ``E / ep`` local experts, each on the
  token copies routed to it, ``m = tokens x top_k x ep / E`` rows on average. Each expert's
  rows fill whole output tiles (a partly filled tile computes in full), and the weight-gradient
  GEMM's depth is those few rows, so small experts with few tokens run far below the dense
  rate. Expert tensor parallelism splits each expert's width ``etp`` ways;
* the busiest expert rank sets the pace: its load is ``Recipe.expert_load`` times the mean
  (1 when routing is forced even, the measured imbalance when dropless, the capacity when a
  capacity factor pads every expert, whose padding executes);
* shared experts are a dense MLP on every token, split by tensor parallelism;
* dispatch and combine move ``top_k x d`` values per token to and from the other ``ep - 1``
  ranks, forward and again backward (``comms.expert_exchange_time``), in the compute dtype:
  Megatron-Core's DeepEP and HybridEP paths send bf16 (its HybridEP asserts "does not support
  fp8 dispatch"), though DeepSeek-V3 dispatched in FP8.

Megatron-Core MoE (Shoeybi et al.; docs "Mixture of Experts", token dispatchers) and
DeepSeek-V3 (DeepSeek-AI 2024, section 3.2: dispatch and combine kernels) describe this data
flow; the grouped GEMM is CUTLASS's / Transformer Engine's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from traintime.engine.device import Device
from traintime.specs import ModelSpec


@dataclass(frozen=True, slots=True)
class Routing:
    """What one GPU's experts see per micro-step.

    ``tokens``: tokens this GPU routes (its tensor-parallel share); ``copies``: token copies its
    local experts compute on the busiest rank (load and padding included); ``per_expert``:
    rows of each local expert's GEMMs; ``local_experts``: experts on this GPU."""

    tokens: float
    copies: float
    per_expert: float
    local_experts: int


def routing(spec: ModelSpec, *, tokens: float, tp: int, ep: int, etp: int, load: float) -> Routing:
    """Token copies per expert on the busiest expert rank (module docstring)."""
    routed = tokens / tp
    local = max(1, spec.n_experts // ep)
    copies = routed * spec.top_k * etp * load
    return Routing(tokens=routed, copies=copies, per_expert=copies / local, local_experts=local)


def grouped_gemm_time(
    dev: Device, m: float, n: int, k: int, *, groups: int, precision: str, elt: float
) -> float:
    """``C[m, n] = A[m, k] B[k, n]`` for each of ``groups`` experts in one launch (forward and
    data gradient): ``m``, a mean, may be fractional; each expert's rows fill whole output
    tiles, and the launch runs at the grouped kernel's share of the dense rate
    (``grouped_gemm_fraction``)."""
    if m <= 0:
        return 0.0
    tile = dev.eff.gemm_tile_m
    rows = math.ceil(m / tile) * tile
    return (
        dev.gemm_time(rows, n, k, precision=precision, elt=elt, batch=groups)
        / dev.eff.grouped_gemm_fraction
    )


def grouped_wgrad_time(
    dev: Device, m: float, n: int, k: int, *, groups: int, precision: str, elt: float
) -> float:
    """Each expert's weight gradient ``dW[k, n] = A[m, k]^T dY[m, n]``: a GEMM whose depth is
    the expert's few rows, so its tiles spend most of their time outside the main loop."""
    if m <= 0:
        return 0.0
    depth = max(1, math.ceil(m))
    return (
        dev.gemm_time(k, n, depth, precision=precision, elt=elt, batch=groups)
        / dev.eff.grouped_gemm_fraction
    )
