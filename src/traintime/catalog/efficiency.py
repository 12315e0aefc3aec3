"""The time model's constants (``data/efficiency.toml``) and the links of a hardware setup."""

from __future__ import annotations

import functools

from traintime.catalog._files import data_dir, read_toml
from traintime.catalog.systems import find_fabric, list_systems
from traintime.engine.comms import make_links
from traintime.specs import Efficiency, GpuSpec, Links, NodeSpec, build

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


def links_for(gpu: GpuSpec, *, gpus_per_node: int, system: NodeSpec | None = None) -> Links:
    """Links for ``gpus_per_node`` GPUs per node: a named system, else the GPU's usual node."""
    node = system or node_for(gpu)
    fabric = find_fabric(node.fabric) if node is not None and node.fabric else None
    if fabric is None:
        fabric = find_fabric("ethernet-100g")
    return make_links(gpu, gpus_per_node=gpus_per_node, node=node, fabric=fabric, eff=efficiency())


@functools.cache
def band() -> dict[str, object]:
    """The validation-derived uncertainty band of time estimates (``data/band.toml``)."""
    return read_toml(data_dir().joinpath("band.toml"), what="band file")


@functools.cache
def memory_defaults() -> dict[str, float]:
    """Allocator and context defaults of the memory model (``data/memory.toml``)."""
    doc = read_toml(data_dir().joinpath("memory.toml"), what="memory defaults file")
    out = {k: float(v) for k, v in doc["allocator"].items() if k != "source"}
    out["host_process_gib"] = float(doc["host"]["process_gib"])
    return out


@functools.cache
def energy_defaults() -> dict[str, dict[str, float]]:
    """Power fractions, host power, PUE and prices (``data/energy.toml``)."""
    doc = read_toml(data_dir().joinpath("energy.toml"), what="energy defaults file")
    return {
        section: {k: float(v) for k, v in table.items() if k != "source"}
        for section, table in doc.items()
    }
