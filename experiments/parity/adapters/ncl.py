"""Parity adapter: NCL, reference RUCAIBox/RecBole-GNN (``recbole_gnn/model/general_recommender/ncl.py``,
trained by ``recbole_gnn/trainer.py`` ``NCLTrainer``, run by ``run_recbole_gnn.py``), the authors' team's
code that graphcl's ``ncl`` follows.

Data: OUR ml-100k split (graphcl's 80/10/10 per user of RecBole's bundled ``ml-100k.inter``) written as
RecBole benchmark atomic files ``dataset/<name>/<name>.{train,valid,test}.inter`` (tab-separated
``user_id:token item_id:token``, the tokens = our dense ids) and loaded with ``benchmark_filename:
[train, valid, test]``, so RecBole's split is exactly ours (``recbole/data/dataset/dataset.py`` ``build``:
one dataset per file). RecBole remaps the tokens to its own ids (from 1; row 0 is padding); the hook maps
its rows back to ours by the tokens (:func:`recbole_rows`) and checks, at the first epoch, that its
training interactions are ours (:func:`check_train`).

Settings: RecBole-GNN's ``properties/model/NCL.yaml`` (embedding 64, 3 layers, reg 1e-4, ssl_temp 0.1,
ssl_reg 1e-7, hyper_layers 1, alpha 1, proto_reg 8e-8, m_step 1, warm_up_step 20) and RecBole's
``overall.yaml`` training defaults (Adam, lr 1e-3, batch 2048, weight_decay 0, one uniform negative)
except ``num_clusters``: its 1000 exceeds ml-100k's 943 users (faiss refuses fewer points than
centroids, graphcl raises a ConfigError), so both sides run k = 100 (:data:`NUM_CLUSTERS`). Written to
``parity_ncl.yaml`` (``--config_files``), with the seed, the epochs and early stopping out of reach.

faiss is not installed: ``shims/ncl/faiss.py`` (our stand-in: faiss' ``Kmeans`` defaults, L2, 25
iterations, seed 1234, on CPU) is put on the reference's ``PYTHONPATH``. torch_sparse is not installed
either: RecBole-GNN's dataset already falls back to PyG edge lists without it
(``recbole_gnn/data/dataset.py:9-13``), only ``recbole_gnn/model/layers.py``'s unguarded import needs a
patch (its ``matmul`` is used only for a SparseTensor adjacency, which is then never built).
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from experiments.parity.adapter import Adapter, Patch, RunContext
from experiments.parity.convert import canonical_pairs, read_split_npz
from experiments.parity.summary import parse_records

__all__ = ["ADAPTER", "NCLAdapter", "NUM_CLUSTERS", "SPLITS", "check_train", "epoch_end", "parse_recbole_log",
           "read_recbole_benchmark", "recbole_config", "recbole_rows", "reparse", "run_reference",
           "write_recbole_benchmark"]

#: RecBole benchmark file suffixes, in the order RecBole reads them (``benchmark_filename``)
SPLITS = ("train", "valid", "test")
USER_FIELD, ITEM_FIELD = "user_id", "item_id"
HEADER = f"{USER_FIELD}:token\t{ITEM_FIELD}:token"
#: k of both sides on ml-100k (NCL.yaml's 1000 > 943 users: neither faiss nor graphcl can cluster)
NUM_CLUSTERS = 100
#: the shim folder put on the reference's PYTHONPATH (``faiss``)
SHIM_DIR = Path(__file__).resolve().parents[1] / "shims" / "ncl"


# ------------------------------------------------------------------ data conversion
def write_recbole_benchmark(folder: Path, name: str, splits: Mapping[str, np.ndarray],
                            shape: tuple[int, int]) -> dict[str, int]:
    """Write ``splits`` (``train``/``valid``/``test`` -> ``(2, n)`` user/item pairs, our ids) as RecBole
    benchmark atomic files ``folder/<name>.<split>.inter`` (header ``user_id:token item_id:token``, rows
    sorted by user then item). The splits must be disjoint and in range of ``shape``; every user must
    have a training pair (RecBole would otherwise know a user only from valid/test). Returns the number
    of pairs per split."""
    if set(splits) != set(SPLITS):
        raise ValueError(f"splits must be exactly {list(SPLITS)}, got {sorted(splits)}")
    n_users, n_items = int(shape[0]), int(shape[1])
    arrays = {s: canonical_pairs(np.asarray(splits[s])) for s in SPLITS}
    both = np.concatenate([arrays[s] for s in SPLITS], axis=1)
    if both.size and (both.min() < 0 or both[0].max() >= n_users or both[1].max() >= n_items):
        raise ValueError(f"pairs out of range for shape {shape}")
    canonical_pairs(both)  # raises on a pair in two splits
    missing = np.setdiff1d(np.arange(n_users), arrays["train"][0])
    if missing.size:
        raise ValueError(f"{missing.size} users have no training pair (first: {missing[:5].tolist()}); "
                         "RecBole-GNN's graph and sampler would not know them")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for s in SPLITS:
        with open(folder / f"{name}.{s}.inter", "w", encoding="utf-8") as fh:
            fh.write(HEADER + "\n")
            fh.writelines(f"{u}\t{i}\n" for u, i in arrays[s].T)
    return {s: int(arrays[s].shape[1]) for s in SPLITS}


def read_recbole_benchmark(folder: Path, name: str) -> dict[str, np.ndarray]:
    """The splits of RecBole benchmark files written by :func:`write_recbole_benchmark` (canonical pairs,
    ids = the integer tokens)."""
    out = {}
    for s in SPLITS:
        path = Path(folder) / f"{name}.{s}.inter"
        with open(path, encoding="utf-8") as fh:
            header = fh.readline().rstrip("\n")
        if header != HEADER:
            raise ValueError(f"{path}: header {header!r}, expected {HEADER!r}")
        rows = np.loadtxt(path, dtype=np.int64, delimiter="\t", skiprows=1, ndmin=2)
        out[s] = canonical_pairs(rows[:, :2].T if rows.size else np.zeros((2, 0), dtype=np.int64))
    return out


def recbole_rows(tokens: Any, n: int, what: str = "user") -> np.ndarray:
    """``rows[j]`` = RecBole's internal id of our id ``j`` (``tokens``: RecBole's ``field2id_token``
    array, index = internal id, ``tokens[0]`` = ``'[PAD]'``). Every one of our ``n`` ids must have a
    token (else a clear error): the benchmark files hold all of them."""
    rows = np.full(int(n), -1, dtype=np.int64)
    for rid, tok in enumerate(tokens):
        if rid == 0 and str(tok) == "[PAD]":
            continue
        j = int(tok)
        if not 0 <= j < n:
            raise ValueError(f"RecBole {what} token {tok!r} is outside our ids 0..{n - 1}")
        rows[j] = rid
    if (rows < 0).any():
        raise ValueError(f"{int((rows < 0).sum())} of our {what}s have no RecBole id "
                         f"(first: {np.flatnonzero(rows < 0)[:5].tolist()})")
    return rows


# ------------------------------------------------------------------ the hook (runs inside the reference)
_state: dict[str, Any] = {"rows": None, "checked": False}


def _rows(dataset: Any, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    if _state["rows"] is None:
        _state["rows"] = (recbole_rows(dataset.field2id_token[dataset.uid_field], shape[0], "user"),
                          recbole_rows(dataset.field2id_token[dataset.iid_field], shape[1], "item"))
    return _state["rows"]


def check_train(dataset: Any, train: np.ndarray, shape: tuple[int, int]) -> int:
    """Raise unless the RecBole training dataset's (user, item) pairs, mapped back to our ids, are
    exactly ``train`` (our training pairs); returns their number."""
    ru, ri = _rows(dataset, shape)
    inv_u = np.empty(int(ru.max()) + 1, dtype=np.int64)
    inv_u[ru] = np.arange(ru.size)
    inv_i = np.empty(int(ri.max()) + 1, dtype=np.int64)
    inv_i[ri] = np.arange(ri.size)
    feat = dataset.inter_feat
    u = np.asarray(feat[dataset.uid_field].numpy() if hasattr(feat[dataset.uid_field], "numpy")
                   else feat[dataset.uid_field])
    i = np.asarray(feat[dataset.iid_field].numpy() if hasattr(feat[dataset.iid_field], "numpy")
                   else feat[dataset.iid_field])
    theirs = canonical_pairs(np.stack([inv_u[u], inv_i[i]]))
    ours = canonical_pairs(np.asarray(train))
    if theirs.shape != ours.shape or not np.array_equal(theirs, ours):
        raise RuntimeError(f"the reference's training pairs ({theirs.shape[1]}) are not our split's "
                           f"({ours.shape[1]})")
    return int(ours.shape[1])


def epoch_end(epoch: int, model: Any, train_data: Any, train_loss: Any) -> None:
    """Called by the patched ``NCLTrainer.fit`` after each epoch's training: checks the split once,
    maps the reference model's scoring embeddings (``model.forward()``'s LightGCN mean, what
    ``full_sort_predict`` scores with; no random draws) to our ids and evaluates them with graphcl's
    evaluator (:func:`experiments.parity.refhook.epoch_end`); ``loss`` = the epoch's summed loss terms
    (RecBole's sum over batches) over the number of batches (the mean per batch, as graphcl logs)."""
    import torch
    from experiments.parity import refhook
    splits, shape = read_split_npz(os.environ["PARITY_SPLIT"])
    dataset = train_data.dataset
    if not _state["checked"]:
        n = check_train(dataset, splits["train"], shape)
        sys.stdout.write(f"PARITY_CHECK ncl train pairs identical to ours: {n}\n")
        _state["checked"] = True
    ru, ri = _rows(dataset, shape)
    with torch.no_grad():
        user_e, item_e, _ = model.forward()
    total = float(sum(train_loss)) if isinstance(train_loss, tuple) else float(train_loss)
    batches = -(-int(splits["train"].shape[1]) // int(train_data.config["train_batch_size"]))
    refhook.epoch_end(epoch, user_e[torch.as_tensor(ru)], item_e[torch.as_tensor(ri)], loss=total / batches)


# ------------------------------------------------------------------ log parsing
_TRAIN = re.compile(r"epoch (\d+) training \[time: ([\d.]+)s, (.*)\]")
_LOSS_PART = re.compile(r"train_loss(\d+): (-?[\d.]+(?:e[-+]?\d+)?)")
_LOSS_ONE = re.compile(r"train loss: (-?[\d.]+(?:e[-+]?\d+)?)")
_EVAL = re.compile(r"epoch (\d+) evaluating \[time: ([\d.]+)s, valid_score: (\S+)\]")
_METRIC = re.compile(r"'?([a-z]+@\d+)'?\s*(?::|,)\s*(?:np\.float\d*\()?(-?[\d.]+(?:e-?\d+)?)")
_KEEP = ("recall@20", "ndcg@20")


def _metrics(text: str) -> dict[str, float]:
    found = {m.group(1): float(m.group(2)) for m in _METRIC.finditer(text)}
    return {k: found[k] for k in _KEEP if k in found}


def parse_recbole_log(log: str) -> dict[str, Any]:
    """RecBole's own printout of an NCL run: ``{"epochs": {epoch: {"loss_parts": [...], "valid": {...},
    "own_train_seconds": s}}, "final_test": {...}, "best_valid": {...}}``. ``loss_parts``: its summed
    (over batches) loss terms ``train_loss1..3`` (BPR + reg, structure-contrastive, prototype; the third
    is absent during the warm-up, ``recbole_gnn/trainer.py:129-130``); ``valid``: its per-epoch
    ``valid result`` (recall@20, ndcg@20); ``final_test`` / ``best_valid``: its closing ``test result`` /
    ``best valid`` lines (the test of the checkpoint it selected on valid recall@20)."""
    epochs: dict[int, dict[str, Any]] = {}
    out: dict[str, Any] = {"epochs": epochs}
    lines = log.splitlines()
    epoch = None
    for n, line in enumerate(lines):
        m = _TRAIN.search(line)
        if m:
            epoch = int(m.group(1))
            rec = epochs.setdefault(epoch, {})
            rec["own_train_seconds"] = float(m.group(2))
            parts = sorted((int(p.group(1)), float(p.group(2))) for p in _LOSS_PART.finditer(m.group(3)))
            if parts:
                rec["loss_parts"] = [v for _, v in parts]
            else:
                one = _LOSS_ONE.search(line)
                if one:
                    rec["loss_parts"] = [float(one.group(1))]
            continue
        m = _EVAL.search(line)
        if m:
            epoch = int(m.group(1))
            epochs.setdefault(epoch, {})
            continue
        if "best valid" in line:
            out["best_valid"] = _metrics(line.split("best valid", 1)[1])
            continue
        if "test result" in line:
            out["final_test"] = _metrics(line.split("test result", 1)[1])
            continue
        if epoch is not None and line.rstrip().endswith("valid result:") and n + 1 < len(lines):
            got = _metrics(lines[n + 1])
            if got:
                epochs[epoch]["valid"] = got
    return out


# ------------------------------------------------------------------ settings
def recbole_config(hyper: Mapping[str, Any], seed: int, epochs: int, data_path: str) -> dict[str, Any]:
    """RecBole's configuration of one run (written as ``parity_ncl.yaml``, passed by
    ``--config_files``, which RecBole ranks above its own and RecBole-GNN's yaml files): the shared
    hyperparameters, our benchmark files, the run's seed, ``epochs`` with early stopping out of reach,
    CPU, RecBole's own evaluation on recall/ndcg@20 (full ranking)."""
    return {
        "data_path": str(data_path), "benchmark_filename": list(SPLITS),
        "USER_ID_FIELD": USER_FIELD, "ITEM_ID_FIELD": ITEM_FIELD, "load_col": {"inter": [USER_FIELD, ITEM_FIELD]},
        "seed": int(seed), "reproducibility": True, "use_gpu": False, "show_progress": False,
        "epochs": int(epochs), "stopping_step": int(epochs) + 1, "eval_step": 1,
        "checkpoint_dir": "saved", "log_wandb": False,
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user", "mode": "full"},
        "metrics": ["Recall", "NDCG"], "topk": [20], "valid_metric": "Recall@20",
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1, "dynamic": False},
        **{k: hyper[k] for k in ("embedding_size", "n_layers", "reg_weight", "ssl_temp", "ssl_reg", "hyper_layers",
                                 "alpha", "proto_reg", "num_clusters", "m_step", "warm_up_step", "learner",
                                 "learning_rate", "weight_decay", "train_batch_size")},
    }


def _yaml(config: Mapping[str, Any]) -> str:
    import yaml
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None)


