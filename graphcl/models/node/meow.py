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
``positives: heco`` replaces the single positive (node i's own fine embedding) by HeCo's
positive set P_i (the dataset's ``pos.npz``: the nodes sharing the most meta-path instances
with i, i included; HeCo, KDD 2021, eq. 9-10): −mean_i log(Σ_{j∈P_i} e^{ẑc_i·ẑf_j/τ} /
Σ_j w_ij e^{ẑc_i·ẑf_j/τ}) (:func:`graphcl.losses.multi_positive.multi_positive_info_nce`).
Not MEOW's method: an option to measure how much of HeCo's lead on featureless graphs
(Freebase) its positives explain (issue 24).

Differences from the authors' code (documented choices): the top-k graph is
normalized as D^{-1/2} A D^{-1/2} with row i aggregating its own top-k (the code
propagates with the transpose: ``metapath_layout`` below); the PCL concentration uses Euclidean distances
(``concentration: meow-code``: the code's square root of faiss inner products, α 5);
k-means is ours (torch, random initial centroids as faiss, ``kmeans_restarts`` x
``kmeans_iters`` like faiss' nredo 5, niter 20), Euclidean by default
(``kmeans_metric: ip``: the code's inner-product assignment to unnormalized centroids). ``kmeans_seed``: ``"per-epoch"`` (default) draws the k-means
seed from the epoch's generator; ``"fixed"`` reuses the same seed (``seed`` + run
index) every epoch, as the authors' code does, so clusters drift only with the
embeddings;
training length and model selection follow the trainer (select on validation)
instead of early stopping on the training loss (``loss_patience`` gives the code's rule).
The code's ProtoNCE divides by mean_k · N instead of Σ_k (``contrast.py`` ProtoNCE,
``.mean(axis=1) * z.size(0)``): a constant log(N/K) added to the loss, same gradients.

``metapath_layout`` (MEOW and AdaMEOW): ``"own_topk"`` (default) keeps per row i the
``nei_max`` entries of largest PathSim (ties: i itself, then by column;
:func:`graphcl.data.metapath.pathsim_topk`) and propagates with Â = D^{-1/2} A D^{-1/2}:
row i aggregates over its own top-k. ``"reference_transposed"`` reproduces the authors'
operator (jianxiangyu/MEOW@6a072d7 ``code_meow/module/preprocess.py``: ``pathsim`` lines
78-100 (argsort at 90), ``normalize_adj`` 16-29 (transpose at 24), ``mask_edges`` 31-47; the
same functions in ``code_adameow/module/preprocess.py``: 48-70, 25-38 (33), 81-101): the
top-k in numpy's ``argsort`` order of the dense PathSim row, reversed (ties in numpy's order,
the node itself not preferred;
:func:`graphcl.models.node.meow_views.reference_topk`), then Â = D^{-1/2} Aᵀ D^{-1/2} with D
the row sums of A (``adj.dot(D).transpose().dot(D)``), likewise the masked graph
D^{-1/2} Mᵀ D^{-1/2}, and the coarse graph their mean: row i aggregates over the nodes whose
top-k holds i. Where the top-k is a tie-break (ACM's PSP: one subject per paper, every PathSim
value 1, k = 700 below many subjects' sizes) identical rows keep identical columns, so the
papers past the first 700 of a subject are in nobody's top-k: 1,252 of ACM's 4,019 papers
then have an empty PSP row (no self loop): the graph convolutions (no bias) give them 0 and
the whole-matrix normalization maps 0 to one constant vector, their shared PSP fine view
(experiments/parity/README.md, MEOW section: with this option our ACM NMI/ARI fall to the
code's, 35.2 / 31.0 vs its 33.9 / 29.8, from 44.7 / 38.8 with the default).

Featureless (one-hot) targets, e.g. HeCo's AMiner and Freebase (checked against the
code run with ``sp.eye`` features, issue 24):

* ``identity_feat_mask``: the code's ``mask_feature`` (``module/preprocess.py``) zeroes
  ⌊p·N⌋ of the one-hot matrix's N nonzeros, i.e. whole rows: those nodes' masked input
  is x W + b = b. False keeps h_mask = h (no feature augmentation at all).
* ``target_projection: per-metapath``: the code's AMiner model (``module/meow.py``
  ``p_fc_list``, ``aggregate_nei_aminer``) has one target projection per meta-path (its
  AMiner features differ per meta-path), each meta-path's copy masked separately, and
  feeds the coarse view the mean of the projections.
* Meta-path values: HeCo's (and the code's) AMiner ``pap.npz``/``prp.npz`` are boolean,
  so the code's PathSim 2A_ij/(A_ii + A_jj) is the same for every entry and its top-k
  keeps an arbitrary ``nei_max`` neighbours (numpy argsort order, sometimes not the node
  itself) with weight 1. ``data.path_counts: false`` reads the files' own values (binary)
  with our deterministic tie order (the node itself, then by column); the default
  composes the path counts (true PathSim, count weights).
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from graphcl.losses.prototypical import CONCENTRATION_FORMS, cluster_runs, prototypical_loss
from graphcl.losses.multi_positive import multi_positive_info_nce
from graphcl.losses.weighted import ClusterWeights, weighted_info_nce
from graphcl.models.node.base import FullGraphBatch, refuse_minibatch
from graphcl.models.node.meow_views import (METAPATH_LAYOUTS, coarse_graph, context_operators,
                                            mask_entries, identity_keep_rows, masked_graph,
                                            metapath_graphs, per_metapath, row_normalize)
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
        if c["target_projection"] not in ("shared", "per-metapath"):
            raise ValueError(f"target_projection must be 'shared' or 'per-metapath', "
                             f"got {c['target_projection']!r}")
        if not isinstance(c["identity_feat_mask"], bool):
            raise ValueError(f"identity_feat_mask must be true or false, got {c['identity_feat_mask']!r}")
        layout = c["metapath_layout"]
        if layout not in METAPATH_LAYOUTS:
            raise ValueError(f"metapath_layout must be one of {', '.join(METAPATH_LAYOUTS)}, got {layout!r}")
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
                                            str(c["topk_values"]), dev, layout=layout)
        self.masked = [masked_graph(ei, n, float(p), gen, dev, layout=layout) for (ei, _), p
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
        # target projections: one shared (default) or one per meta-path (the authors' AMiner code)
        n_proj = mps if c["target_projection"] == "per-metapath" else 1
        self.target_extra = nn.ModuleList(TypeProjection(self.proj[t].weight.shape[0], hidden,
                                                         identity=self.features[t] is None)
                                          for _ in range(n_proj - 1))
        self.masked_x: torch.Tensor | None = None
        self.identity_keep: list[torch.Tensor] | None = None
        if self.features[t] is None:  # identity (one-hot) features
            if c["identity_feat_mask"]:  # as the code's mask_feature on sp.eye: whole rows zeroed
                self.identity_keep = [identity_keep_rows(n, float(c["feat_mask"]), gen).to(dev)
                                      for _ in range(n_proj)]
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
        self.positive_index: torch.Tensor | None = None
        if c.get("positives", "self") == "heco":
            index = getattr(data[t], "positive_index", None)
            if index is None:
                raise ValueError(f"positives 'heco' needs HeCo's pos.npz for dataset "
                                 f"{getattr(data, 'name', '?')!r}; its folder has none")
            self.positive_index = index.to(dev)

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
        if c["positives"] not in ("self", "heco"):
            raise ValueError(f"positives must be 'self' or 'heco', got {c['positives']!r}")

    # --------------------------------------------------------------- views
    def _h(self, name: str, x: torch.Tensor | None) -> torch.Tensor:
        return F.elu(self.dropout(self.proj[name](x)))

    def _target_pairs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(h, h_mask) of the target type per target projection: h = ELU(Dropout(x W + b)),
        h_mask from the masked features; for identity features with ``identity_feat_mask``
        the masked rows are zero, so x W + b = b there (``keep ⊙ W + b``)."""
        t, out = self.target, []
        for i, proj in enumerate([self.proj[t], *self.target_extra]):
            h = F.elu(self.dropout(proj(self.features[t])))
            if self.identity_keep is not None:
                h_mask = F.elu(self.dropout(self.identity_keep[i] * proj.weight + proj.bias))
            elif self.masked_x is not None:
                h_mask = F.elu(self.dropout(proj(self.masked_x)))
            else:
                h_mask = h  # identity features, unmasked
            out.append((h, h_mask))
        return out

    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_coarse, z_fine): the coarse GCN output and the attention-fused fine view."""
        t = self.target
        pairs = self._target_pairs()
        hidden = {name: self._h(name, self.features[name])
                  for name in {name for ops in self.contexts for name, _ in ops} - {t}}
        fine = []
        for i, (ops, aggs, graph, masked) in enumerate(zip(self.contexts, self.agg, self.graphs,
                                                            self.masked)):
            h, h_mask = pairs[i if len(pairs) > 1 else 0]
            hidden[t] = h
            means = [op @ hidden[name] for name, op in ops]

            def context() -> torch.Tensor:  # fresh dropout for each of the two views
                return sum(self.dropout(lin(mean)) for lin, mean in zip(aggs, means))
            fine.append(self.encoder(F.elu(h + context()), graph))
            fine.append(self.encoder(F.elu(h_mask + context()), masked))
        z_fine, beta = self.attention([F.normalize(z, dim=1) for z in fine])
        self.last_beta = beta.detach()
        # coarse input: the target's h; per meta-path projections: their mean (the code's
        # aggregate_nei_aminer, h_coarse = torch.stack(h_tar).mean(0))
        h_coarse = pairs[0][0] if len(pairs) == 1 else torch.stack([p[0] for p in pairs]).mean(0)
        return self.encoder(h_coarse, self.coarse), z_fine

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
        if self.positive_index is not None:
            info = multi_positive_info_nce(zc, zf, self.positive_index, weights, tau,
                                           block_size=int(c["loss_block_size"]))
        else:
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
    "metapath_layout": "own_topk",   # or "reference_transposed": the authors' top-k order, transposed
    "hidden_dim": 64, "embed_dim": 64, "dropout": 0.2, "tau": 0.4,
    "feat_mask": 0.3, "adj_mask": [0.3], "normalize_features": True,
    "identity_feat_mask": True,      # one-hot targets: mask whole rows (the code's mask_feature on sp.eye)
    "target_projection": "shared",   # or "per-metapath" (the code's AMiner p_fc_list)
    "weighting": "hard", "cluster_counts": [100, 300], "lam_proto": 1.0,
    "kmeans_restarts": 5, "kmeans_iters": 20,
    "kmeans_seed": "per-epoch",  # or "fixed" (the authors' code)
    "kmeans_metric": "l2",       # or "ip": faiss inner-product assignment (the authors' code)
    "concentration": "pcl",      # or "meow-code": sqrt of the similarity, alpha 5 (the authors' code)
    "concentration_alpha": None,  # None: the form's constant (PCL 10, MEOW's code 5)
    "loss_block_size": 1024,
    "positives": "self",         # or "heco": HeCo's meta-path positives (pos.npz), not MEOW's method
    "minibatch_size": 0,  # full batch only: refuses > 0 (MEOW.full_graph_reason)
}

