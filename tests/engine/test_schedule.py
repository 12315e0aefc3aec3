"""Steps and gradient accumulation follow nanochat base_train.py's rules."""

import pytest

from traintime.engine.schedule import make_schedule
from traintime.errors import SpecError


def test_nanochat_d32_run1000():
    # run1000.sh: 37,580,963,840 tokens / 524,288 = 71,680 steps; 8 GPUs x bs 8 x 2048 -> accum 4.
    s = make_schedule(
        tokens=37_580_963_840,
        global_batch_tokens=524_288,
        seq_len=2048,
        data_parallel=8,
        micro_batch=8,
    )
    assert (s.steps, s.grad_accum_steps, s.notes) == (71_680, 4, [])


def test_rounding_is_reported():
    s = make_schedule(
        tokens=1_000_000,
        global_batch_tokens=524_288,
        seq_len=2048,
        data_parallel=1,
        micro_batch=1,
    )
    assert s.steps == 1 and s.tokens == 524_288
    assert "rounded down" in s.notes[0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"micro_batch": 3}, "micro_batch=3"),
        ({"tokens": 100.0}, "tokens=100"),
        ({"global_batch_tokens": 1000}, "global_batch_tokens=1000"),
    ],
)
def test_impossible_schedules(kwargs, field):
    args = {
        "tokens": 1e9,
        "global_batch_tokens": 524_288,
        "seq_len": 2048,
        "data_parallel": 1,
        "micro_batch": 1,
        **kwargs,
    }
    with pytest.raises(SpecError, match=field):
        make_schedule(**args)
