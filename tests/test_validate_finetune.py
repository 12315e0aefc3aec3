"""`traintime validate` on fine-tuning tables: the five fine-tuning columns (finetune, lora_rank,
lora_targets, base_dtype, trainable_params; shared/validation/README.md, "Fine-tuning columns")
are read as settings, or the row is skipped with its reason; trainable_params is compared, never
read to predict; fine-tuning rows keep to classes of their own."""

import csv
from pathlib import Path

import pytest

from tests.test_validate import HEADER
from tests.test_validate import ROW as DENSE
from traintime.runrows import row_question
from traintime.validate import validate

FINETUNE_HEADER = [
    *HEADER,
    *("config", "ep", "etp", "moe_dispatcher", "moe_routing"),
    *("finetune", "lora_rank", "lora_targets", "base_dtype", "trainable_params"),
]
FINETUNE_DEV = Path(__file__).parents[2] / "shared" / "validation" / "runs_finetune_dev.csv"

# Llama-3.1-8B (the README's example: r=16 on all seven projections trains 41,943,040)
ROW = {
    "id": "llama3.1-8b-lora-4090",
    "kind": "measured",
    "model": "Llama-3.1-8B",
    "n_layer": "32",
    "d_model": "4096",
    "n_head": "32",
    "n_kv_head": "8",
    "head_dim": "128",
    "ffn_hidden": "14336",
    "ffn_act": "swiglu",
    "vocab": "128256",
    "tied_embeddings": "false",
    "extra_embed_params": "0",
    "params_total": "8030261248",
    "seq_len": "2048",
    "precision": "bf16",
    "optimizer": "adamw",
    "global_batch_tokens": "16384",
    "micro_batch": "2",
    "act_ckpt": "full",
    "attention_impl": "sdpa",
    "compiled": "false",
    "framework": "torchtune (synthetic)",
    "gpu": "GeForce RTX 4090",
    "n_gpus": "1",
    "gpus_per_node": "1",
    "dp": "1",
    "tp": "1",
    "pp": "1",
    "cp": "1",
    "zero_stage": "0",
    "tokens_per_sec_per_gpu": "2000",
    "peak_mem_gib": "18.0",
    "peak_mem_kind": "reserved",
    "oom": "false",
    "notes": "synthetic",
    "finetune": "lora",
    "lora_rank": "16",
    "lora_targets": "all-linear",
    "base_dtype": "bf16",
    "trainable_params": "41943040",
}


def _table(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FINETUNE_HEADER)
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in FINETUNE_HEADER})
    return path


def _question(row):
    assumed: list[str] = []
    return row_question(row, assumed), assumed


def test_lora_row_reads_method_rank_and_targets():
    q, _ = _question({**ROW, "lora_rank": "8", "lora_targets": "all-linear+lm_head"})
    t = q.training
    assert (t.finetune, t.lora_rank, t.base_dtype) == ("lora", 8, "bf16")
    assert t.lora_targets == "all-linear,lm_head"
    assert t.tokens  # a fine-tune is sized by its data: the row carries a nominal horizon


@pytest.mark.parametrize(
    ("cell", "setting"), [("q+k+v", "q,k,v"), ("q+v+o+mlp", "q,v,o,mlp"), ("attn-qv", "attn-qv")]
)
def test_target_sets_map_to_the_setting(cell, setting):
    q, _ = _question({**ROW, "lora_targets": cell})
    assert q.training.lora_targets == setting


def test_qlora_row_reads_its_quantized_base():
    q, _ = _question({**ROW, "finetune": "qlora", "base_dtype": "nf4-dq"})
    assert (q.training.finetune, q.training.base_dtype) == ("qlora", "nf4-dq")


def test_gptq_base_is_int4():
    q, _ = _question({**ROW, "finetune": "qlora", "base_dtype": "int4-gptq", "precision": "fp16"})
    assert q.training.base_dtype == "int4"


