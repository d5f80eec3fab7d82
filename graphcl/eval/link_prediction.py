"""Link prediction: dot-product AUC (Mann-Whitney with ties) and an undirected-aware
edge split with vectorized negative sampling."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor



# --------------------------------------------------------- link prediction
def auc_from_scores(pos: Tensor, neg: Tensor) -> float:
    """Exact ROC-AUC = (R_pos − P(P+1)/2) / (P·Q) with R_pos the sum of the
    positives' 1-based average ranks among all P + Q scores (Mann-Whitney U;
    a tie between a positive and a negative counts 1/2)."""
    p, q = pos.numel(), neg.numel()
    if p == 0 or q == 0:
        raise ValueError("AUC needs at least one positive and one negative score")
    scores = torch.cat([pos.reshape(-1), neg.reshape(-1)]).double()
    _, inverse, counts = torch.unique(scores, sorted=True, return_inverse=True, return_counts=True)
    avg_rank = counts.cumsum(0).double() - (counts.double() - 1) / 2
    r_pos = float(avg_rank[inverse[:p]].sum())
    return (r_pos - p * (p + 1) / 2) / (p * q)


def link_prediction_auc(embeddings: Tensor, pos_edges: Tensor, neg_edges: Tensor) -> float:
    """AUC of dot-product scores s(i, j) = z_i · z_j on positive vs negative (2, m) edges."""
    z = embeddings.detach()
    pos_edges, neg_edges = pos_edges.to(z.device), neg_edges.to(z.device)
    s_pos = (z[pos_edges[0]] * z[pos_edges[1]]).sum(1)
    s_neg = (z[neg_edges[0]] * z[neg_edges[1]]).sum(1)
    return auc_from_scores(s_pos, s_neg)


def _first_occurrences(keys: Tensor) -> Tensor:
    """Distinct values of ``keys`` in order of first appearance."""
    uniq, inv = torch.unique(keys, return_inverse=True)
    pos = torch.arange(keys.numel(), device=keys.device)
    first = torch.full((uniq.numel(),), keys.numel(), device=keys.device).scatter_reduce(
        0, inv, pos, reduce="amin")
    return keys[first.sort().values]


def _sample_negative_keys(existing: Tensor, num: int, num_nodes: int, undirected: bool,
                          gen: torch.Generator, max_rounds: int = 100) -> Tensor:
    """``num`` distinct uniform random non-edges (keys i·N + j; i < j when undirected)."""
    found = torch.empty(0, dtype=torch.long)
    for _ in range(max_rounds):
        if found.numel() >= num:
            return found[:num]
        m = 2 * (num - found.numel()) + 64
        i = torch.randint(num_nodes, (m,), generator=gen)
        j = torch.randint(num_nodes, (m,), generator=gen)
        if undirected:
            i, j = torch.minimum(i, j), torch.maximum(i, j)
        keys = (i * num_nodes + j)[i != j]
        keys = keys[~torch.isin(keys, existing)]
        found = _first_occurrences(torch.cat([found, keys]))
    raise ValueError(f"could not sample {num} negative pairs: the graph is too dense")


def split_edges_for_link_prediction(edge_index: Tensor, num_nodes: int, val: float = 0.05,
                                    test: float = 0.1, seed: int = 0,
                                    undirected: Optional[bool] = None) -> dict[str, Tensor]:
    """Random edge split for link prediction with sampled negatives.

    Self-loops and duplicates are dropped. ``undirected`` (detected when None:
    every edge's reverse is present) splits unordered pairs {i, j}, so an edge
    and its reverse always land in the same part. Returns (2, m) tensors
    ``train_pos``, ``val_pos``, ``test_pos``, ``val_neg``, ``test_neg`` (one
    negative per positive, drawn uniformly among non-edges of the whole graph,
    never an existing edge nor a duplicate) and ``train_edge_index`` (the
    training edges, both directions when undirected, for message passing).
    """
    ei = torch.as_tensor(edge_index).long().cpu()
    ei = ei[:, ei[0] != ei[1]]
    n = int(num_nodes)
    keys = torch.unique(ei[0] * n + ei[1])
    if undirected is None:
        undirected = bool(torch.isin(ei[1] * n + ei[0], keys).all())
    if undirected:
        lo, hi = torch.minimum(ei[0], ei[1]), torch.maximum(ei[0], ei[1])
        keys = torch.unique(lo * n + hi)
    gen = torch.Generator().manual_seed(int(seed))
    m = keys.numel()
    n_test, n_val = int(test * m), int(val * m)
    if n_test + n_val >= m:
        raise ValueError(f"val + test leave no training edge ({m} edges)")
    shuffled = keys[torch.randperm(m, generator=gen)]
    neg = _sample_negative_keys(keys, n_val + n_test, n, undirected, gen)

    def pairs(k: Tensor) -> Tensor:
        return torch.stack([k // n, k % n])
    train = pairs(shuffled[n_test + n_val:])
    out = {"test_pos": pairs(shuffled[:n_test]), "val_pos": pairs(shuffled[n_test:n_test + n_val]),
           "train_pos": train, "test_neg": pairs(neg[:n_test]), "val_neg": pairs(neg[n_test:]),
           "train_edge_index": torch.cat([train, train.flip(0)], 1) if undirected else train}
    return out
