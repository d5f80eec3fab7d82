"""Plots of a run folder: learned embeddings in 2-D, and training curves.

:func:`plot_embeddings` rebuilds the run's model through the trainer's own build
path (:func:`graphcl.train.build_trainer` with the run's ``config.json``: same
method, dataset, merged config and data options), loads ``best.pt`` (else
``last.pt``) and takes the embeddings each family exposes:

* node methods (``kind="node"``): ``embed()`` (the embeddings the linear probe
  sees), coloured by the node label (``color_by="label"``, the default when the
  graph has labels) or by k-means cluster;
* recommenders (``kind="rec"``): ``embeddings()`` (final user and item
  embeddings; a model without it, e.g. BM3, gives the tables its scoring
  caches), users and items in two colours, or coloured by k-means cluster with
  users as circles and items as triangles;
* sequential recommenders (``kind="seq"``): the item embedding table (the
  padding row dropped), one colour or k-means clusters.

At most ``max_points`` points (a seeded random subset) are projected to 2-D by
PCA (an SVD of the centred points: no extra dependency) or t-SNE (only when
scikit-learn is installed). k-means (:func:`graphcl.eval.clustering.kmeans`)
runs on the plotted points in the original embedding space.

:func:`plot_curves` draws the training loss and the validation metric per
epoch from ``metrics.jsonl`` (epochs counted from 1). Figures are written
atomically (temp file beside the target, then ``os.replace``). matplotlib is an
optional dependency (``pip install 'graphcl[plot]'``); it is used through
``matplotlib.figure.Figure`` with no pyplot state, so a notebook's backend is
left alone.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from graphcl.io import atomic_write_bytes, iter_jsonl_objects
from graphcl.train.run_folder import load_run, run_folder

__all__ = ["MissingDependencyError", "EmbeddingPlot", "CurvesPlot", "plot_embeddings", "plot_curves",
           "plot_epoch_series", "load_run", "read_metrics", "project_2d", "COLOR_BY", "PROJECTIONS"]

COLOR_BY = ("label", "cluster")
PROJECTIONS = ("pca", "tsne")
IMAGE_FORMATS = ("png", "pdf", "svg")
_MARKERS = {"user": "o", "item": "^"}


class MissingDependencyError(ImportError):
    """An optional dependency (matplotlib, scikit-learn) is not installed; the message says how to get it."""


def _figure(**kwargs: Any):
    """A matplotlib ``Figure`` (no pyplot: no global backend switch)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("plotting needs matplotlib, which is not installed: "
                                     "pip install 'graphcl[plot]' (or pip install matplotlib)") from None
    return Figure(**kwargs)


def _image_format(out: Path) -> str:
    fmt = out.suffix[1:].lower() or "png"
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"cannot write {out}: unsupported image format '.{fmt}'; use .png, .pdf or .svg")
    return fmt


def _save(fig: Any, out: str | Path) -> Path:
    out = Path(out)
    fmt = _image_format(out)
    atomic_write_bytes(out, lambda fh: fig.savefig(fh, format=fmt))
    return out


# ------------------------------------------------------------------ run folder
# ------------------------------------------------------------------ embeddings
@dataclass
class _Embeddings:
    points: torch.Tensor                 # (N, d)
    types: list[str]                     # per point: "node", "user", "item"
    labels: torch.Tensor | None = None   # (N,) class ids of node methods with labels


def _node_labels(task: Any, n: int) -> torch.Tensor | None:
    y = getattr(task, "y", None)         # HeteroProbeTask keeps the target type's labels
    if y is None:
        y = getattr(getattr(task, "data", None), "y", None)
    if not isinstance(y, torch.Tensor):
        return None
    y = y.detach().cpu()
    if y.dim() == 2:
        y = y.reshape(-1) if y.size(1) == 1 else y.argmax(1)   # one-hot rows -> class ids
    if y.numel() != n:
        return None
    return y.long()


