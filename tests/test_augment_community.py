"""Community detection, community strength (vs networkx modularity), CED, CAV."""
from __future__ import annotations

import shutil
import sys

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data

from graphcl.augment import (CommunalAttributeVoting, CommunalEdgeDrop, CommunityStrength,
                             cav_drop_probs, ced_keep_probs, communal_attribute_voting,
                             communal_edge_drop, community_strength, detect_communities)

from _augment_helpers import assert_unchanged, edge_set, graphs, snapshot, toy_two_communities


def _modularity(edge_index: torch.Tensor, community: torch.Tensor, n: int) -> float:
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edge_index.T.tolist())
    groups = [set(torch.nonzero(community == c).flatten().tolist()) for c in community.unique()]
    return nx.community.modularity(g, groups)


def test_strength_by_hand():
    ei = toy_two_communities()
    comm = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    cs_c, cs_n = community_strength(ei, comm, 7, dtype=torch.float64)
    m = 8.0  # undirected edges
    expected0 = 3 / m - (7 / (2 * m)) ** 2  # L=3, degrees 2+2+3
    expected1 = 4 / m - (9 / (2 * m)) ** 2  # L=4, degrees 3+2+3+1
    torch.testing.assert_close(cs_c, torch.tensor([expected0, expected1], dtype=torch.float64))
    torch.testing.assert_close(cs_n, cs_c[comm])
    assert abs(float(cs_c.sum()) - _modularity(ei, comm, 7)) < 1e-12
    # directed-once, duplicated and self-loop edges are counted as networkx does
    half = ei[:, :8]
    dup = torch.cat([half, half, torch.tensor([[6], [6]])], 1)
    cs_c2, _ = community_strength(dup, comm, 7, dtype=torch.float64)
    assert abs(float(cs_c2.sum()) - _modularity(dup, comm, 7)) < 1e-12


@settings(max_examples=30, deadline=None)
@given(graphs(min_edges=1), st.integers(1, 4), st.integers(0, 50))
def test_strength_sum_is_modularity(data, k, seed):
    comm = torch.randint(k, (data.num_nodes,), generator=torch.Generator().manual_seed(seed))
    cs_c, cs_n = community_strength(data.edge_index, comm, data.num_nodes, dtype=torch.float64)
    assert abs(float(cs_c.sum()) - _modularity(data.edge_index, comm, data.num_nodes)) < 1e-10


def test_detect_and_transform():
    ei = toy_two_communities()
    comm = detect_communities(ei, 7, seed=0)
    assert comm.dtype == torch.long and comm.shape == (7,)
    assert comm[0] == comm[1] == comm[2] and comm[3] == comm[4] == comm[5] and comm[0] != comm[3]
    assert torch.equal(comm, detect_communities(ei, 7, seed=0))
    data = Data(edge_index=ei, num_nodes=7, x=torch.randn(7, 3))
    snap = snapshot(data)
    out = CommunityStrength()(data)
    assert_unchanged(data, snap)
    assert out.community_strength.shape == (7,) and out.cs_per_community.numel() == int(comm.max()) + 1
    with pytest.raises(ValueError, match="unknown"):
        detect_communities(ei, 7, method="girvan")
    with pytest.raises(ValueError, match="no edges"):
        detect_communities(torch.zeros(2, 0, dtype=torch.long), 3)


def test_leiden_missing_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "leidenalg", None)
    with pytest.raises(ImportError, match="leidenalg"):
        detect_communities(toy_two_communities(), 7, method="leiden")


def test_leiden_on_cora_is_seeded_and_matches_networkx_modularity(shared_data):
    """The paper's detector (``method='leiden'``, the ``community`` extra): the same seed gives the
    same partition, and the community strengths sum to networkx's modularity of it."""
    pytest.importorskip("leidenalg")
    from graphcl.data import load
    data = load("cora", root=shared_data)
    comm = detect_communities(data.edge_index, data.num_nodes, method="leiden", seed=0)
    assert torch.equal(comm, detect_communities(data.edge_index, data.num_nodes, method="leiden", seed=0))
    assert comm.shape == (data.num_nodes,) and int(comm.min()) == 0
    assert torch.unique(comm).numel() == int(comm.max()) + 1  # numbered 0..C-1 without gaps
    cs_c, _ = community_strength(data.edge_index, comm, data.num_nodes, dtype=torch.float64)
    q = _modularity(data.edge_index, comm, data.num_nodes)
    assert abs(float(cs_c.sum()) - q) < 1e-6 and q > 0.75


def test_cora_strength_matches_networkx(shared_data, tmp_path):
    from torch_geometric.datasets import Planetoid
    src = shared_data / "pyg" / "Planetoid" / "Cora" / "raw"
    shutil.copytree(src, tmp_path / "Cora" / "raw")
    data = Planetoid(root=str(tmp_path), name="Cora")[0]
    out = CommunityStrength(seed=0)(data)
    q = _modularity(data.edge_index, out.community, data.num_nodes)
    assert abs(float(out.cs_per_community.double().sum()) - q) < 1e-5
    assert q > 0.7  # Louvain on Cora reaches ~0.8
    x = CommunalAttributeVoting(0.3, seed=0)(out).x
    assert not torch.isnan(x).any()
    kept = CommunalEdgeDrop(0.3, seed=0)(out).edge_index
    assert 0 < kept.size(1) < data.edge_index.size(1)


