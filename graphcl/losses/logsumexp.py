"""Blockwise ``logsumexp`` of a scaled matrix product, exact and memory-light.

``blockwise_logsumexp_matmul(q, k, tau)`` returns, for every row ``i`` of ``q``,

    lse_i = log Σ_j exp(q_i · k_j / τ),

the denominator of an InfoNCE loss whose negatives are *all* rows of ``k``
(LightGCL's all-user / all-item contrastive term, eq. 7 of Cai et al. 2023 as
implemented by the authors). The naive form ``torch.logsumexp(q @ k.T / tau, 1)``
materializes the ``|q| x |k|`` score matrix (and autograd keeps copies of it for
the backward pass): 4096 x 29,858 floats is 489 MB per copy on Gowalla.

Here the columns of ``k`` are processed in blocks of ``block_size`` with a
running maximum ``m_i`` and a running sum ``s_i`` per row (the online softmax of
Milakov & Gimelshein 2018, as in FlashAttention):

    m'_i = max(m_i, max_{j in block} x_ij),
    s'_i = s_i · exp(m_i - m'_i) + Σ_{j in block} exp(x_ij - m'_i),
    lse_i = m_i + log s_i   (after the last block),   x_ij = q_i · k_j / τ.

Only ``q``, ``k`` and ``lse`` are saved. The backward pass recomputes each block
of scores and uses ``p_ij = exp(x_ij - lse_i)`` (the softmax over ``j``):

    ∂L/∂q_i = (1/τ) Σ_j g_i p_ij k_j,        ∂L/∂k_j = (1/τ) Σ_i g_i p_ij q_i,

with ``g = ∂L/∂lse``. Peak extra memory is one ``|q| x block_size`` buffer.
Double backward is not supported.

Where the whole ``|q| x |k|`` matrix fits a memory budget (``keep_bytes``, default
:data:`DEFAULT_KEEP_BYTES` = 0: never), the scores are kept instead: the forward pass computes
``x = q kᵀ/τ`` once, ``lse_i = m_i + log Σ_j e^{x_ij − m_i}`` and stores the softmax
``p_ij = e^{x_ij − m_i} / Σ_j e^{x_ij − m_i}``, and the backward pass uses it directly (two
matrix products instead of three, no second exp pass). Both forms give the same values and
gradients to float rounding. On this CPU (1 thread, interleaved, d 64) the kept form is not
faster: 0.79x the blockwise speed at 4096 x 29,858 (467 MiB kept), 0.97x at 2048 x 17,632,
1.05x at 1024 x 8,000 — the blockwise form's cache-sized blocks outweigh the recomputed
product (experiments/results/lightgcl_infonce_kept.md); it is an option for devices where
that balance differs, not measured here.
"""
from __future__ import annotations

import math

import torch

from graphcl import precision
from graphcl.precision import bf16_enabled

__all__ = ["CPU_BLOCK_SCORES", "DEFAULT_BLOCK_SIZE", "DEFAULT_KEEP_BYTES", "blockwise_logsumexp_matmul", "default_block_size"]

#: the largest |q| x |k| score matrix kept for the backward pass (bytes); above it, blockwise.
#: 0: never (the kept form measured no faster on CPU; module docstring)
DEFAULT_KEEP_BYTES = 0

#: keys per block on CPU: a 4096 x 256 float32 block (4 MiB) stays in cache between the
#: matmul and the exp; measured 15-20% faster than 2048 for 4096 x 29,858 x 64 (1 thread)
DEFAULT_BLOCK_SIZE = 256
#: keys per block on accelerators, where fewer, larger kernels pay off
DEFAULT_BLOCK_SIZE_ACCELERATOR = 4096
#: on CPU, with the number of anchors known: about this many scores per block (4096 x 256, the
#: measured best above), so few anchors get wider blocks (256 x 4,096 for a sequential model's
#: cross-entropy over 12,101 items: 27 vs 50 ms forward + backward at 256 keys, 1 thread), within
#: [DEFAULT_BLOCK_SIZE, DEFAULT_BLOCK_SIZE_ACCELERATOR]
CPU_BLOCK_SCORES = 4096 * 256


