"""Model presets: ``data/models/*.toml`` tables, nanochat at any depth, and local config files.

A name resolves in this order: a path to a ``config.json`` (Hugging Face) or a model ``.toml``;
a preset name or alias; a nanochat ``<family>-d<depth>`` pattern.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from traintime.catalog._files import data_dir, read_toml
from traintime.catalog.hf import load_hf_config
from traintime.errors import DataError, UnknownNameError
from traintime.families import nanochat_spec
from traintime.specs import ModelSpec, build

_META = {"aliases", "recipe", "description"}


@functools.cache
def _tables() -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, dict[str, Any]]]:
    """(preset fields by name, alias -> name, rule-based families by name)."""
    presets: dict[str, dict[str, Any]] = {}
    aliases: dict[str, str] = {}
    families: dict[str, dict[str, Any]] = {}
    for path in sorted(data_dir().joinpath("models").iterdir(), key=lambda p: p.name):
        if not path.name.endswith(".toml"):
            continue
        doc = read_toml(path, what="model preset file")
        defaults = doc.get("defaults", {})
        for name, table in doc.get("models", {}).items():
            presets[name] = {**defaults, **table}
            for alias in table.get("aliases", []):
                aliases[alias.lower()] = name
        for name, facts in doc.get("families", {}).items():
            families[name] = facts
    return presets, aliases, families


def _spec_from_table(name: str, table: dict[str, Any]) -> ModelSpec:
    fields = {k: v for k, v in table.items() if k not in _META}
    return build(ModelSpec, f"model {name}", name=name, **fields)


def _family_match(name: str) -> tuple[dict[str, Any], int] | None:
    _, _, families = _tables()
    for facts in families.values():
        regex = re.escape(facts["pattern"]).replace(r"\{depth\}", r"(\d+)")
        match = re.fullmatch(regex, name)
        if match:
            return facts, int(match.group(1))
    return None


def find_model(name: str) -> ModelSpec:
    """Resolve a preset name, alias, nanochat pattern or local file path into a ModelSpec."""
    key = name.strip()
    if key.endswith(".json"):
        return load_hf_config(Path(key))
    if key.endswith(".toml"):
        return _load_model_file(Path(key))
    presets, aliases, _ = _tables()
    lower = key.lower()
    canonical = lower if lower in presets else aliases.get(lower)
    if canonical is not None:
        return _spec_from_table(canonical, presets[canonical])
    family = _family_match(lower)
    if family is not None:
        facts, depth = family
        if not 1 <= depth <= 256:
            raise DataError(f"nanochat depth={depth} is out of range; allowed 1..256")
        return nanochat_spec(depth, facts, name=lower)
    raise UnknownNameError(
        "model", name, list_models() + list(aliases), hint="(`traintime models` lists presets)"
    )


def model_recipe(spec: ModelSpec) -> dict[str, Any]:
    """Training defaults that ship with a model's family (nanochat's recipe), else {}."""
    presets, _, families = _tables()
    if spec.name in presets:
        return dict(presets[spec.name].get("recipe", {}))
    for facts in families.values():
        if facts["family"] == spec.family:
            return dict(facts.get("recipe", {}))
    return {}


def list_models() -> list[str]:
    """Preset names, with nanochat listed at the depths its recipes use."""
    presets, _, families = _tables()
    names = list(presets)
    for facts in families.values():
        names += [facts["pattern"].format(depth=d) for d in facts.get("listed_depths", [])]
    return names


def describe_model(name: str) -> dict[str, Any]:
    """Name, family, aliases and source of a listed preset (for `traintime models`)."""
    presets, _, families = _tables()
    if name in presets:
        table = presets[name]
        return {"aliases": table.get("aliases", []), "source": table.get("source", "")}
    match = _family_match(name)
    if match:
        return {"aliases": [], "source": match[0]["source"], "note": match[0]["description"]}
    return {}


def _load_model_file(path: Path) -> ModelSpec:
    """A user TOML with the preset schema: either top-level fields or one [models.NAME] table."""
    doc = read_toml(path, what="model file")
    if "models" in doc:
        name, table = next(iter(doc["models"].items()))
        return _spec_from_table(name, table)
    return _spec_from_table(doc.pop("name", path.stem), doc)
