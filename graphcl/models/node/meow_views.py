"""Fixed inputs of MEOW / AdaMEOW built once from a HeCo-format ``HeteroData``: the
PathSim top-k meta-path graphs, their edge-masked copies, the coarse graph, the
row-normalized (and masked) features, and the meta-path context operators.

Meta-path contexts: for a meta-path x₀x₁…x_l of the target type, the nodes of
type x_s reachable from node i in s steps along it (s = 1..l−1) are the
intermediate nodes of its path instances; ``context_operators`` returns, per
meta-path, one row-normalized reachability matrix per position s, so
``op @ h_{x_s}`` is the mean of those nodes' hidden features (MEOW's
``nei_index`` aggregation: ACM PAP -> authors, PSP -> subjects; DBLP APCPA ->
papers, conferences, papers of those conferences). Everything is sparse; a position
whose reachability is exactly the product of its relations stays that product
(:class:`ChainOperator`).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from graphcl.data.metapath import pathsim_topk, relation_matrix, sym_normalize
from graphcl.sparse import SparseGraph, csr_tensor

__all__ = ["METAPATH_LAYOUTS", "per_metapath", "reference_topk", "metapath_graphs", "masked_graph",
           "coarse_graph", "row_normalize", "mask_entries", "identity_keep_rows", "context_operators",
           "ChainOperator"]

#: ``metapath_layout`` values: ``own_topk`` (graphcl, row i aggregates over its own top-k) and
#: ``reference_transposed`` (the authors' code: its top-k order, then the normalized graph transposed)
METAPATH_LAYOUTS = ("own_topk", "reference_transposed")


def per_metapath(value: Any, m: int, key: str) -> list:
    """A config value given once or once per meta-path, as a list of length m."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) == 1:
        values = values * m
    if len(values) != m:
        raise ValueError(f"{key} has {len(values)} values for {m} meta-paths; give one value or "
                         f"one per meta-path")
    return values


def _check_layout(layout: str) -> None:
    if layout not in METAPATH_LAYOUTS:
        raise ValueError(f"metapath_layout must be one of {', '.join(METAPATH_LAYOUTS)}, got {layout!r}")


def _graph(edge_index: Tensor, weight: Tensor, n: int, device: torch.device,
           transpose: bool = False) -> SparseGraph:
    """D^{-1/2} A D^{-1/2} (D = row sums of A), or its transpose D^{-1/2} Aᵀ D^{-1/2}
    (entry (i, j) = d_i^{-1/2} A_ji d_j^{-1/2}: the same values at swapped positions)."""
    values = sym_normalize(edge_index, weight.float(), n)
    rows, cols = (edge_index[1], edge_index[0]) if transpose else (edge_index[0], edge_index[1])
    return SparseGraph.from_coo(rows.to(device), cols.to(device), values.to(device), (n, n))


