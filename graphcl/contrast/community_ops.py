"""CSGCL's communal edge dropping as a view operation, on node and user-item graphs.

``communal_edge_drop`` ``{p, threshold: 1.0, method: louvain, seed: 0}`` (Chen et al. IJCAI 2023,
eq. 3-5): communities of the input graph (``method`` louvain or leiden, seeded), community
strength CS_c = L_c/m − (d_c/2m)², per-edge weights w_e = CS_c inside community c and
−(CS_ci + CS_cj) across, min-max normalized, keep_e = clamp(w_e / mean(w) · (1 − p), 1 − threshold, 1)
(:func:`graphcl.augment.ced_keep_probs`); edge e is kept when u_e < keep_e. Computed once in
``prepare`` on the input graph. On a user-item graph the communities are those of the
(U + I)-node bipartite graph and each (user, item) pair is one edge — the composition "CED on
LightGCN" that no anchor library offers.
"""
from __future__ import annotations

from typing import Any

import torch

from graphcl.augment import ced_keep_probs, community_strength, detect_communities
from graphcl.augment.base import check_probability, uniform
from graphcl.contrast.interaction_view import InteractionView
from graphcl.contrast.view_ops import ViewOp, register_view_op

__all__ = ["CommunalEdgeDropOp"]


def _edges_of(view) -> tuple[torch.Tensor, int]:
    """(edge_index over the view's nodes, node count); a user-item view's pairs become user -> U + item."""
    if isinstance(view, InteractionView):
        return torch.stack([view.pairs[0], view.pairs[1] + view.num_users]), view.num_nodes
    return view.edge_index, view.num_nodes


class CommunalEdgeDropOp(ViewOp):
    name = "communal_edge_drop"
    graph_kinds = frozenset({"node", "interaction"})

    def __init__(self, p: float, threshold: float = 1.0, method: str = "louvain", seed: int = 0) -> None:
        self.p = check_probability(p)
        self.threshold = check_probability(threshold, "threshold")
        if method not in ("louvain", "leiden"):
            raise ValueError(f"method must be 'louvain' or 'leiden', got {method!r}")
        self.method, self.seed = method, int(seed)
        self._keep: torch.Tensor | None = None
        self._for: torch.Tensor | None = None

    def params(self) -> dict[str, Any]:
        return {"p": self.p, "threshold": self.threshold, "method": self.method, "seed": self.seed}

    @property
    def keep_probs(self) -> torch.Tensor | None:
        """Each edge's (pair's) keep probability on the prepared graph (None before ``prepare``)."""
        return self._keep

    def prepare(self, view) -> None:
        edge_index, n = _edges_of(view)
        both = torch.cat([edge_index, edge_index.flip(0)], 1) if isinstance(view, InteractionView) else edge_index
        community = detect_communities(both, n, method=self.method, seed=self.seed)
        cs_community, _ = community_strength(both, community, n)
        self._keep = ced_keep_probs(edge_index, community, cs_community, self.p, self.threshold)
        self._for = view.pairs if isinstance(view, InteractionView) else view.edge_index

    def __call__(self, view, generator: torch.Generator | None):
        current = view.pairs if isinstance(view, InteractionView) else view.edge_index
        if current is not self._for:
            self.prepare(view)
        keep = uniform(self._keep.numel(), current.device, generator) < self._keep.to(current.device)
        if isinstance(view, InteractionView):
            return view.replace(pairs=view.pairs[:, keep])
        weight = None if view.edge_weight is None else view.edge_weight[keep]
        return view.replace(edge_index=view.edge_index[:, keep], edge_weight=weight)


register_view_op(CommunalEdgeDropOp)
