"""Matmul precision of the hot products: ``fp32`` (default) or ``bf16``.

With ``precision: bf16`` the similarity products of the contrastive losses (GRACE / CSGCL's
three N x N score products and their backward products; the all-user / all-item log-sum-exp of
LightGCL and the pipeline's InfoNCE) take bfloat16 operands. The products accumulate in fp32
inside the GEMM (oneDNN on CPUs with AVX-512 BF16 / AMX, cuBLAS on GPUs); their outputs are
widened back to fp32 before any exp, sum or log, so every reduction of the loss stays fp32.
What changes is the operands' rounding (8 significant bits, a relative error up to 2^-8 per
operand) and the product's output rounding to bf16 before it is widened (a score s/τ of size
|x| carries an absolute error up to |x|·2^-8).

Measured effect (issue 22; `experiments/results/precision_bf16_grace.md`,
`precision_bf16_rec.md`): on Cora GRACE loses about one point of probe accuracy in bf16
(82.31 ± 0.41 fp32 vs 81.33 ± 0.43 bf16, 5 seeds, lower on every seed), so for GRACE-family
losses bf16 is NOT equal within seed noise; LightGCL on ml-100k is unchanged to 1e-4 (its
contrastive term has weight 0.01 there); LightGCN has no dense hot product (its propagation is
sparse) and computes exactly what fp32 computes.

The state is per thread and set by :func:`matmul_precision` (the trainer wraps each training
step in it). The autograd Functions read it once in ``forward`` and keep it for ``backward``,
so a backward pass run outside the context uses the precision of its forward pass.

Sparse products (LightGCN's propagation, the GCN's Â H) stay fp32: torch's CPU CSR kernel has
no bfloat16 implementation (``addmm_out_sparse_csr_impl_mkl`` is fp32/fp64 only in torch 2.13).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
from torch import Tensor

from graphcl.config_ranges import CHOICES

__all__ = ["PRECISIONS", "SHAPE_QUANTUM", "addmm", "bf16_enabled", "bf16_operand", "current_precision",
           "matmul_precision", "mm"]

#: the accepted values of the ``precision`` config key
PRECISIONS: tuple[str, ...] = CHOICES["precision"]

_state = threading.local()


def current_precision() -> str:
    """The precision set by the innermost :func:`matmul_precision` of this thread (``fp32`` outside)."""
    return getattr(_state, "precision", "fp32")


def bf16_enabled() -> bool:
    """True inside ``matmul_precision("bf16")``."""
    return current_precision() == "bf16"


@contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """Run the block with the hot products at ``precision`` (``"fp32"`` or ``"bf16"``)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    previous = current_precision()
    _state.precision = precision
    try:
        yield
    finally:
        _state.precision = previous


#: bf16 products pad every dimension to a multiple of this many (with zeros: the product's
#: entries are unchanged). oneDNN's bf16 GEMM keeps state per distinct shape: a training loop
#: whose batch sizes vary (LightGCL's distinct users per batch) grew by ~1 GiB over 3,000 shapes
#: unpadded, and by ~70 MiB padded to multiples of 64 (1 thread, this CPU, d 64).
SHAPE_QUANTUM = 64


def _padded(size: int) -> int:
    return -(-size // SHAPE_QUANTUM) * SHAPE_QUANTUM


def bf16_operand(x: Tensor) -> Tensor:
    """``x`` (2-D) in bfloat16 with both sizes padded with zeros to multiples of
    :data:`SHAPE_QUANTUM`; ``x`` itself when it already is one."""
    rows, cols = x.shape
    shape = (_padded(rows), _padded(cols))
    if x.dtype == torch.bfloat16 and tuple(x.shape) == shape:
        return x
    if (rows, cols) == shape:
        return x.to(torch.bfloat16)   # keeps a transposed layout: no transposing copy
    if x.T.is_contiguous() and not x.is_contiguous():   # a transposed view: pad in its layout
        out = torch.zeros(shape[::-1], dtype=torch.bfloat16, device=x.device).T
    else:
        out = torch.zeros(shape, dtype=torch.bfloat16, device=x.device)
    out[:rows, :cols] = x
    return out


def mm(a: Tensor, b: Tensor, bf16: bool, out: Optional[Tensor] = None) -> Tensor:
    """``a @ b`` in fp32, or with bfloat16 operands (fp32 accumulation, the output widened to
    fp32, or to ``a``'s dtype when that is wider) when ``bf16``: the operands are padded as
    :func:`bf16_operand` does and the product cut back to ``(a.shape[0], b.shape[1])``.
    ``out`` receives the result when given (cut to ``out``'s shape: an operand already padded
    by :func:`bf16_operand` may have more rows than ``out``)."""
    if not bf16:
        return torch.mm(a, b, out=out) if out is not None else torch.mm(a, b)
    product = torch.mm(bf16_operand(a), bf16_operand(b.T).T)
    if out is None:
        return product[:a.shape[0], :b.shape[1]].to(torch.float32 if a.dtype == torch.bfloat16 else a.dtype)
    return out.copy_(product[:out.shape[0], :out.shape[1]])


def addmm(base: Tensor, a: Tensor, b: Tensor, bf16: bool) -> Tensor:
    """``base + a @ b`` (a new tensor), the product as in :func:`mm`."""
    if not bf16:
        return torch.addmm(base, a, b)
    return mm(a, b, True).add_(base)
