"""Timed training steps of a real model: one process (:func:`run_model_probe`) or several under
``torchrun`` with DDP or FSDP2 (:func:`run_distributed`, which launches
:mod:`traintime.probe.worker`).

A step is what a training loop does per optimizer step with one micro-batch: forward (the
cross-entropy on random tokens), backward, optimizer step, gradients zeroed. ``warmup`` steps
run first (allocation, optimizer state, compilation), then ``steps`` timed steps, the device
synchronised before and after each (``torch.cuda.synchronize`` / ``torch.mps.synchronize``).
The result is the median step; tokens/s is ``world_size x micro_batch x seq_len`` over it.

Memory: on CUDA the peak allocated and reserved bytes of the timed steps
(``reset_peak_memory_stats`` after warm-up); on MPS the largest ``driver_allocated_memory``
seen after a step; on CPU the process's peak resident set (``getrusage`` ``ru_maxrss``: KiB on
Linux, bytes on macOS), which includes the Python interpreter and torch itself.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from traintime.errors import SpecError
from traintime.probe.layers import CHECKPOINT_MODES
from traintime.probe.models import build_model
from traintime.probe.optim import OPTIMIZERS, OptimizerSet, build_optimizer
from traintime.probe.types import ModelMeasurement
from traintime.specs import ModelSpec

PRECISIONS: tuple[str, ...] = ("bf16", "fp32")
PARALLEL: tuple[str, ...] = ("ddp", "fsdp2")
DEVICE_KINDS: tuple[str, ...] = ("cpu", "cuda", "mps")


def _whole(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{name}={value!r} must be a whole number >= {minimum}")
    return value


def check_inputs(
    *,
    spec: ModelSpec,
    micro_batch: int,
    seq_len: int,
    steps: int,
    warmup: int,
    act_ckpt: str,
    precision: str,
    optimizer: str,
) -> None:
    """Refuse, in one line each, what no probe run can do."""
    if not isinstance(spec, ModelSpec):
        raise SpecError(f"spec={spec!r} is not a ModelSpec: look a name up with find_model first")
    _whole("micro_batch", micro_batch, minimum=1)
    _whole("seq_len", seq_len, minimum=2)
    _whole("steps", steps, minimum=1)
    _whole("warmup", warmup, minimum=0)
    if act_ckpt not in CHECKPOINT_MODES:
        raise SpecError(f"act_ckpt={act_ckpt!r} is not supported; allowed {list(CHECKPOINT_MODES)}")
    if precision not in PRECISIONS:
        raise SpecError(f"precision={precision!r} is not supported; allowed {list(PRECISIONS)}")
    if optimizer not in OPTIMIZERS:
        raise SpecError(f"optimizer={optimizer!r} is not supported; allowed {list(OPTIMIZERS)}")
    rows = spec.position_rows
    if rows and seq_len > rows:
        raise SpecError(
            f"seq_len={seq_len} exceeds {spec.name}'s learned position table of {rows} rows; "
            f"allowed seq_len <= {rows}"
        )


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` / ``"cuda:N"`` (when CUDA is available) or ``"mps"``, else
    SpecError."""
    if not isinstance(device, str):
        raise SpecError(f"device={device!r} is not a device; allowed {list(DEVICE_KINDS)}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise SpecError(
            f"device={device!r} is not a device; allowed {list(DEVICE_KINDS)}"
        ) from None
    if dev.type not in DEVICE_KINDS:
        raise SpecError(f"device={device!r} is not supported; allowed {list(DEVICE_KINDS)}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SpecError(f"device={device!r}: CUDA is not available here; allowed cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SpecError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) visible"
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise SpecError(f"device={device!r}: MPS is not available here; allowed cpu")
    return dev


def synchronize(dev: torch.device) -> None:
    """Wait for the device's queued work (CUDA, MPS; nothing to wait for on CPU)."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


def autocast(dev: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast (fp32 parameters, matmuls in bf16) or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def random_batch(
    vocab: int, micro_batch: int, seq_len: int, dev: torch.device, *, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids and targets (uniform over the vocabulary)."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, vocab, (micro_batch, seq_len), generator=gen)
    targets = torch.randint(0, vocab, (micro_batch, seq_len), generator=gen)
    return idx.to(dev), targets.to(dev)


def reset_peak_memory(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def resident_bytes() -> int:
    """The process's peak resident set size (``ru_maxrss``; KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def device_memory(dev: torch.device) -> tuple[int | None, int | None, int | None]:
    """(peak allocated, peak reserved, resident) bytes as the device reports them."""
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev), torch.cuda.max_memory_reserved(dev), None
    if dev.type == "mps":
        return None, None, int(torch.mps.driver_allocated_memory())
    return None, None, resident_bytes()


