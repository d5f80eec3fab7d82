"""Evaluation hook imported INTO a reference process by a run-time patch (ranking methods).

The harness puts the repository root on the reference's ``PYTHONPATH`` and sets:

* ``PARITY_SPLIT``: our split as ``.npz`` (:func:`experiments.parity.convert.write_split_npz`);
* ``PARITY_SEED`` / ``PARITY_THREADS``: the run's seed and torch thread count;
* ``PARITY_KS``: the cutoffs, e.g. ``20`` or ``20,40``.

A patched reference calls :func:`setup` once at start, :func:`epoch_start` when an epoch's
training begins, :func:`train_done` when it ends, and :func:`epoch_end` with the embeddings it
would score with. :func:`epoch_end` evaluates them with graphcl's own
:class:`~graphcl.eval.ranking.RankingEvaluator` on OUR validation split (training items
excluded) and test split (training and validation items excluded), exactly as graphcl's ranking
task does, and prints one line ``PARITY_JSON {...}``; evaluation time is not training time.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Any

MARKER = "PARITY_JSON "  # the same as experiments.parity.summary.MARKER

_state: dict[str, Any] = {"start": None, "stop": None, "split": None}


def setup(seed: bool = True) -> None:
    """Set torch's thread count and, with ``seed``, seed ``random``, numpy and torch."""
    import numpy as np
    import torch
    torch.set_num_threads(int(os.environ.get("PARITY_THREADS", "1")))
    if seed and "PARITY_SEED" in os.environ:
        s = int(os.environ["PARITY_SEED"])
        random.seed(s)
        np.random.seed(s)
        torch.manual_seed(s)


def epoch_start() -> None:
    """Mark the start of an epoch's training."""
    _state["start"], _state["stop"] = time.perf_counter(), None


def train_done() -> None:
    """Mark the end of an epoch's training (before any evaluation)."""
    _state["stop"] = time.perf_counter()


def _split() -> dict[str, Any]:
    if _state["split"] is None:
        from graphcl.eval.ranking import RankingEvaluator
        from experiments.parity.convert import read_split_npz
        import numpy as np
        import scipy.sparse as sp
        splits, shape = read_split_npz(os.environ["PARITY_SPLIT"])
        mats = {k: sp.csr_matrix((np.ones(v.shape[1]), (v[0], v[1])), shape=shape) for k, v in splits.items()}
        ks = tuple(int(k) for k in os.environ.get("PARITY_KS", "20").split(","))
        _state["split"] = {"mats": mats, "shape": shape,
                           "evaluator": RankingEvaluator(shape[1], ks=ks, metrics=("recall", "ndcg"),
                                                         batch_size=1024)}
    return _state["split"]


def evaluate(user_emb: Any, item_emb: Any) -> dict[str, dict[str, float]]:
    """Valid and test metrics of the scores ``user_emb @ item_emb.T`` (graphcl's protocol)."""
    import torch
    s = _split()
    with torch.no_grad():
        u, i = user_emb.detach().float().cpu(), item_emb.detach().float().cpu()
        score = lambda users: u[users] @ i.T  # noqa: E731
        out = {}
        if s["mats"]["valid"].nnz:
            out["valid"] = s["evaluator"].evaluate(score, s["mats"]["valid"], exclude=[s["mats"]["train"]])
        out["test"] = s["evaluator"].evaluate(score, s["mats"]["test"],
                                              exclude=[s["mats"]["train"], s["mats"]["valid"]])
    return out


def epoch_end(epoch: int, user_emb: Any, item_emb: Any, loss: float | None = None,
              stale: tuple[Any, Any] | None = None) -> None:
    """Evaluate and print this epoch's record (``train_done`` is implied if not called).

    ``stale``: other (user, item) embeddings to evaluate as well, recorded under ``stale``
    (e.g. the ones a reference scores with when they predate its last optimizer step)."""
    stop = _state["stop"] if _state["stop"] is not None else time.perf_counter()
    seconds = stop - _state["start"] if _state["start"] is not None else None
    t0 = time.perf_counter()
    record: dict[str, Any] = {"epoch": int(epoch), "train_seconds": seconds,
                              "loss": None if loss is None else float(loss), **evaluate(user_emb, item_emb)}
    if stale is not None:
        record["stale"] = evaluate(*stale)
    record["eval_seconds"] = time.perf_counter() - t0
    sys.stdout.write(MARKER + json.dumps(record) + "\n")
    sys.stdout.flush()
