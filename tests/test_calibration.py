"""Calibration: the least-squares fit (traintime/calibration.py), its SQLite store
(catalog/calibrations.py) and its use by every estimate on the device.

Ground truth: measurements synthesized from the model's own values times known factors, so
the fit must recover the factors; the store must give back exactly what it was given."""

import json
import math
import sqlite3

import pytest

from traintime import calibration, catalog, estimate
from traintime.catalog import calibrations as store
from traintime.cli import main
from traintime.errors import DataError, SpecError
from traintime.measured import CalibrationRecord, DeviceInfo, Measurement, ModelMeasurement
from traintime.specs import DeviceCalibration, Question

GPU = "GeForce RTX 4070"  # the catalog name: calibrations are stored under it


def _gemm(m, n, k, dtype, value):
    return Measurement(
        kind="gemm", name="gemm", dtype=dtype, shape={"m": m, "n": n, "k": k},
        seconds=2 * m * n * k / value, work=2 * m * n * k, value=value, unit="FLOP/s",
    )  # fmt: skip


def _synthetic(gpu, *, gemm=0.5, attention=0.8, memory=0.9):
    """Micro-benchmarks as a device whose rates are the model's times known factors measures."""
    mach = calibration.machine(gpu)
    out = []
    for m, n, k in ((4096, 4096, 4096), (8192, 1024, 4096), (2048, 8192, 2048)):
        model = calibration.model_value(_gemm(m, n, k, "bf16", 1.0), mach)
        out.append(_gemm(m, n, k, "bf16", model * gemm))
    staged = calibration.machine(
        gpu,
        DeviceCalibration(key="k", gpu=gpu.name, created="2026-01-01", gemm_scale={"bf16": gemm}),
    )
    for seq in (1024, 2048, 4096):
        work = 3.5 * 4 * 8 * 16 * seq * seq * 128 / 2
        probe = Measurement(
            kind="attention", name="sdpa", dtype="bf16",
            shape={"batch": 8, "heads": 16, "seq": seq, "head_dim": 128, "causal": 1},
            seconds=1.0, work=work, value=1.0, unit="FLOP/s",
        )  # fmt: skip
        value = calibration.model_value(probe, staged) * attention
        out.append(probe.model_copy(update={"value": value, "seconds": work / value}))
    bw = mach.device.mem_bw * memory
    out.append(
        Measurement(
            kind="bandwidth",
            name="copy",
            dtype="fp32",
            seconds=1.0,
            work=bw,
            value=bw,
            unit="B/s",
        )  # fmt: skip
    )
    return out


def _info():
    return DeviceInfo(kind="cuda", name="NVIDIA GeForce RTX 4070", driver="550", torch="2.13")


def test_micro_fit_recovers_known_factors():
    gpu = catalog.find_gpu(GPU)
    cal = calibration.fit_micro(gpu, _synthetic(gpu), key="k")
    assert cal.gemm_scale["bf16"] == pytest.approx(0.5, rel=1e-9)
    assert cal.attention_scale == pytest.approx(0.8, rel=1e-9)
    assert cal.memory_scale == pytest.approx(0.9, rel=1e-9)


def _probe(micro_batch, step_s, **kw):
    return ModelMeasurement(
        model="nanochat-d12", param_count=1, micro_batch=micro_batch, seq_len=2048, steps=5,
        optimizer="muon", step_time_s=step_s, tokens_per_s=micro_batch * 2048 / step_s, **kw,
    )  # fmt: skip


def test_probe_fit_finds_scale_and_overhead_and_narrows_the_error():
    """Steps measured as 1.3 x the stage-1 prediction + 20 ms: the line fit recovers both, and
    the calibrated model predicts the probes better than the uncalibrated one."""
    gpu, spec = catalog.find_gpu(GPU), catalog.find_model("nanochat-d12")
    micro = _synthetic(gpu)
    staged = calibration.fit_micro(gpu, micro, key=_info().key)
    probes = []
    for mb in (1, 2, 4, 8):
        shell = _probe(mb, 1.0)
        t = calibration.predict(shell, spec, gpu, staged).throughput.step_time_s
        probes.append((_probe(mb, 1.3 * t + 0.02), spec))
    cal, before, after = calibration.fit(gpu, _info(), micro, probes)
    assert cal.step_overhead_s == pytest.approx(0.02, rel=0.25)
    assert cal.gemm_scale["bf16"] == pytest.approx(0.5 / 1.3, rel=0.1)
    assert cal.probes == 4 and cal.residual < 0.05
    assert cal.error_after < cal.error_before
    measured = [p.step_time_s for p, _ in probes]
    assert all(abs(a / m - 1) < 0.05 for a, m in zip(after, measured, strict=True))
    assert len(before) == 4


def _record(gpu=GPU, created="2026-12-01T10:00:00+00:00", scale=0.7):
    fit = DeviceCalibration(
        key=_info().key, gpu=gpu, created=created, gemm_scale={"bf16": scale},
        step_overhead_s=0.01, residual=0.05, probes=2, error_before=0.3, error_after=0.02,
    )  # fmt: skip
    return CalibrationRecord(
        device=_info(), fit=fit, measurements=_synthetic(catalog.find_gpu(gpu))
    )


