"""A CPU stand-in for the few ``faiss`` calls of MEOW's ``code_meow/module/cluster.py`` (graphcl's
parity harness; our code, not faiss'). faiss-gpu is not installed here and there is no GPU.

What MEOW's ``run_kmeans`` uses: ``Clustering(d, k)`` with ``niter``, ``nredo``, ``seed``,
``max_points_per_centroid``, ``min_points_per_centroid`` (``verbose``, ``gpu`` are accepted and
ignored), ``Clustering.train(x, index)``, ``Clustering.centroids``, ``StandardGpuResources``,
``GpuIndexFlatConfig``, ``GpuIndexFlatIP(res, d, cfg)`` with ``search(x, 1)``, and
``vector_to_array``.

The algorithm is faiss' ``Clustering::train`` (faiss 1.7.x) on an inner-product index, shared with
NCL's stand-in in ``experiments/parity/shims/faiss_core.py`` (``lloyd_kmeans``, ``metric="ip"``): the
restart with the largest total similarity is kept and its centroids are added to the index.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from experiments.parity.shims.faiss_core import FlatIndex, lloyd_kmeans

__all__ = ["Clustering", "GpuIndexFlatConfig", "GpuIndexFlatIP", "IndexFlatIP", "StandardGpuResources",
           "vector_to_array", "kmeans_ip"]


class StandardGpuResources:
    """Accepted and ignored (CPU)."""


class GpuIndexFlatConfig:
    """Accepted and ignored (CPU)."""

    def __init__(self) -> None:
        self.useFloat16 = False
        self.device = 0


class IndexFlatIP(FlatIndex):
    """Exact inner-product index: ``search`` returns the ``k`` largest inner products."""

    def __init__(self, d: int, *args: Any) -> None:
        super().__init__(d, "ip")


class GpuIndexFlatIP(IndexFlatIP):
    """``GpuIndexFlatIP(res, d, cfg)``: the CPU :class:`IndexFlatIP`."""

    def __init__(self, res: Any, d: int, cfg: Any = None) -> None:
        super().__init__(d)


def kmeans_ip(x: np.ndarray, k: int, niter: int = 20, nredo: int = 1, seed: int = 1234,
              max_points_per_centroid: int = 256) -> tuple[np.ndarray, float]:
    """(centroids (k, d), objective = sum of the points' inner products with their centroid) of the
    best of ``nredo`` inner-product k-means runs of ``niter`` iterations each."""
    return lloyd_kmeans(x, k, "ip", niter, nredo, seed, max_points_per_centroid)


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