def _ced_reference(edge_index, community, cs, p, threshold):
    """Plain per-edge loop, as written in the paper (reference only)."""
    ws = []
    for u, v in edge_index.T.tolist():
        cu, cv = int(community[u]), int(community[v])
        ws.append(float(cs[cu]) if cu == cv else -(float(cs[cu]) + float(cs[cv])))
    lo, hi = min(ws), max(ws)
    ws = [(w - lo) / (hi - lo) for w in ws]
    mean = sum(ws) / len(ws)
    return [min(max(w / mean * (1 - p), 1 - threshold), 1.0) for w in ws]


@pytest.mark.parametrize("p,threshold", [(0.3, 1.0), (0.5, 0.7), (0.0, 0.2)])
def test_ced_matches_loop(p, threshold):
    ei = toy_two_communities()
    comm = torch.tensor([0, 0, 0, 1, 1, 1, 2])
    cs_c, _ = community_strength(ei, comm, 7, dtype=torch.float64)
    vec = ced_keep_probs(ei, comm, cs_c, p, threshold)
    ref = torch.tensor(_ced_reference(ei, comm, cs_c, p, threshold))
    torch.testing.assert_close(vec, ref.float())


@settings(max_examples=30, deadline=None)
@given(graphs(min_edges=1), st.floats(0, 1), st.integers(0, 50))
def test_ced_properties(data, p, seed):
    comm = torch.randint(3, (data.num_nodes,), generator=torch.Generator().manual_seed(seed))
    cs_c, _ = community_strength(data.edge_index, comm, data.num_nodes)
    probs = ced_keep_probs(data.edge_index, comm, cs_c, p)
    assert not torch.isnan(probs).any() and bool(((probs >= 0) & (probs <= 1)).all())
    ei, keep = communal_edge_drop(data.edge_index, comm, cs_c, p,
                                  generator=torch.Generator().manual_seed(seed))
    assert edge_set(ei) <= edge_set(data.edge_index)
    ei2, _ = communal_edge_drop(data.edge_index, comm, cs_c, p,
                                generator=torch.Generator().manual_seed(seed))
    assert torch.equal(ei, ei2)
    if p == 1.0:
        assert ei.size(1) == 0


def test_ced_transform_needs_strength():
    data = Data(edge_index=toy_two_communities(), num_nodes=7)
    with pytest.raises(ValueError, match="CommunityStrength"):
        CommunalEdgeDrop(0.3)(data)
    out = CommunalEdgeDrop(0.0, seed=0)(CommunityStrength()(data))
    assert edge_set(out.edge_index) <= edge_set(data.edge_index)


def test_cav_never_nan():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(7, 6, generator=g)
    x[:, 2] = 0.0  # all-zero column
    cs = torch.tensor([-0.2, -0.2, 0.1, 0.3, 0.3, -0.05, 0.0])
    x[:, 4] = torch.tensor([1.0, 1.0, 0, 0, 0, 0, 0])  # voted only by negative strength
    for zero_weight in ("keep", "drop"):
        probs = cav_drop_probs(x, cs, 0.4, 0.7, zero_weight=zero_weight)
        assert not torch.isnan(probs).any() and bool(((probs >= 0) & (probs <= 0.7)).all())
        assert probs[4] == probs.max()  # negative vote -> highest drop probability
    assert cav_drop_probs(x, cs, 0.4, zero_weight="keep")[2] == 0
    assert cav_drop_probs(x, cs, 0.4, zero_weight="drop")[2] == probs.max()
    # all strengths negative or zero: uniform p, still no NaN
    probs = cav_drop_probs(x, -cs.abs(), 0.4)
    torch.testing.assert_close(probs, torch.full((6,), 0.4))
    out = communal_attribute_voting(x, cs, 0.4, generator=torch.Generator().manual_seed(1))
    assert not torch.isnan(out).any()
    zeroed, kept = (out == 0).all(0), (out == x).all(0)
    assert bool((zeroed | kept).all())


def test_cav_formula():
    x = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 1.0], [1.0, 1.0, 0.0]])
    cs = torch.tensor([0.2, 0.1, 0.4])
    w = x.T.double() @ cs.double()
    s = w.log()
    p_j = (s.max() - s) / (s.max() - s.min())
    expected = (p_j / p_j.mean() * 0.3).clamp(0, 0.7).float()
    torch.testing.assert_close(cav_drop_probs(x, cs, 0.3, 0.7), expected)


def test_cav_errors():
    data = Data(edge_index=toy_two_communities(), num_nodes=7)
    with pytest.raises(ValueError, match="missing node features"):
        CommunalAttributeVoting(0.3)(CommunityStrength()(data))
    with pytest.raises(ValueError, match="NaN"):
        cav_drop_probs(torch.tensor([[float("nan")], [1.0]]), torch.ones(2), 0.3)
    with pytest.raises(ValueError, match="probability"):
        CommunalAttributeVoting(1.2)
