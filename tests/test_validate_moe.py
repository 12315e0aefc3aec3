"""`traintime validate` on mixture-of-experts tables: the config column, the expert layout and
routing columns (shared/validation/README.md, "Mixture-of-experts and config files")."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from tests.test_validate import HEADER
from traintime.catalog._files import data_dir
from traintime.cli import main
from traintime.validate import validate

MOE_HEADER = [*HEADER, "config", "ep", "etp", "moe_dispatcher", "moe_routing"]
MOE_DEV = Path(__file__).parents[2] / "shared" / "validation" / "runs_moe_dev.csv"

ROW = {
    "id": "olmoe-8xh100",
    "kind": "measured",
    "model": "OLMoE-1B-7B",
    "seq_len": "4096",
    "precision": "bf16",
    "optimizer": "adamw",
    "global_batch_tokens": "1048576",
    "micro_batch": "2",
    "act_ckpt": "none",
    "attention_impl": "flash",
    "compiled": "false",
    "framework": "Megatron-Bridge (Megatron-Core, TE)",
    "gpu": "H100 SXM5 80GB",
    "n_gpus": "8",
    "gpus_per_node": "8",
    "dp": "8",
    "tp": "1",
    "pp": "1",
    "cp": "1",
    "zero_stage": "1",
    "tokens_per_sec_per_gpu": "20000",
    "oom": "false",
    "notes": "synthetic",
    "config": "olmoe.json",
    "ep": "8",
    "moe_dispatcher": "alltoall",
    "moe_routing": "balanced",
}


def _table(tmp_path, rows):
    configs = tmp_path / "configs"
    configs.mkdir(exist_ok=True)
    shutil.copy(
        Path(str(data_dir() / "models" / "hf" / "olmoe-1b-7b.json")), configs / "olmoe.json"
    )
    path = tmp_path / "moe.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=MOE_HEADER)
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in MOE_HEADER})
    return path


def test_config_column_defines_the_architecture(tmp_path):
    report = validate(_table(tmp_path, [ROW]))
    row = report.rows[0]
    assert row.status == "used" and row.model_kind == "moe"
    assert "model: moe" in report.classes


def test_missing_config_skips_the_row_with_a_reason(tmp_path):
    row = validate(_table(tmp_path, [{**ROW, "config": "nope.json"}])).rows[0]
    assert row.status == "skipped" and "nope.json" in row.reason


def test_routing_columns_change_the_prediction(tmp_path):
    rows = [ROW, {**ROW, "id": "dropless", "moe_routing": "dropless"}]
    by_id = {r.id: r for r in validate(_table(tmp_path, rows)).rows}
    assert (
        by_id["dropless"].predicted_tokens_per_sec_per_gpu
        < by_id["olmoe-8xh100"].predicted_tokens_per_sec_per_gpu
    )


def test_other_dispatcher_is_timed_as_deepep(tmp_path):
    row = validate(_table(tmp_path, [{**ROW, "moe_dispatcher": "other"}])).rows[0]
    assert any("timed as deepep" in a for a in row.assumed)


def test_capacity_routing_reads_its_factor(tmp_path):
    rows = [{**ROW, "moe_routing": "capacity", "notes": "token drop, capacity factor 1.5 padded"}]
    row = validate(_table(tmp_path, rows)).rows[0]
    assert row.status == "used"


def test_bad_routing_keyword_is_refused(tmp_path):
    row = validate(_table(tmp_path, [{**ROW, "moe_routing": "random"}])).rows[0]
    assert row.status == "skipped" and "moe_routing" in row.reason


def test_several_tables_in_one_report(tmp_path, capsys):
    moe = _table(tmp_path, [ROW])
    code = None
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(moe), str(moe), "--json"])
    code = exc.value.code
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and len(data["rows"]) == 2


@pytest.mark.skipif(not MOE_DEV.exists(), reason="shared/validation not beside the checkout")
def test_moe_dev_table_is_predicted():
    """Every row of runs_moe_dev.csv is read (none skipped) and the fit outcomes mostly agree."""
    report = validate(MOE_DEV)
    assert report.summary.n_skipped == 0
    assert report.summary.oom_accuracy is not None and report.summary.oom_accuracy > 0.9


EXTRA = Path(__file__).parents[1] / "bench" / "moe_extra_runs.csv"


@pytest.mark.skipif(not EXTRA.exists(), reason="bench/ not shipped in this checkout")
def test_extra_moe_rows_are_read():
    """The MoE runs this project added (bench/moe_extra_runs.csv, configs in bench/configs/):
    every row is read against its config and predicted."""
    report = validate(EXTRA)
    assert report.summary.n_skipped == 0
    assert all(r.model_kind == "moe" for r in report.rows)
