"""GCA's centralities and adaptive weights (graphcl.augment.centrality) against independent
references: networkx for PageRank's fixed point and the eigenvector centrality, and GCA's
equations written out per edge / per column here."""
from __future__ import annotations

import math

import networkx as nx
import pytest
import torch

from graphcl.augment.centrality import (centrality_edge_weights, eigenvector_centrality, feature_drop_weights,
                                        mask_features_weighted, node_centrality, pagerank, weighted_feature_probs)


def _karate() -> tuple[torch.Tensor, int, nx.Graph]:
    g = nx.karate_club_graph()
    pairs = [(u, v) for u, v in g.edges()] + [(v, u) for u, v in g.edges()]
    return torch.tensor(pairs).t(), g.number_of_nodes(), g


def test_eigenvector_centrality_matches_networkx():
    edge_index, n, g = _karate()
    ours = eigenvector_centrality(edge_index, n)
    theirs = nx.eigenvector_centrality_numpy(g)
    assert torch.allclose(ours, torch.tensor([theirs[i] for i in range(n)], dtype=torch.float32), atol=1e-6)
    assert float(ours.norm()) == pytest.approx(1.0, abs=1e-6) and float(ours.min()) > 0


def test_pagerank_iterates_gca_update_and_converges_to_networkx_up_to_scale():
    edge_index, n, g = _karate()
    # one step by hand from x = 1: x_t = 0.15 + 0.85 Σ_{s->t} 1 / d_out(s)
    deg = {u: g.degree(u) for u in g}
    one = pagerank(edge_index, n, iterations=1)
    expected = torch.tensor([0.15 + 0.85 * sum(1 / deg[s] for s in g.neighbors(t)) for t in range(n)])
    assert torch.allclose(one, expected, atol=1e-6)
    # GCA's code keeps (1 − α)·x: a lazy random walk whose fixed point is degree · n / 2|E| ...
    fixed = pagerank(edge_index, n, iterations=200)
    degree = torch.tensor([float(deg[i]) for i in range(n)])
    assert torch.allclose(fixed, degree * n / degree.sum(), atol=1e-4)
    # ... and the paper's PageRank (teleport 1 − α) converges to networkx's PageRank times n
    paper = pagerank(edge_index, n, iterations=200, teleport="uniform")
    reference = nx.pagerank(g, alpha=0.85, tol=1e-12, weight=None)
    assert torch.allclose(paper / n, torch.tensor([reference[i] for i in range(n)], dtype=torch.float32), atol=1e-5)
    with pytest.raises(ValueError, match="teleport must be 'code' or 'uniform', got 'x'"):
        pagerank(edge_index, n, teleport="x")


@pytest.mark.parametrize("centrality", ["degree", "pagerank", "eigenvector"])
def test_edge_weights_follow_gca_eq_14_15(centrality):
    edge_index, n, g = _karate()
    if centrality == "degree":
        phi = {u: float(g.degree(u)) for u in g}
    elif centrality == "pagerank":           # GCA's code: 200 steps reach its degree-proportional fixed point
        phi = {u: g.degree(u) * n / (2 * g.number_of_edges()) for u in g}
    else:
        ev = nx.eigenvector_centrality_numpy(g)
        phi = {u: max(ev[u], 0.0) + 1e-8 for u in g}
    s = [math.log(phi[int(t)]) for t in edge_index[1]]
    s_max, s_mean = max(s), sum(s) / len(s)
    expected = torch.tensor([(s_max - v) / (s_max - s_mean) for v in s], dtype=torch.float32)
    ours = centrality_edge_weights(edge_index, n, centrality)
    assert torch.allclose(ours, expected, atol=2e-4)
    assert float(ours.mean()) == pytest.approx(1.0, abs=1e-4)       # (s_max − s̄)/(s_max − μ_s) averages to 1


def test_feature_weights_follow_gca_eq_17_18_and_skip_absent_columns():
    x = torch.tensor([[1.0, 0.0, 2.0, 0.0], [0.0, 0.0, 1.0, 0.0], [3.0, 1.0, 0.0, 0.0]])
    phi = torch.tensor([1.0, 2.0, 4.0])
    w = [1 * 1 + 1 * 4, 4, 1 + 2]                       # Σ_u [x_uj ≠ 0] φ(u) for the 3 present columns
    s = [math.log(v) for v in w]
    s_max, s_mean = max(s), sum(s) / 3
    expected = [(s_max - v) / (s_max - s_mean) for v in s]
    ours = feature_drop_weights(x, phi)
    assert torch.allclose(ours[[0, 1, 2]], torch.tensor(expected), atol=1e-6) and float(ours[3]) == 0.0
    from graphcl.sparse import to_csr
    assert torch.allclose(feature_drop_weights(to_csr(x), phi), ours)          # CSR: the same weights
    assert torch.allclose(feature_drop_weights(to_csr(x), phi, dense=True), feature_drop_weights(x, phi, dense=True))
    dense = feature_drop_weights(x, phi, dense=True)   # |x_uj| φ(u): column 0 is 1 + 12, column 2 is 2 + 2
    s = [math.log(13.0), math.log(4.0), math.log(4.0)]
    s_max, s_mean = max(s), sum(s) / 3
    assert torch.allclose(dense[[0, 1, 2]], torch.tensor([(s_max - v) / (s_max - s_mean) for v in s]), atol=1e-6)


def test_weighted_feature_masking_rates():
    probs = weighted_feature_probs(torch.tensor([0.0, 1.0, 2.0, 5.0]), p=0.4, threshold=0.7)
    assert torch.allclose(probs, torch.tensor([0.0, 0.2, 0.4, 0.7]))           # w / mean(w) · p, capped
    x = torch.ones(3, 4)
    gen = torch.Generator().manual_seed(0)
    dropped = torch.stack([(mask_features_weighted(x, probs, gen)[0] == 0).float() for _ in range(4000)]).mean(0)
    assert torch.allclose(dropped, probs, atol=0.03)
    with pytest.raises(ValueError, match=r"probs must have one entry per column \(4\)"):
        mask_features_weighted(x, probs[:3])


def test_node_centrality_names_are_checked():
    edge_index, n, _ = _karate()
    assert torch.equal(node_centrality(edge_index, n, "degree"),
                       torch.bincount(edge_index[1], minlength=n).float())
    with pytest.raises(ValueError, match="centrality must be one of degree, pagerank, eigenvector, got 'closeness'"):
        node_centrality(edge_index, n, "closeness")
