"""DCCF (Ren et al., "Disentangled Contrastive Collaborative Filtering", SIGIR 2023),
following the authors' code (HKUDS/DCCF, ``model.py``) where it is explicit.

Graph: ``Ĝ = D^{-1/2} A D^{-1/2}``, the symmetric (U+I) interaction graph without
self-loops. With ``E^0 = [E_u; E_i]`` (ego embeddings), each layer ``l = 0..L-1``
computes four views from ``E^l``:

* graph view ``Z^l = Ĝ E^l``;
* intent view ``R^l``: ``R_u = softmax(E_u^l C_u) C_u^T``, ``R_i = softmax(E_i^l C_i) C_i^T``
  with learnable prototypes ``C_u, C_i`` of shape ``d x K`` (softmax over the K intents);
* two adaptive-mask views: for every edge ``(h, t)`` of ``Ĝ``,
  ``α_ht = (cos(x_h, x_t) + 1) / 2`` with ``x = Z^l`` (view ``H^β``) or ``x = R^l``
  (view ``H^γ``), row-normalized ``G_ht = α_ht / Σ_{t'} α_ht'`` (``D^{-1}``; 0 for
  a row whose sum is 0), then ``H = G E^l`` (the masks act on ``E^l``, not on ``Z``).

``E^{l+1} = E^l + Z^l + R^l + H^{β,l} + H^{γ,l}`` and the final embedding is
``E = Σ_{l=0..L} E^l``; ``ŷ_ui = e_u · e_i``.

The mask values are *per-edge* tensors over the CSR structure of ``Ĝ`` (never a
dense N x N) and depend on the embeddings, so gradients flow into them, as in
the authors' code (``torch_sparse.spmm`` is differentiable in its values):
:func:`edge_spmm` (``y = A(v) x``, gradient in ``v`` and ``x``) and
:func:`edge_dot` (``v_e = <a_h, b_t>``, gradient in ``a`` and ``b``) are written
as autograd functions whose backward passes are again sparse products, so the
edge gathers of the forward pass are not kept for the backward.

Loss (authors' ``forward``), per batch of ``(u, i+, i-)`` triples::

    L = mean softplus(ŷ_ui- − ŷ_ui+)                                   (BPR)
      + emb_reg · (||E_u^0[u]||² + ||E_i^0[i+]||² + ||E_i^0[i-]||²)     (sum over the batch)
      + cen_reg · (||C_u||_F² + ||C_i||_F²)
      + ssl_reg · Σ_{l=0..L-1} Σ_{V in R, H^β, H^γ} [InfoNCE(Z_u^l, V_u^l) + InfoNCE(Z_i^l, V_i^l)]

with ``InfoNCE(a, b) = mean_n [ log Σ_m exp(â_n·b̂_m/τ) − â_n·b̂_n/τ ]`` over the
unique batch users (resp. unique batch items), ``â, b̂`` L2-normalized, in-batch
negatives (the positive is in the denominator), τ = 1. The denominators use
:func:`graphcl.losses.logsumexp.blockwise_logsumexp_matmul` (no |B| x |B| matrix
kept for the backward pass). The authors' ``+1e-8`` inside their log is not
reproduced (negligible).

Sampling: the authors draw ``n_batch x batch_size`` triples per epoch (40 x 10240),
each from a uniform random *user*, a uniform positive of that user and a uniform
unobserved negative; ``batches_per_epoch`` (default 40) does that. With
``batches_per_epoch = 0`` an epoch is one shuffled pass over the training pairs
(the base class's BPR triples), the usual "epoch" of LightGCN.

Options where the paper, the code and common practice differ (defaults = code):

* ``batch_sampling``: ``"user"`` (code: uniform user, then uniform positive) or
  ``"pair"`` (uniform training pair, with replacement). Used when
  ``batches_per_epoch > 0``.
* ``cl_items``: ``"pos"`` (code: the contrastive item set is the unique positive
  items) or ``"pos_neg"`` (positives and negatives).
* ``emb_reg_norm``: ``"sum"`` (code: squared norms summed over the batch, not
  divided by its size) or ``"mean"`` (divided by the batch size, as LightGCN's code).
* ``mask_grad``: True (code: gradients flow through the mask values into ``Z``,
  ``R`` and the prototypes) or False (mask values detached; cheaper, not DCCF).
* ``cl_block_size``: keys per block of the blockwise logsumexp (0: 256 on CPU,
  4096 on GPU); memory and speed only.

Defaults (authors' ``parser.py``): d 32, L 2, K 128, τ 1, emb_reg 2.5e-5,
cen_reg 5e-3, ssl_reg 0.1, Adam lr 1e-3, batch 10240, 40 batches per epoch,
100 epochs (150 on Gowalla, the README's command: the ``gowalla`` preset),
Xavier-normal initialization of the embedding tables and the prototypes. The
authors train a fixed number of epochs and test the last model; our trainer
tests the best-validation model (set ``patience`` to the epoch count to train
all epochs).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from graphcl.config import TRAIN_DEFAULTS, ConfigError
from graphcl.data.interactions import InteractionDataset
from graphcl.losses.logsumexp import blockwise_logsumexp_matmul
from graphcl.models.rec.base import Recommender, bpr_loss
from graphcl.models.rec.batch_rows import counted_square_sum, gather_triples
from graphcl.registry import MethodSpec, register_method
from graphcl.sparse import bipartite_adjacency, csr_tensor

__all__ = ["DCCF", "DCCF_DEFAULTS", "EdgeStructure", "adaptive_mask", "edge_dot", "edge_spmm"]

#: edges per chunk of the gather-and-dot loops (a chunk holds 2 x chunk x d floats)
EDGE_CHUNK = 1 << 18


# ------------------------------------------------------------ per-edge sparse ops
class EdgeStructure:
    """The fixed sparsity pattern of a matrix: edges ``(rows[e], cols[e])`` in CSR order
    (sorted by row, then column), plus the permutation giving its transpose in CSR order.

    Values live outside: :meth:`csr` turns a per-edge value vector into a sparse CSR
    matrix on this pattern (no copy of the indices).
    """

    def __init__(self, rows: torch.Tensor, cols: torch.Tensor, shape: tuple[int, int]) -> None:
        rows, cols = rows.long(), cols.long()
        n_rows, n_cols = int(shape[0]), int(shape[1])
        if rows.shape != cols.shape or rows.dim() != 1:
            raise ValueError(f"rows and cols must be 1-D of equal length, got {tuple(rows.shape)}, "
                             f"{tuple(cols.shape)}")
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= n_rows
                             or int(cols.min()) < 0 or int(cols.max()) >= n_cols):
            raise ValueError(f"edge index out of range for shape {(n_rows, n_cols)}")
        key = rows * n_cols + cols
        if rows.numel() > 1 and not bool((key[1:] > key[:-1]).all()):
            raise ValueError("edges must be unique and in CSR order (sorted by row, then column)")
        self.rows, self.cols, self.shape = rows, cols, (n_rows, n_cols)
        self.crow = self._crow(rows, n_rows)
        self.perm_t = torch.argsort(cols * n_rows + rows)  # transpose entries in CSR order
        self.cols_t = rows[self.perm_t]
        self.crow_t = self._crow(cols, n_cols)
        self._sddmm_ok = True

    @staticmethod
    def _crow(index: torch.Tensor, n: int) -> torch.Tensor:
        crow = torch.zeros(n + 1, dtype=torch.long, device=index.device)
        torch.cumsum(torch.bincount(index, minlength=n), 0, out=crow[1:])
        return crow

    @property
    def num_edges(self) -> int:
        return int(self.rows.numel())

    def csr(self, values: torch.Tensor) -> torch.Tensor:
        return csr_tensor(self.crow, self.cols, values, size=self.shape)

    def csr_t(self, values: torch.Tensor) -> torch.Tensor:
        return csr_tensor(self.crow_t, self.cols_t, values[self.perm_t],
                          size=(self.shape[1], self.shape[0]))

    def gather_dot(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``<a[rows[e]], b[cols[e]]>`` for every edge (an SDDMM): ``torch.sparse.sampled_addmm``
        on this pattern (14x faster than gathering the edge rows on CPU), or, where that
        kernel is missing, gathers in chunks of :data:`EDGE_CHUNK` edges."""
        if self._sddmm_ok:
            try:
                zeros = torch.zeros(self.num_edges, dtype=a.dtype, device=a.device)  # beta=0 still reads NaN
                return torch.sparse.sampled_addmm(self.csr(zeros), a, b.T, beta=0.0).values()
            except (RuntimeError, NotImplementedError):
                self._sddmm_ok = False
        out = torch.empty(self.num_edges, dtype=a.dtype, device=a.device)
        for s in range(0, self.num_edges, EDGE_CHUNK):
            r, c = self.rows[s:s + EDGE_CHUNK], self.cols[s:s + EDGE_CHUNK]
            torch.sum(a[r] * b[c], dim=1, out=out[s:s + EDGE_CHUNK])
        return out

    def to(self, device: torch.device | str) -> "EdgeStructure":
        return EdgeStructure(self.rows.to(device), self.cols.to(device), self.shape)


