"""Dot-product scores ranked blockwise: a fused running top-k that never holds a user x all-items matrix.

Most graph recommenders score ``s(u, i) = e_u · e_i`` (LightGCN eq. 9). Ranking all
items for a batch of users the direct way writes the ``B x |I|`` score matrix, masks the
training items and sorts it. At Gowalla's size (|I| = 40,981, d = 64) that matrix is
168 MB per 1,024 users, and the matmul that fills it runs at about a quarter of this
CPU's fp32 peak because every output page is fresh memory (26 GFLOP/s against 91 for a
cache-sized block, ``experiments/benchmarks/bench_eval_topk.py``).

:class:`DotProductScores` keeps both tables and ranks in blocks of ``block_rows`` users
by ``block_cols`` items, reusing one output buffer: for each block it computes the
scores, sets the excluded items to ``-inf`` and keeps only the entries that can still
enter a user's top ``k`` (those at or above a per-user bound that ``k`` known entries
reach, found through maxima over groups of 64 columns); the kept entries are ranked once
per row block, or earlier when they pile up, which raises the bound. A ``torch.topk`` over
each whole block would cost about twice the block's matmul on this CPU. The result
equals the top ``k`` of the full matrix up to the order of exactly tied scores (the
materialized path's order among ties is unspecified too). The object is also a plain
``score_fn`` (``scores(users)`` returns the full rows), so code written for any scorer
keeps working. Speed-up and distance to the matmul floor: ``results/eval_topk.md``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

#: 256 users x 4,096 items of fp32 is a 4 MiB buffer: the matmul runs near this CPU's peak
#: (91-93 GFLOP/s at one thread, d = 64) and the top-k reads it from cache.
BLOCK_ROWS = 256
BLOCK_COLS = 4096


@dataclass(frozen=True)
class DotProductScores:
    """``score(u, i) = users[u] · items[i]``, a callable ``score_fn`` that also ranks blockwise.

    Args:
        users: ``(num_users, d)`` float table. items: ``(num_items, d)`` float table.
        block_rows, block_cols: the block of the score matrix held at once.
    """

    users: torch.Tensor
    items: torch.Tensor
    block_rows: int = BLOCK_ROWS
    block_cols: int = BLOCK_COLS

    def __post_init__(self) -> None:
        if self.users.dim() != 2 or self.items.dim() != 2 or self.users.size(1) != self.items.size(1):
            raise ValueError(f"DotProductScores needs (num_users, d) and (num_items, d) tables, got "
                             f"{tuple(self.users.shape)} and {tuple(self.items.shape)}")
        if int(self.block_rows) <= 0 or int(self.block_cols) <= 0:
            raise ValueError(f"block_rows and block_cols must be positive, got "
                             f"{self.block_rows} and {self.block_cols}")

    @property
    def num_items(self) -> int:
        return int(self.items.size(0))

    def __call__(self, users: torch.Tensor) -> torch.Tensor:
        """The full ``(len(users), num_items)`` score rows."""
        return self.users[users] @ self.items.T

    @functools.cached_property
    def products_are_finite(self) -> bool:
        """True when no score can be NaN (:func:`_products_are_finite`), computed once."""
        return _products_are_finite(self.users, self.items)

    def to(self, device: torch.device) -> "DotProductScores":
        """Both tables on ``device`` (detached, floating point)."""
        def prep(t: torch.Tensor) -> torch.Tensor:
            t = t.detach()
            return (t if t.is_floating_point() else t.float()).to(device)
        return DotProductScores(prep(self.users), prep(self.items), self.block_rows, self.block_cols)

    def top_k(self, users: torch.Tensor, k: int, exclude_rows: torch.Tensor | None = None,
              exclude_cols: torch.Tensor | None = None) -> torch.Tensor:
        """Item ids ``(len(users), k)`` of each user's ``k`` highest scores, best first.

        ``(exclude_rows[j], exclude_cols[j])`` are (position in ``users``, item) pairs that
        get ``-inf``. ``k`` must be at most ``num_items``. Raises ``FloatingPointError``
        naming the first rows whose scores are NaN (the caller reports them its own way).
        """
        n_items = self.num_items
        if not 0 < k <= n_items:
            raise ValueError(f"k must be in [1, {n_items}], got {k}")
        rows_total = int(users.numel())
        dev = self.items.device
        cols, rows = max(int(self.block_cols), k), int(self.block_rows)
        n_col_blocks = (n_items + cols - 1) // cols
        excluded = exclude_rows is not None and exclude_rows.numel() > 0
        if excluded:   # sort the excluded pairs by (row block, column block) once
            key = (exclude_rows // rows) * n_col_blocks + exclude_cols // cols
            order = torch.argsort(key, stable=True)
            ex_rows, ex_cols = exclude_rows[order], exclude_cols[order]
            n_blocks = (rows_total + rows - 1) // rows * n_col_blocks
            bounds = torch.searchsorted(key[order], torch.arange(n_blocks + 1, device=key.device)).tolist()
        check_nan = not self.products_are_finite
        buffer = torch.empty(min(rows, rows_total) * min(cols, n_items), dtype=self.items.dtype, device=dev)
        best_idx = torch.empty(rows_total, k, dtype=torch.long, device=dev)
        for r0 in range(0, rows_total, rows):
            r1 = min(r0 + rows, rows_total)
            user_rows = self.users[users[r0:r1]]
            pool = _CandidatePool(r1 - r0, k)
            for b, c0 in enumerate(range(0, n_items, cols)):
                c1 = min(c0 + cols, n_items)
                block = buffer[:(r1 - r0) * (c1 - c0)].view(r1 - r0, c1 - c0)
                torch.mm(user_rows, self.items[c0:c1].T, out=block)
                if check_nan and bool(torch.isnan(block).any()):
                    bad = torch.isnan(block).any(dim=1).nonzero().reshape(-1) + r0
                    raise FloatingPointError(bad.tolist())
                if excluded:
                    at = r0 // rows * n_col_blocks + b          # this block's range of excluded pairs
                    lo, hi = bounds[at], bounds[at + 1]
                    block[ex_rows[lo:hi] - r0, ex_cols[lo:hi] - c0] = float("-inf")
                pool.add(block, c0)
            best_idx[r0:r1] = pool.top()
        return best_idx


def _products_are_finite(users: torch.Tensor, items: torch.Tensor) -> bool:
    """True when no dot product of a row of ``users`` with a row of ``items`` can be NaN: both
    tables are finite and ``d · max|u| · max|i|`` is below the dtype's largest value (no
    partial sum overflows, so no ``inf - inf``)."""
    if users.numel() == 0 or items.numel() == 0:
        return True
    top_u, top_i = users.abs().max(), items.abs().max()
    if not (bool(torch.isfinite(top_u)) and bool(torch.isfinite(top_i))):
        return False
    return float(top_u) * float(top_i) * users.size(1) < torch.finfo(items.dtype).max / 2


#: columns per group of the candidate pre-filter
GROUP = 64
#: a pool holding more than this many candidates per row and per unit of ``k`` is ranked and
#: cut back to each row's top ``k`` (which also raises its bound)
POOL_LIMIT = 2


class _CandidatePool:
    """The entries of one row block's score blocks that can still enter each row's top ``k``.

    Every row has a bound: an entry below it cannot enter the row's top ``k`` because ``k``
    entries at least as high are already known. The first block sets it to the ``k``-th
    largest of the row's group maxima (max over :data:`GROUP` adjacent columns: ``k``
    groups reach that value, so ``k`` entries do); later blocks only add the entries at or
    above it, a few per row and block once the bound is good. Ranking happens once per row
    block (:meth:`top`), or when the pool outgrows :data:`POOL_LIMIT` (ties, excluded
    items), which also raises the bound to the running ``k``-th score.

    Excluded items (``-inf``) enter as the dtype's lowest finite value, so the padding of
    the ranked matrix (``-inf``) never wins over a real item.
    """

    def __init__(self, rows: int, k: int) -> None:
        self.rows, self.k = rows, k
        self.bound: torch.Tensor | None = None
        self.filled: torch.Tensor | None = None      # candidates held per row
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.size = 0

    def add(self, block: torch.Tensor, c0: int) -> None:
        """Keep the entries of ``block`` (column 0 is item ``c0``) at or above the bound."""
        if self.bound is None:
            self.bound = _first_bound(block, self.k)
            self.filled = torch.zeros(self.rows, dtype=torch.long, device=block.device)
        r, c = _at_least(block, self.bound)
        if r.numel() == 0:
            return
        counts = torch.bincount(r, minlength=self.rows)
        pos = self.filled[r] + torch.arange(r.numel(), device=r.device) - (counts.cumsum(0) - counts)[r]
        lowest = torch.finfo(block.dtype).min
        self.parts.append((r, pos, c + c0, block[r, c].clamp_min(lowest)))
        self.filled += counts
        self.size += r.numel()
        if self.size > POOL_LIMIT * self.k * self.rows:
            self._cut()

    def _ranked(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's top ``k`` of the pool: (values, item ids), best first."""
        width = int(self.filled.max())
        like = self.parts[0][3]
        values = like.new_full((self.rows, width), float("-inf"))
        items = torch.full((self.rows, width), -1, dtype=torch.long, device=like.device)
        for r, pos, c, v in self.parts:
            values[r, pos] = v
            items[r, pos] = c
        val, pick = torch.topk(values, self.k, dim=1)
        return val, items.gather(1, pick)

    def _cut(self) -> None:
        val, items = self._ranked()
        dev = val.device
        self.parts = [(torch.arange(self.rows, device=dev).repeat_interleave(self.k),
                       torch.arange(self.k, device=dev).repeat(self.rows), items.reshape(-1), val.reshape(-1))]
        self.filled = torch.full((self.rows,), self.k, dtype=torch.long, device=dev)
        self.size = self.rows * self.k
        self.bound = val[:, -1:]

    def top(self) -> torch.Tensor:
        """Item ids ``(rows, k)`` of each row's top ``k``, best first."""
        return self._ranked()[1]


