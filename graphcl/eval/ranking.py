"""Full-ranking top-k evaluation (all items ranked for every user).

The metric definitions are exactly RecBole 1.2.1's (``recbole.evaluator.metrics``).
For a user ``u`` with ground-truth set ``R(u)`` (``|R(u)| = P``) and a ranked list
whose first ``k`` entries are marked by ``hit_1 .. hit_k`` (1 when the item at
rank ``i`` is in ``R(u)``):

* ``hit@k       = 1[sum_{i<=k} hit_i > 0]``
* ``precision@k = sum_{i<=k} hit_i / k``
* ``recall@k    = sum_{i<=k} hit_i / P``
* ``ndcg@k      = DCG@k / IDCG@k`` with ``DCG@k = sum_{i<=k} hit_i / log2(i + 1)`` and
  ``IDCG@k = sum_{i<=min(P, k)} 1 / log2(i + 1)``
* ``mrr@k       = 1 / r*`` where ``r*`` is the rank of the first hit if ``r* <= k``, else 0

Every metric is averaged over the evaluated users: users without any ground-truth
item are skipped, as RecBole does, and the mean is the exact ``sum / count`` over
all of them (not a mean of batch means).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence, Union

import numpy as np
import scipy.sparse as sp
import torch

from graphcl.eval.dot_product_scores import DotProductScores

RANKING_METRICS: tuple[str, ...] = ("recall", "ndcg", "precision", "hit", "mrr")

Interactions = Union[sp.spmatrix, "sp.sparray", torch.Tensor, np.ndarray]
ScoreFn = Callable[[torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------- validation
def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    if isinstance(ks, (int, np.integer)):
        ks = (int(ks),)
    ks = tuple(ks)
    if not ks:
        raise ValueError("ks is empty: give at least one cutoff k >= 1, e.g. ks=(10, 20)")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
            raise ValueError(f"invalid cutoff k={k!r}: every k must be an integer >= 1")
    return tuple(sorted({int(k) for k in ks}))


def _check_metrics(metrics: Iterable[str]) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    out = []
    for m in metrics:
        name = str(m).lower()
        if name not in RANKING_METRICS:
            raise ValueError(f"unknown ranking metric {m!r}; valid metrics: {', '.join(RANKING_METRICS)}")
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError(f"no metric given; valid metrics: {', '.join(RANKING_METRICS)}")
    return tuple(out)


# ------------------------------------------------------------ pure metrics
def metrics_from_hits(hits: torch.Tensor, num_pos: torch.Tensor, ks: Sequence[int] = (10, 20),
                      metrics: Sequence[str] = RANKING_METRICS) -> dict[str, torch.Tensor]:
    """Per-user metric values from a top-K hit matrix (RecBole's ``metric_info``).

    Args:
        hits: bool ``(B, K)``; ``hits[u, i]`` is True when the item ranked ``i + 1`` for
            user ``u`` is a ground-truth item. ``K >= max(ks)``.
        num_pos: ``(B,)`` number of ground-truth items ``|R(u)|`` of each user.
        ks: cutoffs. metrics: names from :data:`RANKING_METRICS`.

    Returns:
        ``{"recall@10": Tensor (B,), ...}`` in float64. See the module docstring for
        the formulas. A user with ``num_pos == 0`` gets 0 for recall and ndcg.
    """
    ks = _check_ks(ks)
    metrics = _check_metrics(metrics)
    if hits.dim() != 2:
        raise ValueError(f"hits must be a (B, K) matrix, got shape {tuple(hits.shape)}")
    B, K = hits.shape
    if K < ks[-1]:
        raise ValueError(f"hits has {K} columns but the largest cutoff is k={ks[-1]}")
    num_pos = torch.as_tensor(num_pos, device=hits.device).reshape(-1)
    if num_pos.numel() != B:
        raise ValueError(f"num_pos has {num_pos.numel()} entries for {B} rows of hits")
    hits = hits[:, :ks[-1]].to(torch.bool)
    K = ks[-1]
    f64 = torch.float64
    dev = hits.device
    hitf = hits.to(f64)
    cum = hitf.cumsum(dim=1)                                            # (B, K) hits within top-i
    npos = num_pos.to(f64).clamp_min(1.0)
    ranks = torch.arange(1, K + 1, device=dev, dtype=f64)
    out: dict[str, torch.Tensor] = {}
    if "ndcg" in metrics:
        disc = 1.0 / torch.log2(ranks + 1.0)                            # 1 / log2(i + 1)
        dcg = (hitf * disc).cumsum(dim=1)
        ideal = disc.cumsum(dim=0)                                      # IDCG with i ideal hits
    if "mrr" in metrics:
        first = torch.where(hits, ranks, torch.full_like(ranks, K + 1.0)).min(dim=1).values
    for k in ks:
        c = cum[:, k - 1]
        for m in metrics:
            if m == "recall":
                v = c / npos
            elif m == "precision":
                v = c / k
            elif m == "hit":
                v = (c > 0).to(f64)
            elif m == "ndcg":
                n_ideal = num_pos.clamp(1, k).to(torch.long) - 1
                v = dcg[:, k - 1] / ideal[n_ideal]
            else:  # mrr
                v = torch.where(first <= k, 1.0 / first, torch.zeros_like(first))
            out[f"{m}@{k}"] = v
    return out


# -------------------------------------------------------------- input forms
def _to_csr(x: Interactions, num_users: int, num_items: int, what: str) -> sp.csr_matrix:
    """A binary CSR ``num_users x num_items`` matrix from a sparse matrix or (2, n) pairs."""
    if sp.issparse(x):
        m = sp.csr_matrix(x)
        if m.shape[1] != num_items:
            raise ValueError(f"{what} has {m.shape[1]} item columns, the evaluator has num_items={num_items}")
        if m.shape[0] < num_users:  # pad missing trailing users with empty rows
            m = sp.csr_matrix((m.data, m.indices, np.concatenate(
                [m.indptr, np.full(num_users - m.shape[0], m.indptr[-1])])), shape=(num_users, num_items))
    else:
        pairs = torch.as_tensor(x).detach().cpu().long().numpy() if not isinstance(x, np.ndarray) \
            else np.asarray(x, dtype=np.int64)
        if pairs.ndim != 2 or pairs.shape[0] != 2:
            raise ValueError(f"{what} must be a scipy sparse users x items matrix or a (2, n) "
                             f"tensor of (user, item) pairs, got shape {pairs.shape}")
        if pairs.size and (pairs[1].min() < 0 or pairs[1].max() >= num_items):
            raise ValueError(f"{what} has item ids outside [0, {num_items})")
        if pairs.size and pairs[0].min() < 0:
            raise ValueError(f"{what} has negative user ids")
        m = sp.csr_matrix((np.ones(pairs.shape[1], dtype=np.float32), (pairs[0], pairs[1])),
                          shape=(num_users, num_items))
    m = m.copy()
    m.eliminate_zeros()
    m.sum_duplicates()
    m.sort_indices()
    return m


def _num_rows(x: Interactions) -> int:
    if sp.issparse(x):
        return int(x.shape[0])
    pairs = torch.as_tensor(np.asarray(x) if isinstance(x, np.ndarray) else x)
    return int(pairs[0].max()) + 1 if pairs.dim() == 2 and pairs.numel() else 0


class _DeviceCSR:
    """CSR index arrays on a device: row nonzeros and membership, without Python loops."""

    def __init__(self, m: sp.csr_matrix, device: torch.device) -> None:
        self.indptr = torch.as_tensor(m.indptr.astype(np.int64), device=device)
        self.indices = torch.as_tensor(m.indices.astype(np.int64), device=device)
        self.num_cols = m.shape[1]
        rows = torch.repeat_interleave(torch.arange(m.shape[0], device=device),
                                       self.indptr[1:] - self.indptr[:-1])
        self.keys = rows * self.num_cols + self.indices                 # sorted (CSR, sorted indices)

    def row_lengths(self, rows: torch.Tensor) -> torch.Tensor:
        return self.indptr[rows + 1] - self.indptr[rows]

    def coords(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch row, column) of every nonzero of ``rows``, without a Python loop."""
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        batch_row = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), lengths)
        offsets = torch.cumsum(lengths, 0) - lengths                    # first slot of each row
        pos = starts[batch_row] + torch.arange(batch_row.numel(), device=rows.device) - offsets[batch_row]
        return batch_row, self.indices[pos]

    def contains(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Bool ``(B, K)``: is ``(rows[b], cols[b, j])`` a nonzero (one searchsorted)."""
        if self.keys.numel() == 0:
            return torch.zeros(cols.shape, dtype=torch.bool, device=cols.device)
        q = rows.reshape(-1, 1) * self.num_cols + cols
        pos = torch.searchsorted(self.keys, q).clamp_max(self.keys.numel() - 1)
        return self.keys[pos] == q


@dataclass
class RankingResult:
    """What :meth:`RankingEvaluator.evaluate_detailed` returns."""

    metrics: dict[str, float]
    num_users: int
    users: torch.Tensor
    per_user: dict[str, torch.Tensor] = field(default_factory=dict)


class RankingEvaluator:
    """Full-sort top-k evaluation over all items, batched over users on ``device``.

    Args:
        num_items: number of item columns ``score_fn`` returns.
        ks: cutoffs, e.g. ``(10, 20)``. metrics: subset of :data:`RANKING_METRICS`.
        batch_size: users scored per call of ``score_fn``.
        device: where users are sent and masks are built (default CPU).
    """

    def __init__(self, num_items: int, ks: Sequence[int] = (10, 20),
                 metrics: Sequence[str] = RANKING_METRICS, batch_size: int = 1024,
                 device: torch.device | str | None = None) -> None:
        if int(num_items) <= 0:
            raise ValueError(f"num_items must be positive, got {num_items}")
        if int(batch_size) <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.num_items = int(num_items)
        self.ks = _check_ks(ks)
        self.metrics = _check_metrics(metrics)
        self.batch_size = int(batch_size)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.last_num_users = 0
        #: ``(rank, world_size)`` under torch.distributed: this process scores every
        #: ``world_size``-th evaluated user from ``rank`` and the metric sums and user
        #: counts are summed over the ranks (``per_user`` values stay the rank's own)
        self.shard: tuple[int, int] | None = None

    @property
    def metric_keys(self) -> list[str]:
        return [f"{m}@{k}" for m in self.metrics for k in self.ks]

    def evaluate(self, score_fn: ScoreFn, ground_truth: Interactions,
                 exclude: Interactions | Sequence[Interactions] = (),
                 users: torch.Tensor | Sequence[int] | None = None) -> dict[str, float]:
        """Mean metrics over users with ground truth; sets ``self.last_num_users``.

        ``score_fn(users)`` gets a LongTensor of user ids on ``self.device`` and returns
        float scores ``(len(users), num_items)``. Items in ``exclude`` (e.g. training,
        and validation when testing) get ``-inf`` before the top-k.
        """
        return self.evaluate_detailed(score_fn, ground_truth, exclude, users).metrics

    def evaluate_detailed(self, score_fn: ScoreFn, ground_truth: Interactions,
                          exclude: Interactions | Sequence[Interactions] = (),
                          users: torch.Tensor | Sequence[int] | None = None,
                          per_user: bool = False) -> RankingResult:
        """Like :meth:`evaluate`, also giving the evaluated users (and per-user values)."""
        excludes = [exclude] if (sp.issparse(exclude) or isinstance(exclude, (torch.Tensor, np.ndarray))) \
            else list(exclude)
        num_users = max([_num_rows(ground_truth)] + [_num_rows(e) for e in excludes])
        if users is not None:
            users = torch.as_tensor(users, dtype=torch.long).reshape(-1).cpu()
            if users.numel() and int(users.min()) < 0:
                raise ValueError(f"user ids must be >= 0, got {int(users.min())}")
            if users.numel():
                num_users = max(num_users, int(users.max()) + 1)
        gt = _to_csr(ground_truth, num_users, self.num_items, "ground_truth")
        ex = None
        for i, e in enumerate(excludes):
            m = _to_csr(e, num_users, self.num_items, f"exclude[{i}]")
            ex = m if ex is None else ex + m
        pos_counts = torch.as_tensor(np.diff(gt.indptr).astype(np.int64))
        if users is None:
            users = torch.nonzero(pos_counts > 0).reshape(-1)
        else:
            users = users[pos_counts[users] > 0]          # skip users without ground truth
        if self.shard is not None:
            rank, world = self.shard
            users = users[rank::world]
        dev = self.device
        gt_d = _DeviceCSR(gt, dev)
        ex_d = _DeviceCSR(ex.tocsr(), dev) if ex is not None and ex.nnz else None
        users_d = users.to(dev)
        kmax = min(self.ks[-1], self.num_items)
        parts: dict[str, list[torch.Tensor]] = {key: [] for key in self.metric_keys}
        blocked = self._check_blocked(score_fn, users_d) if isinstance(score_fn, DotProductScores) else None
        for start in range(0, users_d.numel(), self.batch_size):
            batch = users_d[start:start + self.batch_size]
            if blocked is not None:
                top = self._blocked_top(blocked, score_fn, batch, ex_d, kmax)
            else:
                top = self._full_top(score_fn, batch, ex_d, kmax)
            hits = gt_d.contains(batch, top)
            if kmax < self.ks[-1]:  # fewer items than the largest cutoff: pad with misses
                hits = torch.cat([hits, hits.new_zeros(hits.size(0), self.ks[-1] - kmax)], dim=1)
            values = metrics_from_hits(hits, gt_d.row_lengths(batch), self.ks, self.metrics)
            for key, v in values.items():
                parts[key].append(v)
        n = int(users_d.numel())
        # sum the concatenated per-user values once: bit-identical for any batch size
        detail = {key: torch.cat(p) if p else torch.zeros(0, dtype=torch.float64, device=dev)
                  for key, p in parts.items()}
        sums = {key: v.sum() for key, v in detail.items()}
        if self.shard is not None:
            from graphcl.train.distributed import all_reduce_sums
            keys = list(sums)
            total = all_reduce_sums(torch.stack([sums[k] for k in keys] +
                                                [torch.tensor(float(n), dtype=torch.float64, device=dev)]))
            sums, n = {k: total[i] for i, k in enumerate(keys)}, int(round(float(total[-1])))
        self.last_num_users = n
        means = {key: (float(v) / n if n else 0.0) for key, v in sums.items()}
        detail = {key: v.cpu() for key, v in detail.items()} if per_user else {}
        return RankingResult(metrics=means, num_users=n, users=users, per_user=detail)

    def _full_top(self, score_fn: ScoreFn, batch: torch.Tensor, ex_d: _DeviceCSR | None,
                  kmax: int) -> torch.Tensor:
        """Top-``kmax`` items of each user of ``batch`` from the materialized score rows."""
        scores, owned = self._scores(score_fn, batch)
        if ex_d is None:
            return torch.topk(scores, kmax, dim=1).indices
        r, c = ex_d.coords(batch)
        saved = None if owned else scores[r, c]
        scores[r, c] = float("-inf")
        try:
            return torch.topk(scores, kmax, dim=1).indices
        finally:
            if saved is not None:       # leave the caller's tensor as it was
                scores[r, c] = saved

    def _check_blocked(self, scores: DotProductScores, users: torch.Tensor) -> DotProductScores:
        """``scores`` on the evaluator's device, after checking its tables fit the data."""
        if scores.num_items != self.num_items:
            raise ValueError(f"the item table of the DotProductScores has {scores.num_items} rows; "
                             f"the evaluator has num_items={self.num_items}")
        if users.numel() and int(users.max()) >= scores.users.size(0):
            raise ValueError(f"user id {int(users.max())} is outside the user table of the "
                             f"DotProductScores ({scores.users.size(0)} rows)")
        return scores.to(self.device)

    def _blocked_top(self, blocked: DotProductScores, score_fn: ScoreFn, batch: torch.Tensor,
                     ex_d: _DeviceCSR | None, kmax: int) -> torch.Tensor:
        """Top-``kmax`` items of each user of ``batch`` by the fused blockwise ranking."""
        r, c = ex_d.coords(batch) if ex_d is not None else (None, None)
        try:
            return blocked.top_k(batch, kmax, r, c)
        except FloatingPointError:
            self._scores(score_fn, batch)   # raises the NaN error naming the users
            raise

    def _scores(self, score_fn: ScoreFn, batch: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Validated scores on the device, and whether they are a private copy."""
        scores = score_fn(batch)
        if not isinstance(scores, torch.Tensor):
            raise TypeError(f"score_fn must return a torch.Tensor, got {type(scores).__name__}")
        expected = (batch.numel(), self.num_items)
        if tuple(scores.shape) != expected:
            raise ValueError(f"score_fn returned scores of shape {tuple(scores.shape)}; expected "
                             f"(len(users), num_items) = {expected}")
        # a cheap sum catches NaN; only a non-finite sum needs the full check
        if not bool(torch.isfinite(scores.sum())) and bool(torch.isnan(scores).any()):
            bad = torch.isnan(scores).any(dim=1).nonzero().reshape(-1)[:10].to(batch.device)
            raise ValueError(f"score_fn returned NaN scores (users {batch[bad].tolist()} ...)")
        out = scores.detach()
        if not out.is_floating_point():
            out = out.float()
        out = out.to(self.device)
        owned = out.data_ptr() != scores.data_ptr()
        if not owned and (scores.requires_grad or 0 in out.stride()):
            out, owned = out.clone(), True   # never write into autograd or expanded tensors
        return out, owned


# --------------------------------------------------------------- formatting
def _split_key(key: str) -> tuple[str, str]:
    name, sep, k = key.partition("@")
    return (name, k) if sep else (key, "")


def _fmt(v: object) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4f}"
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return _fmt(float(v))
    return str(v)


def _one_table(results: Mapping[str, object]) -> list[str]:
    rows: dict[str, dict[str, object]] = {}
    cols: list[str] = []
    for key, value in results.items():
        name, k = _split_key(key)
        rows.setdefault(name, {})[k] = value
        if k not in cols:
            cols.append(k)
    cols.sort(key=lambda c: (c == "", int(c) if c.isdigit() else 0, c))
    header = ["metric"] + [f"@{c}" if c else "value" for c in cols]
    body = [[name] + [_fmt(vals[c]) if c in vals else "-" for c in cols] for name, vals in rows.items()]
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in body]


def format_metrics_table(results: Mapping[str, float] | Mapping[str, Mapping[str, float]]) -> str:
    """Plain-text table: one row per metric, one column per cutoff k.

    ``results`` is a flat ``{"recall@20": 0.1, ...}`` dict, or ``{section: flat dict}``
    (e.g. ``{"valid": ..., "test": ...}``), which gives one titled table per section.
    Keys without ``@k`` (e.g. ``num_users``) go to a ``value`` column.
    """
    if not results:
        return "(no metrics)"
    if all(isinstance(v, Mapping) for v in results.values()):
        blocks = []
        for section, flat in results.items():
            blocks.append("\n".join([f"[{section}]"] + _one_table(flat)))
        return "\n\n".join(blocks)
    return "\n".join(_one_table(results))
