"""BM3: Bootstrap latent representations for multi-modal recommendation
(Zhou et al., WWW 2023; authors' code enoche/BM3, also in enoche/MMRec).

Online network. LightGCN on the symmetric graph ``Â = D^{-1/2} A D^{-1/2}``,
mean over layers ``0..L``; users ``h_u``, items ``h_i = LightGCN_i + e_i`` (the
raw item ID embedding added once more, as in the authors' ``forward``). Each
modality ``m`` (any number, 0..M) has a feature table ``F_m`` that is
fine-tuned (``nn.Embedding.from_pretrained(freeze=False)``) and a projection
``h_m = F_m W_m + b_m`` to ``d``. One predictor ``p(x) = x W_p + b_p`` is shared
by users, items and every modality.

Target view (no EMA network): ``t(x) = stop_grad(dropout(x))``.

Loss for a batch of observed ``(u, i)`` pairs (no negative sampling), with
``c(a, b) = 1 - mean cos(a, b)``::

    c(p(h_u), t(h_i)) + c(p(h_i), t(h_u))
      + reg_weight * (||H_U||_F + ||H_I||_F) / n_items          # MMRec EmbLoss
      + cl_weight * Σ_m [ c(p(h_m,i), t(h_i)) + c(p(h_m,i), t(h_m,i)) ]

``H_U``, ``H_I`` are the full user and item output matrices (EmbLoss is
called on them, unsquared Frobenius norms divided by the row count of the last
argument, the item count). Scores: ``p(h_u) · p(h_i)``.

As in the authors' code, the dropout of a target is drawn over the whole
matrix and then indexed, so an item repeated in a batch shares its mask; here
the mask is drawn only for the rows the batch uses (same distribution, fewer
random numbers). Initialization as the authors: Xavier-uniform embeddings,
Xavier-normal weights of the projections and the predictor, PyTorch's default
biases.

Defaults: d 64, lr 1e-3, batch 2048, cl_weight 2, early stopping after 20
evaluations without gain on valid Recall@20 (MMRec's overall config), and
from the authors' search grid (layers {1, 2}, dropout {0.3, 0.5}, reg
{0.1, 0.01}) their best Baby setting: 1 layer, dropout 0.5, reg 0.1 (BM3
README; Sports: 1/0.5/0.01, Elec: 2/0.3/0.1). Not tuned here.

Modalities come from the config key ``modalities`` (see
:func:`graphcl.data.item_features.build_item_features`): ``["auto"]`` (default:
every built-in modality the item table supports, text and genre for ml-100k; ID
only when there is none), ``["text", "genre"]``, feature file paths such as
MMRec's ``image_feat.npy``, or ``[]`` for ID only.
"""
from __future__ import annotations

import warnings
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from graphcl.config import TRAIN_DEFAULTS
from graphcl.data.interactions import InteractionDataset
from graphcl.data.item_features import ItemFeatures, build_item_features
from graphcl.eval.dot_product_scores import DotProductScores
from graphcl.models.rec.base import Recommender
from graphcl.registry import MethodSpec, register_method
from graphcl.sparse import bipartite_adjacency, linear_propagation


