"""View operations: the augmenters of :mod:`graphcl.augment` as steps of a contrastive view.

An operation takes a :class:`~graphcl.contrast.graph_view.GraphView` and the step's
``torch.Generator`` and returns a new view; ``prepare(view)`` is called once on the
input graph before training, for per-graph precomputations (GCA's degree weights).
Each operation names the graph kinds it applies to (``graph_kinds``); a view built for
another kind is refused when the pipeline is built. Operations are looked up by name
(``edge_drop``, ``feature_mask``, ``node_drop``, ``centrality_edge_drop``,
``centrality_feature_mask``, ``feature_shuffle``) from
:data:`VIEW_OPS`; a third party adds its own with :func:`register_view_op`.

Equations (p the drop/mask probability, u ~ U[0, 1) per draw from the generator):

* ``edge_drop`` (GRACE, GraphCL; SGL's ED on a user-item graph): edge e is kept when
  u_e >= p; ``undirected``: an edge and its reverse share one draw; ``exact`` (interaction
  graphs): exactly ⌊E(1 − p)⌋ pairs kept, as SGL's code (:mod:`graphcl.augment.interactions`).
* ``feature_mask`` (GRACE): column j of X is zeroed when u_j < p (one draw per column,
  shared by all nodes).
* ``node_drop`` (GraphCL sec. 3.1; SGL's ND): node i is isolated (its edges removed, its
  feature row zeroed) when u_i < p; the node count is kept so views stay aligned. On a
  user-item graph users and items are dropped alike (``exact``: ⌊U p⌋ users, ⌊I p⌋ items).
* ``centrality_edge_drop`` (GCA, Zhu et al. WWW 2021, eq. 14-16; ``centrality`` degree,
  pagerank or eigenvector): s_e = log φ_c(target of e), w_e = (s_max − s_e)/(s_max − mean s),
  p_e = min(w_e / mean(w) · p, threshold); edge e is kept when u_e >= p_e. The weights are
  the input graph's (computed once in ``prepare``). ``teleport``: ``code`` (GCA's code, a lazy
  random walk) or ``uniform`` (the paper's PageRank); see :func:`graphcl.augment.centrality.pagerank`.
  On a user-item graph (a composition no anchor offers) the pairs are the undirected edges
  of the bipartite user+item graph and a pair drops with the mean of its two directions'
  p_e (:func:`graphcl.augment.centrality.interaction_drop_probs`).
* ``centrality_feature_mask`` (GCA eq. 17-19): w_j = Σ_u [x_uj ≠ 0] φ_c(u) (``dense``:
  |x_uj|), s_j = log w_j, normalized as above; column j is zeroed with probability
  min(w_j / mean(w) · p, threshold). See :mod:`graphcl.augment.centrality`.
* ``feature_shuffle`` (DGI's corruption, Veličković et al. 2019 sec. 3.4): the rows of X
  permuted (x̃_i = x_π(i), π uniform from the generator), edges kept: each node gets another
  node's features.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar

import torch

from graphcl.augment import drop_edges, drop_nodes, mask_feature_columns, weighted_drop_probs
from graphcl.augment.centrality import (CENTRALITIES, centrality_edge_weights, feature_drop_weights,
                                        interaction_drop_probs, mask_features_weighted, node_centrality,
                                        weighted_feature_probs)
from graphcl.augment.base import check_probability
from graphcl.augment.interactions import drop_interaction_nodes, drop_interactions
from graphcl.contrast.graph_view import GRAPH_KINDS, GraphView
from graphcl.contrast.interaction_view import InteractionView

__all__ = ["ViewOp", "EdgeDropOp", "FeatureMaskOp", "NodeDropOp", "CentralityEdgeDropOp",
           "CentralityFeatureMaskOp", "FeatureShuffleOp", "permute_rows", "VIEW_OPS", "register_view_op"]


class ViewOp:
    """Base of the view operations: ``op(view, generator) -> view``."""

    #: the registry name
    name: ClassVar[str] = ""
    #: the graph kinds (:data:`~graphcl.contrast.graph_view.GRAPH_KINDS`) it applies to
    graph_kinds: ClassVar[frozenset[str]] = frozenset({"node"})
    #: the run's seed, for operations whose own ``seed`` is None (set by the pipeline's
    #: ``prepare``; 0 outside a run)
    run_seed: int = 0

    def check_graph_kind(self, kind: str) -> str | None:
        """Why the operation, as parameterized, has no meaning on a ``kind`` graph (None: it has)."""
        if kind not in self.graph_kinds:
            return f"{self.name} applies to {' and '.join(sorted(self.graph_kinds))} graphs, not to a {kind} graph"
        return None

    def prepare(self, view: GraphView) -> None:
        """Precompute what depends only on the input graph (called once, before training)."""

    def __call__(self, view: GraphView, generator: torch.Generator | None) -> GraphView:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The operation's parameters, as written in a config."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def _drop_weights(view: GraphView, keep: torch.Tensor) -> torch.Tensor | None:
    return None if view.edge_weight is None else view.edge_weight[keep]


class EdgeDropOp(ViewOp):
    name = "edge_drop"
    graph_kinds = frozenset({"node", "interaction"})

    def __init__(self, p: float, undirected: bool = False, exact: bool = False) -> None:
        self.p = check_probability(p)
        self.undirected = bool(undirected)
        self.exact = bool(exact)

    def params(self) -> dict[str, Any]:
        return {"p": self.p, "undirected": self.undirected, "exact": self.exact}

    def check_graph_kind(self, kind: str) -> str | None:
        if kind == "node" and self.exact:
            return "exact (a fixed number of kept edges) applies to interaction graphs only"
        return super().check_graph_kind(kind)

    def __call__(self, view, generator: torch.Generator | None):
        if isinstance(view, InteractionView):
            pairs, _ = drop_interactions(view.pairs, self.p, exact=self.exact, generator=generator)
            return view.replace(pairs=pairs)
        edge_index, keep = drop_edges(view.edge_index, self.p, num_nodes=view.num_nodes,
                                      undirected=self.undirected, generator=generator)
        return view.replace(edge_index=edge_index, edge_weight=_drop_weights(view, keep))


class FeatureMaskOp(ViewOp):
    name = "feature_mask"

    def __init__(self, p: float) -> None:
        self.p = check_probability(p)

    def params(self) -> dict[str, Any]:
        return {"p": self.p}

    def __call__(self, view: GraphView, generator: torch.Generator | None) -> GraphView:
        return view.replace(x=mask_feature_columns(view.x, self.p, generator=generator))


class NodeDropOp(ViewOp):
    name = "node_drop"
    graph_kinds = frozenset({"node", "interaction"})

    def __init__(self, p: float, exact: bool = False) -> None:
        self.p = check_probability(p)
        self.exact = bool(exact)

    def params(self) -> dict[str, Any]:
        return {"p": self.p, "exact": self.exact}

    def check_graph_kind(self, kind: str) -> str | None:
        if kind == "node" and self.exact:
            return "exact (a fixed number of dropped nodes) applies to interaction graphs only"
        return super().check_graph_kind(kind)

    def __call__(self, view, generator: torch.Generator | None):
        if isinstance(view, InteractionView):
            pairs, _, _ = drop_interaction_nodes(view.pairs, view.num_users, view.num_items, self.p,
                                                 exact=self.exact, generator=generator)
            return view.replace(pairs=pairs)
        edge_index, keep_edges, keep_nodes = drop_nodes(view.edge_index, self.p, num_nodes=view.num_nodes,
                                                        generator=generator)
        x = view.x
        if x.layout == torch.sparse_csr:
            x = torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(),
                                        x.values() * keep_nodes.repeat_interleave(x.crow_indices().diff()),
                                        size=x.shape)
        else:
            x = x * keep_nodes.unsqueeze(1).to(x.dtype)
        return view.replace(x=x, edge_index=edge_index, edge_weight=_drop_weights(view, keep_edges))


def _check_centrality(centrality: str, teleport: str) -> tuple[str, str]:
    if centrality not in CENTRALITIES:
        raise ValueError(f"centrality must be one of {', '.join(CENTRALITIES)}, got {centrality!r}")
    if teleport not in ("code", "uniform"):
        raise ValueError(f"teleport must be 'code' (GCA's code) or 'uniform' (PageRank), got {teleport!r}")
    return centrality, teleport


class CentralityEdgeDropOp(ViewOp):
    name = "centrality_edge_drop"
    graph_kinds = frozenset({"node", "interaction"})

    def __init__(self, p: float, centrality: str = "degree", threshold: float = 0.7,
                 teleport: str = "code") -> None:
        self.p = check_probability(p)
        self.threshold = check_probability(threshold, "threshold")
        self.centrality, self.teleport = _check_centrality(centrality, teleport)
        self._probs: torch.Tensor | None = None
        self._for: torch.Tensor | None = None

    def params(self) -> dict[str, Any]:
        return {"p": self.p, "centrality": self.centrality, "threshold": self.threshold, "teleport": self.teleport}

    @property
    def drop_probs(self) -> torch.Tensor | None:
        """Each edge's drop probability p_e on the prepared graph (None before ``prepare``)."""
        return self._probs

    def prepare(self, view) -> None:
        if isinstance(view, InteractionView):
            self._probs = interaction_drop_probs(view.pairs, view.num_users, view.num_items, self.p,
                                                 self.centrality, self.threshold, self.teleport)
            self._for = view.pairs
            return
        weights = centrality_edge_weights(view.edge_index, view.num_nodes, self.centrality, self.teleport)
        self._probs = weighted_drop_probs(weights, self.p, self.threshold)
        self._for = view.edge_index

    def __call__(self, view, generator: torch.Generator | None):
        edges = view.pairs if isinstance(view, InteractionView) else view.edge_index
        if edges is not self._for:
            # not the graph the weights were computed on (this op follows another edge
            # operation, or was not prepared): the weights of the edges it is given
            self.prepare(view)
        if isinstance(view, InteractionView):
            pairs, _ = drop_edges(view.pairs, self.p, num_nodes=max(view.num_users, view.num_items),
                                  edge_probs=self._probs, generator=generator)
            return view.replace(pairs=pairs)
        edge_index, keep = drop_edges(view.edge_index, self.p, num_nodes=view.num_nodes,
                                      edge_probs=self._probs, generator=generator)
        return view.replace(edge_index=edge_index, edge_weight=_drop_weights(view, keep))


