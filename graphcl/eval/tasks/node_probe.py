"""Node-level evaluation task: a linear probe (and optionally k-means clustering)
on frozen embeddings.

The model exposes ``embed() -> Tensor (N, d)``. For ``valid`` the task reports
the probe's validation accuracy (used for model selection and early stopping);
for ``test`` it reports test accuracy / macro-F1 (mean and std over the probe
seeds, each seed's classifier chosen on validation) and, when
``cluster = true``, k-means ACC/NMI/ARI/F1 on the embeddings.
"""
from __future__ import annotations

from typing import Any

import torch

from graphcl.model_protocols import Embedder

def frozen_embeddings(model: torch.nn.Module) -> torch.Tensor:
    """The model's node embeddings in eval mode, detached; non-finite values are an error."""
    model.eval()
    emb = model.embed().detach()
    if not torch.isfinite(emb).all():
        raise FloatingPointError("the model produced non-finite embeddings")
    return emb


PROBE_NORMALIZATIONS = ("standard", "l2", "none")


def probe_normalization(value: Any) -> str | None:
    """The linear probe's ``normalize`` argument for the config value ``probe_normalize``."""
    if value is None or value == "none":
        return None
    if value not in PROBE_NORMALIZATIONS:
        raise ValueError(f"probe_normalize must be one of {PROBE_NORMALIZATIONS}, got {value!r}")
    return str(value)


def probe_weight_decays(value: Any) -> tuple[float, ...]:
    """The probe's weight-decay grid for the config value ``probe_weight_decays``:
    ``None`` or ``"default"`` (0, 1e-5 ... 1e-2), ``"wide"`` (0, 1e-6 ... 1 in half decades) or a list of
    non-negative numbers; the decay is chosen per split on validation."""
    from graphcl.eval.node import DEFAULT_WEIGHT_DECAYS, WIDE_WEIGHT_DECAYS
    if value is None or value == "default":
        return DEFAULT_WEIGHT_DECAYS
    if value == "wide":
        return WIDE_WEIGHT_DECAYS
    values = value if isinstance(value, (list, tuple)) else [value]
    try:
        grid = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        grid = ()
    if not grid or any(not (g >= 0.0) or g == float("inf") for g in grid):
        raise ValueError("probe_weight_decays must be 'default', 'wide' or a non-empty list of finite "
                         f"non-negative numbers, got {value!r}")
    return grid


def probe_epochs(value: Any) -> int:
    """The probe's Adam epochs for the config value ``probe_epochs`` (a positive integer)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"probe_epochs must be a positive integer, got {value!r}")
    return value


NODE_TASK_DEFAULTS: dict[str, Any] = {
    "probe_split": "random",   # "random" (10/10/80 per seed) or "public" (Planetoid masks)
    "probe_seeds": 5,
    "probe_train_ratio": 0.1,
    "probe_val_ratio": 0.1,
    "probe_normalize": "standard",  # "standard" (z-score), "l2" (GRACE authors' protocol) or "none"
    "probe_weight_decays": None,  # None/"default" (0, 1e-5...1e-2), "wide" (0, 1e-6...1) or a list
    "probe_epochs": 300,
    "cluster": False,
}


class NodeProbeTask:
    model_protocol = Embedder

    def __init__(self, data: Any, config: dict[str, Any], device: torch.device) -> None:
        if getattr(data, "y", None) is None:
            raise ValueError("node evaluation needs labels: the graph has no `y`")
        probe_normalization(config.get("probe_normalize", "standard"))  # fail before training
        probe_weight_decays(config.get("probe_weight_decays"))
        probe_epochs(config.get("probe_epochs", 300))
        self.data = data
        self.name = str(getattr(data, "name", None) or "graph")
        self.config = config
        self.device = device
        self.has_valid = True
        self.has_test = True
        self._cache: tuple[int, dict[str, Any]] | None = None

    def stats(self) -> dict[str, Any]:
        d = self.data
        return {"dataset": self.name, "nodes": int(d.num_nodes), "edges": int(d.edge_index.size(1)),
                "features": int(d.x.size(1)) if d.x is not None else 0,
                "classes": int(d.y.max()) + 1}

    def _probe(self, emb: torch.Tensor) -> dict[str, Any]:
        from graphcl.eval.node import linear_probe
        split = str(self.config.get("probe_split", "random"))
        return linear_probe(emb, self.data.y.to(emb.device), split=split, data=self.data,
                            train_ratio=float(self.config.get("probe_train_ratio", 0.1)),
                            val_ratio=float(self.config.get("probe_val_ratio", 0.1)),
                            seeds=tuple(range(int(self.config.get("probe_seeds", 5)))),
                            normalize=probe_normalization(self.config.get("probe_normalize", "standard")),
                            weight_decay=probe_weight_decays(self.config.get("probe_weight_decays")),
                            epochs=probe_epochs(self.config.get("probe_epochs", 300)),
                            device=emb.device)

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        emb = frozen_embeddings(model)
        probe = self._probe(emb)
        if split == "valid":
            return {"acc": float(probe["val_mean"])}
        out = {"acc": float(probe["mean"]), "acc_std": float(probe["std"])}
        for key in ("f1_mean", "f1_std", "val_mean"):
            if key in probe:
                out[key] = float(probe[key])
        if self.config.get("cluster"):
            from graphcl.eval.node import evaluate_clustering
            clu = evaluate_clustering(emb, self.data.y.to(emb.device))
            out.update({f"cluster_{k}": float(v) for k, v in clu.items() if isinstance(v, (int, float))})
        return out
