"""Validated, frozen specifications: the model architecture, the training recipe and the hardware.

Specs hold inputs only; everything derived (parameter counts, FLOPs, step counts) is computed by
the engine. Build them with :func:`build`, which turns pydantic's multi-line validation report into
a one-line :class:`~traintime.errors.SpecError` that names the field and what is allowed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from traintime.errors import SpecError
from traintime.units import parse_count

FfnAct = Literal["gelu", "swiglu", "geglu", "relu2", "relu"]
Position = Literal["rotary", "learned", "alibi", "none"]
Norm = Literal["rmsnorm", "layernorm"]
AttnBias = Literal["none", "qkv", "all"]
Precision = Literal["bf16", "fp16", "fp8", "mxfp8", "nvfp4", "tf32", "fp32"]
StorageDtype = Literal["fp32", "bf16", "fp16", "fp8", "int8"]
Optimizer = Literal["adamw", "muon", "adamw8bit", "adafactor", "sgd", "paged-adamw8bit"]
Checkpointing = Literal["none", "selective", "selective-op", "full"]
AttentionImpl = Literal["flash", "flash3", "triton", "sdpa", "eager"]
NormKernels = Literal["fused", "composite"]
LossImpl = Literal["eager", "compiled", "fused"]
Offload = Literal["none", "optimizer", "optimizer+params"]
OffloadUpdate = Literal["cpu", "gpu"]
Finetune = Literal["full", "lora", "qlora"]
#: Storage of the frozen base weights of a fine-tune (data/quantization.toml).
BaseDtype = Literal["bf16", "fp16", "fp32", "int8", "nf4", "nf4-dq", "int4"]
MoeDispatcher = Literal["alltoall", "deepep", "allgather"]
MoeRouting = Literal["balanced", "dropless", "capacity"]

GATED_ACTS: frozenset[str] = frozenset({"swiglu", "geglu"})

_Spec = TypeVar("_Spec", bound=BaseModel)


class _Frozen(BaseModel):
    # every number a spec holds is finite: inf and NaN are refused with the field's name
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True, allow_inf_nan=False)


class ModelSpec(_Frozen):
    """A decoder-only transformer, as built by its code base.

    ``vocab`` is the padded size actually allocated. Windows: ``window_pattern`` is a string of
    ``S`` (short window of ``short_window`` tokens) and ``L`` (full context) repeated over the
    layers, nanochat's convention; with ``last_layer_full`` the final layer is always ``L``.
    """

    name: str = "custom"
    family: str = "custom"
    n_layer: int = Field(gt=0, le=10_000)  # the deepest published LLMs have a few hundred
    d_model: int = Field(gt=0, le=10**6)
    n_head: int = Field(gt=0, le=10**5)
    n_kv_head: int | None = Field(
        default=None, gt=0, le=10**5, description="default: n_head (no GQA)"
    )
    head_dim: int | None = Field(
        default=None, gt=0, le=10**5, description="default: d_model / n_head"
    )
    ffn_hidden: int = Field(
        gt=0, le=10**7, description="inner MLP width (shared by the 3 gated matrices)"
    )
    ffn_act: FfnAct = "gelu"
    vocab: int = Field(gt=0, le=10**8, description="padded vocabulary actually allocated")
    tied_embeddings: bool = False
    position: Position = "rotary"
    max_position: int | None = Field(default=None, gt=0, le=10**9, description="learned table rows")
    seq_len: int = Field(gt=0, le=10**8)
    seq_len_basis: str = Field(default="", description="where seq_len comes from, when not given")
    norm: Norm = "rmsnorm"
    norm_weight: bool = True
    norm_bias: bool = False
    qk_norm: bool = False
    attn_bias: AttnBias = "none"
    mlp_bias: bool = False
    window_pattern: str | None = None
    short_window: int | None = Field(default=None, gt=0)
    short_window_fraction: float | None = Field(
        default=None, gt=0, le=1, description="short window as a fraction of seq_len (nanochat)"
    )
    short_window_multiple: int = Field(default=1, gt=0)
    last_layer_full: bool = True
    value_embed_layers: int = Field(default=0, ge=0)
    value_embed_gate_in: int = Field(default=0, ge=0)
    extra_matmul_params: int = Field(default=0, ge=0)
    extra_lookup_params: int = Field(
        default=0, ge=0, description="other lookup tables (no FLOPs): value embeddings etc."
    )
    scalar_params: int = Field(default=0, ge=0)
    logit_softcap: float | None = None
    # -- architecture of current families (Hugging Face modelling code) --
    norms_per_layer: int = Field(default=2, ge=0, description="4 in Gemma 2/3 (pre and post)")
    qk_norm_width: Literal["none", "head", "full"] = Field(
        default="none",
        description="learnable q/k norm weights: per head (Qwen3, Gemma 3) or over the whole "
        "projection (OLMo 2, OLMoE)",
    )
    attn_sinks: bool = Field(default=False, description="a learned sink logit per head (gpt-oss)")
    attn_logit_softcap: float | None = None
    no_rope_layers: int = Field(default=0, ge=0, description="layers without rotary (NoPE)")
    # multi-head latent attention (DeepSeek V2/V3): 0 = none
    q_lora_rank: int = Field(default=0, ge=0, description="0: a full-rank query projection")
    kv_lora_rank: int = Field(default=0, ge=0, description="0: no latent attention")
    qk_nope_head_dim: int = Field(default=0, ge=0)
    qk_rope_head_dim: int = Field(default=0, ge=0)
    v_head_dim: int = Field(default=0, ge=0)
    # mixture of experts: 0 experts = dense
    n_experts: int = Field(default=0, ge=0, le=10**5, description="routed experts per MoE layer")
    top_k: int = Field(default=0, ge=0, description="experts each token is routed to")
    expert_ffn_hidden: int = Field(default=0, ge=0, description="inner width of one expert")
    shared_ffn_hidden: int = Field(
        default=0, ge=0, description="inner width of all shared experts together (0: none)"
    )
    shared_expert_gate: bool = Field(default=False, description="Linear(d, 1) gate (Qwen2-MoE)")
    router_bias: bool = False
    expert_bias: bool = Field(default=False, description="biases in the experts (gpt-oss)")
    dense_layers: int = Field(
        default=0, ge=0, description="layers with a dense MLP of ffn_hidden in an MoE model"
    )
    mtp_layers: int = Field(
        default=0, ge=0, description="multi-token-prediction layers (not in the main model)"
    )
    source: str = ""

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        for name, value in self:
            # no architecture count comes near 10^13 (the largest models hold ~10^12 weights)
            if isinstance(value, int) and not isinstance(value, bool) and value > 10**13:
                raise ValueError(f"{name}={value} is larger than any model has (10^13)")
        if self.head_dim is None and self.d_model % self.n_head:
            raise ValueError(
                f"n_head={self.n_head} must divide d_model={self.d_model} "
                f"(or give head_dim explicitly)"
            )
        if self.n_head % self.kv_heads:
            raise ValueError(f"n_kv_head={self.kv_heads} must divide n_head={self.n_head}")
        if self.window_pattern is not None:
            if not self.window_pattern or set(self.window_pattern) - {"S", "L"}:
                raise ValueError(f"window_pattern={self.window_pattern!r} may only contain S and L")
            has_short = self.short_window is not None or self.short_window_fraction is not None
            if "S" in self.window_pattern and not has_short:
                raise ValueError("window_pattern has S layers: short_window is required")
        if self.n_experts:
            if not 0 < self.top_k <= self.n_experts or not self.expert_ffn_hidden:
                raise ValueError(
                    f"top_k={self.top_k} and expert_ffn_hidden={self.expert_ffn_hidden}: an MoE "
                    f"model needs 1 <= top_k <= n_experts={self.n_experts} and an expert width"
                )
            if self.dense_layers >= self.n_layer:
                raise ValueError(
                    f"dense_layers={self.dense_layers} leaves no MoE layer of "
                    f"n_layer={self.n_layer}"
                )
        elif self.top_k or self.dense_layers:
            raise ValueError("top_k and dense_layers need n_experts > 0")
        if self.qk_norm_width != "none" and not self.qk_norm:
            raise ValueError(f"qk_norm_width={self.qk_norm_width!r} needs qk_norm=true")
        if self.kv_lora_rank and not (self.qk_rope_head_dim and self.v_head_dim):
            raise ValueError(
                "latent attention (kv_lora_rank) needs qk_rope_head_dim and v_head_dim"
            )
        if self.value_embed_layers > self.n_layer:
            raise ValueError(
                f"value_embed_layers={self.value_embed_layers} exceeds n_layer={self.n_layer}"
            )
        learned = self.position == "learned" and self.max_position is not None
        if learned and self.max_position < self.seq_len:  # type: ignore[operator]
            raise ValueError(
                f"seq_len={self.seq_len} exceeds the learned position table "
                f"max_position={self.max_position}"
            )
        return self

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head if self.n_kv_head is not None else self.n_head

    @property
    def hd(self) -> int:
        """Width of one attention head."""
        return self.head_dim if self.head_dim is not None else self.d_model // self.n_head

    @property
    def gated(self) -> bool:
        return self.ffn_act in GATED_ACTS

    @property
    def moe(self) -> bool:
        return self.n_experts > 0

    @property
    def moe_layers(self) -> int:
        """Layers whose MLP is a mixture of experts."""
        return self.n_layer - self.dense_layers if self.moe else 0

    def moe_layer_flags(self) -> list[bool]:
        """Whether each layer's MLP is a mixture of experts: the dense layers first (DeepSeek's
        ``first_k_dense_replace``; an interleaved layout, Llama 4 Maverick's, does the same
        work per layer and differs only in which pipeline stage holds which)."""
        return (
            [i >= self.dense_layers for i in range(self.n_layer)]
            if self.moe
            else [False] * self.n_layer
        )

    @property
    def mla(self) -> bool:
        """Multi-head latent attention (DeepSeek V2/V3)."""
        return self.kv_lora_rank > 0

    @property
    def qk_head_dim(self) -> int:
        """Width of one head's query and key: nope + rope parts under latent attention."""
        return self.qk_nope_head_dim + self.qk_rope_head_dim if self.mla else self.hd

    @property
    def v_dim(self) -> int:
        """Width of one head's value."""
        return self.v_head_dim if self.mla else self.hd

    @property
    def position_rows(self) -> int:
        """Rows of the learned position table (0 unless position == 'learned')."""
        if self.position != "learned":
            return 0
        return self.max_position if self.max_position is not None else self.seq_len

    def short_window_at(self, seq_len: int) -> int:
        """The short window at ``seq_len``: fixed, or nanochat's ceil(T x frac / m) x m."""
        if self.short_window_fraction is not None:
            m = self.short_window_multiple
            return math.ceil(seq_len * self.short_window_fraction / m) * m
        return self.short_window if self.short_window is not None else seq_len

    def layer_windows(self, seq_len: int | None = None) -> list[int]:
        """Keys each layer may attend to (its window, capped at the sequence length)."""
        t = seq_len or self.seq_len
        if self.window_pattern is None:
            return [t] * self.n_layer
        pattern = self.window_pattern
        chars = [pattern[i % len(pattern)] for i in range(self.n_layer)]
        if self.last_layer_full:
            chars[-1] = "L"
        short = min(self.short_window_at(t), t)
        return [short if c == "S" else t for c in chars]


