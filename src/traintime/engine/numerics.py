"""Number formats as the engine uses them: bytes per element, and which dtype each kind of work
runs in. Each rule is named once here.

* Storage dtypes take ``units.DTYPE_BYTES`` bytes per element (int8 for 8-bit optimizer state).
* Activations and the 16-bit copies of weights are in the *compute dtype*: fp32 for fp32/tf32
  training, else a 16-bit type (bf16 or fp16, 2 bytes).
* FP8 training (torchao Float8 / Transformer Engine, tensorwise scaling) runs only the block
  GEMMs in fp8; every other operation, the LM head and all activations stay in bf16 (torchao
  float8 README: "only the nn.Linear layers in the transformer blocks are converted").
* MXFP8 and NVFP4 (Blackwell's block-scaled tensor cores) do the same with block scales: MXFP8
  one E8M0 scale per 32 elements, at the FP8 rate; NVFP4 4-bit elements with an E4M3 scale per
  16 and an fp32 tensor scale, at the FP4 rate (Transformer Engine docs, "Low precision
  training": MXFP8 and NVFP4). ``LOW_GEMM`` gives each format's rate, operand bytes and the
  bytes its quantization moves per element.
"""

from __future__ import annotations

from dataclasses import dataclass

from traintime.units import DTYPE_BYTES

WIDE = ("fp32", "tf32")


def dtype_bytes(dtype: str) -> float:
    """Bytes of one element of a storage dtype."""
    return DTYPE_BYTES[dtype]


def compute_dtype(precision: str) -> str:
    """The dtype of activations and of the weights' compute copies: fp32 or a 16-bit type."""
    return "fp32" if precision in WIDE else "bf16"


def compute_bytes(precision: str) -> float:
    """Bytes of one activation element: 4 in fp32/tf32 training, else 2."""
    return DTYPE_BYTES[compute_dtype(precision)]


@dataclass(frozen=True, slots=True)
class GemmFormat:
    """A low-precision GEMM format: the peak it runs at (``rate``: a ``GpuSpec.peak`` key),
    bytes per operand element, bytes moved per element to quantize one operand, and the block
    scales' bytes per element."""

    rate: str
    operand_bytes: float
    quantize_bytes: float
    scale_bytes: float = 0.0


#: Quantization traffic per element of each operand:
#: * fp8 tensorwise: read the bf16 tensor for its amax (2 B), read it again and write fp8
#:   (2 + 1 B): 5 B;
#: * MXFP8: one fused pass reads bf16 (2 B) and writes both the rowwise and the columnwise copy
#:   with their E8M0 scales (2 x (1 + 1/32) B): TE: "rowwise and columnwise MXFP8 tensors are
#:   numerically different ... Both must be quantized independently from the full-precision
#:   data";
#: * NVFP4: an amax pass for the fp32 tensor scale (2 B), then a read (2 B) writing both
#:   usages, 4-bit with an E4M3 scale per 16 (2 x (0.5 + 1/16) B); the random Hadamard
#:   transform of the weight-gradient inputs is fused into that pass (TE NVFP4 recipe).
LOW_GEMM: dict[str, GemmFormat] = {
    "fp8": GemmFormat("fp8", 1.0, 5.0),
    "mxfp8": GemmFormat("fp8", 1.0, 2.0 + 2 * (1.0 + 1 / 32), 1 / 32),
    "nvfp4": GemmFormat("fp4", 0.5, 4.0 + 2 * (0.5 + 1 / 16), 1 / 16),
}


def outside_fp8(precision: str) -> str:
    """The precision of everything but the low-precision block GEMMs: bf16 for fp8, mxfp8 and
    nvfp4 training."""
    return "bf16" if precision in LOW_GEMM else precision


def gemm_rate(precision: str) -> str:
    """The peak the block GEMMs of ``precision`` run at: MXFP8 at the FP8 rate, NVFP4 at FP4."""
    return LOW_GEMM[precision].rate if precision in LOW_GEMM else precision