class _EdgeSpMM(torch.autograd.Function):
    """``y = A(v) x``: ``dL/dx = A(v)^T g``, ``dL/dv_e = <g[rows_e], x[cols_e]>``."""

    @staticmethod
    def forward(ctx, values, x, structure):
        ctx.structure = structure
        ctx.save_for_backward(values, x)
        return torch.sparse.mm(structure.csr(values), x)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        values, x = ctx.saved_tensors
        s: EdgeStructure = ctx.structure
        g = grad_out.contiguous()
        grad_v = s.gather_dot(g, x) if ctx.needs_input_grad[0] else None
        grad_x = torch.sparse.mm(s.csr_t(values), g) if ctx.needs_input_grad[1] else None
        return grad_v, grad_x, None


class _EdgeDot(torch.autograd.Function):
    """``v_e = <a[rows_e], b[cols_e]>`` (an SDDMM): ``dL/da = A(g) b``, ``dL/db = A(g)^T a``."""

    @staticmethod
    def forward(ctx, a, b, structure):
        ctx.structure = structure
        ctx.save_for_backward(a, b)
        return structure.gather_dot(a, b)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        a, b = ctx.saved_tensors
        s: EdgeStructure = ctx.structure
        g = grad_out.contiguous()
        grad_a = torch.sparse.mm(s.csr(g), b) if ctx.needs_input_grad[0] else None
        grad_b = torch.sparse.mm(s.csr_t(g), a) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