class TrainingSpec(_Frozen):
    """The training settings a user gives: every field is optional, and None means "not set".

    This is the question, not the answer: :func:`traintime.resolve.resolve` settles every unset
    field once (the model family's recipe, then the defaults in ``resolve.DEFAULTS``), and the
    planner chooses the memory and parallelism settings left unset (micro-batch, checkpointing,
    offload, ZeRO stage, TP/PP/CP). Give ``tokens`` or ``tokens_per_param``, not both.
    """

    tokens: float | None = Field(default=None, gt=0, description="total training tokens")
    tokens_per_param: float | None = Field(
        default=None, gt=0, description="tokens = ratio x total parameters (nanochat's horizon)"
    )
    global_batch_tokens: int | None = Field(
        default=None, gt=0, le=10**10, description="at most 10^10 (published runs: <= 6e7)"
    )
    micro_batch: int | None = Field(
        default=None, gt=0, le=10**6, description="sequences per GPU per pass"
    )
    seq_len: int | None = Field(
        default=None, gt=0, le=10**8, description="override the model's seq_len"
    )
    precision: Precision | None = None
    optimizer: Optimizer | None = None
    param_dtype: StorageDtype | None = None
    embedding_dtype: StorageDtype | None = None
    grad_dtype: StorageDtype | None = None
    master_dtype: StorageDtype | Literal["none"] | None = None
    optimizer_state_dtype: StorageDtype | None = None
    act_ckpt: Checkpointing | None = None
    attention_impl: AttentionImpl | None = None
    compiled: bool | None = None
    dropout: float | None = Field(default=None, ge=0.0, lt=1.0)
    norm_kernels: NormKernels | None = None
    loss_impl: LossImpl | None = Field(
        default=None,
        description="the loss kernel: eager (fp32 upcast), compiled, or fused / chunked",
    )
    tp: int | None = Field(default=None, gt=0, description="tensor-parallel degree")
    pp: int | None = Field(default=None, gt=0, description="pipeline-parallel degree")
    cp: int | None = Field(default=None, gt=0, description="context-parallel degree")
    pp_interleave: int | None = Field(default=None, gt=0, description="model chunks per stage")
    sequence_parallel: bool | None = None
    zero_stage: int | None = Field(default=None, ge=0, le=3, description="0 DDP, 1-3 ZeRO/FSDP")
    offload: Offload | None = None
    offload_update: OffloadUpdate | None = Field(
        default=None, description="where an offloaded optimizer's update runs: cpu or gpu"
    )
    ep: int | None = Field(default=None, gt=0, description="expert-parallel degree (MoE)")
    etp: int | None = Field(default=None, gt=0, description="expert tensor-parallel degree")
    moe_dispatcher: MoeDispatcher | None = Field(
        default=None, description="how tokens reach their experts: alltoall, deepep, allgather"
    )
    moe_routing: MoeRouting | None = Field(
        default=None,
        description="balanced (forced even load), dropless, or capacity (drops past a factor)",
    )
    capacity_factor: float | None = Field(
        default=None, gt=0, description="expert capacity as a multiple of the mean load"
    )
    moe_overlap: bool | None = Field(
        default=None, description="expert all-to-all overlapped with another micro-batch's compute"
    )
    finetune: Finetune | None = Field(
        default=None, description="full (every weight trained), lora, or qlora (quantized base)"
    )
    lora_rank: int | None = Field(default=None, gt=0, le=65_536, description="LoRA rank r")
    lora_alpha: float | None = Field(
        default=None, gt=0, description="LoRA scaling numerator (changes no time or memory)"
    )
    lora_targets: str | None = Field(
        default=None,
        max_length=500,
        description="attention | attn-qv | mlp | all-linear, or module names q,k,v,o,gate,up,"
        "down,lm_head joined by commas",
    )
    base_dtype: BaseDtype | None = Field(
        default=None, description="storage of the frozen base weights: bf16, int8, nf4, nf4-dq"
    )
    epochs: float | None = Field(default=None, gt=0, le=1e6, description="passes over tokens")
    packing: bool | None = Field(
        default=None, description="samples packed into full sequences (False: padded)"
    )
    mean_seq_len: int | None = Field(
        default=None, gt=0, le=10**8, description="mean tokens per sample, when padded"
    )

    @field_validator("tokens", "global_batch_tokens", mode="before")
    @classmethod
    def _count(cls, value: Any, info: Any) -> Any:
        """Counts may be written as people write them: '37.6B', '524_288', '2e9'."""
        if isinstance(value, str):
            number = parse_count(value, field=info.field_name)
            return int(number) if info.field_name == "global_batch_tokens" else number
        return value

    @model_validator(mode="after")
    def _check(self) -> TrainingSpec:
        if self.tokens is not None and self.tokens_per_param is not None:
            raise ValueError("give tokens or tokens_per_param, not both")
        return self

    def given(self) -> dict[str, Any]:
        """The fields that are set."""
        return {k: v for k, v in self if v is not None}

    def under(self, upper: TrainingSpec) -> TrainingSpec:
        """These settings with ``upper``'s set fields on top. ``tokens`` and
        ``tokens_per_param`` are one setting (the horizon): setting either replaces both."""
        fields = self.given()
        top = upper.given()
        if "tokens" in top or "tokens_per_param" in top:
            fields.pop("tokens", None)
            fields.pop("tokens_per_param", None)
        return type(self)(**{**fields, **top})