class NCLAdapter(Adapter):
    name = "ncl"
    method = "ncl"
    reference_repo = "RUCAIBox/RecBole-GNN"
    entry_file = "recbole_gnn/model/general_recommender/ncl.py"
    metrics = ["recall@20", "ndcg@20"]  # the first selects the epoch on validation (RecBole's valid_metric)
    datasets = {"ml-100k": {"graphcl_name": "ml-100k", "ref_name": "parity_ml100k"}}
    protocol_notes = [
        "valid/test curves of both sides: graphcl's RankingEvaluator on our split (exact per-user means; valid "
        "excludes train items, test excludes train and valid items) after each epoch's training; for the "
        "reference the LightGCN mean of model.forward() (ncl.py:93-104, what full_sort_predict scores with, "
        "ncl.py:212-222), its rows mapped to our ids by RecBole's tokens",
        "same data: our train/valid/test pairs as RecBole benchmark files (benchmark_filename [train, valid, "
        "test]); the patched trainer checks at the first epoch that its training pairs are ours (PARITY_CHECK "
        "line); RecBole's tables have one padding row more (user 0 / item 0, never sampled, never scored)",
        "settings: RecBole-GNN's properties/model/NCL.yaml + RecBole's overall.yaml defaults (Adam lr 1e-3, "
        "batch 2048, weight_decay 0, one uniform negative per pair) on both sides, except num_clusters = 100 "
        "on both (NCL.yaml's 1000 > ml-100k's 943 users: faiss and graphcl both refuse)",
        "epoch clock: the reference's includes its E-step (k-means every epoch, NCLTrainer.fit, "
        "recbole_gnn/trainer.py:38-40) and its _train_epoch; graphcl's includes its E-step (from the warm-up "
        "on) and the epoch's batches",
        "own.valid (the reference's printout, recbole_gnn/trainer.py:60-77): RecBole's full-sort valid "
        "recall@20/ndcg@20 each epoch (training items masked); own.final_test / own.best_valid: its closing "
        "test of the checkpoint selected on valid recall@20 (train and valid items masked); own.loss_parts: "
        "its summed loss terms (BPR + reg, structure, prototype)",
        "loss curves: both the mean per batch of the total loss (the reference: sum of its loss terms over its "
        "batches / number of batches)",
        "no early stopping on either side (RecBole stopping_step = epochs + 1; graphcl patience = epochs + 1); "
        "'best_valid' selects on validation recall@20, 'best_test' on test recall@20 (test-set selection, "
        "for comparison only)",
    ]
    findings = [
        "equations: same LightGCN (E^(0..L'), L' = max(L, 2h), mean of 0..L) ncl.py:93-104 / "
        "graphcl/models/rec/ncl.py:71-72,102-103,111-112; structure-contrastive loss on layer 2h vs layer 0, all users "
        "(items) as negatives, sums over the batch, lambda_1 (L_U + alpha L_I) ncl.py:135-164 / graphcl ncl.py:"
        "115-120 (graphcl: log-sum-exp, the reference: log(exp/sum exp)); prototype loss on normalized layer-0 "
        "rows vs normalized centroids, lambda_2 (L_U + L_I) ncl.py:106-133 / graphcl ncl.py:123-129; reg "
        "EmbLoss = sum of the ego rows' Frobenius norms / B (recbole/model/loss.py EmbLoss) / graphcl "
        "ncl.py:130-132; BPR -log(1e-10 + sigmoid) (recbole BPRLoss) / graphcl softplus",
        "warm-up: the reference adds the prototype term from epoch warm_up_step on (trainer.py:129-130, 0-based "
        "epoch_idx >= 20) and runs its E-step every epoch from epoch 0 (trainer.py:38-40, also during the "
        "warm-up, unused there); graphcl runs its E-step from epoch warm_up on (graphcl ncl.py:90-99) and "
        "adds the term from the same epoch: same training signal, graphcl skips 20 unused k-means runs",
        "k-means: the reference calls faiss.Kmeans(d, k) with faiss' defaults (L2, 25 iterations, one run, "
        "seed 1234 on EVERY call, ncl.py:66-81; here our CPU stand-in shims/ncl/faiss.py with those defaults, "
        "empty clusters split as faiss does); graphcl: its torch k-means (L2, random init, 25 iterations, "
        "tol 0) with a new seed per E-step drawn from the run's generator (graphcl ncl.py:80-88, 97), an "
        "emptied cluster moved to the farthest point (graphcl/eval/clustering.py:87-91)",
        "the reference clusters its padding rows too (user 0 and item 0 of RecBole's tables, ncl.py:61-64: "
        "944 user / 1683 item points, the padding rows untrained except through the all-user denominators) and "
        "keeps them as negatives in the structure-contrastive denominators (ncl.py:143-145, 155-157: F.normalize of "
        "the whole table): one extra negative row each; graphcl has no padding rows",
        "initialization: xavier_uniform on both (ncl.py:52 / LightGCNPropagation init 'xavier'); the reference's "
        "tables have one padding row more, so its bound sqrt(6/(944+64)) differs from graphcl's sqrt(6/(943+64)) "
        "in the 4th digit (items: 1683 vs 1682 rows)",
        "random streams: RecBole seeds random/numpy/torch with the seed (recbole/utils/utils.py init_seed) and "
        "shuffles/samples with them; graphcl uses a torch generator of the run's seed",
        "batches and negatives: both one pass over the shuffled training pairs per epoch in batches of 2048, the "
        "last partial batch kept (40 batches), one uniform negative per pair among the items the user has no "
        "training pair with (RecBole's sampler over ids 1..n_items-1, recbole/sampler/sampler.py; graphcl "
        "graphcl/data/sampling.py bpr_triples / UniformNegativeSampler): same distribution",
        "evaluation protocol checked: RecBole's own per-epoch valid recall@20/ndcg@20 (own.valid) equal the "
        "hook's numbers to its 4 printed decimals at every epoch of the 3 runs (max difference 4.9e-5); its "
        "closing test (own.final_test, the best-valid checkpoint = the last epoch here) equals the hook's "
        "last-epoch test",
        "equations: `python -m experiments.parity.ncl_stepcheck --checkout <ref> --steps 5 [--unit-weights]` (the "
        "reference's NCL class and graphcl's on the same synthetic pairs in RecBole's id space, padding rows "
        "included, the same parameters, batches and the reference's e_step prototypes): layers equal to 3e-8, "
        "loss terms to 1e-12 with NCL.yaml's weights (with ssl_reg = proto_reg = 1: structure term 180.4 to "
        "3e-5, prototype term 30.1 to 8e-6), gradients to 1e-5 at scale 23, parameters after 5 Adam steps to "
        "3e-8: the same equations",
        "training dynamics agree: with NCL.yaml's weights the structure term's gradient is ~5x BPR's at "
        "initialization (graphcl, one ml-100k batch: mean |grad| 3.9e-6 vs 8.1e-7), so on both sides the "
        "ranking stays at chance for ~15 epochs and takes off at epoch 16-17 (valid ndcg@20 > 0.1: reference "
        "17/17/17, graphcl 17/17/16); at epoch 20 (the prototype term's first) valid ndcg@20 0.1919 on both",
        "speed: the reference propagates with PyG's MessagePassing over 161,616 edge messages per layer and "
        "runs its E-step every epoch (our stand-in k-means: ~0.6 s per table under this load; faiss would be "
        "faster); graphcl: one sparse matmul per layer, no E-step during the warm-up. Not profiled further",
    ]
    environment = [
        {"what": "run through `python -m experiments.parity.adapters.ncl run <run_recbole_gnn.py args>`",
         "reason": "RecBole 1.2.1 / RecBole-GNN under numpy 2 and torch 2.13: graphcl's recbole_scope sets the "
                   "numpy aliases numpy 2 removed (np.float_ etc., read by Config.compatibility_settings, "
                   "recbole_gnn/config.py:24-33, and RecBole's metrics) and lets torch.load read the checkpoint "
                   "the run itself saved (its closing test, load_best_model)"},
        {"what": "PYTHONPATH += experiments/parity/shims/ncl (faiss) and the repository root",
         "reason": "faiss is not installed (our CPU stand-in of faiss.Kmeans); the patched trainer imports "
                   "experiments.parity.refhook and experiments.parity.adapters.ncl (the hook)"},
    ]

    def hyper(self, dataset: str) -> dict[str, Any]:
        # RecBole-GNN properties/model/NCL.yaml (num_clusters: see NUM_CLUSTERS) + RecBole overall.yaml
        return {"embedding_size": 64, "n_layers": 3, "reg_weight": 1e-4, "ssl_temp": 0.1, "ssl_reg": 1e-7,
                "hyper_layers": 1, "alpha": 1.0, "proto_reg": 8e-8, "num_clusters": NUM_CLUSTERS, "m_step": 1,
                "warm_up_step": 20, "learner": "adam", "learning_rate": 1e-3, "weight_decay": 0.0,
                "train_batch_size": 2048, "neg_sampling": "uniform, 1 per pair", "valid_metric": "Recall@20"}

    def patches(self, ctx: RunContext) -> list[Patch]:
        t = "recbole_gnn/trainer.py"
        return [
            Patch("recbole_gnn/model/layers.py", "from torch_sparse import matmul\n",
                  "try:\n    from torch_sparse import matmul\nexcept ImportError:\n    matmul = None\n",
                  "torch_sparse is not installed; matmul is only used for a SparseTensor adjacency, which the "
                  "dataset does not build without torch_sparse (recbole_gnn/data/dataset.py:9-13, 68-71)"),
            Patch(t, "from recbole.trainer import Trainer\n",
                  "from recbole.trainer import Trainer\n"
                  "from experiments.parity import refhook as parity_refhook\n"
                  "from experiments.parity.adapters import ncl as parity_ncl\n"
                  "parity_refhook.setup(seed=False)\n",
                  "load the evaluation hook and set the torch thread count (RecBole seeds itself with the "
                  "config's seed)"),
            Patch(t, "            # only differences from the original trainer\n",
                  "            parity_refhook.epoch_start()\n"
                  "            # only differences from the original trainer\n",
                  "start the epoch's training clock before the E-step (k-means is part of NCL's training)"),
            Patch(t, "            training_end_time = time()\n",
                  "            training_end_time = time()\n"
                  "            parity_refhook.train_done()\n"
                  "            parity_ncl.epoch_end(epoch_idx, self.model, train_data, train_loss)\n",
                  "stop the clock; evaluate the LightGCN mean of model.forward() (no random draws) on our "
                  "valid/test split with graphcl's evaluator (rows mapped to our ids; the split checked once), "
                  "print a PARITY_JSON line, before RecBole's own validation", count=1),
        ]

    def prepare_reference(self, ctx: RunContext, split: Any) -> None:
        info = self.datasets[ctx.dataset]
        folder = ctx.workdir / "dataset" / info["ref_name"]
        counts = write_recbole_benchmark(folder, info["ref_name"], {s: getattr(split, s).numpy() for s in SPLITS},
                                         (split.num_users, split.num_items))
        config = recbole_config(self.hyper(ctx.dataset), ctx.seed, ctx.epochs, str(ctx.workdir / "dataset"))
        (ctx.workdir / "parity_ncl.yaml").write_text(_yaml(config), encoding="utf-8")
        (ctx.workdir / "parity_data.json").write_text(json.dumps({"interactions": counts}, indent=1),
                                                      encoding="utf-8")

    def reference_command(self, ctx: RunContext) -> list[str]:
        return [ctx.python, "-m", "experiments.parity.adapters.ncl", "run", "-m", "NCL", "-d",
                self.datasets[ctx.dataset]["ref_name"], "--config_files", "parity_ncl.yaml"]

    def reference_paths(self, ctx: RunContext) -> list[Path]:
        return [SHIM_DIR]

    def parse_reference(self, ctx: RunContext, log: str) -> list[dict[str, Any]]:
        """The hook's records, RecBole's own numbers under ``own`` (``valid`` per epoch, ``loss_parts``,
        and on the last record ``final_test`` / ``best_valid``)."""
        records = parse_records(log)
        own = parse_recbole_log(log)
        for rec in records:
            mine = own["epochs"].get(rec["epoch"], {})
            block = {k: mine[k] for k in ("valid", "loss_parts") if mine.get(k)}
            if block:
                rec.setdefault("own", {}).update(block)
        if records:
            last = {k: own[k] for k in ("final_test", "best_valid") if own.get(k)}
            if last:
                records[-1].setdefault("own", {}).update(last)
        return records

    def ours_config(self, dataset: str) -> dict[str, Any]:
        h = self.hyper(dataset)
        return {"embedding_dim": h["embedding_size"], "num_layers": h["n_layers"], "reg_weight": h["reg_weight"],
                "ssl_temp": h["ssl_temp"], "ssl_reg": h["ssl_reg"], "hyper_layers": h["hyper_layers"],
                "alpha": h["alpha"], "proto_reg": h["proto_reg"], "num_clusters": h["num_clusters"],
                "m_step": h["m_step"], "warm_up": h["warm_up_step"], "lr": h["learning_rate"],
                "weight_decay": h["weight_decay"], "batch_size": h["train_batch_size"],
                "topk": [20], "valid_metric": "recall@20"}


