"""The host CPU as a device (``--gpu cpu``): cores, clock, instruction sets and RAM as the
operating system reports them (Linux ``/proc``; elsewhere ``os`` and the defaults in
``data/host_cpu.toml``), turned into nominal peaks (``engine.peaks.cpu_peak_tflops``)."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from typing import Any

from traintime.catalog._files import data_dir, read_toml
from traintime.engine.peaks import cpu_peak_tflops
from traintime.specs import GpuSpec, build
from traintime.units import GIB

#: Names that mean the host CPU.
HOST_NAMES = frozenset({"cpu", "host", "host cpu"})

_CPUINFO = Path("/proc/cpuinfo")
_MEMINFO = Path("/proc/meminfo")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _cpuinfo() -> dict[str, Any]:
    """Model name, physical cores, MHz and flags from /proc/cpuinfo ({} elsewhere)."""
    text = _read(_CPUINFO)
    if not text:
        return {}
    name, mhz, flags, cores = "", 0.0, set(), set()
    physical = "0"
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "model name" and not name:
            name = value
        elif key == "cpu MHz":
            mhz = max(mhz, float(value or 0))
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
        elif key == "physical id":
            physical = value
        elif key == "core id":
            cores.add((physical, value))
    return {"name": name, "mhz": mhz, "flags": flags, "cores": len(cores)}


def _memory_bytes() -> int | None:
    for line in _read(_MEMINFO).splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


@functools.cache
def host_cpu() -> GpuSpec:
    """This machine's CPU as a device spec, with nominal rates (uncalibrated)."""
    doc = read_toml(data_dir().joinpath("host_cpu.toml"), what="host CPU file")
    ceilings = read_toml(data_dir().joinpath("ceilings.toml"), what="ceiling file")
    info = _cpuinfo()
    flags: set[str] = info.get("flags", set())
    cores = info.get("cores") or os.cpu_count() or 1
    mhz = info.get("mhz") or float(doc["defaults"]["clock_mhz"])
    isa = next(i for i in doc["isa"] if not i["flag"] or i["flag"] in flags)
    fp32 = cpu_peak_tflops(cores=cores, clock_mhz=mhz, flops_per_cycle=isa["fp32_flops_per_cycle"])
    bf16, bf16_what = fp32, "as fp32 (no bf16 instructions)"
    if "amx_bf16" in flags:
        bf16 = cpu_peak_tflops(
            cores=cores, clock_mhz=mhz, flops_per_cycle=doc["bf16"]["amx_bf16_flops_per_cycle"]
        )
        bf16_what = f"AMX, {doc['bf16']['amx_bf16_flops_per_cycle']} bf16 FLOPs/cycle per core"
    elif "avx512_bf16" in flags:
        bf16 = fp32 * float(doc["bf16"]["avx512_bf16_factor"])
        bf16_what = "AVX512_BF16, twice fp32"
    memory = _memory_bytes()
    name = info.get("name") or platform.processor() or platform.machine() or "unknown CPU"
    what = f"{cores} cores x {mhz:g} MHz x {isa['fp32_flops_per_cycle']} fp32 FLOPs/cycle"
    isa_name = isa["flag"] or "sse"
    return build(
        GpuSpec,
        "host cpu",
        name="cpu",
        vendor="host",
        architecture=f"{name} ({isa_name}{', amx_bf16' if 'amx_bf16' in flags else ''})",
        form_factor="host",
        device_class="cpu",
        origin="derived",
        memory_gib=round((memory or 16 * GIB) / GIB, 1),
        bandwidth_gbs=float(doc["defaults"]["bandwidth_gbs"]),
        peak_tflops={"fp32": fp32, "tf32": None, "bf16": bf16, "fp16": fp32},
        matmul_ceiling=float(ceilings["classes"]["cpu"]["fraction"]),
        matmul_ceiling_basis=f"class default (cpu): {ceilings['classes']['cpu']['reasoning']}",
        field_sources={
            "peak_tflops": f"derived: fp32 {what}; bf16 {bf16_what} ({doc['defaults']['source']})",
            "bandwidth_gbs": "nominal dual-channel DDR4-3200 (host_cpu.toml)",
            "memory_gib": "MemTotal of this machine",
            "tensor_rate": "sourced: AMX tile unit"
            if "amx_bf16" in flags
            else "none: vector units",
        },
        sources=str(doc["defaults"]["source"]),
    )
