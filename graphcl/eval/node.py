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


# ---------------------------------------------------------------- helpers
def _as_tensor(x: Any, device: Optional[torch.device] = None, dtype=None) -> Tensor:
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(device=device if device is not None else t.device, dtype=dtype or t.dtype)


def _summary(values: Sequence[float]) -> tuple[float, float]:
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

    Returns ``mean``/``std``/``accs`` (test accuracy), ``f1_mean``/``f1_std``/
    ``f1s`` (test macro-F1), ``val_mean``/``val_accs`` and ``weight_decays``
    (the chosen decay per split). std is the population std (ddof = 0).
    """
    dev = torch.device(device) if device is not None else None
    x = _as_tensor(embeddings, dev).detach()
    x = x if torch.is_floating_point(x) else x.float()
    y = _as_tensor(labels, x.device).long().reshape(-1)
    if x.dim() != 2 or x.shape[0] != y.numel():
        raise ValueError(f"embeddings must be (N, d) with N = len(labels); got {tuple(x.shape)}, "
                         f"{y.numel()} labels")
    if not torch.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinite values")
    num_classes = int(y.max()) + 1
    grid = torch.as_tensor(list(weight_decay) if isinstance(weight_decay, (list, tuple))
                           else [weight_decay], dtype=x.dtype, device=x.device)
    accs, f1s, val_accs, chosen = [], [], [], []
    for train, val, test in _split_list(split, x.shape[0], train_ratio, val_ratio, seeds, data):
        train, val, test = train.to(x.device), val.to(x.device), test.to(x.device)
        if not train.any() or not test.any():
            raise ValueError("a split has no training or no test node")
        z = _standardize(x, train, normalize)
        weight, bias = _fit_logreg(z[train], y[train], num_classes, grid, lr, epochs)
        with torch.no_grad():
            pred = (torch.matmul(z, weight) + bias).argmax(-1)           # (G, N)
        ref = val if val.any() else train
        val_acc = (pred[:, ref] == y[ref]).double().mean(1)
        best = int(torch.nonzero(val_acc == val_acc.max())[0])
        accs.append(float((pred[best, test] == y[test]).double().mean()))
        f1s.append(macro_f1(pred[best, test], y[test], num_classes))
        val_accs.append(float(val_acc[best]))
        chosen.append(float(grid[best]))
    mean, std = _summary(accs)
    f1_mean, f1_std = _summary(f1s)
    return {"mean": mean, "std": std, "accs": accs, "f1_mean": f1_mean, "f1_std": f1_std,
            "f1s": f1s, "val_mean": float(np.mean(val_accs)), "val_accs": val_accs,
            "weight_decays": chosen}


# -------------------------------------------------------------- clustering
def _sq_dist(x: Tensor, centers: Tensor) -> Tensor:
    """Squared distances ||x_n − c_rj||² for R runs: x (N, d), centers (R, k, d) -> (R, N, k)."""
    return (x.pow(2).sum(1)[None, :, None] - 2 * torch.matmul(x, centers.transpose(1, 2))
            + centers.pow(2).sum(2)[:, None, :]).clamp_min_(0)


def _kmeans_pp(x: Tensor, k: int, runs: int, gen: torch.Generator) -> Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007), batched over runs: each next
    centre is drawn with probability ∝ D(x)², the squared distance to the nearest chosen one."""
    n = x.shape[0]
    centers = x.new_empty(runs, k, x.shape[1])
    centers[:, 0] = x[torch.randint(n, (runs,), generator=gen, device=x.device)]
    closest = _sq_dist(x, centers[:, :1]).squeeze(2)                       # (R, N)
    for j in range(1, k):
        weights = torch.where(closest.sum(1, keepdim=True) > 0, closest, torch.ones_like(closest))
        idx = torch.multinomial(weights, 1, generator=gen).squeeze(1)
        centers[:, j] = x[idx]
        closest = torch.minimum(closest, _sq_dist(x, centers[:, j:j + 1]).squeeze(2))
    return centers