ADAPTER = NCLAdapter()


def run_reference(argv: list[str]) -> None:
    """Run the reference's ``run_recbole_gnn.py`` (in the current directory, the patched copy) with
    ``argv`` inside graphcl's RecBole 1.2.1 compatibility scope
    (:func:`graphcl.interop.recbole_compat.recbole_scope`): the numpy aliases numpy 2 removed
    (``np.float_`` etc., read by RecBole's and RecBole-GNN's ``Config.compatibility_settings`` and
    RecBole's metrics) and ``torch.load`` of the checkpoints this process saved with
    ``weights_only=False`` (RecBole pickles its Config; torch >= 2.6 refuses by default)."""
    import runpy
    from graphcl.interop.recbole_compat import recbole_scope
    script = Path.cwd() / "run_recbole_gnn.py"
    if not script.is_file():
        raise FileNotFoundError(f"{script} not found: run from the reference checkout's copy")
    sys.path.insert(0, str(Path.cwd()))
    sys.argv = [str(script), *argv]
    with recbole_scope(full_pickle_load=True):
        runpy.run_path(str(script), run_name="__main__")


def reparse(path: Path) -> int:
    """Re-read the reference runs' logs of results file ``path`` with this module's
    :meth:`NCLAdapter.parse_reference` and replace the ``own`` blocks of their curves (RecBole's own
    printout; the hook's records, the metrics and the summary are untouched). For a file written by a
    harness process that had loaded an older parser. Returns the number of runs updated."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    n = 0
    for run in doc["runs"]:
        if run["side"] != "reference" or run.get("status") != "ok" or not run.get("log"):
            continue
        log = Path(run["log"]).read_text(encoding="utf-8", errors="replace")
        recs = {r["epoch"]: r for r in ADAPTER.parse_reference(None, log)}
        for rec in run["curves"]:
            own = recs.get(rec["epoch"], {}).get("own")
            if own:
                rec["own"] = own
        n += 1
    Path(path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return n


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "reparse":
        print(f"updated {reparse(Path(sys.argv[2]))} reference run(s)")
    elif len(sys.argv) >= 2 and sys.argv[1] == "run":
        run_reference(sys.argv[2:])
    else:
        raise SystemExit("usage: python -m experiments.parity.adapters.ncl run <run_recbole_gnn.py arguments>\n"
                         "       python -m experiments.parity.adapters.ncl reparse <results json>")
