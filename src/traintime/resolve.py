"""One resolution of a question: every setting settled once, with where it came from.

A setting's value comes from the first of these that has it:

1. the user (command-line flags, a scenario file, ``estimate(...)`` keyword arguments, a
   validation row's columns): *given*, and kept;
2. the model family's recipe (nanochat's optimizer, dtypes, batch and horizon): *recipe*;
3. ``DEFAULTS`` below: *default*;
4. for the settings in ``specs.PLANNED`` (micro-batch, checkpointing, offload, ZeRO stage and
   the parallel layout) nothing of the above: the planner chooses them, per candidate, as the
   fastest setup that fits (``planner.py``).

Where tensors live follows from those choices by one rule (:func:`storage`): offloading keeps
16-bit weights and gradients on the GPU and an fp32 master copy with the optimizer on the host
(ZeRO-Offload); ZeRO-1/2 keep 16-bit working weights and an fp32 master copy in the sharded
optimizer state (DeepSpeed, Megatron's distributed optimizer); otherwise fp32 weights and
gradients under autocast (PyTorch AMP, FSDP's default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from traintime import catalog
from traintime.engine.device import Device
from traintime.engine.evaluate import Machine
from traintime.engine.lora import parse_targets
from traintime.engine.numerics import WIDE
from traintime.engine.params import count_params
from traintime.errors import SpecError
from traintime.specs import (
    PLANNED,
    DeviceCalibration,
    GpuSpec,
    HardwareSpec,
    Layout,
    ModelSpec,
    OptimizerSpec,
    Question,
    Recipe,
    TrainingSpec,
    build,
)

#: Every default, set once, with its reason.
DEFAULTS: dict[str, tuple[Any, str]] = {
    "tokens_per_param": (20.0, "Chinchilla's compute-optimal 20 tokens per parameter"),
    "global_batch_tokens": (524_288, "2^19 tokens per optimizer step"),
    "precision": ("bf16", "bf16 mixed precision"),
    "optimizer": ("adamw", "AdamW"),
    "attention_impl": ("flash", "a FlashAttention-2-class kernel"),
    "compiled": (False, "eager PyTorch"),
    "dropout": (0.0, "no dropout"),
    "norm_kernels": ("fused", "fused norm and rotary kernels"),
    "sequence_parallel": (True, "sequence parallelism with tensor parallelism"),
    "moe_dispatcher": ("alltoall", "NCCL all-to-all token dispatch"),
    "moe_routing": ("dropless", "dropless routing, with the busiest expert rank's imbalance"),
    "capacity_factor": (1.0, "capacity of one mean load per expert"),
    "moe_overlap": (False, "expert all-to-all not overlapped with compute"),
    "finetune": ("full", "full training: every weight learns"),
    "epochs": (1.0, "one pass over the tokens"),
    "packing": (True, "samples packed into full sequences: no padding"),
}

#: Defaults of a LoRA or QLoRA fine-tune (derived once the method is lora or qlora).
LORA_DEFAULTS: dict[str, tuple[Any, str]] = {
    "lora_rank": (16, "rank 16"),
    "lora_targets": (
        "all-linear",
        "adapters on every linear layer of the blocks (QLoRA, Dettmers et al. 2023: needed to "
        "match full fine-tuning)",
    ),
}
#: The frozen base's storage by method, when not given: QLoRA's recipe is NF4 with double
#: quantization (Dettmers et al. 2023, section 3); LoRA keeps the base in bf16.
BASE_DEFAULTS = {
    "lora": ("bf16", "LoRA's frozen base in bf16"),
    "qlora": (
        "nf4-dq",
        "QLoRA's 4-bit NormalFloat with double quantization (Dettmers et al. 2023)",
    ),
}
QUANTIZED = ("nf4", "nf4-dq", "int8", "int4")
LORA_SETTINGS = ("lora_rank", "lora_alpha", "lora_targets", "base_dtype")

#: Settings that only a mixture-of-experts model has.
MOE_SETTINGS = ("ep", "etp", "moe_dispatcher", "moe_routing", "capacity_factor", "moe_overlap")

#: Settings that change what is learned: a value from the user or the recipe is part of the
#: training math, changed only with ``allow_math_changes``.
MATH = ("global_batch_tokens", "optimizer", "optimizer_state_dtype", "finetune")


@dataclass(frozen=True)
class Setting:
    """One resolved setting: its value, and where it came from (``given``, ``recipe``,
    ``default``, ``planner`` or ``derived``) with a reason."""

    name: str
    value: Any
    source: str
    reason: str = ""


@dataclass(frozen=True)
class Option:
    """The planner's choices for one candidate (user pins filled in)."""

    micro_batch: int
    act_ckpt: str
    offload: str
    offload_update: str
    zero_stage: int
    tp: int
    pp: int
    cp: int
    pp_interleave: int
    global_batch_tokens: int
    eight_bit: bool = False
    ep: int = 1
    etp: int = 1
    drop_tokens: bool = False
    finetune: str | None = None  # the math stage's lighter fine-tuning method; None: as asked


