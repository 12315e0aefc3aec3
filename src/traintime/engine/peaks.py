"""Peak throughput derived from the chip's organisation, and the realistic matmul ceiling.

``peak = units x boost clock x dense FLOP per unit per clock``: the way the vendor whitepapers
compute their tables (e.g. RTX 4090: 128 SM x 2.52 GHz x 512 = 165.2 TFLOPS, Ada whitepaper
v2.02 Appendix A). PCIe: ``lanes x per-lane rate`` per direction (PCI-SIG rates in links.toml).
"""

from __future__ import annotations

from traintime.units import MHZ, TFLOP


def derived_peak_tflops(units: int, boost_clock_mhz: float, flops_per_unit_clk: float) -> float:
    """Dense peak in TFLOPS: SMs (or CUs) x clock x FLOP per unit per clock."""
    return units * boost_clock_mhz * MHZ * flops_per_unit_clk / TFLOP


def cpu_peak_tflops(*, cores: int, clock_mhz: float, flops_per_cycle: float) -> float:
    """A CPU's dense peak in TFLOPS: physical cores x clock x FLOPs per core per cycle (two
    512-bit FMA ports: 2 x 16 fp32 lanes x 2 FLOPs = 64), the way FLOPS tables count it."""
    return cores * clock_mhz * MHZ * flops_per_cycle / TFLOP


def matmul_ceiling(
    *, measured_tflops: float | None, peak_tflops: float | None, class_default: float
) -> tuple[float, str]:
    """Sustained matmul throughput as a fraction of peak: measured where published, else the
    device class's default. Returns (fraction, 'measured' | 'class default')."""
    if measured_tflops and peak_tflops:
        return measured_tflops / peak_tflops, "measured"
    return class_default, "class default"


def pcie_gbs(gen: int | None, lanes: int | None, per_lane_gbs: dict[int, float]) -> float | None:
    """Host-link bandwidth per direction in GB/s, None when the link is unknown."""
    if gen is None or lanes is None or gen not in per_lane_gbs:
        return None
    return lanes * per_lane_gbs[gen]
