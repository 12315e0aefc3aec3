"""Benchmark: the founding question planned on every catalog GPU with at least 8 GiB
(target: under 5 s). This is the search `traintime compare --all` runs.

Run: python bench/bench_compare_all.py
"""

from __future__ import annotations

import time

from traintime import catalog
from traintime.estimation import plan_on_many


def main() -> None:
    t0 = time.perf_counter()
    gpus = [g for g in catalog.list_gpus() if g.memory_gib >= 8]
    t1 = time.perf_counter()
    results = plan_on_many("nanochat-d32", gpus, training=catalog.load_scenario(None).training)
    t2 = time.perf_counter()
    fits = sum(1 for _, cand, _ in results if cand is not None)
    print(
        f"{len(gpus)} GPUs with >= 8 GiB (catalog load {t1 - t0:.2f} s); planned in "
        f"{t2 - t1:.2f} s; {fits} can train it"
    )


if __name__ == "__main__":
    main()