def _scoring_tables(model: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The (user, item) tables a recommender scores with (its ``embeddings()``)."""
    try:
        return model.embeddings()
    except NotImplementedError:
        raise ValueError(f"{type(model).__name__} exposes no user/item embeddings "
                         f"(its embeddings() is not implemented)") from None


@torch.no_grad()
def _embeddings(trainer: Any, kind: str) -> _Embeddings:
    model = trainer.model
    model.eval()
    if kind == "node":
        from graphcl.eval.tasks.node_probe import frozen_embeddings
        if not callable(getattr(model, "embed", None)):
            raise ValueError(f"{type(model).__name__} has no embed(): cannot plot its node embeddings")
        emb = frozen_embeddings(model).float().cpu()
        return _Embeddings(emb, ["node"] * emb.size(0), _node_labels(trainer.task, emb.size(0)))
    if kind == "seq":
        table = model.item_embeddings.detach().float().cpu()[1:]   # row 0 is the padding item
        return _Embeddings(table, ["item"] * table.size(0))
    users, items = _scoring_tables(model)
    users, items = users.detach().float().cpu(), items.detach().float().cpu()
    return _Embeddings(torch.cat([users, items]), ["user"] * users.size(0) + ["item"] * items.size(0))


def project_2d(x: torch.Tensor, method: str = "pca", seed: int = 0) -> tuple[torch.Tensor, list[str]]:
    """2-D coordinates ``(N, 2)`` of ``x`` and the two axis names.

    ``pca``: the top two principal components (SVD of the centred points; each
    component's sign fixed so its largest loading is positive, hence deterministic).
    ``tsne``: scikit-learn's t-SNE (PCA init, ``random_state=seed``).
    """
    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection '{method}'; use one of {', '.join(PROJECTIONS)}")
    n = x.size(0)
    if n == 0:
        raise ValueError("no points to project")
    if method == "tsne":
        if importlib.util.find_spec("sklearn") is None:
            raise MissingDependencyError("t-SNE needs scikit-learn, which is not installed: "
                                         "pip install scikit-learn, or use the PCA projection")
        if n < 5:
            raise ValueError(f"t-SNE needs at least 5 points, got {n}; use PCA")
        from sklearn.manifold import TSNE
        tsne = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca", random_state=seed)
        coords = torch.as_tensor(tsne.fit_transform(x.double().numpy()), dtype=torch.float32)
        return coords, ["t-SNE 1", "t-SNE 2"]
    xc = x.double() - x.double().mean(0)
    coords = torch.zeros(n, 2, dtype=torch.float64)
    names = ["PC1", "PC2"]
    if n > 1:
        u, s, vh = torch.linalg.svd(xc, full_matrices=False)
        k = min(2, s.numel())
        signs = torch.sign(vh[:k].gather(1, vh[:k].abs().argmax(1, keepdim=True))).reshape(-1)
        signs[signs == 0] = 1.0
        coords[:, :k] = u[:, :k] * s[:k] * signs
        total = float(s.pow(2).sum())
        if total > 0:
            names = [f"PC{j + 1} ({100 * float(s[j] ** 2) / total:.0f}% var.)" if j < k else f"PC{j + 1}"
                     for j in range(2)]
    return coords.float(), names


@dataclass
class EmbeddingPlot:
    """What :func:`plot_embeddings` drew: ``coords[i]`` is embedding ``index[i]`` (rows of the
    node table; for recommenders users first, then items) with colour group ``groups[i]``."""
    path: Path
    coords: torch.Tensor          # (n, 2)
    index: torch.Tensor           # (n,) rows of the full embedding table
    groups: list[str]             # per point: the legend entry it is drawn under
    color_by: str                 # "label", "cluster" or "type" (users/items, or all items)
    projection: str
    total: int                    # points before subsampling
    checkpoint: Path
    kinds: list[str] = field(default_factory=list)   # per point: "node", "user" or "item"


def plot_embeddings(run_dir: str | Path, out: str | Path | None = None, *, color_by: str | None = None,
                    projection: str = "pca", max_points: int = 5000, seed: int = 0,
                    clusters: int | None = None, data_root: str | Path | None = None,
                    dataset: Any = None, device: str = "cpu") -> EmbeddingPlot:
    """Plot a run's learned embeddings in 2-D; write the image to ``out``
    (default ``<run_dir>/embeddings.png``; ``.pdf``/``.svg`` also work).

    ``color_by``: ``None`` (node labels when the graph has them, else users vs
    items / one colour), ``"label"`` (node methods with labelled graphs only) or
    ``"cluster"`` (k-means with ``clusters`` centres; default: the number of
    classes, else 8). ``projection``: ``"pca"`` or ``"tsne"`` (needs scikit-learn).
    """
    from graphcl.registry import get_method

    if color_by is not None and color_by not in COLOR_BY:
        raise ValueError(f"unknown color_by '{color_by}'; use one of {', '.join(COLOR_BY)}")
    if projection not in PROJECTIONS:
        raise ValueError(f"unknown projection '{projection}'; use one of {', '.join(PROJECTIONS)}")
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    if clusters is not None and clusters < 1:
        raise ValueError(f"clusters must be >= 1, got {clusters}")
    _figure()  # fail before the (possibly slow) rebuild when matplotlib is missing
    trainer, ckpt_path = load_run(run_dir, data_root=data_root, dataset=dataset, device=device)
    kind = get_method(trainer.method).kind
    emb = _embeddings(trainer, kind)
    if color_by == "label" and emb.labels is None:
        what = {"node": "the graph has no node labels",
                "rec": "it is a recommender: its user and item embeddings have no labels",
                "seq": "it is a sequential recommender: its item embeddings have no labels"}[kind]
        hint = "" if kind == "node" else " (or leave --color-by out)"
        raise ValueError(f"--color-by label: {trainer.method} on {trainer.task.name}: {what}; "
                         f"use --color-by cluster{hint}")
    color_by = color_by or ("label" if emb.labels is not None else "type")

    total = emb.points.size(0)
    gen = torch.Generator().manual_seed(int(seed))
    index = (torch.randperm(total, generator=gen)[:max_points].sort().values if total > max_points
             else torch.arange(total))
    points = emb.points[index]
    kinds = [emb.types[i] for i in index.tolist()]
    if color_by == "label":
        groups = [f"class {int(c)}" for c in emb.labels[index]]
    elif color_by == "cluster":
        from graphcl.eval.clustering import kmeans
        k = clusters or (int(emb.labels.max()) + 1 if emb.labels is not None else 8)
        assign, _ = kmeans(points, min(k, points.size(0)), n_init=3, seed=seed)
        groups = [f"cluster {int(c)}" for c in assign]
    else:
        groups = [f"{t}s" for t in kinds]
    coords, axes = project_2d(points, projection, seed)

    fig = _figure(figsize=(7.5, 6.5), dpi=110)
    ax = fig.subplots()
    names = sorted(set(groups), key=lambda g: (len(g), g))
    palette = _palette(len(names))
    marker_by_kind = color_by == "cluster" and kind == "rec"
    for j, name in enumerate(names):
        labelled = False
        for k_name in (("user", "item") if marker_by_kind else (None,)):
            sel = [i for i, g in enumerate(groups) if g == name and (k_name is None or kinds[i] == k_name)]
            if sel:
                ax.scatter(coords[sel, 0].numpy(), coords[sel, 1].numpy(), s=6, alpha=0.7, linewidths=0,
                           color=palette[j], marker=_MARKERS.get(k_name, "o"),
                           label=None if labelled else name)
                labelled = True
    if len(names) <= 20:
        ax.legend(markerscale=2.5, fontsize=7, loc="best", frameon=False)
    what = {"node": "node embeddings", "rec": "user and item embeddings", "seq": "item embeddings"}[kind]
    epoch = getattr(trainer, "checkpoint_epoch", -1)
    ax.set_title(f"{trainer.method} on {trainer.task.name}: {what}\n{projection.upper()}, "
                 f"{len(index)} of {total} points, {ckpt_path.name}"
                 + (f" (epoch {epoch + 1})" if epoch >= 0 else "")
                 + (" — circles users, triangles items" if marker_by_kind else ""), fontsize=9)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    fig.tight_layout()
    path = _save(fig, Path(run_dir) / "embeddings.png" if out is None else out)
    return EmbeddingPlot(path=path, coords=coords, index=index, groups=groups, color_by=color_by,
                         projection=projection, total=total, checkpoint=ckpt_path, kinds=kinds)


def _palette(n: int) -> list[Any]:
    from matplotlib import colormaps
    if n <= 20:
        cmap = colormaps["tab10" if n <= 10 else "tab20"]
        return [cmap(i) for i in range(n)]
    return [colormaps["viridis"](i / (n - 1)) for i in range(n)]


# ---------------------------------------------------------------------- curves
def read_metrics(run_dir: str | Path) -> dict[str, dict[int, dict[str, Any]]]:
    """``metrics.jsonl`` of a run as ``{split: {epoch: record}}``; a later record of the same
    (epoch, split) wins (a resumed run may have logged an epoch twice)."""
    run_dir = run_folder(run_dir)
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no metrics.jsonl: not a graphcl run folder, or the run "
                                f"has not finished an epoch yet")
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for where, rec in iter_jsonl_objects(path, ValueError):
        if "split" not in rec or "epoch" not in rec:
            raise ValueError(f"{where}: a metric record needs 'epoch' and 'split'")
        out.setdefault(str(rec["split"]), {})[int(rec["epoch"])] = rec
    return out


def valid_metric_of(run_dir: str | Path, records: Mapping[int, Mapping[str, Any]] | None = None) -> str | None:
    """The run's ``valid_metric`` (config.json), else the first metric of its validation records."""
    path = Path(run_dir) / "config.json"
    if path.is_file():
        try:
            metric = json.loads(path.read_text(encoding="utf-8")).get("config", {}).get("valid_metric")
        except (ValueError, AttributeError):
            metric = None
        if metric:
            return str(metric)
    for rec in (records or {}).values():
        for key, value in rec.items():
            if key not in ("epoch", "split", "seconds") and isinstance(value, (int, float)):
                return key
    return None


@dataclass
class CurvesPlot:
    """What :func:`plot_curves` drew (epochs counted from 1)."""
    path: Path
    epochs: list[int]
    loss: list[float]
    valid_metric: str | None
    valid_epochs: list[int]
    valid: list[float]


def _integer_epochs(ax: Any, last: int) -> None:
    """Whole-epoch ticks over epochs 1..last (one point alone would get a range of fractions)."""
    from matplotlib.ticker import MaxNLocator
    last = max(int(last), 1)
    if last <= 10:
        ax.set_xticks(range(1, last + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, last + 0.5)


def _run_title(run_dir: Path) -> str:
    """``<method> on <dataset> (<folder>)`` from config.json, else the folder name."""
    try:
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        return f"{saved['method']} on {saved['dataset']} ({run_dir.name})"
    except (OSError, ValueError, KeyError, TypeError):
        return run_dir.name


def plot_curves(run_dir: str | Path, out: str | Path | None = None) -> CurvesPlot:
    """Training loss and validation metric per epoch of a run; image to ``out``
    (default ``<run_dir>/curves.png``)."""
    records = read_metrics(run_dir)
    train = records.get("train", {})
    if not train:
        raise ValueError(f"{Path(run_dir) / 'metrics.jsonl'} has no training epochs to plot")
    valid = records.get("valid", {})
    metric = valid_metric_of(run_dir, valid)
    epochs = sorted(train)
    loss = [float(train[e]["loss"]) for e in epochs]
    v_epochs = sorted(e for e in valid if metric in valid[e])
    v_values = [float(valid[e][metric]) for e in v_epochs]

    fig = _figure(figsize=(10, 4), dpi=110)
    ax_loss, ax_valid = fig.subplots(1, 2)
    ax_loss.plot([e + 1 for e in epochs], loss, marker="o" if len(epochs) < 30 else None, ms=3)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title("training loss", fontsize=10)
    if v_epochs:
        ax_valid.plot([e + 1 for e in v_epochs], v_values, marker="o", ms=3, color="tab:orange")
        ax_valid.set_xlabel("epoch")
        ax_valid.set_ylabel(f"validation {metric}")
        ax_valid.set_title(f"validation {metric}", fontsize=10)
    else:
        ax_valid.text(0.5, 0.5, "no validation evaluations", ha="center", va="center",
                      transform=ax_valid.transAxes)
        ax_valid.set_axis_off()
    for ax in (ax_loss, ax_valid):
        _integer_epochs(ax, epochs[-1] + 1)
    fig.suptitle(_run_title(Path(run_dir)), fontsize=10)
    fig.tight_layout()
    path = _save(fig, Path(run_dir) / "curves.png" if out is None else out)
    return CurvesPlot(path=path, epochs=[e + 1 for e in epochs], loss=loss, valid_metric=metric,
                      valid_epochs=[e + 1 for e in v_epochs], valid=v_values)


def plot_epoch_series(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], out: str | Path, *,
                xlabel: str, ylabel: str, title: str = "") -> Path:
    """One line per named ``(epochs, values)`` series on one axes (e.g. a metric per epoch per seed)."""
    fig = _figure(figsize=(7, 4.5), dpi=110)
    ax = fig.subplots()
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o" if len(xs) < 30 else None, ms=3, label=name)
    if not any(len(xs) for xs, _ in series.values()):
        ax.text(0.5, 0.5, "no points", ha="center", va="center", transform=ax.transAxes)
    elif len(series) <= 20:
        ax.legend(fontsize=8, frameon=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _integer_epochs(ax, max((max(xs) for xs, _ in series.values() if len(xs)), default=1))
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, out)
