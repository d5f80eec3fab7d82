"""Negative sampling for implicit-feedback recommenders, vectorized on the device.

For a user ``u`` with observed (training) items ``P(u)`` a negative is drawn
uniformly from ``I \\ P(u)``: ``Pr[j] = 1 / (|I| - |P(u)|)`` for ``j not in P(u)``.

Observed pairs are stored as sorted keys ``u * |I| + i``; membership of a batch
of candidates is one ``torch.searchsorted``. Sampling is rejection sampling
(draw uniformly from ``I``, redraw only the rejected entries), looping over
rejection rounds, never over users. Entries still rejected after ``max_rounds``
rounds (users who observed almost every item) are finished exactly by inverse
transform: with ``u``'s sorted positives ``p_0 < p_1 < ...`` and
``q_j = p_j - j`` (free items below ``p_j``), the ``r``-th free item
(``r`` uniform in ``[0, |I| - |P(u)|)``) is ``r + #{j : q_j <= r}``.
"""
from __future__ import annotations

from typing import Iterator

import torch

__all__ = ["UniformNegativeSampler", "bpr_triples"]


def _check_pairs(pairs: torch.Tensor, num_users: int, num_items: int) -> torch.Tensor:
    pairs = torch.as_tensor(pairs)
    if pairs.dim() != 2 or pairs.size(0) != 2:
        raise ValueError(f"train_pairs must be a (2, n) tensor of (user, item) pairs, "
                         f"got shape {tuple(pairs.shape)}")
    if pairs.dtype.is_floating_point or pairs.dtype == torch.bool:
        raise TypeError(f"train_pairs must hold integer ids, got dtype {pairs.dtype}")
    pairs = pairs.long()
    if pairs.numel():
        u, i = pairs
        if int(u.min()) < 0 or int(u.max()) >= num_users:
            raise ValueError(f"train_pairs has user ids outside [0, {num_users}): "
                             f"min {int(u.min())}, max {int(u.max())}")
        if int(i.min()) < 0 or int(i.max()) >= num_items:
            raise ValueError(f"train_pairs has item ids outside [0, {num_items}): "
                             f"min {int(i.min())}, max {int(i.max())}")
    return pairs


