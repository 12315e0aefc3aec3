"""Collective communication: ring algorithms on the node's links and the inter-node fabric.

NCCL's ring all-reduce moves ``2 (n-1)/n x S`` bytes through each GPU's link; reduce-scatter and
all-gather ``(n-1)/n x S`` (Thakur et al. 2005; nccl-tests "bus bandwidth" definition). A group
inside one node runs at the intra-node bus bandwidth. A group that spans nodes runs NCCL's rings
one per NIC (a channel per NIC, each ring crossing NVLink inside a node and one NIC between
nodes), so its bus bandwidth is the NIC bandwidth of the group's GPUs in one node, capped by the
intra-node bus bandwidth: nccl-tests on 8 x A100 nodes with 4 x HDR (100 GB/s per node) measure
85-96 GB/s all-reduce bus bandwidth across nodes (nccl-tests issue #119), not the 12.5 GB/s of
one GPU's share. A data-parallel group that holds one GPU per node (tensor parallel filling the
node) gets one GPU's share. Latency follows NCCL's own model (src/graph/tuning.cc): a base cost
plus a per-step cost for each of the ring's steps, the network's for the steps that cross a node
boundary and the node's for the rest; an all-reduce across nodes takes NCCL's tree when its
log-depth latency is lower.
"""

from __future__ import annotations

import math

from traintime.specs import Efficiency, FabricSpec, GpuSpec, Links, NodeSpec
from traintime.units import GB, US

_FACTOR = {"all_reduce": 2.0, "reduce_scatter": 1.0, "all_gather": 1.0}


def collective_time(
    nbytes: float,
    n: int,
    *,
    kind: str,
    links: Links,
    eff: Efficiency,
    spans_nodes: bool,
    per_node: int | None = None,
) -> float:
    """Seconds for one ring collective of ``nbytes`` over ``n`` GPUs, ``per_node`` of them in
    each node (default: a whole node's GPUs) when the group spans nodes."""
    if n <= 1 or nbytes <= 0:
        return 0.0
    factor = _FACTOR[kind]
    steps = factor * (n - 1)
    if spans_nodes and links.inter_gbs:
        in_node = max(1, min(per_node or links.gpus_per_node, links.gpus_per_node, n))
        bw = min(links.intra_gbs, in_node * links.inter_gbs)
        # NCCL's ring latency: the steps that cross a node boundary pay the network's per-step
        # latency, the others the node's (tuning.cc, nInterSteps = nNodes - 1 per pass)
        inter = factor * (math.ceil(n / in_node) - 1)
        latency = (
            eff.base_latency_us
            + (steps - inter) * links.intra_step_us
            + inter * links.inter_step_us
        )
    else:
        bw = links.intra_gbs
        latency = eff.base_latency_us + steps * links.intra_step_us
    if kind == "all_reduce" and spans_nodes:
        latency = min(latency, _tree_latency_us(n, links, eff))
    return factor * (n - 1) / n * nbytes / (bw * GB) + latency * US


