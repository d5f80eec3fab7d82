"""The user-item interaction dataset shared by every recommender.

Users and items are dense integer ids ``0..num_users-1`` and ``0..num_items-1``.
Each split is a ``(2, n)`` ``torch.long`` tensor of ``(user, item)`` pairs
without duplicates. ``user_tokens`` / ``item_tokens`` map dense ids back to the
ids of the source files when those were remapped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

SPLITS = ("train", "valid", "test")


class DataFormatError(ValueError):
    """A data file or split is malformed; the message names the file (and line)."""


@dataclass
class InteractionDataset:
    name: str
    num_users: int
    num_items: int
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    user_tokens: list[str] | None = None
    item_tokens: list[str] | None = None
    item_table: dict[str, Any] = field(default_factory=dict)
    user_table: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    @property
    def where(self) -> str:
        """The dataset's name, with its source file or folder when known (for errors)."""
        return f"{self.name} ({self.source})" if self.source else self.name

    def validate(self) -> None:
        """Raise :class:`DataFormatError` on anything that would corrupt training; the
        message names the dataset and its source file or folder."""
        if self.num_users <= 0 or self.num_items <= 0:
            raise DataFormatError(
                f"{self.where}: empty dataset ({self.num_users} users, {self.num_items} items)")
        for split in SPLITS:
            pairs = getattr(self, split)
            if not isinstance(pairs, torch.Tensor):
                pairs = torch.as_tensor(np.asarray(pairs), dtype=torch.long)
                setattr(self, split, pairs)
            if pairs.dim() != 2 or pairs.size(0) != 2:
                raise DataFormatError(f"{self.where}: split '{split}' must have shape (2, n), "
                                      f"got {tuple(pairs.shape)}")
            if pairs.dtype != torch.long:
                setattr(self, split, pairs.long())
                pairs = getattr(self, split)
            if pairs.numel() == 0:
                continue
            u, i = pairs
            if int(u.min()) < 0 or int(u.max()) >= self.num_users:
                raise DataFormatError(f"{self.where}: split '{split}' has a user id out of range "
                                      f"[0, {self.num_users}): min {int(u.min())}, max {int(u.max())}")
            if int(i.min()) < 0 or int(i.max()) >= self.num_items:
                raise DataFormatError(f"{self.where}: split '{split}' has an item id out of range "
                                      f"[0, {self.num_items}): min {int(i.min())}, max {int(i.max())}")
        if self.train.size(1) == 0:
            raise DataFormatError(f"{self.where}: the training split is empty")
        if self.valid.size(1) == 0 and self.test.size(1) == 0:
            raise DataFormatError(f"{self.where}: both the validation and the test split are empty")

    # ----------------------------------------------------------------- helpers
    def num_interactions(self, split: str = "train") -> int:
        return int(getattr(self, split).size(1))

    def matrix(self, split: str = "train") -> sp.csr_matrix:
        """Binary users x items CSR matrix of one split."""
        pairs = getattr(self, split).numpy()
        data = np.ones(pairs.shape[1], dtype=np.float32)
        m = sp.csr_matrix((data, (pairs[0], pairs[1])), shape=(self.num_users, self.num_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def first_users(self, num_users: int) -> "InteractionDataset":
        """The first ``num_users`` users and the items they touch in any split, with item
        ids remapped densely (a quick, smaller copy for smoke runs)."""
        if not 0 < num_users <= self.num_users:
            raise ValueError(f"num_users must be in [1, {self.num_users}], got {num_users}")
        splits = {s: getattr(self, s) for s in SPLITS}
        splits = {s: p[:, p[0] < num_users] for s, p in splits.items()}
        items = torch.unique(torch.cat([p[1] for p in splits.values()]))
        remap = torch.full((self.num_items,), -1, dtype=torch.long)
        remap[items] = torch.arange(items.numel())
        splits = {s: torch.stack([p[0], remap[p[1]]]) for s, p in splits.items()}
        return InteractionDataset(f"{self.name}-first{num_users}", num_users, int(items.numel()), **splits)

    def stats(self) -> dict[str, Any]:
        n = self.num_interactions
        density = n("train") / (self.num_users * self.num_items)
        return {"dataset": self.name, "users": self.num_users, "items": self.num_items,
                "train": n("train"), "valid": n("valid"), "test": n("test"),
                "train_density": round(density, 6)}

    def __repr__(self) -> str:
        s = self.stats()
        return (f"InteractionDataset({s['dataset']}: {s['users']} users, {s['items']} items, "
                f"train/valid/test = {s['train']}/{s['valid']}/{s['test']})")
