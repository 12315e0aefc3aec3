"""The per-kernel roofline (Williams et al. 2009) and GEMM shape effects."""

import pytest

from tests.engine.conftest import EFF, ada, blackwell, device, gpu
from traintime.engine.device import Device, usable_precision


@pytest.fixture(scope="module")
def h100():
    return device(gpu())


def _peaks(**kw):
    return {"bf16": None, "fp16": None, "fp8": None, "tf32": None, "fp32": 10.0, **kw}


def test_big_gemm_runs_at_the_sustained_ceiling(h100):
    # the ceiling was measured on an 8192^3 GEMM in a short benchmark (MAMF 794.5 TFLOPS); a
    # training run sustains it times the steady-state share (Azure ND A100 v4: 253.7 / 264.5)
    t = h100.gemm_time(8192, 8192, 8192, precision="bf16", elt=2)
    sustained = EFF.gemm_sustained_fraction
    assert 2 * 8192**3 / t == pytest.approx(794.5e12 * sustained, rel=0.01)


def test_skinny_gemm_is_memory_bound(h100):
    # [65536 x 8] x [8 x 8192]: 2 FLOPs per ~2 bytes of output -> bandwidth decides
    m, n, k = 65536, 8192, 8
    t = h100.gemm_time(m, n, k, precision="bf16", elt=2)
    nbytes = 2 * (m * k + k * n + m * n)
    assert t == pytest.approx(nbytes / (3350e9 * EFF.memory_efficiency), rel=1e-6)


def test_small_k_costs_more_per_flop(h100):
    rate = {
        k: 2 * 16384 * 4096 * k / h100.gemm_time(16384, 4096, k, precision="bf16", elt=2)
        for k in (512, 2048, 8192)
    }
    assert rate[512] < rate[2048] < rate[8192]


def test_tile_latency_hurts_fast_sms_more():
    # same shape, K = 768: the 4070's slower SMs hide the per-tile latency better than H100's
    eff = EFF
    rel = {}
    for name, g in (("4070", ada()), ("h100", gpu())):
        dev = Device(g, eff)
        rel[name] = dev.k_efficiency(768, "bf16") / dev.k_efficiency(8192, "bf16")
    assert rel["h100"] < rel["4070"] < 1


def test_wave_quantization(h100):
    # 133 tiles on 132 SMs need two waves: about half the second wave idles
    assert h100.wave_efficiency(133 * 128, 128, 256) == pytest.approx(133 / 264)
    assert h100.wave_efficiency(132 * 128, 128, 256) == 1.0


def test_unaligned_rows_halve_the_tensor_core_rate(h100):
    # GPT-2's 50257-token vocabulary: rows of 50257 bf16 elements are not 16-byte aligned;
    # Horace He (2024) measured an odd innermost dimension over 2x slower in bf16
    assert h100.aligned(50304, 768, precision="bf16", elt=2)
    assert not h100.aligned(50257, 768, precision="bf16", elt=2)
    assert not h100.aligned(50264, 768, precision="fp8", elt=1)  # fp8 needs 16 elements
    ok = h100.gemm_time(8192, 50304, 768, precision="bf16", elt=2)
    odd = h100.gemm_time(8192, 50257, 768, precision="bf16", elt=2, aligned=False)
    assert odd / ok == pytest.approx(1 / EFF.gemm_unaligned_fraction, rel=0.01)


def test_alignment_only_matters_on_tensor_cores():
    # a GTX 1080 Ti (Pascal: fp16 at 1/64 of fp32) computes bf16 requests in fp32 on its SIMT
    # cores: no 16-byte vector tiles
    pascal = gpu(name="Toy Pascal", peak_tflops=_peaks(fp16=0.18, fp32=11.3))
    assert Device(pascal, EFF).aligned(50257, precision="bf16", elt=2)


def test_precision_fallbacks():
    volta = gpu(name="Toy Volta", peak_tflops=_peaks(fp16=125.0, fp32=15.7))  # no bf16
    pascal = gpu(name="Toy Pascal", peak_tflops=_peaks(fp16=0.18, fp32=11.3))
    assert usable_precision(volta, "bf16") == "fp16"
    assert usable_precision(pascal, "bf16") == "fp32"  # fp16 runs at 1/64
    assert usable_precision(ada(), "bf16") == "bf16"


def test_attention_kernel_generations(h100):
    a100 = device(gpu(name="Toy Ampere", architecture="Ampere"))
    assert h100.attention_fraction("flash3") > h100.attention_fraction("flash")
    assert a100.attention_fraction("flash3") == a100.attention_fraction("flash")
    assert h100.attention_fraction("sdpa", masked=True) < h100.attention_fraction("sdpa")


def test_flash_attention_in_triton_is_slower_forward_and_more_so_backward():
    # Dao 2023 section 4.1: FA2 is 1.3-1.5x faster forward, ~2x faster backward than Triton's
    a100 = device(gpu(name="Toy Ampere", architecture="Ampere"))
    f = 1e12
    fa2 = [a100.attention_time(f, 0, impl="flash", precision="bf16", backward=b) for b in (0, 1)]
    tri = [a100.attention_time(f, 0, impl="triton", precision="bf16", backward=b) for b in (0, 1)]
    assert tri[0] / fa2[0] == pytest.approx(1.4) and tri[1] / fa2[1] == pytest.approx(2.0)


def test_pre_blackwell_attention_kernels_do_not_speed_up_on_blackwell(h100):
    """FlashAttention-4 (Zadouri et al. 2026, arXiv:2603.05451): Blackwell doubled the tensor
    rate per SM-clock but not the exponential units or shared memory, so FA2-class and masked
    kernels run at Hopper's per-SM-clock rate there; kernels written for it (flash3) do not."""
    b200 = device(blackwell())
    flops = 1e15

    def rate(dev: Device, impl: str, masked: bool = False) -> float:
        return flops / dev.attention_time(flops, 0.0, impl=impl, precision="bf16", masked=masked)

    h, b = (
        rate(d, "sdpa", masked=True) / (d.gpu.sm_count * d.gpu.boost_clock_mhz)
        for d in (h100, b200)
    )
    ceiling_ratio = b200.gpu.matmul_ceiling / h100.gpu.matmul_ceiling
    assert b == pytest.approx(h * ceiling_ratio, rel=0.01)
    assert rate(b200, "flash3") / rate(h100, "flash3") > 2.0  # 2250 vs 989 TF peaks
    assert h100.per_sm_clock_scale("bf16") == 1.0
    # an RTX 5090 (170 SMs x 2407 MHz, 209.5 TFLOPS fp32-accumulate: 512 per SM-clock)
    rtx5090 = ada(sm_count=170, boost_clock_mhz=2407.0, peak_tflops=_peaks(bf16=209.5))
    assert Device(rtx5090, EFF).per_sm_clock_scale("bf16") == 1.0


def test_head_dim_64_runs_attention_slower_per_flop():
    """FA2 paper figures 4 and 7: causal fwd+bwd at hd 64 runs at ~0.88-0.90 of hd 128; FA3 on
    H100 ~0.80 (paper figures 5-6). hd 256 no faster than 128 (capped)."""
    from tests.engine.conftest import device

    dev = device()
    assert dev.head_dim_factor("flash", 64) == pytest.approx(0.89, abs=0.02)
    assert dev.head_dim_factor("flash3", 64) == pytest.approx(0.80, abs=0.02)
    assert dev.head_dim_factor("flash", 128) == 1.0
    assert dev.head_dim_factor("flash3", 256) == 1.0