def reference_topk(edge_index: Tensor, counts: Tensor, num_nodes: int, k: int, values: str = "count",
                   chunk_rows: int = 256) -> tuple[Tensor, Tensor]:
    """The authors' top-k (jianxiangyu/MEOW@6a072d7 ``code_meow/module/preprocess.py`` ``pathsim``,
    lines 78-100; the same function in ``code_adameow``): per row i of the dense PathSim matrix
    S (s_ij = 2C_ij/(C_ii + C_jj) at the nonzeros of C, 0 elsewhere) the first ``k`` columns of
    ``np.argsort(S[i])[::-1]`` (line 90; numpy's default sort, reversed), i.e. the k largest values with
    ties in that order (NOT the diagonal first: on a row of tied values the node itself may be
    left out), keeping only the entries with C_ij > 0 (the code keeps A[i, j], so the zeros it
    picks when a row has fewer than k nonzeros hold nothing). Identical rows (e.g. ACM's PSP, a
    union of cliques of tied papers) keep identical columns. The tie order is numpy's; this
    function calls the same ``np.argsort`` on the same float64 values, row blocks of
    ``chunk_rows`` at a time (O(N²) time and O(chunk_rows·N) memory, as the code's dense pass).

    Returns ``(edge_index, weight)`` of the kept entries in row-major order, weight as
    :func:`graphcl.data.metapath.pathsim_topk` (``count``, ``pathsim`` or ``binary``).
    """
    if k < 1:
        raise ValueError(f"top-k needs k >= 1, got {k}")
    if values not in ("count", "pathsim", "binary"):
        raise ValueError(f"values must be 'count', 'pathsim' or 'binary', got {values!r}")
    row = edge_index[0].cpu().numpy().astype(np.int64)
    col = edge_index[1].cpu().numpy().astype(np.int64)
    c = counts.detach().cpu().numpy().astype(np.float64)
    if c.size and bool((c <= 0).any()):
        raise ValueError("path counts must be positive (drop zero entries first)")
    diag = np.zeros(num_nodes, dtype=np.float64)
    loops = row == col
    diag[row[loops]] = c[loops]
    sim = 2 * c / (diag[row] + diag[col])  # the code's 2 * A[i, j] / (A[i, i] + A[j, j])
    s_mat = sp.csr_matrix((sim, (row, col)), shape=(num_nodes, num_nodes))
    c_mat = sp.csr_matrix((c, (row, col)), shape=(num_nodes, num_nodes))
    kk = min(int(k), num_nodes)
    out_r, out_c, out_w = [], [], []
    for start in range(0, num_nodes, int(chunk_rows)):
        stop = min(start + int(chunk_rows), num_nodes)
        dense = s_mat[start:stop].toarray()
        top = np.sort(np.argsort(dense, axis=1)[:, ::-1][:, :kk], axis=1)
        r = np.repeat(np.arange(start, stop), kk)
        cc = top.reshape(-1)
        sv = dense[r - start, cc]
        keep = sv > 0
        if values == "count":
            wv = c_mat[start:stop].toarray()[r[keep] - start, cc[keep]]
        else:
            wv = sv[keep] if values == "pathsim" else np.ones(int(keep.sum()))
        out_r.append(r[keep])
        out_c.append(cc[keep])
        out_w.append(wv)
    kr = np.concatenate(out_r) if out_r else np.zeros(0, dtype=np.int64)
    kc = np.concatenate(out_c) if out_c else np.zeros(0, dtype=np.int64)
    weight = np.concatenate(out_w) if out_w else np.zeros(0)
    ei = torch.from_numpy(np.vstack([kr, kc]).astype(np.int64))
    return ei.to(edge_index.device), torch.from_numpy(weight.astype(np.float32)).to(edge_index.device)


def metapath_graphs(data: Any, metapaths: Sequence[str], nei_max: Sequence[Any], values: str,
                    device: torch.device, layout: str = "own_topk",
                    ) -> tuple[list[SparseGraph], list[tuple[Tensor, Tensor]]]:
    """Per meta-path, the normalized PathSim top-k graph (k = ``nei_max``, None or 0 for all)
    and the kept (edge_index, weight) A for masking.

    ``layout``: ``"own_topk"`` (default): A from :func:`graphcl.data.metapath.pathsim_topk`
    (ties: the node itself, then by column) and Â = D^{-1/2} A D^{-1/2}, so row i aggregates
    over its own top-k. ``"reference_transposed"``: the authors' code — A from
    :func:`reference_topk` (numpy's argsort tie order) and Â = D^{-1/2} Aᵀ D^{-1/2} with D the
    row sums of A (``code_meow/module/preprocess.py`` ``normalize_adj``, lines 16-29, line 24:
    ``adj.dot(D).transpose().dot(D)``), so row i aggregates over the nodes whose top-k holds
    i, and a node in nobody's top-k has an empty row (its propagated features are 0).
    """
    _check_layout(layout)
    t = data.target_type
    n = data[t].num_nodes
    graphs, kept = [], []
    for m, k in zip(metapaths, nei_max):
        store = data[t, m, t]
        k = int(k) if k else n
        if layout == "reference_transposed":
            ei, w = reference_topk(store.edge_index, store.edge_weight, n, k, values=values)
        else:
            ei, w = pathsim_topk(store.edge_index, store.edge_weight, n, k, values=values)
        graphs.append(_graph(ei, w, n, device, transpose=layout == "reference_transposed"))
        kept.append((ei, w))
    return graphs, kept


