"""Which linear layers a LoRA fine-tune adapts, and what the adapters add: the target names and
the sets people write, the model's linears as the fine-tuning code sees them, the trainable
parameters, and what a frozen base still saves for backward.

LoRA (Hu et al. 2021, arXiv:2106.09685) adds ``B A`` beside a frozen weight ``W`` (d_out x
d_in), with ``A`` r x d_in and ``B`` d_out x r: ``r (d_in + d_out)`` trainable parameters per
adapted matrix (PEFT ``LoraLayer.update_layer``: ``lora_A = nn.Linear(in_features, r)``,
``lora_B = nn.Linear(r, out_features)``, no biases by default).

The linears are those of the Hugging Face modelling code, which PEFT wraps one by one:

* attention: ``q_proj``, ``k_proj``, ``v_proj`` (grouped-query: k and v are ``n_kv_head x
  head_dim`` wide; ``head_dim`` as configured, which need not be ``d_model / n_head``: Qwen3,
  Gemma) and ``o_proj``. Families that fuse q, k and v into one linear (GPT-2 ``c_attn``,
  GPT-NeoX/Falcon/BLOOM ``query_key_value``, MPT ``Wqkv``, Phi-3 ``qkv_proj``, Qwen v1
  ``c_attn``) have one ``d -> (H + 2 KV) hd`` matrix that any of q, k, v selects;
* latent attention (DeepSeek V2/V3, ``modeling_deepseek``): q is ``q_a_proj`` and ``q_b_proj``
  (``q_proj`` without a query rank); k and v come out of ``kv_a_proj_with_mqa`` (d -> kv rank +
  rope) and ``kv_b_proj`` (kv rank -> H (nope + v)), so k or v selects both, as
  PEFT's ``all-linear`` (every ``nn.Linear`` but the output head) adapts both; o is ``o_proj``;
* the MLP: ``gate_proj``, ``up_proj`` and ``down_proj`` (two matrices, up and down, without a
  gate; Phi-3's fused ``gate_up_proj`` is selected by gate or up); in a mixture of experts each
  routed expert's matrices are adapters' own targets (``n_experts`` of each per layer), shared
  experts are one MLP of ``shared_ffn_hidden``, and routers are not adapted; a model's dense
  first layers (DeepSeek) keep a dense MLP;
* ``lm_head`` (d_model -> vocab), only when named: ``all-linear`` excludes the output head.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from traintime.engine.numerics import compute_dtype
from traintime.engine.params import count_params
from traintime.errors import SpecError
from traintime.specs import ModelSpec, Recipe

#: Every linear a target list may name, in a block (and the output head).
MODULES = ("q", "k", "v", "o", "gate", "up", "down", "lm_head")

#: Fine-tuning methods as people write them.
METHOD_NAMES = {"full": "full fine-tuning", "lora": "LoRA", "qlora": "QLoRA"}


def ordered_targets(targets: frozenset[str]) -> list[str]:
    """``targets`` in the model's order (``MODULES``), as people read them."""
    return [m for m in MODULES if m in targets]


#: Target sets by the names the fine-tuning code bases use (PEFT ``target_modules="all-linear"``
#: excludes the output head; ``attn-qv`` is LoRA's original q and v).
SETS: dict[str, frozenset[str]] = {
    "attention": frozenset({"q", "k", "v", "o"}),
    "attn": frozenset({"q", "k", "v", "o"}),
    "attn-qv": frozenset({"q", "v"}),
    "qv": frozenset({"q", "v"}),
    "mlp": frozenset({"gate", "up", "down"}),
    "all-linear": frozenset({"q", "k", "v", "o", "gate", "up", "down"}),
    "all": frozenset({"q", "k", "v", "o", "gate", "up", "down"}),
}

#: Other spellings of the module names (Hugging Face module names).
_ALIASES = {
    "q_proj": "q", "k_proj": "k", "v_proj": "v", "o_proj": "o", "out_proj": "o",
    "gate_proj": "gate", "up_proj": "up", "down_proj": "down", "w1": "gate", "w3": "up",
    "w2": "down", "output": "lm_head", "head": "lm_head",
}  # fmt: skip

