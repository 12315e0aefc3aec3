"""Unit constants and parsing of human-typed quantities. SI inside: bytes, seconds, FLOPs."""

from __future__ import annotations

import math
import re

from traintime.errors import SpecError

KB, MB, GB, TB = 1e3, 1e6, 1e9, 1e12
KIB, MIB, GIB = 2.0**10, 2.0**20, 2.0**30
TFLOP = 1e12
US = 1e-6  # a microsecond
MHZ = 1e6
HOUR = 3600.0
DAY = 86400.0
YEAR = 365.25 * DAY

#: Bytes per element of each storage dtype (int8 for 8-bit optimizer states).
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
}

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
_QTY = re.compile(r"^\s*([+-]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMBGT]?)\s*$", re.IGNORECASE)


def parse_count(text: str | int | float, *, field: str) -> float:
    """Parse '37.6B', '500M', '2e9', '524288' or '1_000' into a number.

    Raises SpecError naming ``field`` for anything else.
    """
    if isinstance(text, bool):
        raise SpecError(f"{field}={text!r} is not a number; use e.g. 10B, 500M or 2e9")
    if isinstance(text, int | float):
        value = float(text)
    else:
        match = _QTY.match(text.replace("_", "").replace(",", ""))
        if not match:
            raise SpecError(f"{field}={text!r} is not a number; use e.g. 10B, 500M or 2e9")
        value = float(match.group(1)) * _SUFFIX[match.group(2).upper()]
    if not math.isfinite(value):
        raise SpecError(f"{field}={text!r} is not a finite number; use e.g. 10B, 500M or 2e9")
    return value


def human_count(x: float) -> str:
    """Format 3.76e10 as '37.6B' (three significant digits)."""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div * 0.9995:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def human_duration(seconds: float) -> str:
    """Format seconds as '31.3 h' or '92.4 days' or '12.5 min' (or '462 years')."""
    if seconds >= 2 * YEAR:
        return f"{seconds / YEAR:,.0f} years"
    if seconds >= 2 * DAY:
        return f"{seconds / DAY:.1f} days"
    if seconds >= 2 * HOUR:
        return f"{seconds / HOUR:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.3g} s"
