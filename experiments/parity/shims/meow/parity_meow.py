"""Evaluation hook imported INTO a MEOW / AdaMEOW reference process (jianxiangyu/MEOW) by the parity
adapters' run-time patches (``experiments/parity/adapters/meow.py``, ``adameow.py``).

Environment (set by the adapter): ``PARITY_SEED``/``PARITY_THREADS`` (the harness),
``PARITY_HETERO`` (JSON: graphcl dataset ``name``, data ``root``, ``path_counts``: how graphcl loads
the same HeCo folder), ``PARITY_PROBE`` (JSON: graphcl's hetero-probe settings, the same as our
side's), ``PARITY_EPOCHS`` and ``PARITY_EVAL_EVERY``.

* :func:`setup`: the torch thread count (the reference seeds itself with ``--seed``).
* :func:`check_data`: refuses a reference whose labels (node by node) or 20/40/60 splits differ
  from graphcl's; prints one ``PARITY_CHECK`` line.
* :func:`epoch_end`: one ``PARITY_JSON`` record per epoch (training seconds, loss); every
  ``PARITY_EVAL_EVERY`` epochs and at the last, graphcl's hetero probe
  (:class:`graphcl.eval.tasks.hetero_probe.HeteroProbeTask`: Macro-F1/Micro-F1/AUC per split,
  k-means NMI/ARI) of (a) the fine view recomputed in eval mode after the epoch's step (what graphcl
  evaluates: ``valid``/``test``) and (b) the embeddings the reference itself evaluates (its
  ``get_embeds()``: the fine view of the epoch's training forward, dropout on, before the step:
  ``stale``). The random states of ``random``, numpy and torch are restored after it.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F

from experiments.parity import refhook

__all__ = ["setup", "check_data", "epoch_end", "fine_view_meow", "fine_view_adameow"]

_state: dict[str, Any] = {"data": None, "task": None}


def setup() -> None:
    """Thread count only: the reference seeds random/numpy/torch itself from ``--seed``."""
    refhook.setup(seed=False)


def _data() -> Any:
    if _state["data"] is None:
        import warnings
        from graphcl.data.hetero import load_hetero_dataset
        spec = json.loads(os.environ["PARITY_HETERO"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _state["data"] = load_hetero_dataset(spec["name"], spec["root"], path_counts=bool(spec["path_counts"]))
    return _state["data"]


def _task() -> Any:
    if _state["task"] is None:
        from graphcl.eval.tasks.hetero_probe import HETERO_TASK_DEFAULTS, HeteroProbeTask
        from experiments.parity.nodeprobe import memoize_probe
        cfg = {**HETERO_TASK_DEFAULTS, **json.loads(os.environ.get("PARITY_PROBE", "{}"))}
        _state["task"] = memoize_probe(HeteroProbeTask(_data(), cfg, torch.device("cpu")))
    return _state["task"]


def check_data(label: Any, idx_train: list[Any], idx_val: list[Any], idx_test: list[Any]) -> None:
    """Refuse a reference whose labels (one-hot rows, node order) or split index sets differ from
    graphcl's (``data[target].y`` and the (N, 3) masks)."""
    import numpy as np
    data = _data()
    store = data[data.target_type]
    ref_y = torch.as_tensor(label).argmax(dim=-1).cpu().numpy()
    ours_y = store.y.numpy()
    check: dict[str, Any] = {"nodes": int(ref_y.size), "same_labels": bool(np.array_equal(ref_y, ours_y))}
    same = []
    for j, (tr, va, te) in enumerate(zip(idx_train, idx_val, idx_test)):
        for name, idx, mask in (("train", tr, store.train_mask), ("val", va, store.val_mask),
                                ("test", te, store.test_mask)):
            ref = np.sort(np.asarray(torch.as_tensor(idx).cpu()))
            same.append(bool(np.array_equal(ref, np.flatnonzero(mask[:, j].numpy()))))
    check["same_splits"] = all(same) and len(same) == 3 * store.train_mask.shape[1]
    sys.stdout.write(refhook.CHECK_MARKER + json.dumps(check) + "\n")
    sys.stdout.flush()
    if not (check["same_labels"] and check["same_splits"]):
        raise RuntimeError(f"the reference's labels/splits are not graphcl's: {check}")


class _Frozen(torch.nn.Module):
    """Fixed embeddings behind graphcl's ``embed()`` protocol."""

    def __init__(self, emb: torch.Tensor) -> None:
        super().__init__()
        self.emb = emb

    def embed(self) -> torch.Tensor:
        return self.emb


def probe(emb: torch.Tensor) -> dict[str, dict[str, float]]:
    """graphcl's hetero probe of ``emb``: ``valid`` (mean validation micro-F1 over the splits, the
    selection metric) and ``test`` (per split and mean F1/AUC, NMI/ARI)."""
    test = _task().evaluate(_Frozen(emb.detach().float().cpu()), "test")
    return {"valid": {"micro_f1": test["val_micro_f1"]}, "test": test}


def fine_view_meow(model: Any, feats: Any, mask_feat: Any, mask_adjs: Any, adjs_norm: Any) -> torch.Tensor:
    """MEOW's fine view (``module/meow.py`` forward up to ``self.att``, i.e. what ``get_embeds``
    returns) recomputed in eval mode without grad."""
    agg = {"acm": model.aggregate_nei_acm, "imdb": model.aggregate_nei_acm, "dblp": model.aggregate_nei_dblp,
           "aminer": model.aggregate_nei_aminer}[model.dataset]
    h_view, h_mask, _ = agg(feats, mask_feat)
    z = model.generate_loss(h_view, h_mask, mask_adjs, adjs_norm)
    return model.att([F.normalize(t, dim=1) for t in z])


def fine_view_adameow(model: Any, feats: Any, mask_feat: Any, adjs: Any, mask_adjs: Any) -> torch.Tensor:
    """AdaMEOW's fine view (``module/adameow.py`` forward up to ``self.att``, what ``get_embeds``
    returns) recomputed in eval mode without grad."""
    agg = {"acm": model.aggregate_nei_acm, "imdb": model.aggregate_nei_acm, "dblp": model.aggregate_nei_dblp,
           "aminer": model.aggregate_nei_aminer}[model.dataset]
    h_mp, h_mask, _ = agg(feats, mask_feat)
    h = []
    for i in range(model.sub_num):
        h.append(model.Encoder(h_mp[i], adjs[i]))
        h.append(model.Encoder(h_mask[i], mask_adjs[i]))
    return model.att([F.normalize(t, dim=1) for t in h])


def epoch_end(epoch: int, loss: float, model: Any, view: Callable[[], torch.Tensor]) -> None:
    """Print epoch ``epoch``'s record (0-based); on a probed epoch (:func:`refhook.node_due`) probe
    ``view()`` (called in eval mode, no grad) and ``model.get_embeds()`` (``stale``)."""
    import numpy as np
    stop = refhook._state["stop"] if refhook._state["stop"] is not None else time.perf_counter()
    start = refhook._state["start"]
    record: dict[str, Any] = {"epoch": int(epoch), "train_seconds": None if start is None else stop - start,
                              "loss": float(loss)}
    if refhook.node_due(epoch):
        t0 = time.perf_counter()
        states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        training = model.training
        model.eval()
        try:
            with torch.no_grad():
                emb = view()
            record.update(probe(emb))
            record["stale"] = probe(model.get_embeds())
        finally:
            model.train(training)
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])
        record["eval_seconds"] = time.perf_counter() - t0
    sys.stdout.write(refhook.MARKER + json.dumps(record) + "\n")
    sys.stdout.flush()