@dataclass(frozen=True)
class Resolved:
    """A question with every setting but the planner's settled."""

    question: Question
    spec: ModelSpec
    hardware: HardwareSpec
    machine: Machine
    tokens: float
    settings: dict[str, Setting]
    pins: dict[str, Any]
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def value(self, name: str) -> Any:
        return self.settings[name].value

    def applies(self, name: str) -> bool:
        """Whether a setting matters to this question (a capacity factor only to capacity
        routing): what the estimate reports among the defaults."""
        if name == "capacity_factor":
            return self.settings.get("moe_routing", Setting(name, "", "")).value == "capacity"
        return True

    @property
    def optimizer(self) -> OptimizerSpec:
        return catalog.find_optimizer(self.value("optimizer"))

    @property
    def batch_is_math(self) -> bool:
        """Whether the global batch was set by the user or the recipe (then it is training
        math: rounding it needs ``allow_math_changes``)."""
        return self.settings["global_batch_tokens"].source in ("given", "recipe")

    def recipe(self, o: Option) -> Recipe:
        """The recipe one candidate runs (memoized: the planner asks for it often)."""
        key = (
            o.micro_batch,
            o.act_ckpt,
            o.global_batch_tokens,
            o.offload,
            o.zero_stage,
            o.eight_bit,
            o.drop_tokens,
            o.finetune,
        )
        if key not in self.memo:
            self.memo[key] = self._recipe(o)
        return self.memo[key]

    def _recipe(self, o: Option) -> Recipe:
        opt = self.optimizer
        state_given = self.settings.get("optimizer_state_dtype")
        if o.eight_bit:  # 8-bit Adam, or 16-bit states for other optimizers
            if opt.name == "adamw":
                opt = catalog.find_optimizer("adamw8bit")
            else:
                state_given = Setting("optimizer_state_dtype", "bf16", "planner")
        dtypes = storage(self, o, state_given.value if state_given else None)
        return Recipe(
            global_batch_tokens=o.global_batch_tokens,
            micro_batch=o.micro_batch,
            precision=self.value("precision"),
            optimizer=opt,
            act_ckpt=o.act_ckpt,
            attention_impl=self.value("attention_impl"),
            compiled=self.value("compiled"),
            norm_kernels=self.value("norm_kernels"),
            dropout=self.value("dropout"),
            loss_impl=self.value("loss_impl"),
            **self._moe(o),
            **self._finetune(o.finetune),
            **dtypes,
        )

    def lighter_methods(self) -> tuple[str, ...]:
        """Fine-tuning methods the math stage may switch to: lighter ones than a fine-tune the
        user asked for (never for pre-training, whose method is the default)."""
        if self.settings["finetune"].source != "given":
            return ()
        order = ("full", "lora", "qlora")
        return order[order.index(self.value("finetune")) + 1 :]

    def _finetune(self, switched: str | None = None) -> dict[str, Any]:
        """The fine-tuning method (or the planner's lighter one), its adapters and the frozen
        base's storage."""
        method = switched or self.value("finetune")
        if method == "full":
            return {}
        asked = self.value("finetune")
        rank = self.value("lora_rank") if asked != "full" else LORA_DEFAULTS["lora_rank"][0]
        targets = (
            self.value("lora_targets") if asked != "full" else LORA_DEFAULTS["lora_targets"][0]
        )
        base = self.value("base_dtype") if asked == method else BASE_DEFAULTS[method][0]
        base_bytes, dequant_bytes = catalog.base_storage(base)
        return {
            "finetune": method,
            "lora_rank": rank,
            "lora_targets": parse_targets(targets),
            "base_dtype": base,
            "base_bytes": base_bytes,
            "dequant_bytes": dequant_bytes,
        }

    def _moe(self, o: Option) -> dict[str, Any]:
        """The routing and dispatch of a mixture-of-experts model (nothing for a dense one);
        ``o.drop_tokens``: the planner's math change, Megatron-Bridge's token drop (capacity
        factor 1.0, padded: ``apply_moe_token_drop``'s defaults)."""
        if not self.spec.moe:
            return {}
        routing = "capacity" if o.drop_tokens else self.value("moe_routing")
        return {
            "moe_dispatcher": self.value("moe_dispatcher"),
            "moe_routing": routing,
            "capacity_factor": 1.0 if o.drop_tokens else self.value("capacity_factor"),
            "moe_imbalance": self.machine.device.eff.moe_dropless_imbalance,
            "moe_overlap": self.value("moe_overlap"),
        }

    def layout(self, o: Option) -> Layout:
        """The layout one candidate runs."""
        return Layout(
            dp=self.hardware.count // (o.tp * o.pp * o.cp),
            tp=o.tp,
            pp=o.pp,
            cp=o.cp,
            pp_interleave=o.pp_interleave,
            sequence_parallel=self.value("sequence_parallel"),
            zero_stage=o.zero_stage,
            offload=o.offload,
            offload_update=o.offload_update,
            ep=o.ep,
            etp=o.etp,
        )


