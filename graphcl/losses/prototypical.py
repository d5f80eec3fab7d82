"""Prototypical contrastive loss (PCL; Li et al., ICLR 2021, eq. 11-12), as MEOW uses it.

k-means is run R times on the embeddings (MEOW: on the fine view, one run per
cluster count, e.g. ACM [100, 300]). For run r with centroids c_k (L2-normalized)
and concentrations φ_k, each node i is pulled towards its own prototype::

    L_proto = (1/R) Σ_r −(1/N) Σ_i log( e^{z_i·c_{r,a(i)}/φ_{r,a(i)}} / Σ_k e^{z_i·c_{r,k}/φ_{r,k}} )

Concentration (PCL eq. 12): φ_k = Σ_{i∈k} ||v_i − c_k||₂ / (n_k log(n_k + α)), α = 10;
clusters with a single point get the largest φ; φ is clipped to its 10th/90th
percentiles and rescaled to mean τ (``form="pcl"``, the default). MEOW's code
clusters on a faiss inner-product index and feeds the search result, a
similarity, into the same formula: φ_k = mean_{i∈k} √(v_i·c_k) / log(n_k + 5)
with c_k the unnormalized centroid (``form="meow-code"``; tighter clusters then
get a larger φ, the reverse of PCL's meaning). Their code would turn a negative
similarity into NaN; we clamp it at 0. ``alpha=None`` takes each form's constant
(10 for PCL, 5 for MEOW's code).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.eval.clustering import kmeans

__all__ = ["CONCENTRATION_FORMS", "ClusterResult", "concentration", "cluster_runs", "prototypical_loss"]


@dataclass
class ClusterResult:
    """R k-means runs: labels (R, N) and, per run, normalized centroids and φ."""
    labels: Tensor
    centroids: list[Tensor]
    phis: list[Tensor]


CONCENTRATION_FORMS = ("pcl", "meow-code")


def concentration(x: Tensor, labels: Tensor, centroids: Tensor, tau: float,
                  alpha: float | None = None, form: str = "pcl") -> Tensor:
    """Per-cluster concentration φ (K,) of points ``x`` around ``centroids`` (module
    docstring): PCL eq. 12 (``form="pcl"``) or MEOW's code (``"meow-code"``)."""
    if form not in CONCENTRATION_FORMS:
        raise ValueError(f"concentration form must be one of {CONCENTRATION_FORMS}, got {form!r}")
    if alpha is None:
        alpha = 10.0 if form == "pcl" else 5.0
    k = centroids.shape[0]
    if form == "pcl":
        dist = (x - centroids[labels]).norm(dim=1)
    else:
        dist = (x * centroids[labels]).sum(1).clamp_min(0).sqrt()
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
                 n_init: int = 5, max_iter: int = 20, alpha: float | None = None,
                 init: str = "random", metric: str = "l2",
                 concentration_form: str = "pcl") -> ClusterResult:
    """One seeded k-means (``graphcl.eval.clustering.kmeans``, ``metric`` "l2" or
    faiss-style inner product "ip") per cluster count on ``z`` (detached), with
    concentrations of ``concentration_form``. MEOW's code: faiss inner-product
    clustering (random initial centroids), 20 iterations, 5 restarts, its own
    concentration (``metric="ip", concentration_form="meow-code"``)."""
    x = z.detach().float()
    labels, cents, phis = [], [], []
    for r, k in enumerate(cluster_counts):
        if not 1 <= int(k) <= x.shape[0]:
            raise ValueError(f"cluster count {k} must be between 1 and the number of nodes ({x.shape[0]})")
        assign, centers = kmeans(x, int(k), n_init=n_init, max_iter=max_iter, seed=seed + r,
                                init=init, metric=metric)
        labels.append(assign)
        phis.append(concentration(x, assign, centers, tau, alpha, concentration_form).to(z.dtype))
        cents.append(F.normalize(centers, dim=1).to(z.dtype))
    return ClusterResult(torch.stack(labels), cents, phis)


def prototypical_loss(z: Tensor, clusters: ClusterResult) -> Tensor:
    """L_proto (module docstring) of the (normalized) embeddings ``z``, averaged over runs."""
    losses = [F.cross_entropy((z @ c.T) / phi, labels)
              for labels, c, phi in zip(clusters.labels, clusters.centroids, clusters.phis)]
    return torch.stack(losses).mean()