def test_full_finetune_base_dtype_is_the_weight_dtype():
    full = {**ROW, "finetune": "full", "lora_rank": "", "lora_targets": ""}
    q, _ = _question(full)
    assert q.training.finetune == "full" and q.training.param_dtype == "bf16"
    assert q.training.base_dtype is None and q.training.master_dtype is None
    # DeepSpeed's bf16 optimizer keeps an fp32 master copy (the rows' notes say so)
    q, _ = _question({**full, "framework": "HF Trainer + DeepSpeed ZeRO-3", "zero_stage": "3"})
    assert (q.training.param_dtype, q.training.master_dtype) == ("bf16", "fp32")


def test_paged_8bit_adamw_from_the_notes():
    row = {**ROW, "optimizer": "adamw8bit", "notes": "optimizer: bitsandbytes PagedAdamW8bit"}
    q, assumed = _question(row)
    assert q.training.optimizer == "paged-adamw8bit"
    assert any("PagedAdamW8bit" in a for a in assumed)


def test_skips_and_defaults_with_reasons(tmp_path):
    rows = [
        ROW,
        {**ROW, "id": "adapter", "finetune": "other", "lora_rank": "", "lora_targets": "",
         "notes": "LLaMA-Adapter v2 (lit-gpt adapter_v2.py)"},
        {**ROW, "id": "dora", "finetune": "dora"},
        {**ROW, "id": "emb", "lora_targets": "all-linear+wte+lm_head-full"},
        {**ROW, "id": "no-targets", "lora_targets": "", "lora_rank": ""},
        {**ROW, "id": "budget", "gpu": "", "tokens_per_sec_per_gpu": "", "peak_mem_gib": "",
         "peak_mem_kind": "", "notes": "memory-only row: boundary -- longest padded context "
         "that fit in a 12 GB VRAM budget"},
        {**ROW, "id": "oom", "tokens_per_sec_per_gpu": "", "peak_mem_gib": "",
         "peak_mem_kind": "", "oom": "true"},
        {**ROW, "id": "bad-base", "finetune": "qlora", "base_dtype": "int3"},
    ]  # fmt: skip
    by_id = {r.id: r for r in validate(_table(tmp_path / "ft.csv", rows)).rows}
    assert by_id["llama3.1-8b-lora-4090"].status == "used"
    assert by_id["llama3.1-8b-lora-4090"].finetune == "lora"
    assert by_id["adapter"].status == "skipped"
    assert "LLaMA-Adapter is not modelled" in by_id["adapter"].reason
    assert by_id["dora"].status == "skipped" and "DoRA" in by_id["dora"].reason
    assert by_id["emb"].status == "skipped" and "modules_to_save" in by_id["emb"].reason
    defaults = by_id["no-targets"]
    assert defaults.status == "used"
    assert "lora_targets=all-linear" in defaults.assumed and "lora_rank=16" in defaults.assumed
    budget = by_id["budget"]
    assert budget.status == "skipped" and "12 GB VRAM budget" in budget.reason
    oom = by_id["oom"]
    assert oom.status == "no-throughput" and oom.measured_oom is True
    assert oom.predicted_fits is not None
    assert by_id["bad-base"].status == "skipped" and "base_dtype" in by_id["bad-base"].reason


def test_trainable_params_is_never_an_input(tmp_path):
    a = validate(_table(tmp_path / "a.csv", [ROW])).rows[0]
    b = validate(_table(tmp_path / "b.csv", [{**ROW, "trainable_params": "1"}])).rows[0]
    assert a.predicted_tokens_per_sec_per_gpu == b.predicted_tokens_per_sec_per_gpu
    assert a.predicted_peak_mem_gib == b.predicted_peak_mem_gib
    assert (a.trainable_params, b.trainable_params) == (41943040, 1)


def test_trainable_count_mismatch_is_reported(tmp_path):
    """The model's count (engine.lora.trainable_params) against the table's, per row and as a
    count in the summary."""
    rows = [ROW, {**ROW, "id": "wrong", "trainable_params": "41943041"}]
    report = validate(_table(tmp_path / "ft.csv", rows))
    by_id = {r.id: r for r in report.rows}
    assert by_id["llama3.1-8b-lora-4090"].predicted_trainable_params == 41943040
    assert by_id["wrong"].predicted_trainable_params == 41943040
    assert report.summary.n_trainable_checked == 2
    assert report.summary.n_trainable_mismatch == 1