#: Families (``ModelSpec.family``: the config's model_type, or the preset family) whose code
#: fuses q, k and v into one linear, and gate and up (transformers modelling code: gpt2
#: ``c_attn``, gpt_neox / falcon / bloom ``query_key_value``, mpt ``Wqkv``, phi3 ``qkv_proj``
#: and ``gate_up_proj``, Qwen v1 ``c_attn``).
FUSED_QKV = frozenset({"gpt2", "gpt_neox", "pythia", "mpt", "phi3", "falcon", "bloom", "qwen"})
FUSED_GATE_UP = frozenset({"phi3"})

#: Base formats whose frozen linears are quantized (bitsandbytes ``Linear4bit`` /
#: ``Linear8bitLt``, GPTQ): they are dequantized for each GEMM that uses them.
QUANTIZED = frozenset({"nf4", "nf4-dq", "int8", "int4", "int4-gptq"})


def parse_targets(text: str) -> frozenset[str]:
    """``all-linear``, ``attention``, ``attn-qv``, ``mlp``, or module names joined by ``,`` or
    ``+`` (``q,v``, ``all-linear+lm_head``). Raises ValueError naming what is allowed."""
    out: set[str] = set()
    for word in text.replace("+", ",").split(","):
        key = word.strip().lower()
        if not key:
            continue
        if key in SETS:
            out |= SETS[key]
        elif _ALIASES.get(key, key) in MODULES:
            out.add(_ALIASES.get(key, key))
        else:
            raise ValueError(
                f"lora_targets {text!r}: {word.strip()!r} is not a target; give "
                f"{', '.join(k for k in SETS if k not in ('attn', 'qv', 'all'))}, or module names "
                f"{', '.join(MODULES)} joined by commas"
            )
    if not out:
        raise ValueError(f"lora_targets {text!r} names no module")
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Linear:
    """One linear layer of a block as the fine-tuning code wraps it.

    ``modules``: the target names that select it; ``count``: such matrices per layer
    (``n_experts`` for a routed expert's); ``expert``: a routed expert's (a token runs
    ``top_k`` of them); ``source``: the tensor it reads (its input, saved for a weight
    gradient); ``split``: which side tensor parallelism divides (``out`` column-parallel,
    ``in`` row-parallel, ``none`` replicated, as Megatron lays them out)."""

    name: str
    modules: frozenset[str]
    d_in: int
    d_out: int
    source: str
    split: str
    count: int = 1
    expert: bool = False

    def adapter_params(self, rank: int) -> int:
        """LoRA's ``r (d_in + d_out)`` for each of the ``count`` matrices."""
        return self.count * rank * (self.d_in + self.d_out)


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


def _attention(spec: ModelSpec) -> list[Linear]:
    d, h, kv = spec.d_model, spec.n_head, spec.kv_heads
    out = Linear("o_proj", _fs("o"), h * spec.v_dim, d, "attn_out", "in")
    if spec.mla:
        qk = spec.qk_head_dim
        r = spec.q_lora_rank
        q = (
            [
                Linear("q_a_proj", _fs("q"), d, r, "attn_in", "none"),
                Linear("q_b_proj", _fs("q"), r, h * qk, "q_latent", "out"),
            ]
            if r
            else [Linear("q_proj", _fs("q"), d, h * qk, "attn_in", "out")]
        )
        kv_a = spec.kv_lora_rank + spec.qk_rope_head_dim
        kv_b = h * (spec.qk_nope_head_dim + spec.v_head_dim)
        return [
            *q,
            Linear("kv_a_proj_with_mqa", _fs("k", "v"), d, kv_a, "attn_in", "none"),
            Linear("kv_b_proj", _fs("k", "v"), spec.kv_lora_rank, kv_b, "kv_latent", "out"),
            out,
        ]
    hd = spec.hd
    if spec.family in FUSED_QKV:
        qkv = Linear("qkv_proj", _fs("q", "k", "v"), d, (h + 2 * kv) * hd, "attn_in", "out")
        return [qkv, out]
    return [
        Linear("q_proj", _fs("q"), d, h * hd, "attn_in", "out"),
        Linear("k_proj", _fs("k"), d, kv * hd, "attn_in", "out"),
        Linear("v_proj", _fs("v"), d, kv * hd, "attn_in", "out"),
        out,
    ]