class CentralityFeatureMaskOp(ViewOp):
    name = "centrality_feature_mask"

    def __init__(self, p: float, centrality: str = "degree", threshold: float = 0.7, dense: bool = False,
                 teleport: str = "code") -> None:
        self.p = check_probability(p)
        self.threshold = check_probability(threshold, "threshold")
        self.centrality, self.teleport = _check_centrality(centrality, teleport)
        self.dense = bool(dense)
        self._probs: torch.Tensor | None = None
        self._for: torch.Tensor | None = None

    def params(self) -> dict[str, Any]:
        return {"p": self.p, "centrality": self.centrality, "threshold": self.threshold, "dense": self.dense,
                "teleport": self.teleport}

    @property
    def drop_probs(self) -> torch.Tensor | None:
        """Each feature column's masking probability on the prepared graph (None before ``prepare``)."""
        return self._probs

    def prepare(self, view: GraphView) -> None:
        phi = node_centrality(view.edge_index, view.num_nodes, self.centrality, teleport=self.teleport)
        self._probs = weighted_feature_probs(feature_drop_weights(view.x, phi, self.dense), self.p, self.threshold)
        self._for = view.x

    def __call__(self, view: GraphView, generator: torch.Generator | None) -> GraphView:
        if view.x is not self._for:
            self.prepare(view)
        return view.replace(x=mask_features_weighted(view.x, self._probs, generator))