#: scores are formed in base 2 (x·log2 e) so the tiles take ``exp2_``: torch's vectorized exp2
#: runs about 3x its exp on this CPU (3.6 vs 1.2 G elements/s, AVX-512, 1 thread); 2^{x·log2 e} = e^x
_LOG2E = 1.0 / math.log(2.0)
_LN2 = math.log(2.0)


def default_block_size(device: torch.device, rows: int | None = None) -> int:
    """The block size used when none is given: 4096 on accelerators; on CPU 256, or with
    ``rows`` anchors about :data:`CPU_BLOCK_SCORES` / rows keys, clamped to [256, 4096]."""
    if device.type != "cpu":
        return DEFAULT_BLOCK_SIZE_ACCELERATOR
    if rows is None or rows <= 0:
        return DEFAULT_BLOCK_SIZE
    return min(DEFAULT_BLOCK_SIZE_ACCELERATOR, max(DEFAULT_BLOCK_SIZE, CPU_BLOCK_SCORES // rows))


def _blocks(n: int, block_size: int) -> range:
    return range(0, n, block_size)


def _operands(qs: torch.Tensor, k: torch.Tensor, bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``qs`` and ``k`` as the products take them: with ``bf16``, cast once per pass, ``qs``
    padded by :func:`graphcl.precision.bf16_operand` (zero rows: the products cut them off;
    ``k`` is cut into blocks, which :func:`graphcl.precision.mm` pads)."""
    if not bf16:
        return qs, k
    return precision.bf16_operand(qs), k.to(torch.bfloat16)


class _BlockwiseLSE(torch.autograd.Function):
    """Autograd function behind :func:`blockwise_logsumexp_matmul`."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, tau: float, block_size: int) -> torch.Tensor:
        bf16 = bf16_enabled()
        qs, k_op = _operands(q * (_LOG2E / tau), k, bf16)  # x_ij·log2 e = qs_i · k_j
        n = q.size(0)
        run_max = torch.full((n,), -torch.inf, dtype=q.dtype, device=q.device)
        run_sum = torch.zeros(n, dtype=q.dtype, device=q.device)
        buf = torch.empty((n, min(block_size, k.size(0))), dtype=q.dtype, device=q.device)
        for start in _blocks(k.size(0), block_size):
            kb = k_op[start:start + block_size]
            x = buf[:, :kb.size(0)]
            precision.mm(qs, kb.T, bf16, out=x)
            new_max = torch.maximum(run_max, x.amax(1))
            # rows whose max is still -inf (only possible with -inf scores) keep a zero sum
            safe_max = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
            run_sum.mul_(torch.exp2(run_max - safe_max))
            x.sub_(safe_max[:, None]).exp2_()
            run_sum.add_(x.sum(1))
            run_max = new_max
        # lse_i = m_i + log s_i, back from base 2; a row of -inf scores keeps -inf
        lse = torch.where(torch.isfinite(run_max), (run_max + torch.log2(run_sum)) * _LN2, run_max)
        ctx.save_for_backward(q, k, lse)
        ctx.tau, ctx.block_size, ctx.bf16 = float(tau), int(block_size), bf16
        return lse

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_lse: torch.Tensor):
        q, k, lse = ctx.saved_tensors
        tau, block_size = ctx.tau, ctx.block_size
        need_q, need_k = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        bf16 = ctx.bf16
        qs, k_op = _operands(q * (_LOG2E / tau), k, bf16)
        g = grad_lse.contiguous()
        # rows with lse = -inf have p = 0 everywhere; shift them so exp gives 0, not NaN
        shift = torch.where(torch.isfinite(lse), lse * _LOG2E, torch.full_like(lse, torch.inf))
        grad_q = torch.zeros_like(q) if need_q else None
        grad_k = torch.empty_like(k) if need_k else None
        buf = torch.empty((q.size(0), min(block_size, k.size(0))), dtype=q.dtype, device=q.device)
        for start in _blocks(k.size(0), block_size):
            kb = k_op[start:start + block_size]
            p = buf[:, :kb.size(0)]
            precision.mm(qs, kb.T, bf16, out=p)
            p.sub_(shift[:, None]).exp2_().mul_(g[:, None])  # g_i p_ij
            if need_q:
                if bf16:
                    grad_q.add_(precision.mm(p, kb, True))
                else:
                    grad_q.addmm_(p, kb)
            if need_k:
                precision.mm(p.T, qs, bf16, out=grad_k[start:start + kb.size(0)])
        if need_q:
            grad_q.div_(tau)
        if need_k:
            grad_k.mul_(_LN2)                               # pᵀ (q log2 e/τ) ln 2 = pᵀ q/τ
        return grad_q, grad_k, None, None


class _KeptLSE(torch.autograd.Function):
    """The same function with the softmax matrix kept from the forward pass (module docstring)."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, tau: float, block_size: int) -> torch.Tensor:
        bf16 = bf16_enabled()
        x = precision.mm(q * (_LOG2E / tau), k.T, bf16)  # scores in base 2
        row_max = x.amax(1)
        safe_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
        x.sub_(safe_max[:, None]).exp2_()
        row_sum = x.sum(1)
        lse = torch.where(torch.isfinite(row_max), (safe_max + torch.log2(row_sum)) * _LN2, row_max)
        x.div_(torch.where(row_sum > 0, row_sum, torch.ones_like(row_sum))[:, None])   # p_ij
        ctx.save_for_backward(q, k, x)
        ctx.tau, ctx.block_size, ctx.bf16 = float(tau), int(block_size), bf16
        return lse

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_lse: torch.Tensor):
        q, k, p = ctx.saved_tensors
        tau, block_size = ctx.tau, ctx.block_size
        need_q, need_k = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        g = grad_lse.contiguous()[:, None]
        grad_q = torch.zeros_like(q) if need_q else None
        grad_k = torch.empty_like(k) if need_k else None
        qs = q / tau if need_k else None
        for start in _blocks(k.size(0), block_size):      # g_i p_ij a block at a time: p stays intact
            gp = p[:, start:start + block_size] * g
            if need_q:
                grad_q.add_(precision.mm(gp, k[start:start + block_size], ctx.bf16))
            if need_k:
                precision.mm(gp.T, qs, ctx.bf16, out=grad_k[start:start + gp.size(1)])
        if need_q:
            grad_q.div_(tau)
        return grad_q, grad_k, None, None


def blockwise_logsumexp_matmul(q: torch.Tensor, k: torch.Tensor, tau: float = 1.0,
                               block_size: int | None = None, keep_bytes: int | None = None) -> torch.Tensor:
    """``log Σ_j exp(q_i · k_j / τ)`` for each row ``i`` of ``q``, shape ``(len(q),)``.

    Equal to ``torch.logsumexp(q @ k.T / tau, dim=1)`` (values and gradients with
    respect to ``q`` and ``k``) but never holds more than ``len(q) x block_size``
    scores at once; see the module docstring for the recurrences.

    Args:
        q: ``(n, d)`` anchors.
        k: ``(m, d)`` keys, ``m >= 1``.
        tau: temperature ``τ > 0``.
        block_size: keys per block (memory ``n x block_size`` of ``q.dtype``);
            ``None``: :func:`default_block_size` of ``q``'s device and ``n``.
        keep_bytes: keep the ``n x m`` softmax for the backward pass when it takes at most
            this many bytes (``None``: :data:`DEFAULT_KEEP_BYTES`; 0: always blockwise).
    """
    if block_size is None:
        block_size = default_block_size(q.device, q.size(0) if q.dim() == 2 else None)
    if q.dim() != 2 or k.dim() != 2 or q.size(1) != k.size(1):
        raise ValueError(f"q and k must be (n, d) and (m, d) with the same d, got {tuple(q.shape)} "
                         f"and {tuple(k.shape)}")
    if k.size(0) == 0:
        raise ValueError("k has no rows: the logsumexp over an empty set is undefined")
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    if int(block_size) <= 0:
        raise ValueError(f"block_size must be positive, got {block_size}")
    if q.dtype != k.dtype or q.device != k.device:
        raise ValueError(f"q ({q.dtype}, {q.device}) and k ({k.dtype}, {k.device}) must share dtype "
                         f"and device")
    if keep_bytes is None:
        keep_bytes = DEFAULT_KEEP_BYTES
    if int(keep_bytes) < 0:
        raise ValueError(f"keep_bytes must be >= 0, got {keep_bytes}")
    kept = q.size(0) * k.size(0) * q.element_size() <= int(keep_bytes)
    function = _KeptLSE if kept else _BlockwiseLSE
    return function.apply(q.contiguous(), k.contiguous(), float(tau), int(block_size))
