"""Small synthetic interaction datasets shared by the recommender tests."""
from __future__ import annotations

import torch

from graphcl.data.interactions import InteractionDataset


def clustered_dataset(nu: int, ni: int, n: int, seed: int = 0, item_table=None) -> InteractionDataset:
    """Users in two taste clusters (even users pick from the first half of the
    items, odd users from the second), so there is signal to learn; 80/10/10 split."""
    g = torch.Generator().manual_seed(seed)
    users = torch.randint(0, nu, (n,), generator=g)
    items = torch.randint(0, ni // 2, (n,), generator=g) + (users % 2) * (ni // 2)
    pairs = torch.unique(torch.stack([users, items]), dim=1)
    pairs = pairs[:, torch.randperm(pairs.size(1), generator=g)]
    a, b = int(0.8 * pairs.size(1)), int(0.9 * pairs.size(1))
    return InteractionDataset("toy", nu, ni, pairs[:, :a], pairs[:, a:b], pairs[:, b:],
                              item_table=item_table or {})


def random_ranker_recall(ds: InteractionDataset, k: int, split: str = "test") -> float:
    """The expected recall@k of a ranker that orders each user's candidate items at random.

    The candidates are the items the evaluation ranks: all items but the user's training items
    (and, for ``test``, validation items). Each of the user's ``split`` items is in the top k with
    probability min(k, C) / C for C candidates, so that is the user's expected recall; the mean is
    over the users with at least one ``split`` item, as the evaluator's."""
    seen: dict[int, set[int]] = {}
    for part in ("train", "valid") if split == "test" else ("train",):
        for u, i in getattr(ds, part).t().tolist():
            seen.setdefault(u, set()).add(i)
    users = sorted(set(getattr(ds, split)[0].tolist()))
    total = 0.0
    for u in users:
        candidates = ds.num_items - len(seen.get(u, ()))
        total += min(k, candidates) / candidates
    return total / len(users)
