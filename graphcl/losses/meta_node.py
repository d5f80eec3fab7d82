"""Neighbourhood contrastive losses of SCGC and PamC, and the r-hop influence graph.

**Influence graph** (SCGC's ``load_graph`` + ``get_A_r_flex``): the adjacency is
symmetrized and binarized, self loops are set to one, and rows are normalized,
``Â = D^{-1} (A + I)``; the r-hop influence graph is the sparse sum
``A^(r) = Â + Â² + ... + Â^r`` (SCGC*'s Influence Augmented Contrastive
graph, ``--influence``; ``cumulative=False`` gives SCGC's plain ``Â^r``).

**Pairwise loss** (SCGC eq. 6, the Graph-MLP ``Ncontrast`` loss in the
authors' code), with s_ij = cos(z_i, z_j) and τ multiplying (as the authors)::

    L_pair = −(1/N) Σ_i log( Σ_j A^(r)_ij e^{τ s_ij} / Σ_j e^{τ s_ij} + ε )

It holds the N x N similarity matrix: O(N² d) time, O(N²) memory.

**PamC loss** (Kulatilleke et al., 2022): the positives stay node level over
the support of A^(r); the N² negatives are replaced by meta-node pairs, with
meta-node k the assignment-weighted sum of its members' embeddings::

    pos_i  = Σ_{j ∈ supp A^(r)_i} A^(r)_ij e^{τ s_ij}
    c_k    = Σ_i w_ik z_i
    L_PamC = −(1/N) Σ_i log(pos_i + ε) + (1/K) Σ_k log( Σ_l e^{τ cos(c_k, c_l)} + ε )

Cost O(|E_r| d + N K d + K² d) time and O(|E_r| + N K) memory, linear in N.
Meta-node weights ``assignment="soft"`` (the default, the paper: "we use
learnt soft cluster assignments for the meta-node construction"): w = Q, the
Student-t assignments, and the gradient flows through Q unless
``detach_assignment``; ``"hard"`` (the authors' code, ``F.one_hot(q.detach()
.argmax(1))``): w_ik = [k = argmax_k' q_ik'], no gradient through the
assignment. An empty hard cluster has no meta-node (its c_k = 0 has no
direction: the authors' code gives NaN there) and is left out of the mean.

Conventions shared with the authors' code: the self pair (the diagonal of
A^(r), and of the meta-node similarity matrix) enters with similarity 0, i.e.
e^{τ · 0} = 1 (their ``get_feature_dis`` zeroes the cosine matrix's diagonal);
ε = 1e-8 in the pairwise loss and 1e-10 in PamC's, as theirs. Cosines use
``F.normalize`` (a zero vector has cosine 0 with everything, not NaN).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.sparse import csr_tensor

ASSIGNMENTS = ("soft", "hard")


@dataclass
class InfluenceGraph:
    """A sparse N x N matrix as COO triples sorted by (row, col), no duplicates."""
    row: Tensor
    col: Tensor
    value: Tensor
    num_nodes: int
    _csr: Tensor | None = field(default=None, repr=False)

    @property
    def nnz(self) -> int:
        return int(self.value.numel())

    @property
    def csr(self) -> Tensor:
        """The same matrix in CSR form (its nonzeros in the same order as the triples)."""
        if self._csr is None:
            counts = torch.bincount(self.row, minlength=self.num_nodes)
            crow = torch.zeros(self.num_nodes + 1, dtype=torch.long, device=self.row.device)
            torch.cumsum(counts, 0, out=crow[1:])
            self._csr = csr_tensor(crow, self.col, self.value, size=(self.num_nodes, self.num_nodes))
        return self._csr

    def to(self, device: torch.device | str) -> InfluenceGraph:
        return InfluenceGraph(self.row.to(device), self.col.to(device), self.value.to(device),
                              self.num_nodes)

    def to_dense(self) -> Tensor:
        out = torch.zeros(self.num_nodes, self.num_nodes, dtype=self.value.dtype, device=self.value.device)
        out[self.row, self.col] = self.value
        return out


def normalized_adjacency(edge_index: Tensor, num_nodes: int) -> Tensor:
    """``Â = D^{-1} (A + I)`` as a coalesced sparse COO tensor: A symmetrized and binarized
    (duplicate and reverse edges count once), existing self loops replaced by one."""
    if num_nodes < 1:
        raise ValueError(f"the graph is empty ({num_nodes} nodes)")
    edge_index = torch.as_tensor(edge_index, dtype=torch.long)
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(f"edge_index refers to node {int(edge_index.max())} (or a negative id) "
                         f"but the graph has {num_nodes} nodes")
    src, dst = edge_index
    keep = src != dst
    loops = torch.arange(num_nodes, device=edge_index.device)
    row = torch.cat([src[keep], dst[keep], loops])
    col = torch.cat([dst[keep], src[keep], loops])
    key = torch.unique(row * num_nodes + col)          # sorted, duplicates once
    row, col = key // num_nodes, key % num_nodes
    deg = torch.bincount(row, minlength=num_nodes).float()
    value = 1.0 / deg[row]
    return torch.sparse_coo_tensor(torch.stack([row, col]), value, (num_nodes, num_nodes)).coalesce()


def influence_graph(edge_index: Tensor, num_nodes: int, order: int = 1,
                    cumulative: bool = True) -> InfluenceGraph:
    """The r-hop influence graph ``Â + Â² + ... + Â^r`` (``cumulative``) or ``Â^r``, sparse,
    with ``Â = D^{-1} (A + I)`` (:func:`normalized_adjacency`); ``order`` is r >= 1."""
    if isinstance(order, bool) or int(order) != order or order < 1:
        raise ValueError(f"the influence order r must be an integer >= 1, got {order!r}")
    a = normalized_adjacency(edge_index, num_nodes)
    power, total = a, a
    for _ in range(int(order) - 1):
        power = torch.sparse.mm(power, a).coalesce()
        total = (total + power).coalesce() if cumulative else power
    idx, val = total.indices(), total.values()
    return InfluenceGraph(idx[0].contiguous(), idx[1].contiguous(), val.contiguous(), num_nodes)


def _check(z: Tensor, graph: InfluenceGraph, tau: float) -> None:
    if z.dim() != 2 or z.size(0) != graph.num_nodes:
        raise ValueError(f"z must be (N, d) with N = {graph.num_nodes} nodes of the graph, "
                         f"got {tuple(z.shape)}")
    if graph.row.device != z.device:
        raise ValueError(f"graph is on {graph.row.device} but z is on {z.device}")
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")


def positive_sums(zn: Tensor, graph: InfluenceGraph, tau: float) -> Tensor:
    """pos_i = Σ_j A^(r)_ij e^{τ s_ij} over the nonzeros of A^(r), s_ii := 0; ``zn`` unit rows.

    The cosines are computed only at the nonzeros (a sampled dense-dense product,
    ``torch.sparse.sampled_addmm``), so memory is O(|E_r|), not O(|E_r| d)."""
    row, col = graph.row, graph.col
    pattern = graph.csr if graph.csr.dtype == zn.dtype else graph.csr.to(zn.dtype)
    cos = torch.sparse.sampled_addmm(pattern, zn, zn.t(), beta=0.0).values()
    cos = torch.where(row == col, torch.zeros_like(cos), cos)
    weighted = graph.value.to(zn.dtype) * torch.exp(tau * cos)
    return torch.zeros(graph.num_nodes, dtype=zn.dtype, device=zn.device).index_add(0, row, weighted)


def pairwise_neighbor_loss(z: Tensor, graph: InfluenceGraph, tau: float, eps: float = 1e-8) -> Tensor:
    """SCGC's pairwise loss L_pair (module docstring): the N x N similarities are materialized."""
    _check(z, graph, tau)
    zn = F.normalize(z, dim=1)
    pos = positive_sums(zn, graph, tau)
    scores = zn @ zn.t()
    scores.fill_diagonal_(0.0)
    den = scores.mul_(tau).exp_().sum(1)            # in place: one N x N buffer kept for backward
    return -torch.log(pos / den + eps).mean()


