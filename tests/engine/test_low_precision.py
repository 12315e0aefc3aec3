"""MXFP8 and NVFP4 block GEMMs (numerics.LOW_GEMM; Transformer Engine low-precision docs)."""

from __future__ import annotations

import pytest

from tests.engine.conftest import EFF, blackwell, device, links, llama8b, recipe
from traintime.engine.numerics import LOW_GEMM, gemm_rate, outside_fp8
from traintime.engine.step import step_time
from traintime.specs import Layout


def test_formats():
    """MXFP8 runs at the FP8 rate with 1-byte operands; NVFP4 at the FP4 rate with 4-bit ones;
    MXFP8 writes two quantized copies (rowwise and columnwise) per operand."""
    assert gemm_rate("mxfp8") == "fp8" and gemm_rate("nvfp4") == "fp4"
    assert LOW_GEMM["nvfp4"].operand_bytes == 0.5
    assert LOW_GEMM["mxfp8"].quantize_bytes == pytest.approx(2 + 2 * (1 + 1 / 32))
    assert outside_fp8("nvfp4") == "bf16" and outside_fp8("bf16") == "bf16"


def _step(precision: str) -> float:
    gpu = blackwell(
        peak_tflops={
            "bf16": 2250.0,
            "fp16": 2250.0,
            "fp8": 4500.0,
            "fp4": 9000.0,
            "tf32": 1125.0,
            "fp32": 75.0,
        }
    )
    spec = llama8b(seq_len=4096)
    r = recipe(precision=precision, param_dtype="bf16", grad_dtype="bf16", micro_batch=2)
    return step_time(spec, r, Layout(), device(gpu), links(), EFF).step_time_s


def test_low_precision_is_faster_on_a_large_dense_model():
    """An 8B model's GEMMs are large enough that the faster math outweighs quantizing."""
    assert _step("nvfp4") < _step("mxfp8") < _step("bf16")


def test_mxfp8_and_tensorwise_fp8_run_at_one_rate():
    """Same FP8 rate (TE's B300 GEMM benchmark: MXFP8 within ~5% of per-tensor FP8); MXFP8
    needs no tensor-wide amax pass but writes two copies: 4.06 B against 5 B per element."""
    assert LOW_GEMM["mxfp8"].quantize_bytes == pytest.approx(4.0625)
    assert LOW_GEMM["fp8"].quantize_bytes == 5.0
    assert _step("mxfp8") == pytest.approx(_step("fp8"), rel=0.05)
