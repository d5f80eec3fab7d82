"""Per-user train / validation / test splits, vectorized (no Python loop over users).

All functions take ``(2, n)`` (user, item) pairs as a numpy array or a torch
tensor and return ``int64`` numpy arrays of shape ``(2, k)``, each sorted by
(user, item). The input pairs should be unique (the named loaders deduplicate
before splitting); the outputs partition the input exactly.

Rounding rule of :func:`random_split_per_user` (the one RecBole 1.2.1 uses in
``split_by_ratio``): ratios are normalized to sum to 1; a user with ``n``
interactions gets ``int(r_valid * n)`` validation and ``int(r_test * n)`` test
items (floors), and the remainder goes to train. Then, for the test split and
then the validation split, a user whose floor is 0 although ``r * n > 0`` gets
one item moved from train, but only while it still has more than one training
item. Consequently every user with at least one interaction keeps at least
one training interaction, and users with few interactions still get test
(and, if they have enough, validation) items.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch



def as_pairs(pairs: np.ndarray | torch.Tensor) -> np.ndarray:
    """Return ``pairs`` as a ``(2, n)`` ``int64`` numpy array (no copy when possible)."""
    if isinstance(pairs, torch.Tensor):
        pairs = pairs.detach().cpu().numpy()
    arr = np.asarray(pairs, dtype=np.int64)
    if arr.ndim != 2 or arr.shape[0] != 2:
        raise ValueError(f"pairs must have shape (2, n), got {arr.shape}")
    return arr


def _sorted_by_user_item(pairs: np.ndarray) -> np.ndarray:
    order = np.lexsort((pairs[1], pairs[0]))
    return np.ascontiguousarray(pairs[:, order])


def _rank_within_user(users_sorted: np.ndarray, num_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Position of each entry inside its user's block (``users_sorted`` must be sorted)."""
    counts = np.bincount(users_sorted, minlength=num_users)
    starts = np.cumsum(counts) - counts
    return np.arange(users_sorted.size) - starts[users_sorted], counts


def split_counts(counts: np.ndarray, ratios: Sequence[float]) -> np.ndarray:
    """Per-user (train, valid, test) sizes under the RecBole rule (module docstring).

    ``counts`` holds interactions per user; returns an ``int64`` array ``(3, U)``.
    """
    r = np.asarray(ratios, dtype=np.float64)
    if r.shape != (3,) or (r < 0).any() or r.sum() <= 0 or r[0] <= 0:
        raise ValueError(f"ratios must be 3 non-negative numbers with a positive train ratio, "
                         f"got {tuple(ratios)}")
    r = r / r.sum()
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros((3, counts.size), dtype=np.int64)
    for k in (1, 2):
        # int() truncation of a non-negative float, as RecBole does
        out[k] = np.floor(r[k] * counts).astype(np.int64)
    out[0] = counts - out[1] - out[2]
    for k in (2, 1):
        exact = r[k] * counts
        bump = (out[0] > 1) & (exact > 0) & (exact < 1)
        out[k] += bump
        out[0] -= bump
    return out


def random_split_per_user(pairs: np.ndarray | torch.Tensor, num_users: int | None = None,
                          ratios: Sequence[float] = (0.8, 0.1, 0.1),
                          seed: int = 2020) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle each user's interactions with a seeded generator and cut them by ``ratios``.

    Sizes follow :func:`split_counts`. Deterministic for a given ``seed`` and
    input order. Returns ``(train, valid, test)``.
    """
    pairs = as_pairs(pairs)
    users = pairs[0]
    if num_users is None:
        num_users = int(users.max()) + 1 if users.size else 0
    if users.size and (users.min() < 0 or users.max() >= num_users):
        raise ValueError(f"user ids must lie in [0, {num_users})")
    keys = np.random.default_rng(seed).random(users.size)
    order = np.lexsort((keys, users))
    shuffled = pairs[:, order]
    rank, counts = _rank_within_user(shuffled[0], num_users)
    sizes = split_counts(counts, ratios)
    n_train = sizes[0][shuffled[0]]
    n_valid = sizes[1][shuffled[0]]
    part = np.where(rank < n_train, 0, np.where(rank < n_train + n_valid, 1, 2))
    return tuple(_sorted_by_user_item(shuffled[:, part == k]) for k in range(3))  # type: ignore


def carve_validation(train: np.ndarray | torch.Tensor, ratio: float = 0.1, seed: int = 2020,
                     num_users: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split a validation set off a given training set, per user.

    Same rule as :func:`random_split_per_user` with ratios ``(1 - ratio, ratio,
    0)``: each user gives ``int(ratio * n)`` random items to validation (one
    item when ``0 < ratio * n < 1`` and it has at least two), and always keeps
    at least one training item. ``ratio=0`` returns an empty validation set.
    Returns ``(train, valid)``.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"validation ratio must be in [0, 1), got {ratio}")
    train = as_pairs(train)
    if ratio == 0.0:
        return _sorted_by_user_item(train), np.zeros((2, 0), dtype=np.int64)
    new_train, valid, _ = random_split_per_user(train, num_users, (1.0 - ratio, ratio, 0.0), seed)
    return new_train, valid


def leave_one_out_split(pairs: np.ndarray | torch.Tensor, timestamps: np.ndarray | torch.Tensor,
                        num_users: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chronological leave-one-out: last item -> test, second-to-last -> valid, rest -> train.

    Each user's interactions are sorted by timestamp with a stable sort, so
    ties keep their input order. Users with fewer than 3 interactions follow
    RecBole's ``LS: valid_and_test`` behaviour: 1 interaction -> train only;
    2 interactions -> the earlier to train, the later to test (no validation).
    Returns ``(train, valid, test)``.
    """
    pairs = as_pairs(pairs)
    if isinstance(timestamps, torch.Tensor):
        timestamps = timestamps.detach().cpu().numpy()
    ts = np.asarray(timestamps)
    if ts.shape != (pairs.shape[1],):
        raise ValueError(f"need one timestamp per pair: {ts.shape} vs {pairs.shape[1]} pairs")
    users = pairs[0]
    if num_users is None:
        num_users = int(users.max()) + 1 if users.size else 0
    order = np.lexsort((ts, users))  # lexsort is stable: ties keep input order
    ordered = pairs[:, order]
    rank, counts = _rank_within_user(ordered[0], num_users)
    from_end = counts[ordered[0]] - 1 - rank
    n = counts[ordered[0]]
    is_test = (from_end == 0) & (n >= 2)
    is_valid = (from_end == 1) & (n >= 3)
    is_train = ~(is_test | is_valid)
    return (_sorted_by_user_item(ordered[:, is_train]), _sorted_by_user_item(ordered[:, is_valid]),
            _sorted_by_user_item(ordered[:, is_test]))
