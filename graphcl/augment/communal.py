"""CSGCL augmentations guided by community strength (Chen et al., IJCAI 2023,
sec. 3.3), vectorized (the authors loop over edges in Python).

Communal Edge Dropping (CED, eq. 4-5):
    w_e = CS_c              if both ends of e lie in community c,
    w_e = −(CS_ci + CS_cj)  otherwise;
    w   ← (w − min w) / (max w − min w)                  (min-max)
    keep_e = clamp(w_e / mean(w) · (1 − p), 1 − thr, 1)
``threshold`` default 1.0 (the authors' code and CLI default): keep
probabilities are only clipped to [0, 1]. All-equal ``w`` (a 0/0 in the
authors' code) gives ``w = 1``: every edge kept with probability ``1 − p``.

Communal Attribute Voting (CAV, eq. 6-7), on whole columns:
    w_j = Σ_i |x_ij| CS_i,   s_j = log w_j,
    p_j = (s_max − s_j)/(s_max − s_min),  p_j ← p_j / mean(p) · p,  clamp [0, thr]
The NaN trap (``log`` of ``w_j <= 0``):
* ``w_j = 0`` (an all-zero column, or one only in zero-strength communities):
  ``zero_weight="keep"`` (default, as the authors' code: ``w_j := max w``, so
  p_j = 0, such columns never eat the drop budget) or ``"drop"`` (treated like
  a negative weight);
* ``w_j < 0`` (columns voted by negative-strength communities; NaN in the
  authors' code): ``w_j := smallest positive w``, i.e. the highest drop
  probability, consistent with "weak community support, drop first";
* no positive ``w`` at all, or ``s_max = s_min``: every column gets ``p``.
``threshold`` default 0.7 (the default of the authors' ``cav`` function and of
GCA; their CLI passes 1.0: set ``threshold=1.0`` for that variant).
"""
from __future__ import annotations

from typing import Any, Literal

import torch
from torch_geometric.data import Data

from .base import Augmenter, bernoulli_mask, check_edge_index, check_probability, uniform
from .features import apply_column_mask, check_features

__all__ = ["ced_keep_probs", "communal_edge_drop", "cav_drop_probs", "communal_attribute_voting",
           "CommunalEdgeDrop", "CommunalAttributeVoting"]


def ced_keep_probs(edge_index: torch.Tensor, community: torch.Tensor, cs_per_community: torch.Tensor,
                   p: float, threshold: float = 1.0) -> torch.Tensor:
    """Per-edge keep probabilities of CED (eq. 4-5, see the module docstring)."""
    p = check_probability(p)
    threshold = check_probability(threshold, "threshold")
    n = check_edge_index(edge_index, community.numel())
    if community.dim() != 1 or community.numel() != n:
        raise ValueError(f"community must have one id per node ({n}), got shape {tuple(community.shape)}")
    cs = cs_per_community.to(edge_index.device, torch.float64)
    if bool(torch.isnan(cs).any()):
        raise ValueError("cs_per_community contains NaN")
    if edge_index.size(1) == 0:
        return torch.zeros(0, device=edge_index.device)
    community = community.to(edge_index.device).long()
    if int(community.max()) >= cs.numel():
        raise ValueError(f"community id {int(community.max())} has no strength in cs_per_community "
                         f"(size {cs.numel()})")
    ci, cj = community[edge_index[0]], community[edge_index[1]]
    w = torch.where(ci == cj, cs[ci], -(cs[ci] + cs[cj]))
    span = w.max() - w.min()
    w = (w - w.min()) / span if float(span) > 0 else torch.ones_like(w)
    keep = w / w.mean() * (1.0 - p)
    return keep.clamp(1.0 - threshold, 1.0).float()


