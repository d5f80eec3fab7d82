"""GCN encoders (Kipf & Welling 2017, eq. 2) built on PyG's ``GCNConv``."""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GCNConv

ACTIVATIONS = ("relu", "prelu", "elu", "rrelu", "tanh")


def make_activation(name: str, dim: int) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "prelu":
        return nn.PReLU(dim)
    if name == "elu":
        return nn.ELU()
    if name == "rrelu":
        return nn.RReLU()
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"unknown activation '{name}'; choose from {', '.join(ACTIVATIONS)}")


class GCNEncoder(nn.Module):
    """``num_layers`` GCN layers, each followed by the activation.

    Widths follow GRACE's encoder: hidden layers have ``2 * out_dim`` units and
    the last has ``out_dim`` (a single layer maps straight to ``out_dim``).
    """

    def __init__(self, in_dim: int, out_dim: int, num_layers: int = 2, activation: str = "relu") -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        dims = [in_dim] + [2 * out_dim] * (num_layers - 1) + [out_dim]
        self.convs = nn.ModuleList(GCNConv(a, b, cached=False) for a, b in zip(dims[:-1], dims[1:]))
        self.acts = nn.ModuleList(make_activation(activation, b) for b in dims[1:])

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor,
                edge_weight: torch.Tensor | None = None) -> torch.Tensor:
        for conv, act in zip(self.convs, self.acts):
            x = act(conv(x, edge_index, edge_weight))
        return x