# jianxiangyu/MEOW code_meow/utils/params.py (acm_params), METHODS.md
MEOW_PRESETS: dict[str, dict[str, Any]] = {
    # nb_epochs 10000 with patience 30 on the training loss (code_meow/main.py:78-85 stops on it)
    "acm": {"lr": 7e-4, "tau": 0.4, "feat_mask": 0.3, "adj_mask": [0.3, 0.2], "nei_max": [110, 700],
            "hidden_dim": 64, "embed_dim": 64, "dropout": 0.2, "cluster_counts": [100, 300],
            "lam_proto": 1.0, "weight_decay": 0.0, "loss_patience": 30, "epochs": 10000},
    # code_meow/utils/params.py aminer_params (patience 25 on the training loss); the code's
    # AMiner model has one target projection per meta-path (p_fc_list) and its meta-path files
    # are HeCo's boolean ones, so its graphs are binary (see the module docstring)
    "aminer": {"lr": 7e-4, "tau": 0.9, "feat_mask": 0.2, "adj_mask": [0.7, 0.4], "nei_max": [5, 21],
               "hidden_dim": 64, "embed_dim": 64, "dropout": 0.2, "cluster_counts": [500, 1200],
               "lam_proto": 0.1, "weight_decay": 0.0, "loss_patience": 25, "epochs": 10000,
               "target_projection": "per-metapath", "identity_feat_mask": True,
               "data.path_counts": False},
    # jianxiangyu/MEOW@6a072d79648ab83f7ec7b7482af1696ed00938a1 code_meow/utils/params.py dblp_params
    # (:43-76; l2_coef -> weight_decay, patience 35 on the training loss as code_meow/main.py:78-85,
    # nb_epochs 10000 as the cap). The code's DBLP has 3 meta-paths (apa, apcpa, aptpa:
    # adj_mask [0.2, 0.5, 0.6], nei_max [25, 200, 40]); aptpa.npz is not held, so the first two
    # values are kept for apa and apcpa. Its meta-path files hold path counts (its apa.npz:
    # float counts, where HeCo's, held here, is boolean), which the default data.path_counts
    # rebuilds from the relations.
    "dblp": {"lr": 6e-4, "tau": 0.9, "feat_mask": 0.2, "adj_mask": [0.2, 0.5], "nei_max": [25, 200],
             "metapaths": ["apa", "apcpa"], "hidden_dim": 64, "embed_dim": 64, "dropout": 0.2,
             "cluster_counts": [200, 700], "lam_proto": 1.0, "weight_decay": 0.0,
             "loss_patience": 35, "epochs": 10000},
    # code_meow/utils/params.py imdb_params (:113-146; same commit), MEOW's own IMDB files
    "imdb": {"lr": 1e-4, "tau": 0.9, "feat_mask": 0.3, "adj_mask": [0.1, 0.1, 0.1],
             "nei_max": [70, 10, 70], "metapaths": ["mam", "mdm", "mkm"], "hidden_dim": 64,
             "embed_dim": 64, "dropout": 0.2, "cluster_counts": [500, 700], "lam_proto": 1.0,
             "weight_decay": 1e-3, "loss_patience": 15, "epochs": 10000},
    # The authors' code has no Freebase loader or parameters (params.py knows acm, dblp, aminer
    # and imdb only), so this preset takes HeCo's Freebase settings (liun-online/HeCo@20e8ca2
    # code/utils/params.py freebase_params; experiments/results/heco_published.md): lr 1e-3,
    # tau 0.5, feature dropout 0.1 (HeCo's feat_drop; MEOW's dropout acts on the projected
    # features), patience 20 on the training loss, HeCo's full (uncapped) boolean meta-path
    # graphs MAM, MDM, MWM. HeCo has no counterpart of MEOW's feature and edge masks or its
    # prototypes: those keep MEOW's defaults and ACM's cluster counts (Freebase's 3,492 movies
    # are ACM's size).
    "freebase": {"lr": 1e-3, "tau": 0.5, "dropout": 0.1, "metapaths": ["mam", "mdm", "mwm"],
                 "nei_max": [0], "adj_mask": [0.3], "feat_mask": 0.3, "hidden_dim": 64, "embed_dim": 64,
                 "cluster_counts": [100, 300], "lam_proto": 1.0, "weight_decay": 0.0,
                 "loss_patience": 20, "epochs": 10000, "data.path_counts": False},
}

register_method(MethodSpec(
    name="meow", kind="node", data="hetero", build=MEOW, defaults=MEOW_DEFAULTS, presets=MEOW_PRESETS,
    description="MEOW: coarse vs meta-path-context views, k-means-weighted InfoNCE + prototypes",
    paper="Yu & Li, Heterogeneous Graph Contrastive Learning with Meta-path Contexts and "
          "Weighted Negative Samples, SDM 2023"))
