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
faiss', so a seed gives other initial centroids than faiss would. The k-means and the index are
shared with MEOW's stand-in: ``experiments/parity/shims/faiss_core.py`` (``metric="l2"``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from experiments.parity.shims.faiss_core import FlatIndex, lloyd_kmeans, split_empty

__all__ = ["IndexFlatL2", "Kmeans", "kmeans_l2", "split_empty"]


class IndexFlatL2(FlatIndex):
    """Exact L2 index: ``search(x, k)`` -> (squared distances, ids) of the ``k`` nearest vectors."""

    def __init__(self, d: int) -> None:
        super().__init__(d, "l2")


def kmeans_l2(x: np.ndarray, k: int, niter: int = 25, nredo: int = 1, seed: int = 1234,
              max_points_per_centroid: int = 256) -> tuple[np.ndarray, float]:
    """(centroids ``(k, d)``, objective = the sum of squared distances to the assigned centroid at
    the last iteration) of the best (lowest objective) of ``nredo`` L2 k-means runs."""
    return lloyd_kmeans(x, k, "l2", niter, nredo, seed, max_points_per_centroid)


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
