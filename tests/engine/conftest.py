"""Toy specs for engine unit tests, built in code: retuning a data file cannot break them.
Tests import the builders from here (``from tests.engine.conftest import gpu, recipe, ...``);
``tests/test_layering.py`` checks that no engine test reads the catalog.

The GPUs are modelled on real parts (their datasheet numbers are written here, with the part
named) and the constants are a fixed copy, so each test checks the engine's formulas, not the
shipped catalog.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from traintime.engine.device import Device
from traintime.engine.evaluate import Machine
from traintime.specs import (
    Efficiency,
    GpuSpec,
    Links,
    MemoryPolicy,
    ModelSpec,
    OptimizerSpec,
    Recipe,
)

EFF = Efficiency(
    memory_efficiency=0.85,
    gemm_tile_m=128,
    gemm_tile_n=128,
    gemm_tile_latency_us=1.4,
    gemm_split_k_min_depth=512,
    gemm_ceiling_k=8192,
    gemm_unaligned_fraction=0.5,
    gemm_sustained_fraction=0.96,
    fa2_fraction=0.59,
    attention_tile=128,
    attention_reference_seq=2048,
    triton_forward_slowdown=1.4,
    triton_backward_slowdown=2.0,
    fa2_on_hopper_fraction=0.35,
    fa3_fraction=0.59,
    masked_fraction=0.4,
    masked_on_hopper_fraction=0.15,
    attention_max_flop_per_sm_clk=3786,
    fa2_softmax_head_dims=18.0,
    fa3_softmax_head_dims=42.0,
    gpu_min_us=3.0,
    cpu_eager_us=10.0,
    cpu_compiled_us=4.0,
    nvlink_efficiency=0.82,
    pcie_efficiency=0.8,
    network_efficiency=0.94,
    base_latency_us=8.4,
    nvlink_step_us=3.4,
    pcie_step_us=5.7,
    network_step_us=14.0,
    overlap_compute_slowdown=0.189,
    host_memory_bw_gbs=60.0,
    cpu_adam_bytes_per_param=28,
    cpu_matmul_tflops=1.0,
    grouped_gemm_fraction=0.85,
    moe_dropless_imbalance=1.3,
)

POLICY = MemoryPolicy(
    reserved_factor=1.03, context_gib=0.5, context_gib_multi_gpu=1.0, host_process_gib=4.0
)


def _peaks(
    bf16: float | None, fp16: float | None, fp8: float | None, tf32: float | None, fp32: float
) -> dict[str, float | None]:
    return {"bf16": bf16, "fp16": fp16, "fp8": fp8, "tf32": tf32, "fp32": fp32}


def gpu(**kw: Any) -> GpuSpec:
    """A toy GPU (default: like an H100 SXM: NVIDIA datasheet peaks, 132 SMs, MAMF 794.5)."""
    base: dict[str, Any] = {
        "name": "Toy Hopper",
        "vendor": "NVIDIA",
        "architecture": "Hopper",
        "device_class": "datacenter",
        "memory_gib": 80.0,
        "bandwidth_gbs": 3350.0,
        "peak_tflops": _peaks(989.4, 989.4, 1978.9, 494.7, 66.9),
        "tdp_w": 700.0,
        "sm_count": 132,
        "boost_clock_mhz": 1980.0,
        "host_link_gbs": 63.0,
        "scaleup_type": "NVLink4",
        "scaleup_bw_gbs": 900.0,
        "matmul_ceiling": 794.5 / 989.4,
    }
    return GpuSpec(**{**base, **kw})


def ada(**kw: Any) -> GpuSpec:
    """Like a GeForce RTX 4070: 46 SMs at 2475 MHz, half-rate fp32-accumulate tensor math."""
    base: dict[str, Any] = {
        "name": "Toy Ada",
        "architecture": "Ada Lovelace",
        "device_class": "geforce",
        "memory_gib": 12.0,
        "bandwidth_gbs": 504.0,
        "peak_tflops": _peaks(58.3, 58.3, 116.6, 29.1, 29.1),
        "tdp_w": 200.0,
        "sm_count": 46,
        "boost_clock_mhz": 2475.0,
        "host_link_gbs": 31.5,
        "scaleup_type": "none",
        "scaleup_bw_gbs": 0.0,
        "matmul_ceiling": 0.8,
    }
    return gpu(**{**base, **kw})


def blackwell(**kw: Any) -> GpuSpec:
    """Like a B200: 148 SMs at 1965 MHz, 2250 TFLOPS dense bf16 (8192 FLOP per SM-clock)."""
    base: dict[str, Any] = {
        "name": "Toy Blackwell",
        "architecture": "Blackwell",
        "memory_gib": 180.0,
        "bandwidth_gbs": 7700.0,
        "peak_tflops": _peaks(2250.0, 2250.0, 4500.0, 1125.0, 75.0),
        "sm_count": 148,
        "boost_clock_mhz": 1965.0,
        "matmul_ceiling": 0.75,
    }
    return gpu(**{**base, **kw})


def device(g: GpuSpec | None = None, eff: Efficiency = EFF) -> Device:
    return Device(g or gpu(), eff)


def links(**kw: Any) -> Links:
    base: dict[str, Any] = {
        "gpus_per_node": 8,
        "intra_gbs": 369.0,
        "intra_step_us": 3.4,
        "inter_gbs": 47.0,
        "inter_step_us": 14.0,
        "host_gbs": 50.0,
    }
    return Links(**{**base, **kw})


def machine(g: GpuSpec | None = None, *, n_gpus: int = 1, **link_kw: Any) -> Machine:
    return Machine(device=device(g), links=links(**link_kw), n_gpus=n_gpus, policy=POLICY)


# Optimizers as in data/optimizers.toml, fixed here.
ADAMW = OptimizerSpec(name="adamw", moments=2, kernels=1)
ADAMW8BIT = OptimizerSpec(
    name="adamw8bit", moments=2, moment_bytes=1.0, scale_bytes=4 / 256, kernels=2
)
ADAFACTOR = OptimizerSpec(name="adafactor", moments=0, factored=True, extra_passes=12, kernels=9)
SGD = OptimizerSpec(name="sgd", moments=1, kernels=1)
MUON = OptimizerSpec(
    name="muon",
    moments=1,
    kernels=1,
    matrix_update="newton_schulz",
    iterations=5,
    fallback=ADAMW,
)


def gpt2(**kw: Any) -> ModelSpec:
    """GPT-2 124M as Hugging Face builds it (openai-community/gpt2 config.json)."""
    base: dict[str, Any] = {
        "name": "gpt2-124m",
        "n_layer": 12,
        "d_model": 768,
        "n_head": 12,
        "ffn_hidden": 3072,
        "ffn_act": "gelu",
        "vocab": 50257,
        "tied_embeddings": True,
        "position": "learned",
        "max_position": 1024,
        "seq_len": 1024,
        "norm": "layernorm",
        "norm_bias": True,
        "attn_bias": "all",
        "mlp_bias": True,
    }
    return ModelSpec(**{**base, **kw})


def llama8b(**kw: Any) -> ModelSpec:
    """Llama 3.1 8B (meta-llama/Llama-3.1-8B config.json), at 8K tokens."""
    base: dict[str, Any] = {
        "name": "llama-3.1-8b",
        "n_layer": 32,
        "d_model": 4096,
        "n_head": 32,
        "n_kv_head": 8,
        "ffn_hidden": 14336,
        "ffn_act": "swiglu",
        "vocab": 128256,
        "seq_len": 8192,
    }
    return ModelSpec(**{**base, **kw})


def nanochat(depth: int = 32, **kw: Any) -> ModelSpec:
    """nanochat (Oct 2025) at ``depth``: d = 64 x depth, heads of 128, ReLU^2 MLP 4d, 65,536
    vocabulary, QK-norm, untied, softcap 15 (gpt.py @ 3a5e0bc)."""
    d = 64 * depth
    base: dict[str, Any] = {
        "name": f"nanochat-d{depth}",
        "n_layer": depth,
        "d_model": d,
        "n_head": -(-d // 128),
        "ffn_hidden": 4 * d,
        "ffn_act": "relu2",
        "vocab": 65536,
        "seq_len": 2048,
        "norm_weight": False,
        "qk_norm": True,
        "logit_softcap": 15.0,
    }
    return ModelSpec(**{**base, **kw})


def moe(**kw: Any) -> ModelSpec:
    """A Qwen3-30B-A3B-shaped mixture of experts (Qwen/Qwen3-30B-A3B config.json): 48 layers,
    128 experts of 768, top 8, per-head q/k norms, untied."""
    base: dict[str, Any] = {
        "name": "toy-moe",
        "n_layer": 48,
        "d_model": 2048,
        "n_head": 32,
        "n_kv_head": 4,
        "head_dim": 128,
        "ffn_hidden": 6144,
        "ffn_act": "swiglu",
        "vocab": 151936,
        "seq_len": 4096,
        "qk_norm": True,
        "qk_norm_width": "head",
        "n_experts": 128,
        "top_k": 8,
        "expert_ffn_hidden": 768,
    }
    return ModelSpec(**{**base, **kw})


def mla(**kw: Any) -> ModelSpec:
    """DeepSeek-V2-Lite-shaped latent attention (deepseek-ai/DeepSeek-V2-Lite config.json):
    27 layers of d 2048, 16 heads, kv rank 512, qk 128 + 64 rope, v 128, full-rank query,
    64 experts of 1408, top 6, 2 shared, the first layer dense."""
    base: dict[str, Any] = {
        "name": "toy-mla",
        "n_layer": 27,
        "d_model": 2048,
        "n_head": 16,
        "head_dim": 128,
        "ffn_hidden": 10944,
        "ffn_act": "swiglu",
        "vocab": 102400,
        "seq_len": 4096,
        "kv_lora_rank": 512,
        "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64,
        "v_head_dim": 128,
        "n_experts": 64,
        "top_k": 6,
        "expert_ffn_hidden": 1408,
        "shared_ffn_hidden": 2816,
        "dense_layers": 1,
    }
    return ModelSpec(**{**base, **kw})


def recipe(**kw: Any) -> Recipe:
    """A recipe with every field settled (default: AdamW, bf16 autocast, fp32 weights)."""
    base: dict[str, Any] = {
        "global_batch_tokens": 262144,
        "micro_batch": 4,
        "precision": "bf16",
        "optimizer": ADAMW,
        "param_dtype": "fp32",
        "grad_dtype": "fp32",
        "embedding_dtype": "fp32",
        "master_dtype": "none",
        "state_dtype": "fp32",
        "embedding_state_dtype": "fp32",
        "act_ckpt": "none",
        "attention_impl": "flash",
        "compiled": False,
        "norm_kernels": "fused",
        "dropout": 0.0,
        "loss_impl": "eager",
    }
    if kw.get("compiled") and "loss_impl" not in kw:
        base["loss_impl"] = "compiled"
    return Recipe(**{**base, **kw})


def nanochat_recipe(**kw: Any) -> Recipe:
    """nanochat's: Muon, fp32 weights, bf16 embeddings and their state, compiled, SDPA."""
    base = recipe(
        optimizer=MUON,
        embedding_dtype="bf16",
        embedding_state_dtype="bf16",
        compiled=True,
        loss_impl="compiled",
        attention_impl="sdpa",
        global_batch_tokens=524288,
        micro_batch=1,
    )
    return replace(base, **kw)
