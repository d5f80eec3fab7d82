"""LightGCL's SVD view as a view operation on user-item graphs (Cai et al., ICLR 2023, eq. 5-6).

``svd_view`` ``{rank: 5, niter: 2, seed: null, feed: view1}``: in ``prepare``, the rank-q
randomized SVD ``Â ≈ U S Vᵀ`` of the input graph's normalized users x items matrix
Â = D_u^{-1/2} R D_i^{-1/2} (``torch.svd_lowrank`` with ``niter`` power iterations, seeded by
``seed``, None: the run's seed; :func:`graphcl.augment.svd_view.svd_view_factors`). The view then
propagates through the reconstruction instead of the pairs, never forming it:

    G_u^l = (U S)(Vᵀ X_i^{l−1}),   G_i^l = (V S)(Uᵀ X_u^{l−1}),   G^0 = E^0,

with X = view 1's layer l − 1 (``feed: view1``, LightGCL eq. 6: the SVD view reads the main
view's E^{l−1}) or the view's own G^{l−1} (``feed: own``). User-item graphs only for now (a node
graph's GCN encoder has no low-rank propagation path).
"""
from __future__ import annotations

from typing import Any

import torch

from graphcl.augment.svd_view import SVDFactors, svd_view_factors
from graphcl.contrast.interaction_view import SVD_FEEDS, InteractionView
from graphcl.contrast.view_ops import ViewOp, register_view_op
from graphcl.sparse import interaction_matrix

__all__ = ["SVDViewOp"]


class SVDViewOp(ViewOp):
    name = "svd_view"
    graph_kinds = frozenset({"interaction"})

    def __init__(self, rank: int = 5, niter: int = 2, seed: int | None = None, feed: str = "view1") -> None:
        if int(rank) < 1 or int(niter) < 0:
            raise ValueError(f"rank must be >= 1 and niter >= 0, got {rank} and {niter}")
        if feed not in SVD_FEEDS:
            raise ValueError(f"feed must be one of {', '.join(SVD_FEEDS)}, got {feed!r}")
        self.rank, self.niter, self.feed = int(rank), int(niter), feed
        self.seed = None if seed is None else int(seed)
        self._factors: SVDFactors | None = None
        self._for: torch.Tensor | None = None

    def check_graph_kind(self, kind: str) -> str | None:
        if kind == "node":
            return f"{self.name} applies to user-item graphs only for now (no low-rank GCN propagation yet)"
        return super().check_graph_kind(kind)

    def params(self) -> dict[str, Any]:
        return {"rank": self.rank, "niter": self.niter, "seed": self.seed, "feed": self.feed}

    @property
    def factors(self) -> SVDFactors | None:
        """The prepared graph's factors (None before ``prepare``)."""
        return self._factors

    def prepare(self, view: InteractionView) -> None:
        if self.rank > min(view.num_users, view.num_items):
            raise ValueError(f"svd_view: rank {self.rank} exceeds min(users, items) = "
                             f"{min(view.num_users, view.num_items)}")
        matrix = interaction_matrix(view.pairs, view.num_users, view.num_items)
        seed = self.run_seed if self.seed is None else self.seed
        self._factors = svd_view_factors(matrix, self.rank, self.niter, seed, cache=False)
        self._for = view.pairs

    def __call__(self, view: InteractionView, generator: torch.Generator | None) -> InteractionView:
        if view.pairs is not self._for:
            self.prepare(view)
        return view.replace(svd=self._factors, svd_feed=self.feed)


register_view_op(SVDViewOp)
