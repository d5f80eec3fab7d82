"""Cross-entropy over all rows of a table (a sequential recommender's full softmax), blockwise.

For hidden states h_b and a class table W (the item embeddings, classes ``first..``)::

    L = (1/B) Σ_b [ log Σ_{j ≥ first} e^{h_b·w_j} − h_b·w_{t_b} ]

The log-sum-exp runs block by block (:func:`graphcl.losses.logsumexp.lse_forward_blocks`), so
the B x |I| logits are never built, and the backward pass writes the whole table's gradient into
one buffer: ∂L/∂w_j = (1/B) Σ_b (p_bj − [t_b = j]) h_b, ∂L/∂h_b = (1/B)(Σ_j p_bj w_j − w_{t_b}).
Written as ``logsumexp(h @ W[first:].T) − (h * W[t]).sum(1)`` in autograd, the slice and the
gather would each allocate and zero a table-sized gradient besides it (3 per step instead of 1).
Values and gradients equal ``F.cross_entropy`` on the full logits (tests).

Measured (1 thread, Beauty's 256 x 12,102 x 64, forward + backward, interleaved, other jobs
paused): 27.7-31.0 ms against 28.4-33.5 ms for the autograd composition of the blockwise lse with
the slice and the gather. Tried and not kept: keeping the 256 x 12,101 softmax (12 MiB) from the
forward pass so the backward needs two products instead of three: 40.6 ms (one full-width product
and ``exp`` over memory, against cache-sized blocks with ``exp2``).
"""
from __future__ import annotations

import torch
from torch import Tensor

from graphcl.losses.logsumexp import default_block_size, lse_backward_blocks, lse_forward_blocks
from graphcl.precision import bf16_enabled

__all__ = ["full_softmax_cross_entropy"]


class _FullSoftmaxCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: Tensor, table: Tensor, target: Tensor, first: int, block_size: int) -> Tensor:
        bf16 = bf16_enabled()
        lse = lse_forward_blocks(h, table[first:], 1.0, block_size, bf16)
        positive = (h * table[target]).sum(1)
        ctx.save_for_backward(h, table, target, lse)
        ctx.first, ctx.block_size, ctx.bf16 = first, block_size, bf16
        return (lse - positive).mean()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        h, table, target, lse = ctx.saved_tensors
        need_h, need_table = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        scale = grad_out / h.size(0)
        grad_h = torch.zeros_like(h) if need_h else None
        grad_table = torch.zeros_like(table) if need_table else None
        lse_backward_blocks(h, table[ctx.first:], lse, scale.expand(h.size(0)), 1.0, ctx.block_size, ctx.bf16,
                            grad_h, None if grad_table is None else grad_table[ctx.first:])
        if need_h:
            grad_h.sub_(table[target] * scale)
        if need_table:
            grad_table.index_add_(0, target, h * -scale)
        return grad_h, grad_table, None, None, None


def full_softmax_cross_entropy(h: Tensor, table: Tensor, target: Tensor, first: int = 0,
                               block_size: int | None = None) -> Tensor:
    """mean_b [ log Σ_{j ≥ first} e^{h_b·table_j} − h_b·table_{target_b} ] (module docstring).

    Args:
        h: (B, d) hidden states.
        table: (C, d) class vectors; classes ``first..C-1`` form the softmax (``first`` = 1 leaves
            out a padding row 0).
        target: (B,) long, each in ``first..C-1``.
        first: the first row of the softmax.
        block_size: classes per block (None: :func:`graphcl.losses.logsumexp.default_block_size`).
    """
    if h.dim() != 2 or table.dim() != 2 or h.size(1) != table.size(1):
        raise ValueError(f"h and table must be (B, d) and (C, d) with the same d, got {tuple(h.shape)} "
                         f"and {tuple(table.shape)}")
    if not 0 <= first < table.size(0):
        raise ValueError(f"first must be in 0..{table.size(0) - 1}, got {first}")
    if target.shape != (h.size(0),) or target.dtype != torch.long:
        raise ValueError(f"target must be a ({h.size(0)},) long tensor, got {tuple(target.shape)} {target.dtype}")
    if target.numel() and (int(target.min()) < first or int(target.max()) >= table.size(0)):
        raise ValueError(f"target classes must lie in {first}..{table.size(0) - 1}")
    if h.size(0) == 0:
        raise ValueError("no rows: the mean cross-entropy over an empty batch is undefined")
    if block_size is None:
        block_size = default_block_size(h.device, h.size(0))
    return _FullSoftmaxCE.apply(h.contiguous(), table.contiguous(), target, int(first), int(block_size))
