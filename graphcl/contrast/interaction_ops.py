"""View operations that exist only on user-item graphs (registered in :data:`VIEW_OPS`).

* ``layer_edge_drop`` ``{p, exact}`` (SGL's random-walk view RW, Wu et al. SIGIR 2021,
  sec. 3.2.1 eq. 5: ``s(G) = (V, M^(l) ⊙ E)``): an independent edge dropout for each of
  the encoder's layers (ED draws one mask shared by all layers). SELFRec's SGL
  (Coder-Yu/SELFRec@5b02294 model/graph/SGL.py:81, ``if self.aug_type==0 or 1``) always
  takes the shared-mask branch, so its RW equals its ED; this operation is the paper's RW.
* ``embedding_noise`` ``{eps}`` (SimGCL, Yu et al. SIGIR 2022, eq. 7): after each layer's
  propagation the encoder adds Δ = ε · sign(e) ⊙ normalize(u), u ~ U[0, 1)^d per node,
  drawn from the step's generator (the view only records ε; the graph is unchanged).
* ``rescaled_edge_dropout`` ``{p}`` (LightGCL, Cai et al. ICLR 2023, sec. 3.2; its code's
  ``sparse_dropout`` of ``adj_norm`` in every layer): at each layer the encoder keeps every
  entry of the normalized graph Â with probability 1 − p and rescales it by 1/(1 − p), with
  independent masks for Â and Âᵀ, without renormalizing (SGL's ED drops pairs and
  renormalizes). The view only records p.
"""
from __future__ import annotations

from typing import Any

import torch

from graphcl.augment.base import check_probability
from graphcl.augment.interactions import drop_interactions
from graphcl.contrast.interaction_view import InteractionView
from graphcl.contrast.view_ops import ViewOp, register_view_op

__all__ = ["LayerEdgeDropOp", "EmbeddingNoiseOp", "RescaledEdgeDropoutOp"]


class LayerEdgeDropOp(ViewOp):
    name = "layer_edge_drop"
    graph_kinds = frozenset({"interaction"})

    def __init__(self, p: float, exact: bool = False) -> None:
        self.p = check_probability(p)
        self.exact = bool(exact)

    def params(self) -> dict[str, Any]:
        return {"p": self.p, "exact": self.exact}

    def __call__(self, view: InteractionView, generator: torch.Generator | None) -> InteractionView:
        layers = tuple(drop_interactions(view.pairs_of_layer(k), self.p, exact=self.exact, generator=generator)[0]
                       for k in range(view.num_layers))
        return view.replace(layer_pairs=layers)


class EmbeddingNoiseOp(ViewOp):
    name = "embedding_noise"
    graph_kinds = frozenset({"interaction"})

    def __init__(self, eps: float) -> None:
        eps = float(eps)
        if not eps >= 0.0 or eps == float("inf"):
            raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
        self.eps = eps

    def params(self) -> dict[str, Any]:
        return {"eps": self.eps}

    def __call__(self, view: InteractionView, generator: torch.Generator | None) -> InteractionView:
        return view.replace(noise=self.eps)


class RescaledEdgeDropoutOp(ViewOp):
    name = "rescaled_edge_dropout"
    graph_kinds = frozenset({"interaction"})

    def __init__(self, p: float) -> None:
        p = check_probability(p)
        if p >= 1.0:
            raise ValueError(f"p must lie in [0, 1) (kept entries are divided by 1 - p), got {p}")
        self.p = p

    def params(self) -> dict[str, Any]:
        return {"p": self.p}

    def __call__(self, view: InteractionView, generator: torch.Generator | None) -> InteractionView:
        return view.replace(edge_dropout=self.p)


for _op in (LayerEdgeDropOp, EmbeddingNoiseOp, RescaledEdgeDropoutOp):
    register_view_op(_op)
