"""Number formats as the engine uses them: bytes per element, and which dtype each kind of work
runs in. Each rule is named once here.

* Storage dtypes take ``units.DTYPE_BYTES`` bytes per element (int8 for 8-bit optimizer state).
* Activations and the 16-bit copies of weights are in the *compute dtype*: fp32 for fp32/tf32
  training, else a 16-bit type (bf16 or fp16, 2 bytes).
* FP8 training (torchao Float8 / Transformer Engine, tensorwise scaling) runs only the block
  GEMMs in fp8; every other operation, the LM head and all activations stay in bf16 (torchao
  float8 README: "only the nn.Linear layers in the transformer blocks are converted").
"""

from __future__ import annotations

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


def outside_fp8(precision: str) -> str:
    """The precision of everything but the fp8 block GEMMs: bf16 for fp8 training."""
    return "bf16" if precision == "fp8" else precision
