"""Node clustering task: the model's own clusters and k-means on its embeddings.

Selected by the config key ``task: cluster`` (SCGC and PamC default to it). The
protocol of unsupervised clustering: no validation split, so the trainer runs
all epochs and tests the final model (the SCGC/PamC authors report the best
epoch per metric instead, which selects on the test labels).

Test metrics (all against the true labels, all nodes):

* ``acc``, ``nmi``, ``ari``, ``f1``: of the model's prediction ``model.predict()``
  (argmax_k q_ik for SCGC/PamC), via :func:`graphcl.eval.clustering.cluster_metrics`
  (ACC by Hungarian matching, macro-F1 after the matching); ``clusters_used``
  is the number of distinct predicted clusters;
* ``kmeans_<metric>`` and ``kmeans_<metric>_std``: k-means (k = number of
  classes, ``kmeans_seeds`` seeds, 10 restarts each) on ``model.embed()``,
  mean and std over the seeds.

A model without ``predict()`` gets the k-means means as ``acc``/``nmi``/``ari``/``f1``.
"""
from __future__ import annotations

from typing import Any

import torch

from graphcl.eval.clustering import cluster_metrics, evaluate_clustering
from graphcl.eval.tasks.node_probe import frozen_embeddings
from graphcl.model_protocols import Embedder

METRICS = ("acc", "nmi", "ari", "f1")


class NodeClusteringTask:
    model_protocol = Embedder

    def __init__(self, data: Any, config: dict[str, Any], device: torch.device) -> None:
        if getattr(data, "y", None) is None:
            raise ValueError("clustering evaluation needs labels: the graph has no `y`")
        self.data = data
        self.name = str(getattr(data, "name", None) or "graph")
        self.config = config
        self.device = device
        self.has_valid = False
        self.has_test = True
        seeds = int(config.get("kmeans_seeds", 5))
        if seeds < 1:
            raise ValueError(f"kmeans_seeds must be >= 1, got {seeds}")
        self.kmeans_seeds = tuple(range(seeds))

    def stats(self) -> dict[str, Any]:
        d = self.data
        return {"dataset": self.name, "nodes": int(d.num_nodes), "edges": int(d.edge_index.size(1)),
                "features": int(d.x.size(1)) if d.x is not None else 0,
                "classes": int(torch.unique(d.y).numel())}

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        emb = frozen_embeddings(model)
        y = self.data.y.reshape(-1).to(emb.device)
        out: dict[str, float] = {}
        km = evaluate_clustering(emb, y, seeds=self.kmeans_seeds)
        for m in METRICS:
            out[f"kmeans_{m}"] = float(km[f"{m}_mean"])
            out[f"kmeans_{m}_std"] = float(km[f"{m}_std"])
        if hasattr(model, "predict"):
            pred = model.predict()
            out.update({m: float(v) for m, v in cluster_metrics(pred, y).items()})
            out["clusters_used"] = float(torch.unique(pred).numel())
        else:
            out.update({m: out[f"kmeans_{m}"] for m in METRICS})
        return out
