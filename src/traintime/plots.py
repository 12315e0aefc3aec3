"""Pictures: the step-time breakdown, memory against capacity, and time against cost.

matplotlib draws PNG and SVG on its Agg renderer, without pyplot, a display or a backend switch;
HTML embeds the SVG inline so the file opens offline. Formatting only: every number comes from an
Estimate or a comparison row. Nothing here prints: matplotlib's warnings and log lines (the font
cache, missing glyphs) are kept quiet, and errors are one-line :class:`SpecError`s.

Files are written whole or not at all (:func:`write_atomic`): a temporary file in the target's
directory, renamed over the target only once complete.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
import stat
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from traintime.errors import SpecError, TraintimeError
from traintime.results import Estimate
from traintime.units import human_count

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
#: One colour per model in a comparison (cycled past ten models).
MODEL_COLORS = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
)
#: Marker and legend text of each way of paying in a comparison (ComparisonRow.cost_kind).
COST_KINDS = {
    "rent": ("o", "rent: on-demand cloud price"),
    "own": ("s", "own: share of the purchase price + electricity"),
}
FRONTIER_LABEL = "fastest for the money (nothing both faster and cheaper)"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence matplotlib while it imports and draws: its log lines ("building the font cache",
    "created a temporary cache directory") and its user/runtime warnings (missing glyphs,
    layouts that do not fit)."""
    logger = logging.getLogger("matplotlib")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
    finally:
        logger.setLevel(level)


def _figure(**kwargs: Any) -> Any:
    """A matplotlib Figure that pyplot does not track (nothing to close, no global backend)."""
    with _quiet():
        from matplotlib.figure import Figure

        return Figure(**kwargs)


def _close(fig: Any) -> None:
    """Release ``fig`` from pyplot if a caller made it there; figures made here need nothing."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def estimate_figure(est: Estimate) -> Any:
    """Two panels: step time by category, and memory by component against capacity."""
    fig = _figure(figsize=(11, 4), dpi=100)
    with _quiet():
        ax1, ax2 = fig.subplots(1, 2)
        tp = est.throughput
        items = [(k, v) for k, v in tp.breakdown_s.items() if v > 0]
        ax1.barh(
            [k for k, _ in items],
            [v for _, v in items],
            color=[COLORS.get(k, "#999999") for k, _ in items],
        )
        ax1.invert_yaxis()
        ax1.set_xlabel("seconds per optimizer step")
        ax1.set_title(
            f"Step time: {tp.step_time_s:.3g} s ({tp.tokens_per_sec_per_gpu:,.0f} tok/s/GPU)"
        )
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


def frontier(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the fastest-for-the-money setups among (hours, cost) points: those that no
    other point beats on both (at most as slow and as dear, and better on one), fastest first.
    Identical points are kept together."""
    order = sorted(range(len(points)), key=lambda i: points[i])
    out: list[int] = []
    best = float("inf")
    for i in order:
        hours, cost = points[i]
        if cost < best or (out and points[out[-1]] == (hours, cost)):
            out.append(i)
            best = min(best, cost)
    return out


def _models(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(r.get("model", "")) for r in rows))


def comparison_title(rows: list[dict[str, Any]], tokens: float | None = None) -> str:
    """The title of a comparison: the models and, where known, the training tokens. Without
    ``tokens``, a ``tokens`` value that every row shares is used."""
    models = _models(rows)
    if tokens is None:
        shared = {r.get("tokens") for r in rows}
        tokens = shared.pop() if len(shared) == 1 else None
    what = ", ".join(models) if len(models) <= 4 else f"{len(models)} models"
    title = "Time against cost" + (f": {what}" if what else "")
    if tokens is not None:
        title += f" trained on {human_count(tokens)} tokens"
    return title


def comparison_figure(
    rows: list[dict[str, Any]],
    *,
    tokens: float | None = None,
    title: str | None = None,
) -> Any:
    """Time to train (hours) against cost (US dollars), one point per setup that fits and has
    a price: the marker tells renting from owning, the colour the model (several models), and a
    step line marks the fastest-for-the-money frontier of each model. ``rows`` are
    ``ComparisonRow.model_dump()``s; ``tokens`` (the training tokens; default: a ``tokens``
    key every row shares, if any) goes into the title; ``title`` replaces the title. Setups
    left out are counted under it."""
    fig = _figure(figsize=(8, 5), dpi=100)
    with _quiet():
        return _draw_comparison(fig, rows, tokens, title)


