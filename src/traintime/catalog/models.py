"""Model presets: ``data/models/*.toml`` tables, nanochat at any depth, and local config files.

A name resolves in this order: a path to a ``config.json`` (Hugging Face), a model directory or
a model ``.toml``; a preset name or alias; a nanochat ``<family>-d<depth>`` pattern; a Hugging
Face repo id in the local hub cache.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from traintime.catalog._files import data_dir, read_json, read_toml
from traintime.catalog.hf import load_hf_config, parse_hf_config
from traintime.errors import DataError, SpecError, UnknownNameError
from traintime.families import nanochat_spec
from traintime.specs import ModelSpec, build

_META = {"aliases", "recipe", "description", "published"}
_HUB_REPO = re.compile(r"huggingface\.co/([A-Za-z0-9][\w.-]*/[\w.-]+)")


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
            # the hub repo a preset's config comes from names it too (meta-llama/Llama-3.1-8B)
            repo = _HUB_REPO.search(str(table.get("source", "")))
            if repo:
                aliases.setdefault(repo.group(1).lower(), name)
        for name, facts in doc.get("families", {}).items():
            families[name] = facts
    return presets, aliases, families


def _spec_from_table(name: str, table: dict[str, Any]) -> ModelSpec:
    if "config" in table:  # a shipped Hugging Face config.json
        spec = parse_hf_config(
            read_json(data_dir() / "models" / table["config"], what="preset config"),
            where=f"preset {name}",
            source=table.get("source", ""),
        )
        return spec.model_copy(update={"name": name})
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


def find_model(name: str | os.PathLike[str]) -> ModelSpec:
    """Resolve a model: a local ``config.json``, model directory or model ``.toml``; a preset
    name or alias (hub repo ids are aliases of the presets that ship their config); a nanochat
    ``<family>-d<depth>`` pattern; or a Hugging Face repo id found in the local cache."""
    if not isinstance(name, (str, os.PathLike)):
        raise SpecError(
            f"model={name!r} is not a model: give a preset name, a config path or a repo id"
        )
    key = os.fspath(name).strip()
    path = _expand(key)
    if key.endswith(".json"):
        return load_hf_config(path)
    if key.endswith(".toml"):
        return _load_model_file(path)
    if _is_dir(path):
        return _load_model_dir(path)
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
    if _REPO_ID.fullmatch(key):
        return _load_cached(key)
    raise UnknownNameError(
        "model", key, list_models() + list(aliases), hint="(`traintime models` lists presets)"
    )


def _expand(text: str) -> Path:
    """``~`` and ``~user`` expanded where they name a home directory; left as typed where not
    (an unknown user, no home)."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        return Path(text)


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a directory; a name no file system accepts (too long, a NUL) is
    not one."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def _load_model_dir(path: Path) -> ModelSpec:
    config = path / "config.json"
    if not config.is_file():
        raise DataError(f"model directory {str(path)!r} has no config.json")
    return load_hf_config(config)


def hf_cache_dirs() -> list[Path]:
    """Where the Hugging Face hub cache may be, in huggingface_hub's order of precedence:
    ``HF_HUB_CACHE``, ``HF_HOME``/hub, ``XDG_CACHE_HOME``/huggingface/hub,
    ~/.cache/huggingface/hub (huggingface_hub constants.py)."""
    env = os.environ
    if env.get("HF_HUB_CACHE"):
        return [_expand(env["HF_HUB_CACHE"])]
    if env.get("HF_HOME"):
        return [_expand(env["HF_HOME"]) / "hub"]
    xdg = env.get("XDG_CACHE_HOME")
    base = _expand(xdg) if xdg else _expand("~") / ".cache"
    return [base / "huggingface" / "hub"]


def _load_cached(repo_id: str) -> ModelSpec:
    """The repo's config.json in the hub cache layout ``models--org--name/snapshots/<rev>/``:
    the revision ``refs/main`` names, else the newest snapshot. Never the network."""
    folder = "models--" + repo_id.replace("/", "--")
    looked = []
    for cache in hf_cache_dirs():
        repo = cache / folder
        looked.append(str(repo / "snapshots"))
        ref = repo / "refs" / "main"
        candidates = []
        if ref.is_file():
            candidates.append(repo / "snapshots" / ref.read_text().strip() / "config.json")
        snapshots = repo / "snapshots"
        if snapshots.is_dir():
            found = sorted(snapshots.glob("*/config.json"), key=lambda p: p.stat().st_mtime)
            candidates += reversed(found)
        for config in candidates:
            if config.is_file():
                return load_hf_config(config)
    raise DataError(
        f"model {repo_id!r} is not a preset and has no config.json in the local Hugging Face "
        f"cache (looked in {', '.join(looked)}); traintime never downloads: pass a config.json "
        f"or model directory, or fetch it with `hf download {repo_id} config.json`"
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
        return {
            "aliases": table.get("aliases", []),
            "source": table.get("source", ""),
            "published": table.get("published", ""),
        }
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
