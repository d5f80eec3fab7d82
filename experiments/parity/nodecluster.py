"""Node CLUSTERING in the parity harness (SCGC*, PamC): one evaluation for both sides, the hook
that runs inside a reference process, graphcl's side, and the SDCN file format.

Evaluation (:func:`cluster_record`), the same code on both sides and the same numbers as graphcl's
node-clustering task (:class:`graphcl.eval.tasks.node_cluster.NodeClusteringTask`):

* ``acc``, ``nmi``, ``ari``, ``f1`` (and ``clusters_used``): the model's own clusters, argmax_k q_ik
  of its soft assignments Q, against the true labels of all nodes
  (:func:`graphcl.eval.clustering.cluster_metrics`: ACC by Hungarian matching, NMI arithmetic,
  ARI, macro-F1 after the matching);
* ``kmeans_<metric>`` / ``kmeans_<metric>_std``: k-means (k = number of classes, seeds
  0..``kmeans_seeds``-1, 10 restarts each) on the embeddings z
  (:func:`graphcl.eval.clustering.evaluate_clustering`).

Every epoch gets a ``PARITY_JSON`` record ``{"epoch", "train_seconds", "loss"}``, the epochs
:func:`due` (every ``PARITY_EVAL_EVERY`` epochs and the last) also ``"test": {...}``; there is no
validation split (unsupervised clustering: the final metric is the last epoch's).

Reference side (imported by a run-time patch, the environment set by the adapter): :func:`setup`
(torch threads), :func:`check_graph` (refuses a reference whose labels, features or normalized
adjacency differ from graphcl's), :func:`epoch_start` / :func:`pause` / :func:`resume` (the
training clock, with the reference's own per-epoch evaluation paused out of it), :func:`epoch_end`
(the record of the model's state after the epoch's optimizer step; random states saved and
restored around it).

graphcl's side: :func:`attach_ours` (called by :mod:`experiments.parity.run_ours` for a task
without a validation split) emits the same record after each trainer epoch.

SDCN format (:func:`write_sdcn`): ``data/<name>.txt`` (features, one row per node),
``data/<name>_label.txt``, ``graph/<name>_graph.txt`` (one ``i j`` line per directed edge) and
``data/<name>.pkl`` (the pretrained autoencoder's state dict in SDCN's ``AE`` names), the files
gayanku/SCGC and gayanku/PAMC read (their ``utils.py``).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["AE_NAMES", "attach_ours", "check_graph", "cluster_record", "due", "epoch_end", "epoch_start",
           "features_sha256", "pause", "resume", "setup", "write_sdcn"]

MARKER = "PARITY_JSON "  # experiments.parity.summary.MARKER
CHECK_MARKER = "PARITY_CHECK "
#: SDCN's AE parameter names, in graphcl's MLP layer order (encoder, then decoder)
AE_NAMES = {"encoder": ("enc_1", "enc_2", "enc_3", "z_layer"),
            "decoder": ("dec_1", "dec_2", "dec_3", "x_bar_layer")}
METRICS = ("acc", "nmi", "ari", "f1")

_clock: dict[str, Any] = {"start": None, "paused": 0.0, "pause_at": None}


# ------------------------------------------------------------------ evaluation (both sides)
def due(epoch: int, every: int | None = None, epochs: int | None = None) -> bool:
    """Whether 0-based ``epoch`` gets k-means: every ``every`` epochs and the last of ``epochs``
    (defaults: ``PARITY_EVAL_EVERY``, ``PARITY_EPOCHS``)."""
    every = int(os.environ.get("PARITY_EVAL_EVERY", "1")) if every is None else int(every)
    epochs = int(os.environ.get("PARITY_EPOCHS", "0")) if epochs is None else int(epochs)
    return (every > 0 and (epoch + 1) % every == 0) or epoch == epochs - 1


def cluster_record(z: Any, q: Any, y: Any, kmeans_seeds: int = 0, allow_nonfinite: bool = False) -> dict[str, float]:
    """Clustering metrics of soft assignments ``q`` (N, K) (the clusters argmax_k q_ik) and, with
    ``kmeans_seeds`` > 0, of k-means on the embeddings ``z`` (N, d): graphcl's node-clustering
    task's numbers (``acc``, ``nmi``, ``ari``, ``f1``, ``clusters_used``, ``kmeans_<m>``,
    ``kmeans_<m>_std``).

    Non-finite ``q`` or ``z`` (a diverged model) is an error unless ``allow_nonfinite`` (the
    reference hook: a reference that diverges keeps training and its state is recorded as it is):
    then ``nonfinite`` = 1, the clusters are still torch's argmax of ``q`` (a NaN row goes to its
    first NaN, cluster 0 for an all-NaN row, as the reference's own numpy argmax) and the k-means
    values of non-finite embeddings are NaN."""
    import torch
    from graphcl.eval.clustering import cluster_metrics, evaluate_clustering
    q = torch.as_tensor(q).detach().float().cpu()
    y = torch.as_tensor(np.asarray(y)).reshape(-1).long().cpu()
    if q.dim() != 2 or q.size(0) != y.numel():
        raise ValueError(f"q must be (N, K) with N = {y.numel()} labels, got {tuple(q.shape)}")
    finite_q = bool(torch.isfinite(q).all())
    if not finite_q and not allow_nonfinite:
        raise FloatingPointError("the soft assignments are not finite")
    pred = q.argmax(1)
    out = {m: float(v) for m, v in cluster_metrics(pred, y).items()}
    out["clusters_used"] = float(torch.unique(pred).numel())
    if kmeans_seeds > 0:
        z = torch.as_tensor(z).detach().float().cpu()
        finite_z = bool(torch.isfinite(z).all())
        if not finite_z and not allow_nonfinite:
            raise FloatingPointError("the embeddings are not finite")
        if finite_z:
            km = evaluate_clustering(z, y, seeds=tuple(range(int(kmeans_seeds))))
        for m in METRICS:
            out[f"kmeans_{m}"] = float(km[f"{m}_mean"]) if finite_z else float("nan")
            out[f"kmeans_{m}_std"] = float(km[f"{m}_std"]) if finite_z else float("nan")
        finite_q = finite_q and finite_z
    if not finite_q:
        out["nonfinite"] = 1.0
    return out


def _emit(record: dict[str, Any], marker: str = MARKER) -> None:
    sys.stdout.write(marker + json.dumps(record) + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------ reference side
def setup() -> None:
    """torch's thread count from ``PARITY_THREADS`` (the reference seeds itself with --seed)."""
    import torch
    torch.set_num_threads(int(os.environ.get("PARITY_THREADS", "1")))


