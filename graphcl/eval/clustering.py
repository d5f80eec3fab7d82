"""k-means on embeddings (torch, k-means++, seeded) and clustering metrics:
ACC (Hungarian matching), NMI, ARI and macro-F1 after matching."""
from __future__ import annotations

from typing import Any, Iterable, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.eval.common import as_tensor, mean_and_std


# -------------------------------------------------------------- clustering
def _sq_dist(x: Tensor, centers: Tensor) -> Tensor:
    """Squared distances ||x_n − c_rj||² for R runs: x (N, d), centers (R, k, d) -> (R, N, k)."""
    return (x.pow(2).sum(1)[None, :, None] - 2 * torch.matmul(x, centers.transpose(1, 2))
            + centers.pow(2).sum(2)[:, None, :]).clamp_min_(0)


def _kmeans_pp(x: Tensor, k: int, runs: int, gen: torch.Generator) -> Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007), batched over runs: each next
    centre is drawn with probability ∝ D(x)², the squared distance to the nearest chosen one."""
    n = x.shape[0]
    centers = x.new_empty(runs, k, x.shape[1])
    centers[:, 0] = x[torch.randint(n, (runs,), generator=gen, device=x.device)]
    closest = _sq_dist(x, centers[:, :1]).squeeze(2)                       # (R, N)
    for j in range(1, k):
        weights = torch.where(closest.sum(1, keepdim=True) > 0, closest, torch.ones_like(closest))
        idx = torch.multinomial(weights, 1, generator=gen).squeeze(1)
        centers[:, j] = x[idx]
        closest = torch.minimum(closest, _sq_dist(x, centers[:, j:j + 1]).squeeze(2))
    return centers


def _random_init(x: Tensor, k: int, runs: int, gen: torch.Generator) -> Tensor:
    """k distinct data points per run, uniformly at random (faiss' initialization)."""
    keys = torch.rand(runs, x.shape[0], generator=gen, device=x.device)
    return x[keys.topk(k, dim=1).indices]


def kmeans(x: Tensor, k: int, n_init: int = 10, max_iter: int = 300, seed: int = 0,
           tol: float = 1e-4, init: str = "k-means++", metric: str = "l2") -> tuple[Tensor, Tensor]:
    """Lloyd's k-means with k-means++ seeding (``init="random"``: k distinct random
    points, as faiss, k times cheaper to seed), ``n_init`` restarts run together.

    ``metric="l2"`` (default) minimizes the inertia Σ_n min_j ||x_n − c_j||²; stops when
    every run's centre shift Σ_j ||c_j^{t+1} − c_j^t||² is below ``tol`` · mean
    per-feature variance (sklearn's criterion). ``metric="ip"`` is faiss' clustering
    on an inner-product index (``IndexFlatIP``, ``spherical=False``): each point goes
    to the centre of largest x·c_j, centres stay plain (unnormalized) means, and the
    restart with the largest Σ_n max_j x_n·c_j wins. An emptied cluster is moved to
    the point farthest from (least similar to) its centre. Returns the labels (N,)
    and centres (k, d) of the best run. Seeded by a ``torch.Generator`` on ``x``'s device.
    """
    x = x.detach()
    x = x if torch.is_floating_point(x) else x.float()
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= number of points ({n}), got k={k}")
    if metric not in ("l2", "ip"):
        raise ValueError(f"metric must be 'l2' or 'ip', got {metric!r}")
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    if init not in ("k-means++", "random"):
        raise ValueError(f"init must be 'k-means++' or 'random', got {init!r}")
    centers = _kmeans_pp(x, k, n_init, gen) if init == "k-means++" else _random_init(x, k, n_init, gen)
    tol_abs = tol * float(x.var(0, unbiased=False).mean())
    runs = centers.shape[0]
    x2 = x.pow(2).sum(1)
    x_runs = x.expand(runs, n, x.shape[1])
    offset = (torch.arange(runs, device=x.device) * k)[:, None]
    for _ in range(max_iter):
        if metric == "l2":
            # ||x − c||² = ||x||² + (||c||² − 2 x·c): one (R, N, k) buffer for the argmin
            part = torch.baddbmm(centers.pow(2).sum(2)[:, None, :], x_runs, centers.transpose(1, 2),
                                 alpha=-2.0)
            closest, assign = part.min(2)                                  # (R, N)
            closest = (closest + x2).clamp_min_(0)                         # distance: larger = farther
        else:
            sim, assign = torch.bmm(x_runs, centers.transpose(1, 2)).max(2)
            closest = -sim                                                 # larger = farther
        flat = (assign + offset).reshape(-1)
        counts = torch.bincount(flat, minlength=runs * k).to(x.dtype).reshape(runs, k, 1)
        sums = x.new_zeros(runs * k, x.shape[1]).index_add_(0, flat, x.repeat(runs, 1))
        new = torch.where(counts > 0, sums.reshape(runs, k, -1) / counts.clamp_min(1), centers)
        empty = counts.squeeze(2) == 0
        if empty.any():  # relocate empty clusters to the farthest points, one each
            far = closest.topk(k, dim=1).indices                         # (R, k)
            rank = (empty.cumsum(1) - 1).clamp_min(0)
            new = torch.where(empty[..., None], x[far.gather(1, rank)], new)
        shift = (new - centers).pow(2).sum((1, 2))
        centers = new
        if bool((shift <= tol_abs).all()):
            break
    if metric == "l2":
        closest, assign = _sq_dist(x, centers).min(2)
        best = int(closest.sum(1).argmin())
    else:
        sim, assign = torch.matmul(x, centers.transpose(1, 2)).max(2)
        best = int(sim.sum(1).argmax())
    return assign[best], centers[best]


def _contingency(pred: Tensor, labels: Tensor) -> np.ndarray:
    """Contingency table C[r, c] = #{n : pred_n in cluster r, label_n = c-th class}, the
    clusters (rows) sorted by their rows' counts."""
    _, p = torch.unique(torch.as_tensor(pred).reshape(-1).cpu(), return_inverse=True)
    _, t = torch.unique(torch.as_tensor(labels).reshape(-1).cpu(), return_inverse=True)
    if p.numel() != t.numel():
        raise ValueError(f"pred and labels differ in length: {p.numel()} vs {t.numel()}")
    rp, rt = int(p.max()) + 1, int(t.max()) + 1
    table = torch.bincount(p * rt + t, minlength=rp * rt).reshape(rp, rt).numpy().astype(np.int64)
    # rows in a canonical order, so a relabelled clustering gives bit-identical float metrics
    return table[np.lexsort(table.T[::-1])]


def cluster_metrics(pred: Any, labels: Any) -> dict[str, float]:
    """ACC, NMI, ARI and macro-F1 of a clustering ``pred`` against ``labels``.

    * ACC = max over one-to-one cluster→class maps m of (1/N) Σ_n [m(pred_n) = y_n]
      (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``).
    * NMI = I(P; Y) / ((H(P) + H(Y)) / 2) (arithmetic normalization, sklearn's default;
      1 when both are a single cluster).
    * ARI = 2 (TP·TN − FN·FP) / ((TP+FN)(FN+TN) + (TP+FP)(FP+TN)) over node pairs
      (Hubert & Arabie; equal to sklearn's ``adjusted_rand_score``).
    * F1 = macro-F1 over the true classes after the ACC matching; points of an
      unmatched cluster (more clusters than classes) count as misclassified.
    """
    from scipy.optimize import linear_sum_assignment

    c = _contingency(pred, labels)
    n = int(c.sum())
    rows, cols = linear_sum_assignment(-c)
    matched = c[rows, cols]
    acc = float(matched.sum()) / n
    tp = np.zeros(c.shape[1])
    tp[cols] = matched
    n_pred = np.zeros(c.shape[1])
    n_pred[cols] = c[rows].sum(1)
    n_true = c.sum(0)
    f1 = float(np.mean(2 * tp / (n_pred + n_true)))
    # NMI
    a, b = c.sum(1), c.sum(0)
    if len(a) == len(b) == 1:
        nmi = 1.0
    else:
        nz = c > 0
        pij = c[nz] / n
        mi = float(np.sum(pij * (np.log(c[nz] * n) - np.log(np.outer(a, b)[nz]))))
        h_p = -float(np.sum((a / n) * np.log(a / n)))
        h_y = -float(np.sum((b / n) * np.log(b / n)))
        nmi = 0.0 if abs(mi) < 1e-15 else mi / max((h_p + h_y) / 2, np.finfo(float).eps)
    # ARI from the pair confusion matrix (exact integers)
    ss = int((c.astype(object) ** 2).sum())
    sum_a2, sum_b2 = int((a.astype(object) ** 2).sum()), int((b.astype(object) ** 2).sum())
    tp_p, fp, fn = ss - n, sum_a2 - ss, sum_b2 - ss
    tn = n * n - sum_a2 - sum_b2 + ss
    if fp == 0 and fn == 0:
        ari = 1.0
    else:
        ari = 2.0 * (tp_p * tn - fn * fp) / ((tp_p + fn) * (fn + tn) + (tp_p + fp) * (fp + tn))
    return {"acc": acc, "nmi": float(nmi), "ari": float(ari), "f1": f1}


def evaluate_clustering(embeddings: Any, labels: Any, k: Optional[int] = None,
                        seeds: Iterable[int] = (0, 1, 2, 3, 4), n_init: int = 10,
                        max_iter: int = 300, normalize: Optional[str] = None,
                        device: Optional[Union[str, torch.device]] = None) -> dict[str, Any]:
    """k-means on the embeddings (``normalize="l2"`` to cluster directions) once per
    seed; returns ``<metric>_mean``/``<metric>_std`` for acc, nmi, ari, f1 and ``runs``."""
    x = as_tensor(embeddings, torch.device(device) if device else None).detach().float()
    y = as_tensor(labels).reshape(-1)
    if normalize == "l2":
        x = F.normalize(x, dim=1)
    elif normalize is not None:
        raise ValueError(f"normalize must be 'l2' or None, got {normalize!r}")
    k = int(k or torch.unique(y).numel())
    runs = [cluster_metrics(kmeans(x, k, n_init, max_iter, seed=s)[0], y) for s in seeds]
    out: dict[str, Any] = {}
    for m in ("acc", "nmi", "ari", "f1"):
        out[f"{m}_mean"], out[f"{m}_std"] = mean_and_std([r[m] for r in runs])
    out["runs"] = runs
    return out
