"""GCN encoders (Kipf & Welling 2017, eq. 2): ``H' = σ(Â H W + b)`` with
``Â = D̃^{-1/2} (A + I) D̃^{-1/2}``.

Propagation runs on our CSR :class:`~graphcl.sparse.SparseGraph` (SpMM with a
precomputed-transpose backward) instead of gather/scatter message passing, and a
sparse CSR feature matrix (bag-of-words features such as Cora's, ~1% dense) is
multiplied as sparse in the first layer. The normalization matches PyG's
``GCNConv`` (``gcn_norm``: in-degree with one self loop per node, messages flow
source -> target), so a directed graph (e.g. after independent edge dropping)
is handled the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from graphcl.sparse import SparseGraph


@dataclass(frozen=True)
class ColumnMasked:
    """Node features ``x`` with only the columns where ``keep`` is True (GRACE's feature
    masking) for the first layer, which computes X diag(keep) W as X (keep ⊙ W): the same
    product, without a masked copy of X per view. ``x`` is dense or a constant
    :class:`~graphcl.sparse.SparseGraph` (sparse features: its CSR and transpose are built once,
    not per view)."""
    x: torch.Tensor | SparseGraph
    keep: torch.Tensor

    def __post_init__(self) -> None:
        columns = int(self.x.shape[1])
        if self.keep.dim() != 1 or self.keep.numel() != columns or self.keep.dtype != torch.bool:
            raise ValueError(f"keep must be a boolean vector of the features' {columns} columns, got "
                             f"{self.keep.dtype} of shape {tuple(self.keep.shape)}")

    def size(self, dim: int) -> int:
        return int(self.x.shape[dim])

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


def gcn_norm_graph(edge_index: torch.Tensor, num_nodes: int,
                   edge_weight: torch.Tensor | None = None) -> SparseGraph:
    """``Â`` with ``Â[t, s] = w_st / sqrt(d̃_s d̃_t)`` for each edge s -> t plus unit self
    loops, ``d̃_t = 1 + Σ_{s -> t} w_st`` (existing self loops are replaced)."""
    src, dst = edge_index[0], edge_index[1]
    weight = torch.ones(src.numel(), device=src.device) if edge_weight is None else edge_weight.float()
    not_loop = src != dst
    src, dst, weight = src[not_loop], dst[not_loop], weight[not_loop]
    loops = torch.arange(num_nodes, device=src.device)
    src = torch.cat([src, loops])
    dst = torch.cat([dst, loops])
    weight = torch.cat([weight, torch.ones(num_nodes, device=src.device)])
    deg = torch.zeros(num_nodes, device=src.device).index_add_(0, dst, weight)
    dinv = deg.pow(-0.5)
    dinv[deg == 0] = 0.0
    return SparseGraph.from_coo(dst, src, dinv[src] * weight * dinv[dst], (num_nodes, num_nodes))


class GCNLayer(nn.Module):
    """One GCN layer ``Â (X W) + b``; ``X`` dense, sparse CSR or :class:`ColumnMasked`."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weight and zero bias, as PyG's ``GCNConv``."""
        in_dim, out_dim = self.weight.shape
        bound = math.sqrt(6.0 / (in_dim + out_dim))
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor | ColumnMasked, graph: Any) -> torch.Tensor:
        if isinstance(x, ColumnMasked):
            h = x.x @ (self.weight * x.keep.to(self.weight.dtype)[:, None])
        elif x.layout == torch.sparse_csr:
            h = torch.sparse.mm(x, self.weight)
        else:
            h = x @ self.weight
        return (graph @ h) + self.bias


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
        self.layers = nn.ModuleList(GCNLayer(a, b) for a, b in zip(dims[:-1], dims[1:]))
        if activation == "prelu":
            # one PReLU slope shared by all layers, as GRACE's and CSGCL's code
            shared = nn.PReLU()
            self.acts = nn.ModuleList(shared for _ in dims[1:])
        else:
            self.acts = nn.ModuleList(make_activation(activation, b) for b in dims[1:])

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor,
                edge_weight: torch.Tensor | None = None, operator: Any = None) -> torch.Tensor:
        """``operator``: anything with ``operator @ H`` used in place of Â (e.g. a low-rank Â)."""
        graph = gcn_norm_graph(edge_index, x.size(0), edge_weight) if operator is None else operator
        for layer, act in zip(self.layers, self.acts):
            x = act(layer(x, graph))
        return x