def _compute_storage(precision: str) -> str:
    """The 16-bit (or fp32) dtype that weights take on the GPU to compute in."""
    if precision in WIDE:
        return "fp32"
    return "fp16" if precision == "fp16" else "bf16"


def storage(r: Resolved, o: Option, state: str | None) -> dict[str, str]:
    """Where tensors live and in what dtype, for one candidate (the module docstring's rule).
    A LoRA or QLoRA fine-tune keeps its frozen weights in the compute dtype (the quantized
    linears in the base format, ``Recipe.base_bytes``) and trains its adapters in fp32: PEFT
    casts bf16/fp16 adapter weights to fp32 (``get_peft_model(autocast_adapter_dtype=True)``,
    the default), so their gradients and optimizer state are fp32 too."""
    given = {k: s.value for k, s in r.settings.items() if k.endswith("_dtype")}
    c = _compute_storage(r.value("precision"))
    method = o.finetune or r.value("finetune")
    if method != "full":
        base = r.value("base_dtype") if o.finetune is None else BASE_DEFAULTS[method][0]
        frozen = base if base not in QUANTIZED else c
        adapters = state or "fp32"
        return {
            "param_dtype": given.get("param_dtype") or frozen,
            "grad_dtype": given.get("grad_dtype") or "fp32",
            "embedding_dtype": given.get("embedding_dtype") or frozen,
            "master_dtype": "none",
            "state_dtype": adapters,
            "embedding_state_dtype": adapters,
        }
    param = given.get("param_dtype")
    master = given.get("master_dtype")
    if o.offload != "none":
        wide = param if param is not None and param != c else "fp32"
        gpu = {"param_dtype": c, "grad_dtype": c, "embedding_dtype": c}
        master = master if master not in (None, "none") else wide
    elif param is None and master is None and o.zero_stage in (1, 2) and c != "fp32":
        gpu = {"param_dtype": c, "grad_dtype": c, "embedding_dtype": c}
        master = "fp32"
    else:
        param = param or "fp32"
        gpu = {
            "param_dtype": param,
            "grad_dtype": given.get("grad_dtype") or param,
            "embedding_dtype": given.get("embedding_dtype") or param,
        }
        master = master or "none"
    if o.offload == "none":
        gpu["embedding_dtype"] = given.get("embedding_dtype") or gpu["embedding_dtype"]
    dense_state = state or (master if master != "none" else gpu["param_dtype"])
    table_state = state or (master if master != "none" else gpu["embedding_dtype"])
    return {
        **gpu,
        "master_dtype": master,
        "state_dtype": dense_state,
        "embedding_state_dtype": table_state,
    }


