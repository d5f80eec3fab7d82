"""Evaluation of frozen node embeddings: linear probe, clustering, link prediction.

Everything runs in torch on the embeddings' device (or ``device``); only the
Hungarian matching of clustering ACC goes through SciPy.

* Linear probe: multinomial logistic regression = one linear layer + cross-
  entropy, trained full-batch with Adam from a zero initialization (the
  problem is convex, so the result does not depend on an initialization
  seed: runs are deterministic), on embeddings z-scored with the training
  rows' mean and std (``normalize="standard"``, default), L2-row-normalized
  (``"l2"``, GRACE's protocol) or raw (``None``). The L2 penalty
  ``weight_decay`` is chosen per split on validation accuracy; all grid values
  are trained at once as one batched model (Adam is per-parameter, so this is
  exactly equivalent to separate runs).
* Clustering: k-means (k-means++ seeding) batched over ``n_init`` restarts;
  ACC by Hungarian matching, NMI (arithmetic mean normalization), ARI, macro-F1.
* Link prediction: dot-product scores, exact ROC-AUC by ranks (Mann-Whitney U
  with average ranks for ties), and an undirected-aware edge split with
  vectorized negative sampling.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

Masks = tuple[Tensor, Tensor, Tensor]
DEFAULT_WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)
# 0 and 10^-6 ... 1 in half decades: the grid that validation selected for GRACE on Cora
# (experiments/results/probe_variants_grace_cora.md); close to the GRACE authors' C = 2^-10 ... 2^10.
WIDE_WEIGHT_DECAYS = tuple([0.0] + [10.0 ** (e / 2) for e in range(-12, 1)])


from graphcl.eval.common import as_tensor, mean_and_std, macro_f1  # noqa: F401 (macro_f1 re-exported)
# clustering and link prediction live in their own modules; re-exported here
from graphcl.eval.clustering import cluster_metrics, evaluate_clustering, kmeans  # noqa: F401
from graphcl.eval.link_prediction import (auc_from_scores, link_prediction_auc,  # noqa: F401
                                          split_edges_for_link_prediction)


# ------------------------------------------------------------------ splits
def random_split_masks(num_nodes: int, train: float = 0.1, val: float = 0.1, seed: int = 0,
                       device: Optional[torch.device] = None) -> Masks:
    """Disjoint random train/val/test masks: ⌊train·N⌋ / ⌊val·N⌋ nodes, the rest test."""
    if not (0 < train and 0 <= val and train + val < 1):
        raise ValueError(f"need 0 < train, 0 <= val, train + val < 1; got {train}, {val}")
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(num_nodes, generator=gen)
    n_train, n_val = int(train * num_nodes), int(val * num_nodes)
    masks = []
    for idx in (perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]):
        m = torch.zeros(num_nodes, dtype=torch.bool)
        m[idx] = True
        masks.append(m.to(device) if device is not None else m)
    return masks[0], masks[1], masks[2]


def _split_list(split: Any, num_nodes: int, train_ratio: float, val_ratio: float,
                seeds: Iterable[int], data: Any) -> list[Masks]:
    """The list of (train, val, test) masks to evaluate; 2-D masks give one split per column."""
    if isinstance(split, str):
        if split == "random":
            return [random_split_masks(num_nodes, train_ratio, val_ratio, s) for s in seeds]
        if split == "public":
            if data is None or getattr(data, "train_mask", None) is None:
                raise ValueError("split='public' needs data= with train_mask/val_mask/test_mask "
                                 "(Planetoid, WikiCS; Amazon/Coauthor have no public split)")
            split = (data.train_mask, data.val_mask, data.test_mask)
        else:
            raise ValueError(f"split must be 'random', 'public' or (train, val, test) masks; "
                             f"got {split!r}")
    train, val, test = (torch.as_tensor(m).bool().cpu() for m in split)
    cols = max(m.dim() == 2 and m.shape[1] or 1 for m in (train, val, test))

    def col(m: Tensor, j: int) -> Tensor:
        return m[:, j] if m.dim() == 2 else m
    return [(col(train, j), col(val, j), col(test, j)) for j in range(cols)]


def _standardize(x: Tensor, train_mask: Tensor, how: Optional[str]) -> Tensor:
    if how is None:
        return x
    if how == "l2":
        return F.normalize(x, dim=1)
    if how == "standard":
        ref = x[train_mask]
        return (x - ref.mean(0)) / ref.std(0, unbiased=False).clamp_min(1e-12)
    raise ValueError(f"normalize must be 'standard', 'l2' or None, got {how!r}")


class _FewThreads:
    """Run tiny CPU problems single-threaded: intra-op threads only add overhead there,
    and on an oversubscribed machine their spin-waits made a 100 x 16 probe 40x slower."""

    def __init__(self, small: bool):
        self.small, self.saved = small, torch.get_num_threads()

    def __enter__(self) -> None:
        if self.small:
            torch.set_num_threads(1)

    def __exit__(self, *exc: Any) -> None:
        torch.set_num_threads(self.saved)


def _fit_logreg(x: Tensor, y: Tensor, num_classes: int, weight_decays: Tensor, lr: float,
                epochs: int) -> tuple[Tensor, Tensor]:
    """Batched multinomial logistic regression, one model per weight decay λ_g:
    min_W,b  CE(x W_g + b_g, y) + λ_g ||W_g||²  (Adam, full batch, zero init)."""
    g, d = weight_decays.numel(), x.shape[1]
    small = x.device.type == "cpu" and x.shape[0] * d * num_classes * g < (1 << 22)
    with _FewThreads(small), torch.enable_grad():  # callers may evaluate under no_grad
        return _adam_logreg(x, y, num_classes, weight_decays, lr, epochs)


def _adam_logreg(x: Tensor, y: Tensor, num_classes: int, weight_decays: Tensor, lr: float,
                 epochs: int) -> tuple[Tensor, Tensor]:
    g, d = weight_decays.numel(), x.shape[1]
    weight = torch.zeros(g, d, num_classes, device=x.device, dtype=x.dtype, requires_grad=True)
    bias = torch.zeros(g, 1, num_classes, device=x.device, dtype=x.dtype, requires_grad=True)
    opt = torch.optim.Adam([weight, bias], lr=lr)
    target = y.repeat(g)
    for _ in range(epochs):
        opt.zero_grad(set_to_none=True)
        logits = torch.matmul(x, weight) + bias                       # (G, n, C)
        ce = F.cross_entropy(logits.reshape(-1, num_classes), target, reduction="sum") / y.numel()
        penalty = (weight_decays * weight.pow(2).sum((1, 2))).sum()
        (ce + penalty).backward()
        opt.step()
    return weight.detach(), bias.detach()


def multiclass_auc(scores: Tensor, target: Tensor) -> float:
    """One-vs-rest macro ROC-AUC: the mean over classes c present in ``target`` (with at
    least one node outside c) of AUC(scores[:, c] of class c vs the rest), each exact
    by ranks; sklearn's ``roc_auc_score(multi_class="ovr", average="macro")``."""
    target = target.reshape(-1).long().to(scores.device)
    aucs = [auc_from_scores(scores[target == c, c], scores[target != c, c])
            for c in torch.unique(target).tolist() if bool((target != c).any())]
    if not aucs:
        raise ValueError("AUC needs at least two classes among the targets")
    return float(np.mean(aucs))


