"""``cdlib.algorithms.leiden`` (what CSGCL's reference calls with its default ``--cd leiden``).

As cdlib's: the networkx graph converted to igraph (vertices in node order, named by node), then
``leidenalg.find_partition(g, leidenalg.ModularityVertexPartition, initial_membership, weights)``,
the communities as lists of node names. One difference, for reproducible parity runs: cdlib
passes no seed (leidenalg then draws one); here the seed is ``PARITY_SEED`` when set.
The other algorithm names CSGCL's ``community_detection`` table refers to exist but raise.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class NodeClustering:
    """The part of cdlib's result CSGCL reads: ``communities`` (lists of node names)."""
    communities: list[list[Any]]
    graph: Any = None
    method_name: str = ""
    method_parameters: dict[str, Any] = field(default_factory=dict)


def leiden(g_original: Any, initial_membership: list | None = None, weights: list | None = None) -> NodeClustering:
    """Modularity-optimizing Leiden partition of ``g_original`` (see the module docstring)."""
    import igraph as ig
    import leidenalg
    from .utils import convert_graph_formats
    g = convert_graph_formats(g_original, ig.Graph)
    seed = os.environ.get("PARITY_SEED")
    part = leidenalg.find_partition(g, leidenalg.ModularityVertexPartition, initial_membership=initial_membership,
                                    weights=weights, seed=int(seed) if seed is not None else None)
    return NodeClustering([g.vs[list(c)]["name"] for c in part], g_original, "Leiden",
                          {"initial_membership": initial_membership, "weights": weights})


def _unavailable(name: str) -> Callable[..., NodeClustering]:
    def call(*args: Any, **kwargs: Any) -> NodeClustering:
        raise NotImplementedError(f"cdlib.algorithms.{name} is not part of this stand-in (leiden only)")
    call.__name__ = name
    return call


louvain = _unavailable("louvain")
pycombo = _unavailable("pycombo")
ilouvain = _unavailable("ilouvain")
edmot = _unavailable("edmot")
eigenvector = _unavailable("eigenvector")
girvan_newman = _unavailable("girvan_newman")
demon = _unavailable("demon")
lemon = _unavailable("lemon")
egonet_splitter = _unavailable("egonet_splitter")
nnsed = _unavailable("nnsed")
lpanni = _unavailable("lpanni")
