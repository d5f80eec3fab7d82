"""What flows through a contrastive branch on a user-item graph: :class:`InteractionView`.

A view of the interaction graph is its training pairs over fixed user and item sets
(views drop pairs or isolate nodes; they never renumber), optionally one set of pairs
per propagation layer (SGL's random-walk view, sec. 3.2.1 eq. 5) and the magnitude ε of
SimGCL's per-layer embedding noise (Yu et al. SIGIR 2022, eq. 7), which the encoder draws
while it propagates, and LightGCL's SVD view (Cai et al. ICLR 2023, eq. 5-6): rank-q factors
the encoder propagates through instead of the pairs. Row u of every view is user u, row
U + i item i.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from graphcl.augment.interactions import check_pairs_tensor
from graphcl.augment.svd_view import SVDFactors

__all__ = ["InteractionView", "SVD_FEEDS"]

#: what an SVD view's layer k + 1 propagates: its own layer k, or view 1's (LightGCL eq. 6)
SVD_FEEDS = ("own", "view1")


@dataclass(frozen=True)
class InteractionView:
    """``pairs`` (2, E) of (user, item) ids; ``num_users``, ``num_items``; ``num_layers``
    the encoder's depth (so a per-layer operation knows how many graphs to draw);
    ``layer_pairs``: one (2, E_k) tensor per layer, or None (``pairs`` at every layer);
    ``noise``: SimGCL's ε (0: no noise); ``svd``: rank-q factors of the normalized R to
    propagate through (None: the pairs), ``svd_feed``: ``own`` (each layer on this view's
    previous one) or ``view1`` (on view 1's previous layer, as LightGCL); ``edge_dropout``:
    the rate p of LightGCL's per-layer dropout of the normalized graph's entries, kept ones
    rescaled by 1/(1 − p) (0: none)."""

    pairs: torch.Tensor
    num_users: int
    num_items: int
    num_layers: int = 1
    layer_pairs: tuple[torch.Tensor, ...] | None = None
    noise: float = 0.0
    svd: SVDFactors | None = None
    svd_feed: str = "own"
    edge_dropout: float = 0.0

    def __post_init__(self) -> None:
        check_pairs_tensor(self.pairs)
        if self.num_users < 1 or self.num_items < 1 or self.num_layers < 0:
            raise ValueError(f"an interaction view needs users, items >= 1 and layers >= 0, got "
                             f"{self.num_users}, {self.num_items}, {self.num_layers}")
        if self.layer_pairs is not None and len(self.layer_pairs) != self.num_layers:
            raise ValueError(f"layer_pairs holds {len(self.layer_pairs)} graphs for {self.num_layers} layers")
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")
        if not 0.0 <= self.edge_dropout < 1.0:
            raise ValueError(f"edge_dropout must lie in [0, 1), got {self.edge_dropout}")
        if self.svd_feed not in SVD_FEEDS:
            raise ValueError(f"svd_feed must be one of {', '.join(SVD_FEEDS)}, got {self.svd_feed!r}")
        if self.svd is not None and self.svd.shape != (self.num_users, self.num_items):
            raise ValueError(f"svd factors of a {self.svd.shape[0]} x {self.svd.shape[1]} matrix given to a view of "
                             f"{self.num_users} users x {self.num_items} items")

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items

    def pairs_of_layer(self, k: int) -> torch.Tensor:
        """The pairs layer k (0-based) propagates over."""
        return self.pairs if self.layer_pairs is None else self.layer_pairs[k]

    def replace(self, **changes) -> "InteractionView":
        """A copy with ``changes`` (the input view is never modified)."""
        return dataclasses.replace(self, **changes)
