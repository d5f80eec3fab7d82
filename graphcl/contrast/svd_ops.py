"""LightGCL's SVD view as a view operation (Cai et al., ICLR 2023, eq. 5-6), on user-item and
node graphs.

``svd_view`` ``{rank: 5, niter: 2, seed: null, feed: own}``: in ``prepare``, the rank-q randomized
SVD ``Â ≈ U S Vᵀ`` (``torch.svd_lowrank`` with ``niter`` power iterations, seeded by ``seed``,
None: the run's seed; :func:`graphcl.augment.svd_view.svd_view_factors`) of the input graph's
normalized matrix; the view then propagates through the reconstruction instead of the edges,
never forming it (O(N q d) per layer):

* user-item graphs: Â = D_u^{-1/2} R D_i^{-1/2} and, in the LightGCN encoder,
  G_u^l = (U S)(Vᵀ X_i^{l−1}), G_i^l = (V S)(Uᵀ X_u^{l−1}), G^0 = E^0, with X = view 1's layer
  l − 1 (``feed: view1``, LightGCL eq. 6: the SVD view reads the main view's E^{l−1}; the view
  must then be view 2) or the view's own G^{l−1} (``feed: own``);
* node graphs (a composition no anchor library offers): Â = D̃^{-1/2}(A + I)D̃^{-1/2}, GCN's
  normalized adjacency, and every GCN layer computes σ(U S Vᵀ H W + b) in place of σ(Â H W + b)
  (the ``gcn`` encoder; ``feed: own`` only). Edges of the view (after an earlier edge
  operation) are decomposed again on each draw.
"""
from __future__ import annotations

from typing import Any

import torch

from graphcl.augment.svd_view import SVDFactors, svd_view_factors
from graphcl.contrast.interaction_view import SVD_FEEDS, InteractionView
from graphcl.contrast.view_ops import ViewOp, register_view_op
from graphcl.nn.gcn import gcn_norm_graph
from graphcl.sparse import interaction_matrix

__all__ = ["SVDViewOp", "LowRankOperator"]


class LowRankOperator:
    """``Â ≈ U S Vᵀ`` as a propagation operator: ``op @ H = (U S)(Vᵀ H)``."""

    def __init__(self, factors: SVDFactors) -> None:
        self.factors = factors

    def __matmul__(self, h: torch.Tensor) -> torch.Tensor:
        return self.factors.propagate_users(h)


class SVDViewOp(ViewOp):
    name = "svd_view"
    graph_kinds = frozenset({"node", "interaction"})
    #: the view it returns carries its own propagation operator (the encoder must take one)
    sets_operator = True

    def __init__(self, rank: int = 5, niter: int = 2, seed: int | None = None, feed: str = "own") -> None:
        if int(rank) < 1 or int(niter) < 0:
            raise ValueError(f"rank must be >= 1 and niter >= 0, got {rank} and {niter}")
        if feed not in SVD_FEEDS:
            raise ValueError(f"feed must be one of {', '.join(SVD_FEEDS)}, got {feed!r}")
        self.rank, self.niter, self.feed = int(rank), int(niter), feed
        self.seed = None if seed is None else int(seed)
        self._factors: SVDFactors | None = None
        self._for: torch.Tensor | None = None

    def check_graph_kind(self, kind: str) -> str | None:
        if kind == "node" and self.feed == "view1":
            return f"{self.name} feed: view1 (LightGCL) is for user-item graphs; on a node graph use feed: own"
        return super().check_graph_kind(kind)

    def params(self) -> dict[str, Any]:
        return {"rank": self.rank, "niter": self.niter, "seed": self.seed, "feed": self.feed}

    @property
    def factors(self) -> SVDFactors | None:
        """The prepared graph's factors (None before ``prepare``)."""
        return self._factors

    def prepare(self, view) -> None:
        if isinstance(view, InteractionView):
            rows, cols = view.num_users, view.num_items
            matrix = interaction_matrix(view.pairs, rows, cols)
            self._for = view.pairs
        else:
            rows = cols = view.num_nodes
            matrix = gcn_norm_graph(view.edge_index, view.num_nodes, view.edge_weight)
            self._for = view.edge_index
        if self.rank > min(rows, cols):
            raise ValueError(f"svd_view: rank {self.rank} exceeds the graph's smaller side ({min(rows, cols)})")
        seed = self.run_seed if self.seed is None else self.seed
        self._factors = svd_view_factors(matrix, self.rank, self.niter, seed, cache=False)

    def __call__(self, view, generator: torch.Generator | None):
        if isinstance(view, InteractionView):
            if view.pairs is not self._for:
                self.prepare(view)
            return view.replace(svd=self._factors, svd_feed=self.feed)
        if view.edge_index is not self._for:
            self.prepare(view)
        return view.replace(operator=LowRankOperator(self._factors))


register_view_op(SVDViewOp)
