"""Deduplication and iterative k-core filtering of (user, item) pairs, vectorized."""
from __future__ import annotations

import numpy as np
import torch

from .splits import as_pairs


def dedupe_pairs(pairs: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Drop repeated (user, item) pairs, keeping the first occurrence.

    Returns ``(unique_pairs, index)`` where ``index`` are the kept positions
    in the input, in increasing order (so parallel columns such as
    timestamps can be aligned with ``column[index]``).
    """
    pairs = as_pairs(pairs)
    if pairs.shape[1] == 0:
        return pairs.copy(), np.zeros(0, dtype=np.int64)
    width = int(pairs[1].max()) + 1
    if pairs.min() >= 0 and int(pairs[0].max()) < np.iinfo(np.int64).max // max(width, 1):
        _, first = np.unique(pairs[0] * width + pairs[1], return_index=True)
    else:  # ids too large (or negative) for a single int64 key
        _, first = np.unique(pairs, axis=1, return_index=True)
    index = np.sort(first).astype(np.int64)
    return np.ascontiguousarray(pairs[:, index]), index


def k_core(pairs: np.ndarray | torch.Tensor, user_k: int | None = 0, item_k: int | None = 0,
           return_index: bool = False):
    """Keep the largest sub-set where every user has >= ``user_k`` and every item >= ``item_k``
    interactions (RecBole's ``min_user_inter`` / ``min_item_inter``), after deduplication.

    Filters repeatedly until nothing changes, then remaps ids densely in
    increasing order of the original id. Returns ``(pairs, user_map,
    item_map)``: the filtered pairs in new ids, and ``user_map[new] = old``,
    ``item_map[new] = old``. With ``return_index=True`` also returns the kept
    positions of the input pairs (increasing), to align parallel columns.
    ``user_k``/``item_k`` of 0 or ``None`` mean no threshold.
    """
    pairs, index = dedupe_pairs(pairs)
    user_k, item_k = int(user_k or 0), int(item_k or 0)
    if pairs.shape[1] and (pairs.min() < 0):
        raise ValueError("k_core: ids must be non-negative")
    while pairs.shape[1] and (user_k > 1 or item_k > 1):
        user_count = np.bincount(pairs[0])
        item_count = np.bincount(pairs[1])
        keep = (user_count[pairs[0]] >= user_k) & (item_count[pairs[1]] >= item_k)
        if keep.all():
            break
        pairs, index = pairs[:, keep], index[keep]
    user_map, new_users = np.unique(pairs[0], return_inverse=True)
    item_map, new_items = np.unique(pairs[1], return_inverse=True)
    dense = np.stack([new_users.reshape(-1), new_items.reshape(-1)]).astype(np.int64)
    if return_index:
        return dense, user_map.astype(np.int64), item_map.astype(np.int64), index
    return dense, user_map.astype(np.int64), item_map.astype(np.int64)