class UniformNegativeSampler:
    """Uniform negatives excluding each user's observed items.

    Args:
        train_pairs: ``(2, n)`` long tensor of observed (user, item) pairs
            (duplicates are fine).
        num_users, num_items: id ranges.
        device: where keys live and samples are drawn (default: ``train_pairs``'s).
        max_rounds: rejection rounds before the exact inverse-transform fallback.

    Attributes:
        saturated_users: users who observed every item; sampling for them raises.
    """

    def __init__(self, train_pairs: torch.Tensor, num_users: int, num_items: int,
                 device: torch.device | str | None = None, max_rounds: int = 10) -> None:
        if int(num_users) <= 0 or int(num_items) <= 0:
            raise ValueError(f"num_users and num_items must be positive, got {num_users}, {num_items}")
        self.num_users = int(num_users)
        self.num_items = int(num_items)
        self.max_rounds = max(0, int(max_rounds))
        pairs = _check_pairs(train_pairs, self.num_users, self.num_items)
        self.device = torch.device(device) if device is not None else pairs.device
        pairs = pairs.to(self.device)
        #: sorted unique keys ``user * num_items + item``
        self.keys = torch.unique(pairs[0] * self.num_items + pairs[1], sorted=True)
        users = self.keys // self.num_items
        items = self.keys - users * self.num_items
        self.degree = torch.bincount(users, minlength=self.num_users)
        self.indptr = torch.zeros(self.num_users + 1, dtype=torch.long, device=self.device)
        self.indptr[1:] = torch.cumsum(self.degree, 0)
        # q_j = p_j - j per user, offset so that it is globally sorted: u * (I + 1) + q_j
        rank_in_user = torch.arange(self.keys.numel(), device=self.device) - self.indptr[users]
        self._free_keys = users * (self.num_items + 1) + (items - rank_in_user)
        self.saturated_users = torch.nonzero(self.degree >= self.num_items).reshape(-1)

    # ---------------------------------------------------------------- helpers
    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool tensor: is ``(users, items)`` (broadcast) an observed pair."""
        return self._member(users * self.num_items + items)

    def _member(self, keys: torch.Tensor) -> torch.Tensor:
        if self.keys.numel() == 0:
            return torch.zeros_like(keys, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, keys).clamp_max(self.keys.numel() - 1)
        return self.keys[pos] == keys

    def _check_users(self, users: torch.Tensor) -> torch.Tensor:
        users = torch.as_tensor(users)
        if users.dtype.is_floating_point or users.dtype == torch.bool:
            raise TypeError(f"users must be integer ids, got dtype {users.dtype}")
        users = users.to(self.device, torch.long).reshape(-1)
        if users.numel() == 0:
            return users
        lo, hi = int(users.min()), int(users.max())
        if lo < 0 or hi >= self.num_users:
            raise ValueError(f"user ids must lie in [0, {self.num_users}); got min {lo}, max {hi}")
        if self.saturated_users.numel():
            full = self.degree[users] >= self.num_items
            if bool(full.any()):
                ids = torch.unique(users[full]).tolist()
                shown = ", ".join(map(str, ids[:20])) + (" ..." if len(ids) > 20 else "")
                raise ValueError(f"cannot sample a negative item for user(s) {shown}: they have "
                                 f"interacted with all {self.num_items} items")
        return users

    def _exact(self, users: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One exact uniform negative per entry of ``users`` (inverse transform)."""
        free = (self.num_items - self.degree[users]).to(torch.float64)
        u01 = torch.rand(users.shape, generator=generator, device=self.device, dtype=torch.float64)
        r = torch.minimum((u01 * free).long(), free.long() - 1)      # uniform in [0, free)
        below = torch.searchsorted(self._free_keys, users * (self.num_items + 1) + r, right=True)
        return r + (below - self.indptr[users])

    # ----------------------------------------------------------------- public
    def sample(self, users: torch.Tensor, num_neg: int = 1,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``(len(users), num_neg)`` item ids, each uniform over the user's unobserved items."""
        if int(num_neg) <= 0:
            raise ValueError(f"num_neg must be >= 1, got {num_neg}")
        if generator is not None and generator.device.type != self.device.type:
            raise ValueError(f"generator is on {generator.device} but the sampler draws on "
                             f"{self.device}; create it with torch.Generator(device='{self.device}')")
        users = self._check_users(users)
        shape = (users.numel(), int(num_neg))
        items = torch.randint(self.num_items, shape, generator=generator, device=self.device)
        if self.keys.numel() == 0 or items.numel() == 0:
            return items
        flat_items = items.view(-1)
        flat_users = users.repeat_interleave(shape[1])
        todo = torch.nonzero(self._member(flat_users * self.num_items + flat_items)).reshape(-1)
        for _ in range(self.max_rounds):
            if todo.numel() == 0:
                return items
            redraw = torch.randint(self.num_items, (todo.numel(),), generator=generator, device=self.device)
            flat_items[todo] = redraw
            rejected = self._member(flat_users[todo] * self.num_items + redraw)
            todo = todo[rejected]
        if todo.numel():
            flat_items[todo] = self._exact(flat_users[todo], generator)
        return items

    def __repr__(self) -> str:
        return (f"UniformNegativeSampler({self.num_users} users, {self.num_items} items, "
                f"{self.keys.numel()} observed pairs, device={self.device})")


def bpr_triples(sampler: UniformNegativeSampler, train_pairs: torch.Tensor, batch_size: int,
                generator: torch.Generator | None = None, num_neg: int = 1,
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch of ``(users, pos_items, neg_items)`` batches for the BPR loss.

    Every training pair appears exactly once, in a random order (``torch.randperm``
    with ``generator``); negatives come from ``sampler``. ``neg_items`` is ``(B,)``
    for ``num_neg == 1`` and ``(B, num_neg)`` otherwise. Tensors are on
    ``sampler.device``.
    """
    if int(batch_size) <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    pairs = _check_pairs(train_pairs, sampler.num_users, sampler.num_items).to(sampler.device)
    n = pairs.size(1)
    perm = torch.randperm(n, generator=generator, device=sampler.device)
    for start in range(0, n, int(batch_size)):
        idx = perm[start:start + int(batch_size)]
        users, pos = pairs[0, idx], pairs[1, idx]
        neg = sampler.sample(users, num_neg, generator)
        yield users, pos, (neg.reshape(-1) if num_neg == 1 else neg)
