"""Recommenders composed in config, views x LightGCN x loss on the user-item graph, trained
with L = L_BPR + λ·L_cl + reg; and the anchor libraries' methods as its presets.

Config keys (besides the training keys):

* ``view1``, ``view2``: lists of view operations on the interaction graph
  (``edge_drop``, ``node_drop``, ``layer_edge_drop``, ``embedding_noise``,
  ``rescaled_edge_dropout``, ``centrality_edge_drop``, ``communal_edge_drop``, ``svd_view``; see
  :mod:`graphcl.contrast.view_ops` and :mod:`graphcl.contrast.interaction_ops`).
* ``encoder``: ``{lightgcn: {layers: 3, include_ego: true, init: xavier}}``
  (:class:`graphcl.contrast.propagation.LightGCNPropagation`, width ``embedding_dim``).
* ``loss``: ``{infonce: {tau: 0.2, joint: false}}`` (:mod:`graphcl.contrast.rec_objectives`),
  weighted by ``cl_weight`` (λ) and taken over the batch's distinct users and distinct
  positive items.
* ``cl_pairs``: ``views`` (the combined embeddings of view 1 against those of view 2: SGL,
  SimGCL) or ``cross_layer`` (one forward on view 1; its combination against its layer
  ``cl_layer`` output: XSimGCL eq. 9, l* = ``cl_layer``; ``view2`` must be empty).
* ``bpr_on``: ``input`` (BPR on the input graph's embeddings, an extra forward: SGL,
  SimGCL) or ``view1`` (BPR on view 1's: XSimGCL trains its recommendation loss on the
  perturbed forward).
* ``redraw``: ``epoch`` (graph views drawn once per epoch, as SGL's code) or ``step``.
  Embedding noise is drawn at every forward either way.
* ``reg_form``: ``squared_ego`` (λ₂ Σ_t ‖E⁰_t‖² / (2B) over the batch rows of the ego
  embeddings, LightGCN eq. 15 and SGL eq. 12) or ``norm`` (λ₂ Σ_t ‖E_t‖_F / B, not squared,
  on the propagated batch rows: SELFRec's ``l2_reg_loss``); ``reg_terms`` which rows
  (``user``, ``pos``, ``neg``; SELFRec's SimGCL and XSimGCL use user and pos only);
  ``params_squared``: λ₂ ‖Θ‖² of every parameter, both full tables, every step (LightGCL eq. 8).

BPR is −mean log σ(ŷ_ui − ŷ_uj) computed as softplus (SELFRec adds 1e-5 inside the log:
a difference only where σ < 1e-4). Scoring: ŷ_ui = e_u·e_i of the input graph, no noise.

Presets (registered as methods; defaults from the papers and the authors' code):

* ``sgl`` (Wu et al. SIGIR 2021): ED views ρ = 0.1 (eq. 4), τ = 0.2, λ₁ = 0.1, λ₂ = 1e-4,
  3 layers, layer-0 included, user and item losses summed (eq. 11), squared ego
  regularization, views redrawn each epoch. ND: ``node_drop``; RW: ``layer_edge_drop``.
* ``simgcl`` (Yu et al. SIGIR 2022; Coder-Yu/SELFRec@5b02294 conf/SimGCL.yaml and
  model/graph/SimGCL.py, the first author's code): two noise views ε = 0.1 (eq. 7), τ = 0.2,
  λ = 0.5, 2 layers, layer 0 excluded from the mean, ``norm`` regularization of user and
  positive rows with λ₂ = 1e-4.
* LightGCL (Cai et al. ICLR 2023) is the composition :func:`lightgcl_recipe`: view 1 the graph,
  view 2 its ``svd_view`` fed by view 1's layers, ``combine: sum``, ``all_infonce``,
  ``params_squared``, BPR on view 1; for the same seed it trains what ``lightgcl`` trains
  (``tests/test_contrast_lightgcl.py``).
* ``xsimgcl`` (Yu et al. TKDE 2023; SELFRec conf/XSimGCL.yaml, model/graph/XSimGCL.py): one
  noise view ε = 0.2, final vs layer-1 embeddings (l* = 1), τ = 0.15, λ = 0.2, 2 layers,
  BPR on the perturbed forward.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from graphcl.config import TRAIN_DEFAULTS, ConfigError
from graphcl.contrast.interaction_view import InteractionView
from graphcl.contrast.named import build_named
from graphcl.contrast.propagation import LightGCNPropagation
from graphcl.contrast.rec_objectives import build_rec_objective
from graphcl.contrast.views import View
from graphcl.data.interactions import InteractionDataset
from graphcl.models.rec.base import Recommender, bpr_loss
from graphcl.models.rec.batch_rows import counted_square_sum, gather_triples
from graphcl.registry import MethodSpec, register_method

__all__ = ["ContrastRecommender", "lightgcl_recipe", "CONTRAST_REC_DEFAULTS", "SGL_DEFAULTS", "SGL_PRESETS", "SIMGCL_DEFAULTS", "XSIMGCL_DEFAULTS"]

REC_ENCODERS = {"lightgcn": LightGCNPropagation}
CHOICES = {"cl_pairs": ("views", "cross_layer"), "bpr_on": ("input", "view1"), "redraw": ("epoch", "step"),
           "reg_form": ("squared_ego", "norm", "params_squared")}
REG_TERMS = ("user", "pos", "neg")


class ContrastRecommender(Recommender):
    """Views x LightGCN x loss on the user-item graph; see the module docstring."""

    def __init__(self, dataset: InteractionDataset, config: dict[str, Any],
                 device: torch.device | str = "cpu") -> None:
        super().__init__(dataset, config, device)
        cfg = self.config
        _check_choices(cfg)
        self.encoder = build_named(cfg["encoder"], REC_ENCODERS, "encoder", "encoder on an interaction graph",
                                   self.num_users, self.num_items, dim=int(cfg["embedding_dim"])).to(self.device_)
        self.objective = build_rec_objective(cfg["loss"])
        views = [View(cfg["view1"] or [], "view1"), View(cfg["view2"] or [], "view2")]
        for view in views:
            view.check_kind("interaction")
        if cfg["cl_pairs"] == "cross_layer":
            if len(views[1]):
                raise ConfigError("cl_pairs cross_layer compares two layers of one forward on view1; view2 must be "
                                  f"empty, got {views[1].config()}")
            if not 1 <= int(cfg["cl_layer"]) <= self.encoder.num_layers:
                raise ConfigError(f"cl_layer must lie in [1, {self.encoder.num_layers}] (the encoder's layers), "
                                  f"got {cfg['cl_layer']}")
            views = views[:1]
        if any(op.name == "svd_view" and op.params()["feed"] == "view1" for op in views[0].ops):
            raise ConfigError("view1: svd_view with feed: view1 reads view 1's own layers; put it in view2 "
                              "(LightGCL: view1 the graph, view2 its SVD view) or use feed: own")
        self.views = views
        self.graph = InteractionView(self._train_pairs, self.num_users, self.num_items,
                                     num_layers=self.encoder.num_layers)
        for view in self.views:
            view.prepare(self.graph, int(cfg["seed"]))
        self._generator: torch.Generator | None = None
        self._drawn: list[InteractionView] | None = None

    # -------------------------------------------------------------- training
    def draw_views(self, generator: torch.Generator | None) -> list[InteractionView]:
        """Each view of the input graph, drawn from ``generator`` in order."""
        return [view(self.graph, generator) for view in self.views]

    def batches(self, generator: torch.Generator) -> Iterator[Any]:
        self._generator = generator
        if self.config["redraw"] == "epoch":
            self._drawn = self.draw_views(generator)
        return super().batches(generator)

    def _views_now(self) -> list[InteractionView]:
        if self.config["redraw"] == "step" or self._drawn is None:
            return self.draw_views(self._generator)
        return self._drawn

    def loss(self, batch: Any) -> dict[str, torch.Tensor]:
        """``L_BPR + λ L_cl + reg`` for one batch of ``(users, pos, neg)``."""
        self._cache = None
        cfg = self.config
        users, pos, neg = batch
        neg = neg[:, 0] if neg.dim() == 2 else neg
        drawn = self._views_now()
        gen = self._generator
        if cfg["cl_pairs"] == "cross_layer":
            layers = self.encoder.layers(drawn[0], gen)
            z1, z2 = self.encoder.combine(layers), layers[int(cfg["cl_layer"])]
        elif drawn[1].svd is not None and drawn[1].svd_feed == "view1":
            layers1 = self.encoder.layers(drawn[0], gen)     # LightGCL: the SVD view reads view 1's layers
            z1 = self.encoder.combine(layers1)
            z2 = self.encoder.combine(self.encoder.layers(drawn[1], gen, feed=layers1))
        else:
            z1, z2 = self.encoder(drawn[0], gen), self.encoder(drawn[1], gen)
        final = z1 if cfg["bpr_on"] == "view1" else self.encoder(self.graph, gen)
        u, p, n = gather_triples(final, self.num_users, users, pos, neg)
        rec = bpr_loss((u * p).sum(-1), (u * n).sum(-1))
        if getattr(self.objective, "scope", "batch") == "all":
            (u1, i1), (u2, i2) = self.encoder.split(z1), self.encoder.split(z2)
            cl = float(cfg["cl_weight"]) * self.objective(u1, u2, i1, i2, users, torch.cat([pos, neg]))
        else:
            uu, ii = torch.unique(users), torch.unique(pos)
            rows = torch.cat([uu, ii + self.num_users])  # one gather per view, as gather_triples
            u1, i1 = z1.index_select(0, rows).split([uu.numel(), ii.numel()])
            u2, i2 = z2.index_select(0, rows).split([uu.numel(), ii.numel()])
            cl = float(cfg["cl_weight"]) * self.objective(u1, u2, i1, i2)
        reg = float(cfg["reg_weight"]) * self._regularizer(users, pos, neg, {"user": u, "pos": p, "neg": n})
        return {"loss": rec + cl + reg, "bpr": rec, "cl": cl, "reg": reg}

    def _regularizer(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
                     propagated: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.config["reg_form"] == "params_squared":
            return sum(p.pow(2).sum() for p in self.parameters())
        terms = list(self.config["reg_terms"])
        batch = users.numel()
        if self.config["reg_form"] == "norm":
            return sum(torch.linalg.vector_norm(propagated[t]) for t in terms) / batch
        user_rows = [users] if "user" in terms else []
        item_rows = [rows for t, rows in (("pos", pos), ("neg", neg)) if t in terms]
        total = self.encoder.user_embedding.new_zeros(())
        for table, rows in ((self.encoder.user_embedding, user_rows), (self.encoder.item_embedding, item_rows)):
            if rows:
                total = total + counted_square_sum(table, torch.cat(rows))
        return total / (2 * batch)

    # --------------------------------------------------------------- scoring
    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The input graph's combined embeddings, no noise."""
        return self.encoder.split(self.encoder(self.graph))