def linear_probe(embeddings: Any, labels: Any, *, split: Union[str, Masks] = "random",
                 train_ratio: float = 0.1, val_ratio: float = 0.1,
                 seeds: Iterable[int] = (0, 1, 2, 3, 4), data: Any = None, lr: float = 0.01,
                 weight_decay: Union[float, Sequence[float]] = DEFAULT_WEIGHT_DECAYS,
                 epochs: int = 300, normalize: Optional[str] = "standard",
                 device: Optional[Union[str, torch.device]] = None) -> dict[str, Any]:
    """Linear-probe accuracy of frozen embeddings.

    For each split (one per seed for ``split="random"``; the public masks of
    ``data`` for ``"public"``, one split per column when the masks are 2-D as
    in WikiCS; or explicit ``(train, val, test)`` masks), a logistic regression
    is fitted on the training rows for every weight decay of the grid; the one
    with the best validation accuracy (ties: the smaller decay) gives the test
    accuracy and macro-F1 of that split.

    Returns ``mean``/``std``/``accs`` (test accuracy = micro-F1), ``f1_mean``/``f1_std``/
    ``f1s`` (test macro-F1), ``auc_mean``/``auc_std``/``aucs`` (test one-vs-rest macro
    AUC of the softmax probabilities, :func:`multiclass_auc`), ``val_mean``/``val_accs``
    and ``weight_decays`` (the chosen decay per split). std is the population std (ddof = 0).
    """
    dev = torch.device(device) if device is not None else None
    x = as_tensor(embeddings, dev).detach()
    x = x if torch.is_floating_point(x) else x.float()
    y = as_tensor(labels, x.device).long().reshape(-1)
    if x.dim() != 2 or x.shape[0] != y.numel():
        raise ValueError(f"embeddings must be (N, d) with N = len(labels); got {tuple(x.shape)}, "
                         f"{y.numel()} labels")
    if not torch.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinite values")
    num_classes = int(y.max()) + 1
    grid = torch.as_tensor(list(weight_decay) if isinstance(weight_decay, (list, tuple))
                           else [weight_decay], dtype=x.dtype, device=x.device)
    accs, f1s, aucs, val_accs, chosen = [], [], [], [], []
    for train, val, test in _split_list(split, x.shape[0], train_ratio, val_ratio, seeds, data):
        train, val, test = train.to(x.device), val.to(x.device), test.to(x.device)
        if not train.any() or not test.any():
            raise ValueError("a split has no training or no test node")
        z = _standardize(x, train, normalize)
        weight, bias = _fit_logreg(z[train], y[train], num_classes, grid, lr, epochs)
        with torch.no_grad():
            logits = torch.matmul(z, weight) + bias                      # (G, N, C)
            pred = logits.argmax(-1)
        ref = val if val.any() else train
        val_acc = (pred[:, ref] == y[ref]).double().mean(1)
        best = int(torch.nonzero(val_acc == val_acc.max())[0])
        accs.append(float((pred[best, test] == y[test]).double().mean()))
        f1s.append(macro_f1(pred[best, test], y[test], num_classes))
        aucs.append(multiclass_auc(torch.softmax(logits[best, test], -1), y[test])
                    if torch.unique(y[test]).numel() > 1 else float("nan"))
        val_accs.append(float(val_acc[best]))
        chosen.append(float(grid[best]))
    mean, std = mean_and_std(accs)
    f1_mean, f1_std = mean_and_std(f1s)
    auc_mean, auc_std = mean_and_std(aucs)
    return {"mean": mean, "std": std, "accs": accs, "f1_mean": f1_mean, "f1_std": f1_std,
            "f1s": f1s, "auc_mean": auc_mean, "auc_std": auc_std, "aucs": aucs,
            "val_mean": float(np.mean(val_accs)), "val_accs": val_accs,
            "weight_decays": chosen}

