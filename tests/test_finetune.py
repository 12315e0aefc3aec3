"""Fine-tuning through the public API with the shipped catalog: the exact trainable parameters
of a LoRA estimate, and a QLoRA of Llama-3.1-8B that the planner fits on a 12 GiB RTX 4070."""

import pytest

import traintime
from traintime.engine.lora import trainable_params


def _trainable(est: traintime.Estimate) -> int:
    r = est.training.recipe
    count = trainable_params(
        est.model.spec, finetune=r.finetune, rank=r.lora_rank, targets=r.lora_targets
    )
    assert est.training.trainable_params == count  # the report carries the engine's count
    return count


def test_llama_3_1_8b_lora_r16_all_linear_trains_41_943_040():
    # shared/validation/README.md (trainable_params): Llama-3.1-8B, r=16, all-linear =
    # 41,943,040; rank 16 on all linear layers are the LoRA defaults
    est = traintime.estimate("llama-3.1-8b", "a100", finetune="lora", tokens=1e8)
    r = est.training.recipe
    assert (r.finetune, r.lora_rank) == ("lora", 16)
    assert r.lora_targets == frozenset({"q", "k", "v", "o", "gate", "up", "down"})
    assert _trainable(est) == 41_943_040
    # gradients (fp32 adapters) are the adapters', not the model's 8B
    assert est.memory.breakdown["gradients"] == pytest.approx(41_943_040 * 4 / 2**30)


def test_qlora_llama_3_1_8b_fits_a_4070():
    # NF4 with double quantization: 6,979,321,856 block weights x 0.5159 B + embeddings, head
    # and norms in bf16 + fp32 adapters ~ 5.5 GiB (QLoRA, arXiv:2305.14314, section 3)
    est = traintime.estimate("llama-3.1-8b", "4070", finetune="qlora", tokens=1e8, seq_len=2048)
    assert est.training.recipe.finetune == "qlora"
    assert est.memory.fits
    assert est.memory.breakdown["weights"] == pytest.approx(5.5, abs=0.1)
    assert est.training.layout.offload == "none"  # no weights or state moved to the host


def test_tokens_run_are_data_tokens_times_epochs_times_padding():
    # issue 17, point 4: a fine-tune is sized by the data; padded samples of a mean 512 tokens
    # in 2,048-token rows run 4 tokens per token learned, over 3 epochs: 12x the data
    est = traintime.estimate(
        "llama-3.1-8b",
        "a100",
        finetune="lora",
        tokens=1e7,
        epochs=3,
        mean_seq_len=512,
        seq_len=2048,
    )
    tr = est.training
    assert (tr.epochs, tr.padding_factor) == (3, 4.0)
    assert tr.tokens_requested == pytest.approx(1.2e8)
    assert any("padded samples" in n for n in tr.notes)
    packed = traintime.estimate("llama-3.1-8b", "a100", finetune="lora", tokens=1e7, seq_len=2048)
    assert packed.training.padding_factor == 1.0
    assert est.time.total_hours == pytest.approx(12 * packed.time.total_hours, rel=0.02)


def test_full_training_trains_every_parameter():
    est = traintime.estimate("nanochat-2026-d12", "4070")
    assert est.training.trainable_params == est.model.params.total


def test_paged_optimizer_state_is_named_in_host_ram():
    # bitsandbytes paged optimizers keep their state in CUDA unified memory that the driver
    # pages to host RAM: counted there, and the report says what it is
    est = traintime.estimate(
        "llama-3.1-8b",
        "4070",
        finetune="qlora",
        tokens=1e8,
        seq_len=2048,
        optimizer="paged-adamw8bit",
    )
    assert "optimizer" not in est.memory.breakdown or est.memory.breakdown["optimizer"] == 0
    assert est.memory.host_gib > 0
    assert "paged optimizer state" in est.memory.host_note


def test_planner_offers_a_lighter_method_only_with_math_changes():
    # issue 17, point 3: a full fine-tune of an 8B model cannot fit 12 GiB; moving to LoRA or
    # QLoRA changes what is learned, so it is offered, labelled, only with allow_math_changes
    asked = dict(finetune="full", tokens=1e8, seq_len=2048)
    plain = traintime.estimate("llama-3.1-8b", "4070", **asked)
    assert not plain.memory.fits
    assert any("LoRA" in a for a in plain.plan.advice)
    est = traintime.estimate("llama-3.1-8b", "4070", allow_math_changes=True, **asked)
    assert est.memory.fits
    method = est.training.recipe.finetune
    assert method in ("lora", "qlora") and est.plan.chosen.finetune == method
    assert est.training.trainable_params == 41_943_040
    assert any("instead of full fine-tuning" in n for n in est.training.notes)
    # the report, the memory and the band are all the switched method's
    assert "fine-tuning" in est.time.band_basis


def test_logits_that_do_not_fit_point_to_a_fused_loss():
    # Llama-3.1-8B at its own 8,192 tokens: one sequence's logits (8,192 x 128,256) in bf16,
    # their fp32 upcast and gradient outgrow a 12 GiB card under QLoRA; a fused loss kernel
    # holds no fp32 copy, which the advice names (the same math, other code)
    asked = dict(finetune="qlora", tokens=1e8)
    est = traintime.estimate("llama-3.1-8b", "4070", **asked)
    assert not est.memory.fits
    assert est.memory.breakdown["logits"] > est.memory.breakdown["weights"]
    assert any("--loss fused" in a for a in est.plan.advice)
    assert traintime.estimate("llama-3.1-8b", "4070", loss_impl="fused", **asked).memory.fits


def test_trainable_params_is_public_and_checks_its_input():
    model = traintime.find_model("llama-3.1-8b")
    count = traintime.trainable_params(model, finetune="lora", rank=16, targets="all-linear")
    assert count == 41_943_040
    assert traintime.trainable_params(model) == model_total(model)
    for bad in (
        {"finetune": "lora", "rank": 0, "targets": "q"},
        {"finetune": "lora", "rank": 8},
        {"finetune": "dora", "rank": 8, "targets": "q"},
    ):
        with pytest.raises(traintime.SpecError):
            traintime.trainable_params(model, **bad)
    with pytest.raises(traintime.SpecError, match="ModelSpec"):
        traintime.trainable_params("llama-3.1-8b")


def model_total(model) -> int:
    return traintime.count_params(model).total
