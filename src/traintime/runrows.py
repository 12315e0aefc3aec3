"""A published run's columns (shared/validation/README.md) as a question, like any user's.

Each cell is read as the schema defines it: a number, a boolean or one of its keywords; anything
else refuses the row with a one-line reason (``DataError``). A column the row leaves empty is an
unset setting, filled as every estimate fills it (defaults, then the planner: the fastest setup
that fits), judged by the model and never by the measured outcome. The framework column sharpens
a few facts the other columns cannot carry (the attention kernel a code base ran, how it writes
its norms, its pipeline schedule, its sequence parallelism, where it keeps its weights); the
parameter count says whether the layers carry biases.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from traintime import catalog
from traintime.engine.params import count_params
from traintime.errors import DataError
from traintime.specs import ModelSpec, Question, TrainingSpec, build


def number_cell(row: dict[str, str], key: str) -> float | None:
    """A numeric cell: None when empty; a non-number or a negative value refuses the row."""
    cell = (row.get(key) or "").strip()
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{key}={cell!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or value > 1e15:
        raise DataError(f"{key}={cell!r} must be a finite number from 0 to 1e15")
    return value


def int_cell(row: dict[str, str], key: str) -> int | None:
    value = number_cell(row, key)
    return int(value) if value is not None else None


def bool_cell(row: dict[str, str], key: str) -> bool | None:
    cell = (row.get(key) or "").strip().lower()
    if cell and cell not in ("true", "false"):
        raise DataError(f"{key}={cell!r} is not true or false")
    return None if not cell else cell == "true"


#: The schema's keyword columns and their values (shared/validation/README.md).
KEYWORDS = {
    "precision": ("bf16", "fp8", "mxfp8", "nvfp4", "fp16", "fp32", "tf32"),
    "moe_dispatcher": ("alltoall", "deepep", "allgather", "other"),
    "moe_routing": ("balanced", "dropless", "capacity"),
    "optimizer": ("adamw", "muon", "adafactor", "sgd", "adamw8bit", "lamb", "other"),
    "act_ckpt": ("none", "selective", "full"),
    "attention_impl": ("flash", "sdpa", "eager", "other"),
    "finetune": ("full", "lora", "qlora", "dora", "other"),
    "base_dtype": ("bf16", "fp16", "fp32", "nf4", "nf4-dq", "int8", "int4-gptq"),
}


def _keyword(row: dict[str, str], key: str) -> str:
    """A keyword cell as written (empty when unknown); a value outside the schema refuses it."""
    cell = (row.get(key) or "").strip()
    if cell and cell not in KEYWORDS[key]:
        raise DataError(f"{key}={cell!r} is not one of {', '.join(KEYWORDS[key])}")
    return cell


def row_model(
    row: dict[str, str], assumed: list[str] | None = None, *, configs: Path | None = None
) -> ModelSpec:
    """The architecture: the Hugging Face config the ``config`` column names (in ``configs``,
    the folder beside the table), at the row's sequence length; else the architecture columns
    (an ``other`` activation is timed as GELU, and says so in ``assumed``)."""
    config = (row.get("config") or "").strip()
    if config:
        return _config_model(row, config, configs)
    d, seq = int_cell(row, "d_model") or 0, int_cell(row, "seq_len") or 0
    extra = int_cell(row, "extra_embed_params") or 0
    act = (row.get("ffn_act") or "").strip()
    if act not in ("gelu", "swiglu", "geglu", "relu2", "relu"):
        if assumed is not None:
            assumed.append(f"ffn_act={act or 'empty'} timed as gelu")
        act = "gelu"
    fields: dict[str, Any] = {
        "name": row.get("id") or "row",
        "family": _family(row),
        "n_layer": int_cell(row, "n_layer"),
        "d_model": d,
        "n_head": int_cell(row, "n_head"),
        "n_kv_head": int_cell(row, "n_kv_head"),
        "head_dim": int_cell(row, "head_dim"),
        "ffn_hidden": int_cell(row, "ffn_hidden"),
        "ffn_act": act,
        "vocab": int_cell(row, "vocab"),
        "tied_embeddings": bool_cell(row, "tied_embeddings") or False,
        "seq_len": seq,
    }
    if extra and d and extra % d == 0 and extra // d >= seq and extra // d <= 4 * seq:
        fields.update(position="learned", max_position=extra // d)
    else:
        fields["extra_lookup_params"] = extra
    window = int_cell(row, "attn_window")
    if window:
        pattern = re.search(r"\b([SL]*S[SL]*)\b", row.get("notes") or "")
        fields.update(
            short_window=window,
            window_pattern=pattern.group(1) if pattern else "S",
            last_layer_full=bool(pattern),
        )
    if "nanochat" in (row.get("framework") or "").lower():
        fields.update(qk_norm=True, logit_softcap=15.0, norm_weight=False)
    spec = build(ModelSpec, f"row {row.get('id')!r}", **fields)
    return _with_biases(spec, int_cell(row, "params_total"))


#: Code bases that name the modelling code a row ran, where its module layout matters (LoRA
#: adapts each linear as the code defines it, ``engine.lora``): Qwen's finetune.py trains Qwen
#: v1, whose remote code fuses q, k and v into one ``c_attn`` (the README: "Qwen v1: fused
#: c_attn"), with a bias on it alone.
_FAMILIES = (("qwen finetune", "qwen"),)


def _family(row: dict[str, str]) -> str:
    framework = (row.get("framework") or "").lower()
    return next((f for key, f in _FAMILIES if key in framework), "validation")


def _config_model(row: dict[str, str], config: str, configs: Path | None) -> ModelSpec:
    if configs is None or "/" in config or "\\" in config:
        raise DataError(f"config={config!r}: a file name in the configs/ folder beside the table")
    spec = catalog.load_hf_config(configs / config)
    seq, vocab = int_cell(row, "seq_len"), int_cell(row, "vocab")
    fields: dict[str, Any] = {"name": row.get("id") or spec.name, "family": "validation"}
    if seq:
        fields.update(seq_len=seq, seq_len_basis="")
    if vocab:  # the columns hold the values that apply (README): a run's own vocabulary
        fields["vocab"] = vocab
    return spec.model_copy(update=fields)


def _with_biases(spec: ModelSpec, params_total: int | None) -> ModelSpec:
    """No column says whether the linear layers and norms carry biases, but ``params_total``
    counts them: GPT-2 style models (GPT-2, MPT, Megatron's GPT, BLOOM) add 9 d per layer of
    linear biases and 2 d of LayerNorm biases; Qwen v1 a bias on its fused q, k, v only. Take
    that layout when it, and not the bias-free one, reproduces the published count to within
    half a d_model per layer."""
    if not params_total:
        return spec
    biased = spec.model_copy(update={"attn_bias": "all", "mlp_bias": True, "norm_bias": True})
    tolerance = 0.5 * spec.d_model * spec.n_layer
    plain_off = abs(count_params(spec).total - params_total)
    biased_off = abs(count_params(biased).total - params_total)
    if spec.family == "qwen":  # Qwen v1: a bias on c_attn (q, k, v) only
        qkv = spec.model_copy(update={"attn_bias": "qkv"})
        if abs(count_params(qkv).total - params_total) <= tolerance < plain_off:
            return qkv
    return biased if biased_off <= tolerance < plain_off else spec


def _layout(row: dict[str, str], n: int, assumed: list[str]) -> dict[str, int]:
    """The parallel degrees the row gives. An empty layout is left to the planner; with dp given
    and one of tp, pp, cp missing, the missing one is what the GPU count leaves."""
    cells = {k: int_cell(row, k) for k in ("dp", "tp", "pp", "cp")}
    if any(v is not None and v < 1 for v in cells.values()):
        raise DataError("dp, tp, pp and cp must be at least 1")
    given = {k: v for k, v in cells.items() if v is not None}
    if not given:
        return {}
    missing = [k for k in ("tp", "pp", "cp") if k not in given]
    if "dp" in given and len(missing) == 1:
        rest = given["dp"] * math.prod(given.get(k, 1) for k in ("tp", "pp", "cp"))
        if n % rest:
            raise DataError(f"dp x tp x pp x cp = {rest} does not divide n_gpus={n}")
        given[missing[0]] = n // rest
    elif "dp" in given and not missing:
        product = math.prod(given.values())
        if product != n:
            raise DataError(f"dp x tp x pp x cp = {product} differs from n_gpus={n}")
    return {k: v for k, v in given.items() if k != "dp"}


_MEGATRON = re.compile(r"megatron|deepspeed")


def _megatron_defaults(row: dict[str, str], zero: int | None, assumed: list[str]) -> dict[str, Any]:
    """Megatron-LM and DeepSpeed leave Korthikanti-style sequence parallelism off unless asked
    (Megatron-LM's ``--sequence-parallel``, 2022; Megatron-DeepSpeed has none) and shard
    nothing unless configured (Megatron-LM's ``--use-distributed-optimizer`` is off by default,
    DeepSpeed's ``zero_optimization.stage`` defaults to 0): a row from them that names neither
    ran their defaults. Other rows leave both to the tool, like any question."""
    text = f"{row.get('framework') or ''} {row.get('notes') or ''}".lower()
    if not _MEGATRON.search(text):
        return {}
    out: dict[str, Any] = {}
    if "sequence parallel" not in text:
        out["sequence_parallel"] = False
        assumed.append("sequence_parallel=false (Megatron-LM / DeepSpeed default)")
    if zero is None:
        out["zero_stage"] = 0
        assumed.append("zero_stage=0 (Megatron-LM / DeepSpeed default)")
    return out


_INTERLEAVING_DEFAULT = re.compile(r"megatron-bridge|\bnemo\b")


def schedule_unnamed(row: dict[str, str]) -> bool:
    """A pipelined row from a framework whose recipes interleave by default (NeMo and
    Megatron-Bridge set a virtual pipeline size in their performance recipes) that does not
    name its schedule: validate reports the range between plain and interleaved 1F1B."""
    text = f"{row.get('framework') or ''} {row.get('notes') or ''}".lower()
    pp = int_cell(row, "pp") or 1
    named = "interleav" in text or "1f1b" in text or bool(_VP.search(text))
    return pp > 1 and bool(_INTERLEAVING_DEFAULT.search(text)) and not named


_VP = re.compile(r"\bvp \(virtual pipeline degree\) = (\d+)")


def _interleave(row: dict[str, str]) -> int | None:
    """The virtual pipeline degree when the notes record it (Megatron-Bridge's VP column);
    Megatron-LM's interleaved 1F1B when the framework names it, or interleaves by default
    (the planner picks the chunk count), else plain 1F1B."""
    vp = _VP.search((row.get("notes") or "").lower())
    if vp and (int_cell(row, "pp") or 1) > 1:
        return int(vp.group(1))
    text = (row.get("framework") or "").lower()
    if "interleav" in text or _INTERLEAVING_DEFAULT.search(text):
        return None
    return 1


_TRITON_ATTENTION = re.compile(r"llm-foundry|\bcomposer\b|mosaicml")


def _attention_kernel(row: dict[str, str], assumed: list[str]) -> str | None:
    """The attention column, sharpened by the framework: FA3 / cuDNN kernels are FA3-class;
    llm-foundry / Composer (MPT) ran FlashAttention written in Triton: `attn_impl: triton` in
    its pretraining yamls and the benchmarking script's default until March 2024 (llm-foundry
    c26309de5 removed it), unless the framework names FlashAttention-2. An empty cell with
    nothing to sharpen it is left unset (the tool's default)."""
    impl = _keyword(row, "attention_impl")
    if impl == "other":
        impl = ""
    if not impl:
        framework = (row.get("framework") or "").lower()
        if not _TRITON_ATTENTION.search(framework):
            return None
        impl = "flash"
    framework = (row.get("framework") or "").lower()
    if impl == "flash" and re.search(r"\bfa3\b|flash-?attention-?3|cudnn", framework):
        return "flash3"
    named_fa2 = re.search(r"\bfa2\b|flash-?attn[ -=]*2|flash-?attention-?2", framework)
    if impl == "flash" and _TRITON_ATTENTION.search(framework) and not named_fa2:
        return "triton"
    return impl


def _checkpointing(row: dict[str, str]) -> str:
    """The act_ckpt column as the framework runs it: torchtitan's `selective` is its op-level
    policy (saves SDPA and every other matmul output, recomputes the rest), not Megatron's
    attention-core recompute (torchtitan activation_checkpoint.py, `mm_count % 2`)."""
    ckpt = _keyword(row, "act_ckpt") or "none"
    if ckpt == "selective" and "torchtitan" in (row.get("framework") or "").lower():
        return "selective-op"
    return ckpt


_COMPOSITE_NORMS = re.compile(r"torchtitan|hugging ?face|\btransformers\b|\bhf\b|litgpt|lit-gpt")


_FUSED_LOSS = re.compile(r"llm\.c|llm-foundry|\bcomposer\b|mosaicml")


def _loss_impl(row: dict[str, str]) -> str | None:
    """Code bases whose loss is one fused kernel: llm.c's fused classifier (train_gpt2.cu
    ``fused_classifier``), llm-foundry's default ``loss_fn: fused_crossentropy``
    (FlashAttention's Triton cross-entropy, llmfoundry/models/mpt/modeling_mpt.py). Others run
    PyTorch's cross-entropy, eager or compiled as the row says."""
    return "fused" if _FUSED_LOSS.search((row.get("framework") or "").lower()) else None


def _norm_kernels(row: dict[str, str]) -> str:
    """How the code base runs RMSNorm and rotary in eager mode: torchtitan, Hugging Face
    Transformers and LitGPT write them as chains of tensor ops (fp32 upcast, square, mean,
    rsqrt, scale; rotate-half or complex rotary); other code bases use fused kernels."""
    return "composite" if _COMPOSITE_NORMS.search((row.get("framework") or "").lower()) else "fused"


def row_question(
    row: dict[str, str], assumed: list[str], *, configs: Path | None = None
) -> Question:
    """A published run as a question: its columns are the user's settings; an empty column is
    unset, and is filled the way every estimate fills it (recipe defaults, then the planner's
    fastest setup that fits, since a run that ran must have fit). The framework column names
    facts no other column carries (kernels, norms, schedules, dtypes); the fine-tuning columns
    the method (``row_finetune``)."""
    finetune = row_finetune(row)
    n = int_cell(row, "n_gpus")
    if n is None:
        raise DataError("n_gpus is empty: the parallel layout cannot be known")
    if n < 1:
        raise DataError("n_gpus must be at least 1")
    spec = row_model(row, assumed, configs=configs)
    layout = _layout(row, n, assumed)
    zero = int_cell(row, "zero_stage")
    if zero is not None and zero > 3:
        raise DataError(f"zero_stage={zero} is not one of 0, 1, 2, 3")
    batch = int_cell(row, "global_batch_tokens")
    micro = int_cell(row, "micro_batch")
    if batch == 0 or micro == 0:
        raise DataError("global_batch_tokens and micro_batch must be at least 1")
    precision = _keyword(row, "precision")
    optimizer = _keyword(row, "optimizer")
    if optimizer in ("lamb", "other"):
        assumed.append(f"optimizer {optimizer} timed as adamw")
        optimizer = "adamw"
    if optimizer == "adamw8bit" and _PAGED_8BIT.search(row.get("notes") or ""):
        optimizer = "paged-adamw8bit"  # the schema has no keyword for it; the notes name it
        assumed.append("optimizer paged-adamw8bit (the notes name bitsandbytes PagedAdamW8bit)")
    ckpt = _checkpointing(row) if (row.get("act_ckpt") or "").strip() else None
    settings: dict[str, Any] = {
        "precision": precision if precision and precision != "other" else None,
        "optimizer": optimizer or None,
        "global_batch_tokens": batch,
        "micro_batch": micro,
        "act_ckpt": ckpt,
        "attention_impl": _attention_kernel(row, assumed),
        "compiled": bool_cell(row, "compiled"),
        "norm_kernels": _norm_kernels(row),
        "loss_impl": _loss_impl(row),
        "zero_stage": zero,
        "pp_interleave": _interleave(row),
        **_moe(row, spec, assumed),
        # no column for offload: the code bases offload only when configured to, and no row
        # says it was
        "offload": "none",
        **layout,
        **_dtype_layout(row),
        **_megatron_defaults(row, zero, assumed),
        **finetune,
    }
    training = build(
        TrainingSpec,
        f"row {row.get('id')!r}",
        **{k: v for k, v in settings.items() if v is not None},
    )
    return build(
        Question,
        f"row {row.get('id')!r}",
        model=spec,
        gpu=row["gpu"],
        gpus=n,
        gpus_per_node=int_cell(row, "gpus_per_node") or None,
        training=training,
        # a capacity factor drops tokens: the row ran it, so the math change is the row's
        allow_math_changes=settings.get("moe_routing") == "capacity",
        # validation measures the shipped model, never this machine's calibrations
        calibration=False,
    )


_CAPACITY = re.compile(r"capacity[ _]factor[ =:]*([0-9.]+)")
_A2A_OVERLAP = re.compile(r"a2a (?:1f1b )?overlap|overlap_moe_expert_parallel_comm")


def _moe(row: dict[str, str], spec: ModelSpec, assumed: list[str]) -> dict[str, Any]:
    """The expert layout and routing columns (README: ep, etp, moe_dispatcher, moe_routing). The
    ``other`` dispatcher is Megatron's flex dispatcher (DeepEP / HybridEP backends): timed as
    ``deepep``. A capacity factor, and the EP all-to-all overlap, are configuration the notes
    record."""
    if not spec.moe:
        return {}
    out: dict[str, Any] = {"ep": int_cell(row, "ep"), "etp": int_cell(row, "etp")}
    dispatcher = _keyword(row, "moe_dispatcher")
    if dispatcher == "other":
        assumed.append("moe_dispatcher other timed as deepep (Megatron's flex dispatcher)")
        dispatcher = "deepep"
    out["moe_dispatcher"] = dispatcher or None
    routing = _keyword(row, "moe_routing")
    out["moe_routing"] = routing or None
    notes = (row.get("notes") or "").lower()
    if routing == "capacity":
        factor = _CAPACITY.search(notes)
        out["capacity_factor"] = float(factor.group(1).rstrip(".")) if factor else 1.0
    if _A2A_OVERLAP.search(notes):
        out["moe_overlap"] = True
    return out


#: The fine-tuning table's LoRA target sets as the setting spells them (``engine.lora``); the
#: others (``attn``, ``attn-qv``, ``all-linear``, ``q+k+v``, ``q+v+o+mlp``) read as written.
_TARGETS = {"all-linear+lm_head": "all-linear,lm_head"}
#: Target sets no setting expresses, with the reason the row is skipped.
_UNMODELLED_TARGETS = {
    "all-linear+wte+lm_head-full": (
        "lora_targets=all-linear+wte+lm_head-full (Qwen's LoRA (emb): the embedding and output "
        "matrices trained in full as modules_to_save copies) has no setting"
    ),
}
_PAGED_8BIT = re.compile(r"pagedadamw8bit|paged_adamw_8bit", re.IGNORECASE)
#: A fine-tune is sized by its data (``TrainingSpec.tokens``); the horizon changes neither the
#: speed nor the memory, so a row's question carries a nominal one.
NOMINAL_FINETUNE_TOKENS = 1e9


def finetune_refusal(row: dict[str, str]) -> str | None:
    """Why a fine-tuning row's method cannot be predicted, or None. ``other`` is every method
    that is neither full nor (Q)LoRA/DoRA (here LLaMA-Adapter v1/v2: gated prefix prompts,
    not adapters beside a linear). DoRA is not read as LoRA: it splits each adapted weight
    into a magnitude and a direction and takes the column norms of W + BA every step (Liu et
    al. 2024, arXiv:2402.09353), work and memory a LoRA estimate leaves out."""
    method = _keyword(row, "finetune")
    if method == "other":
        if "adapter" in (row.get("notes") or "").lower():
            return "finetune=other: LLaMA-Adapter is not modelled"
        return "finetune=other: the method is not modelled"
    if method == "dora":
        return "finetune=dora: DoRA's weight decomposition is not modelled"
    targets = (row.get("lora_targets") or "").strip()
    if method in ("lora", "qlora") and targets in _UNMODELLED_TARGETS:
        return _UNMODELLED_TARGETS[targets]
    return None


def row_finetune(row: dict[str, str]) -> dict[str, Any]:
    """The fine-tuning columns (README, "Fine-tuning columns") as settings: ``finetune`` is the
    method; ``lora_rank`` and ``lora_targets`` the adapters (empty: the tool's defaults, listed
    under ``assumed`` like every default); ``base_dtype`` the frozen base's storage (``int4-gptq``
    is ``int4``), and for a full fine-tune the weight dtype. DeepSpeed's bf16/fp16 optimizer
    keeps an fp32 master copy of those weights (the rows' notes: "fp32 master weights in the
    optimizer"). ``trainable_params`` is an observation, never read here. Empty for a
    pre-training row."""
    method = _keyword(row, "finetune")
    if not method:
        return {}
    refusal = finetune_refusal(row)
    if refusal:
        raise DataError(refusal)
    base = _keyword(row, "base_dtype")
    base = "int4" if base == "int4-gptq" else base
    out: dict[str, Any] = {"finetune": method, "tokens": NOMINAL_FINETUNE_TOKENS}
    if method == "full":
        if base in ("nf4", "nf4-dq", "int8", "int4"):
            raise DataError(f"base_dtype={base!r}: a full fine-tune trains 16- or 32-bit weights")
        deepspeed = "deepspeed" in (row.get("framework") or "").lower()
        if base in ("bf16", "fp16") and deepspeed:
            out["master_dtype"] = "fp32"
        return {**out, "param_dtype": base or None}
    targets = (row.get("lora_targets") or "").strip()
    return {
        **out,
        "lora_rank": int_cell(row, "lora_rank"),
        "lora_targets": _TARGETS.get(targets, targets.replace("+", ",")) or None,
        "base_dtype": base or None,
    }


def _dtype_layout(row: dict[str, str]) -> dict[str, Any]:
    """nanochat keeps fp32 weights and gradients and its embedding tables in bf16
    (nanochat.md section 3.2); other code bases store tensors by the tool's one rule
    (``resolve.storage``: AMP's fp32 weights, or 16-bit weights with an fp32 master copy
    under ZeRO-1/2 and offload)."""
    wide = (row.get("precision") or "").strip() in ("fp32", "tf32")
    if "nanochat" in (row.get("framework") or "").lower() and not wide:
        return {"param_dtype": "fp32", "grad_dtype": "fp32", "embedding_dtype": "bf16"}
    return {}
