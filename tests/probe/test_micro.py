"""Micro-benchmarks on the CPU: every record is well formed, a quick run is quick, rates repeat,
the device key is stable, an absent device is refused in one line, and Gloo collectives run."""

import time
from itertools import pairwise

import pytest

torch = pytest.importorskip("torch")

from traintime.errors import SpecError  # noqa: E402
from traintime.probe.collectives import bus_factor, run_collectives  # noqa: E402
from traintime.probe.env import device_info  # noqa: E402
from traintime.probe.micro import attention_flops, gemm_sweep, run_micro  # noqa: E402
from traintime.probe.timing import time_call  # noqa: E402

#: Generous against a loaded CI machine; a quick CPU run takes about 2 s on 2 idle cores.
QUICK_LIMIT_S = 20.0


@pytest.fixture(scope="module")
def quick_run():
    start = time.perf_counter()
    records = run_micro("cpu", quick=True)
    return records, time.perf_counter() - start


def test_quick_cpu_run_is_quick(quick_run):
    records, elapsed_s = quick_run
    assert elapsed_s < QUICK_LIMIT_S
    assert {r.kind for r in records} == {"gemm", "attention", "bandwidth", "memory"}


def test_every_record_is_positive(quick_run):
    records, _ = quick_run
    for r in records:
        assert r.work > 0 and r.value > 0, r
        if r.kind == "memory":  # a size, not a rate
            assert r.unit == "B" and r.seconds == 0, r
        else:
            assert r.seconds > 0, r
            assert r.value == pytest.approx(r.work / r.seconds), r


def test_record_shapes_name_the_operation(quick_run):
    records, _ = quick_run
    keys = {
        "gemm": {"m", "n", "k"},
        "attention": {"batch", "heads", "seq", "head_dim", "causal"},
        "bandwidth": {"bytes"},
    }
    for r in records:
        assert keys.get(r.kind, set()) <= set(r.shape), r
    gemms = [r for r in records if r.kind == "gemm"]
    assert {r.dtype for r in gemms} == {"fp32", "bf16"}
    for r in gemms:
        assert r.work == 2 * r.shape["m"] * r.shape["n"] * r.shape["k"]
    assert {r.name for r in records if r.kind == "bandwidth"} == {"copy", "triad", "rmsnorm"}
    assert any(r.name == "process_rss" for r in records)


def test_gemm_rates_repeat():
    """Repeated sweeps agree within a factor of 2 per shape. Loose because CI CPUs are shared:
    a neighbour's load and turbo clocks move a sub-millisecond GEMM for as long as the
    neighbour runs. The sweeps run on one thread (a busy core would otherwise stall every
    OpenMP barrier, 10x swings), three of them, and two must agree for each shape: one
    disturbed sweep is forgiven, a timer that misses the work or a miscounted shape is not."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sweeps = [gemm_sweep("cpu", quick=True) for _ in range(3)]
    finally:
        torch.set_num_threads(threads)
    rates: dict[tuple, list[float]] = {}
    for sweep in sweeps:
        for r in sweep:
            rates.setdefault((r.dtype, tuple(r.shape.items())), []).append(r.value)
    for key, values in rates.items():
        assert len(values) == len(sweeps), key
        assert any(b / a < 2.0 for a, b in pairwise(sorted(values))), (key, values)


def test_cpu_device_info():
    info = device_info("cpu")
    assert info.kind == "cpu" and info.count == 1
    assert info.name and info.driver and info.runtime == ""
    assert info.torch == torch.__version__
    assert info.memory_bytes and info.memory_bytes > 0
    assert info.catalog_gpu is None
    assert device_info("cpu").key == info.key
    assert info.key.startswith(info.name + " | ")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA/ROCm GPU")
def test_absent_gpu_is_refused_in_one_line():
    with pytest.raises(SpecError) as err:
        device_info("cuda")
    message = str(err.value)
    assert "\n" not in message
    assert "'cuda'" in message and "cpu" in message and torch.__version__ in message


def test_unknown_device_is_refused():
    with pytest.raises(SpecError, match="'tpu'"):
        device_info("tpu")
    with pytest.raises(SpecError, match="'tpu'"):
        run_micro("tpu", quick=True)


def test_gloo_collectives():
    records = run_collectives(2, backend="gloo", quick=True)
    assert {r.name for r in records} == {"all_reduce", "all_gather"}
    for r in records:
        assert r.kind == "collective" and r.unit == "B/s"
        assert r.seconds > 0 and r.value > 0
        assert r.shape["world_size"] == 2 and r.shape["backend"] == "gloo"
        algbw = r.shape["bytes"] / r.seconds
        assert r.value == pytest.approx(algbw * bus_factor(r.name, 2))


def test_collectives_need_two_processes():
    with pytest.raises(SpecError, match="at least 2"):
        run_collectives(1, backend="gloo")


def test_bus_factors_follow_nccl_tests():
    assert bus_factor("all_reduce", 2) == 1.0
    assert bus_factor("all_gather", 2) == 0.5
    assert bus_factor("all_reduce", 8) == pytest.approx(1.75)
    assert bus_factor("all_gather", 8) == pytest.approx(0.875)


def test_causal_attention_flops():
    # two T x T x d matmuls of 2 FLOPs per multiply-add, halved by the causal mask
    assert attention_flops(1, 1, 2, 1, causal=False) == 16
    assert attention_flops(2, 3, 128, 64, causal=True) == 4 * 2 * 3 * 128 * 128 * 64 / 2


def test_time_call_measures_one_call():
    seconds = time_call(lambda: time.sleep(0.002), device="cpu", warmup=0, repeats=3, min_time_s=0)
    assert 0.0015 < seconds < 0.05


def test_time_call_repeats_tiny_calls():
    calls = []
    seconds = time_call(lambda: calls.append(1), device="cpu", warmup=1, repeats=3, min_time_s=0.01)
    assert seconds < 1e-3
    assert len(calls) > 1 + 1 + 3  # warm-up, estimate, and more than one call per sample


def test_time_call_refuses_no_repeats():
    with pytest.raises(ValueError, match="repeats"):
        time_call(lambda: None, device="cpu", repeats=0)
