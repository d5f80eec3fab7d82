"""MEOW (Yu & Li, SDM 2023): heterogeneous graph contrastive learning with meta-path
contexts and weighted negatives (authors' code: jianxiangyu/MEOW, ``code_meow``).

Inputs (built once, :mod:`graphcl.models.node.meow_views`): per meta-path the
PathSim top-k graph Â_t (``nei_max`` neighbours per node, symmetric-normalized)
and an edge-masked copy (``adj_mask``: a fraction of the edges dropped once, the
rest binary, plus self loops); the coarse graph Â = mean_t Â_t; row-normalized
features and a copy of the target features with a fraction ``feat_mask`` of the
nonzero entries zeroed once.

Views, with h = ELU(Dropout(W x)) per node type and a shared GCN f (2 layers):

* fine-grained, per meta-path t: h_t = ELU(h + Σ_s Dropout(W_{t,s} mean(h of the
  meta-path's intermediate nodes at position s))), z_t = f(h_t, Â_t), and the same
  from the masked features on the masked graph; the 2T embeddings (L2-normalized)
  are fused by semantic attention into z_fine;
* coarse: z_coarse = f(h, Â).
Projection g(z) = normalize(tanh(W z)) (shared). Embedding for evaluation: z_fine.

Loss (eq. 9-12): anchors ẑ_coarse, keys ẑ_fine. Every epoch, k-means on ẑ_fine once
per cluster count (``cluster_counts``) gives
hard weights w_ij = R − #{runs with i, j in one cluster};
L = −mean_i log(e^{ẑc_i·ẑf_i/τ} / Σ_j w_ij e^{ẑc_i·ẑf_j/τ}) + λ L_proto(ẑ_coarse),
computed blockwise (:func:`graphcl.losses.weighted.weighted_info_nce`). Options:
``weighting: none`` replaces the weighted denominator by the plain InfoNCE one
(all w = 1, the positive included); ``lam_proto: 0`` drops the prototypical term.

Differences from the authors' code (documented choices): the top-k graph is
normalized as D^{-1/2} A D^{-1/2} with row i aggregating its own top-k (the code
propagates with the transpose); the PCL concentration uses Euclidean distances
(``concentration: meow-code``: the code's square root of faiss inner products, α 5);
k-means is ours (torch, random initial centroids as faiss, ``kmeans_restarts`` x
``kmeans_iters`` like faiss' nredo 5, niter 20), Euclidean by default
(``kmeans_metric: ip``: the code's inner-product assignment to unnormalized centroids). ``kmeans_seed``: ``"per-epoch"`` (default) draws the k-means
seed from the epoch's generator; ``"fixed"`` reuses the same seed (``seed`` + run
index) every epoch, as the authors' code does, so clusters drift only with the
embeddings;
training length and model selection follow the trainer (select on validation)
instead of early stopping on the training loss.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from graphcl.losses.prototypical import CONCENTRATION_FORMS, cluster_runs, prototypical_loss
from graphcl.losses.weighted import ClusterWeights, weighted_info_nce
from graphcl.models.node.base import FullGraphBatch, refuse_minibatch
from graphcl.models.node.meow_views import (coarse_graph, context_operators, mask_entries,
                                            masked_graph, metapath_graphs, per_metapath,
                                            row_normalize)
from graphcl.nn.metapath import MeowGCN, SemanticAttention, TypeProjection
from graphcl.registry import MethodSpec, register_method
from graphcl.eval.tasks.hetero_probe import HETERO_TASK_DEFAULTS
from graphcl.config import TRAIN_DEFAULTS


def check_hetero(data: Any) -> None:
    """Clear errors for inputs the meta-path methods cannot train on."""
    from torch_geometric.data import HeteroData
    if not isinstance(data, HeteroData) or not hasattr(data, "target_type"):
        raise TypeError(f"MEOW/AdaMEOW need a HeCo-format HeteroData (graphcl.data.load('acm')), "
                        f"got {type(data).__name__}")
    if not data.metapaths:
        raise ValueError("the heterogeneous graph has no meta-path graph")


class MEOW(nn.Module):
    full_graph_reason = ("it trains on heterogeneous meta-path graphs (the neighbor sampler is homogeneous) "
                         "with meta-path context means over other node types, and weights its negatives by "
                         "k-means over all target nodes each epoch, plus a prototype loss on those clusters")

    def __init__(self, data: Any, config: dict[str, Any], device: torch.device | str = "cpu") -> None:
        super().__init__()
        refuse_minibatch(type(self).__name__, config, self.full_graph_reason)
        check_hetero(data)
        c = self.config = dict(config)
        self.device_ = dev = torch.device(device)
        if float(c["tau"]) <= 0:
            raise ValueError(f"tau must be > 0, got {c['tau']}")
        self._check_loss_config()
        self.metapaths = [m.lower() for m in (c["metapaths"] or data.metapaths)]
        unknown = [m for m in self.metapaths if m not in data.metapaths]
        if unknown:
            raise ValueError(f"meta-path(s) {', '.join(unknown)} not loaded; available: "
                             f"{', '.join(data.metapaths)}")
        mps = len(self.metapaths)
        t = self.target = data.target_type
        self.num_nodes = n = int(data[t].num_nodes)
        gen = torch.Generator().manual_seed(int(c["seed"]))  # the masks are drawn once
        self.graphs, kept = metapath_graphs(data, self.metapaths, per_metapath(c["nei_max"], mps, "nei_max"),
                                            str(c["topk_values"]), dev)
        self.masked = [masked_graph(ei, n, float(p), gen, dev) for (ei, _), p
                       in zip(kept, per_metapath(c["adj_mask"], mps, "adj_mask"))]
        self.coarse = coarse_graph(self.graphs)
        self.contexts = context_operators(data, self.metapaths, dev)
        types = [t] + sorted({name for ops in self.contexts for name, _ in ops} - {t})
        self.features: dict[str, torch.Tensor | None] = {}
        hidden, embed, drop = int(c["hidden_dim"]), int(c["embed_dim"]), float(c["dropout"])
        self.proj = nn.ModuleDict()
        for name in types:
            x, identity = data[name].x, bool(getattr(data[name], "featureless", False))
            if not identity:
                x = x.float()
                x = row_normalize(x) if c["normalize_features"] else x
                if not torch.isfinite(x.values() if x.layout == torch.sparse_csr else x).all():
                    raise ValueError(f"features of node type {name!r} contain NaN or inf")
            self.features[name] = None if identity else x.to(dev)
            self.proj[name] = TypeProjection(x.shape[1], hidden, identity=identity)
        if self.features[t] is None:
            self.masked_x = None  # identity features: nothing to mask (h_mask = h)
        else:
            self.masked_x = mask_entries(self.features[t].cpu(), float(c["feat_mask"]), gen).to(dev)
        self.agg = nn.ModuleList(nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in ops)
                                 for ops in self.contexts)
        self.encoder = MeowGCN(hidden, embed, embed, drop)
        self.attention = SemanticAttention(embed, drop)
        self.project = nn.Linear(embed, embed)
        self.dropout = nn.Dropout(drop)
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))
        self.last_beta: torch.Tensor | None = None

    def _check_loss_config(self) -> None:
        c = self.config
        if c["weighting"] not in ("hard", "none"):
            raise ValueError(f"weighting must be 'hard' or 'none', got {c['weighting']!r}")
        if c["kmeans_seed"] not in ("per-epoch", "fixed"):
            raise ValueError(f"kmeans_seed must be 'per-epoch' or 'fixed', got {c['kmeans_seed']!r}")
        if c["kmeans_metric"] not in ("l2", "ip"):
            raise ValueError(f"kmeans_metric must be 'l2' or 'ip', got {c['kmeans_metric']!r}")
        if c["concentration"] not in CONCENTRATION_FORMS:
            raise ValueError(f"concentration must be one of {CONCENTRATION_FORMS}, got {c['concentration']!r}")
        if c["weighting"] == "hard" and not c["cluster_counts"]:
            raise ValueError("weighting 'hard' needs at least one entry in cluster_counts")
        if float(c["lam_proto"]) < 0:
            raise ValueError(f"lam_proto must be >= 0, got {c['lam_proto']}")

    # --------------------------------------------------------------- views
    def _h(self, name: str, x: torch.Tensor | None) -> torch.Tensor:
        return F.elu(self.dropout(self.proj[name](x)))

    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_coarse, z_fine): the coarse GCN output and the attention-fused fine view."""
        t = self.target
        h = self._h(t, self.features[t])
        h_mask = h if self.masked_x is None else self._h(t, self.masked_x)
        hidden = {name: self._h(name, self.features[name])
                  for name in {name for ops in self.contexts for name, _ in ops} - {t}}
        hidden[t] = h
        fine = []
        for ops, aggs, graph, masked in zip(self.contexts, self.agg, self.graphs, self.masked):
            means = [op @ hidden[name] for name, op in ops]

            def context() -> torch.Tensor:  # fresh dropout for each of the two views
                return sum(self.dropout(lin(mean)) for lin, mean in zip(aggs, means))
            fine.append(self.encoder(F.elu(h + context()), graph))
            fine.append(self.encoder(F.elu(h_mask + context()), masked))
        z_fine, beta = self.attention([F.normalize(z, dim=1) for z in fine])
        self.last_beta = beta.detach()
        return self.encoder(h, self.coarse), z_fine

    def projected(self, z: torch.Tensor) -> torch.Tensor:
        return F.normalize(torch.tanh(self.project(z)), dim=1)

    # ---------------------------------------------------------------- loss
    def batches(self, generator: torch.Generator) -> Iterator[FullGraphBatch]:
        yield FullGraphBatch(generator)

    def num_batches(self) -> int:
        return 1

    def loss(self, batch: FullGraphBatch) -> dict[str, torch.Tensor]:
        out = self.step_loss(batch.generator)
        self.epoch += 1
        return out

    def step_loss(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        c = self.config
        z_coarse, z_fine = self.views()
        zc, zf = self.projected(z_coarse), self.projected(z_fine)
        tau, lam = float(c["tau"]), float(c["lam_proto"])
        clusters = None
        if c["weighting"] == "hard" or lam > 0:
            seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator, device=generator.device))
            if c["kmeans_seed"] == "fixed":  # the authors' code: the same k-means seed every epoch
                seed = int(c.get("seed", 0))
            clusters = cluster_runs(zf, [int(k) for k in c["cluster_counts"]], tau, seed,
                                    n_init=int(c["kmeans_restarts"]), max_iter=int(c["kmeans_iters"]),
                                    alpha=(None if c["concentration_alpha"] is None
                                           else float(c["concentration_alpha"])),
                                    metric=str(c["kmeans_metric"]),
                                    concentration_form=str(c["concentration"]))
        weights = ClusterWeights(clusters.labels, zc.dtype) if c["weighting"] == "hard" else None
        info = weighted_info_nce(zc, zf, weights, tau, block_size=int(c["loss_block_size"]))
        out = {"info": info}
        loss = info
        if lam > 0:
            out["proto"] = prototypical_loss(zc, clusters)
            loss = loss + lam * out["proto"]
        out["loss"] = loss
        return out

    @torch.no_grad()
    def embed(self) -> torch.Tensor:
        was = self.training
        self.eval()
        z = self.views()[1]
        self.train(was)
        return z

    def prepare_scoring(self) -> None:  # trainer symmetry with recommenders
        pass


