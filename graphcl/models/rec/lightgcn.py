"""LightGCN (He et al., SIGIR 2020).

Propagation (eq. 7): ``E^{(k+1)} = Â E^{(k)}`` with ``Â = D^{-1/2} A D^{-1/2}`` the
symmetric (U+I) graph; layer combination (eq. 8): ``E = Σ_{k=0..K} α_k E^{(k)}``
with ``α_k = 1/(K+1)``; prediction (eq. 9): ``ŷ_ui = e_u · e_i``; loss (eq. 15):
BPR plus ``λ ||E^{(0)}||²`` over the batch's ego embeddings, as in the authors'
code: ``λ (||e_u||² + ||e_i||² + ||e_j||²) / (2 B)``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from graphcl.data.interactions import InteractionDataset
from graphcl.registry import MethodSpec, register_method
from graphcl.config import TRAIN_DEFAULTS
from graphcl.sparse import bipartite_adjacency, linear_propagation
from graphcl.models.rec.base import Recommender, bpr_loss
from graphcl.models.rec.batch_rows import counted_square_sum, gather_triples


class LightGCNEncoder(nn.Module):
    """Ego embeddings plus parameter-free propagation on a fixed graph."""

    def __init__(self, num_users: int, num_items: int, dim: int, num_layers: int,
                 init_std: float = 0.1) -> None:
        super().__init__()
        self.num_users, self.num_items, self.num_layers = num_users, num_items, num_layers
        self.user_embedding = nn.Embedding(num_users, dim)
        self.item_embedding = nn.Embedding(num_items, dim)
        nn.init.normal_(self.user_embedding.weight, std=init_std)
        nn.init.normal_(self.item_embedding.weight, std=init_std)

    def ego(self) -> torch.Tensor:
        return torch.cat([self.user_embedding.weight, self.item_embedding.weight], 0)

    def propagate(self, graph, layer_mean: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 7-8: mean (or sum) of ``Â^k E^0`` for ``k = 0..K``; returns (users, items)."""
        _, total = self.propagate_stacked(graph, layer_mean)
        return torch.split(total, [self.num_users, self.num_items])

    def propagate_stacked(self, graph, layer_mean: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``(E^0, Σ_k α_k Â^k E^0)``, users then items in one ``(U + I, d)`` table each (rows
        ``U + i`` are item ``i``): a loss gathers its rows from both in one index each."""
        weight = 1.0 / (self.num_layers + 1) if layer_mean else 1.0
        ego = self.ego()
        return ego, linear_propagation(graph, ego, [weight] * (self.num_layers + 1))


class LightGCN(Recommender):
    """LightGCN recommender; see the module docstring for the equations."""

    def __init__(self, dataset: InteractionDataset, config: dict[str, Any],
                 device: torch.device | str = "cpu") -> None:
        super().__init__(dataset, config, device)
        self.encoder = LightGCNEncoder(self.num_users, self.num_items, int(config["embedding_dim"]),
                                       int(config["num_layers"]), float(config["init_std"]))
        self.graph = bipartite_adjacency(dataset.train.to(self.device_), self.num_users, self.num_items)

    def loss(self, batch):
        self._cache = None
        users, pos, neg = batch
        neg = neg[:, 0] if neg.dim() == 2 else neg
        ego, total = self.encoder.propagate_stacked(self.graph)
        u, p, n = gather_triples(total, self.num_users, users, pos, neg)
        rec = bpr_loss((u * p).sum(-1), (u * n).sum(-1))
        rows = torch.cat([users, pos + self.num_users, neg + self.num_users])
        reg = counted_square_sum(ego, rows) / (2 * users.numel())
        reg = float(self.config["reg_weight"]) * reg
        return {"loss": rec + reg, "bpr": rec, "reg": reg}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder.propagate(self.graph)


LIGHTGCN_DEFAULTS = {**TRAIN_DEFAULTS, "embedding_dim": 64, "num_layers": 3, "reg_weight": 1e-4,
                     "init_std": 0.1, "epochs": 300, "patience": 10, "batch_size": 2048}

# The authors' per-dataset commands. kuandeng/LightGCN@b067ec05f16a24e0e1efe63cd82385f0c469af20
# README.md:32 (Gowalla: --regs [1e-4] --embed_size 64 --layer_size [64,64,64] --lr 0.001
# --batch_size 2048 --epoch 1000) and LightGCN.py:609,683-684 (test every 20 epochs, stop after
# 5 tests without a gain in Recall@20, which they run on the test set; ours: on validation).
# Our gowalla is the same LightGCN split (byte-identical files). Yelp2018 and Amazon-book are
# not held (see experiments/PAPER_DATASETS.md).
LIGHTGCN_PRESETS: dict[str, dict[str, Any]] = {
    "gowalla": {"embedding_dim": 64, "num_layers": 3, "reg_weight": 1e-4, "lr": 1e-3,
                "batch_size": 2048, "epochs": 1000, "eval_every": 20, "patience": 5,
                "valid_metric": "recall@20"},
}

register_method(MethodSpec(
    name="lightgcn", kind="rec", build=LightGCN, defaults=LIGHTGCN_DEFAULTS, presets=LIGHTGCN_PRESETS,
    description="LightGCN: linear propagation on the user-item graph, BPR loss",
    paper="He et al., LightGCN, SIGIR 2020"))