def _mlp(
    spec: ModelSpec, prefix: str, f: int, *, count: int = 1, expert: bool = False
) -> list[Linear]:
    """An MLP of inner width ``f`` (``count`` of them, routed experts when ``expert``)."""
    d = spec.d_model
    src_in, src_hidden = {
        "mlp.": ("mlp_in", "mlp_hidden"),
        "shared_experts.": ("mlp_in", "shared_hidden"),
        "experts.": ("expert_in", "expert_hidden"),
    }[prefix]
    kw = {"count": count, "expert": expert}
    down = Linear(f"{prefix}down_proj", _fs("down"), f, d, src_hidden, "in", **kw)
    if not spec.gated:
        return [Linear(f"{prefix}up_proj", _fs("up"), d, f, src_in, "out", **kw), down]
    if spec.family in FUSED_GATE_UP:
        fused = Linear(f"{prefix}gate_up_proj", _fs("gate", "up"), d, 2 * f, src_in, "out", **kw)
        return [fused, down]
    return [
        Linear(f"{prefix}gate_proj", _fs("gate"), d, f, src_in, "out", **kw),
        Linear(f"{prefix}up_proj", _fs("up"), d, f, src_in, "out", **kw),
        down,
    ]


@functools.lru_cache(maxsize=1024)
def block_linears(spec: ModelSpec, *, moe: bool = False) -> tuple[Linear, ...]:
    """The linears of one block (an MoE layer's when ``moe``), routers excluded."""
    out = _attention(spec)
    if not moe:
        return (*out, *_mlp(spec, "mlp.", spec.ffn_hidden))
    out += _mlp(spec, "experts.", spec.expert_ffn_hidden, count=spec.n_experts, expert=True)
    if spec.shared_ffn_hidden:
        out += _mlp(spec, "shared_experts.", spec.shared_ffn_hidden)
    return tuple(out)


def head_linear(spec: ModelSpec) -> Linear:
    """The output head (tied or not, it runs as a d_model -> vocab linear)."""
    return Linear("lm_head", _fs("lm_head"), spec.d_model, spec.vocab, "head_in", "out")


def _layer_kinds(spec: ModelSpec) -> list[tuple[bool, int]]:
    """(is an MoE layer, how many such layers)."""
    dense = spec.dense_layers if spec.moe else spec.n_layer
    return [(False, dense), (True, spec.moe_layers)]


def adapted_linears(
    spec: ModelSpec, targets: frozenset[str] = frozenset(MODULES)
) -> dict[str, tuple[int, int, int]]:
    """Each linear ``targets`` select, by the model's name for it: (d_in, d_out, matrices in
    the model). The default selects every linear a target can name, the output head
    included."""
    out: dict[str, tuple[int, int, int]] = {}
    for moe, layers in _layer_kinds(spec):
        if not layers:
            continue
        for lin in block_linears(spec, moe=moe):
            if lin.modules & targets:
                prev = out.get(lin.name, (lin.d_in, lin.d_out, 0))[2]
                out[lin.name] = (lin.d_in, lin.d_out, prev + lin.count * layers)
    if "lm_head" in targets:
        head = head_linear(spec)
        out[head.name] = (head.d_in, head.d_out, 1)
    return out


def adapter_split(spec: ModelSpec, rank: int, targets: frozenset[str]) -> tuple[int, int]:
    """LoRA parameters outside and inside the routed experts (each sharded its own way)."""
    dense = experts = 0
    for moe, layers in _layer_kinds(spec):
        for lin in block_linears(spec, moe=moe):
            if lin.modules & targets:
                n = layers * lin.adapter_params(rank)
                if lin.expert:
                    experts += n
                else:
                    dense += n
    if "lm_head" in targets:
        dense += head_linear(spec).adapter_params(rank)
    return dense, experts