def _first_bound(block: torch.Tensor, k: int) -> torch.Tensor:
    """``(rows, 1)``: a value that ``k`` entries of each row of ``block`` reach (``block`` has
    at least ``k`` columns): the ``k``-th largest group max, or the ``k``-th largest entry
    when the block has fewer than ``k`` whole groups."""
    rows, width = block.shape
    if width % GROUP == 0 and width // GROUP >= k:
        return torch.topk(block.view(rows, width // GROUP, GROUP).amax(dim=2), k, dim=1).values[:, -1:]
    return torch.topk(block, k, dim=1).values[:, -1:]


def _at_least(block: torch.Tensor, bound: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of the entries of ``block`` at or above their row's ``bound``, row-major.

    The group maxima come first (one vectorized pass, about a tenth of an elementwise
    comparison and the ``nonzero`` after it); only the groups that reach the bound are
    compared element by element.
    """
    rows, width = block.shape
    if width % GROUP:
        return (block >= bound).nonzero(as_tuple=True)
    groups = block.view(rows, width // GROUP, GROUP)
    g_row, g_col = (groups.amax(dim=2) >= bound).nonzero(as_tuple=True)
    e_pair, e_col = (groups[g_row, g_col] >= bound[g_row]).nonzero(as_tuple=True)
    return g_row[e_pair], g_col[e_pair] * GROUP + e_col
