"""Encoders of a contrastive pipeline: ``encoder(x, edge_index, edge_weight) -> H`` (N, out).

By name in a config, one-key mapping to its parameters:

* ``gcn``: graphcl's GCN (:class:`graphcl.nn.gcn.GCNEncoder`, Kipf & Welling eq. 2 on our
  CSR SpMM): ``{out: 128, layers: 2, activation: relu}``; hidden layers 2·out wide, as
  GRACE's encoder.
* ``mlp``: the same widths without propagation (``H' = σ(H W + b)``), the structure-free
  baseline: ``{out: 128, layers: 2, activation: relu}``.
* ``pyg``: any PyG conv layer by class name, e.g. ``{conv: GATConv, out: 128, layers: 2,
  activation: elu, kwargs: {heads: 1}}``; edge weights are passed to convs whose
  ``forward`` takes ``edge_weight``. ``widths: [256, 128]`` gives every layer's width instead
  of out/layers; ``norm: batch`` or ``layer`` puts a normalization between each conv and its
  activation (BGRL's encoder: ``{conv: GCNConv, widths: [256, 128], norm: batch,
  activation: prelu}``, its BatchNorm with momentum 0.99 as the authors' code). Here
  ``prelu`` is one slope per layer (``nn.PReLU()``, as BGRL's code).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import nn

from graphcl.contrast.named import build_named
from graphcl.errors import ConfigError
from graphcl.nn.gcn import ACTIVATIONS, GCNEncoder, make_activation

__all__ = ["MLPEncoder", "PyGEncoder", "ENCODERS", "build_encoder"]


def _widths(in_dim: int, out: int, layers: int) -> list[int]:
    if layers < 1:
        raise ConfigError(f"an encoder needs layers >= 1, got {layers}")
    if out < 1:
        raise ConfigError(f"an encoder needs out >= 1, got {out}")
    return [in_dim] + [2 * out] * (layers - 1) + [out]


class MLPEncoder(nn.Module):
    """``layers`` linear layers, each followed by the activation (no graph)."""

    def __init__(self, in_dim: int, out: int, layers: int = 2, activation: str = "relu") -> None:
        super().__init__()
        dims = _widths(in_dim, out, layers)
        self.out_dim = int(out)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.acts = nn.ModuleList(make_activation(activation, b) for b in dims[1:])

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor,
                edge_weight: torch.Tensor | None = None) -> torch.Tensor:
        for k, (layer, act) in enumerate(zip(self.layers, self.acts)):
            if k == 0 and x.layout == torch.sparse_csr:
                x = torch.sparse.mm(x, layer.weight.t()) + layer.bias
            else:
                x = layer(x)
            x = act(x)
        return x


class PyGEncoder(nn.Module):
    """PyG conv layers of class ``conv`` (``torch_geometric.nn``), each followed by an optional
    normalization and the activation. A sparse CSR ``x`` is made dense first (PyG convs take
    dense x)."""

    def __init__(self, in_dim: int, conv: str, out: int | None = None, layers: int = 2, activation: str = "relu",
                 kwargs: dict[str, Any] | None = None, widths: list[int] | None = None, norm: str | None = None,
                 norm_momentum: float = 0.99) -> None:
        super().__init__()
        import torch_geometric.nn as pyg_nn
        cls = getattr(pyg_nn, str(conv), None)
        if not (isinstance(cls, type) and issubclass(cls, pyg_nn.MessagePassing)):
            raise ConfigError(f"pyg encoder: '{conv}' is not a conv layer of torch_geometric.nn "
                              f"(e.g. GCNConv, GATConv, SAGEConv, GINConv needs an nn: use another)")
        if widths is not None:
            if out is not None:
                raise ConfigError("pyg encoder: give either widths or out/layers, not both")
            if not widths or any(int(w) < 1 for w in widths):
                raise ConfigError(f"pyg encoder: widths must be positive, got {widths!r}")
            dims = [in_dim] + [int(w) for w in widths]
        else:
            dims = _widths(in_dim, int(out if out is not None else 128), layers)
        if norm not in (None, "batch", "layer"):
            raise ConfigError(f"pyg encoder: norm must be null, batch or layer, got {norm!r}")
        self.out_dim = dims[-1]
        try:
            self.layers = nn.ModuleList(cls(a, b, **(kwargs or {})) for a, b in zip(dims[:-1], dims[1:]))
        except TypeError as exc:
            raise ConfigError(f"pyg encoder: {conv}(in, out, **{kwargs or {}}) failed: {exc}") from None
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(b, momentum=float(norm_momentum)) if norm == "batch" else
            nn.LayerNorm(b) if norm == "layer" else nn.Identity() for b in dims[1:])
        self.acts = nn.ModuleList(nn.PReLU() if activation == "prelu" else make_activation(activation, b)
                                  for b in dims[1:])
        self.takes_weight = "edge_weight" in inspect.signature(cls.forward).parameters

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor,
                edge_weight: torch.Tensor | None = None) -> torch.Tensor:
        if x.layout == torch.sparse_csr:
            x = x.to_dense()
        for layer, norm, act in zip(self.layers, self.norms, self.acts):
            if self.takes_weight and edge_weight is not None:
                x = layer(x, edge_index, edge_weight)
            else:
                x = layer(x, edge_index)
            x = act(norm(x))
        return x


def _gcn(in_dim: int, out: int, layers: int = 2, activation: str = "relu") -> nn.Module:
    if activation not in ACTIVATIONS:
        raise ConfigError(f"gcn encoder: unknown activation '{activation}'; choose from {', '.join(ACTIVATIONS)}")
    _widths(in_dim, int(out), int(layers))
    encoder = GCNEncoder(in_dim, int(out), int(layers), str(activation))
    encoder.out_dim = int(out)
    return encoder


ENCODERS: dict[str, Callable[..., nn.Module]] = {"gcn": _gcn, "mlp": MLPEncoder, "pyg": PyGEncoder}


def build_encoder(spec: Any, in_dim: int) -> nn.Module:
    """An encoder from ``{name: {params}}`` (or an ``nn.Module``, returned as is)."""
    if isinstance(spec, nn.Module):
        return spec
    if not (isinstance(spec, dict) and len(spec) == 1):
        raise ConfigError(f"encoder: expected {{name: {{params}}}} with name one of {', '.join(ENCODERS)}, "
                          f"got {spec!r}")
    return build_named(spec, ENCODERS, "encoder", "encoder", in_dim)
