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
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from graphcl.augment import drop_edges, mask_feature_columns
from graphcl.losses import grace_loss
from graphcl.models.node.base import NODE_TRAIN_DEFAULTS, NodeMethod
from graphcl.nn.gcn import GCNEncoder
from graphcl.registry import MethodSpec, register_method


class ProjectionHead(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.elu(self.fc1(h)))


class GRACE(NodeMethod):
    def __init__(self, data: Any, config: dict[str, Any], device: torch.device | str = "cpu") -> None:
        super().__init__(data, config, device)
        c = self.config
        for key in ("p_e1", "p_e2", "p_f1", "p_f2"):
            if not 0.0 <= float(c[key]) <= 1.0:
                raise ValueError(f"{key} must be in [0, 1], got {c[key]}")
        if float(c["tau"]) <= 0:
            raise ValueError(f"tau must be > 0, got {c['tau']}")
        self.encoder = GCNEncoder(self.x.size(1), int(c["hidden_dim"]), int(c["num_layers"]),
                                  str(c["activation"]))
        self.projector = ProjectionHead(int(c["hidden_dim"]), int(c["proj_dim"]))

    # ---------------------------------------------------------------- views
    def view(self, p_edge: float, p_feat: float, generator: torch.Generator):
        edge_index, _ = drop_edges(self.edge_index, p_edge, num_nodes=self.num_nodes,
                                   undirected=bool(self.config["undirected_drop"]), generator=generator)
        x = mask_feature_columns(self.x, p_feat, generator=generator)
        return x, edge_index, None

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

    @torch.no_grad()
    def embed(self) -> torch.Tensor:
        return self.encoder(self.x, self.edge_index)


GRACE_DEFAULTS: dict[str, Any] = {
    **NODE_TRAIN_DEFAULTS,
    "epochs": 200, "lr": 5e-4, "weight_decay": 1e-5,
    "hidden_dim": 128, "proj_dim": 128, "num_layers": 2, "activation": "relu",
    "p_e1": 0.2, "p_e2": 0.4, "p_f1": 0.3, "p_f2": 0.4, "tau": 0.4,
    "undirected_drop": False, "loss_block_size": 4096,
}

# GRACE paper, Table 5 (and the authors' config.yaml)
GRACE_PRESETS: dict[str, dict[str, Any]] = {
    "cora": {"lr": 5e-4, "hidden_dim": 128, "proj_dim": 128, "activation": "relu", "p_e1": 0.2,
             "p_e2": 0.4, "p_f1": 0.3, "p_f2": 0.4, "tau": 0.4, "epochs": 200, "weight_decay": 1e-5},
    "citeseer": {"lr": 1e-3, "hidden_dim": 256, "proj_dim": 256, "activation": "prelu", "p_e1": 0.2,
                 "p_e2": 0.0, "p_f1": 0.3, "p_f2": 0.2, "tau": 0.9, "epochs": 200, "weight_decay": 1e-5},
}

register_method(MethodSpec(
    name="grace", kind="node", build=GRACE, defaults=GRACE_DEFAULTS, presets=GRACE_PRESETS,
    description="GRACE: two augmented views, node-level InfoNCE with intra-view negatives",
    paper="Zhu et al., Deep Graph Contrastive Representation Learning, 2020"))
