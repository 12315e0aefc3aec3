"""Timing one device call: warm up, then the median of several samples.

Device work is asynchronous on CUDA, ROCm and MPS: a call returns once its kernels are queued.
A sample therefore either brackets the calls with device events (CUDA/ROCm: the time between
two events recorded on the stream, as the CUDA C Programming Guide's "Events" section
describes) or synchronizes the device before reading the host clock (MPS and CPU). A sample
times ``inner`` back-to-back calls, ``inner`` chosen so that one sample lasts about
``min_time_s / repeats``: a kernel of a few microseconds is then timed over enough calls that
the launch and clock overheads are spread thin, as ``timeit`` and ``triton.testing.do_bench``
both do. The median of the samples resists a stray slow sample (another process, a clock change).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

#: Most calls one sample repeats (a no-op-sized kernel would otherwise loop for ages).
MAX_INNER_CALLS = 10_000


def as_torch_device(device: str | torch.device) -> torch.device:
    """``device`` as torch names it: ROCm builds drive AMD GPUs through ``torch.cuda``."""
    if isinstance(device, torch.device):
        return device
    return torch.device("cuda" if device == "rocm" else device)


def synchronize(device: str | torch.device) -> None:
    """Wait until every kernel queued on ``device`` has finished (no-op on the CPU)."""
    kind = as_torch_device(device).type
    if kind == "cuda":
        torch.cuda.synchronize()
    elif kind == "mps":
        torch.mps.synchronize()


def time_call(
    fn: Callable[[], Any],
    *,
    device: str | torch.device,
    warmup: int = 3,
    repeats: int = 10,
    min_time_s: float = 0.05,
    max_time_s: float | None = None,
) -> float:
    """Median seconds one call of ``fn`` takes on ``device``.

    ``warmup`` calls run first (lazy initialisation, autotuning, caches). Then ``repeats``
    samples are taken, each over enough back-to-back calls that all samples together last at
    least ``min_time_s``. When one call is so slow that the samples would outlast
    ``max_time_s``, fewer samples are taken (never fewer than one).
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"time_call needs repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    dev = as_torch_device(device)
    for _ in range(warmup):
        fn()
    synchronize(dev)

    start = time.perf_counter()
    fn()
    synchronize(dev)
    estimate_s = max(time.perf_counter() - start, 1e-9)

    if max_time_s is not None and estimate_s * repeats > max_time_s:
        repeats = max(1, math.floor(max_time_s / estimate_s))
    inner = max(1, min(MAX_INNER_CALLS, math.ceil(min_time_s / repeats / estimate_s)))
    sample = _event_sample if dev.type == "cuda" else _clock_sample
    return statistics.median(sample(fn, dev, inner) / inner for _ in range(repeats))


def _event_sample(fn: Callable[[], Any], device: torch.device, inner: int) -> float:
    """Seconds ``inner`` calls take between two events on the current CUDA/HIP stream."""
    begin = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    begin.record()
    for _ in range(inner):
        fn()
    end.record()
    end.synchronize()
    return begin.elapsed_time(end) / 1e3  # elapsed_time is in milliseconds


def _clock_sample(fn: Callable[[], Any], device: torch.device, inner: int) -> float:
    """Seconds ``inner`` calls take on the host clock, the device drained on both sides."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    synchronize(device)
    return time.perf_counter() - start
