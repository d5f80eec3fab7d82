"""Feature masking (GRACE, Zhu et al. 2020, sec. 3.2): each feature *column* is
zeroed for all nodes with probability ``p``: ``x̃ = x ∘ m`` with
``m_j ~ Bernoulli(1 − p)`` broadcast over the rows.

Masked entries are set to 0 with ``masked_fill`` (not a multiplication), so a
NaN in a masked column becomes 0; NaNs in kept columns are left as they are.
"""
from __future__ import annotations

from typing import Any

import torch
from torch_geometric.data import Data, HeteroData

from ..sparse import csr_tensor
from .base import Augmenter, bernoulli_mask, check_probability

__all__ = ["mask_feature_columns", "apply_column_mask", "check_features", "FeatureMask"]


def check_features(x: Any, *, allow_nan: bool = True, name: str = "x") -> torch.Tensor:
    """Raise ``ValueError`` unless ``x`` is a non-empty 2-D floating tensor."""
    if x is None:
        raise ValueError(f"missing node features: '{name}' is None (a feature augmenter needs x)")
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a 2-D tensor (num_nodes, num_features), got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if x.size(0) == 0 or x.size(1) == 0:
        raise ValueError(f"empty graph: {name} has shape {tuple(x.shape)}")
    values = x.values() if x.layout == torch.sparse_csr else x
    if not allow_nan and bool(torch.isnan(values).any()):
        raise ValueError(f"{name} contains NaN")
    return x


def apply_column_mask(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Zero the columns of ``x`` where ``keep`` is False (new tensor). A sparse CSR
    ``x`` stays sparse with the same structure (masked values become 0)."""
    if x.layout == torch.sparse_csr:
        vals = x.values().masked_fill(~keep[x.col_indices()], 0.0)
        return csr_tensor(x.crow_indices(), x.col_indices(), vals, size=x.shape)
    return x.masked_fill(~keep.unsqueeze(0), 0.0)


def mask_feature_columns(x: torch.Tensor, p: float,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """Return a copy of ``x`` whose columns are each zeroed with probability ``p``
    (``x`` dense, or sparse CSR: the result keeps its layout)."""
    p = check_probability(p)
    check_features(x)
    keep = bernoulli_mask(p, x.size(1), x.device, generator)
    return apply_column_mask(x, keep)


class FeatureMask(Augmenter):
    """GRACE column masking of ``data.x`` (each node type of a ``HeteroData``;
    node types without ``x`` are skipped, but at least one must have it).
    A 2-D tensor input is masked directly."""

    def __init__(self, p: float, seed: int | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        self.p = check_probability(p)

    def _extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, data: Any) -> Any:
        if isinstance(data, HeteroData):
            stores = [s for s in data.node_stores if "x" in s]
            if not stores:
                raise ValueError("missing node features: no node type of the HeteroData has x")
            for store in stores:
                store.x = mask_feature_columns(store.x, self.p, self.rng(store.x.device))
            return data
        if isinstance(data, Data):
            x = data.x
            check_features(x, name="data.x")
            data.x = mask_feature_columns(x, self.p, self.rng(x.device))
            return data
        if isinstance(data, torch.Tensor):
            return mask_feature_columns(data, self.p, self.rng(data.device))
        raise TypeError(f"FeatureMask cannot handle {type(data).__name__}")
