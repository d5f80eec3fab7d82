"""Helpers shared by the node-level evaluation modules: tensor conversion, mean and std,
macro-F1."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor


def as_tensor(x: Any, device: Optional[torch.device] = None, dtype=None) -> Tensor:
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(device=device if device is not None else t.device, dtype=dtype or t.dtype)


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population std (ddof = 0, as ``np.std``)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std())


def macro_f1(pred: Tensor, target: Tensor, num_classes: Optional[int] = None) -> float:
    """Macro-F1 = mean over classes c present in ``target`` ∪ ``pred`` of
    2 TP_c / (2 TP_c + FP_c + FN_c) (sklearn's ``f1_score(average="macro")``)."""
    pred, target = pred.long().reshape(-1), target.long().reshape(-1).to(pred.device)
    c = int(num_classes or max(int(pred.max()), int(target.max())) + 1)
    tp = torch.bincount(target[pred == target], minlength=c).double()
    n_pred = torch.bincount(pred, minlength=c).double()
    n_true = torch.bincount(target, minlength=c).double()
    present = (n_pred + n_true) > 0
    f1 = 2 * tp / (n_pred + n_true).clamp_min(1)
    return float(f1[present].mean())
