"""Parity adapter: BM3, reference enoche/MMRec (``src/models/bm3.py``, run by ``src/main.py``).

MMRec reads ``<data_path><dataset>/<inter_file_name>`` (tab-separated ``userID``, ``itemID`` and
the split label ``x_label``: 0 train, 1 valid, 2 test; ``src/utils/dataset.py``) and the item
features ``image_feat.npy`` / ``text_feat.npy`` of the same folder (rows = item ids;
``src/common/abstract_recommender.py:90-101``). We write OUR split there (the same train, valid and test
pairs, our dense ids) and OUR item features, the ones graphcl's ``bm3`` builds for the dataset
(ml-100k: ``text`` = all-MiniLM-L6-v2 embeddings of "<title> (<year>). Genres: ...", 384-d, into
``text_feat.npy``; ``genre`` = the 19-d multi-hot genre vector, into ``image_feat.npy``: BM3 treats
its two modalities symmetrically, ``src/models/bm3.py:49-56,101-141``). Its settings come from its
yaml files (``overall.yaml`` + ``model/BM3.yaml``); the model yaml's search grid is pinned to one
point (the BM3 README's best Baby setting, graphcl's default) through ``main.py``'s
``config_dict``, which MMRec gives the highest priority.

Its own evaluation (valid and test every epoch, ``src/common/trainer.py:260-275``) is parsed as
``own.valid`` / ``own.test``: exact per-user means, training items masked; for test the
validation items are NOT masked (``src/utils/quick_start.py:42-43`` passes only the training set
as ``additional_dataset``).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from experiments.parity.adapter import Adapter, Patch, RunContext
from experiments.parity.convert import canonical_pairs
from experiments.parity.summary import parse_records

__all__ = ["ADAPTER", "BM3Adapter", "FEATURE_FILES", "SPLIT_LABELS", "mmrec_config", "mmrec_train_batches",
           "parse_mmrec_log",
           "read_mmrec_features", "read_mmrec_inter", "write_mmrec_features", "write_mmrec_inter"]

#: MMRec's split label column values (``src/utils/dataset.py:60-63``)
SPLIT_LABELS = {"train": 0, "valid": 1, "test": 2}
#: graphcl modality -> the MMRec feature file that BM3 reads it from (``configs/dataset/*.yaml``)
FEATURE_FILES = {"text": "text_feat.npy", "genre": "image_feat.npy"}
USER_FIELD, ITEM_FIELD, LABEL_FIELD = "userID", "itemID", "x_label"

_HOOK = ("from experiments.parity import refhook as parity_refhook\n"
         "parity_refhook.setup(seed=False)\n")
_EPOCH_END = (
    "                with torch.no_grad():\n"
    "                    _parity_u, _parity_i = self.model.forward()\n"
    "                    parity_refhook.epoch_end(epoch_idx, self.model.predictor(_parity_u),\n"
    "                                             self.model.predictor(_parity_i),\n"
    "                                             loss=self.train_loss_dict[epoch_idx])\n")


# ------------------------------------------------------------------ data conversion
def write_mmrec_inter(path: Path, splits: Mapping[str, np.ndarray], shape: tuple[int, int]) -> dict[str, int]:
    """Write ``splits`` (``train``/``valid``/``test`` -> ``(2, n)`` user/item pairs) as MMRec's
    ``.inter`` file (tab-separated ``userID itemID x_label``, rows sorted by split, user, item).

    MMRec infers the user and item counts as the largest id + 1 (``src/utils/dataset.py:47-48``),
    so the largest user id ``shape[0] - 1`` and item id ``shape[1] - 1`` must occur in some split
    (else its tables would be smaller than ours: an error). The splits must be disjoint. Returns
    the number of pairs per split."""
    if set(splits) != set(SPLIT_LABELS):
        raise ValueError(f"splits must be exactly {sorted(SPLIT_LABELS)}, got {sorted(splits)}")
    n_users, n_items = int(shape[0]), int(shape[1])
    arrays = {name: canonical_pairs(splits[name]) for name in SPLIT_LABELS}
    both = np.concatenate(list(arrays.values()), axis=1)
    if both.size and (both.min() < 0 or both[0].max() >= n_users or both[1].max() >= n_items):
        raise ValueError(f"pairs out of range for shape {shape}")
    canonical_pairs(both)  # raises on a pair in two splits
    if not both.size or both[0].max() != n_users - 1 or both[1].max() != n_items - 1:
        raise ValueError(f"MMRec counts users/items as the largest id + 1: user {n_users - 1} and item "
                         f"{n_items - 1} must occur in the interactions (largest found: user "
                         f"{int(both[0].max()) if both.size else None}, item "
                         f"{int(both[1].max()) if both.size else None})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{USER_FIELD}\t{ITEM_FIELD}\t{LABEL_FIELD}\n")
        for name, label in SPLIT_LABELS.items():
            for u, i in arrays[name].T:
                fh.write(f"{u}\t{i}\t{label}\n")
    return {name: int(a.shape[1]) for name, a in arrays.items()}


def read_mmrec_inter(path: Path) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """The splits of an MMRec ``.inter`` file (canonical pairs per split) and the shape MMRec
    infers (largest user id + 1, largest item id + 1)."""
    rows = np.loadtxt(path, dtype=np.int64, delimiter="\t", skiprows=1, ndmin=2)
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
    if header != [USER_FIELD, ITEM_FIELD, LABEL_FIELD]:
        raise ValueError(f"{path}: header {header}, expected {[USER_FIELD, ITEM_FIELD, LABEL_FIELD]}")
    unknown = set(np.unique(rows[:, 2]).tolist()) - set(SPLIT_LABELS.values())
    if unknown:
        raise ValueError(f"{path}: unknown split labels {sorted(unknown)}")
    splits = {name: canonical_pairs(rows[rows[:, 2] == label][:, :2].T) for name, label in SPLIT_LABELS.items()}
    return splits, (int(rows[:, 0].max()) + 1, int(rows[:, 1].max()) + 1)


def write_mmrec_features(folder: Path, features: Mapping[str, Any], num_items: int) -> dict[str, str]:
    """Write each graphcl modality of ``features`` (name -> ``(num_items, dim)`` array or tensor)
    to its MMRec file (:data:`FEATURE_FILES`) as float32 ``.npy``; returns file -> sha256 of the
    array bytes. A modality without an MMRec slot, or a row count other than ``num_items``, is an
    error."""
    out = {}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in features.items():
        if name not in FEATURE_FILES:
            raise ValueError(f"modality {name!r} has no MMRec feature file (BM3 reads "
                             f"{', '.join(sorted(set(FEATURE_FILES.values())))}; known: {sorted(FEATURE_FILES)})")
        arr = np.ascontiguousarray(np.asarray(table.detach().cpu() if hasattr(table, "detach") else table,
                                              dtype=np.float32))
        if arr.ndim != 2 or arr.shape[0] != num_items:
            raise ValueError(f"modality {name!r}: shape {arr.shape}, expected ({num_items}, dim)")
        np.save(folder / FEATURE_FILES[name], arr)
        out[FEATURE_FILES[name]] = hashlib.sha256(arr.tobytes()).hexdigest()
    return out


def read_mmrec_features(folder: Path) -> dict[str, np.ndarray]:
    """The feature files present in ``folder``, keyed by graphcl modality name."""
    return {name: np.load(Path(folder) / f) for name, f in FEATURE_FILES.items() if (Path(folder) / f).is_file()}


# ------------------------------------------------------------------ log parsing
_TRAIN = re.compile(r"epoch (\d+) training \[time: ([\d.]+)s, train loss: (\S+)\]")
_EVAL = re.compile(r"epoch (\d+) evaluating \[time: ([\d.]+)s, valid_score: (\S+)\]")
_METRIC = re.compile(r"([a-z0-9]+@\d+): (-?[\d.]+(?:e-?\d+)?)")
_KEEP = ("recall@20", "ndcg@20")


def _metrics(line: str, keep: tuple[str, ...] = _KEEP) -> dict[str, float]:
    found = {m.group(1): float(m.group(2)) for m in _METRIC.finditer(line)}
    return {k: found[k] for k in keep if k in found}


def parse_mmrec_log(log: str, keep: tuple[str, ...] = _KEEP) -> dict[int, dict[str, Any]]:
    """MMRec's own per-epoch printout (``src/common/trainer.py:239-287``): epoch -> ``{"loss",
    "own_train_seconds", "valid", "test", "selected"}`` (``valid``/``test``: the ``keep`` metrics
    of its ``valid result:`` / ``test result:`` blocks; ``selected``: MMRec's own best-validation
    update at that epoch)."""
    out: dict[int, dict[str, Any]] = {}
    lines = log.splitlines()
    epoch = None
    for n, line in enumerate(lines):
        m = _TRAIN.search(line)
        if m:
            epoch = int(m.group(1))
            out[epoch] = {"own_train_seconds": float(m.group(2)), "loss": float(m.group(3))}
            continue
        m = _EVAL.search(line)
        if m:
            epoch = int(m.group(1))
            out.setdefault(epoch, {})
            continue
        if epoch is None:
            continue
        for key, label in (("valid", "valid result:"), ("test", "test result:")):
            at = line.find(label)
            if at >= 0 and not line[at + len(label):].strip() and "best" not in line and n + 1 < len(lines):
                out[epoch][key] = _metrics(lines[n + 1], keep)
        if "Best validation results updated" in line:
            out[epoch]["selected"] = True
    return out


def mmrec_train_batches(log: str, batch_size: int) -> int:
    """The number of training batches per epoch of an MMRec run: its training interaction count
    (``The number of inters: N`` after ``====Training====`` in its log) over ``batch_size``,
    rounded up (its TrainDataLoader keeps the last partial batch)."""
    at = log.find("====Training====")
    m = re.search(r"The number of inters: (\d+)", log[at:]) if at >= 0 else None
    if m is None:
        raise ValueError("the MMRec log has no '====Training====' block with 'The number of inters: N'")
    return -(-int(m.group(1)) // int(batch_size))


# ------------------------------------------------------------------ settings
def mmrec_config(hyper: Mapping[str, Any], seed: int, epochs: int) -> dict[str, Any]:
    """The ``config_dict`` given to MMRec's ``quick_start`` (highest priority over its yaml files):
    the shared hyperparameters, the grid keys as one-point lists (``quick_start`` loops over the
    product of ``hyper_parameters``), ``seed`` = the run's seed, ``epochs`` fixed with early
    stopping out of reach, CPU."""
    return {"gpu_id": 0, "use_gpu": False, "seed": [int(seed)], "epochs": int(epochs),
            "stopping_step": int(epochs) + 1, "eval_step": 1,
            "n_layers": [hyper["n_layers"]], "dropout": [hyper["dropout"]], "reg_weight": [hyper["reg_weight"]],
            **{k: hyper[k] for k in ("embedding_size", "feat_embed_dim", "cl_weight", "learning_rate",
                                     "train_batch_size", "weight_decay", "learner", "learning_rate_scheduler",
                                     "valid_metric")}}


class BM3Adapter(Adapter):
    name = "bm3"
    method = "bm3"
    reference_repo = "enoche/MMRec"
    entry_file = "src/models/bm3.py"
    metrics = ["recall@20", "ndcg@20"]  # the first selects the epoch on validation (both sides' valid_metric)
    datasets = {"ml-100k": {"graphcl_name": "ml-100k", "ref_name": "parity_ml100k",
                            "modalities": ["text", "genre"], "text_encoder": "all-MiniLM-L6-v2"}}
    protocol_notes = [
        "valid/test curves of both sides: graphcl's RankingEvaluator on our split (exact per-user means; valid "
        "excludes train items, test excludes train and valid items) on the scoring embeddings after each "
        "epoch: for the reference predictor(forward()) of its own model, as its full_sort_predict "
        "(src/models/bm3.py:149-154) scores",
        "same data on both sides: the reference's .inter file holds our train/valid/test pairs (split label "
        "column x_label 0/1/2, our dense ids), its text_feat.npy our 'text' modality (384-d all-MiniLM-L6-v2 "
        "item-text embeddings), its image_feat.npy our 'genre' modality (19-d multi-hot); graphcl's bm3 runs "
        "with modalities [text, genre] (= 'auto' on ml-100k), the same arrays",
        "settings: MMRec's yaml files (overall.yaml: lr 1e-3, batch 2048, Adam, weight_decay 0, constant lr "
        "(learning_rate_scheduler [1.0, 50]); model/BM3.yaml: embedding 64, cl_weight 2, no negative sampling, "
        "grid n_layers {1, 2} x dropout {0.3, 0.5} x reg_weight {0.1, 0.01}) with the grid pinned to the BM3 "
        "README's best Baby point (1 layer, dropout 0.5, reg 0.1), graphcl's bm3 defaults",
        "own.valid / own.test (the reference's printout, src/common/trainer.py:260-275, "
        "src/utils/topk_evaluator.py): every epoch, exact per-user means rounded to 4 decimals; training items "
        "masked; for test the validation items are NOT masked (src/utils/quick_start.py:42-43), so its test "
        "numbers are lower than graphcl's protocol on the same model; MMRec itself reports the test result at "
        "its best validation Recall@20 ('selected' marks its updates)",
        "loss curves: both the mean per batch; MMRec's own epoch loss is the SUM over its 40 batches "
        "(train_loss_dict, src/common/trainer.py:249), kept as own.loss_sum, divided by its batch count "
        "(read from its log) for 'loss'",
        "equations: `python -m experiments.parity.bm3check --checkout <ref> --steps 10` feeds the reference's "
        "BM3 class (patched copy) and graphcl's the same parameters, features and batches with the target "
        "dropout at 0 (the two sides draw different masks): normalized graphs within 1.5e-8, losses within "
        "1e-6, max |grad difference| <= 1.2e-7 at |grad| ~ 0.6, parameters within 3.9e-6 after 10 Adam steps "
        "(not growing), full-sort scores within 5e-7",
        "no early stopping on either side (MMRec stopping_step = epochs + 1; graphcl patience = epochs + 1); "
        "'best_valid' selects the epoch on validation recall@20 (MMRec's and graphcl's valid_metric), "
        "'best_test' on test recall@20 (test-set selection, for comparison only)",
    ]
    findings = [
        "equations: same online network and loss. LightGCN mean over layers 0..L plus the item ID embedding "
        "src/models/bm3.py:84-95 / graphcl/models/rec/bm3.py:124-133; graph D^-1/2 A D^-1/2 (MMRec adds 1e-7 "
        "to every degree, an item without training interactions has an empty row on both sides) bm3.py:58-82 / "
        "graphcl/sparse.py:335-365 (bipartite_adjacency); targets dropout(h) without gradient bm3.py:106-119 / "
        "graphcl bm3.py:135-137; cosine losses ui, iu and per modality (feature -> item target, feature -> its "
        "own dropped target) bm3.py:121-147 / graphcl bm3.py:139-164; reg EmbLoss = (||H_U||_F + ||H_I||_F) / "
        "n_items src/common/loss.py:38-51 / graphcl bm3.py:152; scores predictor(h_u) . predictor(h_i) "
        "bm3.py:149-154 / graphcl bm3.py:167-181",
        "dropout masks of the targets: MMRec draws them over the whole user/item/feature matrices each batch "
        "(bm3.py:110-119) and indexes the batch rows; graphcl draws them only for the batch's distinct rows "
        "(bm3.py:143-147, 158): same distribution, different random stream",
        "the reference's projections run over every item's features each batch (text_trs(text_embedding.weight), "
        "bm3.py:100-104), graphcl's over the batch's distinct items (bm3.py:156): same gradients (rows outside the batch get "
        "zero gradient on both sides: nn.Embedding is dense, Adam moves them by momentum on both)",
        "random streams: MMRec seeds random/numpy/torch with its seed (src/utils/utils.py init_seed) and shuffles "
        "the training pairs with pandas' sample (numpy's global generator, src/utils/dataset.py:101); graphcl "
        "uses a torch generator of the run's seed; parameter creation order differs (MMRec: image (= genre) "
        "tables before text; graphcl: text, genre)",
        "evaluation protocol: see the notes (own.test leaves validation items unmasked)",
    ]
    environment = [
        {"what": "PYTHONPATH += repository root",
         "reason": "the patched trainer imports experiments.parity.refhook (threads, per-epoch evaluation)"},
        {"what": "MPLBACKEND=Agg", "reason": "src/common/trainer.py imports matplotlib.pyplot (no display)"},
        {"what": "PARITY_MMREC_CONFIG=<workdir>/parity_config.json",
         "reason": "the settings main.py passes to quick_start as config_dict (see the main.py patch)"},
    ]

    def load_data(self, dataset: str, data_root: Path) -> tuple[Any, dict[str, Any]]:
        """graphcl's data (the default description) plus the item features both sides use:
        the item table's files' sha256 and each feature array's (recorded in the settings, so a
        resume with other features is refused). The features are kept for :meth:`prepare_reference`."""
        from graphcl.data.item_features import build_item_features
        data, desc = super().load_data(dataset, data_root)
        info = self.datasets[dataset]
        feats = build_item_features(data, list(info["modalities"]), text_encoder=info["text_encoder"])
        self._features = {name: np.ascontiguousarray(table.detach().cpu().numpy(), dtype=np.float32)
                          for name, table in feats}
        source = Path(desc["source"])
        for item_file in sorted(source.parent.glob("*.item")) if source.is_file() else []:
            desc["files_sha256"][item_file.name] = hashlib.sha256(item_file.read_bytes()).hexdigest()
        desc["item_features"] = {name: {"file": FEATURE_FILES[name], "shape": list(arr.shape),
                                        "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}
                                 for name, arr in self._features.items()}
        return data, desc

    def hyper(self, dataset: str) -> dict[str, Any]:
        # MMRec overall.yaml + model/BM3.yaml; the grid at the BM3 README's best Baby point
        return {"embedding_size": 64, "feat_embed_dim": 64, "n_layers": 1, "dropout": 0.5, "reg_weight": 0.1,
                "cl_weight": 2.0, "learning_rate": 0.001, "train_batch_size": 2048, "weight_decay": 0.0,
                "learner": "adam", "learning_rate_scheduler": [1.0, 50], "valid_metric": "Recall@20",
                "modalities": {"text": "text_feat.npy", "genre": "image_feat.npy"},
                "text_encoder": self.datasets[dataset]["text_encoder"]}

    def patches(self, ctx: RunContext) -> list[Patch]:
        return [
            Patch("src/main.py", "    config_dict = {\n        'gpu_id': 0,\n    }\n",
                  "    config_dict = {\n        'gpu_id': 0,\n    }\n"
                  "    config_dict.update(__import__('json').load(open(os.environ['PARITY_MMREC_CONFIG'])))\n",
                  "the run's settings (seed, epochs, early stopping off, CPU, the grid pinned to one point) "
                  "as config_dict, which MMRec ranks above its yaml files"),
            Patch("src/utils/dataset.py",
                  "from utils.data_utils import (ImageResize, ImagePad, image_to_tensor, "
                  "load_decompress_img_from_lmdb_value)\nimport lmdb\n", "",
                  "unused imports for raw images (end2end: False): lmdb and torchvision are not installed"),
            Patch("src/utils/metrics.py", "np.float)", "np.float64)",
                  "numpy >= 1.24 removed the np.float alias (float64 is what it meant); ndcg and map",
                  count=4),
            Patch("src/models/bm3.py", "A._update(data_dict)", "A._dict.update(data_dict)",
                  "scipy >= 1.12 removed dok_matrix._update; _dict.update is what it did"),
            Patch("src/common/trainer.py", "from logging import getLogger\n",
                  "from logging import getLogger\n" + _HOOK,
                  "load the evaluation hook and set the torch thread count (MMRec seeds itself)"),
            Patch("src/common/trainer.py", "            training_start_time = time()\n",
                  "            training_start_time = time()\n            parity_refhook.epoch_start()\n",
                  "start the epoch's training clock"),
            Patch("src/common/trainer.py", "            self.lr_scheduler.step()\n",
                  "            self.lr_scheduler.step()\n            parity_refhook.train_done()\n",
                  "stop the epoch's training clock (before MMRec's own evaluation)"),
            Patch("src/common/trainer.py",
                  "                    self.logger.info('test result: \\n' + dict2str(test_result))\n",
                  "                    self.logger.info('test result: \\n' + dict2str(test_result))\n"
                  + _EPOCH_END,
                  "after MMRec's own valid/test: evaluate predictor(forward()) (what full_sort_predict "
                  "scores with; no random draws) on our valid/test split with graphcl's evaluator, print "
                  "a PARITY_JSON line"),
        ]

    def prepare_reference(self, ctx: RunContext, split: Any) -> None:
        from graphcl.data.item_features import build_item_features
        info = self.datasets[ctx.dataset]
        folder = ctx.workdir / "data" / info["ref_name"]
        shape = (split.num_users, split.num_items)
        counts = write_mmrec_inter(folder / f"{info['ref_name']}.inter",
                                   {s: getattr(split, s).numpy() for s in SPLIT_LABELS}, shape)
        feats = getattr(self, "_features", None)  # from load_data (the arrays recorded in the settings)
        if feats is None:
            feats = {name: table for name, table in build_item_features(
                split, list(info["modalities"]), text_encoder=info["text_encoder"])}
        sha = write_mmrec_features(folder, feats, split.num_items)
        # the dataset yaml MMRec reads (configs/dataset/<name>.yaml); our file, not a patch
        (ctx.workdir / "src" / "configs" / "dataset" / f"{info['ref_name']}.yaml").write_text(
            "USER_ID_FIELD: userID\nITEM_ID_FIELD: itemID\nTIME_FIELD: timestamp\n"
            "filter_out_cod_start_users: True\n"
            f"inter_file_name: '{info['ref_name']}.inter'\n"
            "vision_feature_file: 'image_feat.npy'\ntext_feature_file: 'text_feat.npy'\n"
            "user_graph_dict_file: 'user_graph_dict.npy'\nfield_separator: \"\\t\"\n", encoding="utf-8")
        config = mmrec_config(self.hyper(ctx.dataset), ctx.seed, ctx.epochs)
        (ctx.workdir / "parity_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
        (ctx.workdir / "parity_data.json").write_text(json.dumps(
            {"interactions": counts, "shape": shape, "features_sha256": sha}, indent=1), encoding="utf-8")

    def reference_command(self, ctx: RunContext) -> list[str]:
        # MMRec reads configs/ and ../data/ relative to the working directory: run from src/
        return ["sh", "-c", f"cd src && exec {ctx.python} main.py -m BM3 -d {self.datasets[ctx.dataset]['ref_name']}"]

    def reference_env(self, ctx: RunContext) -> dict[str, str]:
        return {"MPLBACKEND": "Agg", "PARITY_MMREC_CONFIG": str(ctx.workdir / "parity_config.json")}

    def parse_reference(self, ctx: RunContext, log: str) -> list[dict[str, Any]]:
        """The hook's records with MMRec's own valid/test numbers under ``own``; ``loss`` is the
        mean per batch (MMRec's epoch loss is the sum over its batches, kept as ``own.loss_sum``)."""
        records = parse_records(log)
        own = parse_mmrec_log(log)
        n_batches = mmrec_train_batches(log, int(self.hyper(ctx.dataset)["train_batch_size"]))
        for rec in records:
            if rec.get("loss") is not None:
                rec.setdefault("own", {})["loss_sum"] = rec["loss"]
                rec["loss"] = rec["loss"] / n_batches
            mine = own.get(rec["epoch"], {})
            block = {k: mine[k] for k in ("valid", "test") if mine.get(k)}
            if mine.get("selected"):
                block["selected"] = True
            if block:
                rec.setdefault("own", {}).update(block)
        return records

    def ours_config(self, dataset: str) -> dict[str, Any]:
        h, info = self.hyper(dataset), self.datasets[dataset]
        return {"embedding_dim": h["embedding_size"], "num_layers": h["n_layers"], "dropout": h["dropout"],
                "reg_weight": h["reg_weight"], "cl_weight": h["cl_weight"], "lr": h["learning_rate"],
                "batch_size": h["train_batch_size"], "weight_decay": h["weight_decay"],
                "modalities": list(info["modalities"]), "text_encoder": info["text_encoder"],
                "topk": [20], "valid_metric": "recall@20"}


ADAPTER = BM3Adapter()
