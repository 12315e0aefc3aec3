"""A published run's columns (shared/validation/README.md) as the specs the time model takes.

Each cell is read as the schema defines it: a number, a boolean or one of its keywords; anything
else refuses the row with a one-line reason (``DataError``). Settings a row leaves empty are
filled as the run's authors would have, judged by the memory model and never by the measured
outcome, and listed in ``assumed``. The framework column sharpens a few facts the other columns
cannot carry (the attention kernel a code base ran, how it writes its norms, where it keeps its
weights); the parameter count says whether the layers carry biases.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

from traintime import catalog
from traintime.engine.memory import GIB, peak_memory
from traintime.engine.params import count_params
from traintime.engine.step import Recipe, default_micro_batch, memory_inputs
from traintime.errors import DataError
from traintime.specs import ModelSpec, Parallel, build


def number_cell(row: dict[str, str], key: str) -> float | None:
    """A numeric cell: None when empty; a non-number or a negative value refuses the row."""
    cell = (row.get(key) or "").strip()
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{key}={cell!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise DataError(f"{key}={cell!r} must be a finite number >= 0")
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
    "precision": ("bf16", "fp8", "fp16", "fp32", "tf32"),
    "optimizer": ("adamw", "muon", "adafactor", "sgd", "adamw8bit", "lamb", "other"),
    "act_ckpt": ("none", "selective", "full"),
    "attention_impl": ("flash", "sdpa", "eager", "other"),
}


def _keyword(row: dict[str, str], key: str) -> str:
    """A keyword cell as written (empty when unknown); a value outside the schema refuses it."""
    cell = (row.get(key) or "").strip()
    if cell and cell not in KEYWORDS[key]:
        raise DataError(f"{key}={cell!r} is not one of {', '.join(KEYWORDS[key])}")
    return cell


def row_model(row: dict[str, str], assumed: list[str] | None = None) -> ModelSpec:
    """The architecture columns as a ModelSpec (an ``other`` activation is timed as GELU, and
    says so in ``assumed``)."""
    d, seq = int_cell(row, "d_model") or 0, int_cell(row, "seq_len") or 0
    extra = int_cell(row, "extra_embed_params") or 0
    act = (row.get("ffn_act") or "").strip()
    if act not in ("gelu", "swiglu", "geglu", "relu2", "relu"):
        if assumed is not None:
            assumed.append(f"ffn_act={act or 'empty'} timed as gelu")
        act = "gelu"
    fields: dict[str, Any] = {
        "name": row.get("id") or "row",
        "family": "validation",
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


def _with_biases(spec: ModelSpec, params_total: int | None) -> ModelSpec:
    """No column says whether the linear layers and norms carry biases, but ``params_total``
    counts them: GPT-2 style models (GPT-2, MPT, Megatron's GPT, BLOOM) add 9 d per layer of
    linear biases and 2 d of LayerNorm biases. Take that layout when it, and not the bias-free
    one, reproduces the published count to within half a d_model per layer."""
    if not params_total:
        return spec
    biased = spec.model_copy(update={"attn_bias": "all", "mlp_bias": True, "norm_bias": True})
    tolerance = 0.5 * spec.d_model * spec.n_layer
    plain_off = abs(count_params(spec).total - params_total)
    biased_off = abs(count_params(biased).total - params_total)
    return biased if biased_off <= tolerance < plain_off else spec


def row_parallel(row: dict[str, str], assumed: list[str]) -> Parallel:
    n = int_cell(row, "n_gpus")
    if n is None:
        raise DataError("n_gpus is empty: the parallel layout cannot be known")
    dims = [int_cell(row, k) for k in ("dp", "tp", "pp", "cp")]
    if all(x is None for x in dims):
        dims = [n, 1, 1, 1]
        assumed.append(f"layout dp={n}")
    if n < 1 or any(x is not None and x < 1 for x in dims):
        raise DataError("n_gpus, dp, tp, pp and cp must be at least 1")
    dp, tp, pp, cp = (x or 1 for x in dims)
    if dp * tp * pp * cp != n:
        raise DataError(f"dp x tp x pp x cp = {dp * tp * pp * cp} differs from n_gpus={n}")
    zero = int_cell(row, "zero_stage")
    if zero is not None and zero > 3:
        raise DataError(f"zero_stage={zero} is not one of 0, 1, 2, 3")
    if zero is None:
        zero = 0
        assumed.append("zero_stage=0")
    interleave = 1
    if pp > 1 and "interleav" in (row.get("framework") or "").lower():
        # the framework names Megatron's interleaved 1F1B but no chunk count: the fewest, two
        interleave = 2
        assumed.append("pp_interleave=2")
    return build(
        Parallel,
        "layout",
        dp=dp,
        tp=tp,
        pp=pp,
        cp=cp,
        zero_stage=zero,
        sequence_parallel=False,
        pp_interleave=interleave,
    )


def _default(row: dict[str, str], key: str, value: Any, assumed: list[str]) -> Any:
    cell = _keyword(row, key)
    if cell and cell != "other":
        return cell
    assumed.append(f"{key}={value}")
    return value


_TRITON_ATTENTION = re.compile(r"llm-foundry|\bcomposer\b|mosaicml")


def _attention_kernel(row: dict[str, str], assumed: list[str]) -> str:
    """The attention column, sharpened by the framework: FA3 / cuDNN kernels are FA3-class;
    llm-foundry / Composer (MPT) ran FlashAttention written in Triton: `attn_impl: triton` in
    its pretraining yamls and the benchmarking script's default until March 2024 (llm-foundry
    c26309de5 removed it), unless the framework names FlashAttention-2."""
    impl = _default(row, "attention_impl", "flash", assumed)
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


def _norm_kernels(row: dict[str, str]) -> str:
    """How the code base runs RMSNorm and rotary in eager mode: torchtitan, Hugging Face
    Transformers and LitGPT write them as chains of tensor ops (fp32 upcast, square, mean,
    rsqrt, scale; rotate-half or complex rotary); other code bases use fused kernels."""
    return "composite" if _COMPOSITE_NORMS.search((row.get("framework") or "").lower()) else "fused"


def row_recipe(row: dict[str, str], spec: ModelSpec, par: Parallel, assumed: list[str]) -> Recipe:
    precision = _default(row, "precision", "bf16", assumed)
    optimizer = _default(row, "optimizer", "adamw", assumed)
    if optimizer not in ("adamw", "muon", "adamw8bit", "adafactor", "sgd"):
        assumed.append(f"optimizer {optimizer} timed as adamw")
        optimizer = "adamw"
    batch = int_cell(row, "global_batch_tokens")
    micro = int_cell(row, "micro_batch")
    if batch == 0 or micro == 0:
        raise DataError("global_batch_tokens and micro_batch must be at least 1")
    compiled = bool_cell(row, "compiled")
    if compiled is None:
        compiled = False
        assumed.append("compiled=false")
    recipe = Recipe(
        global_batch_tokens=batch or 0,
        micro_batch=micro or 1,
        precision=precision,
        optimizer=optimizer,
        state_dtype="int8" if optimizer == "adamw8bit" else None,
        act_ckpt=_checkpointing(row),
        attention_impl=_attention_kernel(row, assumed),
        compiled=compiled,
        norm_kernels=_norm_kernels(row),
        **_dtype_layout(row, par, precision),
    )
    if micro is None or not (row.get("act_ckpt") or "").strip():
        recipe = _fill_like_a_practitioner(row, spec, par, recipe, micro, assumed)
    if batch is None:
        per_pass = recipe.micro_batch * spec.seq_len * par.dp
        batch = per_pass * max(1, round(2**19 / per_pass))
        assumed.append(f"global_batch_tokens={batch}")
    return replace(recipe, global_batch_tokens=batch)


def _dtype_layout(row: dict[str, str], par: Parallel, precision: str) -> dict[str, Any]:
    """Where each tensor lives, by implementation: PyTorch AMP (DDP, nanochat) keeps fp32
    weights and gradients; ZeRO-1/2 optimizers (DeepSpeed, Megatron's distributed optimizer)
    keep 16-bit working weights and gradients with an fp32 master copy in the sharded optimizer
    state (Rajbhandari et al. 2020, section 3); FSDP (stage 3) shards the fp32 weights themselves
    and reduces gradients in fp32 (its default mixed precision). nanochat keeps its embedding
    tables in bf16 (nanochat.md section 3.2)."""
    framework = (row.get("framework") or "").lower()
    if precision in ("fp32", "tf32"):
        return {"param_dtype": "fp32", "grad_dtype": "fp32", "embedding_dtype": "fp32"}
    if "nanochat" in framework:
        return {"param_dtype": "fp32", "grad_dtype": "fp32", "embedding_dtype": "bf16"}
    if par.zero_stage in (1, 2):
        return {
            "param_dtype": "bf16",
            "grad_dtype": "bf16",
            "embedding_dtype": "bf16",
            "master_dtype": "fp32",
        }
    return {"param_dtype": "fp32", "grad_dtype": "fp32", "embedding_dtype": "fp32"}


def _fill_like_a_practitioner(
    row: dict[str, str],
    spec: ModelSpec,
    par: Parallel,
    recipe: Recipe,
    micro: int | None,
    assumed: list[str],
) -> Recipe:
    """Settings a run leaves empty, chosen the way its authors would have: the largest
    micro-batch up to ~16K tokens (1 under pipelining) that fits the GPU, without activation
    checkpointing if anything fits without it. Uses the memory model, never the outcome."""
    gpu = catalog.find_gpu(row["gpu"])
    ckpt_known = bool((row.get("act_ckpt") or "").strip())
    start = micro or default_micro_batch(
        spec.seq_len, dp=par.dp, pp=par.pp, global_batch_tokens=int_cell(row, "global_batch_tokens")
    )
    micros = [micro] if micro else [m for m in (start >> i for i in range(12)) if m >= 1]
    ckpts = [recipe.act_ckpt] if ckpt_known else ["none", "full"]
    for ckpt in ckpts:
        for m in micros:
            candidate = replace(recipe, micro_batch=m, act_ckpt=ckpt)
            if row_fits(spec, candidate, par, gpu):
                break
        else:
            continue
        break
    else:
        candidate = replace(recipe, micro_batch=micros[-1], act_ckpt=ckpts[-1])
    if micro is None:
        assumed.append(f"micro_batch={candidate.micro_batch}")
    if not ckpt_known:
        assumed.append(f"act_ckpt={candidate.act_ckpt}")
    return candidate


def row_memory(spec: ModelSpec, recipe: Recipe, par: Parallel) -> Any:
    return peak_memory(spec, memory_inputs(recipe), par)


def row_fits(spec: ModelSpec, recipe: Recipe, par: Parallel, gpu: Any) -> bool:
    d = catalog.memory_defaults()
    context = d["context_gib_multi_gpu" if par.n_gpus > 1 else "context_gib"]
    return (
        row_memory(spec, recipe, par).total / GIB * d["reserved_factor"] + context <= gpu.memory_gib
    )


_RECOMPUTE = {"none": 0, "selective": 1, "selective-op": 1, "full": 2}


def with_sequence_parallel(
    row: dict[str, str], spec: ModelSpec, par: Parallel, gpu: Any, assumed: list[str]
) -> tuple[Parallel, Recipe]:
    """No column says whether a tensor-parallel run used sequence parallelism. Like the other
    settings a row leaves open, choose it as its authors would have, judged by the memory
    model and never by the outcome: a setup that fits before one that does not, less
    recompute before more (SP costs no extra communication, recompute a third of a forward),
    and plain tensor parallelism (Megatron-LM's default; SP arrived in 2022) when both do."""
    options = []
    for sp in (False, True):
        notes = list(assumed)
        p = par.model_copy(update={"sequence_parallel": sp})
        recipe = row_recipe(row, spec, p, notes)
        rank = (not row_fits(spec, recipe, p, gpu), _RECOMPUTE.get(recipe.act_ckpt, 2), sp)
        options.append((rank, p, recipe, [*notes, f"sequence_parallel={str(sp).lower()}"]))
    _, p, recipe, notes = min(options, key=lambda o: o[0])
    assumed[:] = notes
    return p, recipe