def kmeans(x: Tensor, k: int, n_init: int = 10, max_iter: int = 300, seed: int = 0,
           tol: float = 1e-4) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means with k-means++ seeding, ``n_init`` restarts run together.

    Minimizes the inertia Σ_n min_j ||x_n − c_j||²; stops when every run's centre
    shift Σ_j ||c_j^{t+1} − c_j^t||² is below ``tol`` · mean per-feature variance
    (sklearn's criterion). An emptied cluster is moved to the point farthest
    from its centre. Returns the labels (N,) and centres (k, d) of the run of
    lowest inertia. Seeded by a ``torch.Generator`` on ``x``'s device.
    """
    x = x.detach()
    x = x if torch.is_floating_point(x) else x.float()
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= number of points ({n}), got k={k}")
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    centers = _kmeans_pp(x, k, n_init, gen)
    tol_abs = tol * float(x.var(0, unbiased=False).mean())
    arange_k = torch.arange(k, device=x.device)
    for _ in range(max_iter):
        d2 = _sq_dist(x, centers)
        closest, assign = d2.min(2)                                        # (R, N)
        onehot = (assign[:, None, :] == arange_k[None, :, None]).to(x.dtype)  # (R, k, N)
        counts = onehot.sum(2, keepdim=True)
        new = torch.where(counts > 0, torch.matmul(onehot, x) / counts.clamp_min(1), centers)
        empty = counts.squeeze(2) == 0
        if empty.any():  # relocate empty clusters to the farthest points, one each
            far = closest.topk(k, dim=1).indices                         # (R, k)
            rank = (empty.cumsum(1) - 1).clamp_min(0)
            new = torch.where(empty[..., None], x[far.gather(1, rank)], new)
        shift = (new - centers).pow(2).sum((1, 2))
        centers = new
        if bool((shift <= tol_abs).all()):
            break
    closest, assign = _sq_dist(x, centers).min(2)
    best = int(closest.sum(1).argmin())
    return assign[best], centers[best]


def _contingency(pred: Tensor, labels: Tensor) -> np.ndarray:
    """Contingency table C[r, c] = #{n : pred_n = r-th cluster, label_n = c-th class}."""
    _, p = torch.unique(torch.as_tensor(pred).reshape(-1).cpu(), return_inverse=True)
    _, t = torch.unique(torch.as_tensor(labels).reshape(-1).cpu(), return_inverse=True)
    if p.numel() != t.numel():
        raise ValueError(f"pred and labels differ in length: {p.numel()} vs {t.numel()}")
    rp, rt = int(p.max()) + 1, int(t.max()) + 1
    return torch.bincount(p * rt + t, minlength=rp * rt).reshape(rp, rt).numpy().astype(np.int64)


def cluster_metrics(pred: Any, labels: Any) -> dict[str, float]:
    """ACC, NMI, ARI and macro-F1 of a clustering ``pred`` against ``labels``.

    * ACC = max over one-to-one cluster→class maps m of (1/N) Σ_n [m(pred_n) = y_n]
      (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``).
    * NMI = I(P; Y) / ((H(P) + H(Y)) / 2) (arithmetic normalization, sklearn's default;
      1 when both are a single cluster).
    * ARI = 2 (TP·TN − FN·FP) / ((TP+FN)(FN+TN) + (TP+FP)(FP+TN)) over node pairs
      (Hubert & Arabie; equal to sklearn's ``adjusted_rand_score``).
    * F1 = macro-F1 over the true classes after the ACC matching; points of an
      unmatched cluster (more clusters than classes) count as misclassified.
    """
    from scipy.optimize import linear_sum_assignment

    c = _contingency(pred, labels)
    n = int(c.sum())
    rows, cols = linear_sum_assignment(-c)
    matched = c[rows, cols]
    acc = float(matched.sum()) / n
    tp = np.zeros(c.shape[1])
    tp[cols] = matched
    n_pred = np.zeros(c.shape[1])
    n_pred[cols] = c[rows].sum(1)
    n_true = c.sum(0)
    f1 = float(np.mean(2 * tp / (n_pred + n_true)))
    # NMI
    a, b = c.sum(1), c.sum(0)
    if len(a) == len(b) == 1:
        nmi = 1.0
    else:
        nz = c > 0
        pij = c[nz] / n
        mi = float(np.sum(pij * (np.log(c[nz] * n) - np.log(np.outer(a, b)[nz]))))
        h_p = -float(np.sum((a / n) * np.log(a / n)))
        h_y = -float(np.sum((b / n) * np.log(b / n)))
        nmi = 0.0 if abs(mi) < 1e-15 else mi / max((h_p + h_y) / 2, np.finfo(float).eps)
    # ARI from the pair confusion matrix (exact integers)
    ss = int((c.astype(object) ** 2).sum())
    sum_a2, sum_b2 = int((a.astype(object) ** 2).sum()), int((b.astype(object) ** 2).sum())
    tp_p, fp, fn = ss - n, sum_a2 - ss, sum_b2 - ss
    tn = n * n - sum_a2 - sum_b2 + ss
    if fp == 0 and fn == 0:
        ari = 1.0
    else:
        ari = 2.0 * (tp_p * tn - fn * fp) / ((tp_p + fn) * (fn + tn) + (tp_p + fp) * (fp + tn))
    return {"acc": acc, "nmi": float(nmi), "ari": float(ari), "f1": f1}


def evaluate_clustering(embeddings: Any, labels: Any, k: Optional[int] = None,
                        seeds: Iterable[int] = (0, 1, 2, 3, 4), n_init: int = 10,
                        max_iter: int = 300, normalize: Optional[str] = None,
                        device: Optional[Union[str, torch.device]] = None) -> dict[str, Any]:
    """k-means on the embeddings (``normalize="l2"`` to cluster directions) once per
    seed; returns ``<metric>_mean``/``<metric>_std`` for acc, nmi, ari, f1 and ``runs``."""
    x = _as_tensor(embeddings, torch.device(device) if device else None).detach().float()
    y = _as_tensor(labels).reshape(-1)
    if normalize == "l2":
        x = F.normalize(x, dim=1)
    elif normalize is not None:
        raise ValueError(f"normalize must be 'l2' or None, got {normalize!r}")
    k = int(k or torch.unique(y).numel())
    runs = [cluster_metrics(kmeans(x, k, n_init, max_iter, seed=s)[0], y) for s in seeds]
    out: dict[str, Any] = {}
    for m in ("acc", "nmi", "ari", "f1"):
        out[f"{m}_mean"], out[f"{m}_std"] = _summary([r[m] for r in runs])
    out["runs"] = runs
    return out


# --------------------------------------------------------- link prediction
def auc_from_scores(pos: Tensor, neg: Tensor) -> float:
    """Exact ROC-AUC = (R_pos − P(P+1)/2) / (P·Q) with R_pos the sum of the
    positives' 1-based average ranks among all P + Q scores (Mann-Whitney U;
    a tie between a positive and a negative counts 1/2)."""
    p, q = pos.numel(), neg.numel()
    if p == 0 or q == 0:
        raise ValueError("AUC needs at least one positive and one negative score")
    scores = torch.cat([pos.reshape(-1), neg.reshape(-1)]).double()
    _, inverse, counts = torch.unique(scores, sorted=True, return_inverse=True, return_counts=True)
    avg_rank = counts.cumsum(0).double() - (counts.double() - 1) / 2
    r_pos = float(avg_rank[inverse[:p]].sum())
    return (r_pos - p * (p + 1) / 2) / (p * q)


def link_prediction_auc(embeddings: Tensor, pos_edges: Tensor, neg_edges: Tensor) -> float:
    """AUC of dot-product scores s(i, j) = z_i · z_j on positive vs negative (2, m) edges."""
    z = embeddings.detach()
    pos_edges, neg_edges = pos_edges.to(z.device), neg_edges.to(z.device)
    s_pos = (z[pos_edges[0]] * z[pos_edges[1]]).sum(1)
    s_neg = (z[neg_edges[0]] * z[neg_edges[1]]).sum(1)
    return auc_from_scores(s_pos, s_neg)


def _first_occurrences(keys: Tensor) -> Tensor:
    """Distinct values of ``keys`` in order of first appearance."""
    uniq, inv = torch.unique(keys, return_inverse=True)
    pos = torch.arange(keys.numel(), device=keys.device)
    first = torch.full((uniq.numel(),), keys.numel(), device=keys.device).scatter_reduce(
        0, inv, pos, reduce="amin")
    return keys[first.sort().values]


def _sample_negative_keys(existing: Tensor, num: int, num_nodes: int, undirected: bool,
                          gen: torch.Generator, max_rounds: int = 100) -> Tensor:
    """``num`` distinct uniform random non-edges (keys i·N + j; i < j when undirected)."""
    found = torch.empty(0, dtype=torch.long)
    for _ in range(max_rounds):
        if found.numel() >= num:
            return found[:num]
        m = 2 * (num - found.numel()) + 64
        i = torch.randint(num_nodes, (m,), generator=gen)
        j = torch.randint(num_nodes, (m,), generator=gen)
        if undirected:
            i, j = torch.minimum(i, j), torch.maximum(i, j)
        keys = (i * num_nodes + j)[i != j]
        keys = keys[~torch.isin(keys, existing)]
        found = _first_occurrences(torch.cat([found, keys]))
    raise ValueError(f"could not sample {num} negative pairs: the graph is too dense")


def split_edges_for_link_prediction(edge_index: Tensor, num_nodes: int, val: float = 0.05,
                                    test: float = 0.1, seed: int = 0,
                                    undirected: Optional[bool] = None) -> dict[str, Tensor]:
    """Random edge split for link prediction with sampled negatives.

    Self-loops and duplicates are dropped. ``undirected`` (detected when None:
    every edge's reverse is present) splits unordered pairs {i, j}, so an edge
    and its reverse always land in the same part. Returns (2, m) tensors
    ``train_pos``, ``val_pos``, ``test_pos``, ``val_neg``, ``test_neg`` (one
    negative per positive, drawn uniformly among non-edges of the whole graph,
    never an existing edge nor a duplicate) and ``train_edge_index`` (the
    training edges, both directions when undirected, for message passing).
    """
    ei = torch.as_tensor(edge_index).long().cpu()
    ei = ei[:, ei[0] != ei[1]]
    n = int(num_nodes)
    keys = torch.unique(ei[0] * n + ei[1])
    if undirected is None:
        undirected = bool(torch.isin(ei[1] * n + ei[0], keys).all())
    if undirected:
        lo, hi = torch.minimum(ei[0], ei[1]), torch.maximum(ei[0], ei[1])
        keys = torch.unique(lo * n + hi)
    gen = torch.Generator().manual_seed(int(seed))
    m = keys.numel()
    n_test, n_val = int(test * m), int(val * m)
    if n_test + n_val >= m:
        raise ValueError(f"val + test leave no training edge ({m} edges)")
    shuffled = keys[torch.randperm(m, generator=gen)]
    neg = _sample_negative_keys(keys, n_val + n_test, n, undirected, gen)

    def pairs(k: Tensor) -> Tensor:
        return torch.stack([k // n, k % n])
    train = pairs(shuffled[n_test + n_val:])
    out = {"test_pos": pairs(shuffled[:n_test]), "val_pos": pairs(shuffled[n_test:n_test + n_val]),
           "train_pos": train, "test_neg": pairs(neg[:n_test]), "val_neg": pairs(neg[n_test:]),
           "train_edge_index": torch.cat([train, train.flip(0)], 1) if undirected else train}
    return out
