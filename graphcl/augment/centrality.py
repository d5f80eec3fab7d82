"""GCA's adaptive augmentation (Zhu et al., WWW 2021): node centralities, the edge and
feature drop weights derived from them, and weighted feature masking.

Centralities φ_c (sec. 4.2.1 of the paper, computed as the authors' code does):

* degree: the node's degree in the undirected version of the graph;
* PageRank: ``k`` power iterations from x = 1 of x ← (1 − α) x + α Σ_{s→t} x_s / d_out(s),
  α = 0.85, as the code's ``compute_pr`` (k = 200 for the edge weights, k = 10 for the
  feature weights). Note this keeps (1 − α)·x where PageRank has (1 − α)·1: it is a lazy
  random walk whose fixed point on an undirected graph is d_v · N / 2|E| (degree-proportional),
  not PageRank. ``teleport="uniform"`` gives the paper's PageRank, x ← (1 − α) + α Σ x_s / d_out(s)
  (networkx's ``pagerank`` times N on graphs without dangling nodes);
* eigenvector: the leading left eigenvector of the adjacency (networkx's
  ``eigenvector_centrality_numpy``: unit norm, positive sum), negatives clipped to 0.

Edge weights (eq. 14-15): s_e = log φ_c(v) of the edge's target v (+1e-8 inside the log for
the eigenvector centrality), w_e = (s_max − s_e) / (s_max − μ_s); the drop probability is
p_e = min(w_e / mean(w) · p, p_τ) (eq. 16, :func:`graphcl.augment.edges.weighted_drop_probs`).

Feature weights (eq. 17-19): w_j = Σ_u [x_uj ≠ 0] φ_c(u) for bag-of-words features
(``dense=True``: Σ_u |x_uj| φ_c(u)), s_j = log w_j, and the same normalization; column j is
masked with probability min(w_j / mean(w) · p, p_τ). A column that is zero for every node
(w_j = 0, log w_j = −inf, which makes every weight NaN in the authors' code) gets weight 0
and is left out of the normalization: masking it changes nothing.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from .base import bernoulli_mask, check_edge_index, check_probability
from .edges import degree_drop_weights
from .features import apply_column_mask

__all__ = ["CENTRALITIES", "node_centrality", "pagerank", "eigenvector_centrality", "centrality_edge_weights",
           "interaction_drop_probs", "feature_drop_weights", "weighted_feature_probs", "mask_features_weighted"]

Centrality = Literal["degree", "pagerank", "eigenvector"]
CENTRALITIES = ("degree", "pagerank", "eigenvector")


def _check_centrality(centrality: str) -> None:
    if centrality not in CENTRALITIES:
        raise ValueError(f"centrality must be one of {', '.join(CENTRALITIES)}, got {centrality!r}")


def undirected_degree(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Each node's number of distinct neighbours in the undirected version of the graph."""
    row, col = edge_index[0].long(), edge_index[1].long()
    both = torch.unique(torch.cat([row * num_nodes + col, col * num_nodes + row]))
    return torch.bincount(both % num_nodes, minlength=num_nodes).float()


def pagerank(edge_index: torch.Tensor, num_nodes: int | None = None, damping: float = 0.85,
             iterations: int = 10, teleport: str = "code") -> torch.Tensor:
    """``iterations`` steps from x = 1 of GCA's code, x ← (1 − α) x + α Σ_{s→t} x_s / d_out(s)
    (``teleport="code"``), or of PageRank, x ← (1 − α) + α Σ_{s→t} x_s / d_out(s) (``"uniform"``)."""
    if teleport not in ("code", "uniform"):
        raise ValueError(f"teleport must be 'code' or 'uniform', got {teleport!r}")
    n = check_edge_index(edge_index, num_nodes)
    src, dst = edge_index[0].long(), edge_index[1].long()
    out_degree = torch.bincount(src, minlength=n).float()
    x = torch.ones(n, device=edge_index.device)
    for _ in range(int(iterations)):
        messages = x[src] / out_degree[src]
        spread = torch.zeros(n, device=x.device).index_add_(0, dst, messages)
        x = (1 - damping) * (x if teleport == "code" else 1.0) + damping * spread
    return x


