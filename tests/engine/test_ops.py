"""Per-operation kernels of one micro-step: what the fused attention kernel computes."""

import pytest

from tests.engine.conftest import EFF
from traintime.engine.flops import causal_mean_keys
from traintime.engine.ops import _tile_waste


def test_causal_tiles_cost_most_at_short_sequences():
    # FlashAttention-2 section 3.1.1: each query computes ~half a 128-key tile of masked keys
    # on the diagonal. Measured (liangan1/GPU_travel, FA2 forward on A100): causal attention
    # at 1K tokens runs at 143.7 / 157.8 = 0.91 of its 4K rate; the tiles alone give 0.92.
    eff = EFF
    waste = {t: _tile_waste(causal_mean_keys(t, t), False, eff) for t in (1024, 2048, 4096)}
    assert waste[2048] == pytest.approx(1.0)  # the calibration point
    assert waste[4096] / waste[1024] == pytest.approx(0.917, abs=0.01)
    windowed = _tile_waste(causal_mean_keys(4096, 1024), True, eff)
    assert windowed > _tile_waste(causal_mean_keys(4096, 1024), False, eff)
