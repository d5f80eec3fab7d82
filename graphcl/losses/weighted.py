"""InfoNCE with weighted negatives, exact and blockwise (never an N x N matrix).

For anchors q_i and keys k_j (rows already normalized by the caller), positive
pairs (q_i, k_i) and weights w_ij >= 0 on the denominator::

    L = −(1/N) Σ_i log( e^{q_i·k_i/τ} / Σ_j w_ij e^{q_i·k_j/τ} )
      = (1/N) Σ_i [ lse_i − q_i·k_i/τ ],   lse_i = log Σ_j w_ij e^{q_i·k_j/τ}.

* MEOW (Yu & Li, SDM 2023, eq. 9-10): hard weights from k-means on the fine view
  run R times (several cluster counts): w_ij = R − #{runs r : c_r(i) = c_r(j)}, so a
  node's own term (and its likely false negatives) get weight 0. The weights are
  a function of the (R, N) label matrix: :class:`ClusterWeights` produces them one
  row block at a time.
* AdaMEOW (TKDE 2024): learned soft weights w_ij = σ(MLP(ẑ_i + k_j)); see
  :mod:`graphcl.losses.soft_weighted` (the MLP over N² pairs is evaluated in cache-sized
  chunks, never all at once).
* ``weights_fn=None``: the plain InfoNCE (all w_ij = 1, positive included), through
  :func:`graphcl.losses.logsumexp.blockwise_logsumexp_matmul`.

Blockwise hard-weighted form (:class:`_WeightedLSE`): rows in blocks of
``block_size``; the forward keeps lse (N,) only; the backward recomputes each
block's scores and weights and uses p_ij = w_ij e^{x_ij − lse_i}:
∂lse_i/∂q_i = (1/τ) Σ_j p_ij k_j, ∂lse_i/∂k_j = (1/τ) p_ij q_i. Values and gradients
equal the dense form's.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from graphcl.losses.logsumexp import blockwise_logsumexp_matmul

#: ``weights_fn(start, stop) -> (stop - start, N)`` weights of anchor rows start..stop-1
WeightsFn = Callable[[int, int], Tensor]

__all__ = ["ClusterWeights", "check_info_nce_inputs", "cluster_weights_dense", "weighted_info_nce",
           "weighted_info_nce_dense", "weighted_lse"]


class ClusterWeights:
    """MEOW's hard weights w_ij = R − #{r : labels[r, i] = labels[r, j]} from an (R, N)
    matrix of cluster labels, produced one row block at a time (a callable
    ``weights_fn``). ``dtype`` is the dtype of the returned blocks."""

    def __init__(self, labels: Tensor, dtype: torch.dtype = torch.float32) -> None:
        labels = torch.as_tensor(labels)
        if labels.dim() == 1:
            labels = labels[None]
        if labels.dim() != 2 or labels.shape[1] == 0:
            raise ValueError(f"labels must be (runs, N) cluster ids, got shape {tuple(labels.shape)}")
        if labels.shape[0] > 255:
            raise ValueError(f"at most 255 clustering runs, got {labels.shape[0]}")
        self.labels = labels.long()
        self.dtype = dtype

    @property
    def num_nodes(self) -> int:
        return int(self.labels.shape[1])

    def __call__(self, start: int, stop: int) -> Tensor:
        # count agreements in uint8 (a bool tensor viewed as bytes): a reduction over a
        # (runs, rows, N) bool stack into int64 was 7-10x slower
        lab = self.labels
        same = (lab[0, start:stop, None] == lab[0, None, :]).view(torch.uint8)
        for r in range(1, lab.shape[0]):
            same = same + (lab[r, start:stop, None] == lab[r, None, :]).view(torch.uint8)
        return same.to(self.dtype).neg_().add_(lab.shape[0])


def cluster_weights_dense(labels: Tensor) -> Tensor:
    """The full (N, N) hard-weight matrix (reference for small N)."""
    w = ClusterWeights(labels)
    return w(0, w.num_nodes)


def check_info_nce_inputs(q: Tensor, k: Tensor, tau: float, block_size: int) -> None:
    """Refuse anchors and keys of different shapes, no nodes, τ ≤ 0 or a block below 1."""
    if q.dim() != 2 or q.shape != k.shape:
        raise ValueError(f"anchors and keys must be (N, d) of equal shape (positives aligned), "
                         f"got {tuple(q.shape)} and {tuple(k.shape)}")
    if q.shape[0] == 0:
        raise ValueError("no nodes: the loss over an empty set is undefined")
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    if int(block_size) < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")


def _no_mass(lse: Tensor) -> None:
    if bool(torch.isneginf(lse).any()):
        rows = torch.isneginf(lse).nonzero().reshape(-1)
        raise ValueError(f"{rows.numel()} anchor(s) (first: {rows[:5].tolist()}) have zero weight on "
                         f"every key: the weighted denominator is empty (e.g. every node in one "
                         f"cluster in every k-means run)")


class _WeightedLSE(torch.autograd.Function):
    """lse_i = log Σ_j w_ij exp(q_i·k_j/τ) over row blocks, weights constant."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, weights_fn: WeightsFn, tau: float,
                block_size: int) -> Tensor:
        n = q.shape[0]
        lse = q.new_empty(n)
        for start in range(0, n, block_size):
            stop = min(start + block_size, n)
            x = torch.mm(q[start:stop], k.T).div_(tau)
            w = weights_fn(start, stop).to(x.dtype)
            lse[start:stop] = torch.logsumexp(x.add_(torch.log(w)), 1)
            del x, w
        ctx.save_for_backward(q, k, lse)
        ctx.weights_fn, ctx.tau, ctx.block_size = weights_fn, tau, block_size
        return lse

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_lse: Tensor):
        q, k, lse = ctx.saved_tensors
        tau, block_size, weights_fn = ctx.tau, ctx.block_size, ctx.weights_fn
        n = q.shape[0]
        grad_q = torch.zeros_like(q) if ctx.needs_input_grad[0] else None
        grad_k = torch.zeros_like(k) if ctx.needs_input_grad[1] else None
        for start in range(0, n, block_size):
            stop = min(start + block_size, n)
            p = torch.mm(q[start:stop], k.T).div_(tau).sub_(lse[start:stop, None]).exp_()
            p.mul_(weights_fn(start, stop).to(p.dtype)).mul_(grad_lse[start:stop, None] / tau)
            if grad_q is not None:
                grad_q[start:stop] = p @ k
            if grad_k is not None:
                grad_k.addmm_(p.T, q[start:stop])
            del p
        return grad_q, grad_k, None, None, None


