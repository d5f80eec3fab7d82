"""A CPU stand-in for the ``faiss`` calls of RecBole-GNN's NCL (graphcl's parity harness; our code,
not faiss'). faiss is not installed here and there is no GPU.

What ``recbole_gnn/model/general_recommender/ncl.py`` ``run_kmeans`` uses: ``Kmeans(d=, k=, gpu=)``,
``Kmeans.train(x)``, ``Kmeans.centroids`` (a ``(k, d)`` float32 array) and ``Kmeans.index.search(x, 1)``
(squared L2 distances and ids of the nearest centroid).

The algorithm follows faiss' ``Kmeans`` defaults (faiss 1.7.x, ``faiss/python/extra_wrappers.py`` and
``Clustering::train``): an L2 index (``spherical=False``), ``niter`` = 25 Lloyd iterations, ``nredo``
= 1, ``seed`` = 1234 (the same every call), ``max_points_per_centroid`` = 256 (more points are
subsampled at random); the k initial centroids are k distinct points drawn at random; each
iteration assigns every point to its nearest centroid, moves each centroid to the mean of its
points, and splits a large cluster for every emptied one (faiss' ``split_clusters``: a copy of a
cluster drawn with probability (size - 1) / (n - k), the two perturbed by ±1/1024 in alternating
coordinates); the final centroids are added to ``index``. The random streams are numpy's, not
faiss', so a seed gives other initial centroids than faiss would.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["IndexFlatL2", "Kmeans", "kmeans_l2"]

_EPS = 1.0 / 1024.0


class IndexFlatL2:
    """Exact L2 index: ``search(x, k)`` -> (squared distances, ids) of the ``k`` nearest vectors."""

    def __init__(self, d: int) -> None:
        self.d = int(d)
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
        dist = _sq_dist(np.ascontiguousarray(x, dtype=np.float32), self.xb)
        k = min(int(k), self.ntotal)
        idx = dist.argmin(axis=1)[:, None] if k == 1 else np.argsort(dist, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(dist, idx, axis=1).astype(np.float32), idx.astype(np.int64)


def _sq_dist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(n, k) squared Euclidean distances, clipped at 0."""
    return np.maximum((x * x).sum(1)[:, None] - 2.0 * (x @ c.T) + (c * c).sum(1)[None, :], 0.0)


def _split_empty(centroids: np.ndarray, sizes: np.ndarray, rng: np.random.RandomState) -> int:
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
        centroids[ci] = centroids[cj] * (1 + sign * _EPS)
        centroids[cj] = centroids[cj] * (1 - sign * _EPS)
        sizes[ci] = sizes[cj] // 2
        sizes[cj] -= sizes[ci]
        nsplit += 1
    return nsplit


def kmeans_l2(x: np.ndarray, k: int, niter: int = 25, nredo: int = 1, seed: int = 1234,
              max_points_per_centroid: int = 256) -> tuple[np.ndarray, float]:
    """(centroids ``(k, d)``, objective = the sum of squared distances to the assigned centroid at
    the last iteration) of the best (lowest objective) of ``nredo`` L2 k-means runs."""
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
    best, best_obj = None, np.inf
    for redo in range(max(int(nredo), 1)):
        rng = np.random.RandomState((seed + 1 + redo * 15486557) % (2 ** 32))
        cen = x[rng.permutation(n)[:k]].copy()
        obj = np.inf
        for _ in range(max(int(niter), 1)):
            dist = _sq_dist(x, cen)
            assign = dist.argmin(axis=1)
            obj = float(dist[np.arange(n), assign].sum())
            sizes = np.bincount(assign, minlength=k).astype(np.int64)
            new = np.zeros_like(cen)
            np.add.at(new, assign, x)
            nz = sizes > 0
            new[nz] /= sizes[nz, None]
            _split_empty(new, sizes, rng)
            cen = new
        if obj < best_obj:
            best, best_obj = cen, obj
    return best, best_obj


class Kmeans:
    """``faiss.Kmeans(d, k, **kwargs)``: :func:`kmeans_l2` on ``train(x)``; ``centroids`` and an L2
    ``index`` holding them. ``gpu`` and ``verbose`` are accepted and ignored (CPU)."""

    def __init__(self, d: int, k: int, **kwargs: Any) -> None:
        self.d, self.k = int(d), int(k)
        self.niter = int(kwargs.pop("niter", 25))
        self.nredo = int(kwargs.pop("nredo", 1))
        self.seed = int(kwargs.pop("seed", 1234))
        self.max_points_per_centroid = int(kwargs.pop("max_points_per_centroid", 256))
        if kwargs.pop("spherical", False):
            raise NotImplementedError("faiss stand-in: spherical k-means is not used by NCL")
        kwargs.pop("gpu", None)
        kwargs.pop("verbose", None)
        kwargs.pop("min_points_per_centroid", None)
        if kwargs:
            raise TypeError(f"faiss stand-in: Kmeans options not supported: {sorted(kwargs)}")
        self.centroids: np.ndarray | None = None
        self.obj: list[float] = []
        self.index = IndexFlatL2(self.d)

    def train(self, x: np.ndarray) -> float:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"faiss stand-in: x must be (n, {self.d}), got {x.shape}")
        cen, obj = kmeans_l2(x, self.k, self.niter, self.nredo, self.seed, self.max_points_per_centroid)
        self.centroids, self.obj = cen, [obj]
        self.index.reset()
        self.index.add(cen)
        return obj
