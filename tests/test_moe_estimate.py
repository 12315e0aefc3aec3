"""Mixture-of-experts questions through the one path: the planner's expert parallelism, the
settings only MoE models have, and the load-imbalance band (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

import traintime
from traintime.catalog._files import data_dir
from traintime.errors import SpecError


def test_planner_chooses_expert_parallelism():
    est = traintime.estimate("olmoe-1b-7b", "h100", gpus=8, tokens="1B")
    chosen = est.plan.chosen
    assert est.training.layout.ep == chosen.ep
    assert 64 % chosen.ep == 0 and (8 // chosen.pp) % chosen.ep == 0
    names = {s.name: s.source for s in est.training.settings}
    assert names["ep"] == "planner"


def test_pinned_expert_parallelism_is_kept():
    est = traintime.estimate("olmoe-1b-7b", "h100", gpus=8, tokens="1B", ep=4)
    assert est.training.layout.ep == 4 and est.plan.chosen.ep == 4


def test_expert_parallelism_shrinks_weights_not_activations():
    """Expert weights shard over ep; a token's dispatched copies do not."""
    one = traintime.estimate("olmoe-1b-7b", "h100", gpus=8, tokens="1B", ep=1, micro_batch=1)
    eight = traintime.estimate("olmoe-1b-7b", "h100", gpus=8, tokens="1B", ep=8, micro_batch=1)
    assert eight.memory.breakdown["weights"] < one.memory.breakdown["weights"]


def test_ep_on_a_dense_model_is_refused():
    with pytest.raises(SpecError, match="ep=2: qwen3-8b is a dense model"):
        traintime.estimate("qwen3-8b", "h100", gpus=8, ep=2)


def test_ep_must_divide_the_experts():
    with pytest.raises(SpecError, match="ep=3 must divide the 64 experts"):
        traintime.estimate("olmoe-1b-7b", "h100", gpus=6, ep=3)


def test_dropping_tokens_is_a_math_change():
    with pytest.raises(SpecError, match="allow-math-changes"):
        traintime.estimate("olmoe-1b-7b", "h100", gpus=8, moe_routing="capacity")
    est = traintime.estimate(
        "olmoe-1b-7b",
        "h100",
        gpus=8,
        tokens="1B",
        moe_routing="capacity",
        capacity_factor=1.25,
        allow_math_changes=True,
    )
    assert est.training.recipe.padding == 1.25
    assert est.model.flops_per_token.executed > est.model.flops_per_token.model * 0.9


def test_imbalance_band_brackets_the_estimate():
    """Dropless routing is the estimate; forced-even routing (as benchmarks run) the fast end."""
    est = traintime.estimate("olmoe-1b-7b", "h100", gpus=8, tokens="1B", ep=8)
    assert est.time.balanced_routing_hours is not None
    assert est.time.balanced_routing_hours < est.time.total_hours
    balanced = traintime.estimate(
        "olmoe-1b-7b", "h100", gpus=8, tokens="1B", ep=8, moe_routing="balanced"
    )
    assert balanced.time.balanced_routing_hours is None


def test_moe_settings_are_not_reported_for_dense_models():
    est = traintime.estimate("llama-3.2-1b", "h100", tokens="1B")
    names = {s.name for s in est.training.settings}
    assert not names & {"ep", "etp", "moe_routing", "moe_dispatcher"}


def test_path_works_in_the_api(tmp_path):
    config = Path(str(data_dir() / "models" / "hf" / "olmoe-1b-7b.json"))
    est = traintime.estimate(config, "h100", gpus=8, tokens="1B")
    assert est.model.params.total == 6_919_161_856


def test_seq_len_default_says_where_it_comes_from():
    est = traintime.estimate("qwen2.5-7b", "h100", gpus=8, tokens="1B")
    setting = next(s for s in est.training.settings if s.name == "seq_len")
    assert setting.value == 4096 and "Qwen2.5" in setting.reason


def test_block_scaled_formats_need_blackwell():
    with pytest.raises(SpecError, match="precision='nvfp4' needs block-scaled tensor cores"):
        traintime.estimate("qwen3-8b", "h100", precision="nvfp4")
    est = traintime.estimate("qwen3-8b", "b200", precision="mxfp8", tokens="1B")
    assert est.hardware.precision == "fp8"


def test_compare_dense_and_moe_side_by_side():
    """Several models, one question: each row is the same estimate `traintime estimate` makes."""
    from traintime.compare import compare

    rows = compare(["llama-3.2-1b", "olmoe-1b-7b"], ["h100"], counts=[8], tokens="1B")
    by_model = {r.model: r for r in rows}
    assert set(by_model) == {"llama-3.2-1b", "olmoe-1b-7b"}
    moe = by_model["olmoe-1b-7b"]
    assert moe.active_params < moe.params
    one = traintime.estimate("olmoe-1b-7b", "h100", gpus=8, tokens="1B")
    assert moe.days == pytest.approx(one.time.total_days)


def test_compare_takes_comma_separated_models(capsys):
    from tests.test_cli import run

    code, out, _ = run(
        capsys,
        "compare",
        "--model",
        "llama-3.2-1b,olmoe-1b-7b",
        "--gpu",
        "h100",
        "--count",
        "8",
        "--tokens",
        "1B",
        "--json",
    )
    import json

    data = json.loads(out)
    assert code == 0 and {r["model"] for r in data} == {"llama-3.2-1b", "olmoe-1b-7b"}


def test_dropping_tokens_is_offered_only_with_leave():
    """When nothing fits, the planner may drop tokens past capacity only with
    allow_math_changes, and says so among its math changes."""
    from traintime.planner import _math_options
    from traintime.resolve import resolve
    from traintime.specs import Question

    moe = resolve(Question(model="olmoe-1b-7b", gpu="h100"))
    assert (False, True, None) in _math_options(moe, True)
    assert _math_options(moe, False) == [(False, False, None)]
    pinned = resolve(
        Question(model="olmoe-1b-7b", gpu="h100", training={"moe_routing": "balanced"})
    )
    assert all(not drop for _, drop, _m in _math_options(pinned, True))
    dense = resolve(Question(model="llama-3.2-1b", gpu="h100"))
    assert all(not drop for _, drop, _m in _math_options(dense, True))
