"""Building blocks of meta-path encoders (MEOW / AdaMEOW, HeCo).

* :class:`TypeProjection`: h_x = W_x x + b for one node type, with x dense, sparse
  CSR, or the identity (HeCo's featureless types: then h_x = W_x + b, an embedding).
* :class:`MeowGCN`: the shared 2-layer GCN of MEOW's code: H¹ = PReLU(Â Dropout(X W₁)),
  Z = LayerNorm(Â Dropout(H¹ W₂)), no biases, the layer norm taken over the whole
  (N, d) matrix without affine parameters (``nn.LayerNorm(Z.size())`` in the code).
  ``Â`` is a :class:`graphcl.sparse.SparseGraph` (CSR SpMM, cheap backward).
* :class:`SemanticAttention`: HAN-style attention over P embeddings of the same nodes:
  w_p = a · mean_i tanh(W z_{p,i} + b), β = softmax_p(w), z = Σ_p β_p z_p.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from graphcl.sparse import SparseGraph

__all__ = ["TypeProjection", "MeowGCN", "SemanticAttention"]


class TypeProjection(nn.Module):
    """``x W + b`` for dense, sparse-CSR or identity (``identity=True``) features."""

    def __init__(self, in_dim: int, out_dim: int, identity: bool = False) -> None:
        super().__init__()
        self.identity = identity
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(out_dim))
        bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default initialization
        nn.init.kaiming_uniform_(self.weight.T, a=math.sqrt(5))
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor | None) -> Tensor:
        if self.identity:
            return self.weight + self.bias
        if x.layout == torch.sparse_csr:
            return torch.sparse.mm(x, self.weight) + self.bias
        return x @ self.weight + self.bias


class _GraphConv(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        stdv = 1.0 / math.sqrt(out_dim)
        nn.init.uniform_(self.weight, -stdv, stdv)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, graph: SparseGraph) -> Tensor:
        return graph @ self.dropout(x @ self.weight)


class MeowGCN(nn.Module):
    """Two graph convolutions, PReLU between them, whole-matrix layer norm at the end."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.conv1 = _GraphConv(in_dim, hidden, dropout)
        self.conv2 = _GraphConv(hidden, out_dim, dropout)
        self.act = nn.PReLU()

    def forward(self, x: Tensor, graph: SparseGraph) -> Tensor:
        z = self.conv2(self.act(self.conv1(x, graph)), graph)
        mean = z.mean()
        var = z.var(unbiased=False)
        return (z - mean) / torch.sqrt(var + 1e-5)


class SemanticAttention(nn.Module):
    """β = softmax_p(a · mean_i tanh(W z_{p,i} + b)); returns Σ_p β_p z_p and β."""

    def __init__(self, dim: int, attn_dropout: float = 0.0) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        nn.init.xavier_normal_(self.fc.weight, gain=1.414)
        self.att = nn.Parameter(torch.empty(1, dim))
        nn.init.xavier_normal_(self.att, gain=1.414)
        self.dropout = nn.Dropout(attn_dropout)

    def forward(self, embeds: list[Tensor]) -> tuple[Tensor, Tensor]:
        att = self.dropout(self.att)
        scores = torch.stack([(att @ torch.tanh(self.fc(z)).mean(0)).squeeze() for z in embeds])
        beta = torch.softmax(scores, 0)
        out = beta[0] * embeds[0]
        for b, z in zip(beta[1:], embeds[1:]):
            out = out + b * z
        return out, beta
