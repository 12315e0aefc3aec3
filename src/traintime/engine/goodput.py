"""Goodput: the share of wall-clock time a synchronous training job spends training.

A synchronous job stops whenever any of its components fails, so its expected interruptions,
and the time each costs (restart, work lost since the last checkpoint), grow with the number of
GPUs. Anchored at one measured point, the lost share is ``(1 - g_ref) x gpus / gpus_ref``
(Llama 3 405B: more than 90% effective training time on 16,384 H100s, Dubey et al. 2024,
section 3.3.4), capped where the job would spend most of its time recovering.
"""

from __future__ import annotations


def goodput(
    n_gpus: int, *, reference_gpus: int, reference_goodput: float, max_lost_fraction: float
) -> float:
    """Expected share of wall-clock time spent training on ``n_gpus`` GPUs."""
    lost = (1.0 - reference_goodput) * n_gpus / reference_gpus
    return 1.0 - min(lost, max_lost_fraction)