def features_sha256(x: Any) -> str:
    """sha256 of the features as a C-ordered float32 array (what both sides train on)."""
    return hashlib.sha256(np.ascontiguousarray(np.asarray(x, dtype=np.float32)).tobytes()).hexdigest()


def check_graph(y: Any, adj: Any, x: Any) -> dict[str, Any]:
    """Refuse a reference whose graph is not graphcl's: labels ``y`` node by node (``PARITY_NODE``),
    features ``x`` (sha256, ``PARITY_X_SHA256``) and the normalized adjacency ``adj`` (the
    reference's D^-1 (A + I), a torch sparse tensor) against graphcl's
    :func:`graphcl.losses.meta_node.normalized_adjacency` of our edges (same nonzeros, values
    within 1e-6). Prints one ``PARITY_CHECK {...}`` line; returns the check."""
    import torch
    from experiments.parity.convert import read_node_npz
    from graphcl.losses.meta_node import normalized_adjacency
    ours = read_node_npz(os.environ["PARITY_NODE"])
    ref_y = np.asarray(y).reshape(-1)
    a = adj.coalesce()
    mine = normalized_adjacency(torch.as_tensor(ours["edge_index"]), int(ours["y"].size))
    same_pattern = bool(a.indices().shape == mine.indices().shape and torch.equal(a.indices(), mine.indices()))
    value_diff = float((a.values().double() - mine.values().double()).abs().max()) if same_pattern else None
    check = {"nodes": int(ref_y.size), "adj_nnz": int(a.indices().shape[1]),
             "same_labels": bool(ref_y.shape == ours["y"].shape and np.array_equal(ref_y, ours["y"])),
             "same_features": features_sha256(x) == os.environ.get("PARITY_X_SHA256"),
             "same_adjacency_pattern": same_pattern, "adjacency_max_abs_diff": value_diff}
    _emit(check, CHECK_MARKER)
    if not (check["same_labels"] and check["same_features"] and same_pattern and value_diff is not None
            and value_diff <= 1e-6):
        raise RuntimeError(f"the reference's graph is not graphcl's: {check}")
    return check


def epoch_start() -> None:
    """Start the epoch's training clock."""
    _clock.update(start=time.perf_counter(), paused=0.0, pause_at=None)


def pause() -> None:
    """Stop the clock (the reference's own evaluation follows)."""
    _clock["pause_at"] = time.perf_counter()


def resume() -> None:
    """Restart the clock after :func:`pause`."""
    if _clock["pause_at"] is not None:
        _clock["paused"] += time.perf_counter() - _clock["pause_at"]
        _clock["pause_at"] = None


def epoch_end(epoch: int, loss: Any, model: Any, data: Any, adj: Any) -> None:
    """The record of 0-based ``epoch`` after its optimizer step (training seconds, loss); on the
    :func:`due` epochs also ``test``: ``model(data, adj)`` (no grad) gives SDCN-family outputs
    ``(x_bar, q, predict, z, ...)``, q and z go through :func:`cluster_record` with
    ``PARITY_KMEANS_SEEDS`` k-means seeds."""
    import torch
    stop = time.perf_counter()
    seconds = None if _clock["start"] is None else stop - _clock["start"] - _clock["paused"]
    loss = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
    record: dict[str, Any] = {"epoch": int(epoch), "train_seconds": seconds, "loss": loss}
    if due(epoch):
        t0 = time.perf_counter()
        states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        try:
            with torch.no_grad():
                out = model(data, adj)
            record["test"] = cluster_record(out[3], out[1], read_labels(),
                                            int(os.environ.get("PARITY_KMEANS_SEEDS", "5")), allow_nonfinite=True)
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])
        record["eval_seconds"] = time.perf_counter() - t0
    _emit(record)
    _clock["start"] = None


