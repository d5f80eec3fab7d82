"""Communities and community strength (CSGCL, Chen et al., IJCAI 2023, sec. 3.2).

For a partition of an undirected graph with ``m`` edges, the strength of
community ``c`` is its share of the modularity (eq. 3):

    CS_c = L_c / m − (d_c / 2m)²

with ``L_c`` the number of edges inside ``c`` and ``d_c`` the degree sum of its
nodes. ``Σ_c CS_c`` is the modularity ``Q``. Edges are counted as in networkx:
the ``edge_index`` is read as an undirected simple graph (a pair listed in both
directions, or several times, is one edge; a self-loop is one edge adding 2 to
the degree of its node). ``CS_c`` can be negative.

Detection: Louvain (networkx, default here) or Leiden (the authors' default,
through ``leidenalg`` + ``igraph``, an optional extra). Communities are numbered
by decreasing size (ties: smallest node id first).
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from torch_geometric.data import Data

from .base import Augmenter, check_edge_index

__all__ = ["detect_communities", "community_strength", "undirected_pairs", "CommunityStrength"]


def undirected_pairs(edge_index: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct unordered pairs ``(a, b)``, ``a <= b``, of an edge list."""
    row, col = edge_index[0].long(), edge_index[1].long()
    key = torch.unique(torch.minimum(row, col) * num_nodes + torch.maximum(row, col))
    a = torch.div(key, num_nodes, rounding_mode="floor")
    return a, key - a * num_nodes


def _labels_from_sets(communities: list[Any], num_nodes: int) -> np.ndarray:
    """Label nodes by community, communities ordered by (−size, min node)."""
    comms = [np.fromiter(c, dtype=np.int64, count=len(c)) for c in communities]
    order = sorted(range(len(comms)), key=lambda k: (-comms[k].size, int(comms[k].min())))
    nodes = np.concatenate([comms[k] for k in order])
    labels = np.empty(num_nodes, dtype=np.int64)
    labels[nodes] = np.repeat(np.arange(len(order)), [comms[k].size for k in order])
    return labels


def _leiden(a: np.ndarray, b: np.ndarray, num_nodes: int, seed: int | None,
            resolution: float) -> list[list[int]]:
    try:
        import igraph
        import leidenalg
    except ImportError as err:
        raise ImportError("method='leiden' needs the optional packages 'leidenalg' and 'igraph' "
                          "(pip install leidenalg igraph); method='louvain' needs only networkx") from err
    graph = igraph.Graph(n=num_nodes, edges=np.stack([a, b], 1).tolist())
    part = leidenalg.find_partition(graph, leidenalg.RBConfigurationVertexPartition,
                                    resolution_parameter=resolution, seed=seed)
    return [list(c) for c in part]


def detect_communities(edge_index: torch.Tensor, num_nodes: int | None = None,
                       method: Literal["louvain", "leiden"] = "louvain", seed: int | None = 0,
                       resolution: float = 1.0) -> torch.Tensor:
    """Modularity-based partition; returns a LongTensor (num_nodes,) of community
    ids on the input's device (isolated nodes form singleton communities).

    ``louvain``: ``networkx.community.louvain_communities(seed=seed)``;
    ``leiden``: ``leidenalg`` with the RB-configuration (modularity) quality at
    ``resolution`` (1.0 = plain modularity, as the authors' ``cdlib`` call).
    """
    n = check_edge_index(edge_index, num_nodes, allow_empty=False)
    a, b = (t.cpu().numpy() for t in undirected_pairs(edge_index, n))
    if method == "louvain":
        import networkx as nx
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from(zip(a.tolist(), b.tolist()))
        communities = nx.community.louvain_communities(graph, resolution=resolution, seed=seed)
    elif method == "leiden":
        communities = _leiden(a, b, n, seed, resolution)
    else:
        raise ValueError(f"unknown community detection method '{method}': use 'louvain' or 'leiden'")
    return torch.from_numpy(_labels_from_sets(communities, n)).to(edge_index.device)


def community_strength(edge_index: torch.Tensor, community: torch.Tensor,
                       num_nodes: int | None = None, dtype: torch.dtype = torch.float32
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(CS per community, CS per node)`` with ``CS_c = L_c/m − (d_c/2m)²``
    (CSGCL eq. 3), computed in float64 with ``bincount`` and cast to ``dtype``.
    Communities are ``0..community.max()``; an empty id gets strength 0."""
    n = num_nodes if num_nodes is not None else community.numel()
    n = check_edge_index(edge_index, n, allow_empty=False)
    if community.dim() != 1 or community.numel() != n:
        raise ValueError(f"community must have one id per node ({n}), got shape {tuple(community.shape)}")
    if community.dtype.is_floating_point or int(community.min()) < 0:
        raise ValueError("community ids must be non-negative integers")
    community = community.to(edge_index.device).long()
    k = int(community.max()) + 1
    a, b = undirected_pairs(edge_index, n)
    m = float(a.numel())
    deg = (torch.bincount(a, minlength=n) + torch.bincount(b, minlength=n)).double()
    d_c = torch.zeros(k, dtype=torch.float64, device=deg.device).index_add_(0, community, deg)
    ca, cb = community[a], community[b]
    l_c = torch.bincount(ca[ca == cb], minlength=k).double()
    cs = l_c / m - (d_c / (2.0 * m)) ** 2
    return cs.to(dtype), cs[community].to(dtype)


class CommunityStrength(Augmenter):
    """Attach ``data.community`` (ids), ``data.community_strength`` (``CS`` of
    each node's community) and ``data.cs_per_community`` to a ``Data``.

    Deterministic (no random draws besides the detection ``seed``). When
    ``data.community`` is already present it is reused unless ``redetect``.
    """

    def __init__(self, method: Literal["louvain", "leiden"] = "louvain", seed: int | None = 0,
                 resolution: float = 1.0, redetect: bool = False) -> None:
        super().__init__(None)
        if method not in ("louvain", "leiden"):
            raise ValueError(f"unknown community detection method '{method}': use 'louvain' or 'leiden'")
        self.method, self.detect_seed, self.resolution, self.redetect = method, seed, resolution, redetect

    def _extra_repr(self) -> str:
        return f"method='{self.method}', seed={self.detect_seed}"

    def forward(self, data: Any) -> Any:
        if not isinstance(data, Data):
            raise TypeError(f"CommunityStrength needs a torch_geometric Data, got {type(data).__name__}")
        if data.edge_index is None:
            raise ValueError("the Data object has no edge_index")
        n = check_edge_index(data.edge_index, data.num_nodes, allow_empty=False)
        community = getattr(data, "community", None)
        if community is None or self.redetect:
            community = detect_communities(data.edge_index, n, self.method, self.detect_seed,
                                           self.resolution)
        cs_comm, cs_node = community_strength(data.edge_index, community, n)
        data.community, data.community_strength, data.cs_per_community = community, cs_node, cs_comm
        return data
