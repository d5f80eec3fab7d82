"""Base class of the node-level self-supervised methods.

A node method holds the graph, trains full-batch (one step per epoch: the
"batch" the trainer hands over is the ``torch.Generator`` that drives the
epoch's augmentations, so runs are reproducible and resumable), and exposes
``embed()`` for the evaluation task (linear probe / clustering).
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import nn

from graphcl.train.node_tasks import NODE_TASK_DEFAULTS
from graphcl.config import TRAIN_DEFAULTS

NODE_TRAIN_DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in TRAIN_DEFAULTS.items() if k not in ("topk", "eval_batch_size", "batch_size")},
    **NODE_TASK_DEFAULTS,
    "valid_metric": "acc",
    "eval_every": 0,      # 0: evaluate only after the last epoch (the papers' protocol)
    "patience": 1000,
    "sparse_features": "auto",  # keep x as sparse CSR: "auto" (if under 10% nonzero), true, false
    "normalize_features": True,  # row-normalize x (PyG NormalizeFeatures), as GRACE's and CSGCL's code;
                                 # only non-negative x (bag of words): signed text embeddings stay as they are
}


def check_graph(data: Any) -> None:
    """Clear errors for graphs a node method cannot train on."""
    if getattr(data, "x", None) is None:
        raise ValueError("node methods need node features: the graph has no `x`")
    if data.num_nodes == 0:
        raise ValueError("the graph is empty (0 nodes)")
    if not torch.isfinite(data.x).all():
        raise ValueError("node features contain NaN or inf")
    ei = data.edge_index
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= data.num_nodes):
        raise ValueError(f"edge_index refers to node {int(ei.max())} but the graph has {data.num_nodes} nodes")


def row_normalize(x: torch.Tensor) -> torch.Tensor:
    """``x_i / Σ_j x_ij`` per row (rows summing to 0 stay 0), as PyG's ``NormalizeFeatures``."""
    total = x.sum(1, keepdim=True)
    return x / total.masked_fill(total == 0, 1.0)


def _maybe_sparse(x: torch.Tensor, mode: Any) -> torch.Tensor:
    """Sparse CSR features when asked (or, with "auto", when under 10% nonzero):
    the first layer then multiplies as sparse (exactly the same values)."""
    if mode not in ("auto", True, False):
        raise ValueError(f"sparse_features must be auto, true or false, got {mode!r}")
    if mode is True or (mode == "auto" and float((x != 0).float().mean()) < 0.1):
        return x.to_sparse_csr()
    return x


class NodeMethod(nn.Module):
    def __init__(self, data: Any, config: dict[str, Any], device: torch.device | str = "cpu") -> None:
        super().__init__()
        check_graph(data)
        self.config = dict(config)
        self.device_ = torch.device(device)
        x = data.x.to(self.device_).float()
        if self.config.get("normalize_features", False) and bool((x >= 0).all()):
            x = row_normalize(x)  # a row sum of signed features (text embeddings) is meaningless
        self.x = _maybe_sparse(x, self.config.get("sparse_features", "auto"))
        self.edge_index = data.edge_index.to(self.device_)
        self.num_nodes = int(data.num_nodes)
        # epoch counter, saved with the model so schedules survive a resume
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))

    def batches(self, generator: torch.Generator) -> Iterator[torch.Generator]:
        yield generator

    def num_batches(self) -> int:
        return 1

    def loss(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        out = self.step_loss(generator)
        self.epoch += 1
        return out

    def step_loss(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def embed(self) -> torch.Tensor:
        raise NotImplementedError

    def prepare_scoring(self) -> None:  # trainer symmetry with recommenders
        pass
