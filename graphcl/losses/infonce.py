"""InfoNCE family: GRACE's two-view node loss (dense and exact blockwise) and a
general in-batch InfoNCE.

GRACE (Zhu et al., 2020), for node i with views u = f(G1), v = f(G2)::

    ℓ(u_i, v_i) = −log  e^{s(u_i,v_i)/τ}
                        ─────────────────────────────────────────────────
                        Σ_k e^{s(u_i,v_k)/τ} + Σ_{k≠i} e^{s(u_i,u_k)/τ}

    L = 1/(2N) Σ_i [ ℓ(u_i, v_i) + ℓ(v_i, u_i) ]

with s = θ = cosine similarity. CSGCL's team-up objective (Chen et al., 2023)
replaces every similarity, inter- and intra-view, positive and negative, by
s'_ij = θ_ij + (b_i + b_j) where the caller passes ``node_bias`` b = γ_t · CS
(community strength per node).

The dense form materializes four N x N score matrices. The blockwise form
(:class:`_BlockwiseGrace`) walks over row blocks, keeps only the per-row
log-sum-exp of each anchor's denominator in the forward pass, and recomputes
each block's scores in the backward pass, so its extra memory is
O(block_size x N) instead of O(N²) while loss and gradients are exact.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl import precision
from graphcl.precision import bf16_enabled
from graphcl.losses.grace_shifted import shifted_form_shift, shifted_grace_loss

DENSE_MAX_NODES = 4096


# ---------------------------------------------------------------------- dense
def _grace_dense(u: Tensor, v: Tensor, tau: float, bias: Optional[Tensor]) -> Tensor:
    """Reference GRACE / CSGCL loss on normalized u, v (materializes N x N), stable via logsumexp."""
    n = u.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=u.device)

    def scores(a: Tensor, b: Tensor) -> Tensor:
        s = a @ b.T
        if bias is not None:
            s = s + bias[:, None] + bias[None, :]
        return s / tau

    between = scores(u, v)                       # s(u_i, v_k)/τ ; its transpose is s(v_i, u_k)/τ
    refl_u = scores(u, u).masked_fill(eye, float("-inf"))
    refl_v = scores(v, v).masked_fill(eye, float("-inf"))
    pos = between.diagonal()
    lse_u = torch.logaddexp(between.logsumexp(1), refl_u.logsumexp(1))
    lse_v = torch.logaddexp(between.logsumexp(0), refl_v.logsumexp(1))
    return ((lse_u - pos) + (lse_v - pos)).mean() / 2


# ------------------------------------------------------------------ blockwise
def _block_scores(a: Tensor, b: Tensor, rows: slice, tau: float,
                  bias: Optional[Tensor], bf16: bool = False) -> Tensor:
    """Scores (a[rows] · b_k + bias_i + bias_k) / τ for one row block: shape (rows, N)
    (the product with bfloat16 operands when ``bf16``, :mod:`graphcl.precision`)."""
    s = precision.mm(a[rows], b.T, bf16)
    if bias is not None:
        s.add_(bias[rows, None]).add_(bias[None, :])
    return s.div_(tau)  # in place: one (rows, N) buffer per call


def _mask_self(s: Tensor, start: int) -> Tensor:
    """Set the entries (i, start + i) of a row block to -inf (excludes k = i)."""
    rows = torch.arange(s.shape[0], device=s.device)
    s[rows, rows + start] = float("-inf")
    return s


class _BlockwiseGrace(torch.autograd.Function):
    """Exact GRACE loss over row blocks; inputs are L2-normalized u, v (N, d).

    Forward keeps lse_u, lse_v (N,) only. Backward, with P the softmax rows of
    each anchor's denominator (between and intra-view parts), uses
    ∂L/∂u = 1/(2Nτ) [P_uv v + P_uu u + P_uuᵀ u + P_vuᵀ v] − v/(Nτ)
    and the symmetric expression for v, block by block.
    """

    @staticmethod
    def forward(ctx, u: Tensor, v: Tensor, bias: Optional[Tensor], tau: float,
                block_size: int) -> Tensor:
        n = u.shape[0]
        bf16 = bf16_enabled()
        lse_u = u.new_empty(n)
        lse_v = u.new_empty(n)
        pos = u.new_empty(n)
        for start in range(0, n, block_size):
            rows = slice(start, min(start + block_size, n))
            for anchor, other, lse in ((u, v, lse_u), (v, u, lse_v)):
                between = _block_scores(anchor, other, rows, tau, bias, bf16)
                refl = _mask_self(_block_scores(anchor, anchor, rows, tau, bias, bf16), start)
                lse[rows] = torch.logaddexp(between.logsumexp(1), refl.logsumexp(1))
                if anchor is u:
                    idx = torch.arange(between.shape[0], device=u.device)
                    pos[rows] = between[idx, idx + start]
                del between, refl
        ctx.save_for_backward(u, v, bias, lse_u, lse_v)
        ctx.tau, ctx.block_size, ctx.bf16 = tau, block_size, bf16
        return ((lse_u - pos) + (lse_v - pos)).mean() / 2

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        u, v, bias, lse_u, lse_v = ctx.saved_tensors
        tau, block_size, bf16 = ctx.tau, ctx.block_size, ctx.bf16
        n = u.shape[0]
        scale = grad_out / (2 * n * tau)
        grad_u = torch.zeros_like(u)
        grad_v = torch.zeros_like(v)
        for start in range(0, n, block_size):
            rows = slice(start, min(start + block_size, n))
            # anchors a_i of one view: between (a_i, o_k) and intra (a_i, a_k)
            for a, o, lse, grad_a, grad_o in ((u, v, lse_u, grad_u, grad_v), (v, u, lse_v, grad_v, grad_u)):
                p = _block_scores(a, o, rows, tau, bias, bf16).sub_(lse[rows, None]).exp_()
                grad_a[rows] += precision.mm(p, o, bf16)
                grad_o += precision.mm(p.T, a[rows], bf16)
                p = _mask_self(_block_scores(a, a, rows, tau, bias, bf16), start).sub_(lse[rows, None]).exp_()
                grad_a[rows] += precision.mm(p, a, bf16)
                grad_a += precision.mm(p.T, a[rows], bf16)
                del p
        # positive term: −(2/(2N)) s(u_i, v_i)/τ per i
        grad_u.sub_(v, alpha=2.0).mul_(scale)
        grad_v.sub_(u, alpha=2.0).mul_(scale)
        return grad_u, grad_v, None, None, None


class _FusedDenseGrace(torch.autograd.Function):
    """GRACE loss with the three N x N score matrices computed once and turned
    into the gradient weights (no autograd graph over N x N tensors):
    3 matrix products forward, 4 backward. Inputs are L2-normalized u, v.

    With G the softmax weights of each anchor's denominator,
    ∂L/∂u = 1/(2Nτ) [(G_uv + G_vuᵀ − 2I) v + (G_uu + G_uuᵀ) u], and symmetrically for v.
    """

    @staticmethod
    def forward(ctx, u: Tensor, v: Tensor, bias: Optional[Tensor], tau: float) -> Tensor:
        n = u.shape[0]
        idx = torch.arange(n, device=u.device)
        bf16 = bf16_enabled()
        s_uv = _block_scores(u, v, slice(0, n), tau, bias, bf16)
        s_uu = _mask_self(_block_scores(u, u, slice(0, n), tau, bias, bf16), 0)
        s_vv = _mask_self(_block_scores(v, v, slice(0, n), tau, bias, bf16), 0)
        lse_u = torch.logaddexp(s_uv.logsumexp(1), s_uu.logsumexp(1))
        lse_v = torch.logaddexp(s_uv.logsumexp(0), s_vv.logsumexp(1))
        pos = s_uv[idx, idx]
        ctx.save_for_backward(u, v, s_uv, s_uu, s_vv, lse_u, lse_v)
        ctx.tau, ctx.bf16 = tau, bf16
        return ((lse_u - pos) + (lse_v - pos)).mean() / 2

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        u, v, s_uv, s_uu, s_vv, lse_u, lse_v = ctx.saved_tensors
        n = u.shape[0]
        scale = grad_out / (2 * n * ctx.tau)
        # anchors u_i over v_k and anchors v_k over u_i share s_uv: G = P_uv + P_vuᵀ − 2I
        g_uv = (s_uv - lse_u[:, None]).exp_()
        g_uv.add_((s_uv - lse_v[None, :]).exp_())
        g_uv.diagonal().sub_(2.0)
        g_uu = (s_uu - lse_u[:, None]).exp_()
        g_uu = g_uu + g_uu.T
        g_vv = (s_vv - lse_v[:, None]).exp_()
        g_vv = g_vv + g_vv.T
        bf16 = ctx.bf16
        grad_u = precision.mm(g_uv, v, bf16).add_(precision.mm(g_uu, u, bf16)).mul_(scale)
        grad_v = precision.mm(g_uv.T, u, bf16).add_(precision.mm(g_vv, v, bf16)).mul_(scale)
        return grad_u, grad_v, None, None


# ------------------------------------------------------------------ public API
def grace_loss(z1: Tensor, z2: Tensor, tau: float = 0.5, *, node_bias: Optional[Tensor] = None,
               method: str = "auto", block_size: int = 1024) -> Tensor:
    """GRACE's symmetric two-view InfoNCE loss (CSGCL team-up with ``node_bias``).

    L = 1/(2N) Σ_i [ℓ(u_i, v_i) + ℓ(v_i, u_i)] with
    ℓ(u_i, v_i) = −log e^{s_ii/τ} / (Σ_k e^{s(u_i,v_k)/τ} + Σ_{k≠i} e^{s(u_i,u_k)/τ}),
    s = cosine (+ b_i + b_j in every term when ``node_bias`` b is given; CSGCL's
    s'_ij = θ_ij + γ_t (CS_i + CS_j), pass b = γ_t · CS).

    Args:
        z1, z2: (N, d) projections of the two views (normalized here, with autograd).
        tau: temperature τ.
        node_bias: optional (N,) additive bias b. Treated as a constant: no
            gradient flows into it with the blockwise method.
        method: ``"dense"`` (N x N matrices through autograd: the reference),
            ``"fused"`` (hand-written backward, fewer passes: the shifted tiled form of
            :mod:`graphcl.losses.grace_shifted` when the scores' spread allows, else the
            log-sum-exp form on N x N matrices),
            ``"blockwise"`` (exact, O(block_size·N) extra memory) or ``"auto"``
            (fused below ``DENSE_MAX_NODES`` = 4096 nodes, else blockwise).
        block_size: rows per block of the blockwise method.
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"z1 and z2 must be (N, d) of equal shape, got {tuple(z1.shape)} and "
                         f"{tuple(z2.shape)}")
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    n = z1.shape[0]
    if node_bias is not None:
        node_bias = node_bias.to(device=z1.device, dtype=z1.dtype).reshape(-1)
        if node_bias.numel() != n:
            raise ValueError(f"node_bias must have {n} entries, got {node_bias.numel()}")
    if method == "auto":
        method = "fused" if n < DENSE_MAX_NODES else "blockwise"
    u, v = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    if method == "dense":
        return _grace_dense(u, v, tau, node_bias)
    if method == "fused":
        bias = None if node_bias is None else node_bias.detach()
        shift = shifted_form_shift(float(tau), bias)
        if shift is not None:
            return shifted_grace_loss(u, v, bias, float(tau), shift)
        return _FusedDenseGrace.apply(u, v, bias, float(tau))
    if method == "blockwise":
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        bias = None if node_bias is None else node_bias.detach()
        return _BlockwiseGrace.apply(u, v, bias, float(tau), int(block_size))
    raise ValueError(f"method must be 'auto', 'dense', 'fused' or 'blockwise', got {method!r}")


def info_nce(query: Tensor, keys: Tensor, tau: float = 0.2, *,
             positive_index: Optional[Tensor] = None, normalize: bool = True,
             reduction: str = "mean") -> Tensor:
    """In-batch InfoNCE: ℓ_i = −log e^{q_i·k_{p(i)}/τ} / Σ_j e^{q_i·k_j/τ}.

    ``positive_index`` p (B,) gives each query's positive key; by default the
    keys are aligned with the queries (p(i) = i, the other keys are negatives).
    ``normalize`` L2-normalizes both sides first (cosine scores).
    """
    if normalize:
        query, keys = F.normalize(query, dim=-1), F.normalize(keys, dim=-1)
    logits = query @ keys.T / tau
    if positive_index is None:
        if keys.shape[0] < query.shape[0]:
            raise ValueError("aligned InfoNCE needs at least as many keys as queries")
        positive_index = torch.arange(query.shape[0], device=query.device)
    return F.cross_entropy(logits, positive_index.to(query.device), reduction=reduction)