MEOW_DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in TRAIN_DEFAULTS.items() if k not in ("topk", "eval_batch_size", "batch_size")},
    **HETERO_TASK_DEFAULTS,
    "valid_metric": "micro_f1", "eval_every": 0, "patience": 1000,
    "epochs": 300, "lr": 7e-4, "weight_decay": 0.0,
    "metapaths": [], "nei_max": [0], "topk_values": "count",
    "hidden_dim": 64, "embed_dim": 64, "dropout": 0.2, "tau": 0.4,
    "feat_mask": 0.3, "adj_mask": [0.3], "normalize_features": True,
    "weighting": "hard", "cluster_counts": [100, 300], "lam_proto": 1.0,
    "kmeans_restarts": 5, "kmeans_iters": 20,
    "kmeans_seed": "per-epoch",  # or "fixed" (the authors' code)
    "kmeans_metric": "l2",       # or "ip": faiss inner-product assignment (the authors' code)
    "concentration": "pcl",      # or "meow-code": sqrt of the similarity, alpha 5 (the authors' code)
    "concentration_alpha": None,  # None: the form's constant (PCL 10, MEOW's code 5)
    "loss_block_size": 1024,
    "minibatch_size": 0,  # full batch only: refuses > 0 (MEOW.full_graph_reason)
}

# jianxiangyu/MEOW code_meow/utils/params.py (acm_params), METHODS.md
MEOW_PRESETS: dict[str, dict[str, Any]] = {
    "acm": {"lr": 7e-4, "tau": 0.4, "feat_mask": 0.3, "adj_mask": [0.3, 0.2], "nei_max": [110, 700],
            "hidden_dim": 64, "embed_dim": 64, "dropout": 0.2, "cluster_counts": [100, 300],
            "lam_proto": 1.0, "weight_decay": 0.0},
}

register_method(MethodSpec(
    name="meow", kind="node", data="hetero", build=MEOW, defaults=MEOW_DEFAULTS, presets=MEOW_PRESETS,
    description="MEOW: coarse vs meta-path-context views, k-means-weighted InfoNCE + prototypes",
    paper="Yu & Li, Heterogeneous Graph Contrastive Learning with Meta-path Contexts and "
          "Weighted Negative Samples, SDM 2023"))
