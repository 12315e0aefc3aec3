"""GPU catalog: the shipped table loads and the names people type resolve."""

import pytest

from traintime.catalog import find_gpu, list_gpus
from traintime.errors import AmbiguousNameError, UnknownNameError


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
    ],
)
def test_spellings(typed, name):
    assert find_gpu(typed).name == name


def test_rtx_4070_row():
    # gpu_specs.csv: 46 SM x 2.475 GHz x 512 FLOP/clk (GeForce FP32-accumulate) = 58.3 TFLOPS.
    gpu = find_gpu("4070")
    assert (gpu.peak("bf16"), gpu.memory_gib, gpu.bandwidth_gbs, gpu.tdp_w) == (58.3, 12, 504, 200)


def test_no_bf16_on_v100():
    assert find_gpu("v100").peak("bf16") is None


def test_every_row_has_sources():
    for gpu in list_gpus():
        assert gpu.sources.strip(), gpu.name


def test_ambiguous_lists_candidates():
    with pytest.raises(AmbiguousNameError) as exc:
        find_gpu("a100 sxm4")
    assert exc.value.candidates == ["A100 SXM4 40GB", "A100 SXM4 80GB"]


def test_unknown_suggests_close_names():
    with pytest.raises(UnknownNameError) as exc:
        find_gpu("rtx 4071")
    assert "GeForce RTX 4070" in exc.value.suggestions
