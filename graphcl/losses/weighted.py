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
  :func:`soft_weighted_info_nce` (the MLP over N² pairs is evaluated block by block
  and recomputed in a hand-written backward, so memory is O(block_size · N · hidden)).
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
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.losses.logsumexp import blockwise_logsumexp_matmul

#: ``weights_fn(start, stop) -> (stop - start, N)`` weights of anchor rows start..stop-1
WeightsFn = Callable[[int, int], Tensor]

__all__ = ["ClusterWeights", "cluster_weights_dense", "weighted_info_nce", "weighted_info_nce_dense",
           "PairwiseWeightMLP", "soft_weighted_info_nce", "soft_weighted_info_nce_dense"]


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


def _check(q: Tensor, k: Tensor, tau: float, block_size: int) -> None:
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


def weighted_info_nce(q: Tensor, k: Tensor, weights_fn: Optional[WeightsFn] = None,
                      tau: float = 0.5, block_size: int = 1024) -> Tensor:
    """Weighted InfoNCE (module docstring), exact, O(block_size · N) extra memory.

    Args:
        q: (N, d) anchors; k: (N, d) keys, k_i the positive of q_i (normalize both
            beforehand for cosine scores).
        weights_fn: ``weights_fn(start, stop)`` -> (stop − start, N) non-negative
            weights of anchors start..stop−1 (e.g. :class:`ClusterWeights`), treated
            as constants; None: plain InfoNCE (every w_ij = 1).
        tau: temperature τ > 0.
        block_size: anchor rows per block.
    """
    _check(q, k, tau, block_size)
    if weights_fn is None:
        lse = blockwise_logsumexp_matmul(q, k, tau, block_size=int(block_size))
    else:
        lse = _WeightedLSE.apply(q, k, weights_fn, float(tau), int(block_size))
        _no_mass(lse)
    pos = (q * k).sum(1) / tau
    return (lse - pos).mean()


def weighted_info_nce_dense(q: Tensor, k: Tensor, weights: Optional[Tensor], tau: float = 0.5) -> Tensor:
    """Reference: the same loss with the (N, N) weight matrix materialized (autograd)."""
    x = q @ k.T / tau
    if weights is not None:
        x = x + torch.log(weights.to(x.dtype))
    return (torch.logsumexp(x, 1) - (q * k).sum(1) / tau).mean()


