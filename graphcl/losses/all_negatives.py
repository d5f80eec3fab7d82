"""InfoNCE with every row of the key table as a negative (LightGCL, Cai et al. ICLR 2023, eq. 7,
in its authors' form): the loss of ``lightgcl`` and of the pipeline's ``all_infonce``.
The denominators go through :func:`graphcl.losses.logsumexp.blockwise_logsumexp_matmul`, so the
(batch x all rows) score matrix is never materialized."""
from __future__ import annotations

import torch
from torch import nn

from graphcl.losses.logsumexp import blockwise_logsumexp_matmul

__all__ = ["info_nce_loss"]


def info_nce_loss(anchors: torch.Tensor, keys: torch.Tensor, index: torch.Tensor, tau: float, *,
                  negatives: str = "all", pos_clamp: float = 5.0, unique: bool = False,
                  cosine: bool = False, block_size: int | None = None,
                  keep_bytes: int | None = None) -> torch.Tensor:
    """LightGCL's InfoNCE (eq. 7, authors' form) averaged over the entries of ``index``:

    ``mean_b [ log Σ_{j in N} exp(a_b · k_j / τ) − clamp(a_b · k_b / τ, −c, c) ]`` with
    ``a = anchors[index]``, ``N`` all rows of ``keys`` (``negatives="all"``) or the
    unique rows in ``index`` (``"in_batch"``), ``c = pos_clamp`` (no clamp if ``<= 0``).

    ``block_size`` and ``keep_bytes`` (the score matrix kept for the backward pass up to that
    size) go to :func:`graphcl.losses.logsumexp.blockwise_logsumexp_matmul`: speed and memory
    only. Each distinct row is computed once and weighted by its multiplicity in
    ``index`` (``unique=True``: weight 1), which is exactly the mean over the
    duplicated batch, at a fraction of the cost (4096 pairs of ml-100k hold
    ~900 distinct users).
    """
    rows, counts = torch.unique(index, return_counts=True)
    weight = torch.full_like(rows, 1, dtype=anchors.dtype) / rows.numel() if unique \
        else counts.to(anchors.dtype) / index.numel()
    if cosine:
        anchors = nn.functional.normalize(anchors, dim=1)
        keys = nn.functional.normalize(keys, dim=1)
    a, k_pos = anchors[rows], keys[rows]
    if negatives == "all":
        negative_keys = keys
    elif negatives == "in_batch":
        negative_keys = k_pos
    else:
        raise ValueError(f"negatives must be 'all' or 'in_batch', got {negatives!r}")
    denominator = blockwise_logsumexp_matmul(a, negative_keys, tau, block_size, keep_bytes)
    positive = (a * k_pos).sum(1) / tau
    if pos_clamp > 0:
        positive = positive.clamp(-pos_clamp, pos_clamp)
    return ((denominator - positive) * weight).sum()
