"""Ring collectives: 2(n-1)/n x S for all-reduce, (n-1)/n x S otherwise (nccl-tests bus
bandwidth definition), plus NCCL's latency model."""

import pytest

from tests.engine.conftest import EFF, ada, gpu
from traintime.engine.comms import collective_time, make_links
from traintime.specs import Links, NodeSpec


def _links(**kw):
    base = {
        "gpus_per_node": 8,
        "intra_gbs": 100.0,
        "intra_step_us": 0.0,
        "inter_gbs": 10.0,
        "inter_step_us": 0.0,
        "host_gbs": 20.0,
    }
    return Links(**{**base, **kw})


def _no_latency():
    return EFF.model_copy(update={"base_latency_us": 0.0})


def test_all_reduce_formula():
    t = collective_time(
        8e9, 8, kind="all_reduce", links=_links(), eff=_no_latency(), spans_nodes=False
    )
    assert t == pytest.approx(2 * 7 / 8 * 8e9 / 100e9)


def test_reduce_scatter_is_half_an_all_reduce():
    kw = {"links": _links(), "eff": _no_latency(), "spans_nodes": False}
    assert collective_time(1e9, 4, kind="reduce_scatter", **kw) == pytest.approx(
        collective_time(1e9, 4, kind="all_reduce", **kw) / 2
    )


def test_one_gpu_costs_nothing():
    assert (
        collective_time(1e9, 1, kind="all_reduce", links=_links(), eff=EFF, spans_nodes=False)
        == 0.0
    )


def test_spanning_nodes_uses_the_slower_fabric():
    """One ring per NIC: a group with one GPU per node gets that GPU's NIC share (10 GB/s), a
    group of 4 GPUs per node their four NICs (40), a full node all eight, capped by NVLink."""
    kw = {"kind": "all_reduce", "links": _links(), "eff": _no_latency()}
    inside = collective_time(1e9, 16, spans_nodes=False, **kw)
    assert collective_time(1e9, 16, spans_nodes=True, per_node=1, **kw) == pytest.approx(
        10 * inside
    )
    assert collective_time(1e9, 16, spans_nodes=True, per_node=4, **kw) == pytest.approx(
        2.5 * inside
    )
    assert collective_time(1e9, 16, spans_nodes=True, **kw) == pytest.approx(1.25 * inside)
    capped = _links(inter_gbs=50.0)
    assert collective_time(
        1e9, 16, kind="all_reduce", links=capped, eff=_no_latency(), spans_nodes=True
    ) == pytest.approx(inside)


def test_nccl_tests_bus_bandwidth_across_a100_nodes():
    """nccl-tests issue #119: 8 x A100 per node, 4 x HDR 200 Gb/s (100 GB/s per node) measure
    85-96 GB/s all-reduce bus bandwidth across nodes; the ring model gives 4 x 200/8 x 0.94."""
    nbytes, n = 8e9, 16
    links = _links(intra_gbs=246.0, inter_gbs=4 * 25.0 / 8 * EFF.network_efficiency)
    t = collective_time(
        nbytes, n, kind="all_reduce", links=links, eff=_no_latency(), spans_nodes=True
    )
    bus_gbs = 2 * (n - 1) / n * nbytes / t / 1e9
    assert 85 <= bus_gbs <= 96


def test_dgx_h100_links():
    # 900 GB/s NVLink (bidirectional) -> 450 per direction x 0.82 = ~369 GB/s ring bus bandwidth
    # (nccl-tests #212: ~370); 8 x 400 Gb/s NDR shared by 8 GPUs x 0.94 = 47 GB/s per GPU.
    eff = EFF
    node = NodeSpec(
        name="toy-dgx",
        gpu="Toy Hopper",
        gpus_per_node=8,
        intra_link="NVLink4 (NVSwitch)",
        intra_bw_gbs=900,
        nics=8,
        nic_gbps=400,
        source="NVIDIA DGX H100 user guide",
    )
    links = make_links(
        gpu(), gpus_per_node=8, node=node, fabric=None, eff=eff, default_host_gbs=15.75
    )
    assert links.intra_gbs == pytest.approx(369, rel=0.01)
    assert links.inter_gbs == pytest.approx(47, rel=0.01)


def test_geforce_without_p2p_bounces_through_the_host():
    eff = EFF
    card = ada()
    links = make_links(
        card, gpus_per_node=2, node=None, fabric=None, eff=eff, default_host_gbs=15.75
    )
    assert links.intra_gbs == pytest.approx(card.host_link_gbs * eff.pcie_efficiency / 2)


def test_unknown_host_link_takes_the_default():
    links = make_links(
        gpu(host_link_gbs=None),
        gpus_per_node=1,
        node=None,
        fabric=None,
        eff=EFF,
        default_host_gbs=15.75,
    )
    assert links.host_gbs == pytest.approx(15.75 * EFF.pcie_efficiency)


def test_all_reduce_across_many_nodes_takes_the_tree_when_latency_bound():
    """NCCL 2.4 double binary trees: a small all-reduce over 1,024 nodes pays ~2 log2(1024)
    network hops, not the ring's 2 x 8,191 steps (Jeaugey 2019)."""
    links = _links(intra_step_us=3.4, inter_step_us=14.0)
    eff = EFF
    n = 8 * 1024
    small = collective_time(1e3, n, kind="all_reduce", links=links, eff=eff, spans_nodes=True)
    ring_latency = (eff.base_latency_us + 2 * (n - 1) * 14.0) * 1e-6
    assert small < ring_latency / 50
    rs = collective_time(1e3, n, kind="reduce_scatter", links=links, eff=eff, spans_nodes=True)
    assert rs > small  # reduce-scatter and all-gather stay rings
