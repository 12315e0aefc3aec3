"""bench/gpu_measurements.py on the CPU: the smoke sweep writes a validation-schema table that
`traintime validate` reads, an importable calibration, and a before/after summary."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from traintime.catalog import calibrations as store  # noqa: E402
from traintime.validate import validate  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu_measurements.py"
SHARED = ROOT.parent / "shared" / "validation"

#: The header of the validation schema (shared/validation/README.md; runs_dev.csv's order).
HEADER = [
    "id", "source", "kind", "model", "n_layer", "d_model", "n_head", "n_kv_head", "head_dim",
    "ffn_hidden", "ffn_act", "vocab", "tied_embeddings", "extra_embed_params", "params_total",
    "seq_len", "attn_window", "precision", "optimizer", "global_batch_tokens", "micro_batch",
    "act_ckpt", "attention_impl", "compiled", "framework", "gpu", "n_gpus", "gpus_per_node",
    "dp", "tp", "pp", "cp", "zero_stage", "tokens_per_sec_per_gpu", "peak_mem_gib",
    "peak_mem_kind", "oom", "notes", "config", "ep", "etp", "moe_dispatcher", "moe_routing",
]  # fmt: skip


def _script():
    spec = importlib.util.spec_from_file_location("gpu_measurements", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke run for the module's tests (the calibration store is private to it)."""
    out = tmp_path_factory.mktemp("measurements")
    data = tmp_path_factory.mktemp("traintime-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAINTIME_DATA_DIR", str(data))
        module = _script()
        code = module.main(["--smoke", "--device", "cpu", "--out", str(out)])
        stored = store.records()
    return module, code, out, stored