def meta_nodes(z: Tensor, q: Tensor, assignment: str = "soft",
               detach_assignment: bool = False) -> Tensor:
    """Meta-node embeddings c_k = Σ_i w_ik z_i, shape (K', d): K' = K for soft weights,
    the number of nonempty clusters for hard ones (see the module docstring)."""
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment must be one of {ASSIGNMENTS}, got {assignment!r}")
    if q.dim() != 2 or q.size(0) != z.size(0):
        raise ValueError(f"q must be (N, K) with N = {z.size(0)}, got {tuple(q.shape)}")
    if assignment == "soft":
        w = q.detach() if detach_assignment else q
        return w.t() @ z
    labels = q.detach().argmax(1)
    k = q.size(1)
    sums = torch.zeros(k, z.size(1), dtype=z.dtype, device=z.device).index_add(0, labels, z)
    present = torch.bincount(labels, minlength=k) > 0
    return sums[present]


def meta_node_loss(z: Tensor, graph: InfluenceGraph, q: Tensor, tau: float,
                   assignment: str = "soft", detach_assignment: bool = False,
                   eps: float = 1e-10) -> Tensor:
    """PamC's loss L_PamC (module docstring): node-level positives over A^(r), negatives
    between the K meta-nodes."""
    _check(z, graph, tau)
    zn = F.normalize(z, dim=1)
    pos = positive_sums(zn, graph, tau)
    cn = F.normalize(meta_nodes(z, q, assignment, detach_assignment), dim=1)
    sim = cn @ cn.t()
    sim = sim - torch.diag_embed(sim.diagonal())     # s_kk := 0, as the authors' mask
    neg = torch.exp(tau * sim).sum(1)
    return -torch.log(pos + eps).mean() + torch.log(neg + eps).mean()
