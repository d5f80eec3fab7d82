"""EdgeDrop / drop_edges / GCA degree weights."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data, HeteroData

from graphcl.augment import EdgeDrop, degree_drop_weights, drop_edges, weighted_drop_probs
from graphcl.sparse import bipartite_adjacency

from _augment_helpers import assert_unchanged, edge_set, graphs, is_symmetric, snapshot

FAST = settings(max_examples=40, deadline=None)


def reference_keep(edges: list[list[int]], p: float, seed: int, undirected: bool) -> list[bool]:
    """Which edges a seeded drop keeps, written out: draws u ~ U[0, 1) from a CPU generator seeded
    with ``seed``; directed: one draw per edge in input order; undirected: one draw per unordered
    pair {a, b}, pairs in increasing (min, max) order, shared by an edge, its reverse and duplicates.
    An edge is kept when its draw is >= p (compared in float32, as the draws are)."""
    rows, cols = edges
    gen = torch.Generator().manual_seed(seed)
    if not rows:
        return []
    if undirected:
        pairs = sorted({(min(a, b), max(a, b)) for a, b in zip(rows, cols)})
        draws = torch.rand(len(pairs), generator=gen)
        slot = {pair: k for k, pair in enumerate(pairs)}
        per_edge = [draws[slot[(min(a, b), max(a, b))]] for a, b in zip(rows, cols)]
    else:
        draws = torch.rand(len(rows), generator=gen)
        per_edge = [draws[e] for e in range(len(rows))]
    return [bool(d >= p) for d in per_edge]


@FAST
@given(graphs(), st.floats(0, 1), st.integers(0, 100))
def test_edge_drop_properties(data, p, seed):
    snap = snapshot(data)
    out = EdgeDrop(p, seed=seed)(data)
    assert_unchanged(data, snap)
    assert out is not data
    assert edge_set(out.edge_index) <= edge_set(data.edge_index)
    assert out.edge_attr.size(0) == out.edge_weight.size(0) == out.edge_index.size(1)
    # the kept edges and their attributes, from a literal loop over the documented draws
    rows, cols = data.edge_index.tolist()
    symmetric = sorted(zip(rows, cols)) == sorted(zip(cols, rows))   # as multisets, like PyG's is_undirected
    keep = reference_keep([rows, cols], p, seed, undirected=symmetric)
    kept = [e for e, k in enumerate(keep) if k]
    assert out.edge_index.tolist() == [[data.edge_index[r, e].item() for e in kept] for r in (0, 1)]
    assert torch.equal(out.edge_attr, data.edge_attr[kept]) and torch.equal(out.edge_weight, data.edge_weight[kept])
    assert torch.equal(out.x, data.x) and torch.equal(out.y, data.y)
    again = EdgeDrop(p, seed=seed)(data)
    assert torch.equal(again.edge_index, out.edge_index)


@FAST
@given(graphs(undirected=True), st.floats(0, 1), st.integers(0, 100))
def test_undirected_stays_undirected(data, p, seed):
    out = EdgeDrop(p, seed=seed)(data)
    assert is_symmetric(out.edge_index)
    keep = reference_keep(data.edge_index.tolist(), p, seed, undirected=True)
    assert edge_set(out.edge_index) == {e for e, k in zip(edge_set_list(data.edge_index), keep) if k}
    probs = torch.rand(data.edge_index.size(1))
    ei, _ = drop_edges(data.edge_index, p, num_nodes=data.num_nodes, undirected=True,
                       generator=torch.Generator().manual_seed(seed), edge_probs=probs)
    assert is_symmetric(ei)


def edge_set_list(edge_index: torch.Tensor) -> list[tuple[int, int]]:
    return list(map(tuple, edge_index.T.tolist()))


def test_undirected_drop_is_the_literal_loop_on_a_hand_made_graph():
    """Pairs {0,1}, {0,2}, {1,2} plus a duplicate 0->1: pair draws in (min, max) order."""
    ei = torch.tensor([[0, 1, 2, 0, 1, 2, 0], [1, 0, 0, 2, 2, 1, 1]])
    draws = torch.rand(3, generator=torch.Generator().manual_seed(5))   # pairs (0,1), (0,2), (1,2)
    p = float(draws.median())                                           # keeps exactly the pairs above it
    pair_of = [0, 0, 1, 1, 2, 2, 0]
    want = [e for e in range(7) if draws[pair_of[e]] >= p]
    out = EdgeDrop(p, undirected=True, seed=5)(Data(edge_index=ei, num_nodes=3))
    assert out.edge_index.tolist() == ei[:, want].tolist() and 0 < len(want) < 7
    # without the duplicate the graph is detected as undirected (as a multiset: the duplicate makes
    # 0->1 twice against 1->0 once, so that graph counts as directed: one draw per edge)
    auto = EdgeDrop(p, seed=5)(Data(edge_index=ei[:, :6], num_nodes=3))
    assert auto.edge_index.tolist() == ei[:, [e for e in want if e < 6]].tolist()
    directed = EdgeDrop(p, seed=5)(Data(edge_index=ei, num_nodes=3))
    own = torch.rand(7, generator=torch.Generator().manual_seed(5))
    assert directed.edge_index.tolist() == ei[:, own >= p].tolist()


@FAST
@given(graphs())
def test_p0_identity_p1_empty(data):
    assert torch.equal(EdgeDrop(0.0)(data).edge_index, data.edge_index)
    out = EdgeDrop(1.0)(data)
    assert out.edge_index.size(1) == 0 and out.edge_attr.size(0) == 0
    assert out.num_nodes == data.num_nodes


def test_drop_rate_is_p():
    ei = torch.randint(500, (2, 20000))
    _, keep = drop_edges(ei, 0.3, num_nodes=500, generator=torch.Generator().manual_seed(0))
    assert abs(1 - keep.float().mean().item() - 0.3) < 0.02


def test_degree_weights_follow_gca():
    # star: hub 0 with leaves 1..4, plus edge 1-2, undirected
    und = torch.tensor([[0, 0, 0, 0, 1], [1, 2, 3, 4, 2]])
    ei = torch.cat([und, und.flip(0)], 1)
    w = degree_drop_weights(ei, 5)
    deg = torch.tensor([4.0, 2, 2, 1, 1])
    s = deg[ei[1]].log()
    torch.testing.assert_close(w, (s.max() - s) / (s.max() - s.mean()))
    assert abs(w.mean().item() - 1) < 1e-5
    assert (w[ei[1] == 0] == 0).all()  # edges into the hub are never dropped
    probs = weighted_drop_probs(w, 0.5, threshold=0.7)
    assert float(probs.max()) <= 0.7 and float(probs.min()) >= 0
    torch.testing.assert_close(probs, (w / w.mean() * 0.5).clamp(max=0.7))
    out = EdgeDrop(0.5, edge_probs="degree", seed=0)(__import__("torch_geometric").data.Data(
        edge_index=ei, num_nodes=5))
    assert edge_set(out.edge_index) <= edge_set(ei)
    assert degree_drop_weights(torch.tensor([[0, 1], [1, 0]])).tolist() == [1.0, 1.0]


def test_sparse_graph_and_pairs():
    pairs = torch.stack([torch.randint(20, (100,)), torch.randint(15, (100,))])
    graph = bipartite_adjacency(pairs, 20, 15)
    out = EdgeDrop(0.5, seed=0)(graph)
    assert out.nnz < graph.nnz
    dense = out.to_dense()
    assert torch.equal(dense, dense.T)
    kept = EdgeDrop(0.5, undirected=False, seed=0)(pairs)
    assert kept.size(0) == 2 and edge_set(kept) <= edge_set(pairs)


def test_hetero_per_edge_type():
    data = HeteroData()
    data["user"].num_nodes = 6
    data["item"].num_nodes = 4
    data["user", "rates", "item"].edge_index = torch.tensor([[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 0, 1]])
    data["user", "rates", "item"].edge_attr = torch.arange(6.0)
    data["user", "knows", "user"].edge_index = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    out = EdgeDrop(0.5, seed=3)(data)
    ui = out["user", "rates", "item"]
    assert torch.equal(ui.edge_attr.long(), ui.edge_index[0])  # attr followed its edge
    assert is_symmetric(out["user", "knows", "user"].edge_index)
    assert data["user", "rates", "item"].edge_index.size(1) == 6  # input unchanged
    bad = data.clone()
    bad["user", "rates", "item"].edge_index = torch.tensor([[0], [4]])
    with pytest.raises(ValueError, match="out of range"):
        EdgeDrop(0.5)(bad)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "x"])
def test_bad_p(p):
    with pytest.raises(ValueError, match="probability"):
        EdgeDrop(p)
    with pytest.raises(ValueError, match="probability"):
        drop_edges(torch.tensor([[0], [1]]), p)


def test_bad_edges():
    with pytest.raises(ValueError, match="out of range"):
        drop_edges(torch.tensor([[0, 5], [1, 2]]), 0.5, num_nodes=3)
    with pytest.raises(ValueError, match="shape"):
        drop_edges(torch.tensor([0, 1, 2]), 0.5)
    with pytest.raises(ValueError, match="empty"):
        drop_edges(torch.zeros(2, 0, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match="edge_probs"):
        drop_edges(torch.tensor([[0], [1]]), 0.5, edge_probs=torch.tensor([2.0]))
    with pytest.raises(ValueError, match="seed or generator"):
        EdgeDrop(0.5, seed=1, generator=torch.Generator())
