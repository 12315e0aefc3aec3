"""Which linear layers a LoRA fine-tune adapts: the target names and the sets people write.

LoRA (Hu et al. 2021, arXiv:2106.09685) adds ``B A`` beside a frozen weight ``W`` (d_out x
d_in), with ``A`` r x d_in and ``B`` d_out x r: ``r (d_in + d_out)`` trainable parameters per
adapted matrix. The names are the Llama-family projections; every architecture's equivalents
map onto them (GPT-2's fused ``c_attn`` is q, k and v; a two-matrix MLP has up and down).
"""

from __future__ import annotations

#: Every linear a target list may name, in a block (and the output head).
MODULES = ("q", "k", "v", "o", "gate", "up", "down", "lm_head")

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