# Qwen-1.8B (Qwen v1) under Qwen's finetune.py, the table's row qwen-1.8b-lora-1gpu-s2048
QWEN = {
    **ROW,
    "id": "qwen-1.8b-lora",
    "n_layer": "24",
    "d_model": "2048",
    "n_head": "16",
    "n_kv_head": "16",
    "head_dim": "128",
    "ffn_hidden": "5504",
    "vocab": "151936",
    "params_total": "1836828672",
    "framework": "Qwen finetune.py (HF Transformers Trainer + PEFT) on PyTorch 2.0",
    "gpu": "A100 SXM4 80GB",
    "lora_rank": "64",
    "trainable_params": "53673984",
}


def test_qwen_v1_fuses_qkv(tmp_path):
    """Qwen v1's remote code has one c_attn (q, k and v, with a bias) that LoRA adapts whole:
    r (d + 3d), not 3 r (d + d); the full count includes its bias."""
    q, _ = _question(QWEN)
    assert q.model.family == "qwen" and q.model.attn_bias == "qkv"
    rows = [QWEN, {**QWEN, "id": "full", "finetune": "full", "lora_rank": "",
                   "lora_targets": "", "trainable_params": "1836828672"}]  # fmt: skip
    report = validate(_table(tmp_path / "qwen.csv", rows))
    assert [r.predicted_trainable_params for r in report.rows] == [53673984, 1836828672]
    assert report.summary.n_trainable_mismatch == 0


def test_finetune_rows_never_move_a_pretraining_summary(tmp_path):
    dense = _table(tmp_path / "dense.csv", [DENSE])
    ft = _table(tmp_path / "ft.csv", [ROW, {**ROW, "id": "q", "finetune": "qlora",
                                            "base_dtype": "nf4"}])  # fmt: skip
    alone, both = validate(dense), validate(dense, ft)
    assert both.summary == alone.summary
    assert {k: v for k, v in both.classes.items() if not k.startswith("finetune")} == (
        alone.classes
    )
    assert both.classes["finetune: lora"].n_throughput == 1
    assert both.classes["finetune: qlora"].n_throughput == 1
    # a fine-tuning table alone is summarized by its own steady-state rows
    assert validate(ft).summary.n_throughput == 2


def test_unstated_whole_run_reads_as_steady_state(tmp_path):
    rows = [
        {**ROW, "notes": "tokens/s derived; whole-run vs steady state not stated"},
        {**ROW, "id": "whole", "notes": "'training runtime' 9.41 min is a whole run"},
    ]
    classes = [r.row_class for r in validate(_table(tmp_path / "ft.csv", rows)).rows]
    assert classes == ["steady-state", "whole-run"]


@pytest.mark.skipif(not FINETUNE_DEV.exists(), reason="shared/validation not beside the checkout")
def test_finetune_dev_table_is_read():
    """Every row of runs_finetune_dev.csv is predicted or skipped with its reason; none is
    dropped, and the columns the README defines are all accepted."""
    with FINETUNE_DEV.open(newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    report = validate(FINETUNE_DEV)
    assert [r.id for r in report.rows] == [r["id"] for r in table]
    assert all(r.reason for r in report.rows if r.status == "skipped")
    assert not any("is not one of" in r.reason for r in report.rows)
    methods = {r["id"]: r["finetune"] for r in table}
    assert all(r.finetune == methods[r.id] for r in report.rows)
    assert all(r.status == "skipped" for r in report.rows if r.finetune == "other")
    predicted = [r for r in report.rows if r.status != "skipped"]
    assert len(predicted) > len(table) // 2
    assert {"finetune: full", "finetune: lora", "finetune: qlora"} <= set(report.classes)
    assert not {"steady-state", "whole-run"} & set(report.classes)
