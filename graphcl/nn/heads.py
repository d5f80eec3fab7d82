"""Projection heads of contrastive methods."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ProjectionHead"]


class ProjectionHead(nn.Module):
    """GRACE's projection g(h) = W₂ ELU(W₁ h + b₁) + b₂ (eq. 1's θ is the cosine of g's
    outputs): ``dim -> hidden -> dim``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.elu(self.fc1(h)))
