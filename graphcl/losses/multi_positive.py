"""InfoNCE with several positives per anchor (HeCo's loss form), any weighted denominator.

HeCo (Wang, Liu, Yang & Shi, KDD 2021, eq. 9-10) treats as positives of node i the set P_i of
nodes sharing the most meta-path instances with it (``pos.npz``, i itself included) and uses

    L = −(1/N) Σ_i log( Σ_{j∈P_i} e^{q_i·k_j/τ} / Σ_j w_ij e^{q_i·k_j/τ} )
      = (1/N) Σ_i [ lse_i − plse_i ],   plse_i = log Σ_{j∈P_i} e^{q_i·k_j/τ}

with every w_ij = 1 (liun-online/HeCo ``code/module/contrast.py``: ``matrix.mul(pos).sum(-1)``
over ``matrix.sum(1)``); MEOW's hard cluster weights plug in through ``weights_fn``
(:func:`graphcl.losses.weighted.weighted_lse`). With P_i = {i} it is the
ordinary InfoNCE. The numerator touches only the E listed pairs: (E, d) memory, no N x N matrix.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from graphcl.losses.weighted import WeightsFn, check_info_nce_inputs, weighted_lse

__all__ = ["multi_positive_info_nce", "positive_logsumexp"]


def positive_logsumexp(q: Tensor, k: Tensor, positive_index: Tensor, tau: float) -> Tensor:
    """plse_i = log Σ_{j∈P_i} e^{q_i·k_j/τ}, shape (N,), from (anchor, positive) pairs.

    Args:
        q: (N, d) anchors; k: (M, d) keys.
        positive_index: (2, E) long, row 0 the anchor i, row 1 its positive j; every anchor
            needs at least one pair.
        tau: temperature τ > 0.
    """
    if positive_index.dim() != 2 or positive_index.shape[0] != 2 or positive_index.dtype != torch.long:
        raise ValueError(f"positive_index must be a (2, E) long tensor, got {tuple(positive_index.shape)} "
                         f"{positive_index.dtype}")
    n = q.shape[0]
    src, dst = positive_index[0].to(q.device), positive_index[1].to(q.device)
    if src.numel() and (int(src.min()) < 0 or int(src.max()) >= n or int(dst.min()) < 0
                        or int(dst.max()) >= k.shape[0]):
        raise ValueError(f"positive_index holds a node outside 0..{n - 1} (anchors) / "
                         f"0..{k.shape[0] - 1} (keys)")
    counts = torch.bincount(src, minlength=n)
    if bool((counts == 0).any()):
        first = int((counts == 0).nonzero()[0])
        raise ValueError(f"{int((counts == 0).sum())} anchor(s) have no positive (first: {first})")
    scores = (q[src] * k[dst]).sum(1) / tau
    shift = torch.full((n,), float("-inf"), dtype=scores.dtype, device=scores.device)
    shift = shift.scatter_reduce(0, src, scores.detach(), "amax")
    total = torch.zeros(n, dtype=scores.dtype, device=scores.device).index_add(
        0, src, torch.exp(scores - shift[src]))
    return shift + torch.log(total)


def multi_positive_info_nce(q: Tensor, k: Tensor, positive_index: Tensor,
                            weights_fn: Optional[WeightsFn] = None, tau: float = 0.5,
                            block_size: int = 1024) -> Tensor:
    """HeCo-form InfoNCE (module docstring): mean_i [lse_i − plse_i].

    Args:
        q, k: (N, d) anchors and keys.
        positive_index: (2, E) (anchor, positive) pairs, every anchor at least once.
        weights_fn: denominator weights (:func:`graphcl.losses.weighted.weighted_lse`);
            None: all 1, as HeCo.
        tau: temperature τ > 0.
        block_size: anchor rows per block of the denominator.
    """
    check_info_nce_inputs(q, k, tau, block_size)
    lse = weighted_lse(q, k, weights_fn, tau, block_size)
    return (lse - positive_logsumexp(q, k, positive_index, tau)).mean()