def test_header_is_the_schema(smoke):
    module, _, out, _ = smoke
    assert list(module.COLUMNS) == HEADER
    (table,) = out.glob("*.csv")
    with table.open(newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == HEADER
    runs = SHARED / "runs_dev.csv"
    if runs.is_file():  # the shared table, where this checkout has it
        with runs.open(newline="", encoding="utf-8") as f:
            assert next(csv.reader(f)) == HEADER
    readme = SHARED / "README.md"
    if readme.is_file():  # every column the README's tables define, fine-tuning ones aside
        text = readme.read_text(encoding="utf-8").split("### Fine-tuning columns")[0]
        assert set(re.findall(r"^\| `([a-z_0-9]+)` \|", text, re.M)) == set(HEADER)


def test_rows_validate_with_predictions(smoke):
    _, code, out, _ = smoke
    assert code == 0
    (table,) = out.glob("*.csv")
    with table.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert {r["micro_batch"] for r in rows} == {"1", "2"}
    for r in rows:
        assert r["kind"] == "measured"
        assert r["source"].startswith("traintime probe, bench/gpu_measurements.py, ")
        assert r["framework"].startswith("traintime-probe torch ")
        assert r["gpu"] == "cpu" and r["oom"] == "false"
        assert float(r["tokens_per_sec_per_gpu"]) > 0
        assert r["params_total"] == "17170432"  # count_params(nanochat-d2)
        assert "median" in r["notes"] and "torch" in r["notes"]
    report = validate(table)
    assert len(report.rows) == 2
    for r in report.rows:
        assert r.status == "used", r.reason
        assert r.predicted_tokens_per_sec_per_gpu and r.predicted_tokens_per_sec_per_gpu > 0
        assert r.measured_tokens_per_sec_per_gpu and r.measured_tokens_per_sec_per_gpu > 0


def test_summary_calibration_and_micro(smoke):
    _, _, out, stored = smoke
    (md,) = out.glob("*.md")
    text = md.read_text(encoding="utf-8")
    for label in ("before calibration", "after calibration"):
        assert re.search(rf"MdAPE, {label}[^:]*: \d+\.\d% over 2 rows", text), label
    assert "GEMM scale" in text
    assert len(re.findall(r"^\| probe-cpu-", text, re.M)) == 2
    (micro,) = out.glob("*-micro.json")
    doc = json.loads(micro.read_text())
    assert doc["gpu"] == "cpu" and doc["rows"]
    (export,) = out.glob("*-calibration.json")
    assert json.loads(export.read_text())["schema"] == store.SCHEMA
    assert len(stored) == 1 and len(stored[0].probes) == 2


def _fake(module, probe, settings, tokens_per_s=1000.0):
    return module._stand_in(probe, settings, 2).model_copy(
        update={"tokens_per_s": tokens_per_s, "peak_allocated_bytes": 1 << 30}
    )


def test_out_of_memory_is_a_row_and_the_budget_skips(monkeypatch, tmp_path):
    import torch

    from traintime import catalog
    from traintime.measured import DeviceInfo

    module = _script()
    info = DeviceInfo(kind="cpu", name="test cpu", torch=torch.__version__)
    gpu = catalog.find_gpu("cpu")

    def measure(*, spec, micro_batch, **settings):
        if micro_batch == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        probe = module.Probe(spec.name, micro_batch, settings["seq_len"], settings["act_ckpt"])
        return _fake(module, probe, {k: settings[k] for k in ("optimizer", "precision")})

    monkeypatch.setattr(module.run, "measure_model", measure)
    outcomes = module.run_probes(
        module.SMOKE_SWEEP, info, gpu, steps=2, budget_s=1e9, start=0.0, say=lambda _: None
    )
    assert [o.oom for o in outcomes] == [False, True]
    module.assign_ids(outcomes, "dev")
    table = tmp_path / "dev.csv"
    module.write_table(
        table, [module.table_row(o, info, gpu, date="d", device="k") for o in outcomes]
    )
    oom = validate(table).rows[1]
    assert oom.status == "no-throughput" and oom.measured_oom is True
    assert oom.predicted_tokens_per_sec_per_gpu and oom.measured_peak_mem_gib is None
    with table.open(newline="", encoding="utf-8") as f:
        row = list(csv.DictReader(f))[1]
    assert row["oom"] == "true" and row["tokens_per_sec_per_gpu"] == row["peak_mem_kind"] == ""
    assert "out of memory" in row["notes"]

    def never(**_):
        raise AssertionError("a probe ran past the budget")

    monkeypatch.setattr(module.run, "measure_model", never)
    skipped = module.run_probes(
        module.SMOKE_SWEEP, info, gpu, steps=2, budget_s=1.0, start=time.monotonic() - 5,
        say=lambda _: None,
    )  # fmt: skip
    assert len(skipped) == 2 and all(o.reason.startswith("skipped") and not o.row for o in skipped)


@pytest.mark.parametrize("name", ["nanochat-2026-d12", "llama-3.2-1b", "nanochat-d20"])
def test_columns_give_validate_the_probed_model(name, tmp_path):
    """validate, reading only the columns, predicts what the time model predicts for the probe's
    own ModelSpec (within 1%: the 2026 family's gates have no column)."""
    from traintime import calibration, catalog
    from traintime.measured import DeviceInfo

    module = _script()
    gpu = catalog.find_gpu("H200")
    info = DeviceInfo(kind="cuda", name="NVIDIA H200", driver="1", runtime="CUDA 1", torch="2")
    probe = module.Probe(name, 4, 2048, "full")
    out = module.Outcome(probe=probe, spec=catalog.find_model(name))
    out.settings = module.run.recipe_defaults(out.spec)
    out.measurement = _fake(module, probe, out.settings)
    module.assign_ids([out], "h200")
    table = tmp_path / "h200.csv"
    module.write_table(table, [module.table_row(out, info, gpu, date="d", device="k")])
    (row,) = validate(table).rows
    direct = calibration.predict(out.measurement, out.spec, gpu, None)
    assert row.status == "used", row.reason
    assert row.predicted_tokens_per_sec_per_gpu == pytest.approx(
        direct.throughput.tokens_per_sec, rel=0.01
    )
    assert row.predicted_peak_mem_gib == pytest.approx(direct.memory.peak_gib, rel=0.01)
