"""The one evaluation: a resolved setup's step time, its peak memory, the memory it needs and
whether that fits. ``estimate``, the planner, ``validate`` and ``compare`` all call it.

The fit rule (one place): a GPU must hold the allocated peak times the caching allocator's
slack plus the CUDA context (``MemoryPolicy``): ``peak x reserved_factor + context <=
capacity``.
"""

from __future__ import annotations

from dataclasses import dataclass

from traintime.engine.device import Device
from traintime.engine.memory import Memory, peak_memory
from traintime.engine.step import StepTime, step_time
from traintime.specs import Layout, Links, MemoryPolicy, ModelSpec, Recipe
from traintime.units import GIB


@dataclass(frozen=True)
class Machine:
    """The hardware a setup runs on, as the engine needs it: the GPU (with the time model's
    constants), the links its collectives use, how many GPUs, and the memory policy."""

    device: Device
    links: Links
    n_gpus: int
    policy: MemoryPolicy

    @property
    def capacity_gib(self) -> float:
        return self.device.gpu.memory_gib


@dataclass(frozen=True)
class Sizing:
    """Peak memory of a setup and whether it fits."""

    memory: Memory
    needed_gib: float
    fits: bool

    @property
    def peak_gib(self) -> float:
        return self.memory.total / GIB


@dataclass(frozen=True)
class Evaluation:
    """A setup's step time and its sizing."""

    step: StepTime
    sizing: Sizing


def needed_gib(peak_gib: float, policy: MemoryPolicy, n_gpus: int) -> float:
    """GiB a GPU needs to hold an allocated peak of ``peak_gib``: the fit rule's left side."""
    return peak_gib * policy.reserved_factor + policy.context(n_gpus)


def size(spec: ModelSpec, recipe: Recipe, layout: Layout, machine: Machine) -> Sizing:
    """Peak memory and the fit, without timing the step (the planner sizes every candidate)."""
    memory = peak_memory(spec, recipe, layout)
    needed = needed_gib(memory.total / GIB, machine.policy, machine.n_gpus)
    return Sizing(memory=memory, needed_gib=needed, fits=needed <= machine.capacity_gib)


def time(spec: ModelSpec, recipe: Recipe, layout: Layout, machine: Machine) -> StepTime:
    """The step time of a setup on this machine."""
    dev = machine.device
    return step_time(spec, recipe, layout, dev, machine.links, dev.eff)


def evaluate(spec: ModelSpec, recipe: Recipe, layout: Layout, machine: Machine) -> Evaluation:
    """Step time, memory, the memory needed and the fit of one resolved setup."""
    return Evaluation(
        step=time(spec, recipe, layout, machine), sizing=size(spec, recipe, layout, machine)
    )