#: The settings the planner chooses when the user leaves them unset.
PLANNED = (
    "micro_batch",
    "act_ckpt",
    "offload",
    "offload_update",
    "zero_stage",
    "tp",
    "pp",
    "cp",
    "pp_interleave",
    "ep",
    "etp",
)


@dataclass(frozen=True, slots=True)
class OptimizerSpec:
    """An optimizer's state and update as data (``data/optimizers.toml``).

    ``moments`` tensors of state per parameter, each ``moment_bytes`` per element (None: the
    state dtype's size) plus ``scale_bytes`` of quantization constants per element; Adafactor's
    ``factored`` second moment keeps one row and one column per matrix instead. The update
    streams the weight, its gradient and the state, plus ``extra_passes`` full passes over the
    gradient in the state dtype. ``matrix_update`` names the math an optimizer runs on whole
    matrices (Muon's Newton-Schulz), whose other parameters use ``fallback``.
    """

    name: str
    moments: int
    moment_bytes: float | None = None
    scale_bytes: float = 0.0
    factored: bool = False
    extra_passes: float = 0.0
    kernels: int = 1
    matrix_update: str = "none"
    iterations: int = 0
    fallback: OptimizerSpec | None = None
    paged: bool = False


@dataclass(frozen=True, slots=True)
class Recipe:
    """The resolved training recipe one candidate runs: every field settled (no None).

    ``param_dtype``, ``grad_dtype`` and ``embedding_dtype`` are what the GPU holds;
    ``master_dtype`` is a separate full-precision copy of the weights (``"none"``: no copy),
    kept with the optimizer state. ``state_dtype`` and ``embedding_state_dtype`` are the
    optimizer state's element types for the dense weights and for the embedding tables.
    """

    global_batch_tokens: int
    micro_batch: int
    precision: str
    optimizer: OptimizerSpec
    param_dtype: str
    grad_dtype: str
    embedding_dtype: str
    master_dtype: str
    state_dtype: str
    embedding_state_dtype: str
    act_ckpt: str
    attention_impl: str
    compiled: bool
    norm_kernels: str
    dropout: float
    loss_impl: str = "eager"
    moe_dispatcher: str = "alltoall"
    moe_routing: str = "dropless"
    capacity_factor: float = 1.0
    moe_imbalance: float = 1.0
    moe_overlap: bool = False
    finetune: str = "full"
    lora_rank: int = 0
    lora_targets: frozenset[str] = frozenset()
    base_dtype: str = "bf16"
    base_bytes: float = 2.0  # bytes per frozen linear weight, quantization constants included
    dequant_bytes: float = 0.0  # bytes one dequantization of a frozen linear weight moves

    @property
    def expert_load(self) -> float:
        """Token copies the busiest expert rank computes, relative to an even share: the
        imbalance under dropless routing, the padded capacity under a capacity factor, 1 when
        routing is forced even."""
        if self.moe_routing == "capacity":
            return self.capacity_factor
        return self.moe_imbalance if self.moe_routing == "dropless" else 1.0

    @property
    def padding(self) -> float:
        """Executed expert FLOPs over the routed ones: padding to capacity runs."""
        return self.capacity_factor if self.moe_routing == "capacity" else 1.0


