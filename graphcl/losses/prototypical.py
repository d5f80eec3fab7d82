"""Prototypical contrastive loss (PCL; Li et al., ICLR 2021, eq. 11-12), as MEOW uses it.

k-means is run R times on the embeddings (MEOW: on the fine view, one run per
cluster count, e.g. ACM [100, 300]). For run r with centroids c_k (L2-normalized)
and concentrations φ_k, each node i is pulled towards its own prototype::

    L_proto = (1/R) Σ_r −(1/N) Σ_i log( e^{z_i·c_{r,a(i)}/φ_{r,a(i)}} / Σ_k e^{z_i·c_{r,k}/φ_{r,k}} )

Concentration (PCL eq. 12): φ_k = Σ_{i∈k} ||v_i − c_k||₂ / (n_k log(n_k + α)), α = 10;
clusters with a single point get the largest φ; φ is clipped to its 10th/90th
percentiles and rescaled to mean τ. MEOW's code computes the distance term from
faiss inner products (``sqrt`` of a similarity) with α = 5; we use PCL's Euclidean
distance (``alpha`` is an argument).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.eval.clustering import kmeans

__all__ = ["ClusterResult", "concentration", "cluster_runs", "prototypical_loss"]


@dataclass
class ClusterResult:
    """R k-means runs: labels (R, N) and, per run, normalized centroids and φ."""
    labels: Tensor
    centroids: list[Tensor]
    phis: list[Tensor]


def concentration(x: Tensor, labels: Tensor, centroids: Tensor, tau: float,
                  alpha: float = 10.0) -> Tensor:
    """PCL's per-cluster concentration φ (K,) of points ``x`` around ``centroids``."""
    k = centroids.shape[0]
    dist = (x - centroids[labels]).norm(dim=1)
    sizes = torch.bincount(labels, minlength=k).to(x.dtype)
    total = torch.zeros(k, dtype=x.dtype, device=x.device).index_add_(0, labels, dist)
    phi = total / (sizes.clamp_min(1) * torch.log(sizes + alpha))
    multi = sizes > 1
    if bool(multi.any()):
        phi = torch.where(multi, phi, phi[multi].max())
        lo, hi = torch.quantile(phi, 0.1), torch.quantile(phi, 0.9)
        phi = phi.clamp(lo, hi)
    else:  # every cluster a singleton: no spread to measure
        phi = torch.ones_like(phi)
    return tau * phi / phi.mean().clamp_min(1e-12)


@torch.no_grad()
def cluster_runs(z: Tensor, cluster_counts: Sequence[int], tau: float, seed: int,
                 n_init: int = 5, max_iter: int = 20, alpha: float = 10.0,
                 init: str = "random") -> ClusterResult:
    """One seeded k-means (``graphcl.eval.clustering.kmeans``) per cluster count on
    ``z`` (detached), with PCL concentrations. MEOW: faiss (random initial centroids),
    20 iterations, 5 restarts."""
    x = z.detach().float()
    labels, cents, phis = [], [], []
    for r, k in enumerate(cluster_counts):
        if not 1 <= int(k) <= x.shape[0]:
            raise ValueError(f"cluster count {k} must be between 1 and the number of nodes ({x.shape[0]})")
        assign, centers = kmeans(x, int(k), n_init=n_init, max_iter=max_iter, seed=seed + r,
                                init=init)
        labels.append(assign)
        phis.append(concentration(x, assign, centers, tau, alpha).to(z.dtype))
        cents.append(F.normalize(centers, dim=1).to(z.dtype))
    return ClusterResult(torch.stack(labels), cents, phis)


def prototypical_loss(z: Tensor, clusters: ClusterResult) -> Tensor:
    """L_proto (module docstring) of the (normalized) embeddings ``z``, averaged over runs."""
    losses = [F.cross_entropy((z @ c.T) / phi, labels)
              for labels, c, phi in zip(clusters.labels, clusters.centroids, clusters.phis)]
    return torch.stack(losses).mean()
