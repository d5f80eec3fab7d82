"""Evaluation tasks the trainer selects and early-stops on.

A task knows its data, whether it has validation/test splits, and how to
evaluate a model on a split. :class:`RankingTask` is full-ranking evaluation
of a recommender; node-level tasks live in :mod:`graphcl.train.node_tasks`.
"""
from __future__ import annotations

from typing import Any, Protocol

import torch

from graphcl.data.interactions import InteractionDataset
from graphcl.eval.ranking import RankingEvaluator


class Task(Protocol):
    name: str
    data: Any
    has_valid: bool
    has_test: bool

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]: ...

    def stats(self) -> dict[str, Any]: ...


class RankingTask:
    """Full-ranking metrics on ``valid``/``test``; training items (and for test,
    validation items) are excluded from the ranking."""

    def __init__(self, dataset: InteractionDataset, config: dict[str, Any], device: torch.device) -> None:
        self.data = dataset
        self.name = dataset.name
        self.evaluator = RankingEvaluator(dataset.num_items, ks=tuple(config["topk"]),
                                          batch_size=int(config["eval_batch_size"]), device=device)
        self._train = dataset.matrix("train")
        self._valid = dataset.matrix("valid")
        self.has_valid = dataset.num_interactions("valid") > 0
        self.has_test = dataset.num_interactions("test") > 0

    def stats(self) -> dict[str, Any]:
        return self.data.stats()

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        model.eval()
        model.prepare_scoring()
        exclude = [self._train] + ([self._valid] if split == "test" else [])
        return self.evaluator.evaluate(model.full_scores, self.data.matrix(split), exclude=exclude)


def make_task(data: Any, config: dict[str, Any], device: torch.device):
    """The default task for a dataset object."""
    if isinstance(data, InteractionDataset):
        return RankingTask(data, config, device)
    from graphcl.data.sequences import SequenceDataset
    if isinstance(data, SequenceDataset):
        from graphcl.train.seq_tasks import SequentialRankingTask
        return SequentialRankingTask(data, config, device)
    try:
        from torch_geometric.data import Data
    except ImportError:  # pragma: no cover
        Data = ()  # type: ignore[assignment]
    if isinstance(data, Data):
        if config.get("task") == "cluster":
            from graphcl.train.cluster_task import NodeClusteringTask
            return NodeClusteringTask(data, config, device)
        from graphcl.train.node_tasks import NodeProbeTask
        return NodeProbeTask(data, config, device)
    raise TypeError(f"no evaluation task for data of type {type(data).__name__}")
