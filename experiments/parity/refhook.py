"""Evaluation hook imported INTO a reference process by a run-time patch (ranking and node methods).

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

Node methods (the harness sets ``PARITY_NODE``, our graph as ``.npz``
(:func:`experiments.parity.convert.write_node_npz`), ``PARITY_PROBE``, the probe settings as JSON,
``PARITY_EPOCHS`` and ``PARITY_EVAL_EVERY``): :func:`node_setup` checks that the reference loaded
OUR graph (same labels in the same node order, same edge set) and prints a ``PARITY_CHECK`` line;
:func:`node_epoch_end` prints one record per epoch (training seconds, loss) and, every
``PARITY_EVAL_EVERY`` epochs and at the last one, the probe of the reference model's embeddings
with graphcl's node-probe task (:mod:`experiments.parity.nodeprobe`), the random states of
``random``, numpy and torch saved and restored around it (the reference's own random stream is
untouched).
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Any

MARKER = "PARITY_JSON "  # the same as experiments.parity.summary.MARKER

CHECK_MARKER = "PARITY_CHECK "

_state: dict[str, Any] = {"start": None, "stop": None, "split": None, "probe": None}


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


# ------------------------------------------------------------------ node methods
def _node_graph() -> dict[str, Any]:
    from experiments.parity.convert import read_node_npz
    return read_node_npz(os.environ["PARITY_NODE"])


def node_setup(y: Any, edge_index: Any) -> None:
    """Refuse a reference graph that is not ours: labels ``y`` must equal ours node by node and
    ``edge_index`` must hold the same directed edges. Prints one ``PARITY_CHECK {...}`` line."""
    import numpy as np
    from experiments.parity.convert import same_edge_set
    ours = _node_graph()
    ref_y = np.asarray(y.detach().cpu() if hasattr(y, "detach") else y).reshape(-1)
    ref_e = np.asarray(edge_index.detach().cpu() if hasattr(edge_index, "detach") else edge_index)
    check = {"nodes": int(ref_y.size), "edges": int(ref_e.shape[1]),
             "same_labels": bool(ref_y.shape == ours["y"].shape and np.array_equal(ref_y, ours["y"])),
             "same_edges": same_edge_set(ref_e, ours["edge_index"])}
    sys.stdout.write(CHECK_MARKER + json.dumps(check) + "\n")
    sys.stdout.flush()
    if not (check["same_labels"] and check["same_edges"]):
        raise RuntimeError(f"the reference's graph is not graphcl's: {check}")


def probe_task() -> Any:
    """graphcl's node-probe task for the reference's graph (``PARITY_PROBE`` settings), built once."""
    if _state["probe"] is None:
        from experiments.parity.nodeprobe import make_probe_task
        _state["probe"] = make_probe_task(_node_graph(), json.loads(os.environ.get("PARITY_PROBE", "{}")))
    return _state["probe"]


def node_due(epoch: int) -> bool:
    """Whether 0-based ``epoch`` is probed: every ``PARITY_EVAL_EVERY`` epochs and the last one
    (``PARITY_EPOCHS``)."""
    every = int(os.environ.get("PARITY_EVAL_EVERY", "1"))
    last = int(os.environ.get("PARITY_EPOCHS", "0")) - 1
    return (every > 0 and (epoch + 1) % every == 0) or epoch == last


def node_epoch_end(epoch: int, loss: float | None, model: Any, inputs: tuple[Any, ...]) -> None:
    """Print this epoch's record; on a probed epoch (:func:`node_due`) the embeddings
    ``model(*inputs)`` (eval mode, no grad; the mode is restored) go through graphcl's node probe."""
    stop = _state["stop"] if _state["stop"] is not None else time.perf_counter()
    seconds = stop - _state["start"] if _state["start"] is not None else None
    record: dict[str, Any] = {"epoch": int(epoch), "train_seconds": seconds,
                              "loss": None if loss is None else float(loss)}
    if node_due(epoch):
        import numpy as np
        import torch
        from experiments.parity.nodeprobe import evaluate_embeddings
        t0 = time.perf_counter()
        states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        training = model.training
        model.eval()
        try:
            with torch.no_grad():
                emb = model(*inputs)
            record.update(evaluate_embeddings(probe_task(), emb))
        finally:
            model.train(training)
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])
        record["eval_seconds"] = time.perf_counter() - t0
    sys.stdout.write(MARKER + json.dumps(record) + "\n")
    sys.stdout.flush()
