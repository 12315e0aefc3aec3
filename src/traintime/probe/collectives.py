"""Collective bus bandwidth: all-reduce and all-gather over a sweep of message sizes.

Run as a worker under ``torchrun --nproc-per-node N -m traintime.probe.collectives --json-out
PATH [--quick] [--backend nccl|gloo]``; :func:`run_collectives` launches it and reads the
result. Every rank times each collective (median of its calls); the slowest rank's median is
kept, since a collective ends when its last rank does.

Bandwidths follow nccl-tests (NVIDIA, ``doc/PERFORMANCE.md``): with ``S`` the message bytes
(the all-reduce buffer; the all-gather's whole output) and ``t`` the time, the algorithm
bandwidth is ``S / t`` and the bus bandwidth, comparable with the link's speed whatever the
rank count ``n``, is ``algbw * 2(n-1)/n`` for all-reduce and ``algbw * (n-1)/n`` for
all-gather. A record's ``work`` is the bus bytes ``S * factor``, so ``value = work / seconds``
is the bus bandwidth; ``shape['bytes']`` is ``S``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from traintime.errors import SpecError
from traintime.probe.timing import time_call
from traintime.probe.types import Measurement

MIB = 1 << 20

#: Seconds a whole run may take before its processes are stopped.
DEFAULT_TIMEOUT_S = 600.0
QUICK_TIMEOUT_S = 180.0


def bus_factor(name: str, world_size: int) -> float:
    """nccl-tests' bus-bandwidth factor: all-reduce ``2(n-1)/n``, all-gather ``(n-1)/n``."""
    n = world_size
    if name == "all_reduce":
        return 2.0 * (n - 1) / n
    if name == "all_gather":
        return (n - 1) / n
    raise ValueError(f"no bus-bandwidth factor for collective {name!r}")


def message_sizes(backend: str, *, quick: bool) -> list[int]:
    """Message bytes to time: 1 MiB to 1 GiB on NCCL/RCCL, 256 KiB to 16 MiB on Gloo."""
    if backend == "gloo":
        return [256 * 1024, 4 * MIB] if quick else [256 * 1024, 1 * MIB, 4 * MIB, 16 * MIB]
    return [4 * MIB, 64 * MIB, 256 * MIB] if quick else [MIB << (2 * i) for i in range(6)]


def run_collectives(
    nproc: int,
    *,
    quick: bool = False,
    backend: str | None = None,
    timeout_s: float | None = None,
) -> list[Measurement]:
    """Launch the worker on ``nproc`` local processes (one per GPU with NCCL/RCCL, CPU
    processes with Gloo) and return its measurements. ``backend`` defaults to ``nccl`` when a
    GPU is visible, else ``gloo``. Raises :class:`SpecError` for an impossible request and
    RuntimeError when the run fails or outlasts ``timeout_s``."""
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend not in ("nccl", "gloo"):
        raise SpecError(f"collective backend {backend!r} is not one of nccl, gloo")
    if nproc < 2:
        raise SpecError(f"collectives need at least 2 processes, got {nproc}")
    if backend == "nccl" and nproc > torch.cuda.device_count():
        raise SpecError(
            f"{nproc} NCCL processes need {nproc} GPUs; {torch.cuda.device_count()} visible"
        )
    timeout = timeout_s or (QUICK_TIMEOUT_S if quick else DEFAULT_TIMEOUT_S)
    with tempfile.TemporaryDirectory(prefix="traintime-collectives-") as tmp:
        result = Path(tmp) / "collectives.json"
        argv = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "traintime.probe.collectives",
            "--json-out",
            str(result),
            "--backend",
            backend,
            *(["--quick"] if quick else []),
        ]
        _launch(argv, timeout_s=timeout, env=_worker_env())
        try:
            rows = json.loads(result.read_text())
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"collective benchmark wrote no readable result: {exc}") from exc
    return [Measurement.model_validate(row) for row in rows]


def _worker_env() -> dict[str, str]:
    """The environment for the workers: this package importable (also from a source tree),
    one OpenMP thread per process unless the caller chose otherwise."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _launch(argv: list[str], *, timeout_s: float, env: dict[str, str]) -> None:
    """Run ``argv`` in its own process group; on timeout stop that group (torchrun and the
    workers it started), then raise with the last line it printed."""
    posix = os.name == "posix"
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=posix,
    )
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        if posix:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.communicate()
        raise RuntimeError(
            f"collective benchmark ran past {timeout_s:.0f} s and was stopped"
        ) from None
    if proc.returncode != 0:
        raise RuntimeError(
            f"collective benchmark failed (exit {proc.returncode}): {_last_error(output)}"
        )


def _last_error(output: str) -> str:
    """The most telling line of a failed run: the last one naming an error, else the last."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line
    return lines[-1] if lines else "no output"


# --- worker -----------------------------------------------------------------------------------


def measure(backend: str, *, quick: bool) -> list[Measurement]:
    """Time all-reduce and all-gather on the initialised process group (every rank calls
    this; every rank returns the same records)."""
    import torch.distributed as dist

    world = dist.get_world_size()
    if backend == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    out = []
    for size in message_sizes(backend, quick=quick):
        count = size // 4  # fp32 elements, as nccl-tests' default
        count -= count % world  # all-gather splits the output evenly
        nbytes = count * 4
        buf = torch.ones(count, device=device)
        shard = torch.ones(count // world, device=device)
        calls: dict[str, Callable[[], Any]] = {
            "all_reduce": lambda b=buf: dist.all_reduce(b),
            "all_gather": lambda b=buf, s=shard: dist.all_gather_into_tensor(b, s),
        }
        for name, fn in calls.items():
            dist.barrier()
            # a fixed call count: every rank must issue the same number of collectives
            seconds = time_call(
                fn,
                device=device,
                warmup=3 if quick else 5,
                repeats=5 if quick else 20,
                min_time_s=0.0,
            )
            slowest = torch.tensor([seconds], dtype=torch.float64, device=device)
            dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
            seconds = float(slowest.item())
            bus_bytes = nbytes * bus_factor(name, world)
            out.append(
                Measurement(
                    kind="collective",
                    name=name,
                    dtype="fp32",
                    shape={
                        "bytes": nbytes,
                        "world_size": world,
                        "backend": backend,
                        "algbw_Bps": nbytes / seconds,
                    },
                    seconds=seconds,
                    work=bus_bytes,
                    value=bus_bytes / seconds,
                    unit="B/s",
                    note="nccl-tests bus bandwidth; slowest rank's median",
                )
            )
        del buf, shard
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Worker entry point: join the group torchrun set up, measure, rank 0 writes JSON."""
    import torch.distributed as dist

    parser = argparse.ArgumentParser(prog="python -m traintime.probe.collectives")
    parser.add_argument("--json-out", required=True, type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=("nccl", "gloo"), default=None)
    args = parser.parse_args(argv)
    backend = args.backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        # one GPU per rank, named up front so barriers and the first collective use it
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, device_id=device)
    else:
        dist.init_process_group(backend=backend)
    try:
        records = measure(backend, quick=args.quick)
        if dist.get_rank() == 0:
            text = json.dumps([r.model_dump(mode="json") for r in records], indent=1)
            args.json_out.write_text(text + "\n")
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
