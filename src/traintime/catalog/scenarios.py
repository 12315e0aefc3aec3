"""Scenario files (a whole question in TOML) and the measured reference runs.

A scenario file says everything the command line can say::

    reference = "nanochat-d32-8xh100"   # optional: a measured run to scale by hand beside it

    [model]
    name = "nanochat-d32"               # preset, alias, nanochat-d<N>, or a config.json path

    [training]                          # any TrainingSpec field: tokens, micro_batch, zero_stage,
    tokens_per_param = 20               # offload, tp, ... (unset fields: recipe, defaults, planner)

    [hardware]
    gpu = "RTX 4070"
    count = 1                           # also gpus_per_node, system

    [economics]                         # electricity_usd_per_kwh, co2_kg_per_kwh, pue, ...
    electricity_usd_per_kwh = 0.30

    [plan]
    allow_math_changes = false
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from traintime.catalog._files import data_dir, read_toml
from traintime.errors import DataError, UnknownNameError
from traintime.specs import Economics, Question, TrainingSpec, build

_SECTIONS = {"model", "training", "hardware", "economics", "plan", "reference"}
_HARDWARE = {"gpu": "gpu", "count": "gpus", "gpus_per_node": "gpus_per_node", "system": "system"}


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


def _table(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise DataError(f"{where}: [{key}] must be a table")
    return value


def load_scenario(path: Path | None = None) -> Question:
    """Read a scenario file into a Question; ``None`` reads the shipped founding question."""
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
    model, hardware = _table(doc, "model", where), _table(doc, "hardware", where)
    if "name" not in model:
        raise DataError(f"{where} lacks required field 'model.name'")
    if set(model) - {"name"}:
        raise DataError(f"{where}: unknown field 'model.{sorted(set(model) - {'name'})[0]}'")
    if "gpu" not in hardware:
        raise DataError(f"{where} lacks required field 'hardware.gpu'")
    extra = set(hardware) - set(_HARDWARE)
    if extra:
        raise DataError(f"{where}: unknown field 'hardware.{sorted(extra)[0]}'")
    plan = _table(doc, "plan", where)
    if set(plan) - {"allow_math_changes"}:
        raise DataError(f"{where}: unknown field 'plan.{sorted(set(plan))[0]}'")
    return build(
        Question,
        where,
        model=model["name"],
        **{_HARDWARE[k]: v for k, v in hardware.items()},
        training=build(TrainingSpec, f"{where} [training]", **_table(doc, "training", where)),
        economics=build(Economics, f"{where} [economics]", **_table(doc, "economics", where)),
        reference=doc.get("reference"),
        allow_math_changes=plan.get("allow_math_changes", False),
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


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string is a JSON string
    raise DataError(f"{where}={value!r} cannot be written to a scenario file")


def scenario_text(
    *,
    model: str,
    hardware: dict[str, Any],
    training: dict[str, Any] | None = None,
    economics: dict[str, Any] | None = None,
    allow_math_changes: bool = False,
    reference: str | None = None,
) -> str:
    """A scenario file that ``load_scenario`` reads back as the same question: ``hardware``
    keys are Question's (``gpu``, ``gpus``, ``gpus_per_node``, ``system``); None is unset."""
    lines = ["# traintime scenario: traintime estimate --scenario <this file>"]
    if reference:
        lines.append(f"reference = {_toml_value(reference, 'reference')}")
    file_keys = {v: k for k, v in _HARDWARE.items()}
    sections = [
        ("model", {"name": model}),
        ("training", training or {}),
        ("hardware", {file_keys[k]: v for k, v in hardware.items() if k in file_keys}),
        ("economics", economics or {}),
        ("plan", {"allow_math_changes": allow_math_changes} if allow_math_changes else {}),
    ]
    for name, table in sections:
        values = {k: v for k, v in table.items() if v is not None}
        if not values and name not in ("model", "hardware"):
            continue
        lines += ["", f"[{name}]"]
        lines += [f"{k} = {_toml_value(v, f'{name}.{k}')}" for k, v in values.items()]
    return "\n".join(lines) + "\n"
