"""What flows through a contrastive branch: :class:`GraphView`, one (augmented) view of a
node graph: features, edges and optional edge weights over a fixed node set."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["GraphView", "GRAPH_KINDS"]

#: the kinds of graph a view operation may apply to
GRAPH_KINDS = ("node", "interaction")


@dataclass(frozen=True)
class GraphView:
    """A node graph as a view: ``x`` (N, F) dense or sparse CSR, ``edge_index`` (2, E),
    ``edge_weight`` (E,) or None, and ``num_nodes`` N. Node i of every view is node i of
    the input graph (views drop edges, mask features or isolate nodes; they never
    renumber), so a node-level loss can pair the views' rows directly.

    ``extras`` carries precomputed per-graph quantities an operation needs (e.g. CSGCL's
    community strengths) under the operation's own keys. ``operator``: a propagation
    operator (``operator @ H``) the encoder applies in place of the GCN-normalized adjacency
    of ``edge_index`` (the SVD view's low-rank Â); None: the edges."""

    x: torch.Tensor
    edge_index: torch.Tensor
    num_nodes: int
    edge_weight: torch.Tensor | None = None
    operator: Any = None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)

    def replace(self, **changes: Any) -> "GraphView":
        """A copy with ``changes`` (the input view is never modified)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def of(cls, data: Any) -> "GraphView":
        """The view of a PyG ``Data`` (``x``, ``edge_index``, optional ``edge_weight``)."""
        weight = getattr(data, "edge_weight", None)
        return cls(x=data.x, edge_index=data.edge_index, num_nodes=int(data.num_nodes), edge_weight=weight)
