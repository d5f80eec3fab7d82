"""Contrastive objectives between two views of a user-item graph: ``loss(u1, u2, i1, i2)``.

Rows i of ``u1`` and ``u2`` are the same user in the two views (likewise items); the rows
are the batch's distinct users and items, as SGL's and SimGCL's code take them.

* ``infonce`` ``{tau: 0.2, joint: false, cosine: true}``: with s(a, b) = a·b/(‖a‖‖b‖)
  (``cosine``; else a·b),
  ℓ(Z1, Z2) = −1/n Σ_i log( e^{s(z1_i, z2_i)/τ} / Σ_j e^{s(z1_i, z2_j)/τ} )
  (SGL eq. 10 with in-batch negatives; SimGCL eq. 3; SELFRec's ``InfoNCE``, one direction).
  ``joint: false``: L = ℓ(U1, U2) + ℓ(I1, I2) (SGL eq. 11, SimGCL, XSimGCL);
  ``joint: true``: one ℓ over the users and items stacked, so users and items are each
  other's negatives (SELFRec's SGL, model/graph/SGL.py ``cal_cl_loss``).
* ``all_infonce`` ``{tau: 0.2, pos_clamp: 5.0, cosine: false, unique: false, negatives: all,
  block_size: 0, keep_mb: 0}`` (LightGCL, Cai et al. ICLR 2023, eq. 7 in its authors' form): anchors are
  view 2's rows (LightGCL: the SVD view), keys all rows of view 1,
  L = mean_b [log Σ_{u'} e^{a_b·k_{u'}/τ} − clamp(a_b·k_b/τ, −c, c)] over the batch's users
  (every training pair's user, duplicates kept unless ``unique``) plus the same over its items
  (positives and negatives), every user (item) a negative (``negatives: in_batch``: only the
  batch's distinct ones); :func:`graphcl.losses.all_negatives.info_nce_loss`, blockwise.

An objective's ``scope`` says what it is given: ``batch`` (the rows of the batch's distinct
users and positive items) or ``all`` (the full tables and the batch's index tensors).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.contrast.named import build_named
from graphcl.losses.all_negatives import info_nce_loss

__all__ = ["batch_infonce", "InteractionInfoNCE", "AllNegativesInfoNCE", "REC_OBJECTIVES", "build_rec_objective"]


def batch_infonce(z1: Tensor, z2: Tensor, tau: float, cosine: bool = True) -> Tensor:
    """ℓ(Z1, Z2) of the module docstring: row i of ``z2`` is row i's positive, the other
    rows its negatives."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"the two views must be (n, d) of one shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if cosine:
        z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    logits = z1 @ z2.T / tau
    return (torch.logsumexp(logits, dim=1) - logits.diagonal()).mean()


class InteractionInfoNCE(nn.Module):
    """SGL's / SimGCL's InfoNCE over the batch's users and items (module docstring)."""

    name = "infonce"
    scope = "batch"

    def __init__(self, tau: float = 0.2, joint: bool = False, cosine: bool = True) -> None:
        super().__init__()
        tau = float(tau)
        if not tau > 0 or tau == float("inf"):
            raise ValueError(f"tau must be a finite number > 0, got {tau!r}")
        self.tau, self.joint, self.cosine = tau, bool(joint), bool(cosine)

    def params(self) -> dict[str, Any]:
        return {"tau": self.tau, "joint": self.joint, "cosine": self.cosine}

    def forward(self, users1: Tensor, users2: Tensor, items1: Tensor, items2: Tensor) -> Tensor:
        if self.joint:
            return batch_infonce(torch.cat([users1, items1]), torch.cat([users2, items2]), self.tau, self.cosine)
        return (batch_infonce(users1, users2, self.tau, self.cosine)
                + batch_infonce(items1, items2, self.tau, self.cosine))


class AllNegativesInfoNCE(nn.Module):
    """LightGCL's InfoNCE: view 2's batch rows against all of view 1's (module docstring)."""

    name = "all_infonce"
    scope = "all"

    def __init__(self, tau: float = 0.2, pos_clamp: float = 5.0, cosine: bool = False, unique: bool = False,
                 negatives: str = "all", block_size: int = 0, keep_mb: float = 0) -> None:
        super().__init__()
        tau = float(tau)
        if not tau > 0 or tau == float("inf"):
            raise ValueError(f"tau must be a finite number > 0, got {tau!r}")
        if negatives not in ("all", "in_batch"):
            raise ValueError(f"negatives must be 'all' or 'in_batch', got {negatives!r}")
        if int(block_size) < 0:
            raise ValueError(f"block_size must be >= 0 (0: 256 on CPU, 4096 on GPU), got {block_size}")
        self.tau, self.pos_clamp, self.cosine, self.unique = tau, float(pos_clamp), bool(cosine), bool(unique)
        if not float(keep_mb) >= 0:
            raise ValueError(f"keep_mb must be >= 0, got {keep_mb}")
        self.negatives, self.block_size, self.keep_mb = negatives, int(block_size), float(keep_mb)

    def params(self) -> dict[str, Any]:
        return {"tau": self.tau, "pos_clamp": self.pos_clamp, "cosine": self.cosine, "unique": self.unique,
                "negatives": self.negatives, "block_size": self.block_size, "keep_mb": self.keep_mb}

    def forward(self, users1: Tensor, users2: Tensor, items1: Tensor, items2: Tensor,
                batch_users: Tensor, batch_items: Tensor) -> Tensor:
        kw = {"negatives": self.negatives, "pos_clamp": self.pos_clamp, "unique": self.unique,
              "cosine": self.cosine, "block_size": self.block_size or None,
              "keep_bytes": int(self.keep_mb * 2 ** 20)}
        return (info_nce_loss(users2, users1, batch_users, self.tau, **kw)
                + info_nce_loss(items2, items1, batch_items, self.tau, **kw))


REC_OBJECTIVES: dict[str, Callable[..., nn.Module]] = {"infonce": InteractionInfoNCE,
                                                       "all_infonce": AllNegativesInfoNCE}


def build_rec_objective(spec: Any) -> nn.Module:
    """An objective from ``{name: {params}}`` (or a module, returned as is)."""
    if isinstance(spec, nn.Module):
        return spec
    return build_named(spec, REC_OBJECTIVES, "loss", "loss on an interaction graph")