def _check_choices(cfg: dict[str, Any]) -> None:
    for key, allowed in CHOICES.items():
        if cfg[key] not in allowed:
            raise ConfigError(f"config key '{key}' must be one of {', '.join(allowed)}, got {cfg[key]!r}")
    terms = cfg["reg_terms"]
    if not isinstance(terms, (list, tuple)) or not terms or any(t not in REG_TERMS for t in terms) \
            or len(set(terms)) != len(terms):
        raise ConfigError(f"config key 'reg_terms' must be a non-empty list of distinct {', '.join(REG_TERMS)}, "
                          f"got {terms!r}")


CONTRAST_REC_DEFAULTS: dict[str, Any] = {
    **TRAIN_DEFAULTS, "epochs": 100, "lr": 1e-3, "batch_size": 2048, "embedding_dim": 64,
    "view1": [{"edge_drop": {"p": 0.1, "exact": True}}],
    "view2": [{"edge_drop": {"p": 0.1, "exact": True}}],
    "encoder": {"lightgcn": {"layers": 3, "include_ego": True}},
    "loss": {"infonce": {"tau": 0.2, "joint": False}},
    "cl_weight": 0.1, "cl_pairs": "views", "cl_layer": 1, "bpr_on": "input", "redraw": "epoch",
    "reg_weight": 1e-4, "reg_form": "squared_ego", "reg_terms": ["user", "pos", "neg"],
}