def weighted_lse(q: Tensor, k: Tensor, weights_fn: Optional[WeightsFn] = None,
                 tau: float = 0.5, block_size: int = 1024) -> Tensor:
    """lse_i = log Σ_j w_ij e^{q_i·k_j/τ} for every anchor i, shape (N,): the weighted InfoNCE
    denominator (module docstring), exact, O(block_size · N) extra memory.

    Args:
        q: (N, d) anchors; k: (N, d) keys (normalize both beforehand for cosine scores).
        weights_fn: ``weights_fn(start, stop)`` -> (stop − start, N) non-negative
            weights of anchors start..stop−1 (e.g. :class:`ClusterWeights`), treated
            as constants; None: every w_ij = 1.
        tau: temperature τ > 0.
        block_size: anchor rows per block.
    """
    check_info_nce_inputs(q, k, tau, block_size)
    if weights_fn is None:
        return blockwise_logsumexp_matmul(q, k, tau, block_size=int(block_size))
    lse = _WeightedLSE.apply(q, k, weights_fn, float(tau), int(block_size))
    _no_mass(lse)
    return lse


def weighted_info_nce(q: Tensor, k: Tensor, weights_fn: Optional[WeightsFn] = None,
                      tau: float = 0.5, block_size: int = 1024) -> Tensor:
    """Weighted InfoNCE (module docstring): mean_i [lse_i − q_i·k_i/τ] with
    :func:`weighted_lse` (same arguments); k_i is the positive of q_i."""
    lse = weighted_lse(q, k, weights_fn, tau, block_size)
    pos = (q * k).sum(1) / tau
    return (lse - pos).mean()


def weighted_info_nce_dense(q: Tensor, k: Tensor, weights: Optional[Tensor], tau: float = 0.5) -> Tensor:
    """Reference: the same loss with the (N, N) weight matrix materialized (autograd)."""
    x = q @ k.T / tau
    if weights is not None:
        x = x + torch.log(weights.to(x.dtype))
    return (torch.logsumexp(x, 1) - (q * k).sum(1) / tau).mean()
