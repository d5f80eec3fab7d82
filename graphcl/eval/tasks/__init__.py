"""Evaluation tasks, by name: what the trainer evaluates a model with and early-stops on.

A task knows its data, whether it has validation/test splits, how to evaluate a model on
a split, and which :mod:`graphcl.model_protocols` protocol the model must provide
(``model_protocol``) (:class:`Task`). Each method's :class:`~graphcl.method_spec.MethodSpec`
names its task (``task_name``: its own ``task``, else the default task of its data);
:func:`make_task` builds it, importing only that task's module:

=====================  =========================================================
``ranking``            full ranking of all items (general recommenders)
``sequential-ranking`` full ranking of the next item (sequential recommenders)
``node-probe``         linear probe on frozen node embeddings (+ k-means with ``cluster``)
``node-cluster``       k-means clustering of node embeddings (ACC/NMI/ARI/F1)
``hetero-probe``       probes on HeCo's 20/40/60 label splits of a heterogeneous graph
=====================  =========================================================
"""
from __future__ import annotations

import importlib
from typing import Any, Protocol

import torch

from graphcl.method_spec import DEFAULT_TASKS

__all__ = ["Task", "TASKS", "DATA_TASKS", "task_class", "task_for", "make_task"]


class Task(Protocol):
    name: str
    data: Any
    has_valid: bool
    has_test: bool
    model_protocol: type

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]: ...

    def stats(self) -> dict[str, Any]: ...


#: task name -> "module:class"
TASKS: dict[str, str] = {
    "ranking": "graphcl.eval.tasks.ranking:RankingTask",
    "sequential-ranking": "graphcl.eval.tasks.sequential:SequentialRankingTask",
    "node-probe": "graphcl.eval.tasks.node_probe:NodeProbeTask",
    "node-cluster": "graphcl.eval.tasks.node_cluster:NodeClusteringTask",
    "hetero-probe": "graphcl.eval.tasks.hetero_probe:HeteroProbeTask",
}

#: the task of each kind of training data (:attr:`graphcl.method_spec.MethodSpec.data_kind`)
DATA_TASKS: dict[str, str] = dict(DEFAULT_TASKS)


def task_class(name: str) -> type:
    """The class of task ``name`` (its module imported on first use)."""
    if name not in TASKS:
        raise ValueError(f"unknown evaluation task {name!r}; known: {', '.join(TASKS)}")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def task_for(data: Any) -> str:
    """The default task name for ``data`` (by its kind), for a trainer built without a
    method spec."""
    from graphcl.data.kinds import data_kind_of
    kind = data_kind_of(data)
    if kind not in DATA_TASKS:
        raise TypeError(f"no evaluation task for data of type {type(data).__name__}")
    return DATA_TASKS[kind]


def make_task(data: Any, config: dict[str, Any], device: torch.device, name: str | None = None) -> Task:
    """Task ``name`` (default :func:`task_for` the data) on ``data``."""
    return task_class(name or task_for(data))(data, config, device)
