"""Sparse graph operators: adjacency building, normalization, SpMM with a cheap
backward, and edge dropout on a sparse matrix.

Everything stays on the device of the input tensors. The central object is
:class:`SparseGraph`, a constant CSR matrix ``A`` (no gradient w.r.t. its values)
that knows its transpose. ``graph @ x`` runs ``A x`` forward and ``A^T g`` backward,
where ``A^T`` is precomputed once (or is ``A`` itself when ``A`` is symmetric),
instead of letting autograd transpose ``A`` on every backward pass (measured 9x
the forward cost on this machine; measured in ``experiments/benchmarks/bench_sparse.py``).

Normalizations implemented:

* symmetric (U+I) graph (LightGCN eq. 7, NGCF, DCCF):
  ``Â = D^{-1/2} [[0, R], [R^T, 0]] D^{-1/2}`` with ``D`` the node degrees;
* user x item matrix (LightGCL eq. 1): ``R̂ = D_u^{-1/2} R D_i^{-1/2}``.

Zero-degree nodes get a zero row (``0^{-1/2}`` is defined as 0, never inf/NaN).
"""
from __future__ import annotations

import warnings
from typing import Literal

import torch

_BETA_WARNING = "Sparse CSR tensor support is in beta state"

__all__ = [
    "csr_tensor",
    "to_csr",
    "SparseGraph",
    "spmm",
    "linear_propagation",
    "bipartite_adjacency",
    "interaction_matrix",
    "normalize_bipartite_adjacency",
]



def csr_tensor(crow: torch.Tensor, col: torch.Tensor, value: torch.Tensor,
               size: tuple[int, ...], check_invariants: bool = False) -> torch.Tensor:
    """``torch.sparse_csr_tensor`` without torch's warnings: the invariant checks are
    explicitly off by default (graphcl builds ``crow``/``col`` itself, sorted and in
    range; pass ``check_invariants=True`` for arrays read from a file) and the one-time
    "beta state" notice is silenced here only, not for the whole process."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_BETA_WARNING)
        return torch.sparse_csr_tensor(crow, col, value, size=size, check_invariants=check_invariants)


def to_csr(x: torch.Tensor) -> torch.Tensor:
    """``x.to_sparse_csr()`` with torch's one-time "beta state" notice silenced here only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_BETA_WARNING)
        return x.to_sparse_csr()

def _csr_from_coo(row: torch.Tensor, col: torch.Tensor, value: torch.Tensor,
                  shape: tuple[int, int], *, sorted_by_key: bool = False,
                  coalesce: bool = True) -> torch.Tensor:
    """Build a CSR tensor from COO triples (duplicates summed when ``coalesce``)."""
    n_rows, n_cols = shape
    if not sorted_by_key:
        key = row * n_cols + col
        key, order = torch.sort(key)
        row, col, value = row[order], col[order], value[order]
        if coalesce and key.numel() > 1:
            unique_key, inverse = torch.unique_consecutive(key, return_inverse=True)
            if unique_key.numel() != key.numel():
                summed = torch.zeros(unique_key.numel(), dtype=value.dtype, device=value.device)
                summed.index_add_(0, inverse, value)
                row = unique_key // n_cols
                col = unique_key % n_cols
                value = summed
    counts = torch.bincount(row, minlength=n_rows)
    crow = torch.zeros(n_rows + 1, dtype=torch.long, device=row.device)
    torch.cumsum(counts, 0, out=crow[1:])
    return csr_tensor(crow, col, value, size=shape)