def eigenvector_centrality(edge_index: torch.Tensor, num_nodes: int | None = None) -> torch.Tensor:
    """The leading left eigenvector of A (A[s, t] = number of edges s -> t), unit norm and positive
    sum, as networkx's ``eigenvector_centrality_numpy`` (scipy's ARPACK ``eigs``)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigs
    n = check_edge_index(edge_index, num_nodes)
    src, dst = edge_index[0].cpu().numpy(), edge_index[1].cpu().numpy()
    keys = np.unique(src.astype(np.int64) * n + dst)      # networkx's graph has each edge once
    adjacency = sp.csr_matrix((np.ones(keys.size), (keys // n, keys % n)), shape=(n, n))
    if n <= 2:
        values, vectors = np.linalg.eig(adjacency.T.toarray())
        largest = vectors[:, int(np.argmax(values.real))].real
    else:
        _, vectors = eigs(adjacency.T, k=1, which="LR", maxiter=50 * n, tol=0)
        largest = vectors.flatten().real
    norm = np.sign(largest.sum()) * np.linalg.norm(largest)
    if norm == 0:
        raise ValueError("eigenvector centrality is undefined for a graph without edges")
    return torch.tensor(largest / norm, dtype=torch.float32, device=edge_index.device)


def node_centrality(edge_index: torch.Tensor, num_nodes: int, centrality: Centrality,
                    pagerank_iterations: int = 10, teleport: str = "code") -> torch.Tensor:
    """φ_c of every node (see the module docstring)."""
    _check_centrality(centrality)
    if centrality == "degree":
        return undirected_degree(edge_index, num_nodes)
    if centrality == "pagerank":
        return pagerank(edge_index, num_nodes, iterations=pagerank_iterations, teleport=teleport)
    return eigenvector_centrality(edge_index, num_nodes)


def _normalized(s: torch.Tensor) -> torch.Tensor:
    s_max, s_mean = s.max(), s.mean()
    if float(s_max - s_mean) <= 0:
        return torch.ones_like(s)
    return (s_max - s) / (s_max - s_mean)


def centrality_edge_weights(edge_index: torch.Tensor, num_nodes: int, centrality: Centrality,
                            teleport: str = "code") -> torch.Tensor:
    """GCA's w_e (eq. 14-15) from the centrality of each edge's target (PageRank: 200 iterations,
    as the code's ``pr_drop_weights``)."""
    _check_centrality(centrality)
    n = check_edge_index(edge_index, num_nodes)
    if edge_index.size(1) == 0:
        return torch.zeros(0, device=edge_index.device)
    if centrality == "degree":
        return degree_drop_weights(edge_index, n)
    if centrality == "pagerank":
        s = torch.log(pagerank(edge_index, n, iterations=200, teleport=teleport))
    else:
        s = torch.log(eigenvector_centrality(edge_index, n).clamp_min(0) + 1e-8)
    return _normalized(s[edge_index[1].long()])


def interaction_drop_probs(pairs: torch.Tensor, num_users: int, num_items: int, p: float,
                           centrality: Centrality = "degree", threshold: float = 0.7,
                           teleport: str = "code") -> torch.Tensor:
    """GCA's drop probability of each (user, item) pair of a user-item graph (eq. 14-16).

    The pairs are the undirected edges of the bipartite graph on the ``U + I`` users and
    items. Each direction gets GCA's weight from the centrality of its target (eq. 15) and
    its probability ``min(w_e / mean(w) · p, p_τ)`` (eq. 16); a pair drops with the mean
    of its two directions' probabilities, as :func:`graphcl.augment.edges.drop_edges` treats
    an undirected edge (the paper's eq. 14 averages the two endpoints' centralities for
    undirected graphs; the code's degree weights use the target's). Popular items and
    heavy users are the high-centrality ends: their pairs drop least.
    """
    from .edges import weighted_drop_probs
    pairs = pairs.long()
    users, items = pairs[0], pairs[1] + int(num_users)
    both = torch.stack([torch.cat([users, items]), torch.cat([items, users])])
    probs = weighted_drop_probs(centrality_edge_weights(both, int(num_users) + int(num_items), centrality, teleport),
                                p, threshold)
    half = pairs.size(1)
    return (probs[:half] + probs[half:]) / 2


def feature_drop_weights(x: torch.Tensor, node_weights: torch.Tensor, dense: bool = False) -> torch.Tensor:
    """GCA's feature weights (eq. 17-18): s_j = log Σ_u [x_uj ≠ 0] φ_c(u) (``dense``: |x_uj|),
    normalized as (s_max − s_j)/(s_max − μ_s) over the columns present in some node; absent
    columns get 0."""
    phi = node_weights.float()
    if x.layout == torch.sparse_csr:      # Σ over the stored entries, without densifying x
        values = x.values().float()
        occurrence = values.abs() if dense else (values != 0).float()
        rows = torch.repeat_interleave(torch.arange(x.size(0), device=x.device), x.crow_indices().diff())
        w = torch.zeros(x.size(1), device=x.device).index_add_(0, x.col_indices(), occurrence * phi[rows])
    else:
        occurrence = x.abs().float() if dense else (x != 0).float()
        w = occurrence.t() @ phi
    present = w > 0
    out = torch.zeros_like(w)
    if bool(present.any()):
        out[present] = _normalized(torch.log(w[present]))
    return out


def weighted_feature_probs(weights: torch.Tensor, p: float, threshold: float = 0.7) -> torch.Tensor:
    """Column drop probabilities min(w_j / mean(w) · p, p_τ) (GCA eq. 19)."""
    p = check_probability(p)
    threshold = check_probability(threshold, "threshold")
    mean = weights.float().mean()
    if weights.numel() == 0 or float(mean) == 0:
        return torch.zeros_like(weights, dtype=torch.float32)
    return (weights.float() / mean * p).clamp(0.0, threshold)


def mask_features_weighted(x: torch.Tensor, probs: torch.Tensor,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero column j of ``x`` with probability ``probs[j]`` (one draw per column; dense or CSR)."""
    if probs.dim() != 1 or probs.numel() != x.size(1):
        raise ValueError(f"probs must have one entry per column ({x.size(1)}), got {tuple(probs.shape)}")
    keep = bernoulli_mask(probs.to(x.device), x.size(1), x.device, generator)
    return apply_column_mask(x, keep)
