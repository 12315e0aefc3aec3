"""Micro-benchmarks: the rates the time model assumes, measured on the local device.

One function per family, each returning :class:`Measurement` records whose ``name`` and
``shape`` say what ran, so the caller can ask the model for the same operation:

* :func:`gemm_sweep`: dense matmuls, ``2 M N K`` FLOPs each (NVIDIA, "Matrix Multiplication
  Background User's Guide"), square and transformer-shaped, per precision;
* :func:`attention_sweep`: causal scaled-dot-product attention, forward plus backward, counted
  the way FlashAttention's benchmarks count it (Dao et al. 2022; 2023): ``4 B H T^2 d / 2``
  forward FLOPs when causal, backward 2.5 times the forward;
* :func:`bandwidth_sweep`: memory-bound kernels, bytes counted as STREAM counts them (McCalpin
  1995: copy moves 2 arrays, triad ``a = b + s c`` moves 3), and an RMSNorm-like row norm
  (read once, written once);
* :func:`transfer_sweep`: host <-> device copies, pinned and pageable;
* :func:`memory_overheads`: memory the framework holds beyond the tensors (context, allocator
  slack), or the process's resident set on the CPU;
* :func:`traintime.probe.collectives.run_collectives`: NCCL/RCCL/Gloo bus bandwidth, run when
  more than one GPU is visible.

Shapes are smaller on the CPU (and under ``quick``) so a CPU run takes seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from traintime.probe.collectives import run_collectives
from traintime.probe.env import host_memory_bytes, resolve_kind
from traintime.probe.timing import as_torch_device, time_call
from traintime.probe.types import DeviceKind, Measurement

MIB = 1 << 20
GIB = 1 << 30

_TORCH_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "tf32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


@dataclass(frozen=True)
class Plan:
    """Where and how long to measure: the device, and the timing budget of one measurement."""

    kind: DeviceKind
    quick: bool
    warmup: int
    repeats: int
    min_time_s: float
    max_time_s: float

    @property
    def device(self) -> torch.device:
        return as_torch_device(self.kind)

    @property
    def gpu(self) -> bool:
        """A discrete CUDA/ROCm GPU (MPS shares the host's memory and gets GPU-sized work)."""
        return self.kind in ("cuda", "rocm")

    @property
    def cpu(self) -> bool:
        return self.kind == "cpu"

    def time(self, fn: Callable[[], Any]) -> float:
        """Median seconds per call of ``fn`` under this plan's budget."""
        return time_call(
            fn,
            device=self.device,
            warmup=self.warmup,
            repeats=self.repeats,
            min_time_s=self.min_time_s,
            max_time_s=self.max_time_s,
        )


def plan_for(device: str, *, quick: bool = False) -> Plan:
    """The timing budget for ``device`` (validated; raises SpecError when unavailable)."""
    kind = resolve_kind(device)
    if kind == "cpu":
        return Plan(
            kind,
            quick,
            warmup=1,
            repeats=5,
            min_time_s=0.02 if quick else 0.1,
            max_time_s=0.3 if quick else 2.0,
        )
    return Plan(
        kind,
        quick,
        warmup=3,
        repeats=10 if quick else 20,
        min_time_s=0.03 if quick else 0.1,
        max_time_s=1.0 if quick else 3.0,
    )


def run_micro(device: str, *, quick: bool = False) -> list[Measurement]:
    """Every family on ``device`` ('cuda', 'rocm', 'mps', 'cpu'); collectives when more than
    one GPU is visible. Memory overheads are read after the kernels have run, so the context
    includes the libraries a training step loads (cuBLAS, cuDNN, attention kernels)."""
    plan = plan_for(device, quick=quick)
    out = [
        *gemm_sweep(device, quick=quick),
        *attention_sweep(device, quick=quick),
        *bandwidth_sweep(device, quick=quick),
        *transfer_sweep(device, quick=quick),
        *memory_overheads(device),
    ]
    if plan.gpu and torch.cuda.device_count() > 1:
        torch.cuda.empty_cache()  # leave device 0 to the worker processes
        out += run_collectives(torch.cuda.device_count(), quick=quick, backend=None)
    return out


# --- GEMM -------------------------------------------------------------------------------------


def gemm_shapes(plan: Plan) -> list[tuple[int, int, int]]:
    """(M, N, K) to time: squares, then a transformer's projections for ``tokens`` rows at width
    ``d``: attention-sized (d x d), MLP up (4d x d) and MLP down (d x 4d)."""
    if plan.cpu:
        squares = (256, 512) if plan.quick else (256, 512, 1024)
        tokens, widths = (512,), (256,)
    else:
        squares = (2048, 8192) if plan.quick else (1024, 2048, 4096, 8192)
        tokens = (4096,) if plan.quick else (4096, 16384)
        widths = (4096,) if plan.quick else (1024, 4096)
    shapes = [(s, s, s) for s in squares]
    for m in tokens:
        for d in widths:
            shapes += [(m, d, d), (m, 4 * d, d), (m, d, 4 * d)]
    return list(dict.fromkeys(shapes))


def gemm_precisions(plan: Plan) -> list[str]:
    """Precisions the device runs natively, fastest first. The CPU is timed in fp32 and bf16
    only; TF32 needs NVIDIA Ampere or newer; FP8 (``torch._scaled_mm``) Ada/Hopper or newer."""
    if plan.cpu:
        return ["fp32", "bf16"]
    precisions = []
    if plan.kind == "cuda" and _fp8_supported(plan):
        precisions.append("fp8")
    precisions += [p for p in ("bf16", "fp16") if _matmul_works(plan, _TORCH_DTYPES[p])]
    if plan.kind == "cuda" and torch.cuda.get_device_capability(0) >= (8, 0):
        precisions.append("tf32")
    precisions.append("fp32")
    return precisions


def gemm_sweep(device: str, *, quick: bool = False) -> list[Measurement]:
    """Dense ``C = A B`` rates: ``2 M N K`` FLOPs per call over the median time of a call."""
    plan = plan_for(device, quick=quick)
    out = []
    for precision in gemm_precisions(plan):
        for m, n, k in gemm_shapes(plan):
            fn = _gemm_call(plan, precision, m, n, k)
            seconds = plan.time(fn)
            del fn
            flops = 2.0 * m * n * k
            out.append(
                Measurement(
                    kind="gemm",
                    name="gemm",
                    dtype=precision,
                    shape={"m": m, "n": n, "k": k},
                    seconds=seconds,
                    work=flops,
                    value=flops / seconds,
                    unit="FLOP/s",
                    note=_GEMM_NOTES.get(precision, ""),
                )
            )
    return out


_GEMM_NOTES = {
    "fp8": "torch._scaled_mm, e4m3 operands, per-tensor scales, bf16 output",
    "tf32": "fp32 operands, torch.backends.cuda.matmul.allow_tf32",
    "fp32": "fp32 operands, TF32 off",
}


def _gemm_call(plan: Plan, precision: str, m: int, n: int, k: int) -> Callable[[], Any]:
    dev = plan.device
    if precision == "fp8":
        a = torch.randn(m, k, device=dev).to(torch.float8_e4m3fn)
        # B column-major (the transpose of a row-major N x K), as cuBLASLt's FP8 kernels want
        b = torch.randn(n, k, device=dev).to(torch.float8_e4m3fn).t()
        scale = torch.ones((), device=dev, dtype=torch.float32)
        return lambda: torch._scaled_mm(
            a, b, scale_a=scale, scale_b=scale, out_dtype=torch.bfloat16
        )
    dtype = _TORCH_DTYPES[precision]
    a = torch.randn(m, k, device=dev, dtype=dtype)
    b = torch.randn(k, n, device=dev, dtype=dtype)
    c = torch.empty(m, n, device=dev, dtype=dtype)
    if plan.kind == "cuda" and precision in ("tf32", "fp32"):
        allow = precision == "tf32"

        def call() -> Any:
            with _allow_tf32(allow):
                return torch.mm(a, b, out=c)

        return call
    return lambda: torch.mm(a, b, out=c)


@contextlib.contextmanager
def _allow_tf32(allow: bool) -> Iterator[None]:
    """cuBLAS TF32 math on or off for the block, the previous setting restored after."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = allow
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def _matmul_works(plan: Plan, dtype: torch.dtype) -> bool:
    """Whether a small ``dtype`` matmul runs natively here: bf16 needs Ampere or newer on
    NVIDIA (older GPUs only emulate it in fp32, which would time fp32 under bf16's name) and
    macOS 14 on MPS."""
    if plan.gpu and dtype == torch.bfloat16 and not _native_bf16():
        return False
    try:
        x = torch.ones(16, 16, device=plan.device, dtype=dtype)
        torch.mm(x, x)
    except (RuntimeError, TypeError):
        return False
    return True


def _native_bf16() -> bool:
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch before 2.3 had no emulation and no keyword
        return bool(torch.cuda.is_bf16_supported())


def _fp8_supported(plan: Plan) -> bool:
    """FP8 ``torch._scaled_mm`` needs an NVIDIA GPU of compute capability 8.9 or newer."""
    if not hasattr(torch, "_scaled_mm") or not hasattr(torch, "float8_e4m3fn"):
        return False
    if torch.cuda.get_device_capability(0) < (8, 9):
        return False
    try:
        _gemm_call(plan, "fp8", 16, 16, 16)()
    except (RuntimeError, TypeError):
        return False
    return True


# --- attention --------------------------------------------------------------------------------


def attention_flops(batch: int, heads: int, seq: int, head_dim: int, *, causal: bool) -> float:
    """Forward FLOPs of attention: two ``T x T x d`` matmuls per head (``4 B H T^2 d``), half of
    it under a causal mask. The backward does 2.5 times this (two matmuls recomputed or
    re-read, five in all), so forward + backward is 3.5 times it."""
    flops = 4.0 * batch * heads * seq * seq * head_dim
    return flops / 2 if causal else flops


def attention_configs(plan: Plan) -> list[tuple[int, int, int, int]]:
    """(batch, heads, seq, head_dim): a fixed model width (``heads x head_dim``) and a fixed
    number of tokens per step (``batch x seq``), so longer sequences trade batch for length."""
    if plan.cpu:
        seqs, width, tokens = (128, 256), 256, 512
    else:
        seqs = (1024, 4096) if plan.quick else (1024, 2048, 4096, 8192)
        width, tokens = 2048, 16384
    return [
        (max(1, tokens // seq), width // head_dim, seq, head_dim)
        for head_dim in (64, 128)
        for seq in seqs
    ]


def attention_sweep(device: str, *, quick: bool = False) -> list[Measurement]:
    """Causal attention, forward plus backward: PyTorch's ``scaled_dot_product_attention``
    ('sdpa', whichever kernel it picks) and, when installed, ``flash_attn_func``."""
    plan = plan_for(device, quick=quick)
    precision = "fp32"
    if not plan.cpu:
        precision = next(
            (p for p in ("bf16", "fp16") if _matmul_works(plan, _TORCH_DTYPES[p])), precision
        )
    dtype = _TORCH_DTYPES[precision]
    flash = _flash_attn_func() if plan.gpu else None
    out = []
    for batch, heads, seq, head_dim in attention_configs(plan):
        shape: dict[str, int | float | str] = {
            "batch": batch,
            "heads": heads,
            "seq": seq,
            "head_dim": head_dim,
            "causal": 1,
            "pass": "fwd+bwd",
        }
        work = 3.5 * attention_flops(batch, heads, seq, head_dim, causal=True)
        kernels: list[tuple[str, Callable[[], Any] | None]] = [
            ("sdpa", _sdpa_call(plan, dtype, batch, heads, seq, head_dim))
        ]
        if flash is not None:
            kernels.append(
                ("flash_attn", _flash_call(plan, flash, dtype, batch, heads, seq, head_dim))
            )
        for name, fn in kernels:
            if fn is None:
                continue
            seconds = plan.time(fn)
            out.append(
                Measurement(
                    kind="attention",
                    name=name,
                    dtype=precision,
                    shape=dict(shape),
                    seconds=seconds,
                    work=work,
                    value=work / seconds,
                    unit="FLOP/s",
                )
            )
    return out


def _sdpa_call(
    plan: Plan, dtype: torch.dtype, batch: int, heads: int, seq: int, head_dim: int
) -> Callable[[], Any]:
    """Forward and backward of SDPA; ``autograd.grad`` returns fresh gradients, so no call
    pays for accumulating into ``.grad``."""
    q, k, v = (
        torch.randn(
            batch, heads, seq, head_dim, device=plan.device, dtype=dtype, requires_grad=True
        )
        for _ in range(3)
    )
    grad = torch.randn(batch, heads, seq, head_dim, device=plan.device, dtype=dtype)

    def call() -> Any:
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return torch.autograd.grad(o, (q, k, v), grad)

    return call


def _flash_attn_func() -> Callable[..., Any] | None:
    """``flash_attn.flash_attn_func`` when the ``flash-attn`` package imports, else None."""
    if importlib.util.find_spec("flash_attn") is None:
        return None
    try:
        from flash_attn import flash_attn_func
    except Exception:  # a build for another torch/CUDA fails in many ways: treat as absent
        return None
    return flash_attn_func  # type: ignore[no-any-return]


def _flash_call(
    plan: Plan,
    flash: Callable[..., Any],
    dtype: torch.dtype,
    batch: int,
    heads: int,
    seq: int,
    head_dim: int,
) -> Callable[[], Any] | None:
    """Forward and backward of FlashAttention (layout batch, seq, heads, head_dim); None when
    it refuses this device or shape (FlashAttention-2 needs Ampere or newer)."""
    q, k, v = (
        torch.randn(
            batch, seq, heads, head_dim, device=plan.device, dtype=dtype, requires_grad=True
        )
        for _ in range(3)
    )
    grad = torch.randn(batch, seq, heads, head_dim, device=plan.device, dtype=dtype)

    def call() -> Any:
        o = flash(q, k, v, causal=True)
        return torch.autograd.grad(o, (q, k, v), grad)

    try:
        call()
    except RuntimeError:
        return None
    return call


# --- memory bandwidth -------------------------------------------------------------------------


def bandwidth_bytes(plan: Plan) -> int:
    """Bytes in one array: well past the last-level cache (GPU L2 up to ~100 MB, MI300's
    256 MB Infinity Cache, CPU L3), and at most an eighth of the free device memory."""
    if plan.cpu:
        return (64 if plan.quick else 256) * MIB
    size = (512 * MIB) if plan.quick else GIB
    if plan.gpu:
        free_bytes, _ = torch.cuda.mem_get_info()
        size = min(size, free_bytes // 8)
    return size


def bandwidth_sweep(device: str, *, quick: bool = False) -> list[Measurement]:
    """Memory-bound kernels, value = bytes moved per second. Bytes are counted as STREAM
    counts them (each array read or written once): copy 2 arrays, triad ``a = b + s c`` 3,
    and an RMSNorm over rows of ``hidden`` 2 (its weight is negligible). An RMSNorm that is
    not one fused kernel moves more than it is credited with, and so reads slower."""
    plan = plan_for(device, quick=quick)
    size = bandwidth_bytes(plan)
    return [*_stream(plan, size), _rmsnorm(plan, size)]


def _stream(plan: Plan, size: int) -> list[Measurement]:
    """STREAM copy (``b = a``, 2 arrays) and triad (``a = b + s c``, 3 arrays) in fp32."""
    n = size // 4
    a = torch.rand(n, device=plan.device)
    b = torch.empty_like(a)
    c = torch.rand(n, device=plan.device)
    timed = (
        ("copy", 2, lambda: b.copy_(a)),
        ("triad", 3, lambda: torch.add(b, c, alpha=3.0, out=a)),
    )
    out = []
    for name, arrays, fn in timed:
        seconds = plan.time(fn)
        work = float(arrays * n * 4)
        out.append(
            Measurement(
                kind="bandwidth",
                name=name,
                dtype="fp32",
                shape={"elements": n, "arrays": arrays, "bytes": n * 4},
                seconds=seconds,
                work=work,
                value=work / seconds,
                unit="B/s",
            )
        )
    return out


def _rmsnorm(plan: Plan, size: int) -> Measurement:
    """``F.rms_norm`` over rows of ``hidden`` (bf16 on GPUs, fp32 on the CPU): input read
    once, output written once."""
    precision = "fp32" if plan.cpu else "bf16"
    dtype = _TORCH_DTYPES[precision]
    hidden = 1024 if plan.cpu else 4096
    rows = size // (hidden * dtype.itemsize)
    x = torch.randn(rows, hidden, device=plan.device, dtype=dtype)
    weight = torch.ones(hidden, device=plan.device, dtype=dtype)
    seconds = plan.time(lambda: F.rms_norm(x, (hidden,), weight, eps=1e-6))
    work = 2.0 * x.nbytes
    return Measurement(
        kind="bandwidth",
        name="rmsnorm",
        dtype=precision,
        shape={"rows": rows, "hidden": hidden, "bytes": x.nbytes},
        seconds=seconds,
        work=work,
        value=work / seconds,
        unit="B/s",
        note="torch.nn.functional.rms_norm; bytes = input read + output written",
    )


# --- host <-> device transfers ----------------------------------------------------------------


def transfer_sweep(device: str, *, quick: bool = False) -> list[Measurement]:
    """Host-to-device and device-to-host copies of one buffer: pinned (page-locked, DMA
    straight from the buffer, copies issued non-blocking) and pageable (staged by the driver)
    on CUDA/ROCm; pageable only on MPS; nothing on the CPU."""
    plan = plan_for(device, quick=quick)
    if plan.cpu:
        return []
    size = (64 if quick else 256) * MIB
    modes = (("pinned", True), ("pageable", False)) if plan.gpu else (("pageable", False),)
    dev_buf = torch.empty(size, dtype=torch.uint8, device=plan.device)
    out = []
    for mode, pinned in modes:
        host = torch.empty(size, dtype=torch.uint8, pin_memory=pinned)
        host.fill_(1)
        calls = {
            f"h2d_{mode}": lambda h=host, nb=pinned: dev_buf.copy_(h, non_blocking=nb),
            f"d2h_{mode}": lambda h=host, nb=pinned: h.copy_(dev_buf, non_blocking=nb),
        }
        for name, fn in calls.items():
            seconds = plan.time(fn)
            out.append(
                Measurement(
                    kind="transfer",
                    name=name,
                    dtype="uint8",
                    shape={"bytes": size},
                    seconds=seconds,
                    work=float(size),
                    value=size / seconds,
                    unit="B/s",
                )
            )
        del host
    return out


# --- memory overheads -------------------------------------------------------------------------


def memory_overheads(device: str) -> list[Measurement]:
    """Memory beyond the tensors: ``seconds`` is 0, these are sizes, not rates.

    * ``context`` (CUDA/ROCm): device memory in use that the caching allocator does not hold,
      ``total - free - reserved`` from ``cudaMemGetInfo`` and ``torch.cuda.memory_reserved``:
      the CUDA context, loaded kernels and library handles. The context cannot be measured
      before it exists, so this is read after initialisation; memory other processes hold on
      the same GPU counts in it too (an upper bound on a shared GPU).
    * ``allocator_slack`` (CUDA/ROCm/MPS): a training-like pattern of tensors of mixed sizes is
      allocated and partly freed and reallocated; ``value`` = peak reserved - peak allocated
      (bytes the caching allocator holds beyond the live tensors), ``work`` = peak allocated,
      ``shape['ratio']`` = reserved / allocated.
    * ``process_rss`` (all devices): the process's resident set, host memory the framework
      itself takes (libraries, the interpreter) once the benchmarks' tensors are freed.
    """
    plan = plan_for(device)
    out = []
    if plan.gpu:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        free_bytes, total_bytes = torch.cuda.mem_get_info()
        context = max(0, total_bytes - free_bytes - torch.cuda.memory_reserved())
        out.append(_size("context", context, {"total_bytes": total_bytes}))
    if not plan.cpu:
        out.append(_allocator_slack(plan))
    rss = process_rss_bytes()
    if rss:
        out.append(_size("process_rss", rss, {}))
    return out


def _size(name: str, nbytes: int, shape: dict[str, int | float | str]) -> Measurement:
    return Measurement(
        kind="memory",
        name=name,
        shape=shape,
        seconds=0.0,
        work=float(nbytes),
        value=float(nbytes),
        unit="B",
    )


def slack_pattern_bytes(budget_bytes: int, seed: int = 0) -> list[int]:
    """Tensor sizes of a mock training step filling ``budget_bytes``: large (activations,
    ~32-96 MiB), mid-sized (~4 MiB) and small (KiB, biases and norms) tensors mixed, their
    sizes spread +-50% so that none is a round number of allocator blocks."""
    rng = random.Random(seed)
    sizes, total = [], 0
    while total < budget_bytes:
        scale = rng.choice((4 * MIB, 32 * MIB, 96 * MIB, 512 * 1024, 8 * 1024))
        size = int(scale * rng.uniform(0.5, 1.5))
        sizes.append(size)
        total += size
    return sizes


def _allocator_slack(plan: Plan) -> Measurement:
    """Allocate the pattern, free every third tensor, allocate the pattern again shuffled (the
    freed blocks are reused for other sizes, as between a step's forward and backward)."""
    dev = plan.device
    if plan.gpu:
        free_bytes, _ = torch.cuda.mem_get_info()
        budget = min(2 * GIB, free_bytes // 4)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base_alloc, base_reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
    else:
        budget = min(GIB, (host_memory_bytes() or 8 * GIB) // 16)
        torch.mps.empty_cache()
        base_alloc = torch.mps.current_allocated_memory()
        base_reserved = torch.mps.driver_allocated_memory()
    sizes = slack_pattern_bytes(budget // 2)
    live = [torch.empty(s, dtype=torch.uint8, device=dev) for s in sizes]
    del live[::3]
    tensors = len(live) + len(sizes)
    random.Random(1).shuffle(sizes)
    live += [torch.empty(s, dtype=torch.uint8, device=dev) for s in sizes]
    if plan.gpu:
        torch.cuda.synchronize()
        allocated = torch.cuda.max_memory_allocated() - base_alloc
        reserved = torch.cuda.max_memory_reserved() - base_reserved
    else:  # MPS keeps no peaks: read while everything is live
        torch.mps.synchronize()
        allocated = torch.mps.current_allocated_memory() - base_alloc
        reserved = torch.mps.driver_allocated_memory() - base_reserved
    del live
    allocated = max(allocated, 1)
    slack = max(0, reserved - allocated)
    return Measurement(
        kind="memory",
        name="allocator_slack",
        shape={
            "allocated_bytes": allocated,
            "reserved_bytes": reserved,
            "ratio": reserved / allocated,
            "tensors": tensors,
        },
        seconds=0.0,
        work=float(allocated),
        value=float(slack),
        unit="B",
    )


def process_rss_bytes() -> int | None:
    """Resident bytes of this process now (``/proc/self/statm``), or its peak from
    ``getrusage`` where there is no ``/proc`` (KiB on Linux, bytes on macOS)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if os.uname().sysname == "Darwin" else int(peak) * 1024


__all__ = [
    "Plan",
    "attention_flops",
    "attention_sweep",
    "bandwidth_sweep",
    "gemm_sweep",
    "memory_overheads",
    "plan_for",
    "run_collectives",
    "run_micro",
    "transfer_sweep",
]