@dataclass(frozen=True, slots=True)
class Layout:
    """How one candidate spreads the work and the training state: ``dp x tp x pp x cp`` GPUs,
    the ZeRO stage, and what is offloaded to host memory (and where its update runs). Routed
    experts are split ``ep`` ways (and each expert ``etp`` ways) over the same GPUs."""

    dp: int = 1
    tp: int = 1
    pp: int = 1
    cp: int = 1
    pp_interleave: int = 1
    sequence_parallel: bool = True
    zero_stage: int = 0
    offload: str = "none"
    offload_update: str = "cpu"
    ep: int = 1
    etp: int = 1

    @property
    def n_gpus(self) -> int:
        return self.dp * self.tp * self.pp * self.cp

    @property
    def expert_replicas(self) -> int:
        """GPUs that hold the same expert shard: the expert layout is carved out of the same
        tp x cp x dp GPUs of a pipeline stage (Megatron-Core's MoE parallel folding), so
        ``ep x etp`` of them split the experts and the rest replicate them."""
        return max(1, self.dp * self.tp * self.cp // (self.ep * self.etp))

    @property
    def expert_shards(self) -> int:
        """Ranks the experts' optimizer state is split over: their replicas from ZeRO-1 on."""
        return self.expert_replicas if self.zero_stage >= 1 else 1

    @property
    def replicas(self) -> int:
        """GPUs that hold the same weights: data- and context-parallel ranks together. ZeRO and
        FSDP shard over them and gradients are reduced over them (Megatron-LM's data-parallel
        group with context parallelism; torchtitan's ``dp_shard_cp`` mesh)."""
        return self.dp * self.cp

    @property
    def shards(self) -> int:
        """Ranks the optimizer state (and its update) is split over: the replicas from ZeRO-1 on."""
        return self.replicas if self.zero_stage >= 1 else 1


DeviceClass = Literal[
    "geforce", "workstation", "laptop", "datacenter", "inference", "amd_datacenter", "other", "cpu"
]


class GpuSpec(_Frozen):
    """One accelerator: dense peaks (no 2:4 sparsity), memory, links, ceiling and price.

    ``peak_tflops`` is keyed by precision (bf16, fp16, fp8, fp4, tf32, fp32); None where the
    device has no such path. bf16/fp16/fp8 are the FP32-accumulate tensor rates PyTorch uses;
    fp4 the dense NVFP4 rate of Blackwell's block-scaled tensor cores; fp32 the non-tensor
    rate. ``field_sources`` says where each number comes from.
    """

    name: str
    vendor: str = ""
    architecture: str = ""
    form_factor: str = ""
    device_class: DeviceClass = "other"
    origin: Literal["curated", "derived"] = "curated"
    memory_gib: float = Field(gt=0)
    bandwidth_gbs: float = Field(gt=0)
    peak_tflops: dict[str, float | None]
    tdp_w: float | None = None
    sm_count: int | None = None
    boost_clock_mhz: float | None = None
    pcie_gen: int | None = None
    pcie_lanes: int | None = None
    host_link_gbs: float | None = Field(default=None, description="PCIe, per direction")
    scaleup_type: str | None = None
    scaleup_bw_gbs: float | None = Field(
        default=None, description="NVLink / Infinity Fabric per GPU, bidirectional; 0 = none"
    )
    matmul_ceiling: float = Field(default=0.5, gt=0, le=1.5)
    matmul_ceiling_basis: str = ""
    measured_bf16_matmul_tflops: float | None = None
    launch_price_usd: float | None = None
    rent_usd_per_hour: float | None = None
    price_note: str = ""
    release_year: int | None = None
    confidence: str = ""
    field_sources: dict[str, str] = Field(default_factory=dict)
    sources: str = ""

    def peak(self, precision: str) -> float | None:
        """Dense peak in TFLOPS for ``precision``, None where the hardware has none."""
        return self.peak_tflops.get(precision)


class DeviceCalibration(_Frozen):
    """One device's time-model rates fitted to measurements on it (``traintime calibrate``,
    traintime.calibration): factors on the model's GEMM rate (per precision measured), fused
    attention rate and memory bandwidth, a fixed time per step, and the memory the device's
    allocator reserves. ``residual`` is the largest |log(measured / predicted)| of the model
    probes after the fit: the band a calibrated estimate carries."""

    key: str = Field(description="device | driver | runtime | torch, as measured")
    gpu: str = Field(description="the catalog device it applies to")
    created: str = Field(description="UTC time of the measurement, ISO 8601")
    gemm_scale: dict[str, float] = Field(description="precision -> measured / model GEMM rate")
    attention_scale: float = Field(default=1.0, gt=0, le=1000)
    memory_scale: float = Field(default=1.0, gt=0, le=1000)
    step_overhead_s: float = Field(default=0.0, ge=0)
    reserved_factor: float | None = Field(default=None, ge=1)
    context_gib: float | None = Field(default=None, ge=0)
    residual: float = Field(default=0.0, ge=0)
    probes: int = Field(default=0, ge=0, description="model probes the fit used")
    error_before: float | None = Field(default=None, description="median |error| of the probes")
    error_after: float | None = None

    @field_validator("gemm_scale")
    @classmethod
    def _scales(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or any(not (0 < v <= 1000) for v in value.values()):
            raise ValueError("gemm_scale needs at least one precision, each scale in (0, 1000]")
        return value

    def gemm(self, precision: str) -> float:
        """The GEMM factor for ``precision``: its own where measured, else bf16's, else the
        first measured."""
        for p in (precision, "bf16", *self.gemm_scale):
            if p in self.gemm_scale:
                return self.gemm_scale[p]
        return 1.0


class FabricSpec(_Frozen):
    """An inter-node network: line rate per port and the per-step latency collectives see."""

    name: str
    description: str = ""
    port_gbps: float = Field(gt=0)
    achieved_gbs_per_port: float | None = None
    latency_us: float = Field(ge=0)
    source: str


class NodeSpec(_Frozen):
    """A server or workstation: its GPUs, the link between them and its NICs."""

    name: str
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    gpu: str
    gpus_per_node: int = Field(gt=0)
    intra_link: str
    intra_bw_gbs: float = Field(gt=0, description="per GPU, bidirectional")
    p2p: bool = True
    nics: int = Field(default=0, ge=0)
    nic_gbps: float = Field(default=0, ge=0)
    fabric: str | None = None
    host_memory_gib: float | None = None
    max_power_kw: float | None = None
    price_usd_per_hour: float | None = None
    price_note: str = ""
    source: str

    @property
    def network_gbps(self) -> float:
        """Total NIC line rate of one node to the inter-node fabric."""
        return self.nics * self.nic_gbps


class Efficiency(_Frozen):
    """The time model's physical constants (``data/efficiency.toml``), one set for every run."""

    memory_efficiency: float = Field(gt=0, le=1)
    gemm_tile_m: int = Field(gt=0)
    gemm_tile_n: int = Field(gt=0)
    gemm_tile_latency_us: float = Field(ge=0)
    gemm_split_k_min_depth: int = Field(gt=0)
    gemm_ceiling_k: int = Field(gt=0)
    gemm_unaligned_fraction: float = Field(gt=0, le=1)
    gemm_sustained_fraction: float = Field(gt=0, le=1)
    fa2_fraction: float = Field(gt=0, le=1)
    attention_tile: int = Field(gt=0)
    attention_reference_seq: int = Field(gt=0)
    triton_forward_slowdown: float = Field(ge=1)
    triton_backward_slowdown: float = Field(ge=1)
    fa2_on_hopper_fraction: float = Field(gt=0, le=1)
    fa3_fraction: float = Field(gt=0, le=1)
    masked_fraction: float = Field(gt=0, le=1)
    masked_on_hopper_fraction: float = Field(gt=0, le=1)
    attention_max_flop_per_sm_clk: float = Field(gt=0)
    fa2_softmax_head_dims: float = Field(ge=0)
    fa3_softmax_head_dims: float = Field(ge=0)
    gpu_min_us: float = Field(ge=0)
    cpu_eager_us: float = Field(ge=0)
    cpu_compiled_us: float = Field(ge=0)
    nvlink_efficiency: float = Field(gt=0, le=1)
    pcie_efficiency: float = Field(gt=0, le=1)
    network_efficiency: float = Field(gt=0, le=1)
    base_latency_us: float = Field(ge=0)
    nvlink_step_us: float = Field(ge=0)
    pcie_step_us: float = Field(ge=0)
    network_step_us: float = Field(ge=0)
    overlap_compute_slowdown: float = Field(ge=0, le=1)
    host_memory_bw_gbs: float = Field(gt=0)
    cpu_adam_bytes_per_param: float = Field(gt=0)
    cpu_matmul_tflops: float = Field(gt=0)
    grouped_gemm_fraction: float = Field(gt=0, le=1)
    moe_dropless_imbalance: float = Field(ge=1)


class MemoryPolicy(_Frozen):
    """What a GPU must hold beyond the allocated peak (``data/memory.toml``): the caching
    allocator's slack as a factor, and the CUDA context (larger with NCCL communicators)."""

    reserved_factor: float = Field(ge=1)
    context_gib: float = Field(ge=0)
    context_gib_multi_gpu: float = Field(ge=0)
    host_process_gib: float = Field(ge=0)

    def context(self, n_gpus: int) -> float:
        return self.context_gib_multi_gpu if n_gpus > 1 else self.context_gib


class Links(_Frozen):
    """The links a run's collectives use, per GPU (GB/s are per direction, achieved)."""

    gpus_per_node: int = Field(gt=0)
    intra_gbs: float = Field(gt=0, description="ring bus bandwidth inside a node")
    intra_step_us: float = Field(ge=0)
    inter_gbs: float | None = Field(default=None, description="per-GPU share of the node's NICs")
    inter_step_us: float = Field(default=0, ge=0)
    host_gbs: float = Field(gt=0, description="PCIe to host memory, per direction")
    description: str = ""


class HardwareSpec(_Frozen):
    """The GPUs a run uses, and optionally the node preset (links, NICs) they sit in."""

    gpu: GpuSpec
    count: int = Field(default=1, gt=0)
    gpus_per_node: int | None = Field(default=None, gt=0)
    system: NodeSpec | None = None

    @model_validator(mode="after")
    def _check(self) -> HardwareSpec:
        """The system must hold this GPU, and the GPUs must fill whole nodes; a rack-scale
        NVLink domain (more than 8 GPUs per node: GB200 / GB300 NVL72) may be used in part."""
        if self.system is not None and self.system.gpu != self.gpu.name:
            raise ValueError(
                f"system={self.system.name!r} is built from {self.system.gpu}, not "
                f"{self.gpu.name}: name a system built from this GPU, or leave system unset"
            )
        per_node = self.gpus_per_node or (self.system.gpus_per_node if self.system else None)
        if per_node and per_node <= 8 and self.count % per_node:
            raise ValueError(
                f"gpus={self.count} is not a whole number of nodes of {per_node} GPUs "
                f"(gpus_per_node={per_node}): use a multiple of {per_node}, or set "
                "gpus_per_node to the GPUs each node holds"
            )
        return self


def build(cls: type[_Spec], what: str, /, **fields: Any) -> _Spec:
    """Validate ``fields`` into ``cls``; on failure raise a one-line SpecError naming the field."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        raise SpecError(f"invalid {what}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        return f"unknown field {loc!r}"
    if not loc:
        return msg
    value = err.get("input")
    if msg.startswith(f"{loc}="):  # the message names the value already
        return msg
    shown = f"={value!r}" if not isinstance(value, dict) else ""
    return f"{loc}{shown}: {msg}"


class Economics(_Frozen):
    """Prices and power assumptions of the energy and cost estimate; None means the default of
    ``data/energy.toml`` (or the catalog's price for the GPU)."""

    electricity_usd_per_kwh: float | None = Field(default=None, ge=0)
    co2_kg_per_kwh: float | None = Field(default=None, ge=0)
    pue: float | None = Field(default=None, ge=1)
    rent_usd_per_gpu_hour: float | None = Field(default=None, ge=0)
    price_usd: float | None = Field(default=None, ge=0, description="purchase price per GPU")
    spot_fraction: float | None = Field(default=None, gt=0, le=1)
    lifetime_years: float | None = Field(default=None, gt=0)
    host_w_per_gpu: float | None = Field(default=None, ge=0)
    goodput: float | None = Field(
        default=None, gt=0, le=1, description="share of wall-clock time spent training"
    )

    def under(self, upper: Economics) -> Economics:
        """These prices with ``upper``'s set fields on top."""
        return Economics(
            **{**self.model_dump(exclude_none=True), **upper.model_dump(exclude_none=True)}
        )


class Question(_Frozen):
    """A whole question, as a scenario file, the command line or the API asks it: the model,
    the GPUs, the training settings the user gives, prices, and what to show beside it.

    ``model`` and ``gpu`` are names (resolved by the catalog) or specs; ``system`` a node
    preset name. ``allow_math_changes`` lets the planner change the training math when
    nothing else works (8-bit optimizer states, a global batch rounded to split over the GPUs).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    model: str | ModelSpec
    gpu: str | GpuSpec
    gpus: int = Field(
        default=1,
        gt=0,
        le=1_000_000,
        description="at most a million: the largest clusters hold a few hundred thousand",
    )
    gpus_per_node: int | None = Field(default=None, gt=0, le=1_000_000)
    system: str | NodeSpec | None = None
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    economics: Economics = Field(default_factory=Economics)
    reference: str | None = None
    allow_math_changes: bool = False
    calibration: bool | DeviceCalibration = Field(
        default=True,
        description="use this machine's stored calibration of the GPU (True), none (False), or "
        "this one",
    )

    @field_validator("model", mode="before")
    @classmethod
    def _path_as_name(cls, value: Any) -> Any:
        """A ``pathlib.Path`` (config.json, model directory, .toml) is looked up by its name;
        anything but a name, a path or a ModelSpec is refused."""
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, (str, ModelSpec)):
            raise ValueError(
                f"model={value!r} is not a model: give a preset name, a config path or a ModelSpec"
            )
        return value

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpu_name(cls, value: Any) -> Any:
        if not isinstance(value, (str, GpuSpec)):
            raise ValueError(f"gpu={value!r} is not a GPU: give a catalog name or a GpuSpec")
        return value
