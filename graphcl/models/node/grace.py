"""GRACE (Zhu et al., 2020): deep graph contrastive representation learning.

Two views by edge dropping (``p_e1``, ``p_e2``) and column feature masking
(``p_f1``, ``p_f2``); a shared GCN encoder f and projection head g
(``ELU(fc1) -> fc2``); the loss (eq. 1-2 of the paper) for node i between views
u, v::

    ℓ(u_i, v_i) = −log e^{θ(u_i,v_i)/τ} / (Σ_k e^{θ(u_i,v_k)/τ} + Σ_{k≠i} e^{θ(u_i,u_k)/τ})

with θ the cosine of the projections, J = mean_i (ℓ(u_i,v_i) + ℓ(v_i,u_i)) / 2.
Embeddings for evaluation: f on the original graph.

Edge dropping: the authors' code drops each directed edge independently
(PyG ``dropout_adj``), which is the default here (``undirected_drop: false``);
``true`` drops an edge and its reverse together.

Mini-batch training (``minibatch_size: b > 0``; default 0, full batch as
above). Each step takes b seed nodes B (all nodes once per epoch, in an order
drawn from the run's generator) and their sampled neighborhood: ``num_neighbors``
= [k_1, ..., k_L] incoming edges per node and hop (L = ``num_layers``; one value
is used for every layer; -1 = all), by
:class:`graphcl.data.neighbor_sampling.TorchNeighborSampler` through PyG's
``NodeLoader``. The two views are made *on the subgraph* (edge dropping on the
sampled edges, column masking of the sampled nodes' features), encoded by f on
the subgraph, and projected for the seeds only; the loss is the same equation
restricted to the seeds::

    ℓ_B(u_i, v_i) = −log e^{θ(u_i,v_i)/τ} / (Σ_{k∈B} e^{θ(u_i,v_k)/τ} + Σ_{k∈B, k≠i} e^{θ(u_i,u_k)/τ})
    J_B = 1/(2b) Σ_{i∈B} (ℓ_B(u_i,v_i) + ℓ_B(v_i,u_i))

How it differs from full batch: 2b − 1 negatives per anchor (the other seeds
of the batch, both views) instead of 2N − 1; a seed's embedding sees a random
subset of at most k_h neighbors per hop, and the GCN normalization uses the
in-degrees of the sampled subgraph (as PyG's ``GCNConv`` on a ``NeighborLoader``
batch); ``undirected_drop`` pairs an edge with its reverse only when both were
sampled; fresh augmentation draws per step; ⌈N / b⌉ optimizer steps per epoch.
``embed()`` stays full-graph (one no-grad pass over the whole graph, no
sampling): inference is cheap next to training's two views with autograd.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from graphcl.augment import drop_edges, mask_feature_columns
from graphcl.augment.base import bernoulli_mask, check_probability
from graphcl.data.neighbor_sampling import check_num_neighbors, gather_rows
from graphcl.losses import grace_loss
from graphcl.models.node.base import NODE_TRAIN_DEFAULTS, NodeMethod, NodeMiniBatch
from graphcl.nn.gcn import ColumnMasked, GCNEncoder
from graphcl.nn.heads import ProjectionHead
from graphcl.registry import MethodSpec, register_method
from graphcl.sparse import SparseGraph


@dataclass
class Subgraph:
    """A sampled mini-batch on the model's device: features and local ``edge_index`` of
    the sampled nodes, their global ids ``n_id`` (the ``batch_size`` seeds first) and the
    original ids ``e_id`` of the sampled edges."""
    x: torch.Tensor
    edge_index: torch.Tensor
    n_id: torch.Tensor
    e_id: torch.Tensor
    batch_size: int


def layer_fanouts(num_neighbors: Any, num_layers: int) -> list[int]:
    """One fan-out per GCN layer: ``num_neighbors`` checked, a single value repeated."""
    fan = check_num_neighbors(num_neighbors)
    if len(fan) == 1:
        return fan * num_layers
    if len(fan) != num_layers:
        raise ValueError(f"num_neighbors has {len(fan)} hops but the encoder has num_layers={num_layers} "
                         f"GCN layers: give one fan-out per layer (e.g. {[fan[0]] * num_layers}) or a single "
                         f"value for all layers")
    return fan


class GRACE(NodeMethod):
    full_graph_reason = None  # mini-batch training: see the module docstring

    def __init__(self, data: Any, config: dict[str, Any], device: torch.device | str = "cpu") -> None:
        super().__init__(data, config, device)
        c = self.config
        for key in ("p_e1", "p_e2", "p_f1", "p_f2"):
            if not 0.0 <= float(c[key]) <= 1.0:
                raise ValueError(f"{key} must be in [0, 1], got {c[key]}")
        if float(c["tau"]) <= 0:
            raise ValueError(f"tau must be > 0, got {c['tau']}")
        if self.minibatch_size > 0:
            self.setup_minibatch(layer_fanouts(c["num_neighbors"], int(c["num_layers"])))
        self.encoder = GCNEncoder(self.x.size(1), int(c["hidden_dim"]), int(c["num_layers"]),
                                  str(c["activation"]))
        self.projector = ProjectionHead(int(c["hidden_dim"]), int(c["proj_dim"]))

    # ---------------------------------------------------------------- views
    def view(self, p_edge: float, p_feat: float, generator: torch.Generator):
        """Edge dropping and feature column masking (GRACE's two augmentations). The column
        mask is applied in the encoder's first layer (:class:`graphcl.nn.gcn.ColumnMasked`:
        X diag(m) W = X (m ⊙ W)), drawn as :func:`graphcl.augment.mask_feature_columns` draws it."""
        edge_index, _ = drop_edges(self.edge_index, p_edge, num_nodes=self.num_nodes,
                                   undirected=bool(self.config["undirected_drop"]), generator=generator)
        keep = bernoulli_mask(check_probability(p_feat), self.x.size(1), self.x.device, generator)
        return ColumnMasked(self.feature_operator(), keep), edge_index, None

    def feature_operator(self) -> torch.Tensor | SparseGraph:
        """``self.x`` as the first layer multiplies it: a SparseGraph (built once) when sparse."""
        if self.x.layout != torch.sparse_csr:
            return self.x
        if getattr(self, "_feature_graph", None) is None:
            self._feature_graph = SparseGraph(self.x)
        return self._feature_graph

    def node_bias(self) -> torch.Tensor | None:
        """Additive per-node similarity bias (CSGCL's team-up term); none for GRACE."""
        return None

    def step_loss(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        c = self.config
        x1, e1, w1 = self.view(float(c["p_e1"]), float(c["p_f1"]), generator)
        x2, e2, w2 = self.view(float(c["p_e2"]), float(c["p_f2"]), generator)
        z1 = self.projector(self.encoder(x1, e1, w1))
        z2 = self.projector(self.encoder(x2, e2, w2))
        loss = grace_loss(z1, z2, float(c["tau"]), node_bias=self.node_bias(),
                          block_size=int(c["loss_block_size"]))
        return {"loss": loss}

    # ----------------------------------------------------------- mini-batch
    def subgraph(self, data: Any) -> Subgraph:
        """The loader's ``Data`` mini-batch as a :class:`Subgraph` on the model's device."""
        dev = self.device_
        n_id = data.n_id.to(dev)
        return Subgraph(x=gather_rows(self.x, n_id), edge_index=data.edge_index.to(dev), n_id=n_id,
                        e_id=data.e_id.to(dev), batch_size=int(data.batch_size))

    def subgraph_view(self, sub: Subgraph, p_edge: float, p_feat: float, generator: torch.Generator):
        """GRACE's view of a sampled subgraph: edge dropping on its edges, column masking of its x."""
        edge_index, _ = drop_edges(sub.edge_index, p_edge, num_nodes=sub.x.size(0),
                                   undirected=bool(self.config["undirected_drop"]), generator=generator)
        x = mask_feature_columns(sub.x, p_feat, generator=generator)
        return x, edge_index, None

    def minibatch_loss(self, batch: NodeMiniBatch) -> dict[str, torch.Tensor]:
        """J_B of the module docstring on one sampled subgraph (seed nodes only)."""
        c = self.config
        sub = self.subgraph(batch.data)
        x1, e1, w1 = self.subgraph_view(sub, float(c["p_e1"]), float(c["p_f1"]), batch.generator)
        x2, e2, w2 = self.subgraph_view(sub, float(c["p_e2"]), float(c["p_f2"]), batch.generator)
        b = sub.batch_size
        z1 = self.projector(self.encoder(x1, e1, w1)[:b])
        z2 = self.projector(self.encoder(x2, e2, w2)[:b])
        bias = self.node_bias()
        if bias is not None:
            bias = bias[sub.n_id[:b]]
        loss = grace_loss(z1, z2, float(c["tau"]), node_bias=bias, block_size=int(c["loss_block_size"]))
        return {"loss": loss}

    @torch.no_grad()
    def embed(self) -> torch.Tensor:
        return self.encoder(self.x, self.edge_index)


GRACE_DEFAULTS: dict[str, Any] = {
    **NODE_TRAIN_DEFAULTS,
    "epochs": 200, "lr": 5e-4, "weight_decay": 1e-5,
    "hidden_dim": 128, "proj_dim": 128, "num_layers": 2, "activation": "relu",
    "p_e1": 0.2, "p_e2": 0.4, "p_f1": 0.3, "p_f2": 0.4, "tau": 0.4,
    "undirected_drop": False, "loss_block_size": 4096,
    # mini-batch training (minibatch_size > 0): fan-out per hop, one per GCN layer (-1 = all)
    "num_neighbors": [10, 10],
}

# GRACE paper, Table 5 (and the authors' config.yaml)
# (CRIPAC-DIG/GRACE@b3b5ac3fcbaabbb50e8bd69a075b46cd82a50378 config.yaml: Cora, CiteSeer, PubMed; PubMed
# is not loadable here (ind.pubmed.allx missing); its DBLP is the citation graph, not HeCo's dblp:
# no preset for it)
GRACE_PRESETS: dict[str, dict[str, Any]] = {
    "cora": {"lr": 5e-4, "hidden_dim": 128, "proj_dim": 128, "activation": "relu", "p_e1": 0.2,
             "p_e2": 0.4, "p_f1": 0.3, "p_f2": 0.4, "tau": 0.4, "epochs": 200, "weight_decay": 1e-5},
    "citeseer": {"lr": 1e-3, "hidden_dim": 256, "proj_dim": 256, "activation": "prelu", "p_e1": 0.2,
                 "p_e2": 0.0, "p_f1": 0.3, "p_f2": 0.2, "tau": 0.9, "epochs": 200, "weight_decay": 1e-5},
    "pubmed": {"lr": 1e-3, "hidden_dim": 256, "proj_dim": 256, "activation": "relu", "p_e1": 0.4,
               "p_e2": 0.1, "p_f1": 0.0, "p_f2": 0.2, "tau": 0.7, "epochs": 1500, "weight_decay": 1e-5},
}

register_method(MethodSpec(
    name="grace", kind="node", build=GRACE, defaults=GRACE_DEFAULTS, presets=GRACE_PRESETS,
    description="GRACE: two augmented views, node-level InfoNCE with intra-view negatives",
    paper="Zhu et al., Deep Graph Contrastive Representation Learning, 2020"))
