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
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.contrast.named import build_named

__all__ = ["batch_infonce", "InteractionInfoNCE", "REC_OBJECTIVES", "build_rec_objective"]


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


REC_OBJECTIVES: dict[str, Callable[..., nn.Module]] = {"infonce": InteractionInfoNCE}


def build_rec_objective(spec: Any) -> nn.Module:
    """An objective from ``{name: {params}}`` (or a module, returned as is)."""
    if isinstance(spec, nn.Module):
        return spec
    return build_named(spec, REC_OBJECTIVES, "loss", "loss on an interaction graph")
