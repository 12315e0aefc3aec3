"""How long one operation takes on one GPU: a roofline per kernel.

A kernel's time is the larger of its FLOPs over the sustained compute rate and its bytes over
the sustained memory bandwidth, and never less than the launch-to-completion latency
(Williams et al. 2009, "Roofline"). For GEMMs the compute rate is the device's sustained
matmul ceiling (catalog) times two shape effects (NVIDIA, "Matrix Multiplication Background
User's Guide"): *wave quantization*, output tiles spread over the SMs in whole waves (cuBLAS
splits K across SMs when there are too few tiles), and each tile's fixed pipeline-fill latency,
worth ``k0 = latency x per-SM rate / (2 tile_m tile_n)`` of K: efficiency ``K / (K + k0)``,
relative to the same factor at the size the catalog ceiling was measured at. Tensor-core
kernels also need every stored row 16-byte aligned; a feature dimension that is not (GPT-2's
50257-token vocabulary) runs at ``gemm_unaligned_fraction`` of the rate (Horace He 2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from traintime.specs import DeviceCalibration, Efficiency, GpuSpec
from traintime.units import GB, MHZ, TFLOP, US

#: Precisions to try when a device lacks one, best first.
_FALLBACK = {
    "bf16": ("fp16", "fp32"),
    "fp16": ("fp32",),
    "fp8": ("bf16", "fp16", "fp32"),
    "fp4": ("fp8", "bf16", "fp16", "fp32"),
    "tf32": ("fp32",),
}


def usable_precision(gpu: GpuSpec, precision: str) -> str:
    """The fastest way the device runs ``precision``'s math: the precision itself, or a wider
    one when that is faster or the only option (cuBLAS computes fp16 GEMMs in fp32 on Pascal,
    whose native fp16 rate is 1/64 of fp32; V100 has no bf16 and runs fp16)."""
    options = [p for p in (precision, *_FALLBACK.get(precision, ())) if gpu.peak(p) is not None]
    if not options:
        return precision
    return max(options, key=lambda p: gpu.peak(p) or 0.0)


def vector_elements(elt: float) -> int:
    """Elements of ``elt`` bytes in one 16-byte load, the row alignment tensor-core kernels
    need (8 bf16, 16 fp8, 4 fp32/tf32)."""
    return max(1, round(16 / elt))


@dataclass(frozen=True)
class Device:
    """A GPU as the time model sees it: sustained rates in FLOP/s and bytes/s, scaled by the
    device's calibration (measured on it, ``traintime calibrate``) when there is one."""

    gpu: GpuSpec
    eff: Efficiency
    cal: DeviceCalibration | None = None
    _rates: dict[str, float] = field(default_factory=dict, repr=False, compare=False)
    memo: dict[object, object] = field(default_factory=dict, repr=False, compare=False)

    @property
    def mem_bw(self) -> float:
        scale = self.cal.memory_scale if self.cal else 1.0
        return self.gpu.bandwidth_gbs * GB * self.eff.memory_efficiency * scale

    def matmul_rate(self, precision: str) -> float:
        """Sustained dense matmul FLOP/s at ``precision`` (falls back like the estimate): the
        catalog ceiling, measured in short benchmarks, times the share a GPU keeps once hours
        at its power limit have settled its clocks (``gemm_sustained_fraction``)."""
        rate = self._rates.get(precision)
        if rate is None:
            peak = self.gpu.peak(usable_precision(self.gpu, precision)) or 0.0
            ceiling = self.gpu.matmul_ceiling * self.eff.gemm_sustained_fraction
            if self.cal is not None:
                ceiling *= self.cal.gemm(precision)
            rate = self._rates[precision] = peak * TFLOP * ceiling
        return rate

    def wave_efficiency(self, m: int, n: int, k: int) -> float:
        """Fraction of SMs kept busy by the output tiles. When the tiles are fewer than the SMs,
        cuBLAS splits K over more of them, as far as each split keeps at least
        ``gemm_split_k_min_depth`` of K."""
        sms = self.gpu.sm_count
        if not sms:
            return 1.0
        tiles = math.ceil(m / self.eff.gemm_tile_m) * math.ceil(n / self.eff.gemm_tile_n)
        if tiles < sms:
            tiles *= max(1, min(sms // tiles, k // self.eff.gemm_split_k_min_depth))
        waves = math.ceil(tiles / sms)
        return tiles / (waves * sms)

    def tensor_cores(self, precision: str) -> bool:
        """Whether ``precision``'s GEMMs run on tensor cores here (not fp32 SIMT math)."""
        key = ("tensor_cores", precision)
        if key not in self.memo:
            usable = usable_precision(self.gpu, precision)
            self.memo[key] = usable in ("bf16", "fp16", "fp8", "fp4", "tf32")
        return bool(self.memo[key])

    def aligned(self, *dims: int, precision: str, elt: float) -> bool:
        """Whether rows of ``dims`` elements start on 16-byte boundaries, as tensor-core
        kernels' vectorized loads need (NVIDIA Matrix Multiplication Background guide, "Tensor
        Core Requirements"); always true where the math runs without tensor cores."""
        if not self.tensor_cores(precision):
            return True
        per_vector = vector_elements(elt)
        return all(d % per_vector == 0 for d in dims)

    def k_overhead(self, precision: str) -> float:
        """The tile's fill latency expressed in K: latency x per-SM rate / (2 tile_m tile_n)."""
        sms = self.gpu.sm_count
        if not sms:
            return 0.0
        per_sm = self.matmul_rate(precision) / sms
        return (
            self.eff.gemm_tile_latency_us
            * US
            * per_sm
            / (2.0 * self.eff.gemm_tile_m * self.eff.gemm_tile_n)
        )

    def k_efficiency(self, k: int, precision: str) -> float:
        """Efficiency of a K-deep main loop relative to the ceiling's measurement shape."""
        k0 = self.k_overhead(precision)
        return k / (k + k0)

    def _reference_shape_efficiency(self, precision: str) -> float:
        """Shape efficiency of the square GEMM the ceiling was measured on (n = ceiling_k):
        the measured ceiling already paid it, so shapes are judged relative to it."""
        n = self.eff.gemm_ceiling_k
        return self.wave_efficiency(n, n, n) * self.k_efficiency(n, precision)

    def gemm_time(
        self,
        m: int,
        n: int,
        k: int,
        *,
        precision: str,
        elt: float,
        batch: int = 1,
        aligned: bool = True,
    ) -> float:
        """One (batched) GEMM C[m,n] = A[m,k] B[k,n]: roofline with shape efficiency;
        ``aligned=False`` when a stored operand's rows are not 16-byte aligned."""
        if m <= 0 or n <= 0 or k <= 0:
            return 0.0
        flops = 2.0 * m * n * k * batch
        # relative to the measurement shape, and never above the measured ceiling (the catalog
        # ceiling is the best rate any shape reached)
        shape = min(
            1.0,
            self.wave_efficiency(m * batch, n, k)
            * self.k_efficiency(k, precision)
            / self._reference_shape_efficiency(precision),
        )
        if not aligned:
            shape *= self.eff.gemm_unaligned_fraction
        compute = flops / (self.matmul_rate(precision) * shape)
        memory = batch * elt * (m * k + k * n + m * n) / self.mem_bw
        return max(compute, memory, self.eff.gpu_min_us * US)

    def memory_time(self, nbytes: float, kernels: int = 1) -> float:
        """Element-wise work: bytes over sustained bandwidth, at least the launch latency."""
        return max(nbytes / self.mem_bw, kernels * self.eff.gpu_min_us * US)

    @property
    def hopper_class(self) -> bool:
        """Hopper / Blackwell datacenter parts, whose fast kernels need WGMMA/TMA (FA3-class)."""
        arch = self.gpu.architecture.lower()
        return self.gpu.device_class == "datacenter" and ("hopper" in arch or "blackwell" in arch)

    def attention_fraction(
        self, impl: str, *, masked: bool = False, backward: bool = False
    ) -> float:
        """Attention kernel rate as a fraction of the sustained matmul rate: FA3-class
        (``flash3``), FA2-class (``flash``, ``sdpa``), FlashAttention in Triton (``triton``:
        the FA2-class rate slowed by its measured forward / backward factors, Dao 2023), or
        SDPA's memory-efficient kernel when it is given an explicit mask (``masked``)."""
        if masked:
            return (
                self.eff.masked_on_hopper_fraction
                if self.hopper_class
                else self.eff.masked_fraction
            )
        if impl == "flash3" and self.hopper_class:
            return self.eff.fa3_fraction
        fa2 = self.eff.fa2_on_hopper_fraction if self.hopper_class else self.eff.fa2_fraction
        if impl == "triton":
            slowdown = (
                self.eff.triton_backward_slowdown if backward else self.eff.triton_forward_slowdown
            )
            return fa2 / slowdown
        return fa2

    def per_sm_clock_scale(self, precision: str) -> float:
        """How much slower than its tensor rate a pre-Blackwell attention kernel runs: its
        exponentials and shared-memory traffic cap it at ``attention_max_flop_per_sm_clk``
        (Hopper's rate) per SM and clock (Zadouri et al. 2026, FlashAttention-4); 1 for every
        device whose tensor rate per SM-clock is no higher than Hopper's."""
        peak = self.gpu.peak(usable_precision(self.gpu, precision))
        sms, clock = self.gpu.sm_count, self.gpu.boost_clock_mhz
        if not (peak and sms and clock):
            return 1.0
        per_sm_clk = peak * TFLOP / (sms * clock * MHZ)
        return min(1.0, self.eff.attention_max_flop_per_sm_clk / per_sm_clk)

    def head_dim_factor(self, impl: str, head_dim: int, *, masked: bool = False) -> float:
        """The kernel's rate at ``head_dim`` relative to head dim 128, where its fraction was
        calibrated: ``hd (k + 128) / (128 (k + hd))``, capped at 1 (``efficiency.toml``)."""
        fa3 = impl == "flash3" and self.hopper_class and not masked
        k = self.eff.fa3_softmax_head_dims if fa3 else self.eff.fa2_softmax_head_dims
        return min(1.0, head_dim * (k + 128) / (128 * (k + head_dim)))

    def attention_time(
        self,
        flops: float,
        nbytes: float,
        *,
        impl: str,
        precision: str,
        masked: bool = False,
        backward: bool = False,
        head_dim: int = 128,
    ) -> float:
        """A fused (flash / SDPA) attention kernel: FLOPs at its sustained fraction of peak (at
        ``head_dim``), capped per SM-clock unless the kernel is written for the device
        (``flash3``)."""
        fraction = self.attention_fraction(impl, masked=masked, backward=backward)
        fraction *= self.head_dim_factor(impl, head_dim, masked=masked)
        rate = self.matmul_rate(precision) * fraction
        if self.cal is not None:
            rate *= self.cal.attention_scale
        if masked or impl != "flash3":
            rate *= self.per_sm_clock_scale(precision)
        return max(flops / rate, nbytes / self.mem_bw, self.eff.gpu_min_us * US)