class _SpMM(torch.autograd.Function):
    """``y = A x`` with ``dL/dx = A^T dL/dy`` through a precomputed ``A^T``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, matrix: torch.Tensor, transpose: torch.Tensor) -> torch.Tensor:
        ctx.transpose = transpose
        return torch.sparse.mm(matrix, x)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.sparse.mm(ctx.transpose, grad_out.contiguous())
        return grad_x, None, None


class SparseGraph:
    """A constant sparse matrix in CSR form with its transpose, ready for SpMM.

    Build with :meth:`from_coo` (or the helpers :func:`bipartite_adjacency`,
    :func:`interaction_matrix`). ``graph @ x`` is differentiable in ``x``.
    """

    def __init__(self, matrix: torch.Tensor, transpose: torch.Tensor | None = None,
                 symmetric: bool = False) -> None:
        if matrix.layout != torch.sparse_csr:
            raise TypeError(f"SparseGraph expects a torch.sparse_csr tensor, got layout {matrix.layout}")
        if symmetric and matrix.size(0) != matrix.size(1):
            raise ValueError(f"a symmetric matrix must be square, got shape {tuple(matrix.shape)}")
        self.matrix = matrix
        self.symmetric = symmetric
        if symmetric:
            self._transpose = matrix
        else:
            self._transpose = transpose if transpose is not None else self._compute_transpose(matrix)
        self._rows: torch.Tensor | None = None
        self._mirror: torch.Tensor | None = None
        self._workspace: list[torch.Tensor] = []

    def workspace(self, shape: torch.Size | tuple[int, ...]) -> list[torch.Tensor]:
        """Two scratch buffers of ``shape`` reused by fused propagation (not thread-safe)."""
        if not self._workspace or self._workspace[0].shape != torch.Size(shape):
            self._workspace = [torch.empty(shape, dtype=self.dtype, device=self.device) for _ in range(2)]
        return self._workspace

    # ----------------------------------------------------------- construction
    @classmethod
    def from_coo(cls, row: torch.Tensor, col: torch.Tensor, value: torch.Tensor | None,
                 shape: tuple[int, int], symmetric: bool = False) -> "SparseGraph":
        """Build from COO triples; duplicates are summed. ``symmetric`` is trusted."""
        row = torch.as_tensor(row, dtype=torch.long)
        col = torch.as_tensor(col, device=row.device, dtype=torch.long)
        if row.numel() != col.numel():
            raise ValueError(f"row and col differ in length: {row.numel()} vs {col.numel()}")
        if value is None:
            value = torch.ones(row.numel(), device=row.device)
        if value.numel() != row.numel():
            raise ValueError(f"value has {value.numel()} entries for {row.numel()} edges")
        if row.numel() and (int(row.min()) < 0 or int(row.max()) >= shape[0]
                            or int(col.min()) < 0 or int(col.max()) >= shape[1]):
            raise ValueError(f"edge index out of range for a matrix of shape {tuple(shape)}")
        matrix = _csr_from_coo(row, col, value, shape)
        return cls(matrix, symmetric=symmetric)

    @staticmethod
    def _compute_transpose(matrix: torch.Tensor) -> torch.Tensor:
        crow, col, val = matrix.crow_indices(), matrix.col_indices(), matrix.values()
        rows = _rows_from_crow(crow)
        n_rows, n_cols = matrix.shape
        return _csr_from_coo(col, rows, val, (n_cols, n_rows), coalesce=False)

    # ------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.matrix.shape)  # type: ignore[return-value]

    @property
    def nnz(self) -> int:
        return int(self.matrix.values().numel())

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    @property
    def dtype(self) -> torch.dtype:
        return self.matrix.dtype

    @property
    def T(self) -> "SparseGraph":
        if self.symmetric:
            return self
        return SparseGraph(self._transpose, transpose=self.matrix)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "SparseGraph":
        m = self.matrix.to(device=device, dtype=dtype)
        t = m if self.symmetric else self._transpose.to(device=device, dtype=dtype)
        return SparseGraph(m, transpose=t, symmetric=self.symmetric)

    def coo(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Row indices, column indices and values, in CSR order."""
        return self.rows(), self.matrix.col_indices(), self.matrix.values()

    def rows(self) -> torch.Tensor:
        if self._rows is None:
            self._rows = _rows_from_crow(self.matrix.crow_indices())
        return self._rows

    def to_dense(self) -> torch.Tensor:
        return self.matrix.to_dense()

    # ------------------------------------------------------------------- ops
    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        return spmm(self, x)

    def drop_edges(self, p: float, generator: torch.Generator | None = None,
                   rescale: bool = False, mirrored: bool = True) -> "SparseGraph":
        """Keep each nonzero with probability ``1 - p``.

        On a symmetric graph an edge and its mirror are kept or dropped together,
        so the result stays symmetric; ``mirrored=False`` draws every nonzero on its
        own (the result is then not symmetric: LightGCL draws one mask for Â and
        another for Âᵀ). With ``rescale`` kept values are divided by
        ``1 - p`` (inverted dropout, as LightGCL's ``sparse_dropout``); otherwise
        values are unchanged (renormalize by rebuilding from the kept edges if the
        method calls for it, as SGL does).
        """
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"edge drop probability must be in [0, 1], got {p}")
        rows, cols, vals = self.coo()
        if p == 0.0:
            return self
        gen_device = generator.device if generator is not None else vals.device
        draw = torch.rand(vals.numel(), generator=generator, device=gen_device).to(vals.device)
        keep = draw >= p
        if self.symmetric and mirrored:
            # decide on the upper triangle (and diagonal), copy to the mirror entry
            mirror = self._mirror_index()
            upper = rows <= cols
            keep = torch.where(upper, keep, keep[mirror])
        new_vals = vals[keep]
        if rescale and p < 1.0:
            new_vals = new_vals / (1.0 - p)
        new_rows, new_cols = rows[keep], cols[keep]
        counts = torch.bincount(new_rows, minlength=self.shape[0])
        crow = torch.zeros(self.shape[0] + 1, dtype=torch.long, device=vals.device)
        torch.cumsum(counts, 0, out=crow[1:])
        matrix = csr_tensor(crow, new_cols, new_vals, size=self.shape)
        return SparseGraph(matrix, symmetric=self.symmetric and mirrored)

    def _mirror_index(self) -> torch.Tensor:
        """For entry (r, c) in CSR order, the position of entry (c, r)."""
        if self._mirror is None:
            rows, cols, _ = self.coo()
            n = self.shape[1]
            key = rows * n + cols  # sorted, CSR order
            mirror = torch.searchsorted(key, cols * n + rows)
            mirror = mirror.clamp_max(key.numel() - 1)
            if not torch.equal(key[mirror], cols * n + rows):
                raise ValueError("graph marked symmetric has an entry without its mirror")
            self._mirror = mirror
        return self._mirror

    def __repr__(self) -> str:
        return (f"SparseGraph(shape={self.shape}, nnz={self.nnz}, symmetric={self.symmetric}, "
                f"device={self.device})")


