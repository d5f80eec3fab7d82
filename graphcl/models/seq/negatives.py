"""Negative items for SASRec's binary cross-entropy (Kang & McAuley 2018, eq. 8): one item per
training example, uniform over the items the user has not interacted with in its training part
(the authors' ``random_neq(1, itemnum + 1, set(user_train[user]))``)."""
from __future__ import annotations

import torch

from graphcl.data.sequences import SequenceDataset

__all__ = ["UnseenItemSampler"]


class UnseenItemSampler:
    """Draws, for each user id given, an item id in ``1..num_items`` outside the user's training
    items, from a ``torch.Generator`` (rejection: redraw the collisions until none is left)."""

    def __init__(self, dataset: SequenceDataset, device: torch.device | str = "cpu",
                 max_rounds: int = 1000) -> None:
        lengths = dataset.train_lengths()
        users = torch.repeat_interleave(torch.arange(dataset.num_users), lengths)
        first = torch.cumsum(lengths, 0) - lengths
        pos = dataset.offsets[:-1][users] + torch.arange(int(lengths.sum())) - first[users]
        self.width = dataset.num_items + 1
        self.keys = torch.unique(users * self.width + dataset.items[pos]).to(device)
        self.num_items = dataset.num_items
        self.max_rounds = int(max_rounds)
        seen = torch.bincount(self.keys.cpu() // self.width, minlength=dataset.num_users)  # distinct items
        if dataset.num_users and int(seen.max()) >= self.num_items:
            raise ValueError(f"{dataset.name}: a user has seen every item, so no negative can be drawn")

    def _seen(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        keys = users * self.width + items
        at = torch.searchsorted(self.keys, keys).clamp_max(self.keys.numel() - 1)
        return self.keys[at] == keys

    def sample(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B,) negatives for the (B,) ``users``, on ``users``' device."""
        def draw(n: int) -> torch.Tensor:
            return torch.randint(1, self.num_items + 1, (n,), generator=generator,
                                 device=generator.device).to(users.device)
        items = draw(users.numel())
        for _ in range(self.max_rounds):
            clash = torch.nonzero(self._seen(users, items)).reshape(-1)
            if clash.numel() == 0:
                return items
            items[clash] = draw(clash.numel())
        raise RuntimeError(f"no unseen item found in {self.max_rounds} draws for some users")