def _draw_comparison(
    fig: Any, rows: list[dict[str, Any]], tokens: float | None, title: str | None
) -> Any:
    from matplotlib.lines import Line2D

    ax = fig.subplots()
    models = _models(rows)
    color = {m: MODEL_COLORS[i % len(MODEL_COLORS)] for i, m in enumerate(models)}
    pts = [
        r
        for r in rows
        if r.get("fits", True) and r.get("days") is not None and r.get("cost_usd") is not None
    ]
    unfit = sum(1 for r in rows if not r.get("fits", True) or r.get("days") is None)
    unpriced = len(rows) - len(pts) - unfit
    hours = [r["days"] * 24.0 for r in pts]
    costs = [float(r["cost_usd"]) for r in pts]

    on_front: set[int] = set()
    for m in models:
        idx = [i for i, r in enumerate(pts) if str(r.get("model", "")) == m]
        front = [idx[j] for j in frontier([(hours[i], costs[i]) for i in idx])]
        on_front.update(front)
        if front:
            ax.plot(
                [hours[i] for i in front],
                [costs[i] for i in front],
                drawstyle="steps-post",
                linestyle="--",
                linewidth=1.2,
                color=color[m],
                zorder=1,
            )
    kinds = [k for k in COST_KINDS if any(r.get("cost_kind") == k for r in pts)]
    other = sorted({str(r.get("cost_kind")) for r in pts} - set(COST_KINDS))
    for m in models:
        for kind in kinds + other:
            idx = [
                i
                for i, r in enumerate(pts)
                if str(r.get("model", "")) == m and str(r.get("cost_kind")) == kind
            ]
            if not idx:
                continue
            ax.scatter(
                [hours[i] for i in idx],
                [costs[i] for i in idx],
                marker=COST_KINDS.get(kind, ("^", ""))[0],
                color=color[m],
                edgecolors=["black" if i in on_front else "none" for i in idx],
                linewidths=0.8,
                zorder=2,
            )
    labelled = sorted(on_front) + [i for i in range(len(pts)) if i not in on_front]
    for i in labelled[: max(40, len(on_front))]:
        ax.annotate(
            pts[i]["label"],
            (hours[i], costs[i]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )

    if pts and min(hours) > 0 and min(costs) > 0:
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log_ticks(ax.xaxis, "")
        _plain_log_ticks(ax.yaxis, "$")
    if not pts:
        ax.text(
            0.5,
            0.5,
            "no setup both fits in memory and has a price",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_xlabel("time to train (hours)")
    ax.set_ylabel("cost (US dollars)")

    handles = []
    if len(models) > 1:
        handles += [
            Line2D([], [], linestyle="", marker="o", color=color[m], label=m) for m in models
        ]
    handles += [
        Line2D(
            [], [], linestyle="", marker=COST_KINDS[k][0], color="#555555", label=COST_KINDS[k][1]
        )
        for k in kinds
    ]
    handles += [
        Line2D([], [], linestyle="", marker="^", color="#555555", label=f"cost: {k}") for k in other
    ]
    if pts:
        handles.append(
            Line2D(
                [],
                [],
                linestyle="--",
                drawstyle="steps-post",
                color="#333333",
                label=FRONTIER_LABEL + (", per model" if len(models) > 1 else ""),
            )
        )
        ax.legend(
            handles=handles,
            fontsize=7,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.13),
            ncol=2,
            frameon=False,
        )

    left_out = []
    if unfit:
        left_out.append(f"{unfit} do not fit in memory")
    if unpriced:
        left_out.append(f"{unpriced} have no price")
    note = f"{len(pts)} of {len(rows)} setups shown"
    if left_out:
        note += "; not shown: " + ", ".join(left_out)
    heading = title if title is not None else comparison_title(rows, tokens)
    fig.suptitle(textwrap.fill(heading, 90), fontsize=11)
    ax.set_title(note, fontsize=8)
    fig.tight_layout()
    return fig


def _plain_log_ticks(axis: Any, prefix: str) -> None:
    """Label a log axis "$1,000" or "20" instead of 10^3 or 2x10^1, on the ticks matplotlib
    would label."""
    from matplotlib.ticker import LogFormatterSciNotation

    class Plain(LogFormatterSciNotation):
        def __call__(self, x: float, pos: int | None = None) -> str:
            if not super().__call__(x, pos):
                return ""
            return prefix + (f"{x:,.0f}" if x >= 1 else f"{x:.2g}")

    axis.set_major_formatter(Plain(labelOnlyBase=False))
    axis.set_minor_formatter(Plain(labelOnlyBase=False))


def svg_text(fig: Any) -> str:
    buf = io.StringIO()
    with _quiet():
        fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _temp_beside(target: Path) -> tuple[int, Path]:
    """Create a new, empty hidden file next to ``target`` (same directory, so the final rename
    stays on one file system); its permissions follow the umask like any new file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = target.with_name(f".{target.name[:200]}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], Any], *, what: str) -> Path:
    """Write a file whole or not at all: ``write`` fills a temporary file in the same directory,
    which then replaces ``path`` in one rename. On any failure ``path`` is untouched (an old file
    stays as it was), the temporary file is removed, and a one-line :class:`SpecError` names
    ``what`` and ``path``. A symbolic link at ``path`` is written through. Returns ``path``."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    tmp: Path | None = None
    try:
        fd, tmp = _temp_beside(target)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # keep the permissions of a file being replaced
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        os.replace(tmp, target)
        tmp = None
    except TraintimeError:
        raise
    except OSError as exc:
        raise SpecError(f"cannot write {what} {str(path)!r}: {exc.strerror or exc}") from None
    except Exception as exc:
        raise SpecError(f"cannot write {what} {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return path


def _savefig(fig: Any, f: IO[bytes], fmt: str) -> None:
    with _quiet():
        fig.savefig(f, format=fmt)


def save(fig: Any, path: str | Path, *, title: str = "traintime") -> Path:
    """Write ``fig`` as PNG, SVG or a self-contained HTML page, chosen by the extension; whole or
    not at all (:func:`write_atomic`). Returns the path written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise SpecError(f"plot file {str(path)!r} must end in {', '.join(FORMATS)}")

    def write(f: IO[bytes]) -> None:
        if suffix == ".html":
            f.write(html_page(title, [svg_text(fig)]).encode("utf-8"))
        else:
            _savefig(fig, f, suffix[1:])

    try:
        return write_atomic(path, write, what="plot file")
    finally:
        _close(fig)


def html_page(title: str, bodies: list[str]) -> str:
    """A self-contained page: inline CSS and SVG, no scripts, no external resources."""
    from html import escape

    css = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:14px}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
        "th{background:#f3f3f3} svg{max-width:100%;height:auto}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{css}</style></head><body>"
        f"<h1>{escape(title)}</h1>" + "".join(bodies) + "</body></html>"
    )
