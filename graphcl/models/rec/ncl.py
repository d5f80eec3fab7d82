"""NCL (Lin, Tian, Hou & Zhao, "Improving Graph Collaborative Filtering with
Neighborhood-enriched Contrastive Learning", WWW 2022), following the authors' code as
RecBole-GNN ships it (RUCAIBox/RecBole-GNN@632ef88 recbole_gnn/model/general_recommender/ncl.py,
properties/model/NCL.yaml; the authors are RecBole's team).

Encoder: LightGCN (:class:`graphcl.contrast.propagation.LightGCNPropagation`), layers
E^(0..L') with L' = max(L, 2h); prediction and BPR on E = mean_{k=0..L} E^(k).

Structure-contrastive loss (eq. 8-10; z = normalize(·), h = ``hyper_layers``): with the
batch's users (and positive items), duplicates kept, and all users (items) as negatives,

    L_S^U = Σ_{u in B} −log( exp(z_u^(2h)·z_u^(0)/τ) / Σ_{v in U} exp(z_u^(2h)·z_v^(0)/τ) ),
    L_S = λ_1 (L_S^U + α L_S^I).

Prototype-contrastive loss (eq. 11-13): every ``m_step`` epochs from epoch ``warm_up``
on, k-means (``num_clusters`` k, faiss' ``Kmeans`` defaults: k random points as seeds,
25 Lloyd iterations, one run; :func:`graphcl.eval.clustering.kmeans`) on the ego embeddings
E^(0) of users and of items separately; c the unit-normalized centroids, c_u the centroid of u's cluster:

    L_P^U = Σ_{u in B} −log( exp(z_u^(0)·c_u/τ) / Σ_{j=1..k} exp(z_u^(0)·c_j/τ) ),
    L_P = λ_2 (L_P^U + L_P^I)  (no α, as the code), absent during the warm-up.

Regularization: λ_3 (‖E_u^(0)‖ + ‖E_i^(0)‖ + ‖E_j^(0)‖)/B over the batch's ego rows with the
Frobenius norm not squared (RecBole's ``EmbLoss``). The all-user denominators use
:func:`graphcl.losses.logsumexp.blockwise_logsumexp_matmul` (never the full matrix).

Differences from the code, options where they matter: faiss' k-means is replaced by ours
(same algorithm, different random streams); the epoch count that gates the warm-up is kept
in the model's state so a resumed run continues it. SELFRec's NCL differs from the authors'
(in-batch centroid negatives, centroids not normalized, ×batch size): not offered.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from graphcl.config import TRAIN_DEFAULTS, ConfigError
from graphcl.contrast.interaction_view import InteractionView
from graphcl.contrast.propagation import LightGCNPropagation
from graphcl.data.interactions import InteractionDataset
from graphcl.eval.clustering import kmeans
from graphcl.losses.logsumexp import blockwise_logsumexp_matmul
from graphcl.models.rec.base import Recommender, bpr_loss
from graphcl.models.rec.batch_rows import counted_square_sum, gather_triples
from graphcl.registry import MethodSpec, register_method

__all__ = ["NCL", "NCL_DEFAULTS", "anchored_infonce_sum"]


def anchored_infonce_sum(anchors: torch.Tensor, positives: torch.Tensor, keys: torch.Tensor,
                         tau: float) -> torch.Tensor:
    """Σ_b [log Σ_j exp(a_b·k_j/τ) − a_b·p_b/τ] for unit rows (the caller normalizes)."""
    denominator = blockwise_logsumexp_matmul(anchors, keys, tau)
    return (denominator - (anchors * positives).sum(1) / tau).sum()


class NCL(Recommender):
    """NCL recommender; see the module docstring for the equations."""

    def __init__(self, dataset: InteractionDataset, config: dict[str, Any],
                 device: torch.device | str = "cpu") -> None:
        super().__init__(dataset, config, device)
        cfg = self.config
        self.num_layers, self.hyper = int(cfg["num_layers"]), int(cfg["hyper_layers"])
        k = int(cfg["num_clusters"])
        if k > min(self.num_users, self.num_items):
            raise ConfigError(f"ncl: num_clusters {k} exceeds min(users, items) = "
                              f"{min(self.num_users, self.num_items)} (k-means needs k <= the points)")
        self.encoder = LightGCNPropagation(self.num_users, self.num_items, int(cfg["embedding_dim"]),
                                           max(self.num_layers, 2 * self.hyper)).to(self.device_)
        self.graph = InteractionView(self._train_pairs, self.num_users, self.num_items,
                                     num_layers=self.encoder.num_layers)
        self.register_buffer("epochs_started", torch.zeros((), dtype=torch.long))
        self.centroids: dict[str, torch.Tensor] = {}
        self.assignment: dict[str, torch.Tensor] = {}

    # ----------------------------------------------------------- prototypes
    def e_step(self, seed: int) -> None:
        """k-means on the ego embeddings of users and of items (eq. 11's clusters)."""
        k = int(self.config["num_clusters"])
        for offset, (name, weight) in enumerate((("user", self.encoder.user_embedding),
                                                 ("item", self.encoder.item_embedding))):
            labels, centers = kmeans(weight.detach(), k, n_init=1, max_iter=25, seed=seed + offset, tol=0.0,
                                     init="random")
            self.centroids[name] = F.normalize(centers, dim=1)
            self.assignment[name] = labels

    def prototypes_active(self) -> bool:
        return bool(self.centroids) and int(self.epochs_started) > int(self.config["warm_up"])

    def batches(self, generator: torch.Generator) -> Iterator[Any]:
        epoch = int(self.epochs_started)
        warm, every = int(self.config["warm_up"]), int(self.config["m_step"])
        if epoch >= warm and (epoch - warm) % every == 0:
            self.e_step(int(torch.randint(2 ** 31 - 1, (1,), generator=generator)))
        self.epochs_started += 1
        return super().batches(generator)

    # -------------------------------------------------------------- training
    def propagate(self) -> list[torch.Tensor]:
        return self.encoder.layers(self.graph)

    def loss(self, batch: Any) -> dict[str, torch.Tensor]:
        """``L_BPR + L_S + L_P + reg`` for one batch of ``(users, pos, neg)``."""
        self._cache = None
        cfg = self.config
        users, pos, neg = batch
        neg = neg[:, 0] if neg.dim() == 2 else neg
        layers = self.propagate()
        u, p, n = gather_triples(torch.stack(layers[:self.num_layers + 1]).mean(0), self.num_users, users, pos, neg)
        rec = bpr_loss((u * p).sum(-1), (u * n).sum(-1))
        tau = float(cfg["ssl_temp"])
        center_u, center_i = (F.normalize(t, dim=1) for t in self.encoder.split(layers[0]))
        context_u, context_i = (F.normalize(t, dim=1) for t in self.encoder.split(layers[2 * self.hyper]))
        ssl = float(cfg["ssl_reg"]) * (
            anchored_infonce_sum(context_u[users], center_u[users], center_u, tau)
            + float(cfg["alpha"]) * anchored_infonce_sum(context_i[pos], center_i[pos], center_i, tau))
        out = {"bpr": rec, "ssl": ssl}
        total = rec + ssl
        if self.prototypes_active():
            cu, ci = self.centroids["user"], self.centroids["item"]
            proto = float(cfg["proto_reg"]) * (
                anchored_infonce_sum(center_u[users], cu[self.assignment["user"][users]], cu, tau)
                + anchored_infonce_sum(center_i[pos], ci[self.assignment["item"][pos]], ci, tau))
            out["proto"] = proto
            total = total + proto
        # ||E⁰[rows]||_F = sqrt(Σ_r c_r ||e⁰_r||²) (batch_rows.counted_square_sum): no gathers
        ego = ((self.encoder.user_embedding, users), (self.encoder.item_embedding, pos),
               (self.encoder.item_embedding, neg))
        reg = float(cfg["reg_weight"]) * sum(counted_square_sum(t, r).sqrt() for t, r in ego) / users.numel()
        out["reg"] = reg
        out["loss"] = total + reg
        return out

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        layers = self.propagate()
        return self.encoder.split(torch.stack(layers[:self.num_layers + 1]).mean(0))


#: RecBole-GNN's NCL.yaml (the authors' defaults): d 64, L 3, λ_3 1e-4, τ 0.1, λ_1 1e-7,
#: h 1, α 1, λ_2 8e-8, k 1000, warm-up 20 epochs, e-step every epoch
NCL_DEFAULTS: dict[str, Any] = {
    **TRAIN_DEFAULTS, "epochs": 300, "lr": 1e-3, "batch_size": 2048, "embedding_dim": 64, "num_layers": 3,
    "reg_weight": 1e-4, "ssl_temp": 0.1, "ssl_reg": 1e-7, "hyper_layers": 1, "alpha": 1.0, "proto_reg": 8e-8,
    "num_clusters": 1000, "warm_up": 20, "m_step": 1,
}

register_method(MethodSpec(
    name="ncl", kind="rec", build=NCL, defaults=NCL_DEFAULTS,
    description="NCL: structural (layer 0 vs 2h) and prototype (k-means) contrast on LightGCN, BPR",
    paper="Lin et al., Improving Graph Collaborative Filtering with Neighborhood-enriched Contrastive "
          "Learning, WWW 2022"))
