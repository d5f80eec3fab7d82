"""Evaluation task for heterogeneous graphs in the HeCo protocol.

The model exposes ``embed() -> (N, d)`` embeddings of the target nodes. A
logistic-regression probe (:func:`graphcl.eval.node.linear_probe`, torch; weight
decay and, with ``probe_normalize: auto``, the input normalization (L2 rows or
z-scores) chosen on validation accuracy) is fitted on each labelled split of the
dataset (HeCo's 20/40/60 labelled nodes per class; the (N, 3) masks of
``graphcl.data.hetero``).

* ``valid``: ``micro_f1`` = validation accuracy (= micro-F1), averaged over the
  splits; the trainer selects the epoch on it.
* ``test``: per split r in (20, 40, 60): ``macro_f1_r``, ``micro_f1_r``, ``auc_r``
  (one-vs-rest macro AUC of the probe's probabilities), their means over the
  splits ``macro_f1``/``micro_f1``, and with ``cluster``,
  k-means (k = number of classes, ``cluster_seeds`` runs) ``nmi`` and ``ari``
  (means) on the same embeddings, as MEOW/HeCo report.
"""
from __future__ import annotations

from typing import Any

import torch

from graphcl.eval.tasks.node_probe import frozen_embeddings
from graphcl.model_protocols import Embedder

HETERO_TASK_DEFAULTS: dict[str, Any] = {
    "probe_normalize": "auto",  # "auto" (l2 or standard, chosen per split on validation), "standard", "l2", "none"
    "probe_epochs": 300,
    "probe_lr": 0.01,
    "cluster": True,
    "cluster_seeds": 5,
}


class HeteroProbeTask:
    model_protocol = Embedder

    def __init__(self, data: Any, config: dict[str, Any], device: torch.device) -> None:
        target = getattr(data, "target_type", None)
        if target is None or getattr(data[target], "y", None) is None:
            raise ValueError("heterogeneous evaluation needs a HeCo-format HeteroData with labels "
                             "(data.target_type and data[target].y)")
        store = data[target]
        for key in ("train_mask", "val_mask", "test_mask"):
            if getattr(store, key, None) is None:
                raise ValueError(f"the target type {target!r} has no {key}")
        self.data, self.config, self.device = data, config, device
        self.name = str(getattr(data, "name", None) or "hetero")
        self.y = store.y
        self.masks = (store.train_mask, store.val_mask, store.test_mask)
        self.ratios = list(getattr(data, "split_ratios", range(store.train_mask.shape[1])))
        self.has_valid = True
        self.has_test = True

    def stats(self) -> dict[str, Any]:
        d = self.data
        return {"dataset": self.name, "target": d.target_type,
                "nodes": {t: int(d[t].num_nodes) for t in d.node_types},
                "metapaths": list(d.metapaths), "missing_metapaths": list(d.missing_metapaths),
                "classes": int(d.num_classes)}

    def _probe(self, emb: torch.Tensor) -> dict[str, Any]:
        from graphcl.eval.node import linear_probe
        norm = str(self.config.get("probe_normalize", "auto"))
        if norm not in ("auto", "standard", "l2", "none"):
            raise ValueError(f"probe_normalize must be auto, standard, l2 or none, got {norm!r}")
        runs = [linear_probe(emb, self.y.to(emb.device), split=self.masks,
                             normalize=None if n == "none" else n,
                             epochs=int(self.config.get("probe_epochs", 300)),
                             lr=float(self.config.get("probe_lr", 0.01)), device=emb.device)
                for n in (("l2", "standard") if norm == "auto" else (norm,))]
        if len(runs) == 1:
            return runs[0]
        # per split, the input normalization of the better validation accuracy (ties: l2)
        best = [max(range(len(runs)), key=lambda r: (runs[r]["val_accs"][j], -r))
                for j in range(len(runs[0]["accs"]))]
        out = {key: [runs[b][key][j] for j, b in enumerate(best)]
               for key in ("accs", "f1s", "aucs", "val_accs")}
        out["val_mean"] = sum(out["val_accs"]) / len(best)
        out["mean"] = sum(out["accs"]) / len(best)
        out["f1_mean"] = sum(out["f1s"]) / len(best)
        return out

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        emb = frozen_embeddings(model)
        probe = self._probe(emb)
        if split == "valid":
            return {"micro_f1": float(probe["val_mean"])}
        out: dict[str, float] = {}
        for j, r in enumerate(self.ratios):
            out[f"macro_f1_{r}"] = float(probe["f1s"][j])
            out[f"micro_f1_{r}"] = float(probe["accs"][j])
            out[f"auc_{r}"] = float(probe["aucs"][j])
        out["macro_f1"] = float(probe["f1_mean"])   # means over the splits
        out["micro_f1"] = float(probe["mean"])
        out["val_micro_f1"] = float(probe["val_mean"])
        if self.config.get("cluster", True):
            from graphcl.eval.node import evaluate_clustering
            clu = evaluate_clustering(emb, self.y.to(emb.device), k=int(self.data.num_classes),
                                      seeds=tuple(range(int(self.config.get("cluster_seeds", 5)))))
            out["nmi"], out["ari"] = float(clu["nmi_mean"]), float(clu["ari_mean"])
        return out
