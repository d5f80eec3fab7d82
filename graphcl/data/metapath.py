"""Meta-path graphs: commuting matrices, PathSim top-k sparsification, symmetric
normalization and the homogeneous view of one meta-path (all sparse, no N x N).

* Commuting matrix of a meta-path P = (x_0 x_1 ... x_l): C_P = A_{x0x1} A_{x1x2} ... A_{x(l-1)xl},
  C_P[i, j] = number of path instances from i to j. For a symmetric meta-path
  (a palindrome such as APCPA) C_P = H Hᵀ with H the product over the first half.
* PathSim (Sun et al., VLDB 2011, eq. 1): s_ij = 2 C_ij / (C_ii + C_jj).
* MEOW keeps, per node i, the ``k`` neighbours of largest s_ij (top-k per row) and
  normalizes the kept matrix symmetrically: Â = D^{-1/2} A D^{-1/2}, D = diag(row sums).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

__all__ = ["relation_matrix", "compose_commuting_matrix", "commuting_counts_at", "pathsim_topk",
           "sym_normalize", "metapath_view"]


def relation_matrix(pairs: np.ndarray, n_src: int, n_dst: int) -> sp.csr_matrix:
    """Binary CSR incidence matrix of a relation given as (2, E) pairs."""
    return sp.csr_matrix((np.ones(pairs.shape[1], dtype=np.float64), (pairs[0], pairs[1])),
                         shape=(n_src, n_dst))


def _half_product(metapath: str, relations: dict[str, np.ndarray],
                  counts: dict[str, int]) -> Optional[tuple[sp.csr_matrix, bool]]:
    """(H, palindrome): H the product over the first half of a symmetric meta-path
    (C = H Hᵀ), else over all of it (C = H). None when a step has no relation."""
    steps = []
    for x, y in zip(metapath[:-1], metapath[1:]):
        if x + y in relations:
            steps.append(relation_matrix(relations[x + y], counts[x], counts[y]))
        elif y + x in relations:
            steps.append(relation_matrix(relations[y + x], counts[y], counts[x]).T.tocsr())
        else:
            return None
    palindrome = metapath == metapath[::-1] and len(metapath) % 2 == 1
    half = steps[:len(steps) // 2] if palindrome else steps
    prod = half[0]
    for step in half[1:]:
        prod = prod @ step
    return prod.tocsr(), palindrome


def compose_commuting_matrix(metapath: str, relations: dict[str, np.ndarray],
                             counts: dict[str, int]) -> Optional[sp.csr_matrix]:
    """The commuting matrix (path-instance counts) of ``metapath`` from relation pairs
    keyed by two letters (``"pa"``: paper -> author; ``"ap"`` is its transpose).
    None when a step has no relation."""
    found = _half_product(metapath, relations, counts)
    if found is None:
        return None
    prod, palindrome = found
    out = (prod @ prod.T).tocsr() if palindrome else prod
    out.eliminate_zeros()
    out.sort_indices()
    return out


def commuting_counts_at(metapath: str, relations: dict[str, np.ndarray], counts: dict[str, int],
                        adj: sp.csr_matrix) -> Optional[np.ndarray]:
    """Path counts C_ij of ``metapath`` at the nonzeros of ``adj`` (CSR order, sorted
    indices), or None when a relation is missing or C's support differs from ``adj``'s."""
    composed = compose_commuting_matrix(metapath, relations, counts)
    if composed is None:
        return None
    same = (composed.nnz == adj.nnz and np.array_equal(composed.indptr, adj.indptr)
            and np.array_equal(composed.indices, adj.indices))
    return composed.data.astype(np.float64) if same else None


def _stable_order(keys: list[Tensor]) -> Tensor:
    """Permutation sorting by keys[0], then keys[1], ... (lexicographic, all ascending)."""
    order = torch.arange(keys[0].numel(), device=keys[0].device)
    for key in reversed(keys):
        order = order[torch.sort(key[order], stable=True).indices]
    return order


def pathsim_topk(edge_index: Tensor, counts: Tensor, num_nodes: int, k: int,
                 values: str = "count") -> tuple[Tensor, Tensor]:
    """Keep, per row i, the ``k`` entries of largest PathSim s_ij = 2C_ij/(C_ii + C_jj).

    Ties are broken in favour of the diagonal (s_ii = 1 is the maximum, so a node
    always keeps itself), then by column index. Rows with fewer than k entries keep
    all of them. Vectorized: a few stable sorts over the nonzeros, never N x N.

    Args:
        edge_index: (2, E) row/column of the commuting matrix C (no duplicates).
        counts: (E,) path counts C_ij > 0.
        values: what the kept entries hold: ``"count"`` (C_ij, as the authors' code
            keeps ``A[i, j]``; default), ``"pathsim"`` (s_ij) or ``"binary"`` (1).
    Returns: ``(edge_index, weight)`` of the kept entries in row-major order.
    """
    if k < 1:
        raise ValueError(f"top-k needs k >= 1, got {k}")
    if values not in ("count", "pathsim", "binary"):
        raise ValueError(f"values must be 'count', 'pathsim' or 'binary', got {values!r}")
    row, col = edge_index[0], edge_index[1]
    counts = counts.to(torch.float64)
    if counts.numel() and bool((counts <= 0).any()):
        raise ValueError("path counts must be positive (drop zero entries first)")
    diag = torch.zeros(num_nodes, dtype=torch.float64, device=counts.device)
    loops = row == col
    diag[row[loops]] = counts[loops]
    denom = diag[row] + diag[col]
    sim = torch.where(denom > 0, 2 * counts / denom.clamp_min(1e-300), torch.zeros_like(counts))
    order = _stable_order([row, -sim, (~loops).to(torch.int8), col])
    row_sorted = row[order]
    starts = torch.zeros(num_nodes + 1, dtype=torch.long, device=row.device)
    starts[1:] = torch.cumsum(torch.bincount(row_sorted, minlength=num_nodes), 0)
    rank = torch.arange(order.numel(), device=row.device) - starts[row_sorted]
    kept = order[rank < k]
    kept = kept[torch.sort(row[kept] * num_nodes + col[kept]).indices]
    weight = {"count": counts, "pathsim": sim, "binary": torch.ones_like(counts)}[values][kept]
    return torch.stack([row[kept], col[kept]]), weight.to(torch.float32)


def sym_normalize(edge_index: Tensor, weight: Tensor, num_nodes: int) -> Tensor:
    """Values of D^{-1/2} A D^{-1/2} with D the row sums of A (zero rows stay zero)."""
    deg = torch.zeros(num_nodes, dtype=weight.dtype, device=weight.device).index_add_(
        0, edge_index[0], weight)
    dinv = torch.where(deg > 0, deg.clamp_min(1e-30).rsqrt(), torch.zeros_like(deg))
    return dinv[edge_index[0]] * weight * dinv[edge_index[1]]


def metapath_view(data: Any, view: str, *, self_loops: bool = False):
    """A homogeneous ``Data`` of the target nodes over one meta-path (or a ``+``-joined
    union, path counts summed): x, edge_index, edge_weight (path counts), y, the
    (N, 3) split masks (columns = ``data.split_ratios``), num_classes.

    ``x`` is dense; a target type without features keeps its sparse CSR identity
    (``data.featureless = True``). Self loops (the meta-path's diagonal) are
    dropped unless ``self_loops``.
    """
    from torch_geometric.data import Data

    parts = [p.strip().lower() for p in str(view).split("+") if p.strip()]
    target = data.target_type
    if not parts:
        raise ValueError("view is empty: give a meta-path name such as 'pap'")
    for p in parts:
        if p not in data.metapaths:
            extra = (f"; missing from this copy of the dataset: {', '.join(data.missing_metapaths)}"
                     if getattr(data, "missing_metapaths", None) else "")
            raise ValueError(f"dataset {data.name!r} has no loaded meta-path {p!r}; available: "
                             f"{', '.join(data.metapaths)}{extra}")
    n = data[target].num_nodes
    ei = torch.cat([data[target, p, target].edge_index for p in parts], 1)
    w = torch.cat([data[target, p, target].edge_weight for p in parts])
    if len(parts) > 1:
        summed = torch.sparse_coo_tensor(ei, w, (n, n)).coalesce()
        ei, w = summed.indices(), summed.values()
    if not self_loops:
        keep = ei[0] != ei[1]
        ei, w = ei[:, keep], w[keep]
    store = data[target]
    x = store.x
    featureless = bool(getattr(store, "featureless", False))
    if x.layout == torch.sparse_csr and not featureless:
        x = x.to_dense()
    out = Data(x=x, edge_index=ei.contiguous(), edge_weight=w, y=store.y,
               train_mask=store.train_mask, val_mask=store.val_mask, test_mask=store.test_mask,
               num_nodes=n)
    out.num_classes = int(data.num_classes)
    out.name = f"{data.name}-{'+'.join(parts)}"
    out.metapath = "+".join(parts)
    out.split_ratios = list(data.split_ratios)
    out.featureless = featureless
    return out
