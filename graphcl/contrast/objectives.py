"""Two-view objectives of a contrastive pipeline: ``objective(z1, z2) -> scalar``.

Rows i of z1 and z2 are the same node in the two views (the positive pair). By name in
a config, one-key mapping to the parameters:

* ``infonce`` ``{tau: 0.5, intra_view: true, block_size: 4096}``. With ``intra_view``
  (GRACE, Zhu et al. 2020, eq. 1-2), u = z1/‖z1‖, v = z2/‖z2‖,
  ℓ(u_i, v_i) = −log e^{u_i·v_i/τ} / (Σ_k e^{u_i·v_k/τ} + Σ_{k≠i} e^{u_i·u_k/τ}),
  L = 1/(2N) Σ_i [ℓ(u_i, v_i) + ℓ(v_i, u_i)] (:func:`graphcl.losses.grace_loss`, exact
  blockwise above 4096 nodes). Without (cross-view negatives only, as CLIP / SimCLR's
  two-batch form): ℓ(u_i, v_i) = −u_i·v_i/τ + log Σ_k e^{u_i·v_k/τ}, same symmetric mean,
  the log-sum-exp computed blockwise (:func:`graphcl.losses.logsumexp.blockwise_logsumexp_matmul`).
* ``dgi`` ``{}`` (Deep Graph Infomax, Veličković et al. ICLR 2019, eq. 1 and sec. 3.4): view 1
  the graph, view 2 its corruption (``feature_shuffle``); readout s = σ(mean_i h_i) of view 1,
  bilinear discriminator D(h, s) = hᵀ W s + b (W Glorot-initialized, b = 0, as the authors'
  ``nn.Bilinear``), L = −1/(2N) [Σ_i log σ(D(h_i, s)) + Σ_i log(1 − σ(D(h̃_i, s)))] (the code's
  BCE-with-logits over the 2N scores). Its W is a parameter of the pipeline.
* ``bootstrap`` ``{predictor_hidden: 512, momentum: 0.99, target_init: reinit}`` (BGRL, Thakoor
  et al. ICLR 2022, eq. 1-2): an online branch (the pipeline's encoder and head, then the
  predictor q = W₂ PReLU(W₁ h + b₁) + b₂) and a target encoder updated by momentum,
  φ ← m_t φ + (1 − m_t) θ with m_t = 1 − (1 − m)(cos(π t/T) + 1)/2 after step t of T;
  L = 2 − cos(q(h_1), y_2) − cos(q(h_2), y_1), each cosine averaged over the nodes, y the
  target's outputs (no gradient). ``target_init: reinit`` initializes the target with fresh
  random weights (the authors' code: a copy, then ``reset_parameters``), ``copy`` with the
  online weights (BYOL). The pipeline applies step t's update at the start of step t + 1
  (the same weights whenever the target is used); T is the run's number of steps.
* ``barlow_twins`` ``{lambda_: null, eps: 1e-15}`` (G-BT, Bielak et al. 2022, eq. 1-2;
  Barlow Twins, Zbontar et al. 2021): each dimension standardized over the nodes,
  z̃ = (z − mean) / (std + eps) (std with Bessel's correction, as the authors' code),
  C = z̃1ᵀ z̃2 / N (D x D), L = Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij², λ = 1/D by default.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.contrast.named import build_named, split_named
from graphcl.errors import ConfigError
from graphcl.losses import grace_loss
from graphcl.losses.logsumexp import blockwise_logsumexp_matmul

__all__ = ["Objective", "InfoNCEObjective", "BarlowTwinsObjective", "DGIObjective", "BootstrapObjective",
           "OBJECTIVES", "build_objective", "register_objective"]


class Objective(nn.Module):
    """Base of the pipeline objectives: ``objective(z1, z2) -> scalar`` (a module, so an
    objective with parameters, such as DGI's discriminator, trains with the pipeline)."""

    #: the number of views the objective compares
    num_views: int = 2
    name: str = ""
    #: the run's seed, for objectives that draw something once (set by the pipeline's ``prepare``)
    run_seed: int = 0

    def prepare(self, graph: Any) -> None:
        """Precompute what depends only on the input graph (called once, before training)."""

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.params().items())


def _check_pair(z1: Tensor, z2: Tensor) -> None:
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"the two views' outputs must be (N, d) of equal shape, got {tuple(z1.shape)} "
                         f"and {tuple(z2.shape)}")


class InfoNCEObjective(Objective):
    name = "infonce"

    def __init__(self, tau: float = 0.5, intra_view: bool = True, block_size: int = 4096) -> None:
        if not float(tau) > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if int(block_size) < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        super().__init__()
        self.tau, self.intra_view, self.block_size = float(tau), bool(intra_view), int(block_size)

    def params(self) -> dict[str, Any]:
        return {"tau": self.tau, "intra_view": self.intra_view, "block_size": self.block_size}

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        _check_pair(z1, z2)
        if self.intra_view:
            return grace_loss(z1, z2, self.tau, block_size=self.block_size)
        u, v = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        positive = (u * v).sum(1) / self.tau
        lse_u = blockwise_logsumexp_matmul(u, v, self.tau, self.block_size)
        lse_v = blockwise_logsumexp_matmul(v, u, self.tau, self.block_size)
        return ((lse_u - positive) + (lse_v - positive)).mean() / 2