def trainable_params(
    spec: ModelSpec,
    *,
    finetune: str = "full",
    rank: int = 0,
    targets: frozenset[str] | str = frozenset(),
) -> int:
    """Parameters that receive gradients: every one for a full fine-tune (``count_params``'
    total); for LoRA and QLoRA the adapters' ``r (d_in + d_out)`` over every targeted matrix
    (``targets``: module names, or a set or list as :func:`parse_targets` reads it).
    Llama-3.1-8B, r = 16, all-linear: 32 x 16 x (8,192 + 5,120 x 2 + 8,192 + 18,432 x 3) =
    41,943,040."""
    if not isinstance(spec, ModelSpec):
        raise SpecError(
            f"trainable_params takes a ModelSpec, got {type(spec).__name__} {spec!r}: look a "
            "name up first, e.g. trainable_params(traintime.find_model('llama-3.1-8b'), "
            "finetune='lora', rank=16, targets='all-linear')"
        )
    if finetune == "full":
        return count_params(spec).total
    if finetune not in ("lora", "qlora"):
        raise SpecError(f"finetune={finetune!r}: allowed: full, lora, qlora")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise SpecError(f"rank={rank!r}: a LoRA rank is a whole number >= 1")
    if isinstance(targets, str):
        try:
            targets = parse_targets(targets)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
    if not targets:
        raise SpecError("targets=(): name the adapted modules, e.g. 'all-linear' or 'q,v'")
    return sum(adapter_split(spec, rank, targets))


def lora(recipe: Recipe) -> bool:
    """Whether the recipe trains adapters on a frozen base (LoRA or QLoRA)."""
    return recipe.finetune != "full"


def quantized(recipe: Recipe) -> bool:
    """Whether the frozen base linears are stored quantized (QLoRA)."""
    return lora(recipe) and recipe.base_dtype in QUANTIZED


def adapter_dtype(recipe: Recipe) -> str:
    """The adapters' weights' dtype: their gradients' (PEFT keeps them in fp32,
    ``autocast_adapter_dtype``; resolve.storage)."""
    return recipe.grad_dtype


def largest_linear(spec: ModelSpec) -> int:
    """Weights of the model's largest block matrix (one dequantized copy at a time)."""
    return max(
        lin.d_in * lin.d_out
        for moe, layers in _layer_kinds(spec)
        if layers
        for lin in block_linears(spec, moe=moe)
    )


def casts_input(recipe: Recipe) -> bool:
    """Whether each adapter casts its input to its own dtype: PEFT's ``lora.Linear`` does
    (``x = self._cast_input_dtype(x, lora_A.weight.dtype)``) when the adapters (fp32) differ
    from the activations, and autocast casts it back for the GEMM: a copy per adapted linear.
    Its bitsandbytes layers (QLoRA) cast only when autocast is off (peft/tuners/lora/bnb.py:
    ``requires_conversion = not torch.is_autocast_enabled()``); torch.compile fuses the casts."""
    return (
        lora(recipe)
        and not quantized(recipe)
        and not recipe.compiled
        and adapter_dtype(recipe) != compute_dtype(recipe.precision)
    )


def quantized_weights_per_layer(spec: ModelSpec, *, moe: bool) -> int:
    """Weights of one block's linears that a quantized base stores packed: attention, MLP,
    routed and shared experts, and the router (bitsandbytes replaces every ``nn.Linear`` but
    the output head; norms, biases and embeddings stay in the compute dtype)."""
    weights = sum(lin.count * lin.d_in * lin.d_out for lin in block_linears(spec, moe=moe))
    return weights + (spec.d_model * spec.n_experts if moe else 0)


def quantized_weights(spec: ModelSpec) -> tuple[int, int]:
    """(block linear weights outside the routed experts, routed expert matrices) of the
    model."""
    kinds = _layer_kinds(spec)
    total = sum(layers * quantized_weights_per_layer(spec, moe=moe) for moe, layers in kinds)
    mats = 3 if spec.gated else 2
    experts = spec.moe_layers * spec.n_experts * mats * spec.d_model * spec.expert_ffn_hidden
    return total - experts, experts
