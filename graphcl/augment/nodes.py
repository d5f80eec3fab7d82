"""Node dropping (GraphCL, You et al. 2020, sec. 3.1): each node is removed with
probability ``p`` together with all its incident edges.

Choice (default ``relabel=False``): the node count is kept. Dropped nodes become
isolated, their feature rows are zeroed, and ``node_mask`` (True = kept) is
attached; ``y``, ``train_mask`` etc. stay aligned with the original node ids, so
node-level contrastive losses can still pair node ``i`` across views.
``relabel=True`` removes the dropped nodes instead (``Data.subgraph``: ``x``,
``y``, masks and edge attributes are indexed consistently, edges relabeled).
"""
from __future__ import annotations

from typing import Any

import torch
from torch_geometric.data import Data, HeteroData

from .base import Augmenter, bernoulli_mask, check_edge_index, check_probability

__all__ = ["drop_nodes", "NodeDrop"]


def drop_nodes(edge_index: torch.Tensor, p: float, *, num_nodes: int | None = None,
               relabel: bool = False, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Drop each node with probability ``p``; return ``(edge_index, edge_mask,
    node_mask)`` where the masks mark kept edges / nodes. With ``relabel`` the
    kept nodes are renumbered ``0..k-1`` in their original order."""
    p = check_probability(p)
    n = check_edge_index(edge_index, num_nodes)
    node_mask = bernoulli_mask(p, n, edge_index.device, generator)
    edge_mask = node_mask[edge_index[0]] & node_mask[edge_index[1]]
    out = edge_index[:, edge_mask]
    if relabel:
        new_id = torch.cumsum(node_mask.long(), 0) - 1
        out = new_id[out].to(edge_index.dtype)
    return out, edge_mask, node_mask


def _zero_rows(x: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
    return x.masked_fill(~node_mask.view(-1, *([1] * (x.dim() - 1))), 0)


class NodeDrop(Augmenter):
    """Drop nodes with probability ``p`` (see the module docstring for ``relabel``).

    ``Data``: ``data.x`` (if any) has dropped rows zeroed, ``data.node_mask`` is
    attached, edge attributes follow the kept edges. ``HeteroData``: every node
    type is dropped independently; edges of every type follow their endpoints.
    A (2, E) tensor input returns the kept edges (not relabeled).
    """

    def __init__(self, p: float, relabel: bool = False, seed: int | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        self.p = check_probability(p)
        self.relabel = relabel

    def _extra_repr(self) -> str:
        return f"p={self.p}, relabel={self.relabel}"

    def _node_mask(self, num_nodes: int, device: torch.device) -> torch.Tensor:
        if num_nodes <= 0:
            raise ValueError("empty graph: it has no nodes")
        return bernoulli_mask(self.p, num_nodes, device, self.rng(device))

    def forward(self, data: Any) -> Any:
        if isinstance(data, HeteroData):
            masks = {t: self._node_mask(data[t].num_nodes, self._device(data)) for t in data.node_types}
            for store in data.edge_stores:
                src, _, dst = store._key
                check_edge_index(store.edge_index[:1].expand(2, -1), data[src].num_nodes)
                check_edge_index(store.edge_index[1:].expand(2, -1), data[dst].num_nodes)
            if self.relabel:
                return data.subgraph(masks)
            out = data.edge_subgraph({s._key: masks[s._key[0]][s.edge_index[0]]
                                      & masks[s._key[2]][s.edge_index[1]] for s in data.edge_stores})
            for t, m in masks.items():
                if "x" in out[t]:
                    out[t].x = _zero_rows(out[t].x, m)
                out[t].node_mask = m
            return out
        if isinstance(data, Data):
            if data.edge_index is None:
                raise ValueError("the Data object has no edge_index")
            n = check_edge_index(data.edge_index, data.num_nodes)
            node_mask = self._node_mask(n, data.edge_index.device)
            if self.relabel:
                return data.subgraph(node_mask)
            edge_mask = node_mask[data.edge_index[0]] & node_mask[data.edge_index[1]]
            out = data.edge_subgraph(edge_mask)
            if out.x is not None:
                out.x = _zero_rows(out.x, node_mask)
            out.node_mask = node_mask
            return out
        if isinstance(data, torch.Tensor):
            return drop_nodes(data, self.p, generator=self.rng(data.device))[0]
        raise TypeError(f"NodeDrop cannot handle {type(data).__name__}")

    @staticmethod
    def _device(data: HeteroData) -> torch.device:
        for store in data.stores:
            for value in store.values():
                if isinstance(value, torch.Tensor):
                    return value.device
        return torch.device("cpu")
