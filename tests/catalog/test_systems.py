"""Node presets and fabrics load with sources and resolve by alias."""

import pytest

from traintime.catalog import find_fabric, find_gpu, find_system, list_fabrics, list_systems
from traintime.errors import UnknownNameError


def test_every_node_is_consistent():
    for node in list_systems():
        assert node.source
        find_gpu(node.gpu)  # every node names a catalog GPU
        if node.fabric:
            find_fabric(node.fabric)


def test_fabrics_have_sources():
    assert all(f.source and f.port_gbps > 0 for f in list_fabrics())


def test_dgx_h100():
    # MLPerf v3.0 system description: 8x H100 SXM5, NVLink 900 GB/s, 8x 400 Gb/s NDR.
    node = find_system("hgx-h100")
    assert (node.gpus_per_node, node.intra_bw_gbs, node.network_gbps) == (8, 900, 3200)


def test_aliases_and_unknown():
    assert find_system("p5").name == "aws-p5"
    with pytest.raises(UnknownNameError, match="dgx-h100"):
        find_system("dgx-h10")


def test_nvl72_racks_are_one_nvlink_domain():
    # nvidia.com GB200 / GB300 NVL72 pages: 72 GPUs in one NVLink 5 domain (1.8 TB/s per GPU);
    # one ConnectX-7 400 Gb/s (GB200, MLPerf Inference v6.1 Crusoe system description) or
    # ConnectX-8 800 Gb/s (GB300, nvidia.com) NIC per GPU.
    gb200, gb300 = find_system("gb200-nvl72"), find_system("dgx-gb300")
    assert (gb200.gpus_per_node, gb200.intra_bw_gbs, gb200.network_gbps) == (72, 1800, 72 * 400)
    assert (gb300.gpus_per_node, gb300.intra_bw_gbs, gb300.network_gbps) == (72, 1800, 72 * 800)
    assert find_system("hgx-b300").network_gbps == 8 * 800
