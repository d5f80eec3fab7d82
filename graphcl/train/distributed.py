"""Data-parallel training with ``torch.distributed`` (launched by ``torchrun``).

Launch any ``graphcl train`` command under ``torchrun``; every process runs
the same trainer and they agree through the process group::

    torchrun --nproc_per_node 2 -m graphcl.cli train lightgcn --dataset ml-100k --device cpu
    torchrun --nproc_per_node 4 -m graphcl.cli train lightgcl --dataset gowalla   # 4 GPUs

:func:`init_distributed` (called by ``graphcl train``) joins the group that
``torchrun``'s environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``PORT``) describes: NCCL on GPUs, gloo on CPU. The trainer
(:class:`graphcl.train.Trainer`) then, on W processes:

* builds the model on every rank from the same seed, and wraps it in
  :class:`torch.nn.parallel.DistributedDataParallel`, which all-reduces the
  gradients (mean over ranks) during ``backward``;
* draws every *global* batch on every rank from the same seeded generator
  (the sampler's permutation and negatives, identical everywhere) and gives
  rank r its contiguous shard of ``n_r`` rows (:func:`shard_batch`). The rank
  scales its loss by ``w_r = n_r · W / N``, so the averaged gradient
  ``(1/W) Σ_r w_r ∇L_r = Σ_r (n_r/N) ∇L_r`` is exactly the gradient of the
  global batch's mean loss, and a term that does not depend on the batch
  (an L2 penalty on all weights) keeps its weight, since ``Σ_r n_r/N = 1``;
  so W processes follow the single-process run up to float summation order
  (losses that couple the rows of a batch, such as in-batch negatives, see
  only the rank's shard);
* evaluates each rank's share of the users (every W-th user) and sums the
  per-user metric totals and counts over ranks (:func:`all_reduce_sums`), so
  every rank holds the same metrics and takes the same early-stopping
  decision;
* writes the run folder (metric log, ``best.pt``, ``last.pt``, results) on
  rank 0 only; the others wait at a barrier before reading ``best.pt``.

Batches that are tuples or dicts of tensors with a common leading batch
dimension are sharded (every recommender, general and sequential). Node
methods trained in mini-batches (``minibatch_size > 0``: GRACE, CSGCL) shard
each step's seed nodes and sample each rank's subgraph; the batch carries
its ``shard_weight``. A full-graph node method's batch is a ``FullGraphBatch`` of the epoch's
generator: every rank then makes the same full-batch step (identical
gradients, no speed-up).
A model that runs its own optimizer steps (``train_step``, e.g. MCLRec's meta
update) is refused: DDP's all-reduce hooks one backward per step.
"""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

from graphcl.parallel import DistributedContext, context, shard_batch

__all__ = ["DistributedContext", "init_distributed", "shard_batch", "all_reduce_sums",
           "context", "LossForward"]


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


class DistributedSetupError(RuntimeError):
    """The torchrun environment cannot be joined (missing variables, no CUDA, too few GPUs)."""


def init_distributed(device: str | torch.device = "auto") -> tuple[DistributedContext, str | torch.device]:
    """Join the process group described by ``torchrun``'s environment, if any.

    Returns the context and the device this rank should use: with a CUDA
    device (or ``auto`` on a GPU machine) under W > 1 processes, rank r's
    ``cuda:LOCAL_RANK`` and the NCCL backend; otherwise the device unchanged
    and gloo. Without ``WORLD_SIZE`` > 1 in the environment nothing happens.
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return context(), device
    if not dist.is_available():
        raise DistributedSetupError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise DistributedSetupError(f"WORLD_SIZE={world} but {name} is not set: launch with torchrun "
                               f"(torchrun --nproc_per_node {world} -m graphcl.cli train ...)")
    local_rank = _env_int("LOCAL_RANK", 0)
    use_cuda = str(device).startswith("cuda") or (str(device) == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise DistributedSetupError(f"device '{device}' requested but CUDA is not available; use --device cpu")
        if local_rank >= torch.cuda.device_count():
            raise DistributedSetupError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs; "
                               f"use --nproc_per_node <= the GPU count")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return context(), device


def all_reduce_sums(values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum over ranks (a copy; the input untouched). Identity without a group."""
    ctx = context()
    if not ctx.active:
        return values
    out = values.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (e.g. the run folder name)."""
    ctx = context()
    if not ctx.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if context().active:
        dist.barrier()


class LossForward(torch.nn.Module):
    """``forward(batch) = model.loss(batch)``, the call DDP wraps (our models' loss is a method)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any) -> Any:
        return self.model.loss(batch)
