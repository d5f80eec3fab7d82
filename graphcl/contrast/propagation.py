"""The LightGCN encoder of a user-item contrastive pipeline: ``lightgcn``.

Ego embeddings E^(0) (users then items, Xavier-uniform as SGL's and SimGCL's code, or
normal with ``init_std``) propagated over the view's normalized graph
Â = D^{-1/2} A D^{-1/2} of A = [[0, R], [Rᵀ, 0]] (LightGCN eq. 7; a dropped view is
renormalized with its own degrees, as SGL's code rebuilds its Laplacian):

    E^(k+1) = Â_k E^(k)  (+ Δ^(k+1) = ε sign(E^(k+1)) ⊙ normalize(U^(k+1)), SimGCL eq. 7, when
                           the view carries noise ε; U ~ U[0, 1) row-normalized),

with Â_k the view's graph of layer k (SGL's RW views have one per layer; with the view's
``edge_dropout`` p, LightGCL's sparse dropout: each entry of Â_k, in each direction, kept with
probability 1 − p and rescaled by 1/(1 − p), a fresh mask per layer), and the
combination E = mean_{k=0..L} E^(k) (LightGCN eq. 8, SGL) or, with ``include_ego: false``,
mean_{k=1..L} E^(k) (SimGCL's and XSimGCL's code, Coder-Yu/SELFRec model/graph/SimGCL.py);
``combine: sum`` sums the same layers instead (LightGCL eq. 3, E = Σ_{l=0..L} E^l).
An SVD view (``svd_view``, LightGCL eq. 6) propagates E^(k+1) = [U S Vᵀ X_i ; V S Uᵀ X_u] with
X = its own E^(k) or, fed by view 1, view 1's E^(k) (``layers(view, feed=view1_layers)``).
The input graph without noise takes the fused :func:`graphcl.sparse.linear_propagation`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphcl.augment.base import uniform
from graphcl.contrast.interaction_view import InteractionView
from graphcl.errors import ConfigError
from graphcl.sparse import SparseGraph, bipartite_adjacency, linear_propagation, spmm

__all__ = ["LightGCNPropagation"]


class LightGCNPropagation(nn.Module):
    """``layers(view, generator)`` -> [E^(0), ..., E^(L)]; ``forward`` -> their combination."""

    #: graphs kept for reuse: the input graph and an epoch's views (a view redrawn each step
    #: builds its graph each step)
    CACHE_SIZE = 8

    def __init__(self, num_users: int, num_items: int, dim: int = 64, layers: int = 3, include_ego: bool = True,
                 init: str = "xavier", init_std: float = 0.1, combine: str = "mean") -> None:
        super().__init__()
        if int(dim) < 1 or int(layers) < 0:
            raise ConfigError(f"lightgcn encoder: dim must be >= 1 and layers >= 0, got {dim} and {layers}")
        if init not in ("xavier", "normal"):
            raise ConfigError(f"lightgcn encoder: init must be 'xavier' or 'normal', got {init!r}")
        if combine not in ("mean", "sum"):
            raise ConfigError(f"lightgcn encoder: combine must be 'mean' or 'sum', got {combine!r}")
        if not include_ego and int(layers) == 0:
            raise ConfigError("lightgcn encoder: include_ego: false needs at least one layer")
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.out_dim, self.num_layers, self.include_ego = int(dim), int(layers), bool(include_ego)
        self.init, self.init_std, self.combination = init, float(init_std), combine
        self.user_embedding = nn.Parameter(torch.empty(self.num_users, self.out_dim))
        self.item_embedding = nn.Parameter(torch.empty(self.num_items, self.out_dim))
        self.reset_parameters()
        self._graphs: list[tuple[torch.Tensor, SparseGraph]] = []

    def reset_parameters(self) -> None:
        for weight in (self.user_embedding, self.item_embedding):
            if self.init == "xavier":
                nn.init.xavier_uniform_(weight)
            else:
                nn.init.normal_(weight, std=self.init_std)

    def ego(self) -> torch.Tensor:
        return torch.cat([self.user_embedding, self.item_embedding], 0)

    def adjacency(self, pairs: torch.Tensor) -> SparseGraph:
        """Â of ``pairs`` (cached by tensor identity)."""
        for cached, graph in self._graphs:
            if cached is pairs:
                return graph
        graph = bipartite_adjacency(pairs, self.num_users, self.num_items, dtype=self.user_embedding.dtype)
        self._graphs = [(pairs, graph)] + self._graphs[:self.CACHE_SIZE - 1]
        return graph

    def _weights(self) -> list[float]:
        kept = self.num_layers + 1 if self.include_ego else self.num_layers
        weight = 1.0 if self.combination == "sum" else 1.0 / kept
        return [weight] * (self.num_layers + 1) if self.include_ego else [0.0] + [weight] * self.num_layers

    def _svd_layer(self, view: InteractionView, x: torch.Tensor) -> torch.Tensor:
        users, items = self.split(x)
        return torch.cat([view.svd.propagate_users(items), view.svd.propagate_items(users)], 0)

    def layers(self, view: InteractionView, generator: torch.Generator | None = None,
               feed: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """[E^(0), ..., E^(L)] on ``view`` (noise drawn from ``generator``); an SVD view fed by
        view 1 takes view 1's layers as ``feed``."""
        self._check(view)
        if view.svd is not None and view.svd_feed == "view1" and (feed is None or len(feed) != self.num_layers + 1):
            raise ValueError("an SVD view fed by view 1 (svd_view feed: view1) needs view 1's layers as `feed`")
        e = self.ego()
        out = [e]
        for k in range(self.num_layers):
            if view.svd is not None:
                e = self._svd_layer(view, feed[k] if view.svd_feed == "view1" else e)
            else:
                graph = self.adjacency(view.pairs_of_layer(k))
                if view.edge_dropout > 0:   # LightGCL: a fresh mask per layer and direction
                    graph = graph.drop_edges(view.edge_dropout, generator, rescale=True, mirrored=False)
                e = spmm(graph, e)
            if view.noise > 0:
                direction = F.normalize(uniform(tuple(e.shape), e.device, generator).to(e.dtype), dim=-1)
                e = e + torch.sign(e) * direction * view.noise
            out.append(e)
        return out

    def combine(self, layers: list[torch.Tensor]) -> torch.Tensor:
        """The layer combination (module docstring)."""
        kept = torch.stack(layers if self.include_ego else layers[1:], 0)
        return kept.sum(0) if self.combination == "sum" else kept.mean(0)

    def forward(self, view: InteractionView, generator: torch.Generator | None = None) -> torch.Tensor:
        self._check(view)
        if view.noise == 0 and view.layer_pairs is None and view.svd is None and view.edge_dropout == 0:
            return linear_propagation(self.adjacency(view.pairs), self.ego(), self._weights())
        return self.combine(self.layers(view, generator))

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(users, items) rows of a (U + I, d) tensor."""
        return x[:self.num_users], x[self.num_users:]

    def _check(self, view: InteractionView) -> None:
        if not isinstance(view, InteractionView):
            raise TypeError(f"the lightgcn encoder takes an InteractionView, got {type(view).__name__}")
        if (view.num_users, view.num_items) != (self.num_users, self.num_items):
            raise ValueError(f"view of {view.num_users} users x {view.num_items} items given to an encoder "
                             f"of {self.num_users} x {self.num_items}")
        if view.layer_pairs is not None and view.num_layers != self.num_layers:
            raise ValueError(f"view drawn for {view.num_layers} layers given to a {self.num_layers}-layer encoder")
