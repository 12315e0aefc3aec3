"""The time model's constants (``data/efficiency.toml``), the links of a hardware setup, the
optimizers (``data/optimizers.toml``) and the memory policy (``data/memory.toml``)."""

from __future__ import annotations

import functools
from typing import Any

from traintime.catalog._files import data_dir, read_toml
from traintime.catalog.systems import find_fabric, list_systems
from traintime.engine.comms import make_links
from traintime.engine.peaks import pcie_gbs
from traintime.engine.step import CATEGORIES
from traintime.errors import DataError, UnknownNameError
from traintime.specs import Efficiency, GpuSpec, Links, MemoryPolicy, NodeSpec, OptimizerSpec, build

_PREFIX = {"memory": "memory_", "gemm": "gemm_"}


@functools.cache
def efficiency() -> Efficiency:
    """The one set of physical constants (flattened: [gemm] tile_m -> gemm_tile_m)."""
    doc = read_toml(data_dir().joinpath("efficiency.toml"), what="efficiency file")
    fields = {}
    for section, table in doc.items():
        for key, value in table.items():
            if key == "source":
                continue
            fields[_PREFIX.get(section, "") + key] = value
    return build(Efficiency, "efficiency constants", **fields)


def node_for(gpu: GpuSpec) -> NodeSpec | None:
    """The first node preset built from this GPU (DGX/HGX before cloud instances)."""
    for node in list_systems():
        if node.gpu == gpu.name and node.nics:
            return node
    return None


@functools.cache
def _links_doc() -> dict[str, Any]:
    return read_toml(data_dir().joinpath("links.toml"), what="links file")


@functools.cache
def default_host_link() -> tuple[str, float]:
    """(description, GB/s per direction) of the host link assumed when a GPU's is unknown."""
    doc = _links_doc()
    gen, lanes = int(doc["default_host_link"]["gen"]), int(doc["default_host_link"]["lanes"])
    per_lane = {int(k): float(v) for k, v in doc["pcie_gbs_per_lane"].items()}
    return f"PCIe {gen}.0 x{lanes}", pcie_gbs(gen, lanes, per_lane) or 0.0


def links_for(gpu: GpuSpec, *, gpus_per_node: int, system: NodeSpec | None = None) -> Links:
    """Links for ``gpus_per_node`` GPUs per node: a named system, else the GPU's usual node."""
    node = system or node_for(gpu)
    fabric = find_fabric(node.fabric) if node is not None and node.fabric else None
    if fabric is None:
        fabric = find_fabric("ethernet-100g")
    return make_links(
        gpu,
        gpus_per_node=gpus_per_node,
        node=node,
        fabric=fabric,
        eff=efficiency(),
        default_host_gbs=default_host_link()[1],
    )


@functools.cache
def band() -> dict[str, object]:
    """The validation-derived uncertainty band of time estimates (``data/band.toml``)."""
    return read_toml(data_dir().joinpath("band.toml"), what="band file")


@functools.cache
def memory_policy() -> MemoryPolicy:
    """Allocator slack, CUDA context and host-process memory (``data/memory.toml``)."""
    doc = read_toml(data_dir().joinpath("memory.toml"), what="memory defaults file")
    fields = {k: float(v) for k, v in doc["allocator"].items() if k != "source"}
    return build(
        MemoryPolicy, "memory policy", **fields, host_process_gib=float(doc["host"]["process_gib"])
    )


@functools.cache
def _optimizers() -> dict[str, OptimizerSpec]:
    doc = read_toml(data_dir().joinpath("optimizers.toml"), what="optimizers file")
    specs: dict[str, OptimizerSpec] = {}
    fields = set(OptimizerSpec.__dataclass_fields__) - {"name", "fallback"}
    for name, table in sorted(doc.items(), key=lambda kv: "fallback" in kv[1]):
        extra = set(table) - fields - {"source", "fallback"}
        if extra:
            raise DataError(f"optimizers.toml [{name}]: unknown field {sorted(extra)[0]!r}")
        kwargs = {k: v for k, v in table.items() if k in fields}
        fallback = specs[table["fallback"]] if "fallback" in table else None
        specs[name] = OptimizerSpec(name=name, fallback=fallback, **kwargs)
    return specs


@functools.cache
def _quantization() -> dict[str, Any]:
    return read_toml(data_dir().joinpath("quantization.toml"), what="quantization file")


def base_storage(dtype: str) -> tuple[float, float]:
    """(bytes per frozen linear weight, bytes one dequantization moves) for a fine-tune's base
    format (``data/quantization.toml``)."""
    table = _quantization()
    if dtype not in table:
        raise UnknownNameError("base dtype", dtype, list(table))
    return float(table[dtype]["bytes"]), float(table[dtype]["dequant_bytes"])


def find_optimizer(name: str) -> OptimizerSpec:
    """An optimizer by name (``adamw``, ``muon``, ``adamw8bit``, ``adafactor``, ``sgd``)."""
    table = _optimizers()
    if name not in table:
        raise UnknownNameError("optimizer", name, list(table))
    return table[name]


@functools.cache
def goodput_defaults() -> dict[str, Any]:
    """The goodput anchor (``data/goodput.toml``)."""
    return read_toml(data_dir().joinpath("goodput.toml"), what="goodput file")


@functools.cache
def energy_defaults() -> dict[str, dict[str, float]]:
    """Power fractions, host power, PUE and prices (``data/energy.toml``)."""
    doc = read_toml(data_dir().joinpath("energy.toml"), what="energy defaults file")
    out = {
        section: {k: float(v) for k, v in table.items() if k != "source"}
        for section, table in doc.items()
    }
    missing = [c for c in CATEGORIES if c not in out["gpu_power"]]
    if missing:
        raise DataError(f"energy.toml [gpu_power] lacks {missing[0]!r}")
    return out
