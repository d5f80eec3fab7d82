"""AdaMEOW's InfoNCE with learned soft negative weights, exact and blockwise (never N² x hidden).

AdaMEOW (Yu, Ge, Li & Zhou, TKDE 2024; jianxiangyu/MEOW ``code_adameow``) weighs every
denominator term of the InfoNCE between anchors q = ẑ_fine and keys k = ẑ_coarse::

    w_ij = σ(u_ij),   u_ij = w₂ · tanh(W₁(q_i + k_j) + c₁) + c₂     (MLP d → hidden → 1)
    L = (1/N) Σ_i [ lse_i − q_i·k_i/τ ],   lse_i = log Σ_j w_ij e^{q_i·k_j/τ}

(the positive's own term included, as the authors' code). The first layer is linear, so
W₁(q_i + k_j) = A_i + B_j with A = qW₁ᵀ, B = kW₁ᵀ: only the (rows, N, hidden) activations of
a chunk of anchors are ever formed.

How it is computed (:class:`_SoftWeightedLSE`):

* tanh z = 2σ(2z) − 1, so the activations are kept as S = σ(2z) (torch's CPU ``sigmoid`` runs
  about 9x faster than its ``tanh`` here: 2.0 vs 0.22 G elements/s, 1 thread, AVX-512) and
  u = (2w₂)·S + c₂ − Σw₂. The derivatives follow from S alone: ∂u/∂w₂ = H = 2S − 1 and
  ∂H/∂z = 1 − H² = 4S(1 − S).
* Anchors in row blocks of ``block_size`` (one score product q_B kᵀ per block), each walked
  in chunks of about :data:`CHUNK_PAIR_ELEMENTS` activations that stay in cache through
  their elementwise passes, in two reused buffers (no fresh allocation per chunk).
* A chunk holds whole rows, so its lse is known before it leaves the cache: with
  P_ij = g_i w_ij e^{x_ij − lse_i} (g = ∂L/∂lse) and D_ij = P_ij (1 − σ(u_ij)),

      ∂/∂q_i = (1/τ) Σ_j P_ij k_j,   ∂/∂k_j = (1/τ) Σ_i P_ij q_i,
      ∂/∂c₂ = Σ D_ij,   ∂/∂w₂ = Σ D_ij H_ij,
      ∂/∂A_i = 4 w₂ ⊙ Σ_j D_ij S_ij(1 − S_ij),   ∂/∂B_j = 4 w₂ ⊙ Σ_i (same),   ∂/∂c₁ = Σ_i ∂/∂A_i.

  When the inputs need gradients, the forward pass forms them at once with g_i = 1; the
  backward scales them by g when every g_i is equal (a mean or sum of the lse's, as the loss
  here), and otherwise recomputes them with the given g. Either way the gradients are exact;
  the common case evaluates the N² x hidden activations once per step, not twice.

Values and gradients equal :func:`soft_weighted_info_nce_dense` (the literal (N, N, d) pair
sums through the MLP) to float rounding; tests in ``tests/test_losses_weighted.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.losses.weighted import check_info_nce_inputs, weighted_info_nce_dense

__all__ = ["CHUNK_PAIR_ELEMENTS", "PairwiseWeightMLP", "soft_weighted_info_nce", "soft_weighted_info_nce_dense",
           "soft_weighted_lse"]

#: activations (anchor rows x N x hidden) per chunk: 2^20 floats, 4 MiB fp32 (16 of ACM's 4,019
#: rows at hidden 16). Measured at ACM size (4,019 x 64, 1 thread, forward + backward): 2^16
#: 1.58 s, 2^17 1.10, 2^18 0.92, 2^20 0.76, 2^22 1.9 — smaller chunks pay Python per chunk,
#: larger ones fall out of cache; the former form (tanh, recomputed backward) 5.2 s
CHUNK_PAIR_ELEMENTS = 1 << 20


class PairwiseWeightMLP(nn.Module):
    """AdaMEOW's weight network w_ij = σ(W₂ tanh(W₁(a_i + b_j) + c₁) + c₂) (hidden 16).

    The first layer is linear, so W₁(a_i + b_j) = W₁a_i + W₁b_j: the blockwise loss never
    forms the d-wide pair sums, only the (rows, N, hidden) activations of one chunk.
    """

    def __init__(self, dim: int, hidden: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def dense(self, a: Tensor, b: Tensor) -> Tensor:
        """All weights, literally σ(MLP(a_i + b_j)) on the (N, N, d) pair sums (reference)."""
        return torch.sigmoid(self.fc2(torch.tanh(self.fc1(a[:, None, :] + b[None, :, :])))).squeeze(-1)


@dataclass
class _Grads:
    """Gradient accumulators of one pass (q, k: (N, d); a, b: (N, hidden); w2: (hidden,); c2: ())."""

    q: Tensor
    k: Tensor
    a: Tensor
    b: Tensor
    w2: Tensor
    c2: Tensor

    @staticmethod
    def zeros(q: Tensor, a: Tensor) -> "_Grads":
        n, hid = a.shape
        return _Grads(torch.zeros_like(q), torch.zeros_like(q), torch.zeros_like(a), torch.zeros_like(a),
                      a.new_zeros(hid), a.new_zeros(()))


def _chunk_rows(n: int, hidden: int, block_size: int) -> int:
    return max(1, min(block_size, CHUNK_PAIR_ELEMENTS // max(1, n * hidden)))


def _soft_pass(q: Tensor, k: Tensor, a: Tensor, b: Tensor, c1: Tensor, w2: Tensor, c2: Tensor,
               tau: float, block_size: int, lse: Tensor, grad_lse: Optional[Tensor],
               grads: Optional[_Grads]) -> None:
    """One walk over all anchor rows. ``grads is None``: fill ``lse`` only. Otherwise also
    accumulate the gradients with weights ``grad_lse`` (None: every g_i = 1); when ``lse`` is
    given already (``grad_lse`` not None), it is used rather than recomputed."""
    n, hid = a.shape
    rows_per_chunk = _chunk_rows(n, hid, block_size)
    a2, b2, c1_2 = 2.0 * a, 2.0 * b, 2.0 * c1             # S = σ(2z) = (1 + tanh z) / 2
    v, u0 = 2.0 * w2, c2 - w2.sum()                        # u = v·S + u0
    s_buf = a.new_empty(rows_per_chunk, n, hid)
    t_buf = a.new_empty(rows_per_chunk, n, hid) if grads is not None else None
    known_lse = grad_lse is not None
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        x = torch.mm(q[start:stop], k.T).div_(tau)         # (block, N) scores, then P in place
        for c0 in range(0, stop - start, rows_per_chunk):
            c1_ = min(c0 + rows_per_chunk, stop - start)
            r = c1_ - c0
            rows = slice(start + c0, start + c1_)
            s = torch.add(a2[rows, None, :], b2[None, :, :], out=s_buf[:r]).add_(c1_2).sigmoid_()
            u = torch.mv(s.view(r * n, hid), v).view(r, n).add_(u0)
            xr = x[c0:c1_].add_(F.logsigmoid(u))
            if not known_lse:
                lse[rows] = torch.logsumexp(xr, 1)
            if grads is None:
                continue
            p = xr.sub_(lse[rows, None]).exp_()            # P (g_i applied below)
            if grad_lse is not None:
                p.mul_(grad_lse[rows, None])
            d = p * u.neg_().sigmoid_()                    # D = P (1 − σ(u))
            grads.c2 += d.sum()
            t = torch.mul(s, d[:, :, None], out=t_buf[:r])  # D S
            grads.w2 += t.sum((0, 1))
            t.mul_(s.neg_().add_(1.0))                     # D S (1 − S)
            grads.a[rows] = t.sum(1)
            grads.b += t.sum(0)
        if grads is not None:
            grads.q[start:stop] = torch.mm(x, k).div_(tau)
            grads.k.addmm_(x.T, q[start:stop], alpha=1.0 / tau)
        del x


def _finish(grads: _Grads, w2: Tensor, scale: Optional[Tensor]) -> tuple[Tensor, ...]:
    """From the accumulated sums to the gradients of (q, k, a, b, c1, w2, c2)."""
    ga = grads.a.mul(4.0 * w2)
    gb = grads.b.mul(4.0 * w2)
    gw2 = 2.0 * grads.w2 - grads.c2                         # Σ D (2S − 1)
    out = (grads.q, grads.k, ga, gb, ga.sum(0), gw2, grads.c2)
    return out if scale is None else tuple(t * scale for t in out)


class _SoftWeightedLSE(torch.autograd.Function):
    """lse_i = log Σ_j σ(u_ij) e^{x_ij} (module docstring), with the gradients formed in the
    forward pass when ``speculate`` (used if the incoming g is uniform, else recomputed)."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, a: Tensor, b: Tensor, c1: Tensor, w2: Tensor, c2: Tensor,
                tau: float, block_size: int, speculate: bool) -> Tensor:
        lse = q.new_empty(q.shape[0])
        grads = _Grads.zeros(q, a) if speculate else None
        _soft_pass(q, k, a, b, c1, w2, c2, tau, block_size, lse, None, grads)
        ctx.save_for_backward(q, k, a, b, c1, w2, c2, lse)
        ctx.tau, ctx.block_size, ctx.grads = tau, block_size, grads
        return lse

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_lse: Tensor):
        q, k, a, b, c1, w2, c2, lse = ctx.saved_tensors
        grads, ctx.grads = ctx.grads, None
        if grads is not None and bool((grad_lse == grad_lse[0]).all()):
            out = _finish(grads, w2, grad_lse[0])
        else:
            grads = _Grads.zeros(q, a)
            _soft_pass(q, k, a, b, c1, w2, c2, ctx.tau, ctx.block_size, lse, grad_lse, grads)
            out = _finish(grads, w2, None)
        return (*out, None, None, None)


