"""CSGCL's community-strength views as view operations (Chen et al., IJCAI 2023).

Both operations detect communities of the input graph once, in ``prepare`` (``method``
louvain or leiden; ``seed`` the detection's seed, None: the run's seed, as the authors'
code seeds it), and compute the community strength CS_c = L_c/m − (d_c/2m)² (eq. 3),
CS_i = CS_{c(i)} per node (:func:`community_structure`).

* ``communal_edge_drop`` ``{p, threshold: 1.0, method: louvain, seed: null}`` (CED, eq. 4-5):
  per-edge weights w_e = CS_c inside community c and −(CS_ci + CS_cj) across, min-max
  normalized, keep_e = clamp(w_e / mean(w) · (1 − p), 1 − threshold, 1)
  (:func:`graphcl.augment.ced_keep_probs`); edge e is kept when u_e < keep_e. On a user-item
  graph the communities are those of the (U + I)-node bipartite graph and each (user, item)
  pair is one edge — the composition "CED on LightGCN" that no anchor library offers. A view
  whose edges are not the prepared graph's (an earlier operation changed them) is prepared
  again on its own edges.
* ``communal_attribute_voting`` ``{p, threshold: 1.0, method: louvain, seed: null}`` (CAV,
  eq. 6-7): column weights w_j = Σ_i |x_ij| CS_i, s_j = log w_j, drop probability
  p_j = min((s_max − s_j)/(s_max − s_min) / mean · p, threshold)
  (:func:`graphcl.augment.cav_drop_probs`), computed once on the prepared (input) graph;
  column j of X is zeroed when u_j < p_j. Node graphs only (a user-item graph has no features). ``threshold`` 1.0 is the authors' CLI value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from graphcl.augment import cav_drop_probs, ced_keep_probs, community_strength, detect_communities
from graphcl.augment.base import bernoulli_mask, check_probability, uniform
from graphcl.augment.features import apply_column_mask
from graphcl.contrast.interaction_view import InteractionView
from graphcl.contrast.view_ops import ViewOp, register_view_op

__all__ = ["CommunityStructure", "community_structure", "CommunalEdgeDropOp", "CommunalAttributeVotingOp"]

COMMUNITY_METHODS = ("louvain", "leiden")


@dataclass(frozen=True)
class CommunityStructure:
    """A graph's partition and strengths: ``community`` (N,), ``cs_community`` (C,),
    ``cs_node`` (N,) = CS of each node's community, ``edge_index`` the (directed) edges it
    was computed on (a user-item view's pairs as user -> U + item)."""

    community: torch.Tensor
    cs_community: torch.Tensor
    cs_node: torch.Tensor
    edge_index: torch.Tensor


def check_community_method(method: str) -> str:
    if method not in COMMUNITY_METHODS:
        raise ValueError(f"method must be 'louvain' or 'leiden', got {method!r}")
    return method


def community_structure(view: Any, method: str = "louvain", seed: int = 0) -> CommunityStructure:
    """Communities (seeded) and strengths (eq. 3) of a node or user-item view's graph."""
    if isinstance(view, InteractionView):
        edge_index, n = torch.stack([view.pairs[0], view.pairs[1] + view.num_users]), view.num_nodes
        both = torch.cat([edge_index, edge_index.flip(0)], 1)
    else:
        edge_index, n = view.edge_index, view.num_nodes
        both = edge_index
    community = detect_communities(both, n, method=check_community_method(method), seed=seed)
    cs_community, cs_node = community_strength(both, community, n)
    return CommunityStructure(community, cs_community.float(), cs_node.float(), edge_index)


class CommunityOp(ViewOp):
    """Shared parameters of the community-strength operations."""

    def __init__(self, p: float, threshold: float = 1.0, method: str = "louvain", seed: int | None = None) -> None:
        self.p = check_probability(p)
        self.threshold = check_probability(threshold, "threshold")
        self.method = check_community_method(method)
        self.seed = None if seed is None else int(seed)

    @property
    def detection_seed(self) -> int:
        """The seed community detection uses: ``seed``, or the run's when it is None."""
        return self.run_seed if self.seed is None else self.seed

    def params(self) -> dict[str, Any]:
        return {"p": self.p, "threshold": self.threshold, "method": self.method, "seed": self.seed}


class CommunalEdgeDropOp(CommunityOp):
    name = "communal_edge_drop"
    graph_kinds = frozenset({"node", "interaction"})

    def __init__(self, p: float, threshold: float = 1.0, method: str = "louvain", seed: int | None = None) -> None:
        super().__init__(p, threshold, method, seed)
        self._keep: torch.Tensor | None = None
        self._for: torch.Tensor | None = None

    @property
    def keep_probs(self) -> torch.Tensor | None:
        """Each edge's (pair's) keep probability on the prepared graph (None before ``prepare``)."""
        return self._keep

    def prepare(self, view) -> None:
        structure = community_structure(view, self.method, self.detection_seed)
        self._keep = ced_keep_probs(structure.edge_index, structure.community, structure.cs_community,
                                    self.p, self.threshold)
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


class CommunalAttributeVotingOp(CommunityOp):
    name = "communal_attribute_voting"
    graph_kinds = frozenset({"node"})

    def __init__(self, p: float, threshold: float = 1.0, method: str = "louvain", seed: int | None = None) -> None:
        super().__init__(p, threshold, method, seed)
        self._drop: torch.Tensor | None = None

    def check_graph_kind(self, kind: str) -> str | None:
        if kind == "interaction":
            return f"{self.name} zeroes feature columns: a user-item graph has no features"
        return super().check_graph_kind(kind)

    @property
    def drop_probs(self) -> torch.Tensor | None:
        """Each feature column's drop probability on the prepared graph (None before ``prepare``)."""
        return self._drop

    def prepare(self, view) -> None:
        structure = community_structure(view, self.method, self.detection_seed)
        self._drop = cav_drop_probs(view.x, structure.cs_node, self.p, self.threshold)

    def __call__(self, view, generator: torch.Generator | None):
        if self._drop is None:
            self.prepare(view)
        if view.x.size(1) != self._drop.numel():
            raise ValueError(f"{self.name} was prepared on {self._drop.numel()} feature columns, the view has "
                             f"{view.x.size(1)}")
        columns = bernoulli_mask(self._drop.to(view.x.device), view.x.size(1), view.x.device, generator)
        return view.replace(x=apply_column_mask(view.x, columns))


register_view_op(CommunalEdgeDropOp)
register_view_op(CommunalAttributeVotingOp)
