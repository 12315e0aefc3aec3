"""One rank of a distributed probe: ``torchrun --nproc-per-node N -m traintime.probe.worker
--json-out PATH (--spec SPEC.json | --model NAME) [options]``.

Each rank joins the process group (NCCL on CUDA, one GPU per rank; gloo on CPU), builds the
same model (same seed), wraps it in DDP or FSDP2 (``fully_shard`` on every block, on nanochat's
bf16 embedding tables, then on the root, torchtitan's layout; under bf16 with
``MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32)``), and runs the timed loop of
:mod:`traintime.probe.train` on its own random tokens. A step's time is the slowest rank's
(all-reduce max), the memory figures the largest rank's; rank 0 writes the
:class:`~traintime.probe.types.ModelMeasurement` JSON, with tokens/s summed over the ranks.
A rank that fails writes ``PATH.rank<R>.error`` (its exception's type and message, and whether it
is a traintime input error) for the launcher, then re-raises.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from traintime.errors import SpecError, TraintimeError
from traintime.probe.layers import CHECKPOINT_MODES
from traintime.probe.optim import OPTIMIZERS, build_optimizer
from traintime.probe.train import (
    PARALLEL,
    PRECISIONS,
    check_inputs,
    construct,
    device_memory,
    make_step,
    param_count,
    random_batch,
    timed_steps,
)
from traintime.probe.types import ModelMeasurement
from traintime.specs import ModelSpec


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m traintime.probe.worker")
    p.add_argument("--json-out", required=True, type=Path)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--spec", type=Path, help="a ModelSpec as JSON")
    which.add_argument("--model", help="a catalog name (find_model)")
    p.add_argument("--parallel", choices=PARALLEL, default="ddp")
    p.add_argument("--micro-batch", type=int, required=True)
    p.add_argument("--seq-len", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--act-ckpt", choices=CHECKPOINT_MODES, default="none")
    p.add_argument("--precision", choices=PRECISIONS, default="bf16")
    p.add_argument("--optimizer", choices=OPTIMIZERS, required=True)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--compiled", action="store_true")
    return p


def _load_spec(args: argparse.Namespace) -> ModelSpec:
    if args.spec is not None:
        return ModelSpec.model_validate_json(args.spec.read_text())
    from traintime.catalog import find_model

    return find_model(args.model)


def _shard(model: nn.Module, precision: str) -> None:
    """FSDP2: each block, nanochat's bf16 tables (FSDP2 wants one dtype per group), the root."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mp = MixedPrecisionPolicy(
        param_dtype=torch.bfloat16 if precision == "bf16" else None,
        reduce_dtype=torch.float32,
    )
    for block in model.blocks:  # type: ignore[union-attr]
        fully_shard(block, mp_policy=mp)
    value_embeds = getattr(model, "value_embeds", None)
    if getattr(model, "lm_head", None) is not None and isinstance(
        getattr(model, "wte", None), nn.Embedding
    ):
        # a separate lm_head: wte is only used through its own forward, so it can be its own group
        fully_shard(model.wte, mp_policy=mp)  # type: ignore[arg-type]
    for table in value_embeds.values() if value_embeds is not None else ():
        fully_shard(table, mp_policy=mp)
    fully_shard(model, mp_policy=mp)


def _measure(args: argparse.Namespace, rank: int, world: int, local_rank: int) -> ModelMeasurement:
    spec = _load_spec(args)
    check_inputs(
        spec=spec,
        micro_batch=args.micro_batch,
        seq_len=args.seq_len,
        steps=args.steps,
        warmup=args.warmup,
        act_ckpt=args.act_ckpt,
        precision=args.precision,
        optimizer=args.optimizer,
    )
    dev = torch.device("cuda", local_rank) if args.device == "cuda" else torch.device("cpu")
    model = construct(
        spec, seq_len=args.seq_len, act_ckpt=args.act_ckpt, precision=args.precision, dev=dev
    )
    count = param_count(model)
    if args.parallel == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        runner: nn.Module = DistributedDataParallel(
            model, device_ids=[local_rank] if dev.type == "cuda" else None
        )
    else:
        _shard(model, args.precision)
        runner = model
    opt = build_optimizer(model, args.optimizer, parallel=args.parallel)
    if args.compiled:
        runner = torch.compile(runner)  # type: ignore[assignment]
    batch = random_batch(spec.vocab, args.micro_batch, args.seq_len, dev, seed=rank)
    step = make_step(runner, opt, batch, dev, args.precision)
    seconds, _ = timed_steps(step, dev, steps=args.steps, warmup=args.warmup)
    slowest = torch.tensor(seconds, dtype=torch.float64, device=dev)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    memory = torch.tensor(
        [-1 if m is None else m for m in device_memory(dev)], dtype=torch.int64, device=dev
    )
    dist.all_reduce(memory, op=dist.ReduceOp.MAX)
    allocated, reserved, resident = (None if m < 0 else int(m) for m in memory.tolist())
    step_times = [float(s) for s in slowest.tolist()]
    median = statistics.median(step_times)
    return ModelMeasurement(
        model=spec.name,
        param_count=count,
        micro_batch=args.micro_batch,
        seq_len=args.seq_len,
        steps=args.steps,
        act_ckpt=args.act_ckpt,
        compiled=args.compiled,
        precision=args.precision,
        optimizer=args.optimizer,
        world_size=world,
        parallel=args.parallel,
        step_time_s=median,
        step_times_s=step_times,
        tokens_per_s=world * args.micro_batch * args.seq_len / median,
        peak_allocated_bytes=allocated,
        peak_reserved_bytes=reserved,
        resident_bytes=resident,
    )


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Run one rank (torchrun sets RANK, WORLD_SIZE and LOCAL_RANK)."""
    args = _parser().parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    try:
        if args.device == "cuda":
            if not torch.cuda.is_available():
                raise SpecError("device='cuda': CUDA is not available here; allowed cpu")
            torch.cuda.set_device(local_rank)
        backend = "nccl" if args.device == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=10))
        result = _measure(args, rank, world, local_rank)
        # every rank done with its collectives before any tears its process group down (gloo
        # aborts a rank whose peer destroys the group under it)
        dist.barrier()
        if rank == 0:
            _write_atomically(args.json_out, result.model_dump_json())
        return 0
    except Exception as exc:
        record = {
            "type": type(exc).__name__,
            "message": str(exc),
            "user_error": isinstance(exc, TraintimeError),
        }
        error_path = args.json_out.with_name(f"{args.json_out.name}.rank{rank}.error")
        error_path.write_text(json.dumps(record))
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