def masked_graph(edge_index: Tensor, n: int, p: float, generator: torch.Generator,
                 device: torch.device, layout: str = "own_topk") -> SparseGraph:
    """MEOW's edge-masked graph: drop ⌊p·E⌋ of the E off-diagonal entries (uniformly,
    without replacement), set the rest to 1, add self loops, normalize symmetrically
    (D^{-1/2} M D^{-1/2}; ``layout="reference_transposed"``: D^{-1/2} Mᵀ D^{-1/2}, D the row
    sums of M, as the authors' ``mask_edges`` -> ``normalize_adj``)."""
    _check_layout(layout)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"adj_mask must be in [0, 1], got {p}")
    off = edge_index[:, edge_index[0] != edge_index[1]]
    perm = torch.randperm(off.shape[1], generator=generator)
    off = off[:, perm[int(p * off.shape[1]):]]
    loops = torch.arange(n).expand(2, n)
    ei = torch.cat([off, loops], 1)
    return _graph(ei, torch.ones(ei.shape[1]), n, device, transpose=layout == "reference_transposed")


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


class ChainOperator:
    """diag(scale) · F₁ F₂ ⋯ F_m applied right to left (``op @ h``), the factors sparse.

    A meta-path context's row-normalized reachability D⁻¹R kept as the product of its
    relations when that product is already binary (no pair of nodes joined by two path
    prefixes), so the mean over e.g. DBLP APCPA's third position (the papers of an author's
    conferences: 10.2 M reachable pairs) costs the relations' 4 K + 14 K entries instead."""

    def __init__(self, factors: Sequence[SparseGraph], scale: Tensor) -> None:
        if not factors or scale.shape != (factors[0].shape[0],):
            raise ValueError("a chain needs factors and one scale per row of the first")
        self.factors, self.scale = list(factors), scale

    @property
    def shape(self) -> tuple[int, int]:
        return self.factors[0].shape[0], self.factors[-1].shape[1]

    def __matmul__(self, x: Tensor) -> Tensor:
        for factor in reversed(self.factors):
            x = factor @ x
        return x * self.scale[:, None]

    def to_dense(self) -> Tensor:
        out = self.factors[-1].to_dense()
        for factor in reversed(self.factors[:-1]):
            out = factor.to_dense() @ out
        return out * self.scale[:, None]


def _binary_graph(mat: sp.csr_matrix, device: torch.device, scale: np.ndarray | None = None) -> SparseGraph:
    coo = mat.tocoo()
    vals = np.ones(coo.nnz) if scale is None else scale[coo.row]
    return SparseGraph.from_coo(torch.from_numpy(coo.row.astype(np.int64)).to(device),
                                torch.from_numpy(coo.col.astype(np.int64)).to(device),
                                torch.from_numpy(vals.astype(np.float32)).to(device), mat.shape)


def context_operators(data: Any, metapaths: Sequence[str], device: torch.device,
                      factored: bool = True) -> list[list[tuple[str, SparseGraph | ChainOperator]]]:
    """Per meta-path, [(node type, row-normalized reachability operator)] for each
    intermediate position (see module docstring). Raises if a relation is missing.

    ``factored``: where the binary reachability R of a position is exactly the product of the
    relations along the way (no entry above 1 before binarizing) and those hold fewer entries
    than R, the operator is a :class:`ChainOperator` of them (same values: tests); otherwise R
    itself, materialized."""
    out = []
    for m in metapaths:
        ops, reach, factors = [], None, []
        for s in range(1, len(m) - 1):
            rel = _relation(data, m[s - 1], m[s])
            if rel is None:
                raise ValueError(f"meta-path {m!r}: no relation between types {m[s - 1]!r} and "
                                 f"{m[s]!r} in the data, so its context cannot be aggregated")
            rel = rel.copy()
            rel.data[:] = 1.0
            if reach is None:
                reach, factors = rel, [rel]
            else:
                reach = reach @ rel
                exact = reach.nnz == 0 or float(reach.data.max()) <= 1.0
                reach.data[:] = 1.0  # reachable or not
                factors = factors + [rel] if exact else [reach]
            scale = 1.0 / np.maximum(np.asarray(reach.sum(1)).reshape(-1), 1)
            if factored and len(factors) > 1 and sum(f.nnz for f in factors) < reach.nnz:
                op: SparseGraph | ChainOperator = ChainOperator(
                    [_binary_graph(f, device) for f in factors],
                    torch.from_numpy(scale.astype(np.float32)).to(device))
            else:
                op = _binary_graph(reach, device, scale)
            ops.append((data.type_letters[m[s]], op))
        out.append(ops)
    return out
