"""A minimal pure-torch stand-in for the ``torch_sparse`` package (not installed here; it needs a
compiled extension), put on the reference process's ``PYTHONPATH`` by the harness.

It implements only what HKUDS/DCCF's ``model.py`` calls, with torch_sparse's documented semantics:

* ``SparseTensor(row=, col=, value=, sparse_sizes=)`` with ``.sum(dim=1)`` (dense row sums;
  rows without entries sum to 0) and ``.cuda()``/``.cpu()``;
* ``spspmm(indexA, valueA, indexB, valueB, m, k, n)``: the coalesced product ``(index, value)``;
* ``spmm(index, value, m, n, matrix)``: ``A @ matrix`` as gather, scale and scatter-add, the same
  computation as torch_sparse's ``spmm`` (differentiable in ``value`` and ``matrix``).

Written from the API documentation, not copied; numerically the sums may differ from the compiled
kernels in the last bits (summation order).
"""
from __future__ import annotations

import torch

__all__ = ["SparseTensor", "spmm", "spspmm"]


class SparseTensor:
    """COO storage with the few methods DCCF uses."""

    def __init__(self, row: torch.Tensor, col: torch.Tensor, value: torch.Tensor | None = None,
                 sparse_sizes: tuple[int, int] | None = None) -> None:
        self.row, self.col = row.long(), col.long()
        self.value = value if value is not None else torch.ones(row.numel(), device=row.device)
        if sparse_sizes is None:
            sparse_sizes = (int(self.row.max()) + 1, int(self.col.max()) + 1)
        self.sizes = (int(sparse_sizes[0]), int(sparse_sizes[1]))

    def sum(self, dim: int) -> torch.Tensor:
        index = self.row if dim == 1 else self.col
        n = self.sizes[0] if dim == 1 else self.sizes[1]
        return torch.zeros(n, dtype=self.value.dtype, device=self.value.device).index_add(0, index, self.value)

    def cuda(self) -> "SparseTensor":
        return self

    def cpu(self) -> "SparseTensor":
        return self


def spspmm(index_a: torch.Tensor, value_a: torch.Tensor, index_b: torch.Tensor, value_b: torch.Tensor,
           m: int, k: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A @ B)`` of two COO matrices, as coalesced ``(index, value)``."""
    a = torch.sparse_coo_tensor(index_a, value_a, (m, k)).coalesce()
    b = torch.sparse_coo_tensor(index_b, value_b, (k, n)).coalesce()
    c = torch.sparse.mm(a, b).coalesce()
    return c.indices(), c.values()


def spmm(index: torch.Tensor, value: torch.Tensor, m: int, n: int, matrix: torch.Tensor) -> torch.Tensor:
    """``A @ matrix`` with ``A`` of shape ``(m, n)`` given as COO ``(index, value)``."""
    row, col = index[0], index[1]
    out = matrix.index_select(0, col) * value.unsqueeze(-1)
    return torch.zeros(m, matrix.size(1), dtype=out.dtype, device=out.device).index_add(0, row, out)
