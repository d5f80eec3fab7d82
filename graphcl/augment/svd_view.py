"""LightGCL's SVD view (Cai et al., ICLR 2023, eq. 6-7).

``U, S, V = torch.svd_lowrank(Â, q)`` is computed once on the normalized
user x item matrix ``Â = D_u^{-1/2} A D_i^{-1/2}`` (or on a normalized square
adjacency), and the view propagates embeddings through the rank-q
reconstruction without ever materializing it:

    G_u = U S (V^T E_i)     (eq. 7, users)    -> SVDFactors.propagate_users
    G_i = V S (U^T E_u)     (eq. 7, items)    -> SVDFactors.propagate_items

Exactly what is returned: :class:`SVDFactors` ``(u, s, v)`` with ``u`` of shape
(rows, q), ``s`` (q,), ``v`` (cols, q) such that ``Â ≈ u diag(s) v^T``;
``.us = u * s`` (= U S) and ``.vs = v * s`` (= V S) are precomputed. Note that
``us @ vs.T = U S² V^T`` is *not* the reconstruction: always pair ``us`` with
``v`` and ``vs`` with ``u`` (the ``propagate_*`` methods do).

``torch.svd_lowrank`` draws its random test matrix from the global RNG; with
``seed`` given the draw happens inside ``torch.random.fork_rng`` so the
caller's RNG state is untouched and the factors are reproducible.

Factors are cached in a small LRU keyed by the identity of the input object
(checked through a weak reference, so a recycled ``id`` never hits), its shape,
nnz, dtype, device, a fingerprint of a strided sample of its indices and values,
and ``(rank, niter, seed, normalize)``.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch_geometric.data import Data, HeteroData

from ..sparse import SparseGraph, interaction_matrix, to_csr
from .base import Augmenter, check_edge_index

__all__ = ["SVDFactors", "svd_view_factors", "SVDView", "svd_cache_info", "clear_svd_cache",
           "normalized_adjacency"]

MatrixLike = Any  # SparseGraph | torch.Tensor (sparse COO/CSR or dense) | scipy.sparse matrix
_CACHE_SIZE = 8
_CACHE: "OrderedDict[tuple, tuple[Any, SVDFactors]]" = OrderedDict()
_STATS = {"hits": 0, "misses": 0}


@dataclass(frozen=True)
class SVDFactors:
    """Rank-q factors ``Â ≈ u diag(s) v^T`` (``u``: rows x q, ``s``: q, ``v``: cols x q)."""

    u: torch.Tensor
    s: torch.Tensor
    v: torch.Tensor
    us: torch.Tensor = field(init=False, repr=False)
    vs: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.u.dim() != 2 or self.v.dim() != 2 or self.s.dim() != 1:
            raise ValueError("SVDFactors needs u (rows, q), s (q,), v (cols, q)")
        if not self.u.size(1) == self.v.size(1) == self.s.numel():
            raise ValueError(f"rank mismatch: u {tuple(self.u.shape)}, s {tuple(self.s.shape)}, "
                             f"v {tuple(self.v.shape)}")
        object.__setattr__(self, "us", self.u * self.s)  # U S
        object.__setattr__(self, "vs", self.v * self.s)  # V S

    @property
    def rank(self) -> int:
        return int(self.s.numel())

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.u.size(0)), int(self.v.size(0))

    def propagate_users(self, item_emb: torch.Tensor) -> torch.Tensor:
        """``G_u = (U S)(V^T E_i)`` (LightGCL eq. 7): rows of ``Â`` applied to items."""
        return self.us @ (self.v.T @ item_emb)

    def propagate_items(self, user_emb: torch.Tensor) -> torch.Tensor:
        """``G_i = (V S)(U^T E_u)`` (LightGCL eq. 7): ``Â^T`` applied to users."""
        return self.vs @ (self.u.T @ user_emb)

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype | None = None) -> "SVDFactors":
        return SVDFactors(self.u.to(device=device, dtype=dtype), self.s.to(device=device, dtype=dtype),
                          self.v.to(device=device, dtype=dtype))

    def to_dense(self) -> torch.Tensor:
        """``U S V^T`` as a dense matrix: for tests on small matrices only."""
        return self.us @ self.v.T


# --------------------------------------------------------------- conversion
def _as_torch_sparse(matrix: MatrixLike) -> torch.Tensor:
    """A torch matrix (CSR, COO or dense) that ``torch.svd_lowrank`` accepts."""
    if isinstance(matrix, SparseGraph):
        return matrix.matrix
    if isinstance(matrix, torch.Tensor):
        if matrix.dim() != 2:
            raise ValueError(f"the matrix must be 2-D, got shape {tuple(matrix.shape)}")
        if matrix.layout == torch.sparse_coo:
            return matrix.coalesce()
        if matrix.layout in (torch.sparse_csr, torch.strided):
            return matrix
        return to_csr(matrix)
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a dependency
        sp = None
    if sp is not None and sp.issparse(matrix):
        coo = matrix.tocoo()
        dtype = torch.float64 if coo.dtype == np.float64 else torch.float32
        idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
        val = torch.from_numpy(np.asarray(coo.data)).to(dtype)
        return torch.sparse_coo_tensor(idx, val, coo.shape).coalesce()
    raise TypeError("matrix must be a SparseGraph, a torch tensor (sparse COO/CSR or dense) or a "
                    f"scipy sparse matrix, got {type(matrix).__name__}")


def _is_scipy_sparse(matrix: Any) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a dependency
        return False
    return bool(sp.issparse(matrix))


def _sample_positions(n: int, k: int = 64) -> np.ndarray:
    return np.unique(np.linspace(0, max(n - 1, 0), num=min(n, k)).astype(np.int64))


def _fingerprint(matrix: MatrixLike) -> tuple:
    """Shape, nnz, dtype, device and a hash of a strided sample of the entries."""
    parts: list[Any] = []
    if isinstance(matrix, SparseGraph):
        matrix = matrix.matrix
    if isinstance(matrix, torch.Tensor):
        if matrix.layout == torch.sparse_csr:
            arrays = [matrix.crow_indices(), matrix.col_indices(), matrix.values()]
        elif matrix.layout == torch.sparse_coo:
            arrays = [matrix._indices().reshape(-1), matrix._values()]
        else:
            arrays = [matrix.reshape(-1)]
        for a in arrays:
            pos = torch.from_numpy(_sample_positions(a.numel())).to(a.device)
            parts.append(tuple(a[pos].tolist()) if a.numel() else ())
        nnz = int(arrays[-1].numel())
        meta = (tuple(matrix.shape), nnz, str(matrix.dtype), str(matrix.device), str(matrix.layout))
    else:  # scipy
        m = matrix.tocsr() if not hasattr(matrix, "indices") else matrix
        for a in (getattr(m, "indptr", np.empty(0)), getattr(m, "indices", np.empty(0)), m.data):
            parts.append(tuple(np.asarray(a)[_sample_positions(len(a))].tolist()) if len(a) else ())
        meta = (tuple(matrix.shape), int(matrix.nnz), str(matrix.dtype), "scipy", type(matrix).__name__)
    return meta + (hash(tuple(parts)),)


def _lowrank(matrix: torch.Tensor, rank: int, niter: int, seed: int | None) -> SVDFactors:
    if seed is None:
        u, s, v = torch.svd_lowrank(matrix, q=rank, niter=niter)
        return SVDFactors(u, s, v)
    device = matrix.device
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        else:
            torch.random.default_generator.manual_seed(seed)
        u, s, v = torch.svd_lowrank(matrix, q=rank, niter=niter)
    return SVDFactors(u, s, v)


def svd_view_factors(matrix: MatrixLike, rank: int = 5, niter: int = 2, seed: int | None = 0,
                     *, cache: bool = True) -> SVDFactors:
    """Rank-``rank`` randomized SVD ``matrix ≈ U diag(S) V^T`` (LightGCL eq. 6).

    ``matrix`` is used as given (normalize it first, e.g. with
    :func:`graphcl.sparse.interaction_matrix`): a :class:`SparseGraph`, a torch
    sparse COO/CSR (or small dense) tensor, or a scipy sparse matrix. Runs on
    the matrix's device; never builds the dense ``U S V^T``. ``niter`` is the
    number of power iterations of ``torch.svd_lowrank``. Repeated calls on the
    same object with the same arguments return the cached factors.
    """
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a positive int, got {rank!r}")
    if not isinstance(niter, int) or niter < 0:
        raise ValueError(f"niter must be a non-negative int, got {niter!r}")
    if not isinstance(matrix, (SparseGraph, torch.Tensor)) and not _is_scipy_sparse(matrix):
        raise TypeError("matrix must be a SparseGraph, a torch tensor (sparse COO/CSR or dense) or a "
                        f"scipy sparse matrix, got {type(matrix).__name__}")
    return _cached(matrix, ("matrix", rank, niter, seed), lambda: _factors_of(matrix, rank, niter, seed),
                   cache)


def _factors_of(matrix: MatrixLike, rank: int, niter: int, seed: int | None) -> SVDFactors:
    torch_matrix = _as_torch_sparse(matrix)
    n_rows, n_cols = torch_matrix.shape
    if n_rows == 0 or n_cols == 0:
        raise ValueError(f"empty graph: the matrix has shape {(n_rows, n_cols)}")
    if rank > min(n_rows, n_cols):
        raise ValueError(f"rank {rank} exceeds min(shape) = {min(n_rows, n_cols)} of the matrix")
    values = torch_matrix.values() if torch_matrix.layout != torch.strided else torch_matrix
    if values.is_floating_point() and not bool(torch.isfinite(values).all()):
        raise ValueError("the matrix holds NaN or infinite values")
    if not torch_matrix.is_floating_point():
        torch_matrix = torch_matrix.float()
    return _lowrank(torch_matrix, rank, niter, seed)


def _cached(obj: Any, params: tuple, compute, cache: bool) -> SVDFactors:
    if not cache:
        return compute()
    key = (id(obj), _fingerprint(obj) if not isinstance(obj, tuple) else
           tuple(_fingerprint(o) if isinstance(o, torch.Tensor) else o for o in obj)) + params
    entry = _CACHE.get(key)
    if entry is not None:
        ref, factors = entry
        if ref is None or ref() is obj:
            _CACHE.move_to_end(key)
            _STATS["hits"] += 1
            return factors
    _STATS["misses"] += 1
    factors = compute()
    try:
        ref = weakref.ref(obj)
    except TypeError:
        ref = None
    _CACHE[key] = (ref, factors)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return factors


def svd_cache_info() -> dict[str, int]:
    """Hits, misses and current size of the factor cache."""
    return {**_STATS, "size": len(_CACHE), "maxsize": _CACHE_SIZE}


def clear_svd_cache() -> None:
    _CACHE.clear()
    _STATS.update(hits=0, misses=0)


# ---------------------------------------------------------- normalization
def normalized_adjacency(edge_index: torch.Tensor, num_rows: int, num_cols: int | None = None,
                         normalize: Literal["sym", "none"] = "sym",
                         dtype: torch.dtype = torch.float32) -> SparseGraph:
    """``D_r^{-1/2} A D_c^{-1/2}`` of the binary matrix with the given edges
    (duplicates once); for an undirected square graph this is ``D^{-1/2} A D^{-1/2}``."""
    num_cols = num_rows if num_cols is None else num_cols
    if normalize not in ("sym", "none"):
        raise ValueError(f"unknown normalize '{normalize}': use 'sym' or 'none'")
    if edge_index.size(1) == 0:
        raise ValueError("empty graph: it has no edges")
    return interaction_matrix(edge_index, num_rows, num_cols, normalization=normalize, dtype=dtype)


class SVDView(Augmenter):
    """LightGCL's SVD view as a transform.

    * ``SVDView()(data)`` on a ``Data``: factors of the normalized adjacency of
      ``data.edge_index`` (``normalize="sym"``: ``D^{-1/2} A D^{-1/2}``), attached
      as ``data.svd_u_s`` (= U S), ``data.svd_v_s`` (= V S) and ``data.svd_s``.
      On a ``HeteroData`` the same is attached to every edge store.
    * ``SVDView().factors(x)`` returns :class:`SVDFactors` for ``x`` a matrix
      (:class:`SparseGraph`, torch sparse, scipy: used as given), a (2, n)
      user-item pair tensor (normalized per ``normalize`` into the user x item
      matrix of LightGCL eq. 1), or a ``Data``.

    Deterministic given ``seed`` (``seed=None`` uses the global RNG).
    """

    def __init__(self, rank: int = 5, niter: int = 2, seed: int | None = 0,
                 normalize: Literal["sym", "none"] = "sym", cache: bool = True) -> None:
        super().__init__(seed=None)
        if normalize not in ("sym", "none"):
            raise ValueError(f"unknown normalize '{normalize}': use 'sym' or 'none'")
        if not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank must be a positive int, got {rank!r}")
        self.rank, self.niter, self.svd_seed = rank, niter, seed
        self.normalize, self.cache = normalize, cache

    def _extra_repr(self) -> str:
        return f"rank={self.rank}, niter={self.niter}, seed={self.svd_seed}, normalize='{self.normalize}'"

    def _from_edges(self, edge_index: torch.Tensor, num_rows: int, num_cols: int) -> SVDFactors:
        params = ("edges", num_rows, num_cols, self.normalize, self.rank, self.niter, self.svd_seed)

        def compute() -> SVDFactors:
            adj = normalized_adjacency(edge_index.long(), num_rows, num_cols, self.normalize)
            return svd_view_factors(adj, self.rank, self.niter, self.svd_seed, cache=False)
        return _cached(edge_index, params, compute, self.cache)

    def factors(self, graph: Any, num_users: int | None = None,
                num_items: int | None = None) -> SVDFactors:
        """:class:`SVDFactors` of a matrix, a (2, n) pair tensor or a ``Data``."""
        if isinstance(graph, Data):
            if graph.edge_index is None:
                raise ValueError("the Data object has no edge_index")
            n = check_edge_index(graph.edge_index, graph.num_nodes, allow_empty=False)
            return self._from_edges(graph.edge_index, n, n)
        if isinstance(graph, torch.Tensor) and graph.layout == torch.strided and graph.dim() == 2 \
                and graph.size(0) == 2 and not graph.is_floating_point():
            if graph.size(1) == 0:
                raise ValueError("empty graph: no interactions")
            nu = int(graph[0].max()) + 1 if num_users is None else int(num_users)
            ni = int(graph[1].max()) + 1 if num_items is None else int(num_items)
            for name, row, size in (("user", graph[0], nu), ("item", graph[1], ni)):
                if int(row.min()) < 0 or int(row.max()) >= size:
                    raise ValueError(f"{name} index out of range [0, {size})")
            return self._from_edges(graph, nu, ni)
        return svd_view_factors(graph, self.rank, self.niter, self.svd_seed, cache=self.cache)

    def forward(self, data: Any) -> Any:
        if isinstance(data, HeteroData):
            for store in data.edge_stores:
                src, _, dst = store._key
                f = self._from_edges(store.edge_index, data[src].num_nodes, data[dst].num_nodes)
                store.svd_u_s, store.svd_v_s, store.svd_s = f.us, f.vs, f.s
            return data
        if isinstance(data, Data):
            f = self.factors(data)
            data.svd_u_s, data.svd_v_s, data.svd_s = f.us, f.vs, f.s
            return data
        return self.factors(data)
