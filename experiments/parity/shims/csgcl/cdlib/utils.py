"""``cdlib.utils.convert_graph_formats`` for networkx input (what CSGCL's reference passes)."""
from __future__ import annotations

from typing import Any


def convert_graph_formats(graph: Any, desired_format: type, directed: bool | None = None) -> Any:
    """``graph`` itself when it already is a ``desired_format`` (a networkx graph); an igraph
    ``Graph`` with the networkx nodes as vertex names (in node order) when asked for one."""
    import networkx as nx
    if not isinstance(graph, nx.Graph):
        raise TypeError(f"this cdlib stand-in converts networkx graphs only, got {type(graph).__name__}")
    if isinstance(graph, desired_format):
        return graph
    import igraph as ig
    if desired_format is ig.Graph:
        nodes = list(graph.nodes())
        index = {n: i for i, n in enumerate(nodes)}
        out = ig.Graph(n=len(nodes), edges=[(index[u], index[v]) for u, v in graph.edges()],
                       directed=graph.is_directed() if directed is None else directed)
        out.vs["name"] = nodes
        return out
    raise TypeError(f"this cdlib stand-in cannot convert to {desired_format}")