def _check_edge_args(structure: EdgeStructure, x: torch.Tensor, n: int, what: str) -> None:
    if x.dim() != 2 or x.size(0) != n:
        raise ValueError(f"{what} must be 2-D with {n} rows, got shape {tuple(x.shape)}")


def edge_spmm(structure: EdgeStructure, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A(values) @ x`` with ``A`` on ``structure``; differentiable in ``values`` and ``x``."""
    if values.shape != (structure.num_edges,):
        raise ValueError(f"values must have shape ({structure.num_edges},), got {tuple(values.shape)}")
    _check_edge_args(structure, x, structure.shape[1], "x")
    if values.dtype != x.dtype:
        raise TypeError(f"dtype mismatch: values {values.dtype}, x {x.dtype}")
    if not torch.is_grad_enabled() or not (values.requires_grad or x.requires_grad):
        return torch.sparse.mm(structure.csr(values), x)
    return _EdgeSpMM.apply(values, x.contiguous(), structure)


def edge_dot(structure: EdgeStructure, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``<a[rows_e], b[cols_e]>`` per edge; differentiable in ``a`` and ``b``."""
    _check_edge_args(structure, a, structure.shape[0], "a")
    _check_edge_args(structure, b, structure.shape[1], "b")
    if not torch.is_grad_enabled() or not (a.requires_grad or b.requires_grad):
        return structure.gather_dot(a, b)
    return _EdgeDot.apply(a.contiguous(), b.contiguous(), structure)


def adaptive_mask(structure: EdgeStructure, x: torch.Tensor) -> torch.Tensor:
    """DCCF's adaptive mask on a square pattern: per-edge ``α_ht = (cos(x_h, x_t) + 1)/2``,
    row-normalized (``α_ht / Σ_t' α_ht'``, 0 for rows summing to 0). Returns the
    ``(num_edges,)`` values of the masked matrix."""
    xn = F.normalize(x, dim=1)
    alpha = (edge_dot(structure, xn, xn) + 1.0) / 2.0
    deg = torch.zeros(structure.shape[0], dtype=alpha.dtype, device=alpha.device)
    deg = deg.index_add(0, structure.rows, alpha)
    inv = torch.where(deg > 0, deg.clamp_min(torch.finfo(deg.dtype).tiny).reciprocal(),
                      torch.zeros_like(deg))
    return inv[structure.rows] * alpha


def in_batch_info_nce(a: torch.Tensor, b: torch.Tensor, tau: float, block_size: int | None = None
                      ) -> torch.Tensor:
    """``mean_n [log Σ_m exp(â_n·b̂_m/τ) − â_n·b̂_n/τ]`` with L2-normalized rows."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    lse = blockwise_logsumexp_matmul(a, b, tau, block_size)
    return (lse - (a * b).sum(1) / tau).mean()


# --------------------------------------------------------------------- the model
class DCCF(Recommender):
    """DCCF recommender; see the module docstring for the equations and options."""

    def __init__(self, dataset: InteractionDataset, config: dict[str, Any],
                 device: torch.device | str = "cpu") -> None:
        super().__init__(dataset, config, device)
        _check_config(self.config)
        cfg = self.config
        dim, k = int(cfg["embedding_dim"]), int(cfg["num_intents"])
        self.num_layers = int(cfg["num_layers"])
        self.user_embedding = nn.Embedding(self.num_users, dim)
        self.item_embedding = nn.Embedding(self.num_items, dim)
        nn.init.xavier_normal_(self.user_embedding.weight)
        nn.init.xavier_normal_(self.item_embedding.weight)
        self.user_intent = nn.Parameter(nn.init.xavier_normal_(torch.empty(dim, k)))
        self.item_intent = nn.Parameter(nn.init.xavier_normal_(torch.empty(dim, k)))
        self.graph = bipartite_adjacency(self._train_pairs, self.num_users, self.num_items)
        rows, cols, _ = self.graph.coo()
        self.edges = EdgeStructure(rows, cols, self.graph.shape)

    # ------------------------------------------------------------ propagation
    def ego(self) -> torch.Tensor:
        return torch.cat([self.user_embedding.weight, self.item_embedding.weight], 0)

    def intent_view(self, emb: torch.Tensor) -> torch.Tensor:
        """``R = [softmax(E_u C_u) C_u^T; softmax(E_i C_i) C_i^T]``."""
        eu, ei = torch.split(emb, [self.num_users, self.num_items])
        ru = torch.softmax(eu @ self.user_intent, dim=1) @ self.user_intent.T
        ri = torch.softmax(ei @ self.item_intent, dim=1) @ self.item_intent.T
        return torch.cat([ru, ri], 0)

    def layer(self, emb: torch.Tensor) -> dict[str, torch.Tensor]:
        """The four views of one layer from ``E^l``: ``z`` (graph), ``r`` (intent),
        ``h_beta`` (mask from ``z``), ``h_gamma`` (mask from ``r``)."""
        z = self.graph @ emb
        r = self.intent_view(emb)
        detach = not bool(self.config["mask_grad"])
        mask_beta = adaptive_mask(self.edges, z.detach() if detach else z)
        mask_gamma = adaptive_mask(self.edges, r.detach() if detach else r)
        return {"z": z, "r": r, "h_beta": edge_spmm(self.edges, mask_beta, emb),
                "h_gamma": edge_spmm(self.edges, mask_gamma, emb)}

    def propagate(self) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """Final ``E = Σ_l E^l`` (all nodes) and the views of each layer."""
        emb = self.ego()
        total, views = emb, []
        for _ in range(self.num_layers):
            v = self.layer(emb)
            views.append(v)
            emb = emb + v["z"] + v["r"] + v["h_beta"] + v["h_gamma"]
            total = total + emb
        return total, views

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (user, item) embeddings; scoring (base class) is ``e_u · e_i``."""
        total, _ = self.propagate()
        return torch.split(total, [self.num_users, self.num_items])

    # ----------------------------------------------------------------- batches
    def batches(self, generator: torch.Generator) -> Iterator[Any]:
        per_epoch = int(self.config["batches_per_epoch"])
        if per_epoch == 0:
            return super().batches(generator)
        return self._sampled_batches(per_epoch, generator)

    def num_batches(self) -> int:
        per_epoch = int(self.config["batches_per_epoch"])
        return per_epoch if per_epoch > 0 else super().num_batches()

    def _sampled_batches(self, count: int, generator: torch.Generator) -> Iterator[Any]:
        sampler, size = self.sampler, int(self.config["batch_size"])
        dev = sampler.device
        active = torch.nonzero(sampler.degree > 0).reshape(-1)
        for _ in range(count):
            if self.config["batch_sampling"] == "user":
                users = active[torch.randint(active.numel(), (size,), generator=generator, device=dev)]
                offset = (torch.rand(size, generator=generator, device=dev)
                          * sampler.degree[users]).long().clamp_max(sampler.degree[users] - 1)
                pos = sampler.keys[sampler.indptr[users] + offset] - users * self.num_items
            else:
                idx = torch.randint(self._train_pairs.size(1), (size,), generator=generator, device=dev)
                users, pos = self._train_pairs[0, idx], self._train_pairs[1, idx]
            neg = sampler.sample(users, 1, generator).reshape(-1)
            yield users, pos, neg

    # --------------------------------------------------------------------- loss
    def regularizers(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(emb_reg · ||batch ego||², cen_reg · (||C_u||² + ||C_i||²))``."""
        emb = (counted_square_sum(self.user_embedding.weight, users)
               + counted_square_sum(self.item_embedding.weight, torch.cat([pos, neg])))
        if self.config["emb_reg_norm"] == "mean":
            emb = emb / users.numel()
        cen = self.user_intent.pow(2).sum() + self.item_intent.pow(2).sum()
        return float(self.config["emb_reg"]) * emb, float(self.config["cen_reg"]) * cen

    def contrastive(self, views: list[dict[str, torch.Tensor]], users: torch.Tensor,
                    items: torch.Tensor) -> torch.Tensor:
        """``Σ_l Σ_{V in r, h_beta, h_gamma}`` InfoNCE(Z, V) over unique users and unique items
        (unweighted by ``ssl_reg``)."""
        tau = float(self.config["temperature"])
        block = int(self.config["cl_block_size"]) or None
        nodes = [torch.unique(users), torch.unique(items) + self.num_users]
        total = self.user_embedding.weight.new_zeros(())
        for v in views:
            for idx in nodes:
                z = v["z"][idx]
                for name in ("r", "h_beta", "h_gamma"):
                    total = total + in_batch_info_nce(z, v[name][idx], tau, block)
        return total

    def loss(self, batch: Any) -> dict[str, torch.Tensor]:
        self._cache = None
        users, pos, neg = batch
        neg = neg[:, 0] if neg.dim() == 2 else neg
        total, views = self.propagate()
        u, p, n = gather_triples(total, self.num_users, users, pos, neg)
        rec = bpr_loss((u * p).sum(-1), (u * n).sum(-1))
        emb, cen = self.regularizers(users, pos, neg)
        items = pos if self.config["cl_items"] == "pos" else torch.cat([pos, neg])
        cl = float(self.config["ssl_reg"]) * self.contrastive(views, users, items)
        return {"loss": rec + emb + cen + cl, "bpr": rec, "emb": emb, "cen": cen, "cl": cl}

    # ------------------------------------------------------------------ scoring
    def prepare_scoring(self) -> None:
        """The base class's cache of :meth:`embeddings`, built without autograd even when
        :meth:`full_scores` is called outside ``no_grad``."""
        with torch.no_grad():
            super().prepare_scoring()

    def _apply(self, fn, *args, **kwargs):
        # keep the graph and the edge pattern beside the parameters (.to(device), .double())
        out = super()._apply(fn, *args, **kwargs)
        weight = self.user_embedding.weight
        if self.graph.device != weight.device or self.graph.dtype != weight.dtype:
            self.graph = self.graph.to(device=weight.device, dtype=weight.dtype)
        if self.edges.rows.device != weight.device:
            self.edges = self.edges.to(weight.device)
        return out


def _check_config(cfg: dict[str, Any]) -> None:
    """Reject values the equations do not allow, naming the key."""
    checks = [
        ("embedding_dim", int(cfg["embedding_dim"]) > 0, "must be a positive integer"),
        ("num_layers", int(cfg["num_layers"]) >= 0, "must be >= 0"),
        ("num_intents", int(cfg["num_intents"]) > 0, "must be a positive integer (K intent prototypes)"),
        ("temperature", float(cfg["temperature"]) > 0, "must be > 0 (the InfoNCE temperature τ)"),
        ("emb_reg", float(cfg["emb_reg"]) >= 0, "must be >= 0"),
        ("cen_reg", float(cfg["cen_reg"]) >= 0, "must be >= 0"),
        ("ssl_reg", float(cfg["ssl_reg"]) >= 0, "must be >= 0"),
        ("batch_size", int(cfg["batch_size"]) > 0, "must be a positive integer"),
        ("batches_per_epoch", int(cfg["batches_per_epoch"]) >= 0,
         "must be >= 0 (0: one pass over the training pairs)"),
        ("cl_block_size", int(cfg["cl_block_size"]) >= 0, "must be >= 0 (0: 256 on CPU, 4096 on GPU)"),
        ("batch_sampling", cfg["batch_sampling"] in ("user", "pair"), "must be 'user' or 'pair'"),
        ("cl_items", cfg["cl_items"] in ("pos", "pos_neg"), "must be 'pos' or 'pos_neg'"),
        ("emb_reg_norm", cfg["emb_reg_norm"] in ("sum", "mean"), "must be 'sum' or 'mean'"),
    ]
    for key, ok, why in checks:
        if not ok:
            raise ConfigError(f"dccf: config key '{key}' {why}, got {cfg[key]!r}")


DCCF_DEFAULTS: dict[str, Any] = {
    **TRAIN_DEFAULTS, "epochs": 100, "lr": 1e-3, "batch_size": 10240, "batches_per_epoch": 40,
    "embedding_dim": 32, "num_layers": 2, "num_intents": 128, "temperature": 1.0,
    "emb_reg": 2.5e-5, "cen_reg": 5e-3, "ssl_reg": 0.1,
    "batch_sampling": "user", "cl_items": "pos", "emb_reg_norm": "sum", "mask_grad": True,
    "cl_block_size": 0,
}

register_method(MethodSpec(
    name="dccf", kind="rec", build=DCCF, defaults=DCCF_DEFAULTS,
    # HKUDS/DCCF@c9bcac4fee2e15d1a02a1396470b3ec29b5177d1 README.md:40 (gowalla --epoch 150; amazon and
    # tmall --epoch 100 = the default, and not held); the rest is utility/parser.py's defaults
    presets={"gowalla": {"epochs": 150}},
    description="DCCF: intent prototypes + adaptive per-edge masks, four-view contrastive learning, BPR",
    paper="Ren et al., Disentangled Contrastive Collaborative Filtering, SIGIR 2023"))
