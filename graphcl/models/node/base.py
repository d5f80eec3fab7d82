"""Base class of the node-level self-supervised methods.

A node method holds the graph, trains full-batch (one step per epoch: the
"batch" the trainer hands over is the ``torch.Generator`` that drives the
epoch's augmentations, so runs are reproducible and resumable), and exposes
``embed()`` for the evaluation task (linear probe / clustering).

Mini-batch training (config ``minibatch_size > 0``, only for methods whose
``full_graph_reason`` is ``None``: GRACE and CSGCL): ``batches(generator)``
draws one seed from the trainer's generator, seeds a CPU generator with it,
permutes the nodes with that generator and yields one :class:`NodeMiniBatch`
per ``minibatch_size`` seed nodes: a PyG ``Data`` mini-batch sampled by
:class:`graphcl.data.neighbor_sampling.TorchNeighborSampler` through PyG's
``NodeLoader`` (``n_id`` with the seeds first, ``e_id``, ``edge_index`` in
local ids, fan-out ``num_neighbors`` per hop), plus the trainer's generator for
the augmentations. ``loss(batch)`` calls ``minibatch_loss``; the epoch counter
advances after the last batch of an epoch. The other methods refuse
``minibatch_size > 0`` with their reason (table in
:mod:`graphcl.data.neighbor_sampling`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from graphcl.config import TRAIN_DEFAULTS
from graphcl.eval.tasks.node_probe import NODE_TASK_DEFAULTS
from graphcl.sparse import to_csr

NODE_TRAIN_DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in TRAIN_DEFAULTS.items() if k not in ("topk", "eval_batch_size", "batch_size")},
    **NODE_TASK_DEFAULTS,
    "valid_metric": "acc",
    "eval_every": 0,      # 0: evaluate only after the last epoch (the papers' protocol)
    "patience": 1000,
    "sparse_features": "auto",  # keep x as sparse CSR: "auto" (if under 10% nonzero), true, false
    "normalize_features": True,  # row-normalize x (PyG NormalizeFeatures), as GRACE's and CSGCL's code;
                                 # only non-negative x (bag of words): signed text embeddings stay as they are
    "minibatch_size": 0,  # 0: full batch; > 0: seed nodes per sampled subgraph (methods that allow it)
}


def check_minibatch_size(value: Any) -> int:
    """``minibatch_size`` as an int >= 0 (0 = full batch)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"minibatch_size must be an integer >= 0 (0 = full batch), got {value!r}")
    return int(value)


def refuse_minibatch(method: str, config: dict[str, Any], reason: str | None) -> int:
    """The config's ``minibatch_size``; a ``ValueError`` with ``reason`` when it is > 0 and the
    method needs the full graph (``reason`` not None)."""
    size = check_minibatch_size(config.get("minibatch_size", 0))
    if size > 0 and reason is not None:
        raise ValueError(f"{method} cannot train on sampled subgraphs (minibatch_size={size}): {reason}. "
                         f"Set minibatch_size: 0 to train full batch")
    return size


@dataclass(frozen=True)
class FullGraphBatch:
    """One full-graph training step: its augmentations draw from ``generator``."""
    generator: torch.Generator


@dataclass
class NodeMiniBatch:
    """One step of mini-batch training: the sampled PyG ``Data`` mini-batch (``n_id``,
    ``e_id``, ``edge_index``, ``batch_size``), the generator of its augmentations,
    and its position ``index`` among the epoch's ``count`` batches."""
    data: Any
    generator: torch.Generator
    index: int
    count: int
    #: under torch.distributed: this rank's loss weight ``n_r · W / N`` for its share of the
    #: step's seeds (read by :func:`graphcl.parallel.shard_batch`)
    shard_weight: float = 1.0


def check_graph(data: Any) -> None:
    """Clear errors for graphs a node method cannot train on."""
    if getattr(data, "x", None) is None:
        raise ValueError("node methods need node features: the graph has no `x`")
    if data.num_nodes == 0:
        raise ValueError("the graph is empty (0 nodes)")
    if not torch.isfinite(data.x).all():
        raise ValueError("node features contain NaN or inf")
    ei = data.edge_index
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= data.num_nodes):
        raise ValueError(f"edge_index refers to node {int(ei.max())} but the graph has {data.num_nodes} nodes")


def row_normalize(x: torch.Tensor) -> torch.Tensor:
    """``x_i / Σ_j x_ij`` per row (rows summing to 0 stay 0), as PyG's ``NormalizeFeatures``."""
    total = x.sum(1, keepdim=True)
    return x / total.masked_fill(total == 0, 1.0)


