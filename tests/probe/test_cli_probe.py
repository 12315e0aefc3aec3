"""`traintime probe` and `traintime calibrate` end to end on the CPU, with a tiny model.

Ground truth: the measurements themselves. A calibration fitted on some probes must bring the
model closer to a probe it did not see (a micro-batch outside its sweep)."""

import json

import pytest

torch = pytest.importorskip("torch")

from traintime.catalog import calibrations as store  # noqa: E402
from traintime.cli import main  # noqa: E402


def _run(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def test_micro_benchmarks_beside_the_model(capsys):
    code, out, _ = _run(["probe", "--device", "cpu", "--quick", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["gpu"] == "cpu" and report["device"]["kind"] == "cpu"
    kinds = {r["measurement"]["kind"] for r in report["rows"]}
    assert {"gemm", "attention", "bandwidth"} <= kinds
    for row in report["rows"]:
        if row["measurement"]["kind"] in ("gemm", "attention", "bandwidth"):
            assert row["model_value"] > 0 and row["ratio"] > 0
            assert row["ratio"] == pytest.approx(row["measurement"]["value"] / row["model_value"])


def _probe(capsys, micro_batch):
    code, out, err = _run(
        ["probe", "--model", "nanochat-d2", "--seq-len", "64", "--micro-batch", str(micro_batch),
         "--steps", "3", "--device", "cpu", "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out)


def test_calibration_moves_a_held_out_cpu_estimate_toward_the_measurement(capsys):
    before = _probe(capsys, 2)
    measured, predicted = before["measured"], before["predicted"]
    assert measured["step_time_s"] > 0 and measured["param_count"] == 17_170_432
    assert measured["tokens_per_s"] == pytest.approx(2 * 64 / measured["step_time_s"])
    assert predicted["calibrated"] is False
    assert before["error"]["step_time_s"] == pytest.approx(
        predicted["step_time_s"] / measured["step_time_s"] - 1
    )
    code, out, err = _run(["calibrate", "--device", "cpu", "--quick", "--json"], capsys)
    assert code == 0, err
    record = json.loads(out)
    assert record["fit"]["gpu"] == "cpu" and record["fit"]["probes"] == 2
    assert [p["micro_batch"] for p in record["probes"]] == [1, 4]  # the sweep skips 2
    assert len(store.records("cpu")) == 1
    after = _probe(capsys, 2)
    assert after["predicted"]["calibrated"] is True
    assert abs(after["error"]["step_time_s"]) < abs(before["error"]["step_time_s"])
    # an estimate on the device uses it and says so
    code, out, _ = _run(["estimate", "--model", "nanochat-d2", "--gpu", "cpu", "--json"], capsys)
    assert json.loads(out)["hardware"]["calibration"]["gpu"] == "cpu"


def test_bad_probe_settings_get_one_line(capsys):
    for args, words in (
        (["probe", "--device", "cuda"], "not available here"),
        (["probe", "--device", "tpu"], "not one of"),
        (["probe", "--model", "nanochat-d2", "--device", "cpu", "--ckpt", "maybe"], "--ckpt"),
        (["probe", "--model", "nanochat-d2", "--device", "cpu", "--parallel", "x"], "--parallel"),
        (["probe", "--model", "nonexistent-model", "--device", "cpu"], "unknown model"),
    ):
        code, _, err = _run(args, capsys)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, (args, err)


def test_without_torch_the_probe_says_how_to_install_it(capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    code, _, err = _run(["probe", "--device", "cpu"], capsys)
    assert code == 2 and 'pip install "traintime[probe]"' in err