def _model(question: Question) -> ModelSpec:
    model = question.model
    return model if isinstance(model, ModelSpec) else catalog.find_model(model)


def _gpu(question: Question) -> GpuSpec:
    gpu = question.gpu
    return gpu if isinstance(gpu, GpuSpec) else catalog.find_gpu(gpu)


def _hardware(question: Question) -> HardwareSpec:
    system = question.system
    node = catalog.find_system(system) if isinstance(system, str) else system
    return build(
        HardwareSpec,
        "hardware",
        gpu=_gpu(question),
        count=question.gpus,
        gpus_per_node=question.gpus_per_node,
        system=node,
    )


def calibration_of(question: Question, gpu: GpuSpec) -> DeviceCalibration | None:
    """This machine's stored calibration of ``gpu`` (``traintime calibrate``), the one the
    question gives, or none when it turns calibrations off (``validate`` does: it measures
    the shipped model)."""
    cal = question.calibration
    if isinstance(cal, DeviceCalibration):
        if cal.gpu != gpu.name:
            raise SpecError(
                f"calibration of {cal.gpu!r} given for a question on {gpu.name!r}: a "
                "calibration applies to the device it was measured on"
            )
        return cal
    return catalog.calibration_for(gpu.name) if cal else None


def machine_for(hw: HardwareSpec, cal: DeviceCalibration | None = None) -> Machine:
    """The engine's view of the hardware: device, links and memory policy, with a
    calibration's rates and allocator figures where there is one."""
    per_node = hw.gpus_per_node or (hw.system.gpus_per_node if hw.system else None)
    if per_node is None:
        # a GPU built into a rack-scale NVLink domain (GB200 / GB300 NVL72) sits in it; others
        # in nodes of up to 8
        node = catalog.node_for(hw.gpu)
        rack = node is not None and node.gpus_per_node > 8
        per_node = min(hw.count, node.gpus_per_node) if rack else min(hw.count, 8)
    links = catalog.links_for(hw.gpu, gpus_per_node=per_node, system=hw.system)
    policy = catalog.memory_policy()
    if cal is not None:
        policy = policy.model_copy(
            update={
                k: v
                for k, v in (
                    ("reserved_factor", cal.reserved_factor),
                    ("context_gib", cal.context_gib),
                )
                if v is not None
            }
        )
    return Machine(
        device=Device(hw.gpu, catalog.efficiency(), cal),
        links=links,
        n_gpus=hw.count,
        policy=policy,
    )


def _settings(spec: ModelSpec, user: TrainingSpec) -> dict[str, Setting]:
    """Every setting outside the planner's, with its source."""
    recipe = TrainingSpec(**catalog.model_recipe(spec))
    planned = [k for k in recipe.given() if k in PLANNED]
    if planned:
        raise SpecError(
            f"model recipe of {spec.name!r} sets {planned[0]}, which the planner chooses"
        )
    merged = recipe.under(user)
    out: dict[str, Setting] = {}
    for name in TrainingSpec.model_fields:
        if name in PLANNED or (name in MOE_SETTINGS and not spec.moe):
            continue
        value = getattr(merged, name)
        if value is not None:
            source = "given" if getattr(user, name) is not None else "recipe"
            out[name] = Setting(
                name, value, source, f"{spec.family} recipe" if source == "recipe" else ""
            )
        elif name in DEFAULTS and not (name == "tokens_per_param" and merged.tokens is not None):
            default, reason = DEFAULTS[name]
            out[name] = Setting(name, default, "default", reason)
    _finetune_settings(out, user)
    if "loss_impl" not in out:  # the loss follows the rest of the step: compiled or eager
        compiled = out["compiled"].value
        out["loss_impl"] = Setting(
            "loss_impl",
            "compiled" if compiled else "eager",
            "derived",
            "torch.compile fuses the loss" if compiled else "eager PyTorch cross-entropy",
        )
    return out


