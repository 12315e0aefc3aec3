"""Benchmark: how long the GPU catalog takes to load and resolve names (target: well under 1 s).

Run: python bench/bench_catalog.py   (fresh processes, so import and cache costs are real)
"""

from __future__ import annotations

import statistics
import subprocess
import sys

CODE = """
import time
t0 = time.perf_counter()
from traintime import find_gpu, list_gpus
n = len(list_gpus())
t1 = time.perf_counter()
for name in ("4070", "h100", "a100-80gb", "mi300x", "rtx 3060 ti"):
    find_gpu(name)
t2 = time.perf_counter()
print(n, t1 - t0, t2 - t1)
"""


def main(runs: int = 5) -> None:
    loads, lookups = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", CODE], capture_output=True, text=True, check=True
        ).stdout.split()
        count, load, lookup = int(out[0]), float(out[1]), float(out[2])
        loads.append(load)
        lookups.append(lookup)
    print(f"catalog: {count} devices")
    print(f"load (import + build), median of {runs}: {statistics.median(loads) * 1e3:.0f} ms")
    print(f"first 5 lookups (builds the name index): {statistics.median(lookups) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