def _rows_from_crow(crow: torch.Tensor) -> torch.Tensor:
    counts = crow[1:] - crow[:-1]
    return torch.repeat_interleave(torch.arange(counts.numel(), device=crow.device), counts)


def spmm(graph: SparseGraph, x: torch.Tensor) -> torch.Tensor:
    """``graph.matrix @ x`` with a backward through the precomputed transpose."""
    if x.dim() != 2 or x.size(0) != graph.shape[1]:
        raise ValueError(f"cannot multiply a {graph.shape} sparse matrix by x of shape {tuple(x.shape)}")
    if x.device != graph.device:
        raise ValueError(f"graph is on {graph.device} but x is on {x.device}")
    if x.dtype != graph.dtype:
        raise TypeError(f"dtype mismatch: graph {graph.dtype}, x {x.dtype}")
    if not torch.is_grad_enabled() or not x.requires_grad:
        return torch.sparse.mm(graph.matrix, x)
    return _SpMM.apply(x, graph.matrix, graph._transpose)


class _LinearPropagation(torch.autograd.Function):
    """``y = Σ_k w_k A^k x``; backward ``dL/dx = Σ_k w_k (A^T)^k dL/dy``.

    Linear in ``x``, so nothing is saved for the backward pass, and the layer
    products are written into two reused work buffers instead of fresh memory
    each layer (fresh large buffers cost page faults on CPU).
    """

    @staticmethod
    def _run(matrix: torch.Tensor, x: torch.Tensor, weights: tuple[float, ...],
             workspace: list[torch.Tensor]) -> torch.Tensor:
        out = x * weights[0]
        cur = x
        for k, w in enumerate(weights[1:]):
            buf = workspace[k % 2]
            torch.mm(matrix, cur, out=buf)
            out.add_(buf, alpha=w)
            cur = buf
        return out

    @staticmethod
    def forward(ctx, x, matrix, transpose, weights, workspace):
        ctx.transpose, ctx.weights, ctx.workspace = transpose, weights, workspace
        return _LinearPropagation._run(matrix, x, weights, workspace)

    @staticmethod
    def backward(ctx, grad_out):
        grad = _LinearPropagation._run(ctx.transpose, grad_out.contiguous(), ctx.weights, ctx.workspace)
        return grad, None, None, None, None


def linear_propagation(graph: SparseGraph, x: torch.Tensor, weights: list[float] | tuple[float, ...]
                       ) -> torch.Tensor:
    """``Σ_k weights[k] · A^k x`` for ``k = 0..len(weights)-1`` (LightGCN eq. 8 with
    ``weights = [1/(K+1)] * (K+1)``), fused: no per-layer activations are stored and
    the work buffers are reused across calls. Needs a square graph."""
    if graph.shape[0] != graph.shape[1]:
        raise ValueError(f"linear_propagation needs a square graph, got {graph.shape}")
    if len(weights) == 0:
        raise ValueError("weights must hold at least the weight of layer 0")
    if x.dim() != 2 or x.size(0) != graph.shape[1] or x.device != graph.device or x.dtype != graph.dtype:
        raise ValueError(f"x of shape {tuple(x.shape)} ({x.dtype}, {x.device}) does not fit the graph "
                         f"{graph.shape} ({graph.dtype}, {graph.device})")
    x = x.contiguous()
    workspace = graph.workspace(x.shape) if len(weights) > 1 else []
    weights = tuple(float(w) for w in weights)
    if not torch.is_grad_enabled() or not x.requires_grad:
        return _LinearPropagation._run(graph.matrix, x, weights, workspace)
    return _LinearPropagation.apply(x, graph.matrix, graph._transpose, weights, workspace)