def timed_steps(
    step: Callable[[], torch.Tensor],
    dev: torch.device,
    *,
    steps: int,
    warmup: int,
) -> tuple[list[float], int | None]:
    """Run ``warmup`` then ``steps`` calls of ``step`` (which returns the loss), each timed
    between device synchronisations. Returns the timed steps' seconds and, on MPS, the largest
    driver allocation seen. A loss that is not finite raises RuntimeError."""
    for _ in range(warmup):
        _check_loss(step())
    synchronize(dev)
    reset_peak_memory(dev)
    seconds: list[float] = []
    mps_peak: int | None = None
    for _ in range(steps):
        synchronize(dev)
        start = time.perf_counter()
        loss = step()
        synchronize(dev)
        seconds.append(time.perf_counter() - start)
        _check_loss(loss)
        if dev.type == "mps":
            mps_peak = max(mps_peak or 0, int(torch.mps.driver_allocated_memory()))
    return seconds, mps_peak


def _check_loss(loss: torch.Tensor) -> None:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise RuntimeError(f"the training loss became {value}: the probe's step diverged")


def make_step(
    model: nn.Module,
    opt: OptimizerSet,
    batch: tuple[torch.Tensor, torch.Tensor],
    dev: torch.device,
    precision: str,
) -> Callable[[], torch.Tensor]:
    """One training step on a fixed micro-batch: forward, backward, optimizer step, zero grads."""
    idx, targets = batch

    def step() -> torch.Tensor:
        with autocast(dev, precision):
            loss = model(idx, targets)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss.detach()

    return step


def param_count(model: nn.Module) -> int:
    """Parameters of the model, a shared (tied) tensor counted once."""
    return sum(p.numel() for p in model.parameters())


def construct(
    spec: ModelSpec, *, seq_len: int, act_ckpt: str, precision: str, dev: torch.device
) -> nn.Module:
    """The model on ``dev`` (built there directly), fixed seed, in training mode."""
    torch.manual_seed(0)
    with dev:
        model = build_model(
            spec, seq_len=seq_len, act_ckpt=act_ckpt, embeddings_bf16=precision == "bf16"
        )
    return model.train()


def run_model_probe(
    *,
    spec: ModelSpec,
    micro_batch: int,
    seq_len: int,
    steps: int,
    warmup: int = 2,
    act_ckpt: str = "none",
    compiled: bool = False,
    precision: str = "bf16",
    optimizer: str,
    device: str = "cpu",
) -> ModelMeasurement:
    """Train ``spec`` for ``warmup + steps`` steps on one device and measure the timed ones."""
    check_inputs(
        spec=spec,
        micro_batch=micro_batch,
        seq_len=seq_len,
        steps=steps,
        warmup=warmup,
        act_ckpt=act_ckpt,
        precision=precision,
        optimizer=optimizer,
    )
    dev = resolve_device(device)
    model = construct(spec, seq_len=seq_len, act_ckpt=act_ckpt, precision=precision, dev=dev)
    count = param_count(model)
    opt = build_optimizer(model, optimizer)
    runner: nn.Module = torch.compile(model) if compiled else model  # type: ignore[assignment]
    batch = random_batch(spec.vocab, micro_batch, seq_len, dev, seed=0)
    seconds, mps_peak = timed_steps(
        make_step(runner, opt, batch, dev, precision), dev, steps=steps, warmup=warmup
    )
    allocated, reserved, resident = device_memory(dev)
    if mps_peak is not None:
        resident = max(resident or 0, mps_peak)
    median = statistics.median(seconds)
    return ModelMeasurement(
        model=spec.name,
        param_count=count,
        micro_batch=micro_batch,
        seq_len=seq_len,
        steps=steps,
        act_ckpt=act_ckpt,
        compiled=compiled,
        precision=precision,
        optimizer=optimizer,
        step_time_s=median,
        step_times_s=seconds,
        tokens_per_s=micro_batch * seq_len / median,
        peak_allocated_bytes=allocated,
        peak_reserved_bytes=reserved,
        resident_bytes=resident,
    )


