"""Scenario files (a whole question in TOML) and the measured reference runs."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from traintime.catalog._files import data_dir, read_toml
from traintime.errors import DataError, UnknownNameError

_SECTIONS = {"model", "training", "hardware", "reference"}


class Scenario(BaseModel):
    """A question as a file: ``[model] name``, ``[training]`` fields, ``[hardware] gpu/count``."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    model: str
    training: dict[str, Any]
    gpu: str
    gpus: int = 1
    gpus_per_node: int | None = None
    reference: str | None = None


class ReferenceRun(BaseModel):
    """A measured run: its hardware and steady-state step time."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    description: str
    model: str
    gpu: str
    gpus: int
    micro_batch: int | None = None
    global_batch_tokens: int
    steps: int
    step_time_s: float
    quote: str = ""
    source: str

    @property
    def total_hours(self) -> float:
        return self.steps * self.step_time_s / 3600.0

    @property
    def tokens_per_sec(self) -> float:
        return self.global_batch_tokens / self.step_time_s


def load_scenario(path: Path | None = None) -> Scenario:
    """Read a scenario file; ``None`` reads the shipped founding question."""
    if path is None:
        doc = read_toml(data_dir().joinpath("scenarios", "founding.toml"), what="scenario")
        where = "founding scenario"
    else:
        doc = read_toml(path, what="scenario file")
        where = f"scenario file {str(path)!r}"
    unknown = set(doc) - _SECTIONS
    if unknown:
        allowed = ", ".join(sorted(_SECTIONS))
        raise DataError(f"{where}: unknown section {sorted(unknown)[0]!r}; allowed: {allowed}")
    model, hardware = doc.get("model", {}), doc.get("hardware", {})
    if "name" not in model:
        raise DataError(f"{where} lacks required field 'model.name'")
    if "gpu" not in hardware:
        raise DataError(f"{where} lacks required field 'hardware.gpu'")
    extra = set(hardware) - {"gpu", "count", "gpus_per_node"}
    if extra:
        raise DataError(f"{where}: unknown field 'hardware.{sorted(extra)[0]}'")
    return Scenario(
        model=str(model["name"]),
        training=dict(doc.get("training", {})),
        gpu=str(hardware["gpu"]),
        gpus=int(hardware.get("count", 1)),
        gpus_per_node=hardware.get("gpus_per_node"),
        reference=doc.get("reference"),
    )


@functools.cache
def _references() -> dict[str, dict[str, Any]]:
    doc = read_toml(data_dir().joinpath("references.toml"), what="reference runs file")
    return dict(doc.get("runs", {}))


def find_reference(name: str) -> ReferenceRun:
    runs = _references()
    if name not in runs:
        raise UnknownNameError("reference run", name, list(runs))
    return ReferenceRun(name=name, **runs[name])


def list_references() -> list[str]:
    return list(_references())
