"""Training: one loop for every recommender, plus the high-level :func:`train`."""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any, Mapping

from graphcl.config import load_config_file, merge_config
from graphcl.data.kinds import data_kind_of
from graphcl.registry import get_method
from graphcl.train.trainer import ResumeError, Trainer, TrainingDivergedError, TrainResult
from graphcl.train.utils import resolve_device, seed_everything

__all__ = ["train", "build_trainer", "Trainer", "TrainResult", "TrainingDivergedError", "ResumeError",
           "resolve_device", "seed_everything"]


def build_trainer(method: str, dataset: Any = "ml-100k", *,
                  config: Mapping[str, Any] | None = None, config_file: str | Path | None = None,
                  data_root: str | Path | None = None, device: str = "auto",
                  run_dir: str | Path | None = None, resume: str | Path | None = None,
                  progress: bool | None = None, verbose: bool = True) -> Trainer:
    """Resolve the method, merge its config, load the dataset and build a :class:`Trainer`.

    A sequential method (``kind="seq"``) given a dataset name uses the name's
    sequence form when there is one (:func:`graphcl.data.named.sequence_name`).
    Config precedence: method defaults < the method's preset for the dataset
    (the paper's settings, when it has one) < ``config_file`` < ``config``. Keys
    ``data.<option>`` are passed to :func:`graphcl.data.load`.
    """
    spec = get_method(method)
    device = resolve_device(device)  # an unknown or absent device fails before any data is read
    if spec.kind == "seq" and isinstance(dataset, str):
        from graphcl.data.named import sequence_name
        dataset = sequence_name(dataset)     # ml-100k -> ml-100k-seq, yelp -> yelp-seq
    overrides = []
    if isinstance(dataset, str) and dataset.lower() in spec.presets:
        overrides.append(spec.presets[dataset.lower()])
    if config_file:
        overrides.append(load_config_file(config_file))
    overrides.append(dict(config or {}))
    cfg, data_options = merge_config(spec.defaults, *overrides, method=spec.name, ranges=spec.ranges)
    by_name = isinstance(dataset, (str, os.PathLike))
    if by_name and spec.kind == "seq" and _is_path(dataset):
        from graphcl.data.sequences import load_sequences
        data = load_sequences(dataset, **data_options)
    elif by_name:
        from graphcl.data import load
        data = load(dataset, root=data_root, **data_options)
    else:
        if data_options:
            raise ValueError("data.* options apply only when the dataset is given by name")
        data = dataset
    _check_kind(spec, data)
    if resume is not None:
        resume = Path(resume)
        ckpt = resume / "last.pt" if resume.is_dir() else resume
        run_dir = ckpt.parent
    trainer = Trainer(spec.name, spec.build, data, cfg, device=device, run_dir=run_dir,
                      progress=progress, verbose=verbose,
                      dataset_name=str(dataset) if by_name else None, task_name=spec.task_name)
    trainer.data_options = dict(data_options)
    if resume is not None:
        if ckpt.is_file() or ckpt.name != "last.pt":
            trainer.resume(ckpt)
        else:  # a run killed in its first epoch: no checkpoint yet, start over in its folder
            trainer.restart(ckpt.parent)
    return trainer


def _is_path(dataset: Any) -> bool:
    """An existing path that is not a known dataset name (names win, as in ``load``)."""
    from graphcl.data.named import MANIFEST
    return str(dataset).lower() not in MANIFEST and Path(dataset).expanduser().exists()


_DATA_KINDS = {
    "interactions": ("a user-item interaction dataset", "ml-100k, gowalla, yelp, lastfm"),
    "sequences": ("a sequence dataset", "beauty, sports, toys, yelp-seq, ml-100k-seq"),
    "graph": ("a node-level graph (PyG Data)", "cora, citeseer, webkb-cornell, or acm/aminer with "
              "data.view=<meta-path>"),
    "hetero": ("a heterogeneous HeCo-format graph (HeteroData)", "acm, aminer, freebase, dblp, imdb"),
}


def _check_kind(spec, data: Any) -> None:
    """A clear error when a method gets data of another kind (a recommender on a node graph,
    a node method on interactions, MEOW on a homogeneous graph, ...)."""
    need, have = spec.data_kind, data_kind_of(data)
    if not need or need == have:
        return
    what, examples = _DATA_KINDS[need]
    got = _DATA_KINDS[have][0] if have else type(data).__name__
    name = getattr(data, "name", None)
    raise ValueError(f"{spec.name} trains on {what}, e.g. {examples}; got {got}"
                     f"{f' ({name})' if isinstance(name, str) and name else ''}")


def train(method: str, dataset: Any = "ml-100k", **kwargs: Any) -> TrainResult:
    """Train ``method`` on ``dataset`` and return the result (see :func:`build_trainer`)."""
    return build_trainer(method, dataset, **kwargs).fit()


class TrainPackage(types.ModuleType):
    """The ``graphcl.train`` package, also callable: ``graphcl.train("lightgcn", "ml-100k")``
    is :func:`train`."""

    def __call__(self, method: str, dataset: Any = "ml-100k", **kwargs: Any) -> TrainResult:
        return train(method, dataset, **kwargs)


sys.modules[__name__].__class__ = TrainPackage