def _src_root() -> str:
    """The directory that holds the ``traintime`` package (for the children's PYTHONPATH)."""
    return str(Path(__file__).resolve().parents[2])


def _child_env(nproc: int, dev_type: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_src_root(), env.get("PYTHONPATH", "")) if p)
    if dev_type == "cpu" and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    return env


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="traintime-probe-") as tmp:
        yield Path(tmp)


def _child_error(work: Path, stderr: str) -> Exception:
    """The children's first recorded error (a traintime input error becomes a SpecError), else
    the last ``...Error: ...`` line of stderr, as one line."""
    for path in sorted(work.glob("*.error")):
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(path.read_text())
            message = " ".join(str(record.get("message", "")).split())
            if record.get("user_error"):
                return SpecError(message)
            return RuntimeError(f"the distributed probe failed: {record.get('type')}: {message}")
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line.split(":", 1)[0]]
    last = errors[-1] if errors else (lines[-1] if lines else "no output")
    return RuntimeError(f"the distributed probe failed: {last}")


def run_distributed(
    *,
    nproc: int,
    parallel: str,
    spec: ModelSpec,
    micro_batch: int,
    seq_len: int,
    steps: int,
    warmup: int = 2,
    act_ckpt: str = "none",
    compiled: bool = False,
    precision: str = "bf16",
    optimizer: str,
    device: str = "cpu",
    timeout_s: float = 600.0,
) -> ModelMeasurement:
    """Run the probe in ``nproc`` processes under torchrun (``sys.executable -m
    torch.distributed.run --standalone``), the model wrapped in DDP or FSDP2, and return rank
    0's measurement (tokens/s of all ranks together). ``device`` is "cpu" (gloo) or "cuda"
    (NCCL, one GPU per process). Errors in the children come back as one SpecError or
    RuntimeError line; past ``timeout_s`` the process group is killed."""
    check_inputs(
        spec=spec,
        micro_batch=micro_batch,
        seq_len=seq_len,
        steps=steps,
        warmup=warmup,
        act_ckpt=act_ckpt,
        precision=precision,
        optimizer=optimizer,
    )
    _whole("nproc", nproc, minimum=1)
    if parallel not in PARALLEL:
        raise SpecError(f"parallel={parallel!r} is not supported; allowed {list(PARALLEL)}")
    dev = resolve_device(device)
    if dev.type == "mps" or dev.index is not None:
        raise SpecError(f"device={device!r} for a distributed probe; allowed cpu or cuda")
    if dev.type == "cuda" and nproc > torch.cuda.device_count():
        raise SpecError(f"nproc={nproc} exceeds the {torch.cuda.device_count()} visible GPUs")
    if parallel == "fsdp2" and optimizer == "muon":
        raise SpecError(
            "optimizer='muon' under FSDP2 is not supported (Newton-Schulz needs whole matrices); "
            "allowed: adamw with fsdp2, or muon with ddp"
        )
    if not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise SpecError(f"timeout_s={timeout_s!r} must be a positive number of seconds")
    with _workdir() as work:
        spec_path, out = work / "spec.json", work / "result.json"
        spec_path.write_text(spec.model_dump_json())
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nproc}", "-m", "traintime.probe.worker",
            "--json-out", str(out), "--spec", str(spec_path), "--parallel", parallel,
            "--micro-batch", str(micro_batch), "--seq-len", str(seq_len), "--steps", str(steps),
            "--warmup", str(warmup), "--act-ckpt", act_ckpt, "--precision", precision,
            "--optimizer", optimizer, "--device", dev.type,
        ]  # fmt: skip
        if compiled:
            cmd.append("--compiled")
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(nproc, dev.type),
            start_new_session=True,
        )
        try:
            _, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RuntimeError(
                f"the distributed probe ({nproc} x {parallel}) did not finish in {timeout_s:g} s"
            ) from None
        if list(work.glob("*.error")) or not out.exists():
            raise _child_error(work, stderr)
        # a result written after every rank's barrier stands even when a rank's teardown
        # exits non-zero (process-group destruction aborts on some gloo builds)
        return ModelMeasurement.model_validate_json(out.read_text())
