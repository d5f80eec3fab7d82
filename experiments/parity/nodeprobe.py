"""graphcl's node-probe evaluation of given embeddings, shared by both sides of a node parity run.

The reference process (through :mod:`experiments.parity.refhook`) and graphcl's side
(:mod:`experiments.parity.run_ours`) both evaluate with graphcl's own
:class:`~graphcl.eval.tasks.node_probe.NodeProbeTask` and the same probe settings (the ``probe_*``
keys of the adapter's graphcl config): the same random probe splits (drawn from the probe seeds,
not from the training seed), the same logistic regression, the same weight-decay selection on
validation. ``valid`` is the probe's validation accuracy, ``test`` its test accuracy and
macro-F1 (means over the probe seeds).

One probe fit gives both splits: :func:`memoize_probe` makes a task reuse its last probe result
for the same embeddings (``task.evaluate(model, "valid")`` then ``"test"`` fit once).
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

import torch
from torch import nn

__all__ = ["PROBE_KEYS", "evaluate_embeddings", "load_probe_task", "make_probe_task", "memoize_probe",
           "probe_settings"]

#: the config keys that define graphcl's node probe (graphcl/eval/tasks/node_probe.py)
PROBE_KEYS = ("probe_split", "probe_seeds", "probe_train_ratio", "probe_val_ratio", "probe_normalize",
              "probe_weight_decays", "probe_epochs")


def probe_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """graphcl's probe defaults overridden by the ``probe_*`` keys of ``config``."""
    from graphcl.eval.tasks.node_probe import NODE_TASK_DEFAULTS
    return {k: config.get(k, NODE_TASK_DEFAULTS.get(k)) for k in PROBE_KEYS}


class _Frozen(nn.Module):
    """A module whose ``embed()`` returns fixed embeddings (what the task evaluates)."""

    def __init__(self, emb: torch.Tensor) -> None:
        super().__init__()
        self.emb = emb

    def embed(self) -> torch.Tensor:
        return self.emb


def memoize_probe(task: Any) -> Any:
    """Make ``task._probe`` return its previous result when called again with equal embeddings
    (exactly the same values), so a ``valid`` and a ``test`` evaluation share one probe fit."""
    probe = task._probe
    last: dict[str, Any] = {"emb": None, "out": None}

    def cached(emb: torch.Tensor) -> dict[str, Any]:
        prev = last["emb"]
        if prev is not None and prev.shape == emb.shape and torch.equal(prev, emb.detach().cpu()):
            return last["out"]
        out = probe(emb)
        last["emb"], last["out"] = emb.detach().cpu().clone(), out
        return out

    task._probe = cached
    return task


def make_probe_task(graph: Mapping[str, Any], settings: Mapping[str, Any]) -> Any:
    """A memoized NodeProbeTask on the labels (and public masks) of ``graph`` (the arrays of
    :func:`experiments.parity.convert.read_node_npz`), on CPU."""
    from graphcl.eval.tasks.node_probe import NodeProbeTask
    y = torch.as_tensor(graph["y"]).long()
    data = SimpleNamespace(y=y, num_nodes=int(y.numel()), name="parity",
                           **{k: torch.as_tensor(graph[k]).bool() for k in ("train_mask", "val_mask", "test_mask")
                              if k in graph})
    if not all(hasattr(data, k) for k in ("train_mask", "val_mask", "test_mask")):
        data.train_mask = data.val_mask = data.test_mask = None
    return memoize_probe(NodeProbeTask(data, dict(probe_settings(settings)), torch.device("cpu")))


def evaluate_embeddings(task: Any, emb: torch.Tensor) -> dict[str, dict[str, float]]:
    """``{"valid": ..., "test": ...}`` of ``task.evaluate`` on the embeddings ``emb`` (N, d)."""
    frozen = _Frozen(emb.detach().float().cpu())
    return {"valid": task.evaluate(frozen, "valid"), "test": task.evaluate(frozen, "test")}


def load_probe_task(npz: Path, settings: Mapping[str, Any]) -> Any:
    """:func:`make_probe_task` on a graph file written by
    :func:`experiments.parity.convert.write_node_npz`."""
    from experiments.parity.convert import read_node_npz
    return make_probe_task(read_node_npz(npz), settings)
