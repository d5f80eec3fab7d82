"""Edge dropping: uniform (GRACE / GraphCL) and adaptive (GCA degree centrality).

``drop_edges`` keeps edge ``e`` when ``u_e >= p_e`` with ``u_e ~ U[0, 1)``, so
``p = 0`` keeps every edge and ``p = 1`` none. With ``undirected=True`` one draw
is shared by an edge and its reverse (and by duplicates of the same pair), so an
undirected graph stays undirected.

GCA (Zhu et al., WWW 2021, eq. 14-16 and its degree centrality): with ``φ_c`` the
degree of the target node in the undirected graph, ``s_e = log φ_c(v)``,
``w_e = (s_max − s_e) / (s_max − μ_s)``, and the drop probability
``p_e = min(w_e / mean(w) · p, p_τ)`` (``p_τ`` the threshold, 0.7 in GCA).
"""
from __future__ import annotations

from typing import Any, Literal

import torch
from torch_geometric.data import Data, HeteroData
from torch_geometric.utils import is_undirected

from ..sparse import SparseGraph
from .base import Augmenter, check_edge_index, check_probability, uniform

__all__ = ["drop_edges", "degree_drop_weights", "weighted_drop_probs", "EdgeDrop", "pair_keys"]


def pair_keys(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Index of the unordered pair ``{u, v}`` of each edge (reverse edges share it)."""
    row, col = edge_index[0].long(), edge_index[1].long()
    key = torch.minimum(row, col) * num_nodes + torch.maximum(row, col)
    return torch.unique(key, return_inverse=True)[1]


def _check_probs(probs: torch.Tensor, num_edges: int, name: str = "edge_probs") -> torch.Tensor:
    if not isinstance(probs, torch.Tensor) or probs.dim() != 1 or probs.numel() != num_edges:
        shape = tuple(probs.shape) if isinstance(probs, torch.Tensor) else type(probs).__name__
        raise ValueError(f"{name} must be a 1-D tensor with one entry per edge ({num_edges}), got {shape}")
    if probs.numel() and (bool(torch.isnan(probs).any()) or float(probs.min()) < 0
                          or float(probs.max()) > 1):
        raise ValueError(f"{name} must hold probabilities in [0, 1] (no NaN)")
    return probs


def drop_edges(edge_index: torch.Tensor, p: float, *, num_nodes: int | None = None,
               edge_probs: torch.Tensor | None = None, undirected: bool = False,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop each edge with probability ``p`` (or ``edge_probs[e]``); return the
    kept ``edge_index`` and the boolean keep mask over the input edges.

    ``edge_probs``: per-edge drop probabilities that replace ``p`` (``p`` is still
    validated); see :func:`weighted_drop_probs`. With ``undirected`` an edge and
    its reverse share one draw and the mean of their ``edge_probs``.
    """
    p = check_probability(p)
    n = check_edge_index(edge_index, num_nodes)
    num_edges, device = edge_index.size(1), edge_index.device
    probs: torch.Tensor | float = p
    if edge_probs is not None:
        probs = _check_probs(edge_probs, num_edges).to(device=device, dtype=torch.float32)
    if undirected and num_edges:
        inverse = pair_keys(edge_index, n)
        num_pairs = int(inverse.max()) + 1
        draws = uniform(num_pairs, device, generator)[inverse]
        if isinstance(probs, torch.Tensor):
            total = torch.zeros(num_pairs, device=device).index_add_(0, inverse, probs)
            count = torch.bincount(inverse, minlength=num_pairs).clamp_min(1)
            probs = (total / count)[inverse]
    else:
        draws = uniform(num_edges, device, generator)
    keep = draws >= probs
    return edge_index[:, keep], keep


def degree_drop_weights(edge_index: torch.Tensor, num_nodes: int | None = None) -> torch.Tensor:
    """GCA degree-centrality weights ``w_e = (s_max − s_e)/(s_max − μ_s)``, ``s_e =
    log deg(target of e)`` on the undirected version of the graph (mean 1).

    All-equal degrees (``s_max = μ_s``, a 0/0 in GCA's code) give ``w = 1``.
    """
    n = check_edge_index(edge_index, num_nodes)
    if edge_index.size(1) == 0:
        return torch.zeros(0, device=edge_index.device)
    row, col = edge_index[0].long(), edge_index[1].long()
    both = torch.unique(torch.cat([row * n + col, col * n + row]))
    deg = torch.bincount(both % n, minlength=n).float()
    s = torch.log(deg[col])
    s_max, s_mean = s.max(), s.mean()
    if float(s_max - s_mean) <= 0:
        return torch.ones_like(s)
    return (s_max - s) / (s_max - s_mean)


def weighted_drop_probs(weights: torch.Tensor, p: float, threshold: float = 0.7) -> torch.Tensor:
    """GCA eq. 16: ``p_e = min(w_e / mean(w) · p, threshold)`` (and ``>= 0``)."""
    p = check_probability(p)
    threshold = check_probability(threshold, "threshold")
    if weights.numel() == 0:
        return weights.float()
    if bool(torch.isnan(weights).any()) or float(weights.min()) < 0:
        raise ValueError("weights must be non-negative and not NaN")
    mean = weights.float().mean()
    if float(mean) == 0:
        return torch.zeros_like(weights, dtype=torch.float32)
    return (weights.float() / mean * p).clamp(0.0, threshold)


class EdgeDrop(Augmenter):
    """Drop edges with probability ``p`` (GRACE / GraphCL edge perturbation).

    Args:
        p: drop probability (with ``edge_probs="degree"``: the mean drop rate).
        undirected: drop an edge and its reverse together; ``None`` detects it
            per graph with ``torch_geometric.utils.is_undirected``.
        edge_probs: ``None`` (uniform), ``"degree"`` (GCA degree centrality,
            capped at ``threshold``) or a tensor of per-edge drop probabilities.
        threshold: cap of the adaptive drop probabilities (GCA ``p_τ``).

    Works on ``Data`` (edge attributes such as ``edge_attr``/``edge_weight``
    follow through ``Data.edge_subgraph``), ``HeteroData`` (each edge type),
    a (2, E) edge / user-item pair tensor (returns the kept columns) and a
    :class:`SparseGraph` (``SparseGraph.drop_edges``; mirrors stay together).
    """

    def __init__(self, p: float, undirected: bool | None = None,
                 edge_probs: Literal["degree"] | torch.Tensor | None = None, threshold: float = 0.7,
                 seed: int | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        self.p = check_probability(p)
        self.threshold = check_probability(threshold, "threshold")
        if isinstance(edge_probs, str) and edge_probs != "degree":
            raise ValueError(f"unknown edge_probs '{edge_probs}': use 'degree', a tensor or None")
        self.undirected, self.edge_probs = undirected, edge_probs

    def _extra_repr(self) -> str:
        return f"p={self.p}"

    def _drop(self, edge_index: torch.Tensor, num_nodes: int | None, square: bool = True
              ) -> tuple[torch.Tensor, torch.Tensor]:
        n = check_edge_index(edge_index, num_nodes)
        undirected = self.undirected
        if undirected is None:
            undirected = square and bool(is_undirected(edge_index, num_nodes=n))
        probs = None
        if isinstance(self.edge_probs, torch.Tensor):
            probs = self.edge_probs
        elif self.edge_probs == "degree":
            probs = weighted_drop_probs(degree_drop_weights(edge_index, n), self.p, self.threshold)
        return drop_edges(edge_index, self.p, num_nodes=n, edge_probs=probs, undirected=undirected,
                          generator=self.rng(edge_index.device))

    def forward(self, data: Any) -> Any:
        if isinstance(data, HeteroData):
            subsets = {}
            for store in data.edge_stores:
                src, _, dst = store._key
                n_src, n_dst = data[src].num_nodes, data[dst].num_nodes
                check_edge_index(store.edge_index[:1].expand(2, -1), n_src)
                check_edge_index(store.edge_index[1:].expand(2, -1), n_dst)
                subsets[store._key] = self._drop(store.edge_index, max(n_src, n_dst),
                                                 square=src == dst)[1]
            return data.edge_subgraph(subsets)
        if isinstance(data, Data):
            if data.edge_index is None:
                raise ValueError("the Data object has no edge_index")
            return data.edge_subgraph(self._drop(data.edge_index, data.num_nodes)[1])
        if isinstance(data, SparseGraph):
            if self.edge_probs is not None:
                raise ValueError("edge_probs is not supported on a SparseGraph; use the edge list")
            return data.drop_edges(self.p, generator=self.rng(data.device))
        if isinstance(data, torch.Tensor):
            return self._drop(data, None)[0]
        raise TypeError(f"EdgeDrop cannot handle {type(data).__name__}")