def _inv_sqrt(deg: torch.Tensor) -> torch.Tensor:
    out = deg.pow(-0.5)
    out[deg == 0] = 0.0
    return out


def _check_pairs(pairs: torch.Tensor, num_users: int, num_items: int) -> torch.Tensor:
    pairs = torch.as_tensor(pairs, dtype=torch.long)
    if pairs.dim() != 2 or pairs.size(0) != 2:
        raise ValueError(f"interactions must have shape (2, n), got {tuple(pairs.shape)}")
    if pairs.size(1) == 0:
        raise ValueError("cannot build a graph from zero interactions")
    if int(pairs[0].min()) < 0 or int(pairs[0].max()) >= num_users:
        raise ValueError(f"user id out of range [0, {num_users})")
    if int(pairs[1].min()) < 0 or int(pairs[1].max()) >= num_items:
        raise ValueError(f"item id out of range [0, {num_items})")
    return pairs


def bipartite_adjacency(pairs: torch.Tensor, num_users: int, num_items: int,
                        normalization: Literal["sym", "left", "none"] = "sym",
                        dtype: torch.dtype = torch.float32) -> SparseGraph:
    """The (U+I) x (U+I) graph ``[[0, R], [R^T, 0]]`` of a (2, n) interaction tensor.

    ``normalization="sym"`` gives ``D^{-1/2} A D^{-1/2}`` (LightGCN eq. 7);
    ``"left"`` gives ``D^{-1} A`` (row-normalized); ``"none"`` the binary matrix.
    Duplicate interactions count once. Nodes 0..U-1 are users, U..U+I-1 items.
    """
    pairs = _check_pairs(pairs, num_users, num_items)
    n = num_users + num_items
    u, i = pairs[0], pairs[1] + num_users
    key = torch.unique(u * n + i)  # deduplicate
    u, i = key // n, key % n
    row = torch.cat([u, i])
    col = torch.cat([i, u])
    return normalize_bipartite_adjacency(row, col, n, normalization, dtype)


def normalize_bipartite_adjacency(row: torch.Tensor, col: torch.Tensor, num_nodes: int,
                                  normalization: str = "sym",
                                  dtype: torch.dtype = torch.float32) -> SparseGraph:
    """Normalize a symmetric binary edge list (both directions present)."""
    deg = torch.bincount(row, minlength=num_nodes).to(dtype)
    if normalization == "sym":
        d = _inv_sqrt(deg)
        value = d[row] * d[col]
    elif normalization == "left":
        inv = torch.where(deg > 0, 1.0 / deg.clamp_min(1), torch.zeros_like(deg))
        value = inv[row]
    elif normalization == "none":
        value = torch.ones(row.numel(), dtype=dtype, device=row.device)
    else:
        raise ValueError(f"unknown normalization '{normalization}': use 'sym', 'left' or 'none'")
    matrix = _csr_from_coo(row, col, value.to(dtype), (num_nodes, num_nodes), coalesce=False)
    return SparseGraph(matrix, symmetric=normalization != "left")


def interaction_matrix(pairs: torch.Tensor, num_users: int, num_items: int,
                       normalization: Literal["sym", "none"] = "sym",
                       dtype: torch.dtype = torch.float32) -> SparseGraph:
    """The users x items matrix ``R``; with ``"sym"`` it is ``D_u^{-1/2} R D_i^{-1/2}``
    (LightGCL eq. 1). Its transpose is precomputed for the backward pass."""
    pairs = _check_pairs(pairs, num_users, num_items)
    key = torch.unique(pairs[0] * num_items + pairs[1])
    u, i = key // num_items, key % num_items
    if normalization == "sym":
        du = _inv_sqrt(torch.bincount(u, minlength=num_users).to(dtype))
        di = _inv_sqrt(torch.bincount(i, minlength=num_items).to(dtype))
        value = du[u] * di[i]
    elif normalization == "none":
        value = torch.ones(u.numel(), dtype=dtype, device=u.device)
    else:
        raise ValueError(f"unknown normalization '{normalization}': use 'sym' or 'none'")
    matrix = _csr_from_coo(u, i, value, (num_users, num_items), sorted_by_key=True)
    return SparseGraph(matrix)
