"""`traintime validate`: predictions come from configuration columns only; the summary has the
documented keys; unusable rows are skipped with a reason, never dropped."""

import csv
import json
from pathlib import Path

import pytest

from traintime.cli import main
from traintime.validate import MEASURED, validate

DEV = Path(__file__).parents[2] / "shared" / "validation" / "runs_dev.csv"
HEADER = [
    "id",
    "source",
    "kind",
    "model",
    "n_layer",
    "d_model",
    "n_head",
    "n_kv_head",
    "head_dim",
    "ffn_hidden",
    "ffn_act",
    "vocab",
    "tied_embeddings",
    "extra_embed_params",
    "params_total",
    "seq_len",
    "attn_window",
    "precision",
    "optimizer",
    "global_batch_tokens",
    "micro_batch",
    "act_ckpt",
    "attention_impl",
    "compiled",
    "framework",
    "gpu",
    "n_gpus",
    "gpus_per_node",
    "dp",
    "tp",
    "pp",
    "cp",
    "zero_stage",
    "tokens_per_sec_per_gpu",
    "peak_mem_gib",
    "peak_mem_kind",
    "oom",
    "notes",
]
ROW = {
    "id": "gpt2-4090",
    "kind": "measured",
    "model": "GPT-2 124M",
    "n_layer": "12",
    "d_model": "768",
    "n_head": "12",
    "n_kv_head": "12",
    "head_dim": "64",
    "ffn_hidden": "3072",
    "ffn_act": "gelu",
    "vocab": "50304",
    "tied_embeddings": "true",
    "extra_embed_params": "786432",
    "params_total": "124475904",
    "seq_len": "1024",
    "precision": "bf16",
    "optimizer": "adamw",
    "global_batch_tokens": "524288",
    "micro_batch": "16",
    "act_ckpt": "none",
    "attention_impl": "flash",
    "compiled": "true",
    "framework": "test",
    "gpu": "GeForce RTX 4090",
    "n_gpus": "1",
    "gpus_per_node": "1",
    "dp": "1",
    "tp": "1",
    "pp": "1",
    "cp": "1",
    "zero_stage": "0",
    "tokens_per_sec_per_gpu": "100000",
    "oom": "false",
    "notes": "synthetic",
}


def _write(path, rows):
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=HEADER)
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in HEADER})
    return path


def test_measured_columns_never_change_the_prediction(tmp_path):
    a = validate(_write(tmp_path / "a.csv", [ROW])).rows[0]
    changed = {**ROW, "tokens_per_sec_per_gpu": "1", "peak_mem_gib": "99", "oom": "true"}
    b = validate(_write(tmp_path / "b.csv", [changed])).rows[0]
    assert a.predicted_tokens_per_sec_per_gpu == b.predicted_tokens_per_sec_per_gpu
    assert a.throughput_error != b.throughput_error
    assert set(MEASURED) == {"tokens_per_sec_per_gpu", "peak_mem_gib", "peak_mem_kind", "oom"}


def test_skips_with_reasons_and_excludes_unreliable(tmp_path):
    rows = [
        ROW,
        {**ROW, "id": "bad-gpu", "gpu": "Quantum GPU 9000"},
        {**ROW, "id": "no-arch", "d_model": ""},
        {**ROW, "id": "shaky", "notes": "unreliable: spilled to host memory"},
    ]
    report = validate(_write(tmp_path / "r.csv", rows))
    status = {r.id: (r.status, r.reason) for r in report.rows}
    assert status["bad-gpu"][0] == "skipped" and "unknown gpu" in status["bad-gpu"][1]
    assert status["no-arch"][0] == "skipped" and "d_model" in status["no-arch"][1]
    assert status["shaky"][0] == "unreliable"
    assert report.summary.n_throughput == 1 and report.summary.n_skipped == 2


def test_stand_ins_are_reported(tmp_path):
    # shared/validation/README.md: `other` activations and optimizers are named only in the
    # notes; the prediction times them as GELU / AdamW and lists that among its assumptions
    rows = [{**ROW, "ffn_act": "other", "optimizer": "lamb"}]
    row = validate(_write(tmp_path / "r.csv", rows)).rows[0]
    assert row.status == "used"
    assert "ffn_act=other timed as gelu" in row.assumed
    assert "optimizer lamb timed as adamw" in row.assumed


