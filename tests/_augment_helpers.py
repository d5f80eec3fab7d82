"""Shared strategies and helpers of the augmenter tests."""
from __future__ import annotations

import torch
from hypothesis import strategies as st
from torch_geometric.data import Data


@st.composite
def graphs(draw, max_nodes: int = 12, max_edges: int = 40, undirected: bool | None = None,
           min_edges: int = 0) -> Data:
    """A small random graph with features, labels, a mask and edge attributes."""
    n = draw(st.integers(1, max_nodes))
    m = draw(st.integers(min_edges, max_edges))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                          min_size=m, max_size=m))
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).t().contiguous()
    sym = draw(st.booleans()) if undirected is None else undirected
    if sym and edge_index.numel():
        edge_index = torch.unique(torch.cat([edge_index, edge_index.flip(0)], 1), dim=1)
    e = edge_index.size(1)
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    return Data(x=torch.randn(n, 5, generator=g), y=torch.randint(3, (n,), generator=g),
                train_mask=torch.rand(n, generator=g) < 0.5, edge_index=edge_index,
                edge_attr=torch.randn(e, 2, generator=g), edge_weight=torch.rand(e, generator=g),
                num_nodes=n)


def snapshot(data: Data) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in data.items() if isinstance(v, torch.Tensor)}


def assert_unchanged(data: Data, snap: dict[str, torch.Tensor]) -> None:
    now = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    assert set(now) == set(snap), f"keys changed: {set(now) ^ set(snap)}"
    for k, v in snap.items():
        assert torch.equal(now[k], v), f"input attribute {k} was modified"


def edge_set(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, edge_index.T.tolist()))


def is_symmetric(edge_index: torch.Tensor) -> bool:
    s = edge_set(edge_index)
    return all((b, a) in s for a, b in s)


def toy_two_communities() -> torch.Tensor:
    """Two triangles {0,1,2}, {3,4,5} joined by edge 2-3, plus a pendant 6-5 (both directions)."""
    und = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3), (5, 6)]
    e = torch.tensor(und).T
    return torch.cat([e, e.flip(0)], 1)