# ------------------------------------------------------------------ AdaMEOW
class PairwiseWeightMLP(nn.Module):
    """AdaMEOW's weight network w_ij = σ(W₂ tanh(W₁(a_i + b_j) + c₁) + c₂) (hidden 16).

    The first layer is linear, so W₁(a_i + b_j) = W₁a_i + W₁b_j: the blockwise loss never
    forms the d-wide pair sums, only the (rows, N, hidden) activations of one block.
    """

    def __init__(self, dim: int, hidden: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def dense(self, a: Tensor, b: Tensor) -> Tensor:
        """All weights, literally σ(MLP(a_i + b_j)) on the (N, N, d) pair sums (reference)."""
        return torch.sigmoid(self.fc2(torch.tanh(self.fc1(a[:, None, :] + b[None, :, :])))).squeeze(-1)


class _SoftWeightedLSE(torch.autograd.Function):
    """lse_i = log Σ_j σ(u_ij) e^{x_ij}, x_ij = q_i·k_j/τ, u_ij = w₂·tanh(A_i + B_j + c₁) + c₂,
    over row blocks with a hand-written backward (A = W₁q, B = W₁k come in precomputed).

    With P_ij = g_i σ(u_ij) e^{x_ij − lse_i} and H = tanh(·): ∂/∂x_ij = P_ij,
    ∂/∂u_ij = P_ij (1 − σ(u_ij)) =: D_ij, ∂/∂w₂ = Σ D_ij H_ij, ∂/∂c₂ = Σ D_ij,
    ∂/∂A_i = Σ_j D_ij w₂ ⊙ (1 − H_ij²), ∂/∂B_j = Σ_i (same), ∂/∂c₁ = Σ_ij (same).
    Memory: one (block_size, N, hidden) buffer, recomputed in the backward pass.
    """

    @staticmethod
    def _hidden(a_rows: Tensor, b_proj: Tensor, c1: Tensor) -> Tensor:
        h = a_rows[:, None, :] + b_proj[None, :, :]
        return h.add_(c1).tanh_()

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, a_proj: Tensor, b_proj: Tensor, c1: Tensor, w2: Tensor,
                c2: Tensor, tau: float, block_size: int) -> Tensor:
        n = q.shape[0]
        lse = q.new_empty(n)
        for start in range(0, n, block_size):
            rows = slice(start, min(start + block_size, n))
            h = _SoftWeightedLSE._hidden(a_proj[rows], b_proj, c1)
            u = (h @ w2).add_(c2)
            x = torch.mm(q[rows], k.T).div_(tau).add_(F.logsigmoid(u))
            lse[rows] = torch.logsumexp(x, 1)
            del h, u, x
        ctx.save_for_backward(q, k, a_proj, b_proj, c1, w2, c2, lse)
        ctx.tau, ctx.block_size = tau, block_size
        return lse

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_lse: Tensor):
        q, k, a_proj, b_proj, c1, w2, c2, lse = ctx.saved_tensors
        tau, block_size = ctx.tau, ctx.block_size
        n, hid = q.shape[0], w2.numel()
        grads = {name: torch.zeros_like(t) for name, t in
                 (("q", q), ("k", k), ("a", a_proj), ("b", b_proj), ("c1", c1), ("w2", w2), ("c2", c2))}
        for start in range(0, n, block_size):
            rows = slice(start, min(start + block_size, n))
            h = _SoftWeightedLSE._hidden(a_proj[rows], b_proj, c1)
            u = (h @ w2).add_(c2)
            p = torch.mm(q[rows], k.T).div_(tau).add_(F.logsigmoid(u))
            p.sub_(lse[rows, None]).exp_().mul_(grad_lse[rows, None])       # P
            grads["q"][rows] = (p @ k).div_(tau)
            grads["k"].addmm_(p.T, q[rows], alpha=1.0 / tau)
            d = p.mul_(torch.sigmoid(u.neg_()))                            # D = P (1 − σ(u))
            grads["c2"] += d.sum()
            grads["w2"] += h.reshape(-1, hid).T @ d.reshape(-1)
            dh = h.mul_(h).neg_().add_(1.0).mul_(d[..., None]).mul_(w2)    # D w₂ (1 − H²)
            grads["a"][rows] = dh.sum(1)
            grads["b"] += dh.sum(0)
            del h, u, p, d, dh
        grads["c1"] = grads["a"].sum(0)
        return (grads["q"], grads["k"], grads["a"], grads["b"], grads["c1"], grads["w2"], grads["c2"],
                None, None)


def soft_weighted_info_nce(q: Tensor, k: Tensor, mlp: PairwiseWeightMLP, tau: float = 0.5,
                           block_size: int = 256) -> Tensor:
    """AdaMEOW's loss: weighted InfoNCE with w_ij = σ(MLP(q_i + k_j)) (anchors q = ẑ_fine,
    keys k = ẑ_coarse, the positive's own term included, as the authors' code).

    Gradients flow into q, k and the MLP. Row blocks with a hand-written backward
    (:class:`_SoftWeightedLSE`) that recomputes each block's (block_size, N, hidden)
    activations, so peak memory is one such buffer; values and gradients equal
    :func:`soft_weighted_info_nce_dense`.
    """
    _check(q, k, tau, block_size)
    a_proj = q @ mlp.fc1.weight.T
    b_proj = k @ mlp.fc1.weight.T
    lse = _SoftWeightedLSE.apply(q, k, a_proj, b_proj, mlp.fc1.bias, mlp.fc2.weight.reshape(-1),
                                 mlp.fc2.bias.reshape(()), float(tau), int(block_size))
    return (lse - (q * k).sum(1) / tau).mean()


def soft_weighted_info_nce_dense(q: Tensor, k: Tensor, mlp: PairwiseWeightMLP,
                                 tau: float = 0.5) -> Tensor:
    """Reference: the (N, N, d) pair sums through the MLP and the (N, N) score matrix."""
    return weighted_info_nce_dense(q, k, mlp.dense(q, k), tau)