def _tree_latency_us(n: int, links: Links, eff: Efficiency) -> float:
    """NCCL's double binary tree all-reduce across nodes: up and down a chain of the node's
    GPUs and a tree of depth log2(nodes) between them, instead of the ring's 2(n-1) steps;
    NCCL picks it when it is faster (latency-bound sizes, many nodes). Its bandwidth term
    matches the ring's (Jeaugey 2019, NVIDIA blog "Massively Scale Your Deep Learning Training
    with NCCL 2.4"; NCCL src/graph/tuning.cc)."""
    per_node = max(1, min(links.gpus_per_node, n))
    nodes = max(1, -(-n // per_node))
    depth = max(1, math.ceil(math.log2(nodes))) if nodes > 1 else 0
    hops = (per_node - 1) * links.intra_step_us + depth * links.inter_step_us
    return eff.base_latency_us + 2 * hops


def _p2p_capable(gpu: GpuSpec) -> bool:
    # GeForce cards since Ampere have no supported PCIe peer-to-peer: traffic bounces through
    # host memory (NCCL needs NCCL_P2P_DISABLE=1 on multi-4090 boxes; nccl-tests issue #117).
    return gpu.device_class != "geforce"


def make_links(
    gpu: GpuSpec,
    *,
    gpus_per_node: int,
    node: NodeSpec | None,
    fabric: FabricSpec | None,
    eff: Efficiency,
    default_host_gbs: float,
) -> Links:
    """The links collectives see, from a node preset when one matches, else from the GPU
    (``default_host_gbs`` when the GPU's PCIe link is unknown)."""
    host = (gpu.host_link_gbs or default_host_gbs) * eff.pcie_efficiency
    if node is not None and gpus_per_node <= node.gpus_per_node:
        nvlink = "nvlink" in node.intra_link.lower()
        intra = node.intra_bw_gbs / 2 * (eff.nvlink_efficiency if nvlink else eff.pcie_efficiency)
        if not node.p2p:
            intra /= 2
        step = eff.nvlink_step_us if nvlink else eff.pcie_step_us
        described = f"{node.name}: {node.intra_link}"
    elif gpu.scaleup_bw_gbs and (
        "bridge" not in (gpu.scaleup_type or "").lower() or gpus_per_node <= 2
    ):
        intra = gpu.scaleup_bw_gbs / 2 * eff.nvlink_efficiency
        step, described = eff.nvlink_step_us, f"{gpu.scaleup_type}"
    else:
        intra = host if _p2p_capable(gpu) else host / 2
        step, described = eff.pcie_step_us, f"PCIe {gpu.pcie_gen or 3}.0 x{gpu.pcie_lanes or 16}"
    inter, inter_step = None, 0.0
    if node is not None and node.network_gbps:
        inter = node.network_gbps / 8 / node.gpus_per_node * eff.network_efficiency
        inter_step = eff.network_step_us if fabric is None else fabric.latency_us
    elif fabric is not None:
        inter = fabric.port_gbps / 8 / gpus_per_node * eff.network_efficiency
        inter_step = fabric.latency_us
    return Links(
        gpus_per_node=gpus_per_node,
        intra_gbs=intra,
        intra_step_us=step,
        inter_gbs=inter,
        inter_step_us=inter_step,
        host_gbs=host,
        description=described,
    )


def expert_exchange_time(
    tokens: float,
    *,
    top_k: int,
    token_bytes: float,
    load: float,
    ep: int,
    dispatcher: str,
    links: Links,
    eff: Efficiency,
    per_node: int,
) -> float:
    """One dispatch (or combine) of an MoE layer over ``ep`` expert-parallel ranks, ``per_node``
    of them in each node. Each GPU sends its ``tokens x top_k`` copies (``token_bytes`` each)
    to the ranks holding their experts, an even ``1/ep`` share each under balanced routing; the
    busiest rank receives ``load`` times that. Copies for ranks in the node cross NVLink (or
    PCIe) at the node's bus bandwidth, those for other nodes the GPU's share of the NICs; both
    run at once.

    * ``alltoall`` (NCCL): every copy travels on its own.
    * ``deepep`` (DeepEP, Megatron's flex dispatcher): a token crosses the network once per
      destination node and is forwarded inside it over NVLink (DeepEP README: "removes
      redundant tokens during cross-node communication"); with uniform routing over ``N``
      nodes a token reaches ``(N-1)(1-(1-1/N)^k)`` other nodes on average.
    * ``allgather``: every rank gathers all tokens of the group (Megatron's allgather
      dispatcher), a ring all-gather of ``ep x tokens`` (and a reduce-scatter to combine).
    """
    if ep <= 1 or tokens <= 0:
        return 0.0
    in_node = max(1, min(ep, per_node))
    spans = ep > in_node
    if dispatcher == "allgather":
        return collective_time(
            ep * tokens * token_bytes,
            ep,
            kind="all_gather",
            links=links,
            eff=eff,
            spans_nodes=spans,
            per_node=in_node,
        )
    copies = tokens * top_k * token_bytes * load
    inside = copies * (in_node - 1) / ep
    across = copies * (ep - in_node) / ep
    if dispatcher == "deepep" and spans:
        nodes = math.ceil(ep / in_node)
        reached = (nodes - 1) * (1 - (1 - 1 / nodes) ** top_k)
        across = tokens * token_bytes * load * reached
    seconds = inside / (links.intra_gbs * GB)
    latency = eff.base_latency_us + links.intra_step_us
    if across:
        inter = links.inter_gbs or links.intra_gbs
        seconds = max(seconds, across / (inter * GB))
        latency = eff.base_latency_us + links.inter_step_us
    return seconds + latency * US