def soft_weighted_lse(q: Tensor, k: Tensor, mlp: PairwiseWeightMLP, tau: float = 0.5,
                      block_size: int = 256) -> Tensor:
    """lse_i = log Σ_j σ(MLP(q_i + k_j)) e^{q_i·k_j/τ} for every anchor i, shape (N,).

    Exact; memory O(block_size · N) scores plus two chunk buffers of about
    :data:`CHUNK_PAIR_ELEMENTS` activations (module docstring). Gradients flow into q, k and
    the MLP; any weighting of the lse's is supported (a uniform one costs one pass, not two).

    Args:
        q: (N, d) anchors; k: (N, d) keys.
        mlp: the pair weight network (its first layer's input width is d).
        tau: temperature τ > 0.
        block_size: anchor rows per score block.
    """
    check_info_nce_inputs(q, k, tau, block_size)
    a = q @ mlp.fc1.weight.T
    b = k @ mlp.fc1.weight.T
    inputs = (q, k, a, b, mlp.fc1.bias, mlp.fc2.weight.reshape(-1), mlp.fc2.bias.reshape(()))
    speculate = torch.is_grad_enabled() and any(t.requires_grad for t in inputs)
    return _SoftWeightedLSE.apply(*inputs, float(tau), int(block_size), speculate)


def soft_weighted_info_nce(q: Tensor, k: Tensor, mlp: PairwiseWeightMLP, tau: float = 0.5,
                           block_size: int = 256) -> Tensor:
    """AdaMEOW's loss: weighted InfoNCE with w_ij = σ(MLP(q_i + k_j)) (anchors q = ẑ_fine,
    keys k = ẑ_coarse, k_i the positive of q_i, its own term in the denominator, as the
    authors' code): mean_i [lse_i − q_i·k_i/τ] with :func:`soft_weighted_lse`."""
    lse = soft_weighted_lse(q, k, mlp, tau, block_size)
    return (lse - (q * k).sum(1) / tau).mean()


def soft_weighted_info_nce_dense(q: Tensor, k: Tensor, mlp: PairwiseWeightMLP,
                                 tau: float = 0.5) -> Tensor:
    """Reference: the (N, N, d) pair sums through the MLP and the (N, N) score matrix."""
    return weighted_info_nce_dense(q, k, mlp.dense(q, k), tau)
