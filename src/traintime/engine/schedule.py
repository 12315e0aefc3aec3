"""The training horizon: tokens, optimizer steps and gradient accumulation.

nanochat base_train.py (all versions): ``num_iterations = target_tokens // total_batch_size`` and
``grad_accum_steps = total_batch_size // (device_batch_size * max_seq_len * world_size)``, with an
assert that the division is exact. We follow both rules and raise instead of asserting.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from traintime.errors import SpecError


class Schedule(BaseModel):
    """How a run's tokens are split into steps and micro-steps."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    tokens_requested: float
    tokens: float
    steps: int
    global_batch_tokens: int
    seq_len: int
    sequences_per_step: int
    micro_batch: int
    grad_accum_steps: int
    notes: list[str]


def make_schedule(
    *,
    tokens: float,
    global_batch_tokens: int,
    seq_len: int,
    data_parallel: int,
    micro_batch: int,
) -> Schedule:
    """Split ``tokens`` into whole optimizer steps of ``global_batch_tokens``."""
    if global_batch_tokens % seq_len:
        raise SpecError(
            f"global_batch_tokens={global_batch_tokens} must be a multiple of seq_len={seq_len}"
        )
    steps = int(tokens // global_batch_tokens)
    if steps < 1:
        raise SpecError(
            f"tokens={tokens:.6g} is less than one global batch of "
            f"global_batch_tokens={global_batch_tokens}"
        )
    notes = []
    trained = float(steps * global_batch_tokens)
    if trained != tokens:
        notes.append(
            f"tokens rounded down to whole steps: {tokens:,.0f} -> {trained:,.0f} "
            f"({steps:,} steps of {global_batch_tokens:,})"
        )
    sequences = global_batch_tokens // seq_len
    per_pass = micro_batch * seq_len * data_parallel
    if global_batch_tokens % per_pass:
        raise SpecError(
            f"micro_batch={micro_batch} cannot divide the global batch: "
            f"global_batch_tokens={global_batch_tokens} is not a multiple of "
            f"micro_batch x seq_len x data-parallel GPUs = {micro_batch} x {seq_len} x "
            f"{data_parallel} = {per_pass}"
        )
    accum = global_batch_tokens // per_pass
    return Schedule(
        tokens_requested=tokens,
        tokens=trained,
        steps=steps,
        global_batch_tokens=global_batch_tokens,
        seq_len=seq_len,
        sequences_per_step=sequences,
        micro_batch=micro_batch,
        grad_accum_steps=accum,
        notes=notes,
    )