_labels: dict[str, Any] = {}


def read_labels() -> np.ndarray:
    """Our labels (``PARITY_NODE``), read once."""
    if "y" not in _labels:
        from experiments.parity.convert import read_node_npz
        _labels["y"] = read_node_npz(os.environ["PARITY_NODE"])["y"]
    return _labels["y"]


# ------------------------------------------------------------------ graphcl's side
def attach_ours(trainer: Any, eval_every: int, emit: Callable[[dict[str, Any]], None], emitted: set[int],
                kmeans_seeds: int | None = None) -> None:
    """Make ``trainer`` emit one record per epoch, after the epoch (training seconds: the
    trainer's; loss); on the :func:`due` epochs also ``test``: its model's ``embed()`` and
    ``soft_assignments()`` (eval mode, no grad) through :func:`cluster_record`."""
    import torch
    epochs = int(trainer.config["epochs"])
    seeds = int(trainer.config.get("kmeans_seeds", 5)) if kmeans_seeds is None else int(kmeans_seeds)
    y = trainer.task.data.y
    run_epoch, train_epoch = trainer._run_epoch, trainer._train_epoch
    last: dict[str, Any] = {}

    def train_and_keep(epoch: int) -> dict[str, float]:
        last["losses"] = train_epoch(epoch)
        return last["losses"]

    def run_and_record(epoch: int, train_seconds: list[float], eval_seconds: list[float]) -> bool:
        stop = run_epoch(epoch, train_seconds, eval_seconds)
        record: dict[str, Any] = {"epoch": int(epoch), "train_seconds": train_seconds[-1],
                                  "loss": last["losses"]["loss"]}
        if due(epoch, eval_every, epochs) or stop:
            t0 = time.perf_counter()
            model = trainer.model
            training = model.training
            model.eval()
            try:
                with torch.no_grad():
                    z, q = model.embed(), model.soft_assignments()
            finally:
                model.train(training)
            record["test"] = cluster_record(z, q, y, seeds)
            record["eval_seconds"] = time.perf_counter() - t0
        emit(record)
        emitted.add(int(epoch))
        return stop

    trainer._train_epoch = train_and_keep
    trainer._run_epoch = run_and_record


# ------------------------------------------------------------------ SDCN files
def write_sdcn(root: Path, name: str, x: np.ndarray, y: np.ndarray, edge_index: np.ndarray,
               ae_state: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write a graph in SDCN's format under ``root`` (see the module docstring): features as
    integers when they all are (Planetoid's 0/1 bag of words), else ``%.9g``; ``ae_state``, if
    given, is graphcl's ``{"encoder": ..., "decoder": ...}`` MLP state dicts (the decoder may be
    absent or None), saved (torch) under SDCN's names. Returns the paths written."""
    import torch
    x = np.asarray(x)
    y = np.asarray(y).reshape(-1)
    e = np.asarray(edge_index, dtype=np.int64)
    if x.ndim != 2 or x.shape[0] != y.size:
        raise ValueError(f"x must be (N, F) with N = {y.size} labels, got {x.shape}")
    if e.ndim != 2 or e.shape[0] != 2 or (e.size and (e.min() < 0 or e.max() >= y.size)):
        raise ValueError(f"edge_index must be (2, E) with node ids below {y.size}")
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "graph").mkdir(parents=True, exist_ok=True)
    paths = {"x": root / "data" / f"{name}.txt", "y": root / "data" / f"{name}_label.txt",
             "graph": root / "graph" / f"{name}_graph.txt"}
    integral = bool(np.all(np.mod(x, 1) == 0))
    np.savetxt(paths["x"], x, fmt="%d" if integral else "%.9g")
    np.savetxt(paths["y"], y.astype(np.int64), fmt="%d")
    np.savetxt(paths["graph"], e.T, fmt="%d")
    if ae_state is not None:
        sd = {}
        for part, names in AE_NAMES.items():
            if ae_state.get(part) is None:  # (no decoder: SCGC* and PamC load only the encoder)
                continue
            state = ae_state[part]
            for i, n in enumerate(names):
                sd[f"{n}.weight"] = state[f"layers.{i}.weight"].detach().cpu().clone()
                sd[f"{n}.bias"] = state[f"layers.{i}.bias"].detach().cpu().clone()
        paths["ae"] = root / "data" / f"{name}.pkl"
        torch.save(sd, paths["ae"])
    return paths
