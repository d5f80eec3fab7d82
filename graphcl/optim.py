"""The optimizer the trainer builds: Adam with torch's fused kernel where every parameter allows it.

``torch.optim.Adam`` on CPU defaults to its per-tensor loop (about ten elementwise passes per
parameter tensor, each a separate dispatch); ``fused=True`` runs the same update rule (Kingma & Ba
2015, L2 weight decay added to the gradient, as torch's Adam) in one kernel per parameter group.
Measured here (1 thread): SASRec's 28 parameter tensors (0.88 M values) 4.9 ms -> 0.52 ms per step.
The two implementations agree to float rounding, not bitwise (``tests/test_optim.py``); a
run is still deterministic for a seed. Parameters on other devices or of non-floating dtypes
fall back to the loop implementation.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch

__all__ = ["FUSED_DEVICES", "adam", "fused_supported"]

#: device types with a fused Adam kernel in torch
FUSED_DEVICES = ("cpu", "cuda")


def fused_supported(params: list[torch.Tensor]) -> bool:
    """Whether ``torch.optim.Adam(params, fused=True)`` accepts these parameters: all floating
    point, dense, on one device of :data:`FUSED_DEVICES`."""
    devices = {p.device for p in params}
    return (len(devices) == 1 and next(iter(devices)).type in FUSED_DEVICES
            and all(p.is_floating_point() and p.layout == torch.strided for p in params))


def adam(params: Iterable[Any], lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """``torch.optim.Adam(params, lr, weight_decay=...)``, fused where :func:`fused_supported`.

    ``params``: tensors or parameter-group dicts, as for torch's optimizers."""
    items = list(params)
    tensors = [t for item in items for t in (item["params"] if isinstance(item, dict) else [item])]
    if not tensors:
        raise ValueError("adam: no parameters to optimize")
    return torch.optim.Adam(items, lr=lr, weight_decay=weight_decay,
                            fused=True if fused_supported(tensors) else None)
