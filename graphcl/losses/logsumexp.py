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

with ``g = ∂L/∂lse``. Within a block, the anchors are walked in chunks of rows
(about :data:`CPU_CHUNK_SCORES` scores on CPU) so each chunk of scores stays in cache between
its product and its elementwise passes; the scores are formed in base 2 (``exp2``), and when
every g_i ≥ 0 (a loss adding the lse's with non-negative weights, as every InfoNCE here)
g_i p_ij is one ``exp2`` of x_ij − lse_i + log g_i (in base 2), with no separate multiply.
Peak extra memory is one chunk buffer (at most ``|q| x block_size``).
Double backward is not supported.

Tried and not kept (2026-12-07, 1 thread, 3514 x 29,858 x 64): forming both gradients in the
forward pass (three products instead of four; possible when the loss is a known weighted sum of
the lse's, as in LightGCL) needs each anchor's lse before its row of probabilities, so it walks
row tiles over all keys; those products (64-256 anchors x 29,858 keys) ran at 28-39 GFLOP/s
against 75-90 for the key blocks here (their outputs stream through memory), and the step was
no faster.

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

__all__ = ["CPU_BLOCK_SCORES", "DEFAULT_BLOCK_SIZE", "DEFAULT_KEEP_BYTES", "blockwise_logsumexp_matmul",
           "default_block_size", "lse_backward_blocks", "lse_forward_blocks"]

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
#: scores per chunk of anchor rows within a block on CPU (512 KiB fp32, in L2 with its operands)
CPU_CHUNK_SCORES = 1 << 17


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


def _chunk_rows(rows: int, width: int, device: torch.device) -> int:
    """Anchor rows per chunk of a key block: about :data:`CPU_CHUNK_SCORES` scores on CPU (a
    512 KiB fp32 chunk: this CPU's L2 is 1 MiB per core), the whole block elsewhere."""
    if device.type != "cpu":
        return max(1, rows)
    return max(1, min(rows, CPU_CHUNK_SCORES // max(1, width)))


def _accumulate(target: torch.Tensor, a: torch.Tensor, b: torch.Tensor, bf16: bool) -> None:
    """``target += a @ b`` in place (bf16 operands when ``bf16``; an operand padded by
    :func:`graphcl.precision.bf16_operand` may widen the product: it is cut to ``target``)."""
    if bf16:
        target.add_(precision.mm(a, b, True)[:, :target.shape[1]])
    else:
        target.addmm_(a, b)


def _operands(qs: torch.Tensor, k: torch.Tensor, bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``qs`` and ``k`` as the products take them: with ``bf16``, cast once per pass, ``qs``
    padded by :func:`graphcl.precision.bf16_operand` (zero rows: the products cut them off;
    ``k`` is cut into blocks, which :func:`graphcl.precision.mm` pads)."""
    if not bf16:
        return qs, k
    return precision.bf16_operand(qs), k.to(torch.bfloat16)


def lse_forward_blocks(q: torch.Tensor, k: torch.Tensor, tau: float, block_size: int,
                       bf16: bool, running_max: bool = False) -> torch.Tensor:
    """lse_i = log Σ_j e^{q_i·k_j/τ} for every row of ``q``: the forward pass of
    :func:`blockwise_logsumexp_matmul` (module docstring), no autograd.

    The first block of keys runs the online-softmax recurrence (a running max ``m_i`` and sum
    ``s_i``). Unless ``running_max``, the later blocks then keep ``m_i`` fixed at the first
    block's maximum and only add ``Σ_j 2^{x_ij − m_i}``: no per-block max, rescale or finiteness
    test. The value is the same (a row's largest term is at least 2^0, so nothing it holds
    underflows); a row whose later scores exceed its first block's maximum by more than the sum
    can hold (about 2^{127}/m) overflows to inf and is recomputed with the running maximum."""
    qs, k_op = _operands(q * (_LOG2E / tau), k, bf16)  # x_ij·log2 e = qs_i · k_j
    n = q.size(0)
    run_max = torch.full((n,), -torch.inf, dtype=q.dtype, device=q.device)
    run_sum = torch.zeros(n, dtype=q.dtype, device=q.device)
    width = min(block_size, k.size(0))
    rows = _chunk_rows(n, width, q.device)
    buf = torch.empty(rows * width, dtype=q.dtype, device=q.device)
    fixed = False
    for start in _blocks(k.size(0), block_size):
        kb_t = k_op[start:start + block_size].T
        cols = kb_t.size(1)
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            x = buf[:(r1 - r0) * cols].view(r1 - r0, cols)
            precision.mm(qs[r0:r1], kb_t, bf16, out=x)
            if fixed:
                run_sum[r0:r1].add_(x.sub_(run_max[r0:r1, None]).exp2_().sum(1))
                continue
            old_max = run_max[r0:r1]
            new_max = torch.maximum(old_max, x.amax(1))
            # rows whose max is still -inf (only possible with -inf scores) keep a zero sum
            safe_max = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
            run_sum[r0:r1].mul_(torch.exp2(old_max - safe_max)).add_(x.sub_(safe_max[:, None]).exp2_().sum(1))
            run_max[r0:r1] = new_max
        if start == 0 and not running_max and k.size(0) > block_size:
            fixed = bool(torch.isfinite(run_max).all())
    # lse_i = m_i + log s_i, back from base 2; a row of -inf scores keeps -inf
    lse = torch.where(torch.isfinite(run_max), (run_max + torch.log2(run_sum)) * _LN2, run_max)
    if fixed:
        overflowed = ~torch.isfinite(run_sum)
        if bool(overflowed.any()):
            lse[overflowed] = lse_forward_blocks(q[overflowed], k, tau, block_size, bf16, running_max=True)
    return lse


def lse_backward_blocks(q: torch.Tensor, k: torch.Tensor, lse: torch.Tensor, grad_lse: torch.Tensor,
                        tau: float, block_size: int, bf16: bool, grad_q: torch.Tensor | None,
                        grad_k: torch.Tensor | None) -> None:
    """Add ∂L/∂q = (1/τ) Σ_j g_i p_ij k_j into ``grad_q`` and ∂L/∂k = (1/τ) Σ_i g_i p_ij q_i into
    ``grad_k`` (either may be None), p_ij = e^{x_ij − lse_i}, g = ``grad_lse``: the backward pass
    of :func:`blockwise_logsumexp_matmul`, recomputing the scores block by block. Both buffers
    must hold zeros or other gradient terms only: they are scaled as a whole at the end."""
    qs, k_op = _operands(q * (_LOG2E / tau), k, bf16)
    g = grad_lse.contiguous()
    # g_i p_ij = 2^{x_ij log2 e − lse_i log2 e + log2 g_i}: with every g_i ≥ 0 (a loss that
    # adds the lse's with non-negative weights) one exp2 pass gives it; rows with lse = -inf
    # or g_i = 0 get the shift +inf, so exp2 gives 0, not NaN
    finite = torch.isfinite(lse)
    folded = bool((g >= 0).all())
    if folded:
        shift = torch.where(finite & (g > 0), lse * _LOG2E - torch.log2(g), torch.full_like(lse, torch.inf))
    else:
        shift = torch.where(finite, lse * _LOG2E, torch.full_like(lse, torch.inf))
    n = q.size(0)
    width = min(block_size, k.size(0))
    rows = _chunk_rows(n, width, q.device)
    buf = torch.empty(rows * width, dtype=q.dtype, device=q.device)
    for start in _blocks(k.size(0), block_size):
        kb = k_op[start:start + block_size]
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            p = buf[:(r1 - r0) * kb.size(0)].view(r1 - r0, kb.size(0))
            precision.mm(qs[r0:r1], kb.T, bf16, out=p)
            p.sub_(shift[r0:r1, None]).exp2_()
            if not folded:
                p.mul_(g[r0:r1, None])                 # g_i p_ij
            if grad_q is not None:
                _accumulate(grad_q[r0:r1], p, kb, bf16)
            if grad_k is not None:
                _accumulate(grad_k[start:start + kb.size(0)], p.T, qs[r0:r1], bf16)
    if grad_q is not None:
        grad_q.div_(tau)
    if grad_k is not None:
        grad_k.mul_(_LN2)                               # pᵀ (q log2 e/τ) ln 2 = pᵀ q/τ


class _BlockwiseLSE(torch.autograd.Function):
    """Autograd function behind :func:`blockwise_logsumexp_matmul`.

    Each block of keys is walked in chunks of anchor rows (:func:`_chunk_rows`), so a chunk of
    scores stays in cache (L2) between its product and its elementwise passes (max, exp2, sum;
    in the backward pass exp2 and the two gradient products)."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, tau: float, block_size: int) -> torch.Tensor:
        bf16 = bf16_enabled()
        lse = lse_forward_blocks(q, k, tau, block_size, bf16)
        ctx.save_for_backward(q, k, lse)
        ctx.tau, ctx.block_size, ctx.bf16 = float(tau), int(block_size), bf16
        return lse

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_lse: torch.Tensor):
        q, k, lse = ctx.saved_tensors
        grad_q = torch.zeros_like(q) if ctx.needs_input_grad[0] else None
        grad_k = torch.zeros_like(k) if ctx.needs_input_grad[1] else None
        lse_backward_blocks(q, k, lse, grad_lse, ctx.tau, ctx.block_size, ctx.bf16, grad_q, grad_k)
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
