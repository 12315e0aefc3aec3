"""Benchmark: the founding question on every catalog GPU with at least 8 GiB (target: under
30 s on one core). This is what `traintime compare --all` runs: one full estimate (resolution,
exact planner search, one evaluation) per GPU, the same path as `traintime estimate`.

Run: python bench/bench_compare_all.py
"""

from __future__ import annotations

import time

from traintime.compare import compare, select_gpus


def main() -> None:
    t0 = time.perf_counter()
    gpus = select_gpus(min_memory_gib=8.0)
    t1 = time.perf_counter()
    rows = compare(all_gpus=True, min_memory_gib=8.0)
    t2 = time.perf_counter()
    fits = sum(1 for r in rows if r.fits)
    print(
        f"{len(gpus)} GPUs with >= 8 GiB (catalog load {t1 - t0:.2f} s); estimated in "
        f"{t2 - t1:.2f} s ({(t2 - t1) / max(len(rows), 1) * 1e3:.0f} ms each); {fits} can train it"
    )


if __name__ == "__main__":
    main()