def _finetune_settings(out: dict[str, Setting], user: TrainingSpec) -> None:
    """Fill and check the fine-tuning settings: rank, targets and base format for LoRA and
    QLoRA (none of them for full training), padding."""
    method = out["finetune"].value
    if method == "full":
        extra = [k for k in LORA_SETTINGS if k in out]
        if extra:
            raise SpecError(
                f"{extra[0]}={out[extra[0]].value!r} belongs to a LoRA or QLoRA fine-tune; "
                "set finetune to lora or qlora (full training adapts nothing)"
            )
    else:
        for name, (value, reason) in LORA_DEFAULTS.items():
            if name not in out:
                out[name] = Setting(name, value, "default", reason)
        try:
            parse_targets(out["lora_targets"].value)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        if "base_dtype" not in out:
            value, reason = BASE_DEFAULTS[method]
            out["base_dtype"] = Setting("base_dtype", value, "default", reason)
        base = out["base_dtype"].value
        if (method == "qlora") != (base in QUANTIZED):
            allowed = QUANTIZED if method == "qlora" else ("bf16", "fp16", "fp32")
            raise SpecError(
                f"base_dtype={base!r} with finetune={method!r}: "
                + ("QLoRA quantizes" if method == "qlora" else "LoRA keeps")
                + f" the frozen base; allowed: {', '.join(allowed)}"
                + ("" if method == "qlora" else " (a quantized base is finetune='qlora')")
            )
    mean = out.get("mean_seq_len")
    if mean is not None and user.packing is None:
        out["packing"] = Setting(
            "packing", False, "derived", "a mean sample length is given: samples are padded"
        )
    if not out["packing"].value and mean is None:
        raise SpecError(
            "packing=False (padded samples) needs mean_seq_len: the mean tokens per sample, "
            "so the padded tokens can be counted"
        )


def padding_factor(r: Resolved) -> float:
    """Tokens run per token learned: seq_len / mean sample length when samples are padded."""
    if r.value("packing"):
        return 1.0
    return r.spec.seq_len / r.value("mean_seq_len")


def _check_moe(spec: ModelSpec, user: TrainingSpec, question: Question) -> None:
    """Refuse MoE settings on a dense model, and token dropping without leave to change the
    training math."""
    given = [k for k in MOE_SETTINGS if getattr(user, k) is not None]
    if given and not spec.moe:
        value = getattr(user, given[0])
        raise SpecError(
            f"{given[0]}={value!r}: {spec.name} is a dense model (no experts); expert settings "
            "apply to mixture-of-experts models"
        )
    if user.moe_routing == "capacity" and not question.allow_math_changes:
        raise SpecError(
            "moe_routing='capacity' drops the tokens past each expert's capacity, a change to "
            "the training math: add --allow-math-changes (or use dropless / balanced)"
        )
    if user.capacity_factor is not None and user.moe_routing != "capacity":
        raise SpecError(
            f"capacity_factor={user.capacity_factor} applies to moe_routing='capacity' only "
            f"(got moe_routing={user.moe_routing!r})"
        )