def permute_rows(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """``x[perm]`` for a dense or sparse CSR ``x`` (CSR rows are moved as blocks)."""
    if x.layout != torch.sparse_csr:
        return x[perm]
    crow, col, values = x.crow_indices(), x.col_indices(), x.values()
    counts = crow.diff()[perm]
    new_crow = torch.cat([crow.new_zeros(1), counts.cumsum(0)])
    row_of = torch.repeat_interleave(torch.arange(perm.numel(), device=x.device), counts)
    source = crow[:-1][perm][row_of] + torch.arange(int(new_crow[-1]), device=x.device) - new_crow[:-1][row_of]
    return torch.sparse_csr_tensor(new_crow, col[source], values[source], size=x.shape)


class FeatureShuffleOp(ViewOp):
    name = "feature_shuffle"

    def __call__(self, view: GraphView, generator: torch.Generator | None) -> GraphView:
        device = generator.device if generator is not None else view.x.device
        perm = torch.randperm(view.num_nodes, generator=generator, device=device).to(view.x.device)
        return view.replace(x=permute_rows(view.x, perm))


VIEW_OPS: dict[str, Callable[..., ViewOp]] = {}


def register_view_op(cls: type[ViewOp]) -> type[ViewOp]:
    """Add a :class:`ViewOp` subclass under its ``name`` (an existing name is an error)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in VIEW_OPS and VIEW_OPS[cls.name] is not cls:
        raise ValueError(f"view operation '{cls.name}' is already registered")
    unknown = set(cls.graph_kinds) - set(GRAPH_KINDS)
    if unknown:
        raise ValueError(f"{cls.__name__}.graph_kinds has unknown kinds {sorted(unknown)}; "
                         f"choose from {', '.join(GRAPH_KINDS)}")
    VIEW_OPS[cls.name] = cls
    return cls


for _op in (EdgeDropOp, FeatureMaskOp, NodeDropOp, CentralityEdgeDropOp, CentralityFeatureMaskOp, FeatureShuffleOp):
    register_view_op(_op)
