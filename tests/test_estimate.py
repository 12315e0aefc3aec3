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
    assert est.training.recipe.optimizer.name == "muon"
    assert est.training.recipe.embedding_dtype == "bf16"
    assert est.hardware.gpu.name == "GeForce RTX 4070"
    sources = {s.name: s.source for s in est.training.settings}
    assert sources["optimizer"] == "recipe" and sources["micro_batch"] == "planner"


def test_d20_total_training_flops():
    # nanochat d20 report card: 3.917670e19 total training FLOPs (20 tokens per parameter).
    est = traintime.estimate("nanochat-d20", "h100", gpus=8)
    assert est.training.model_flops_total == pytest.approx(3.917670e19, rel=1e-6)


def test_json_schema_keys():
    data = json.loads(traintime.estimate("gpt2", "4090").to_json())
    assert list(data) == TOP_LEVEL
    assert data["throughput"]["tokens_per_sec_per_gpu"] > 0 and data["time"]["total_hours"] > 0
    assert data["memory"]["peak_gib"] > 0 and data["plan"]["fits"]
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
    assert est.training.recipe.optimizer.name == "adamw"
    assert "tokens_per_param" not in {s.name for s in est.training.settings}
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
        ({"micro_batch": 3, "global_batch_tokens": 524288}, "micro_batch=3"),
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
    # 524,288 tokens of 2,048 are 256 sequences: not a whole number per GPU on 3 data-parallel
    # GPUs (with tp and pp set to 1 no pipeline can take the odd count)
    with pytest.raises(SpecError, match="use 522240 or 528384, or --allow-math-changes"):
        traintime.estimate("nanochat-d20", "4090", gpus=3, tp=1, pp=1)


def test_three_gpus_keep_the_batch_through_a_pipeline():
    # left free, the layout keeps the recipe's batch: three pipeline stages, one data replica
    est = traintime.estimate("nanochat-d20", "4090", gpus=3)
    assert est.training.global_batch_tokens == 524_288 and est.training.layout.pp == 3


def test_math_changes_round_the_global_batch_and_say_so():
    est = traintime.estimate("nanochat-d20", "4090", gpus=3, tp=1, pp=1, allow_math_changes=True)
    assert est.training.global_batch_tokens in (522_240, 528_384)  # 85 or 86 x 2048 x 3
    assert any("changed the training math" in n for n in est.training.notes)


def test_planner_keeps_context_parallelism():
    # 8 GPUs with cp=2: the planner lays out the other 4 ways, each sequence split in half
    est = traintime.estimate(
        "llama-3.1-8b",
        "h100",
        gpus=8,
        cp=2,
        seq_len=65536,
        tokens="1B",
        global_batch_tokens=262144,
    )
    assert est.training.layout.cp == 2 and est.plan.chosen.cp == 2


def test_a_default_batch_is_rounded_to_the_micro_batch_and_says_so():
    est = traintime.estimate("gpt2", "4090", micro_batch=3)
    assert est.training.global_batch_tokens % (3 * 1024) == 0
    assert any("default global batch" in n for n in est.training.notes)


def test_scenario_tokens_replace_the_recipe_ratio(tmp_path):
    # the nanochat recipe sets tokens_per_param; a scenario's tokens replace the horizon
    path = tmp_path / "s.toml"
    path.write_text(
        '[model]\nname = "nanochat-d20"\n[training]\ntokens = "10B"\n[hardware]\ngpu = "4090"\n'
    )
    est = traintime.estimate_scenario(path)
    assert est.training.tokens_requested == 10e9


def test_scenario_file_says_everything_the_flags_can(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        'reference = "nanochat-d20-8xh100"\n[model]\nname = "nanochat-d20"\n'
        "[training]\nmicro_batch = 4\nzero_stage = 1\n"
        '[hardware]\ngpu = "4090"\ncount = 3\n[economics]\nelectricity_usd_per_kwh = 0.3\n'
        "[plan]\nallow_math_changes = true\n"
    )
    est = traintime.estimate_scenario(path, tp=1, pp=1)
    assert est.time.reference is not None and est.plan.allow_math_changes
    assert est.energy.assumptions["electricity_usd_per_kwh"] == 0.3
    assert est.plan.chosen.zero_stage == 1 and est.training.micro_batch == 4
    assert est.plan.chosen.changes_math


def test_unaligned_vocabulary_is_named_with_its_padding():
    # GPT-2's 50257-token vocabulary on a tensor-core GPU: the note names the width and the
    # padded size; the padded model runs faster (engine.device alignment, Horace He 2024)
    odd = traintime.estimate("gpt2-124m", "4090")
    assert any("vocabulary 50257" in n and "50264" in n for n in odd.throughput.notes)
    padded = traintime.catalog.find_model("gpt2-124m").model_copy(update={"vocab": 50304})
    even = traintime.estimate(padded, "4090")
    assert not any("vocabulary" in n for n in even.throughput.notes)
    assert even.time.total_hours < odd.time.total_hours


def test_the_founding_question_gets_one_answer_through_every_door(tmp_path, capsys):
    """`traintime`, `traintime estimate` (with and without flags), `traintime plan`,
    `traintime compare`, the founding scenario file, and the Python API all resolve the same
    question once and evaluate it once: the same total hours, exactly."""
    import json
    import shutil

    from traintime.catalog._files import data_dir
    from traintime.cli import main
    from traintime.compare import compare

    def cli(*argv):
        with pytest.raises(SystemExit) as exc:
            main(list(argv))
        out, _ = capsys.readouterr()
        assert exc.value.code == 0
        return json.loads(out)

    scenario = tmp_path / "founding.toml"
    shutil.copy(data_dir().joinpath("scenarios", "founding.toml"), scenario)
    hours = {
        "traintime": cli("--json")["time"]["total_hours"],
        "estimate": cli("estimate", "--json")["time"]["total_hours"],
        "estimate flags": cli("estimate", "--model", "nanochat-d32", "--gpu", "4070", "--json")[
            "time"
        ]["total_hours"],
        "plan": cli("plan", "--json")["time"]["total_hours"],
        "scenario file": cli("estimate", "--scenario", str(scenario), "--json")["time"][
            "total_hours"
        ],
        "compare": cli("compare", "--gpu", "4070", "--json")[0]["days"] * 24,
        "estimate()": traintime.estimate().time.total_hours,
        "estimate(names)": traintime.estimate("nanochat-d32", "RTX 4070").time.total_hours,
        "estimate_scenario()": traintime.estimate_scenario().time.total_hours,
        "estimate_scenario(file)": traintime.estimate_scenario(scenario).time.total_hours,
        "compare()": compare(gpus=["4070"])[0].days * 24,
    }
    first = hours["traintime"]
    assert all(h == first for h in hours.values()), hours


def test_band_widens_where_the_validation_is_thin():
    """data/band.toml: no published run on a workstation GPU doubles the band; the one Apple
    run (+308%) stretches the band of its class; datacenter GPUs keep the overall band."""
    dc = traintime.estimate("gpt2", "h100", tokens="1B").time
    ws = traintime.estimate("gpt2", "rtx 6000 ada", tokens="1B").time
    apple = traintime.estimate("gpt2", "m4 max", tokens="1B").time
    ratio = lambda t: t.high_hours / t.low_hours  # noqa: E731
    assert ratio(ws) > ratio(dc) and "doubled" in ws.band_basis
    assert apple.high_hours / apple.total_hours > 3.5 and "widened" in apple.band_basis
    assert "widened" not in dc.band_basis and "doubled" not in dc.band_basis
