"""GRACE / CSGCL loss in its shifted, tiled form: the fast exact path for N up to a few thousand.

The loss is GRACE's (module :mod:`graphcl.losses.infonce`, Zhu et al. 2020, Eq. 1-2)::

    L = 1/(2N) Σ_i [ℓ(u_i, v_i) + ℓ(v_i, u_i)],
    ℓ(u_i, v_i) = −s_ii/τ + log( Σ_k e^{s(u_i,v_k)/τ} + Σ_{k≠i} e^{s(u_i,u_k)/τ} )

with s the cosine of unit rows u, v plus, for CSGCL's team-up (Chen et al. 2023), b_i + b_j.

**One constant shift.** Every score s_ij/τ lies in [−c', c] with c = (1 + 2 max|b|)/τ, so
E = e^{s/τ − c} never overflows and, for a spread c + c' ≤ :data:`SHIFTED_MAX_SPREAD`, never
underflows: the denominators are plain sums d_u = Σ_k E_uv[i,k] + Σ_{k≠i} E_uu[i,k] (and
d_v with E_uvᵀ, E_vv), lse = c + log d, with no per-row max or log-sum-exp passes.

**Products.** E_uv is one product (the bias folded in as two extra columns, the shift as the
GEMM's additive term). E_uu and E_vv are symmetric: only their upper row-block tiles are
computed and kept (packed, about N²/2 floats each), their row sums come from a tile's row sums
plus the column sums of the tiles above it. Forward: 2 product-equivalents of N x N x d (not 3).

**exp as exp2.** The left operand carries log2(e)/τ and the shift log2(e)·c, so
E = 2^{(u_i·v_j + b_i + b_j)·log2(e)/τ − log2(e)·c} = e^{s_ij/τ − c}, and each tile is
exponentiated by ``exp2_`` in place while it is in cache (torch's vectorized exp2 is about 3x
its exp on this CPU: 3.6 vs 1.2 G elements/s, AVX-512, 1 thread).

**Backward.** With P = E/d (the softmax of each anchor row),
G_uv = E_uv ⊙ (1/d_u 1ᵀ + 1 1/d_vᵀ) − 2I, G_uu = E_uu ⊙ (1/d_u 1ᵀ + 1 1/d_uᵀ) with a zero
diagonal (likewise G_vv), and ∂L/∂u = (G_uv v + G_uu u)/(2Nτ), ∂L/∂v = (G_uvᵀ u + G_vv v)/(2Nτ).
G is formed one row-block tile at a time in a reused buffer (never as N x N matrices) and
multiplied at once; a symmetric tile T of rows I, columns J ≥ I contributes T u_J to rows I and
T_{:,J>I}ᵀ u_I to rows J. Backward: 4 product-equivalents, 3 elementwise passes over tiles.

Tried and not kept (2026-12-08, Cora, 1 thread, 12 interleaved rounds of 3 epochs): dropping the
shift (within the accepted spread e^{s/τ} ∈ [e^-40, e^40] needs none) removes the copy of the
shift into each tile that ``addmm`` makes before its product (the profile's ``aten::copy_``, ~7%
of the epoch's self time), but the epoch was no faster (median 0.2319 vs 0.2299 s, minimum
0.2122 vs 0.2118): the product then writes its tile cold instead of into the copy's cached lines.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from graphcl import precision
from graphcl.precision import bf16_enabled

__all__ = ["SHIFTED_MAX_SPREAD", "SHIFTED_TILE_ROWS", "shifted_form_shift", "shifted_grace_loss"]

#: the largest score spread (max − min of s/τ) the shifted form accepts: e^{-80} ≈ 1.8e-35 is
#: still a normal float32; above it the log-sum-exp form is used
SHIFTED_MAX_SPREAD = 80.0

#: rows per tile: a 128 x N fp32 tile is 1.4 MB at Cora's N = 2,708, about this CPU's L2 (1 MiB
#: per core) to L3; 64-256 measured within noise of each other on Cora (1 thread)
SHIFTED_TILE_ROWS = 128

_LOG2E = 1.0 / math.log(2.0)


def shifted_form_shift(tau: float, bias: Optional[Tensor]) -> Optional[float]:
    """The shift c of the shifted form for these scores, or None when their spread is
    too wide for it (the log-sum-exp form is used then)."""
    top = 1.0 + (0.0 if bias is None else 2.0 * float(bias.abs().max()) if bias.numel() else 0.0)
    shift = top / tau
    return shift if 2.0 * shift <= SHIFTED_MAX_SPREAD else None


def _augmented(a: Tensor, bias: Optional[Tensor], left: bool) -> Tensor:
    """Rows ``[a_i, b_i, 1]`` (left) or ``[a_i, 1, b_i]`` (right), so one product gives
    a_i · c_j + b_i + b_j; ``a`` itself without a bias."""
    if bias is None:
        return a
    one = torch.ones_like(bias)[:, None]
    return torch.cat([a, bias[:, None], one] if left else [a, one, bias[:, None]], 1)


def _tile_starts(n: int, rows: int) -> list[int]:
    return list(range(0, n, rows))


def _packed_size(n: int, rows: int) -> int:
    """Floats of the upper row-block tiles of an n x n symmetric matrix: Σ r_I (n − start_I)."""
    return sum((min(n, i0 + rows) - i0) * (n - i0) for i0 in _tile_starts(n, rows))


def _product_into(out: Tensor, shift: Tensor, a: Tensor, b_t: Tensor, bf16: bool) -> Tensor:
    """``out = shift + a @ b_t`` (fp32 or bf16 operands)."""
    if bf16:
        return precision.mm(a, b_t, True, out=out).add_(shift)
    return torch.addmm(shift, a, b_t, out=out)


def _accumulate(target: Tensor, a: Tensor, b: Tensor, bf16: bool) -> None:
    """``target += a @ b`` in place."""
    if bf16:
        target.add_(precision.mm(a, b, True))
    else:
        target.addmm_(a, b)


class _ShiftedGrace(torch.autograd.Function):
    """The autograd function of :func:`shifted_grace_loss` (module docstring)."""

    @staticmethod
    def forward(ctx, u: Tensor, v: Tensor, bias: Optional[Tensor], tau: float, shift: float,
                tile_rows: int) -> Tensor:
        bf16 = bf16_enabled()
        n = u.shape[0]
        two_b = 0.0 if bias is None else 2.0 * bias
        left_u, right_u = _augmented(u, bias, True) * (_LOG2E / tau), _augmented(u, bias, False)
        left_v, right_v = _augmented(v, bias, True) * (_LOG2E / tau), _augmented(v, bias, False)
        shift2 = u.new_tensor(-shift * _LOG2E)
        e_uv = u.new_empty(n, n)
        e_uu, e_vv = u.new_empty(_packed_size(n, tile_rows)), u.new_empty(_packed_size(n, tile_rows))
        d_u, d_v = u.new_zeros(n), u.new_zeros(n)
        offset = 0
        for i0 in _tile_starts(n, tile_rows):
            i1 = min(n, i0 + tile_rows)
            rows, width = i1 - i0, n - i0
            tile = _product_into(e_uv[i0:i1], shift2, left_u[i0:i1], right_v.T, bf16).exp2_()
            d_u[i0:i1] += tile.sum(1)
            d_v += tile.sum(0)
            for packed, left, right, d in ((e_uu, left_u, right_u, d_u), (e_vv, left_v, right_v, d_v)):
                tile = packed[offset: offset + rows * width].view(rows, width)
                _product_into(tile, shift2, left[i0:i1], right[i0:].T, bf16).exp2_()
                d[i0:i1] += tile.sum(1)
                if i1 < n:                               # the mirrored lower part of rows > i1
                    d[i1:] += tile[:, rows:].sum(0)
            offset += rows * width
        d_u -= torch.exp(((u * u).sum(1) + two_b) / tau - shift)    # the self-pairs e^{s_ii/τ − c}
        d_v -= torch.exp(((v * v).sum(1) + two_b) / tau - shift)
        pos = ((u * v).sum(1) + two_b) / tau
        lse_u, lse_v = shift + torch.log(d_u), shift + torch.log(d_v)
        ctx.save_for_backward(u, v, e_uv, e_uu, e_vv, d_u, d_v)
        ctx.tau, ctx.bf16, ctx.tile_rows = tau, bf16, tile_rows
        return ((lse_u - pos) + (lse_v - pos)).mean() / 2

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        u, v, e_uv, e_uu, e_vv, d_u, d_v = ctx.saved_tensors
        n, tile_rows, bf16 = u.shape[0], ctx.tile_rows, ctx.bf16
        inv_u, inv_v = 1.0 / d_u, 1.0 / d_v
        grad_u, grad_v = torch.zeros_like(u), torch.zeros_like(v)
        buffer = u.new_empty(min(n, tile_rows) * n)
        offset = 0
        for i0 in _tile_starts(n, tile_rows):
            i1 = min(n, i0 + tile_rows)
            rows, width = i1 - i0, n - i0
            g = buffer[: rows * n].view(rows, n)
            torch.mul(e_uv[i0:i1], inv_u[i0:i1, None], out=g).addcmul_(e_uv[i0:i1], inv_v[None, :])
            g[:, i0:i1].diagonal().sub_(2.0)                 # the positives, one per direction
            _accumulate(grad_u[i0:i1], g, v, bf16)
            _accumulate(grad_v, g.T, u[i0:i1], bf16)
            for packed, x, inv, grad in ((e_uu, u, inv_u, grad_u), (e_vv, v, inv_v, grad_v)):
                tile = packed[offset: offset + rows * width].view(rows, width)
                g = buffer[: rows * width].view(rows, width)
                torch.mul(tile, inv[i0:i1, None], out=g).addcmul_(tile, inv[None, i0:])
                g[:, :rows].diagonal().zero_()               # k ≠ i
                _accumulate(grad[i0:i1], g, x[i0:], bf16)
                if i1 < n:
                    _accumulate(grad[i1:], g[:, rows:].T, x[i0:i1], bf16)
            offset += rows * width
        scale = grad_out / (2 * n * ctx.tau)
        return grad_u.mul_(scale), grad_v.mul_(scale), None, None, None, None


def shifted_grace_loss(u: Tensor, v: Tensor, bias: Optional[Tensor], tau: float, shift: float,
                       tile_rows: int = SHIFTED_TILE_ROWS) -> Tensor:
    """GRACE / CSGCL loss of unit rows ``u``, ``v`` (N, d) in the shifted tiled form.

    Args:
        u, v: the two views' normalized projections.
        bias: optional (N,) team-up bias b (a constant: no gradient flows into it).
        tau: temperature τ.
        shift: c from :func:`shifted_form_shift` (the caller checks the spread).
        tile_rows: rows per tile (memory O(tile_rows·N) beyond the kept E_uv and the packed
            halves of E_uu, E_vv: about 2 N² floats in all, against 3 N² untiled).
    """
    if tile_rows < 1:
        raise ValueError(f"tile_rows must be >= 1, got {tile_rows}")
    return _ShiftedGrace.apply(u, v, bias, float(tau), float(shift), int(tile_rows))
