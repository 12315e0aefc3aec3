"""The GPU catalog: ``data/gpus.csv`` (curated, one source per row) and name resolution.

``memory_gib``: vendors' "GB" of GPU memory are binary (the RTX 4070's "12 GB" is 12,282 MiB in
nvidia-smi; an H100 80GB reports 79.19 GiB of capacity to PyTorch), so the table's ``memory_gb``
is read as GiB.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import re
from typing import Any

from traintime.catalog._files import data_dir, read_toml
from traintime.errors import AmbiguousNameError, DataError, UnknownNameError
from traintime.specs import GpuSpec, build

_VENDOR_WORDS = {"nvidia", "geforce", "amd", "instinct", "intel", "google", "apple", "cloud"}
_PEAK_COLUMNS = {
    "bf16": "bf16_fp32acc_dense_tflops",
    "fp16": "fp16_fp32acc_dense_tflops",
    "fp8": "fp8_fp32acc_dense_tflops",
    "tf32": "tf32_dense_tflops",
    "fp32": "fp32_nontensor_tflops",
}


def _num(row: dict[str, str], key: str) -> float | None:
    cell = (row.get(key) or "").strip()
    if not cell:
        return None
    try:
        return float(cell)
    except ValueError:
        raise DataError(f"gpus.csv row {row.get('name')!r}: {key}={cell!r} is not a number") from None


def _gpu_from_row(row: dict[str, str]) -> GpuSpec:
    return build(
        GpuSpec,
        f"gpu {row.get('name')!r}",
        name=row["name"],
        vendor=row.get("vendor", ""),
        architecture=row.get("architecture", ""),
        form_factor=row.get("form_factor", ""),
        memory_gib=_num(row, "memory_gb"),
        bandwidth_gbs=_num(row, "mem_bw_gbs"),
        peak_tflops={p: _num(row, col) for p, col in _PEAK_COLUMNS.items()},
        tdp_w=_num(row, "tdp_w"),
        measured_bf16_matmul_tflops=_num(row, "measured_bf16_matmul_tflops"),
        price_usd=_num(row, "price_usd"),
        price_kind=row.get("price_kind", ""),
        sources=row.get("sources", ""),
    )


@functools.cache
def _gpus() -> dict[str, GpuSpec]:
    text = data_dir().joinpath("gpus.csv").read_text(encoding="utf-8")
    return {row["name"]: _gpu_from_row(row) for row in csv.DictReader(io.StringIO(text))}


def normalize(name: str) -> str:
    """Lower-case alphanumerics only: 'GeForce RTX 4070' -> 'geforcertx4070'."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _variants(name: str) -> set[str]:
    """Spellings that should find ``name``: with and without vendor words, memory, form factor."""
    outer = re.sub(r"\(.*?\)", " ", name)
    out = set()
    for text in (name, outer):
        tokens = re.findall(r"[a-z0-9]+", text.lower())
        core = [t for t in tokens if t not in _VENDOR_WORDS]
        no_mem = [t for t in core if not re.fullmatch(r"\d+gb", t)]
        no_form = [t for t in no_mem if not re.fullmatch(r"sxm\d*|pcie", t)]
        no_rtx = [t for t in no_mem if t != "rtx"]
        for variant in (tokens, core, no_mem, no_form, no_rtx):
            if variant:
                out.add("".join(variant))
    return out


@functools.cache
def _index() -> tuple[dict[str, set[str]], dict[str, str]]:
    index: dict[str, set[str]] = {}
    for name in _gpus():
        for variant in _variants(name):
            index.setdefault(variant, set()).add(name)
    pinned = read_toml(data_dir().joinpath("gpu_aliases.toml"), what="gpu alias file")
    aliases: dict[str, Any] = pinned.get("aliases", {})
    return index, {normalize(k): v for k, v in aliases.items()}


def find_gpu(name: str) -> GpuSpec:
    """Resolve what a person types ('4070', 'h100', 'RTX 4090') into one catalog row."""
    gpus = _gpus()
    if name in gpus:
        return gpus[name]
    index, pinned = _index()
    key = normalize(name)
    stripped = "".join(t for t in re.findall(r"[a-z0-9]+", name.lower()) if t not in _VENDOR_WORDS)
    for candidate in (key, stripped):
        if candidate in pinned:
            return gpus[pinned[candidate]]
        hits = index.get(candidate, set())
        if len(hits) == 1:
            return gpus[next(iter(hits))]
        if len(hits) > 1:
            raise AmbiguousNameError("gpu", name, hits)
    raise UnknownNameError(
        "gpu", name, suggestions=_suggestions(key), hint="(`traintime gpus` lists the catalog)"
    )


def _suggestions(key: str) -> list[str]:
    """Catalog names whose spellings are closest to the normalized query."""
    index, _ = _index()
    hits = difflib.get_close_matches(key, list(index), n=6, cutoff=0.6)
    names: list[str] = []
    for hit in hits:
        names += [n for n in sorted(index[hit]) if n not in names]
    return names[:4]


def list_gpus() -> list[GpuSpec]:
    return list(_gpus().values())