def test_torchtitan_selective_is_its_op_level_policy(tmp_path):
    # shared/validation/README.md: selective = "attention internals or a per-op policy";
    # torchtitan's is the per-op one (every other matmul saved), which keeps less memory
    rows = [
        {**ROW, "id": "megatron-style", "act_ckpt": "selective"},
        {**ROW, "id": "torchtitan", "act_ckpt": "selective", "framework": "torchtitan (FSDP2)"},
    ]
    by_id = {r.id: r for r in validate(_write(tmp_path / "r.csv", rows)).rows}
    assert (
        by_id["torchtitan"].predicted_peak_mem_gib < by_id["megatron-style"].predicted_peak_mem_gib
    )


def test_cli_json_summary_keys(tmp_path, capsys):
    path = _write(tmp_path / "r.csv", [ROW])
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert exc.value.code == 0
    assert {
        "throughput_mdape",
        "throughput_within_25",
        "memory_mdape",
        "oom_accuracy",
        "n_throughput",
        "n_memory",
        "n_oom",
    } <= set(data["summary"])
    assert isinstance(data["rows"], list) and data["rows"][0]["id"] == "gpt2-4090"


def test_bad_file(tmp_path, capsys):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(path)])
    assert exc.value.code == 2 and "no 'id' column" in capsys.readouterr().err


@pytest.mark.skipif(not DEV.exists(), reason="shared/validation not beside the checkout")
def test_dev_table_is_predicted():
    report = validate(DEV)
    assert report.summary.n_throughput >= 50
    assert all(r.reason for r in report.rows if r.status == "skipped")


def test_sequence_parallel_follows_the_code_base(tmp_path):
    """No column says whether a TP run used sequence parallelism. Megatron-LM leaves it off
    unless given --sequence-parallel, and Megatron-DeepSpeed has none: their rows run plain TP.
    Other rows take the tool's default (on), like any question that leaves it unset."""
    tp = {**ROW, "n_gpus": "4", "gpus_per_node": "4", "dp": "1", "tp": "4", "gpu": "A100 80GB"}
    rows = [
        {**tp, "id": "megatron", "framework": "Megatron-LM"},
        {**tp, "id": "titan", "framework": "torchtitan"},
    ]
    by_id = {r.id: r for r in validate(_write(tmp_path / "r.csv", rows)).rows}
    assert any(a.startswith("sequence_parallel=false") for a in by_id["megatron"].assumed)
    assert "sequence_parallel=True" in by_id["titan"].assumed  # the default, listed
    assert (
        by_id["titan"].predicted_tokens_per_sec_per_gpu
        > by_id["megatron"].predicted_tokens_per_sec_per_gpu
    )


def test_torchtitan_and_hf_eager_norms_are_tensor_op_chains(tmp_path):
    """torchtitan and Hugging Face write RMSNorm and rotary as tensor ops (fp32 upcast, square,
    mean, rsqrt, ...), which eager mode runs as separate kernels; torch.compile fuses them."""
    llama = {**ROW, "ffn_act": "swiglu", "extra_embed_params": "", "compiled": "false"}
    rows = [
        {**llama, "id": "other"},
        {**llama, "id": "titan", "framework": "torchtitan (FSDP2)"},
        {**llama, "id": "hf", "framework": "Hugging Face Transformers Trainer"},
        {**llama, "id": "titan-compiled", "framework": "torchtitan", "compiled": "true"},
        {**llama, "id": "other-compiled", "compiled": "true"},
    ]
    tps = {
        r.id: r.predicted_tokens_per_sec_per_gpu
        for r in validate(_write(tmp_path / "r.csv", rows)).rows
    }
    assert tps["titan"] < tps["other"] and tps["hf"] == pytest.approx(tps["titan"])
    assert tps["titan-compiled"] == pytest.approx(tps["other-compiled"])


