"""NT-Xent (SimCLR) over two batches of views, as used by CL4SRec, MCLRec and SRA-CL.

For views ``z1, z2`` of ``B`` rows, stack ``z = [z1; z2]`` (2B rows). Anchor
``a`` has its positive at ``a ± B`` and the other ``2(B − 1)`` rows (neither
itself nor its positive) as negatives::

    ℓ_a = −log  e^{s(z_a, z_pos(a))/τ} / ( e^{s(z_a, z_pos(a))/τ} + Σ_neg e^{s(z_a, z_n)/τ} )

``L = mean_a ℓ_a``; ``s`` is the dot product (MCLRec's ``sim='dot'``) or the
cosine. Computed as one cross-entropy over the ``2B x 2B`` score matrix with
the diagonal masked, which equals the authors' ``[positive | negatives]``
logits layout.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["nt_xent", "nt_xent_scores"]


def nt_xent_scores(z1: Tensor, z2: Tensor, tau: float = 1.0, similarity: str = "dot"
                   ) -> tuple[Tensor, Tensor]:
    """``(scores, positive index)``: the ``2B x 2B`` scores / τ with ``-inf`` on the
    diagonal, and each anchor's positive column."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"z1 and z2 must be (B, d) of equal shape, got {tuple(z1.shape)} and "
                         f"{tuple(z2.shape)}")
    if z1.size(0) < 2:
        raise ValueError("NT-Xent needs a batch of at least 2 rows (it has no negatives otherwise)")
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    if similarity not in ("dot", "cos"):
        raise ValueError(f"similarity must be 'dot' or 'cos', got {similarity!r}")
    z = torch.cat([z1, z2], dim=0)
    if similarity == "cos":
        z = F.normalize(z, dim=1)
    scores = (z @ z.T) / tau
    n = z1.size(0)
    idx = torch.arange(2 * n, device=z.device)
    scores = scores.masked_fill(idx.unsqueeze(0) == idx.unsqueeze(1), float("-inf"))
    return scores, (idx + n) % (2 * n)


def nt_xent(z1: Tensor, z2: Tensor, tau: float = 1.0, similarity: str = "dot") -> Tensor:
    """Mean NT-Xent over the ``2B`` anchors (see the module docstring)."""
    scores, positive = nt_xent_scores(z1, z2, tau, similarity)
    return F.cross_entropy(scores, positive)
