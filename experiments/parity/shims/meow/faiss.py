"""A CPU stand-in for the few ``faiss`` calls of MEOW's ``code_meow/module/cluster.py`` (graphcl's
parity harness; our code, not faiss'). faiss-gpu is not installed here and there is no GPU.

What MEOW's ``run_kmeans`` uses: ``Clustering(d, k)`` with ``niter``, ``nredo``, ``seed``,
``max_points_per_centroid``, ``min_points_per_centroid`` (``verbose``, ``gpu`` are accepted and
ignored), ``Clustering.train(x, index)``, ``Clustering.centroids``, ``StandardGpuResources``,
``GpuIndexFlatConfig``, ``GpuIndexFlatIP(res, d, cfg)`` with ``search(x, 1)``, and
``vector_to_array``.

The algorithm follows faiss' ``Clustering::train`` (faiss 1.7.x) on an inner-product index:
``nredo`` restarts, each initialised with ``k`` distinct points drawn at random, ``niter`` Lloyd
iterations (assign each point to the centroid of largest inner product; centroids = means of their
points, not normalised; an empty cluster takes a perturbed copy of a large one, faiss'
``split_clusters`` with EPS = 1/1024); the restart with the largest total similarity is kept and
its centroids are added to the index. Subsampling above ``k * max_points_per_centroid`` points is as
faiss (random subset). The random streams are numpy's, not faiss', so a seed gives other
initial centroids than faiss would.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Clustering", "GpuIndexFlatConfig", "GpuIndexFlatIP", "IndexFlatIP", "StandardGpuResources",
           "vector_to_array", "kmeans_ip"]

_EPS = 1.0 / 1024.0


class StandardGpuResources:
    """Accepted and ignored (CPU)."""


class GpuIndexFlatConfig:
    """Accepted and ignored (CPU)."""

    def __init__(self) -> None:
        self.useFloat16 = False
        self.device = 0


class IndexFlatIP:
    """Exact inner-product index: ``search`` returns the ``k`` largest inner products."""

    def __init__(self, d: int, *args: Any) -> None:
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
            raise RuntimeError("faiss shim: search on an empty index")
        sims = np.ascontiguousarray(x, dtype=np.float32) @ self.xb.T
        k = min(int(k), self.ntotal)
        if k == 1:
            idx = sims.argmax(axis=1)[:, None]
        else:
            idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(sims, idx, axis=1).astype(np.float32), idx.astype(np.int64)


class GpuIndexFlatIP(IndexFlatIP):
    """``GpuIndexFlatIP(res, d, cfg)``: the CPU :class:`IndexFlatIP`."""

    def __init__(self, res: Any, d: int, cfg: Any = None) -> None:
        super().__init__(d)


def _split_empty(centroids: np.ndarray, sizes: np.ndarray, rng: np.random.RandomState) -> int:
    """faiss' split_clusters: each empty cluster takes a perturbed copy of a cluster picked with
    probability (size - 1) / (n - k); the two split its size. Returns the number split."""
    k, n = centroids.shape[0], int(sizes.sum())
    nsplit = 0
    for ci in range(k):
        if sizes[ci] != 0:
            continue
        cj = 0
        while True:
            p = (sizes - 1).clip(min=0) / max(n - k, 1)
            r = rng.uniform()
            cj = int(np.searchsorted(np.cumsum(p), r, side="right"))
            if cj < k and sizes[cj] > 1:
                break
            if (sizes > 1).sum() == 0:
                return nsplit
        centroids[ci] = centroids[cj]
        sign = np.where(np.arange(centroids.shape[1]) % 2 == 0, 1.0, -1.0).astype(centroids.dtype)
        centroids[ci] *= 1 + sign * _EPS
        centroids[cj] *= 1 - sign * _EPS
        sizes[ci] = sizes[cj] // 2
        sizes[cj] -= sizes[ci]
        nsplit += 1
    return nsplit


def kmeans_ip(x: np.ndarray, k: int, niter: int = 20, nredo: int = 1, seed: int = 1234,
              max_points_per_centroid: int = 256) -> tuple[np.ndarray, float]:
    """(centroids (k, d), objective = sum of the points' inner products with their centroid) of the
    best of ``nredo`` inner-product k-means runs of ``niter`` iterations each."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    if n < k:
        raise ValueError(f"faiss shim: {n} training points for {k} centroids")
    rng_sub = np.random.RandomState(seed)
    if n > k * max_points_per_centroid:
        x = x[np.sort(rng_sub.permutation(n)[:k * max_points_per_centroid])]
        n = x.shape[0]
    best, best_obj = None, -np.inf
    for redo in range(max(int(nredo), 1)):
        rng = np.random.RandomState((seed + 1 + redo * 15486557) % (2 ** 32))
        cen = x[rng.permutation(n)[:k]].copy()
        obj = -np.inf
        for _ in range(max(int(niter), 1)):
            sims = x @ cen.T
            assign = sims.argmax(axis=1)
            obj = float(sims[np.arange(n), assign].sum())
            sizes = np.bincount(assign, minlength=k).astype(np.int64)
            new = np.zeros_like(cen)
            np.add.at(new, assign, x)
            nz = sizes > 0
            new[nz] /= sizes[nz, None]
            _split_empty(new, sizes, rng)
            cen = new
        if obj > best_obj:
            best, best_obj = cen, obj
    return best, best_obj


class Clustering:
    """``faiss.Clustering(d, k)``: :func:`kmeans_ip` on ``train(x, index)``; the index receives the
    centroids (as faiss' does)."""

    def __init__(self, d: int, k: int) -> None:
        self.d, self.k = int(d), int(k)
        self.niter, self.nredo, self.seed = 25, 1, 1234
        self.verbose, self.gpu, self.spherical = False, False, False
        self.max_points_per_centroid, self.min_points_per_centroid = 256, 39
        self.centroids = np.zeros(0, dtype=np.float32)
        self.obj: list[float] = []

    def train(self, x: np.ndarray, index: IndexFlatIP) -> None:
        if not isinstance(index, IndexFlatIP):
            raise TypeError("faiss shim: Clustering.train needs an (Gpu)IndexFlatIP")
        if self.spherical:
            raise NotImplementedError("faiss shim: spherical k-means is not used by MEOW")
        cen, obj = kmeans_ip(np.asarray(x), self.k, self.niter, self.nredo, self.seed,
                             self.max_points_per_centroid)
        self.centroids, self.obj = cen.reshape(-1), [obj]
        index.reset()
        index.add(cen)


def vector_to_array(v: Any) -> np.ndarray:
    """The centroids as a flat array (faiss: a copy of a C++ vector)."""
    return np.asarray(v).reshape(-1).copy()