def test_store_round_trip_and_newest_wins():
    assert store.calibration_for(GPU) is None and store.records() == []
    old, new = _record(scale=0.7), _record(created="2026-12-02T10:00:00+00:00", scale=0.6)
    store.save(old)
    store.save(new)
    assert store.records(GPU) == [old, new]
    assert store.calibration_for(GPU) == new.fit
    assert store.calibration_for("GeForce RTX 4090") is None
    assert store.reset(GPU) == 2 and store.records() == []


def test_export_import_round_trip(tmp_path):
    rec = _record()
    store.save(rec)
    out = tmp_path / "team.json"
    assert store.export_json(out) == 1
    store.reset()
    assert store.import_json(out) == 1
    assert store.records() == [rec]
    assert store.import_json(out) == 1 and len(store.records()) == 1  # kept once


def test_import_refuses_foreign_json(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"schema": "other"}))
    with pytest.raises(DataError, match="not a traintime calibration export"):
        store.import_json(bad)
    bad.write_text(json.dumps({"schema": store.SCHEMA, "version": 1, "calibrations": [{}]}))
    with pytest.raises(DataError, match="run 0"):
        store.import_json(bad)


def test_import_of_a_binary_or_truncated_file_is_one_line(tmp_path, capsys):
    rec = _record()
    store.save(rec)
    good = tmp_path / "good.json"
    store.export_json(good)
    for name, data in (
        ("binary.json", bytes(range(256))),
        ("truncated.json", good.read_bytes()[:200]),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(SystemExit) as exit_:
            main(["calibrate", "--import", str(path)])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert store.records() == [rec]


def test_corrupt_store_is_refused_and_left_untouched():
    path = store.store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a database at all" * 100)
    before = path.read_bytes()
    for action in (lambda: store.calibration_for(GPU), lambda: store.save(_record())):
        with pytest.raises(DataError, match="left untouched"):
            action()
    assert path.read_bytes() == before
    with pytest.raises(DataError):
        estimate("nanochat-d12", GPU)


def test_foreign_sqlite_is_refused_and_never_written():
    path = store.store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER)")
    before = path.read_bytes()
    with pytest.raises(DataError, match="its tables: photos"):
        store.save(_record())
    assert path.read_bytes() == before


def test_estimate_uses_the_calibration_and_says_so():
    plain = estimate("nanochat-d12", GPU, tokens=1e9)
    store.save(_record(scale=0.5))
    cal = estimate("nanochat-d12", GPU, tokens=1e9)
    assert cal.hardware.calibration is not None
    assert any("calibrated on this machine" in n for n in cal.hardware.notes)
    assert cal.time.total_hours > plain.time.total_hours  # half the GEMM rate
    assert cal.time.low_hours == pytest.approx(cal.time.total_hours * math.exp(-0.05))
    assert "calibration" in cal.time.band_basis
    # turned off: the shipped model again
    off = estimate("nanochat-d12", GPU, tokens=1e9, calibration=False)
    assert off.time.total_hours == plain.time.total_hours
    assert off.hardware.calibration is None
    # another GPU is not affected
    assert estimate("nanochat-d12", "RTX 4090").hardware.calibration is None


def test_validate_never_uses_calibrations(tmp_path):
    """validate measures the shipped model: a stored calibration of the row's GPU changes
    nothing (the synthetic row of tests/test_validate.py)."""
    from tests.test_validate import ROW, _write
    from traintime.validate import validate

    path = _write(tmp_path / "r.csv", [ROW])
    plain = validate(path).rows[0].predicted_tokens_per_sec_per_gpu
    store.save(_record(gpu="GeForce RTX 4090", scale=0.3))
    assert estimate("gpt2-124m", "4090").hardware.calibration is not None
    assert validate(path).rows[0].predicted_tokens_per_sec_per_gpu == plain


def test_a_calibration_for_another_gpu_is_refused():
    rec = _record(gpu="GeForce RTX 4090")
    with pytest.raises(SpecError, match="applies to the device"):
        from traintime.estimation import estimate_question

        estimate_question(Question(model="nanochat-d12", gpu=GPU, calibration=rec.fit))


def test_cli_show_export_import_reset(tmp_path, capsys):
    store.save(_record())
    with pytest.raises(SystemExit) as exit_:
        main(["calibrate", "--show"])
    assert exit_.value.code == 0
    assert "RTX 4070" in capsys.readouterr().out
    out = tmp_path / "c.json"
    with pytest.raises(SystemExit):
        main(["calibrate", "--export", str(out)])
    with pytest.raises(SystemExit):
        main(["calibrate", "--reset"])
    assert store.records() == []
    with pytest.raises(SystemExit):
        main(["calibrate", "--import", str(out)])
    assert len(store.records()) == 1
    with pytest.raises(SystemExit) as exit_:
        main(["calibrate", "--show", "--reset"])
    assert exit_.value.code == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["estimate", "--model", "nanochat-d12", "--gpu", GPU, "--no-calibration", "--json"])
    assert json.loads(capsys.readouterr().out)["hardware"]["calibration"] is None