def _settings(row):
    from traintime.runrows import row_question

    return row_question(row, []).training


def test_llm_foundry_rows_run_flash_attention_in_triton(tmp_path):
    """llm-foundry's pretraining yamls and benchmark script set `attn_impl: triton` until March
    2024 (llm-foundry c26309de5); FlashAttention-2 is 1.3-1.5x faster forward and ~2x faster
    backward than that kernel (Dao 2023, section 4.1), so the same row runs slower."""
    foundry = {**ROW, "compiled": "false", "framework": "llm-foundry / Composer"}
    assert _settings(foundry).attention_impl == "triton"
    assert _settings({**foundry, "attention_impl": "sdpa"}).attention_impl == "sdpa"  # kept
    assert _settings({**ROW, "compiled": "false"}).attention_impl == "flash"  # the cell
    rows = [
        {**foundry, "id": "triton"},
        {**foundry, "id": "fa2", "framework": "llm-foundry, flash-attn 2.4.2"},
    ]
    tps = {
        r.id: r.predicted_tokens_per_sec_per_gpu
        for r in validate(_write(tmp_path / "r.csv", rows)).rows
    }
    assert tps["triton"] < tps["fa2"]


def test_fused_losses_of_llm_c_and_llm_foundry(tmp_path):
    """llm.c's fused classifier and llm-foundry's default `loss_fn: fused_crossentropy`
    (FlashAttention's Triton cross-entropy) compute the loss in one kernel: less memory and
    traffic than PyTorch's eager cross-entropy on an fp32 upcast."""
    assert _settings({**ROW, "framework": "llm.c"}).loss_impl == "fused"
    assert _settings({**ROW, "framework": "llm-foundry / Composer"}).loss_impl == "fused"
    assert _settings({**ROW, "framework": "PyTorch DDP"}).loss_impl is None
    rows = [
        {**ROW, "id": "eager", "compiled": "false", "framework": "PyTorch"},
        {**ROW, "id": "fused", "compiled": "false", "framework": "llm.c"},
    ]
    by_id = {r.id: r for r in validate(_write(tmp_path / "r.csv", rows)).rows}
    assert by_id["fused"].predicted_peak_mem_gib < by_id["eager"].predicted_peak_mem_gib
    assert (
        by_id["fused"].predicted_tokens_per_sec_per_gpu
        > by_id["eager"].predicted_tokens_per_sec_per_gpu
    )


def test_biases_are_read_from_the_parameter_count():
    """params_total counts biases: GPT-2 124M (nanoGPT, bias=True, vocab 50304) has 124,475,904
    parameters, of which 11 x 768 per layer + 768 are linear and LayerNorm biases."""
    from traintime.runrows import row_model

    with_biases = row_model(ROW)
    assert with_biases.mlp_bias and with_biases.attn_bias == "all" and with_biases.norm_bias
    plain = row_model({**ROW, "params_total": str(124475904 - (12 * 11 + 1) * 768)})
    assert not plain.mlp_bias and plain.attn_bias == "none"
    assert row_model({**ROW, "params_total": ""}).attn_bias == "none"  # no count: no guess


@pytest.mark.parametrize(
    ("column", "cell", "reason"),
    [
        ("n_layer", "twelve", "n_layer='twelve' is not a number"),
        ("micro_batch", "-4", "must be a finite number from 0 to 1e15"),
        ("precision", "bf17", "precision='bf17' is not one of"),
        ("act_ckpt", "some", "act_ckpt='some' is not one of"),
        ("compiled", "yes", "compiled='yes' is not true or false"),
        ("oom", "maybe", "oom='maybe' is not true or false"),
        ("tokens_per_sec_per_gpu", "fast", "tokens_per_sec_per_gpu='fast' is not a number"),
        ("dp", "0", "must be at least 1"),
        ("zero_stage", "4", "zero_stage=4 is not one of"),
        ("n_layer", "1e9", "n_layer"),
    ],
)
def test_malformed_cells_skip_the_row_with_the_reason(tmp_path, column, cell, reason):
    """A cell outside the schema (shared/validation/README.md) skips its row and says why; the
    other rows are still predicted, and nothing raises."""
    rows = [{**ROW, "id": "bad", column: cell}, {**ROW, "id": "good"}]
    by_id = {r.id: r for r in validate(_write(tmp_path / "r.csv", rows)).rows}
    assert by_id["bad"].status == "skipped" and reason in by_id["bad"].reason
    assert by_id["good"].status == "used"


