"""Pictures: the step-time breakdown, memory against capacity, and time against cost.

matplotlib (Agg, no display) draws PNG and SVG; HTML embeds the SVG inline so the file opens
offline. Formatting only: every number comes from an Estimate.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from traintime.errors import SpecError
from traintime.results import Estimate

FORMATS = (".png", ".svg", ".html")
COLORS = {
    "matmul": "#4c72b0",
    "attention": "#55a868",
    "memory": "#c44e52",
    "optimizer": "#8172b2",
    "communication": "#ccb974",
    "offload": "#64b5cd",
    "overhead": "#8c8c8c",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def estimate_figure(est: Estimate) -> Any:
    """Two panels: step time by category, and memory by component against capacity."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    tp = est.throughput
    items = [(k, v) for k, v in tp.breakdown_s.items() if v > 0]
    ax1.barh(
        [k for k, _ in items],
        [v for _, v in items],
        color=[COLORS.get(k, "#999999") for k, _ in items],
    )
    ax1.invert_yaxis()
    ax1.set_xlabel("seconds per optimizer step")
    ax1.set_title(f"Step time: {tp.step_time_s:.3g} s ({tp.tokens_per_sec_per_gpu:,.0f} tok/s/GPU)")
    mem = est.memory
    left = 0.0
    for name, gib in mem.breakdown.items():  # the parts of the peak: they add up to it
        if gib <= 0:
            continue
        ax2.barh(["peak"], [gib], left=left, label=name.replace("_", " "))
        left += gib
    ax2.axvline(mem.capacity_gib, color="black", linestyle="--", label="capacity")
    ax2.set_xlabel(f"GiB per GPU (peak in the {mem.phase})")
    ax2.set_title(
        f"Memory: {mem.needed_gib:.1f} of {mem.capacity_gib:g} GiB "
        f"({'fits' if mem.fits else 'does not fit'})"
    )
    ax2.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{est.model.name} on {est.hardware.count} x {est.hardware.gpu.name}")
    fig.tight_layout()
    return fig


def comparison_figure(rows: list[dict[str, Any]]) -> Any:
    """Time against cost, one point per setup that fits and has a price."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    pts = [r for r in rows if r.get("cost_usd") is not None and r.get("days") is not None]
    ax.scatter([r["days"] for r in pts], [r["cost_usd"] for r in pts], color="#4c72b0")
    for r in pts[:40]:
        ax.annotate(
            r["label"],
            (r["days"], r["cost_usd"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training time (days)")
    ax.set_ylabel("cost (USD: rent on demand, else own)")
    ax.set_title("Time against cost")
    fig.tight_layout()
    return fig


def svg_text(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def save(fig: Any, path: str | Path, *, title: str = "traintime") -> Path:
    """Write ``fig`` as PNG, SVG or a self-contained HTML page, chosen by the extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise SpecError(f"plot file {str(path)!r} must end in {', '.join(FORMATS)}")
    try:
        if suffix == ".html":
            path.write_text(html_page(title, [svg_text(fig)]), encoding="utf-8")
        else:
            fig.savefig(path, format=suffix[1:])
    except OSError as exc:
        raise SpecError(f"cannot write plot file {str(path)!r}: {exc.strerror}") from None
    finally:
        _pyplot().close(fig)
    return path


def html_page(title: str, bodies: list[str]) -> str:
    """A self-contained page: inline CSS and SVG, no scripts, no external resources."""
    from html import escape

    css = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:14px}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "th{background:#f3f3f3} svg{max-width:100%;height:auto}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{css}</style></head><body>"
        f"<h1>{escape(title)}</h1>" + "".join(bodies) + "</body></html>"
    )
