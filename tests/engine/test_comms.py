"""Ring collectives: 2(n-1)/n x S for all-reduce, (n-1)/n x S otherwise (nccl-tests bus
bandwidth definition), plus NCCL's latency model."""

import pytest

from traintime.catalog import efficiency, find_gpu, find_system
from traintime.engine.comms import collective_time, make_links
from traintime.specs import Links


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
    return efficiency().model_copy(update={"base_latency_us": 0.0})


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
        collective_time(
            1e9, 1, kind="all_reduce", links=_links(), eff=efficiency(), spans_nodes=False
        )
        == 0.0
    )


def test_spanning_nodes_uses_the_slower_fabric():
    kw = {"kind": "all_reduce", "links": _links(), "eff": _no_latency()}
    assert collective_time(1e9, 16, spans_nodes=True, **kw) == pytest.approx(
        10 * collective_time(1e9, 16, spans_nodes=False, **kw)
    )


def test_dgx_h100_links():
    # 900 GB/s NVLink (bidirectional) -> 450 per direction x 0.82 = ~369 GB/s ring bus bandwidth
    # (nccl-tests #212: ~370); 8 x 400 Gb/s NDR shared by 8 GPUs x 0.94 = 47 GB/s per GPU.
    eff = efficiency()
    node = find_system("dgx-h100")
    links = make_links(find_gpu("h100"), gpus_per_node=8, node=node, fabric=None, eff=eff)
    assert links.intra_gbs == pytest.approx(369, rel=0.01)
    assert links.inter_gbs == pytest.approx(47, rel=0.01)


def test_geforce_without_p2p_bounces_through_the_host():
    eff = efficiency()
    gpu = find_gpu("4090")
    links = make_links(gpu, gpus_per_node=2, node=None, fabric=None, eff=eff)
    assert links.intra_gbs == pytest.approx(gpu.host_link_gbs * eff.pcie_efficiency / 2)