#: SGL-ED (Wu et al. SIGIR 2021 sec. 4.1: ρ = 0.1, τ = 0.2, λ₁ = 0.1, λ₂ = 1e-4, d = 64,
#: batch 2048, lr 1e-3; 3 layers as its headline comparison)
SGL_DEFAULTS: dict[str, Any] = dict(CONTRAST_REC_DEFAULTS)

#: not a paper dataset of SGL: on ml-100k the paper's λ₁ = 0.1 holds test NDCG@20 near 0.02 for
#: 30 epochs (the cosine InfoNCE's gradients dominate BPR's on this dense graph; SELFRec's SGL
#: does the same, experiments/results/parity.md); λ₁ = 0.01 selected on validation NDCG@20 from
#: {0.1, 0.01} (0.2384 vs 0.0207, 3 seeds, 30 epochs; experiments/results/contrast_rec_ced_ml100k.md)
SGL_PRESETS: dict[str, dict[str, Any]] = {"ml-100k": {"cl_weight": 0.01}}

#: SimGCL (SIGIR 2022) as its authors' code runs it (SELFRec conf/SimGCL.yaml)
SIMGCL_DEFAULTS: dict[str, Any] = {
    **CONTRAST_REC_DEFAULTS,
    "view1": [{"embedding_noise": {"eps": 0.1}}], "view2": [{"embedding_noise": {"eps": 0.1}}],
    "encoder": {"lightgcn": {"layers": 2, "include_ego": False}},
    "loss": {"infonce": {"tau": 0.2, "joint": False}}, "cl_weight": 0.5,
    "reg_form": "norm", "reg_terms": ["user", "pos"],
}