def _maybe_sparse(x: torch.Tensor, mode: Any) -> torch.Tensor:
    """Sparse CSR features when asked (or, with "auto", when under 10% nonzero):
    the first layer then multiplies as sparse (exactly the same values)."""
    if mode not in ("auto", True, False):
        raise ValueError(f"sparse_features must be auto, true or false, got {mode!r}")
    if mode is True or (mode == "auto" and float((x != 0).float().mean()) < 0.1):
        return to_csr(x)
    return x


class NodeMethod(nn.Module):
    #: Why the method needs the full graph (``None``: it implements ``minibatch_loss``).
    full_graph_reason: str | None = "it has no mini-batch loss"

    def __init__(self, data: Any, config: dict[str, Any], device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.minibatch_size = refuse_minibatch(type(self).__name__, config, self.full_graph_reason)
        check_graph(data)
        self.config = dict(config)
        self.device_ = torch.device(device)
        x = data.x.to(self.device_).float()
        if self.config.get("normalize_features", False) and bool((x >= 0).all()):
            x = row_normalize(x)  # a row sum of signed features (text embeddings) is meaningless
        self.x = _maybe_sparse(x, self.config.get("sparse_features", "auto"))
        self.edge_index = data.edge_index.to(self.device_)
        self.num_nodes = int(data.num_nodes)
        # epoch counter, saved with the model so schedules survive a resume
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))
        self.sampler: Any = None    # a TorchNeighborSampler, set up by ``setup_minibatch``

    # ------------------------------------------------------------ mini-batch
    def setup_minibatch(self, num_neighbors: list[int]) -> None:
        """Build the neighbor sampler (CPU, CSC of the graph) for ``minibatch_size > 0``."""
        from graphcl.data.neighbor_sampling import TorchNeighborSampler
        self.sampler = TorchNeighborSampler(self.edge_index, num_neighbors, num_nodes=self.num_nodes)
        # what the loader slices: the structure only (features are gathered on the device in the loss)
        from torch_geometric.data import Data
        self._loader_data = Data(edge_index=self.edge_index.cpu(), num_nodes=self.num_nodes)

    def batches(self, generator: torch.Generator) -> Iterator[FullGraphBatch | NodeMiniBatch]:
        if self.minibatch_size == 0:
            yield FullGraphBatch(generator)
            return
        from graphcl.data.neighbor_sampling import neighbor_loader
        from graphcl import parallel
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=generator.device))
        cpu_gen = torch.Generator().manual_seed(seed)   # seed order and neighbor draws
        count = self.num_batches()
        ctx = parallel.context()
        if not ctx.active:
            loader = neighbor_loader(self._loader_data, self.sampler, self.minibatch_size, generator=cpu_gen)
            for index, data in enumerate(loader):
                yield NodeMiniBatch(data, generator, index, count)
            return
        # data parallel: every rank draws the same seed order and samples the subgraph of its
        # contiguous share of each step's seeds (its own neighbour draws); the contrastive loss
        # of a rank sees only its seeds as negatives
        order = torch.randperm(self.num_nodes, generator=cpu_gen)
        self.sampler.generator = torch.Generator().manual_seed((seed + 1 + ctx.rank) % 2 ** 62)
        for index, lo in enumerate(range(0, self.num_nodes, self.minibatch_size)):
            mine, weight = parallel.shard_batch(order[lo:lo + self.minibatch_size], ctx)
            data = next(iter(neighbor_loader(self._loader_data, self.sampler, int(mine.numel()),
                                             input_nodes=mine)))
            yield NodeMiniBatch(data, generator, index, count, shard_weight=weight)

    def num_batches(self) -> int:
        if self.minibatch_size == 0:
            return 1
        return math.ceil(self.num_nodes / self.minibatch_size)

    def loss(self, batch: FullGraphBatch | NodeMiniBatch) -> dict[str, torch.Tensor]:
        if isinstance(batch, NodeMiniBatch):
            out = self.minibatch_loss(batch)
            if batch.index == batch.count - 1:
                self.epoch += 1
            return out
        out = self.step_loss(batch.generator)
        self.epoch += 1
        return out

    def minibatch_loss(self, batch: NodeMiniBatch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def step_loss(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def embed(self) -> torch.Tensor:
        raise NotImplementedError

    def prepare_scoring(self) -> None:  # trainer symmetry with recommenders
        pass