def communal_edge_drop(edge_index: torch.Tensor, community: torch.Tensor,
                       cs_per_community: torch.Tensor, p: float, threshold: float = 1.0,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """CED: keep edge ``e`` with probability :func:`ced_keep_probs`; return the
    kept edges and the keep mask. (Independent draws per directed edge, as the
    authors' code.)"""
    keep_prob = ced_keep_probs(edge_index, community, cs_per_community, p, threshold)
    keep = uniform(keep_prob.numel(), edge_index.device, generator) < keep_prob
    return edge_index[:, keep], keep


def cav_drop_probs(x: torch.Tensor, cs_per_node: torch.Tensor, p: float, threshold: float = 0.7,
                   zero_weight: Literal["keep", "drop"] = "keep") -> torch.Tensor:
    """Per-column drop probabilities of CAV (eq. 6-7); never NaN (module docstring)."""
    p = check_probability(p)
    threshold = check_probability(threshold, "threshold")
    if zero_weight not in ("keep", "drop"):
        raise ValueError(f"zero_weight must be 'keep' or 'drop', got '{zero_weight}'")
    check_features(x, allow_nan=False)
    if cs_per_node.dim() != 1 or cs_per_node.numel() != x.size(0):
        raise ValueError(f"cs_per_node must have one entry per node ({x.size(0)}), "
                         f"got shape {tuple(cs_per_node.shape)}")
    cs = cs_per_node.to(device=x.device, dtype=torch.float64)
    if not bool(torch.isfinite(cs).all()):
        raise ValueError("cs_per_node contains NaN or infinite values")
    if x.layout == torch.sparse_csr:                  # w_j = Σ_i |x_ij| CS_i
        rows = torch.repeat_interleave(torch.arange(x.size(0), device=x.device),
                                       x.crow_indices().diff())
        w = torch.zeros(x.size(1), dtype=torch.float64, device=x.device).index_add_(
            0, x.col_indices(), x.values().abs().double() * cs[rows])
    else:
        w = x.abs().double().T @ cs
    positive = w > 0
    if not bool(positive.any()):
        return torch.full_like(w, min(p, threshold), dtype=torch.float32)
    w_min_pos, w_max = w[positive].min(), w[positive].max()
    fill_zero = w_max if zero_weight == "keep" else w_min_pos
    w = torch.where(w < 0, w_min_pos, torch.where(w == 0, fill_zero, w))
    s = torch.log(w)
    span = s.max() - s.min()
    if float(span) <= 0:
        return torch.full_like(s, min(p, threshold), dtype=torch.float32)
    prob = (s.max() - s) / span
    prob = prob / prob.mean() * p
    return prob.clamp(0.0, threshold).float()


def communal_attribute_voting(x: torch.Tensor, cs_per_node: torch.Tensor, p: float,
                              threshold: float = 0.7, generator: torch.Generator | None = None,
                              zero_weight: Literal["keep", "drop"] = "keep") -> torch.Tensor:
    """CAV: zero whole columns of ``x`` with :func:`cav_drop_probs`; returns a new tensor."""
    prob = cav_drop_probs(x, cs_per_node, p, threshold, zero_weight)
    keep = bernoulli_mask(prob, x.size(1), x.device, generator)
    return apply_column_mask(x, keep)


def _needs(data: Any, keys: tuple[str, ...], who: str) -> None:
    if not isinstance(data, Data):
        raise TypeError(f"{who} needs a torch_geometric Data, got {type(data).__name__}")
    missing = [k for k in keys if getattr(data, k, None) is None]
    if missing:
        raise ValueError(f"{who} needs data.{', data.'.join(missing)}; run CommunityStrength() first"
                         if any(k != "x" for k in missing) else
                         f"missing node features: {who} needs data.x")


class CommunalEdgeDrop(Augmenter):
    """CED on a ``Data`` carrying ``community`` and ``cs_per_community`` (from
    :class:`~graphcl.augment.community.CommunityStrength`); edge attributes follow."""

    def __init__(self, p: float, threshold: float = 1.0, seed: int | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        self.p, self.threshold = check_probability(p), check_probability(threshold, "threshold")

    def _extra_repr(self) -> str:
        return f"p={self.p}, threshold={self.threshold}"

    def forward(self, data: Any) -> Any:
        _needs(data, ("edge_index", "community", "cs_per_community"), "CommunalEdgeDrop")
        keep_prob = ced_keep_probs(data.edge_index, data.community, data.cs_per_community,
                                   self.p, self.threshold)
        device = data.edge_index.device
        keep = uniform(keep_prob.numel(), device, self.rng(device)) < keep_prob
        return data.edge_subgraph(keep)


class CommunalAttributeVoting(Augmenter):
    """CAV on ``data.x`` using ``data.community_strength`` (per node CS)."""

    def __init__(self, p: float, threshold: float = 0.7, zero_weight: Literal["keep", "drop"] = "keep",
                 seed: int | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        self.p, self.threshold = check_probability(p), check_probability(threshold, "threshold")
        if zero_weight not in ("keep", "drop"):
            raise ValueError(f"zero_weight must be 'keep' or 'drop', got '{zero_weight}'")
        self.zero_weight = zero_weight

    def _extra_repr(self) -> str:
        return f"p={self.p}, threshold={self.threshold}"

    def forward(self, data: Any) -> Any:
        _needs(data, ("x", "community_strength"), "CommunalAttributeVoting")
        check_features(data.x, allow_nan=False, name="data.x")
        data.x = communal_attribute_voting(data.x, data.community_strength, self.p, self.threshold,
                                           self.rng(data.x.device), self.zero_weight)
        return data
