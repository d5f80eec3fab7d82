"""Self-training clustering loss of DEC / SDCN / SCGC.

* Soft assignment (Student's t kernel, DEC eq. 1; SCGC eq. 4) of node i to
  centre k, with ν degrees of freedom (ν = 1 in DEC, SDCN, SCGC and PamC)::

      q_ik = (1 + ||z_i − μ_k||² / ν)^(−(ν+1)/2) / Σ_k' (1 + ||z_i − μ_k'||² / ν)^(−(ν+1)/2)

* Target distribution (DEC eq. 3; SCGC eq. 5), f_k = Σ_i q_ik the soft cluster size::

      p_ik = (q_ik² / f_k) / Σ_k' (q_ik'² / f_k')

* Clustering loss KL(P || Q) = (1/N) Σ_i Σ_k p_ik log(p_ik / q_ik) (DEC eq. 2;
  ``F.kl_div(q.log(), p, reduction="batchmean")`` in the authors' code), with
  P treated as a constant (the authors recompute P from a no-grad forward
  pass each epoch).

Q is computed in log space (``log_q``), so a far-away centre gives a very
negative log q instead of log 0 = −inf, and 0 · log 0 terms of the KL are 0.
"""
from __future__ import annotations

import torch
from torch import Tensor


def student_t_log_assignment(z: Tensor, centers: Tensor, dof: float = 1.0) -> Tensor:
    """log q_ik of the Student's t soft assignment (see the module docstring); shape (N, K)."""
    if z.dim() != 2 or centers.dim() != 2 or z.size(1) != centers.size(1):
        raise ValueError(f"z (N, d) and centers (K, d) must share d, got {tuple(z.shape)} "
                         f"and {tuple(centers.shape)}")
    if dof <= 0:
        raise ValueError(f"dof must be > 0, got {dof}")
    d2 = (z.pow(2).sum(1, keepdim=True) - 2 * z @ centers.t()
          + centers.pow(2).sum(1)[None, :]).clamp_min(0)
    logits = -(dof + 1.0) / 2.0 * torch.log1p(d2 / dof)
    return logits - torch.logsumexp(logits, dim=1, keepdim=True)


def student_t_assignment(z: Tensor, centers: Tensor, dof: float = 1.0) -> Tensor:
    """q_ik (rows sum to 1); see :func:`student_t_log_assignment`."""
    return student_t_log_assignment(z, centers, dof).exp()


def target_distribution(q: Tensor) -> Tensor:
    """p_ik = (q_ik² / f_k) / Σ_k' (q_ik'² / f_k'), f_k = Σ_i q_ik (DEC eq. 3). Detached."""
    q = q.detach()
    if q.dim() != 2:
        raise ValueError(f"q must be (N, K), got shape {tuple(q.shape)}")
    weight = q.pow(2) / q.sum(0, keepdim=True).clamp_min(torch.finfo(q.dtype).tiny)
    return weight / weight.sum(1, keepdim=True).clamp_min(torch.finfo(q.dtype).tiny)


def kl_clustering_loss(p: Tensor, log_q: Tensor) -> Tensor:
    """KL(P || Q) = (1/N) Σ_i Σ_k p_ik (log p_ik − log q_ik), P a constant target."""
    if p.shape != log_q.shape:
        raise ValueError(f"p and log_q differ in shape: {tuple(p.shape)} vs {tuple(log_q.shape)}")
    p = p.detach()
    return (torch.xlogy(p, p) - p * log_q).sum() / p.size(0)
