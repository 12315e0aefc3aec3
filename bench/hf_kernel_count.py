"""Count the kernels eager PyTorch launches for one micro-step (forward, loss, backward) of a
Hugging Face Llama, per decoder layer, with and without PEFT LoRA on every linear and
activation checkpointing, beside the kernels traintime's engine counts for the same shapes.

Needs ``transformers`` and ``peft`` (not traintime dependencies): ``pip install transformers
peft``. Runs on the CPU in seconds. A ``TorchDispatchMode`` sees every aten op below autograd;
views and allocations launch no kernel and are not counted. The CPU runs dropout as three ops
where CUDA runs one (``native_dropout``), so LoRA dropout is off. Per-layer counts are the
difference between 8 and 4 layers, divided by 4.

    python bench/hf_kernel_count.py
"""

from __future__ import annotations

NO_KERNEL = {"empty", "empty_like", "empty_strided", "detach", "_unsafe_view", "lift_fresh"}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SHAPE = {"d_model": 256, "ffn_hidden": 512, "n_head": 4, "n_kv_head": 2, "vocab": 1000, "seq": 64}


def hf_kernels(layers: int, *, lora: bool, ckpt: bool) -> int:
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from transformers import LlamaConfig, LlamaForCausalLM

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if not func.is_view and func.overloadpacket.__name__ not in NO_KERNEL:
                self.n += 1
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=SHAPE["d_model"], intermediate_size=SHAPE["ffn_hidden"],
        num_attention_heads=SHAPE["n_head"], num_key_value_heads=SHAPE["n_kv_head"],
        num_hidden_layers=layers, vocab_size=SHAPE["vocab"], attn_implementation="sdpa",
    )  # fmt: skip
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=TARGETS))
    model.train()
    x = torch.randint(0, SHAPE["vocab"], (1, SHAPE["seq"]))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()

    step()  # a first step creates the gradients; later micro-steps accumulate into them
    count = Count()
    with count:
        step()
    return count.n


def engine_kernels(layers: int, *, lora: bool, ckpt: bool) -> int:
    import traintime
    from traintime.engine.ops import microstep_ops
    from traintime.engine.step import stage_of
    from traintime.estimation import _option
    from traintime.planner import plan
    from traintime.resolve import resolve
    from traintime.specs import Economics, Question, TrainingSpec

    spec = traintime.find_model("llama-3.2-1b").model_copy(
        update={
            "n_layer": layers, "d_model": SHAPE["d_model"], "n_head": SHAPE["n_head"],
            "n_kv_head": SHAPE["n_kv_head"], "head_dim": SHAPE["d_model"] // SHAPE["n_head"],
            "ffn_hidden": SHAPE["ffn_hidden"], "vocab": SHAPE["vocab"], "seq_len": SHAPE["seq"],
            "tied_embeddings": False, "name": f"tiny-llama-{layers}",
        }
    )  # fmt: skip
    training = TrainingSpec(
        tokens=1e6, micro_batch=1, global_batch_tokens=4 * SHAPE["seq"], compiled=False,
        norm_kernels="composite", zero_stage=0, offload="none",
        act_ckpt="full" if ckpt else "none", finetune="lora" if lora else None,
    )  # fmt: skip
    question = Question(
        model=spec, gpu=traintime.find_gpu("a100"), gpus=1, training=training,
        economics=Economics(),
    )  # fmt: skip
    r = resolve(question)
    option = _option(plan(r).chosen)
    ops = microstep_ops(spec, stage_of(spec, r.recipe(option), r.layout(option)), r.machine.device)
    return sum(op.kernels for op in ops)


def main() -> None:
    print("| setup | HF eager kernels per layer | engine kernels per layer | ratio |")
    print("|---|---:|---:|---:|")
    for lora, ckpt in ((False, False), (False, True), (True, False), (True, True)):
        hf = (hf_kernels(8, lora=lora, ckpt=ckpt) - hf_kernels(4, lora=lora, ckpt=ckpt)) / 4
        ours = engine_kernels(8, lora=lora, ckpt=ckpt) - engine_kernels(4, lora=lora, ckpt=ckpt)
        ours /= 4
        name = ("LoRA all-linear" if lora else "full") + (", checkpointing" if ckpt else "")
        print(f"| {name} | {hf:.0f} | {ours:.0f} | {hf / ours:.2f} |")


if __name__ == "__main__":
    main()
