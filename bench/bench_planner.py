"""Benchmark: the planner's search for one scenario (target, warm: under 100 ms on one GPU,
under 1 s on a node).

Run: python bench/bench_planner.py
"""

from __future__ import annotations

import statistics
import time

import traintime

SCENARIOS = [
    ("founding: nanochat-d32 on 1 x RTX 4070", {}),
    ("llama-3.1-8b on 8 x A100", {"model": "llama-3.1-8b", "gpu": "a100", "gpus": 8}),
    ("nanochat-d20 on 1 x RTX 3090", {"model": "nanochat-d20", "gpu": "3090"}),
]


def main(repeats: int = 5) -> None:
    traintime.estimate_scenario()  # load the catalog once
    for label, kw in SCENARIOS:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            est = traintime.estimate_scenario(**kw)
            times.append(time.perf_counter() - t0)
        print(
            f"{label}: {statistics.median(times) * 1e3:.0f} ms for {est.plan.searched} "
            f"setups (median of {repeats})"
        )


if __name__ == "__main__":
    main()
