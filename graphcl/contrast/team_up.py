"""CSGCL's team-up objective as a pipeline loss (Chen et al., IJCAI 2023, eq. 8-10).

``team_up`` ``{tau: 0.5, t0: 100, gamma_max: 1.0, method: louvain, seed: null, block_size: 4096}``:
GRACE's two-view InfoNCE with intra-view negatives (:class:`~graphcl.contrast.objectives.InfoNCEObjective`)
where every similarity carries the community strengths of its two nodes,

    s'_ij = θ(u_i, v_j) + γ_t (CS_i + CS_j)                                  (eq. 9)
    γ_t = min(max(0, (t − t0) / 100), γ_max)                                  (eq. 10)

θ the cosine, CS_i the strength CS_c = L_c/m − (d_c/2m)² of node i's community (eq. 3) in the
input graph, detected once in ``prepare`` (``method`` louvain or leiden, ``seed`` None: the
run's seed, as the authors' code). t counts the objective's steps from 1 (one step per epoch
in full-graph training, so t is CSGCL's epoch); the count is saved with the pipeline, so a
resumed run continues the schedule. With γ_t = 0 (t ≤ t0) the loss is GRACE's exactly
(:func:`graphcl.losses.grace_loss` with ``node_bias = γ_t · CS``).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from graphcl.contrast.community_ops import check_community_method, community_structure
from graphcl.contrast.objectives import Objective, register_objective
from graphcl.losses import grace_loss

__all__ = ["TeamUpObjective"]


class TeamUpObjective(Objective):
    name = "team_up"

    def __init__(self, tau: float = 0.5, t0: int = 100, gamma_max: float = 1.0, method: str = "louvain",
                 seed: int | None = None, block_size: int = 4096) -> None:
        if not float(tau) > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if int(t0) < 0 or not float(gamma_max) >= 0:
            raise ValueError(f"t0 and gamma_max must be >= 0, got t0={t0}, gamma_max={gamma_max}")
        if int(block_size) < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        super().__init__()
        self.tau, self.t0, self.gamma_max = float(tau), int(t0), float(gamma_max)
        self.method = check_community_method(method)
        self.seed = None if seed is None else int(seed)
        self.block_size = int(block_size)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("cs_node", torch.zeros(0), persistent=False)

    def params(self) -> dict[str, Any]:
        return {"tau": self.tau, "t0": self.t0, "gamma_max": self.gamma_max, "method": self.method,
                "seed": self.seed, "block_size": self.block_size}

    def prepare(self, graph: Any) -> None:
        """CS_i of every node of the input graph (eq. 3)."""
        seed = self.run_seed if self.seed is None else self.seed
        self.cs_node = community_structure(graph, self.method, seed).cs_node.to(self.steps.device)

    def gamma_at(self, t: int) -> float:
        """Eq. 10: γ_t = min(max(0, (t − t0)/100), γ_max), t counted from 1."""
        return min(max(0.0, (int(t) - self.t0) / 100.0), self.gamma_max)

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        if z1.dim() != 2 or z1.shape != z2.shape:
            raise ValueError(f"the two views' outputs must be (N, d) of equal shape, got {tuple(z1.shape)} "
                             f"and {tuple(z2.shape)}")
        if self.cs_node.numel() != z1.size(0):
            raise ValueError(f"team_up holds community strengths of {self.cs_node.numel()} nodes (prepare the "
                             f"pipeline on the graph first), the views have {z1.size(0)}")
        gamma = self.gamma_at(int(self.steps) + 1)
        self.steps += 1
        bias = None if gamma == 0.0 else gamma * self.cs_node
        return grace_loss(z1, z2, self.tau, node_bias=bias, block_size=self.block_size)


register_objective(TeamUpObjective)
