"""Node presets and inter-node fabrics (``data/systems.toml``)."""

from __future__ import annotations

import functools
from typing import Any

from traintime.catalog._files import data_dir, read_toml
from traintime.catalog.gpus import normalize
from traintime.errors import UnknownNameError
from traintime.specs import FabricSpec, NodeSpec, build


@functools.cache
def _doc() -> dict[str, Any]:
    return read_toml(data_dir().joinpath("systems.toml"), what="systems file")


@functools.cache
def _nodes() -> dict[str, NodeSpec]:
    return {
        name: build(NodeSpec, f"node {name}", name=name, **table)
        for name, table in _doc().get("nodes", {}).items()
    }


@functools.cache
def _fabrics() -> dict[str, FabricSpec]:
    return {
        name: build(FabricSpec, f"fabric {name}", name=name, **table)
        for name, table in _doc().get("fabrics", {}).items()
    }


def find_system(name: str) -> NodeSpec:
    """A node preset by name or alias ('dgx-h100', 'p5', 'a3-mega')."""
    nodes = _nodes()
    key = normalize(name)
    for node in nodes.values():
        if key in {normalize(node.name), *(normalize(a) for a in node.aliases)}:
            return node
    names = list(nodes) + [a for n in nodes.values() for a in n.aliases]
    raise UnknownNameError("system", name, names, hint="(`traintime systems` lists them)")


def find_fabric(name: str) -> FabricSpec:
    fabrics = _fabrics()
    if name not in fabrics:
        raise UnknownNameError("fabric", name, list(fabrics))
    return fabrics[name]


def list_systems() -> list[NodeSpec]:
    return list(_nodes().values())


def list_fabrics() -> list[FabricSpec]:
    return list(_fabrics().values())