def _check_pins(spec: ModelSpec, pins: dict[str, Any], n_gpus: int, opt: OptimizerSpec) -> None:
    """Refuse a pinned layout that cannot exist, naming the values and what is allowed."""
    tp, pp, cp = pins.get("tp", 1), pins.get("pp", 1), pins.get("cp", 1)
    ep, etp = pins.get("ep", 1), pins.get("etp", 1)
    heads, kv = spec.n_head, spec.kv_heads
    if heads % tp or not (kv % tp == 0 or tp % kv == 0):
        raise SpecError(
            f"tp={tp} must divide the {heads} attention heads of {spec.name} and either divide "
            f"its {kv} KV heads or be a multiple of them (then each KV head is replicated)"
        )
    if pp > spec.n_layer:
        raise SpecError(f"pp={pp} exceeds the {spec.n_layer} layers of {spec.name}")
    if spec.moe and spec.n_experts % ep:
        raise SpecError(f"ep={ep} must divide the {spec.n_experts} experts of {spec.name}")
    if spec.moe and etp > 1 and spec.expert_ffn_hidden % etp:
        raise SpecError(
            f"etp={etp} must divide the expert width expert_ffn_hidden={spec.expert_ffn_hidden}"
        )
    if (n_gpus // pp) % (ep * etp) or n_gpus % pp:
        raise SpecError(
            f"ep x etp = {ep} x {etp} = {ep * etp} must divide the {n_gpus // max(pp, 1)} GPUs "
            f"of a pipeline stage (gpus={n_gpus} / pp={pp})"
        )
    if n_gpus % (tp * pp * cp):
        raise SpecError(
            f"gpus={n_gpus} is not a multiple of tp x pp x cp = {tp} x {pp} x {cp} = {tp * pp * cp}"
        )
    interleave = pins.get("pp_interleave", 1)
    if interleave > 1 and (pp == 1 and ("pp" in pins or n_gpus == 1)):
        raise SpecError(
            f"pp_interleave={interleave} needs pipeline parallelism: pp > 1 (got pp={pp} on "
            f"{n_gpus} GPU(s))"
        )
    if pins.get("offload_update") == "gpu" and opt.matrix_update == "none":
        raise SpecError(
            f"offload_update='gpu' with optimizer={opt.name!r}: only optimizers whose update is "
            "matrix math (muon) run it on the GPU from offloaded state; use offload_update='cpu'"
        )


def _seq_len_note(spec: ModelSpec) -> str:
    """Why the sequence length is what it is when the user did not give it."""
    if spec.seq_len_basis:
        return f"{spec.seq_len_basis}; --seq-len sets another"
    return f"{spec.name}'s sequence length"


def resolve(question: Question) -> Resolved:
    """Settle every setting the planner does not choose, once, with its source."""
    spec = _model(question)
    hw = _hardware(question)
    user = question.training
    if user.seq_len is not None and user.seq_len != spec.seq_len:
        spec = build(
            ModelSpec, f"model {spec.name}", **{**spec.model_dump(), "seq_len": user.seq_len}
        )
    settings = _settings(spec, user)
    settings["seq_len"] = Setting(
        "seq_len",
        spec.seq_len,
        settings["seq_len"].source if "seq_len" in settings else "recipe",
        "" if "seq_len" in settings else _seq_len_note(spec),
    )
    _check_moe(spec, user, question)
    pins = {k: v for k, v in user.given().items() if k in PLANNED}
    opt = catalog.find_optimizer(settings["optimizer"].value)
    _check_pins(spec, pins, hw.count, opt)
    params = count_params(spec).total
    if user.finetune is not None and user.tokens is None and user.tokens_per_param is None:
        raise SpecError(
            f"finetune={user.finetune!r}: a fine-tune is sized by its data: give tokens (the "
            "dataset's tokens; epochs for several passes)"
        )
    mean = settings.get("mean_seq_len")
    if mean is not None and mean.value > spec.seq_len:
        raise SpecError(
            f"mean_seq_len={mean.value} exceeds the sequence length {spec.seq_len} samples are "
            "padded to"
        )
    if "tokens" in settings:
        tokens = float(settings["tokens"].value)
    else:
        tokens = settings["tokens_per_param"].value * params
    tokens *= settings["epochs"].value
    if not settings["packing"].value:
        tokens *= spec.seq_len / settings["mean_seq_len"].value
    return Resolved(
        question=question,
        spec=spec,
        hardware=hw,
        machine=machine_for(hw, calibration_of(question, hw.gpu)),
        tokens=tokens,
        settings=settings,
        pins=pins,
    )
