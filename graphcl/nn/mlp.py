"""Multi-layer perceptrons: the SDCN / SCGC autoencoder halves.

``MLP(dims)`` is ``Linear -> ReLU -> ... -> Linear`` (no activation after the
last layer), as SDCN's ``AE`` encoder ``x -> 500 -> 500 -> 2000 -> n_z`` and
its mirror-image decoder. The input may be a sparse CSR matrix (bag-of-words
features such as CiteSeer's, ~1% nonzero): the first layer then multiplies as
sparse, with exactly the same values as the dense product.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLP(nn.Module):
    """``len(dims) - 1`` linear layers with ReLU between them (none after the last)."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        dims = [int(d) for d in dims]
        if len(dims) < 2:
            raise ValueError(f"an MLP needs an input and an output width, got dims={dims}")
        if any(d < 1 for d in dims):
            raise ValueError(f"layer widths must be >= 1, got dims={dims}")
        self.dims = dims
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k, layer in enumerate(self.layers):
            if k == 0 and x.layout == torch.sparse_csr:
                x = torch.sparse.mm(x, layer.weight.t()) + layer.bias
            else:
                x = layer(x)
            if k < len(self.layers) - 1:
                x = torch.relu(x)
        return x
