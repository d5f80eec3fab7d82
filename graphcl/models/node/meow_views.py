"""Fixed inputs of MEOW / AdaMEOW built once from a HeCo-format ``HeteroData``: the
PathSim top-k meta-path graphs, their edge-masked copies, the coarse graph, the
row-normalized (and masked) features, and the meta-path context operators.

Meta-path contexts: for a meta-path x₀x₁…x_l of the target type, the nodes of
type x_s reachable from node i in s steps along it (s = 1..l−1) are the
intermediate nodes of its path instances; ``context_operators`` returns, per
meta-path, one row-normalized reachability matrix per position s, so
``op @ h_{x_s}`` is the mean of those nodes' hidden features (MEOW's
``nei_index`` aggregation: ACM PAP -> authors, PSP -> subjects; DBLP APCPA ->
papers, conferences, papers of those conferences). Everything is sparse.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from graphcl.data.metapath import pathsim_topk, relation_matrix, sym_normalize
from graphcl.sparse import SparseGraph, csr_tensor

__all__ = ["per_metapath", "metapath_graphs", "masked_graph", "coarse_graph", "row_normalize",
           "mask_entries", "identity_keep_rows", "context_operators"]


def per_metapath(value: Any, m: int, key: str) -> list:
    """A config value given once or once per meta-path, as a list of length m."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) == 1:
        values = values * m
    if len(values) != m:
        raise ValueError(f"{key} has {len(values)} values for {m} meta-paths; give one value or "
                         f"one per meta-path")
    return values


def _graph(edge_index: Tensor, weight: Tensor, n: int, device: torch.device) -> SparseGraph:
    values = sym_normalize(edge_index, weight.float(), n)
    return SparseGraph.from_coo(edge_index[0].to(device), edge_index[1].to(device),
                                values.to(device), (n, n))


def metapath_graphs(data: Any, metapaths: Sequence[str], nei_max: Sequence[Any], values: str,
                    device: torch.device) -> tuple[list[SparseGraph], list[tuple[Tensor, Tensor]]]:
    """Per meta-path: Â = D^{-1/2} A D^{-1/2} of the PathSim top-k graph (k = ``nei_max``,
    None or 0 for all) and the kept (edge_index, weight) for masking."""
    t = data.target_type
    n = data[t].num_nodes
    graphs, kept = [], []
    for m, k in zip(metapaths, nei_max):
        store = data[t, m, t]
        k = int(k) if k else n
        ei, w = pathsim_topk(store.edge_index, store.edge_weight, n, k, values=values)
        graphs.append(_graph(ei, w, n, device))
        kept.append((ei, w))
    return graphs, kept


def masked_graph(edge_index: Tensor, n: int, p: float, generator: torch.Generator,
                 device: torch.device) -> SparseGraph:
    """MEOW's edge-masked graph: drop ⌊p·E⌋ of the E off-diagonal entries (uniformly,
    without replacement), set the rest to 1, add self loops, normalize symmetrically."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"adj_mask must be in [0, 1], got {p}")
    off = edge_index[:, edge_index[0] != edge_index[1]]
    perm = torch.randperm(off.shape[1], generator=generator)
    off = off[:, perm[int(p * off.shape[1]):]]
    loops = torch.arange(n).expand(2, n)
    ei = torch.cat([off, loops], 1)
    return _graph(ei, torch.ones(ei.shape[1]), n, device)


def coarse_graph(graphs: Sequence[SparseGraph]) -> SparseGraph:
    """The mean of the normalized meta-path graphs (MEOW's coarse view)."""
    rows, cols, vals = zip(*(g.coo() for g in graphs))
    return SparseGraph.from_coo(torch.cat(rows), torch.cat(cols), torch.cat(vals) / len(graphs),
                                graphs[0].shape)


def row_normalize(x: Tensor) -> Tensor:
    """x_ij / Σ_j x_ij for dense or CSR x (zero rows stay zero)."""
    if x.layout == torch.sparse_csr:
        crow, col, val = x.crow_indices(), x.col_indices(), x.values()
        counts = crow[1:] - crow[:-1]
        sums = torch.zeros(x.shape[0], dtype=val.dtype, device=val.device).index_add_(
            0, torch.repeat_interleave(torch.arange(x.shape[0], device=val.device), counts), val)
        scale = torch.where(sums != 0, 1.0 / sums, torch.zeros_like(sums))
        return csr_tensor(crow, col, val * torch.repeat_interleave(scale, counts), size=x.shape)
    total = x.sum(1, keepdim=True)
    return x / total.masked_fill(total == 0, 1.0)


def mask_entries(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Zero ⌊p·nnz⌋ of the nonzero entries of x, chosen uniformly (MEOW's feature mask)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"feat_mask must be in [0, 1], got {p}")
    if x.layout == torch.sparse_csr:
        val = x.values().clone()
        drop = torch.randperm(val.numel(), generator=generator)[:int(p * val.numel())]
        val[drop.to(val.device)] = 0
        return csr_tensor(x.crow_indices(), x.col_indices(), val, size=x.shape)
    out = x.clone()
    nz = out.nonzero()
    drop = torch.randperm(nz.shape[0], generator=generator)[:int(p * nz.shape[0])]
    out[nz[drop, 0], nz[drop, 1]] = 0
    return out


def identity_keep_rows(n: int, p: float, generator: torch.Generator) -> Tensor:
    """(n, 1) 0/1 column: :func:`mask_entries` applied to the n x n identity (one-hot
    features) zeroes ⌊p·n⌋ of its n nonzeros, i.e. whole rows; 0 marks those rows
    (the same draw as ``mask_entries`` on a CSR identity with the same generator)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"feat_mask must be in [0, 1], got {p}")
    keep = torch.ones(n, 1)
    keep[torch.randperm(n, generator=generator)[:int(p * n)]] = 0.0
    return keep


def _relation(data: Any, x: str, y: str) -> sp.csr_matrix | None:
    letters = data.type_letters
    tx, ty = letters[x], letters[y]
    for rel, flip in ((x + y, False), (y + x, True)):
        src, dst = (ty, tx) if flip else (tx, ty)
        if (src, rel, dst) in data.edge_types:
            pairs = data[src, rel, dst].edge_index.cpu().numpy()
            mat = relation_matrix(pairs, data[src].num_nodes, data[dst].num_nodes)
            return mat.T.tocsr() if flip else mat
    return None


def context_operators(data: Any, metapaths: Sequence[str],
                      device: torch.device) -> list[list[tuple[str, SparseGraph]]]:
    """Per meta-path, [(node type, row-normalized reachability operator)] for each
    intermediate position (see module docstring). Raises if a relation is missing."""
    out = []
    for m in metapaths:
        ops, reach = [], None
        for s in range(1, len(m) - 1):
            rel = _relation(data, m[s - 1], m[s])
            if rel is None:
                raise ValueError(f"meta-path {m!r}: no relation between types {m[s - 1]!r} and "
                                 f"{m[s]!r} in the data, so its context cannot be aggregated")
            reach = rel if reach is None else reach @ rel
            reach.data[:] = 1.0  # reachable or not
            coo = reach.tocoo()
            counts = np.asarray(reach.sum(1)).reshape(-1)
            vals = coo.data / np.maximum(counts[coo.row], 1)
            op = SparseGraph.from_coo(torch.from_numpy(coo.row.astype(np.int64)).to(device),
                                      torch.from_numpy(coo.col.astype(np.int64)).to(device),
                                      torch.from_numpy(vals.astype(np.float32)).to(device),
                                      reach.shape)
            ops.append((data.type_letters[m[s]], op))
        out.append(ops)
    return out