class BarlowTwinsObjective(Objective):
    name = "barlow_twins"

    def __init__(self, lambda_: float | None = None, eps: float = 1e-15) -> None:
        if lambda_ is not None and not float(lambda_) >= 0:
            raise ValueError(f"lambda_ must be >= 0, got {lambda_}")
        super().__init__()
        self.lambda_ = None if lambda_ is None else float(lambda_)
        self.eps = float(eps)

    def params(self) -> dict[str, Any]:
        return {"lambda_": self.lambda_, "eps": self.eps}

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        _check_pair(z1, z2)
        n, d = z1.shape
        if n < 2:
            raise ValueError("barlow_twins standardizes over the nodes: it needs at least 2 rows")
        a = (z1 - z1.mean(0)) / (z1.std(0) + self.eps)
        b = (z2 - z2.mean(0)) / (z2.std(0) + self.eps)
        c = a.T @ b / n
        lam = 1.0 / d if self.lambda_ is None else self.lambda_
        diagonal = c.diagonal()
        off_diagonal = c.pow(2).sum() - diagonal.pow(2).sum()
        return (1 - diagonal).pow(2).sum() + lam * off_diagonal


class DGIObjective(Objective):
    name = "dgi"

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = int(dim)
        self.weight = nn.Parameter(torch.empty(self.dim, self.dim))
        self.bias = nn.Parameter(torch.zeros(()))
        nn.init.xavier_uniform_(self.weight.unsqueeze(0))   # nn.Bilinear(d, d, 1)'s (1, d, d) weight

    def params(self) -> dict[str, Any]:
        return {}

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        _check_pair(z1, z2)
        summary = torch.sigmoid(z1.mean(0))
        projected = self.weight @ summary
        positive, negative = z1 @ projected + self.bias, z2 @ projected + self.bias
        return (F.softplus(-positive).mean() + F.softplus(negative).mean()) / 2


class BootstrapObjective(Objective):
    name = "bootstrap"
    #: the pipeline runs a momentum target encoder beside the online one
    uses_target = True

    def __init__(self, dim: int, predictor_hidden: int = 512, momentum: float = 0.99,
                 target_init: str = "reinit", total_steps: int = 1) -> None:
        super().__init__()
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if target_init not in ("reinit", "copy"):
            raise ValueError(f"target_init must be 'reinit' (the authors' code) or 'copy', got {target_init!r}")
        if int(total_steps) < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        self.momentum, self.target_init, self.total_steps = float(momentum), target_init, int(total_steps)
        self.predictor_hidden = int(predictor_hidden)
        self.predictor = nn.Sequential(nn.Linear(int(dim), self.predictor_hidden), nn.PReLU(),
                                       nn.Linear(self.predictor_hidden, int(dim)))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def params(self) -> dict[str, Any]:
        return {"predictor_hidden": self.predictor_hidden, "momentum": self.momentum,
                "target_init": self.target_init}

    def momentum_at(self, step: int) -> float:
        """m_t = 1 − (1 − m)(cos(π t/T) + 1)/2 (the code's cosine schedule of 1 − m)."""
        t = min(int(step), self.total_steps)
        return 1.0 - (1.0 - self.momentum) * (math.cos(math.pi * t / self.total_steps) + 1.0) / 2.0

    @torch.no_grad()
    def update_target(self, online: nn.Module, target: nn.Module) -> None:
        """Apply the momentum update owed for the last step (none before the first)."""
        if int(self.steps) > 0:
            m = self.momentum_at(int(self.steps) - 1)
            for theta, phi in zip(online.parameters(), target.parameters()):
                phi.mul_(m).add_(theta, alpha=1.0 - m)
        self.steps += 1

    def forward(self, z1: Tensor, z2: Tensor, y1: Tensor | None = None, y2: Tensor | None = None) -> Tensor:
        _check_pair(z1, z2)
        if y1 is None or y2 is None:
            raise ValueError("bootstrap compares the online outputs with the target's: pass y1 and y2")
        q1, q2 = self.predictor(z1), self.predictor(z2)
        return (2 - F.cosine_similarity(q1, y2.detach(), dim=-1).mean()
                - F.cosine_similarity(q2, y1.detach(), dim=-1).mean())


OBJECTIVES: dict[str, Callable[..., Objective]] = {"infonce": InfoNCEObjective,
                                                   "barlow_twins": BarlowTwinsObjective,
                                                   "dgi": DGIObjective, "bootstrap": BootstrapObjective}


def register_objective(factory: Callable[..., Objective]) -> Callable[..., Objective]:
    """Make an objective class available by its ``name`` in configs (returns it)."""
    if not getattr(factory, "name", ""):
        raise ValueError("an objective class needs a non-empty `name`")
    OBJECTIVES[factory.name] = factory
    return factory


def build_objective(spec: Any, dim: int | None = None, total_steps: int | None = None) -> Objective:
    """An objective from ``{name: {params}}``, a name, or an :class:`Objective` (as is);
    ``dim`` (the head's output width) goes to objectives with parameters that need it,
    ``total_steps`` (the run's optimizer steps) to those with a schedule."""
    if isinstance(spec, Objective):
        return spec
    if isinstance(spec, str):
        spec = {spec: {}}
    if not (isinstance(spec, dict) and len(spec) == 1):
        raise ConfigError(f"loss: expected {{name: {{params}}}} with name one of {', '.join(OBJECTIVES)}, "
                          f"got {spec!r}")
    name, _ = split_named(spec, "loss")
    factory = OBJECTIVES.get(name)
    filled: dict[str, Any] = {}
    if factory is not None and "dim" in inspect.signature(factory).parameters:
        if dim is None:
            raise ConfigError(f"loss {name} has parameters of the output width, which is unknown here "
                              f"(an encoder module without `out_dim`): give the loss as a module")
        filled["dim"] = int(dim)
    if factory is not None and "total_steps" in inspect.signature(factory).parameters and total_steps is not None:
        filled["total_steps"] = int(total_steps)
    return build_named(spec, OBJECTIVES, "loss", "loss", **filled)
