"""Small synthetic sequence datasets shared by the sequential-recommendation tests."""
from __future__ import annotations

import torch

from graphcl.data.sequences import SequenceDataset


def cyclic_sequences(num_users: int = 120, num_items: int = 30, min_len: int = 6, max_len: int = 12,
                     seed: int = 0) -> SequenceDataset:
    """Each user walks the items in order from a random start (item i is followed by
    i + 1, wrapping around), so the next item is predictable from the last one."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_len, max_len + 1, (num_users,), generator=g)
    starts = torch.randint(0, num_items, (num_users,), generator=g)
    user = torch.repeat_interleave(torch.arange(num_users), lengths)
    step = torch.arange(int(lengths.sum())) - torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
    items = (starts[user] + step) % num_items + 1
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lengths, 0)])
    return SequenceDataset("cyclic", num_items, items, offsets)
