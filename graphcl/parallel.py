"""Which process of a data-parallel run this is, and its share of a batch.

The part of :mod:`graphcl.train.distributed` that models need too (a node model
shards its own mini-batch seeds): it only reads the state of ``torch.distributed``
and never sets anything up, so any layer may import it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistributedContext", "context", "shard_batch"]


@dataclass(frozen=True)
class DistributedContext:
    """Rank and world size of this process (``world_size == 1``: not distributed)."""
    rank: int = 0
    world_size: int = 1

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context() -> DistributedContext:
    """The context of the initialized default process group (else single-process)."""
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(dist.get_rank(), dist.get_world_size())
    return DistributedContext()


def shard_batch(batch: Any, ctx: DistributedContext) -> tuple[Any, float]:
    """Rank ``ctx.rank``'s contiguous shard of a global batch, and its loss weight ``n_r · W / N``.

    Tensors (alone, in a tuple/list, or as dict values) must share their first
    dimension N; non-tensor entries are passed through. A batch of anything
    else (a full-graph step) is returned whole with weight 1. A rank whose
    shard would be empty (N < W) gets the whole batch with weight 0, so its
    backward still runs (DDP needs every rank's) and adds nothing.
    """
    if not ctx.active:
        return batch, 1.0
    if hasattr(batch, "shard_weight"):  # sharded by the model itself (node mini-batches)
        return batch, float(batch.shard_weight)
    tensors = _tensors(batch)
    if not tensors:
        return batch, 1.0
    sizes = {int(t.shape[0]) for t in tensors}
    if len(sizes) != 1:
        raise ValueError(f"cannot shard a batch whose tensors have different first dimensions {sorted(sizes)}")
    n = sizes.pop()
    per, extra = divmod(n, ctx.world_size)
    start = ctx.rank * per + min(ctx.rank, extra)
    size = per + (1 if ctx.rank < extra else 0)
    if size == 0:
        return batch, 0.0
    piece = lambda t: t[start:start + size] if isinstance(t, torch.Tensor) and t.dim() > 0 else t
    if isinstance(batch, torch.Tensor):
        out: Any = piece(batch)
    elif isinstance(batch, dict):
        out = {k: piece(v) for k, v in batch.items()}
    else:
        out = type(batch)(piece(v) for v in batch)
    return out, size * ctx.world_size / n


def _tensors(batch: Any) -> list[torch.Tensor]:
    if isinstance(batch, torch.Tensor):
        return [batch] if batch.dim() > 0 else []
    if isinstance(batch, dict):
        values = list(batch.values())
    elif isinstance(batch, (tuple, list)):
        values = list(batch)
    else:
        return []
    return [v for v in values if isinstance(v, torch.Tensor) and v.dim() > 0]
