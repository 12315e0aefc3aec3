"""The by-hand second opinion: a measured run scaled by model FLOPs and GPU peak."""

import pytest

import traintime


def test_scaling_arithmetic():
    # nanochat d32 run1000 (1.57188 s per 524,288-token step on 8 x 989.4 TFLOPS) scaled to the
    # same model on 1 x 58.3 TFLOPS: x (8 x 989.4 / 58.3) per token, same tokens.
    est = traintime.estimate_scenario(reference="nanochat-d32-8xh100")
    ref = est.time.reference
    per_token = 1.57188 / 524288
    expected_h = per_token * (8 * 989.4 / 58.3) * 37_580_963_840 / 3600
    assert ref.scaled_total_hours == pytest.approx(expected_h, rel=1e-6)
    assert ref.measured_hours == pytest.approx(71680 * 1.57188 / 3600)
    assert ref.ratio == pytest.approx(ref.scaled_total_hours / est.time.total_hours)


def test_unknown_reference():
    with pytest.raises(traintime.UnknownNameError, match="nanochat-d32-8xh100"):
        traintime.estimate("gpt2", "4090", reference="nanochat-d32-8xh10")