def test_a_framework_that_names_flashattention_2_keeps_it():
    """llm-foundry's large-scale sweep (5e85bd62d) installed flash-attn 2.4.2 and passed
    --attn_impl flash: a framework cell that says so is timed as FA2, not Triton."""
    named = {**ROW, "compiled": "false", "framework": "llm-foundry, flash-attn 2.4.2"}
    assert _settings(named).attention_impl == "flash"


def test_interleaved_pipeline_named_by_the_framework(tmp_path):
    """Megatron's interleaved 1F1B (Narayanan et al. 2021) is a schedule the framework must
    name: such a row leaves the chunks per stage to the planner, any other runs plain 1F1B."""
    pipe = {**ROW, "n_gpus": "2", "pp": "2", "dp": "1", "gpus_per_node": "2", "micro_batch": "1"}
    rows = [
        {**pipe, "id": "plain", "framework": "Megatron-LM"},
        {**pipe, "id": "inter", "framework": "Megatron-LM (interleaved 1F1B)"},
    ]
    by_id = {r.id: r for r in validate(_write(tmp_path / "r.csv", rows)).rows}
    assert any(a.startswith("pp_interleave=") for a in by_id["inter"].assumed)
    assert not any(a.startswith("pp_interleave=") for a in by_id["plain"].assumed)


def test_whole_run_averages_are_their_own_class(tmp_path):
    """A throughput averaged over a whole run (GPU-hours, days) includes restarts and downtime:
    it is compared with steady state x goodput and kept out of the summary, which describes
    steady-state training; classes report it, and each GPU generation and code base."""
    rows = [
        {**ROW, "id": "steady"},
        {**ROW, "id": "whole", "notes": "DOUBTFUL (not steady-state): from total GPU-hours"},
    ]
    report = validate(_write(tmp_path / "r.csv", rows))
    by_id = {r.id: r for r in report.rows}
    whole, steady = by_id["whole"], by_id["steady"]
    assert (whole.row_class, steady.row_class) == ("whole-run", "steady-state")
    assert whole.predicted_tokens_per_sec_per_gpu == pytest.approx(
        steady.predicted_tokens_per_sec_per_gpu * whole.goodput
    )
    assert report.summary.n_throughput == 1
    assert report.classes["whole-run"].n_throughput == 1
    assert report.classes["gpu: Ada"].n_throughput == 2
    assert steady.code_base == "other"  # the framework cell says "test"


def test_an_unnamed_schedule_of_an_interleaving_framework_is_a_range(tmp_path):
    """NeMo / Megatron-Bridge recipes interleave by default: a pipelined row that does not name
    its schedule is predicted from plain 1F1B to the interleaving the planner picks, and a
    measurement inside that range has no error."""
    pipe = {
        **ROW,
        "n_gpus": "2",
        "pp": "2",
        "dp": "1",
        "gpus_per_node": "2",
        "micro_batch": "1",
        "global_batch_tokens": str(4 * 1024),  # 4 micro-steps: the bubble matters
    }
    rows = [
        {**pipe, "id": "bridge", "framework": "Megatron-Bridge"},
        {**pipe, "id": "named", "framework": "Megatron-Bridge, 1F1B"},
    ]
    by_id = {r.id: r for r in validate(_write(tmp_path / "r.csv", rows)).rows}
    bridge = by_id["bridge"]
    assert "pipeline schedule unnamed: plain to interleaved 1F1B" in bridge.assumed
    assert by_id["named"].predicted_low_tokens_per_sec_per_gpu is None
    low = bridge.predicted_low_tokens_per_sec_per_gpu
    assert low is not None and low < bridge.predicted_tokens_per_sec_per_gpu
