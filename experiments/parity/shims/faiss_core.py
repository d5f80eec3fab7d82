"""The k-means and flat index both faiss stand-ins share (``shims/meow/faiss.py``: MEOW's
inner-product ``Clustering``; ``shims/ncl/faiss.py``: NCL's L2 ``Kmeans``). Our code, not faiss'.

The algorithm follows faiss' ``Clustering::train`` (faiss 1.7.x): above ``k *
max_points_per_centroid`` points a random subset (``RandomState(seed)``); ``nredo`` restarts, each
initialised with ``k`` distinct points drawn at random; ``niter`` Lloyd iterations (assign each
point to the centroid of largest inner product, ``metric="ip"``, or smallest squared distance,
``"l2"``; centroids = means of their points, not normalised; every emptied cluster takes a
perturbed copy of a large one, faiss' ``split_clusters`` with EPS = 1/1024); the restart with the
best objective of its last assignment is kept. The random streams are numpy's, not faiss', so a
seed gives other initial centroids than faiss would.
"""
from __future__ import annotations

import numpy as np

__all__ = ["EPS", "METRICS", "FlatIndex", "lloyd_kmeans", "split_empty", "squared_distances"]

EPS = 1.0 / 1024.0
#: ``ip``: inner product, larger is nearer; ``l2``: squared Euclidean distance, smaller is nearer
METRICS = ("ip", "l2")


def squared_distances(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(n, k) squared Euclidean distances, clipped at 0."""
    return np.maximum((x * x).sum(1)[:, None] - 2.0 * (x @ c.T) + (c * c).sum(1)[None, :], 0.0)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"faiss stand-in: metric must be one of {METRICS}, got {metric!r}")


def _scores(x: np.ndarray, c: np.ndarray, metric: str) -> np.ndarray:
    return x @ c.T if metric == "ip" else squared_distances(x, c)


def _nearest(scores: np.ndarray, metric: str) -> np.ndarray:
    return scores.argmax(axis=1) if metric == "ip" else scores.argmin(axis=1)


class FlatIndex:
    """Exact flat index: ``search(x, k)`` -> (scores, ids) of the ``k`` nearest stored vectors
    (inner products, largest first, or squared distances, smallest first)."""

    def __init__(self, d: int, metric: str) -> None:
        _check_metric(metric)
        self.d, self.metric = int(d), metric
        self.xb = np.zeros((0, self.d), dtype=np.float32)

    @property
    def ntotal(self) -> int:
        return int(self.xb.shape[0])

    def reset(self) -> None:
        self.xb = np.zeros((0, self.d), dtype=np.float32)

    def add(self, x: np.ndarray) -> None:
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, self.d)
        self.xb = np.concatenate([self.xb, x], axis=0)

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.ntotal == 0:
            raise RuntimeError("faiss stand-in: search on an empty index")
        scores = _scores(np.ascontiguousarray(x, dtype=np.float32), self.xb, self.metric)
        k = min(int(k), self.ntotal)
        if k == 1:
            idx = _nearest(scores, self.metric)[:, None]
        else:
            order = -scores if self.metric == "ip" else scores
            idx = np.argsort(order, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, idx, axis=1).astype(np.float32), idx.astype(np.int64)


def split_empty(centroids: np.ndarray, sizes: np.ndarray, rng: np.random.RandomState) -> int:
    """faiss' ``split_clusters``: each empty cluster takes a perturbed copy of a cluster drawn with
    probability (size - 1) / (n - k); the two share its size. Returns the number of clusters split."""
    k, n = centroids.shape[0], int(sizes.sum())
    nsplit = 0
    sign = np.where(np.arange(centroids.shape[1]) % 2 == 0, 1.0, -1.0).astype(centroids.dtype)
    for ci in range(k):
        if sizes[ci] != 0:
            continue
        if (sizes > 1).sum() == 0:
            return nsplit
        while True:
            p = np.clip(sizes - 1, 0, None) / max(n - k, 1)
            cj = int(np.searchsorted(np.cumsum(p), rng.uniform(), side="right"))
            if cj < k and sizes[cj] > 1:
                break
        centroids[ci] = centroids[cj] * (1 + sign * EPS)
        centroids[cj] = centroids[cj] * (1 - sign * EPS)
        sizes[ci] = sizes[cj] // 2
        sizes[cj] -= sizes[ci]
        nsplit += 1
    return nsplit


def lloyd_kmeans(x: np.ndarray, k: int, metric: str, niter: int = 25, nredo: int = 1, seed: int = 1234,
                 max_points_per_centroid: int = 256) -> tuple[np.ndarray, float]:
    """(centroids ``(k, d)``, objective) of the best of ``nredo`` runs of ``niter`` iterations
    (module docstring); the objective is the sum of the points' scores with their centroid at the
    last assignment (``ip``: largest wins; ``l2``: smallest wins)."""
    _check_metric(metric)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"faiss stand-in: x must be 2-d, got shape {x.shape}")
    n = x.shape[0]
    if n < k:
        raise ValueError(f"faiss stand-in: number of training points ({n}) should be at least as large "
                         f"as number of clusters ({k})")
    if n > k * max_points_per_centroid:
        x = x[np.sort(np.random.RandomState(seed).permutation(n)[:k * max_points_per_centroid])]
        n = x.shape[0]
    better = (lambda a, b: a > b) if metric == "ip" else (lambda a, b: a < b)
    worst = -np.inf if metric == "ip" else np.inf
    best, best_obj = None, worst
    for redo in range(max(int(nredo), 1)):
        rng = np.random.RandomState((seed + 1 + redo * 15486557) % (2 ** 32))
        cen = x[rng.permutation(n)[:k]].copy()
        obj = worst
        for _ in range(max(int(niter), 1)):
            scores = _scores(x, cen, metric)
            assign = _nearest(scores, metric)
            obj = float(scores[np.arange(n), assign].sum())
            sizes = np.bincount(assign, minlength=k).astype(np.int64)
            new = np.zeros_like(cen)
            np.add.at(new, assign, x)
            nz = sizes > 0
            new[nz] /= sizes[nz, None]
            split_empty(new, sizes, rng)
            cen = new
        if better(obj, best_obj):
            best, best_obj = cen, obj
    return best, best_obj