def _cos_loss(online: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - mean cos(online, target)`` (target already detached)."""
    return 1.0 - F.cosine_similarity(online, target, dim=-1).mean()


class BM3(Recommender):
    """BM3; see the module docstring for the model and the loss.

    ``features``: an :class:`ItemFeatures` (or list of ``(num_items, dim)``
    tensors) to use instead of resolving ``config["modalities"]``.
    """

    def __init__(self, dataset: InteractionDataset, config: dict[str, Any],
                 device: torch.device | str = "cpu", features: ItemFeatures | list | None = None) -> None:
        super().__init__(dataset, config, device)
        d = int(config["embedding_dim"])
        self.num_layers = int(config["num_layers"])
        self.dropout = float(config["dropout"])
        self.reg_weight = float(config["reg_weight"])
        self.cl_weight = float(config["cl_weight"])
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"bm3: dropout must be in [0, 1), got {self.dropout}")
        if self.num_layers < 0:
            raise ValueError(f"bm3: num_layers must be >= 0, got {self.num_layers}")

        if features is None:
            specs = config.get("modalities", [])
            features = build_item_features(dataset, specs, text_encoder=config.get("text_encoder") or None)
            if not len(features) and any(str(s).lower() == "auto" for s in (specs or [])):
                warnings.warn(f"bm3: the dataset {dataset.name} has no item features; training ID only "
                              f"(give feature files with modalities=[path.npy, ...])", stacklevel=2)
        elif not isinstance(features, ItemFeatures):
            features = build_item_features(dataset, list(features))
        self.modality_names = list(features.names)

        self.user_embedding = nn.Embedding(self.num_users, d)
        self.item_id_embedding = nn.Embedding(self.num_items, d)
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_id_embedding.weight)
        self.predictor = nn.Linear(d, d)
        nn.init.xavier_normal_(self.predictor.weight)
        self.feature_tables = nn.ModuleList()
        self.projections = nn.ModuleList()
        for _, table in features:
            self.feature_tables.append(nn.Embedding.from_pretrained(table.float().clone(), freeze=False))
            proj = nn.Linear(table.size(1), d)
            nn.init.xavier_normal_(proj.weight)
            self.projections.append(proj)

        self.graph = bipartite_adjacency(dataset.train.to(self.device_), self.num_users, self.num_items)
        self._scores_cache: tuple[torch.Tensor, torch.Tensor] | None = None

    # ---------------------------------------------------------------- batches
    def batches(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of shuffled ``(users, items)`` training pairs (no negatives)."""
        pairs = self._train_pairs
        n, b = pairs.size(1), int(self.config["batch_size"])
        order = torch.randperm(n, generator=generator, device=generator.device).to(pairs.device)
        for start in range(0, n, b):
            idx = order[start:start + b]
            yield pairs[0, idx], pairs[1, idx]

    # ---------------------------------------------------------------- network
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Online user and item representations ``(H_U, H_I)`` (before the predictor)."""
        ego = torch.cat([self.user_embedding.weight, self.item_id_embedding.weight], 0)
        graph = self.graph
        if graph.device != ego.device:  # the model was moved after construction
            self.graph = graph = graph.to(ego.device)
        weights = [1.0 / (self.num_layers + 1)] * (self.num_layers + 1)
        out = linear_propagation(graph, ego, weights)
        users, items = torch.split(out, [self.num_users, self.num_items])
        return users, items + self.item_id_embedding.weight

    def _target(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return F.dropout(x.detach(), p=self.dropout, training=True)

    def loss(self, batch) -> dict[str, torch.Tensor]:
        self._scores_cache = None
        users, items = batch[0], batch[1]
        h_users, h_items = self.forward()
        uniq_u, inv_u = torch.unique(users, return_inverse=True)
        uniq_i, inv_i = torch.unique(items, return_inverse=True)
        hu, hi = h_users[uniq_u], h_items[uniq_i]
        t_u = self._target(hu)[inv_u]
        t_i = self._target(hi)[inv_i]
        p_u = self.predictor(hu)[inv_u]
        p_i = self.predictor(hi)[inv_i]
        loss_ui = _cos_loss(p_u, t_i)
        loss_iu = _cos_loss(p_i, t_u)
        reg = self.reg_weight * (h_users.norm(p=2) + h_items.norm(p=2)) / self.num_items
        parts: dict[str, torch.Tensor] = {"ui": loss_ui, "iu": loss_iu, "reg": reg}
        cl = torch.zeros((), device=hu.device)
        for name, table, proj in zip(self.modality_names, self.feature_tables, self.projections):
            h_m = proj(table(uniq_i))
            p_m = self.predictor(h_m)[inv_i]
            t_m = self._target(h_m)[inv_i]
            align = _cos_loss(p_m, t_i)  # modality -> item ID view
            intra = _cos_loss(p_m, t_m)  # modality -> its own dropped view
            parts[f"cl_{name}"] = align + intra
            cl = cl + align + intra
        total = loss_ui + loss_iu + reg + self.cl_weight * cl
        return {"loss": total, **parts}

    # ---------------------------------------------------------------- scoring
    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (user, item) tables BM3 scores with: the predictor's outputs ``p(h)`` of the
        final representations (the score is ``p(h_u) · p(h_i)``)."""
        h_users, h_items = self.forward()
        return self.predictor(h_users), self.predictor(h_items)

    def prepare_scoring(self) -> None:
        with torch.no_grad():
            self._scores_cache = self.embeddings()

    def full_scores(self, users: torch.Tensor) -> torch.Tensor:
        if self._scores_cache is None:
            self.prepare_scoring()
        p_users, p_items = self._scores_cache
        return p_users[users] @ p_items.T

    def dot_product_scores(self) -> DotProductScores:
        """The predictor's output tables, ranked blockwise by the evaluator."""
        if self._scores_cache is None:
            self.prepare_scoring()
        return DotProductScores(*self._scores_cache)

    def train(self, mode: bool = True):
        self._scores_cache = None
        return super().train(mode)


BM3_DEFAULTS = {**TRAIN_DEFAULTS, "embedding_dim": 64, "num_layers": 1, "dropout": 0.5,
                "reg_weight": 0.1, "cl_weight": 2.0, "modalities": ["auto"],
                "text_encoder": "all-MiniLM-L6-v2", "lr": 1e-3, "batch_size": 2048,
                "epochs": 1000, "patience": 20, "valid_metric": "recall@20"}

register_method(MethodSpec(
    name="bm3", kind="rec", build=BM3, defaults=BM3_DEFAULTS,
    description="BM3: bootstrapped multimodal LightGCN, dropout targets, no negative sampling",
    paper="Zhou et al., Bootstrap Latent Representations for Multi-modal Recommendation, WWW 2023"))