#: XSimGCL (TKDE 2023) as its authors' code runs it (SELFRec conf/XSimGCL.yaml)
XSIMGCL_DEFAULTS: dict[str, Any] = {
    **SIMGCL_DEFAULTS,
    "view1": [{"embedding_noise": {"eps": 0.2}}], "view2": [],
    "loss": {"infonce": {"tau": 0.15, "joint": False}}, "cl_weight": 0.2,
    "cl_pairs": "cross_layer", "cl_layer": 1, "bpr_on": "view1",
}

def lightgcl_recipe(cfg: dict[str, Any]) -> dict[str, Any]:
    """LightGCL's settings (the ``lightgcl`` method's config keys) as a composition (module
    docstring). Its rescaled per-layer edge dropout is view 1's ``rescaled_edge_dropout``
    (equal to the method's in distribution, not draw for draw: the pipeline draws one mask
    over the (U+I)-square graph where the method draws one for Â and one for Âᵀ). The paper's
    per-layer loss has no pipeline form yet: ``cl_layers: per_layer`` is refused."""
    if cfg["cl_layers"] != "final":
        raise ConfigError("lightgcl_recipe: cl_layers per_layer (the paper's sum over layers) has no pipeline "
                          "form yet; use the lightgcl method")
    p = float(cfg["edge_dropout"])
    view1 = [{"rescaled_edge_dropout": {"p": p}}] if p > 0 else []
    return {"epochs": cfg["epochs"], "lr": cfg["lr"], "batch_size": cfg["batch_size"],
            "embedding_dim": cfg["embedding_dim"],
            "view1": view1, "view2": [{"svd_view": {"rank": cfg["svd_rank"], "niter": cfg["svd_niter"], "feed": "view1"}}],
            "encoder": {"lightgcn": {"layers": cfg["num_layers"], "include_ego": True, "combine": "sum"}},
            "loss": {"all_infonce": {"tau": cfg["temperature"], "pos_clamp": cfg["cl_pos_clamp"],
                                     "cosine": cfg["cl_similarity"] == "cosine", "unique": cfg["cl_unique"],
                                     "negatives": cfg["contrastive"], "block_size": cfg["cl_block_size"],
                                     "keep_mb": cfg["cl_keep_mb"]}},
            "cl_weight": cfg["cl_weight"], "cl_pairs": "views", "bpr_on": "view1", "redraw": "epoch",
            "reg_weight": cfg["reg_weight"], "reg_form": "params_squared"}


for _name, _defaults, _presets, _description, _paper in (
        ("contrast_rec", CONTRAST_REC_DEFAULTS, {}, "views x LightGCN x loss on the user-item graph, BPR + λ·CL "
         "(defaults: SGL-ED)", "graphcl's pipeline; SGL (Wu et al. 2021), SimGCL (Yu et al. 2022) parts"),
        ("sgl", SGL_DEFAULTS, SGL_PRESETS, "SGL: edge/node/random-walk dropout views, InfoNCE + BPR on LightGCN",
         "Wu et al., Self-supervised Graph Learning for Recommendation, SIGIR 2021"),
        ("simgcl", SIMGCL_DEFAULTS, {}, "SimGCL: uniform-noise embedding views, InfoNCE + BPR on LightGCN",
         "Yu et al., Are Graph Augmentations Necessary? Simple Graph Contrastive Learning for "
         "Recommendation, SIGIR 2022"),
        ("xsimgcl", XSIMGCL_DEFAULTS, {}, "XSimGCL: one noisy forward, final vs layer-l* InfoNCE + BPR",
         "Yu et al., XSimGCL: Towards Extremely Simple Graph Contrastive Learning for Recommendation, "
         "TKDE 2023")):
    register_method(MethodSpec(name=_name, kind="rec", build=ContrastRecommender, defaults=_defaults,
                               presets=_presets, description=_description, paper=_paper))
