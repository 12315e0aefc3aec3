"""The public estimate API end to end: recipe resolution, totals, and one-line errors."""

import json

import pytest

import traintime
from traintime.errors import SpecError, TraintimeError

TOP_LEVEL = [
    "model",
    "training",
    "hardware",
    "throughput",
    "time",
    "memory",
    "plan",
    "energy",
    "cost",
]


def test_founding_question():
    # nanochat run1000.sh @ fae3aca: ratio 20 -> 37,580,963,840 tokens, 71,680 steps of 524,288,
    # 4.539628e20 total FLOPs as nanochat prints them.
    est = traintime.estimate_scenario()
    assert est.model.params.total == 1_879_048_192
    assert est.training.tokens == 37_580_963_840
    assert est.training.steps == 71_680
    assert est.training.model_flops_total == pytest.approx(4.539628e20, rel=1e-6)
    assert est.training.spec.optimizer == "muon"
    assert est.training.spec.embedding_dtype == "bf16"
    assert est.hardware.gpu.name == "GeForce RTX 4070"


def test_d20_total_training_flops():
    # nanochat d20 report card: 3.917670e19 total training FLOPs (20 tokens per parameter).
    est = traintime.estimate("nanochat-d20", "h100", gpus=8)
    assert est.training.model_flops_total == pytest.approx(3.917670e19, rel=1e-6)


def test_json_schema_keys():
    data = json.loads(traintime.estimate("gpt2", "4090").to_json())
    assert list(data) == TOP_LEVEL
    assert data["throughput"]["tokens_per_sec_per_gpu"] > 0 and data["time"]["total_hours"] > 0
    assert data["memory"]["peak_gib"] > 0 and data["plan"] is None
    assert data["energy"]["kwh"] > 0 and "rent_on_demand" in data["cost"]
    assert data["model"]["params"]["total"] == 124_439_808


def test_compute_floor_is_a_lower_bound():
    # executed FLOPs / (peak x GPUs): 8 GPUs give one eighth of the floor of one.
    one = traintime.estimate("llama-3.1-8b", "h100", tokens="1B")
    eight = traintime.estimate("llama-3.1-8b", "h100", gpus=8, tokens="1B")
    assert eight.hardware.compute_floor_hours == pytest.approx(one.hardware.compute_floor_hours / 8)
    expected_s = one.training.executed_flops_total / (989.4e12)
    assert one.hardware.compute_floor_hours * 3600 == pytest.approx(expected_s)


def test_overrides_beat_recipe():
    est = traintime.estimate("nanochat-d20", "4090", optimizer="adamw", tokens="1B")
    assert est.training.spec.optimizer == "adamw"
    assert est.training.spec.tokens_per_param is None
    assert est.training.steps == 1_000_000_000 // 524_288


def test_micro_batch_gives_accumulation():
    est = traintime.estimate("nanochat-d32", "h100", gpus=8, micro_batch=8)
    assert est.training.grad_accum_steps == 4


def test_default_tokens_are_stated():
    est = traintime.estimate("gpt2", "4090")
    assert any("20 tokens per parameter" in n for n in est.training.notes)


def test_v100_falls_back_to_fp16_and_says_so():
    est = traintime.estimate("gpt2", "v100")
    assert est.hardware.precision == "fp16"
    assert "no bf16" in est.hardware.notes[0]


def test_seq_len_override():
    est = traintime.estimate("nanochat-2026-d12", "4070", seq_len=1024, tokens="1B")
    assert est.model.flops_per_token.model == pytest.approx(7.101507e8, rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"tokens": -5}, "tokens=-5"),
        ({"tokens": 0}, "tokens=0"),
        ({"tokens": "lots"}, "tokens='lots'"),
        ({"micro_batch": 3}, "micro_batch=3"),
        ({"precision": "bf17"}, "precision='bf17'"),
        ({"optimizer": "lion"}, "optimizer='lion'"),
        ({"act_ckpt": "some"}, "act_ckpt='some'"),
        ({"tokens": "1B", "tokens_per_param": 20}, None),
        ({"warp_speed": 9}, "unknown training field 'warp_speed'"),
        ({"gpus": 0}, "gpus=0"),
    ],
)
def test_bad_input_is_one_line(kwargs, needle):
    with pytest.raises(TraintimeError) as exc:
        traintime.estimate("gpt2", "4090", **kwargs)
    message = str(exc.value)
    assert "\n" not in message
    if needle:
        assert needle in message


def test_both_token_kinds_in_a_spec_is_an_error():
    with pytest.raises(SpecError, match="not both"):
        traintime.estimate("gpt2", "4090", training={"tokens": 1e9, "tokens_per_param": 20})


def test_global_batch_that_does_not_split_names_the_nearest_that_do():
    # 524,288 tokens of 2,048 are 256 sequences: not a whole number per GPU on 3 GPUs
    with pytest.raises(SpecError, match="use 522240 or 528384, or --allow-math-changes"):
        traintime.estimate("nanochat-d20", "4090", gpus=3)


def test_math_changes_round_the_global_batch_and_say_so():
    est = traintime.estimate("nanochat-d20", "4090", gpus=3, allow_math_changes=True)
    assert est.training.global_batch_tokens == 522_240  # 85 x 2048 x 3, nearer than 528,384
    assert any("changed the training math" in n for n in est.training.notes)


def test_planner_keeps_context_parallelism():
    # 8 GPUs with cp=2: four data-parallel groups of two, each sequence split in half
    est = traintime.estimate(
        "llama-3.1-8b",
        "h100",
        gpus=8,
        cp=2,
        seq_len=65536,
        tokens="1B",
        global_batch_tokens=262144,
        plan=True,
    )
    assert est.plan is not None and est.training.grad_accum_steps == 1


def test_unaligned_vocabulary_is_named_with_its_padding():
    # GPT-2's 50257-token vocabulary on a tensor-core GPU: the note names the width and the
    # padded size; the padded model runs faster (engine.device alignment, Horace He 2024)
    odd = traintime.estimate("gpt2-124m", "4090")
    assert any("vocabulary 50257" in n and "50264" in n for n in odd.throughput.notes)
    padded = traintime.catalog.find_model("gpt2-124m").model_copy(update={"vocab": 50304})
    even = traintime.estimate(padded, "4090")
    assert not any("vocabulary" in n for n in even.throughput.notes)
    assert even.time.total_hours < odd.time.total_hours
