"""Benchmark: our LightGCN against RecBole 1.2.1's LightGCN on exactly the same split (ml-100k or Gowalla).

    .venv/bin/python experiments/benchmarks/bench_lightgcn_recbole.py [--epochs 300] [--seed 2020]
        [--same-reg] [--threads 1] [--recbole-decimals 4] [--recbole-eval-batch-size N]
        [--only ours|recbole] [--quick] [--out FILE]

``--dataset gowalla --data-root ../shared/data`` runs the same on the LightGCN
Gowalla split (its train file minus our validation carve-out, its test file).
Our split (``graphcl.data.load("ml-100k")``: 80/10/10 random per user) is written
as RecBole benchmark files (``<name>.{train,valid,test}.inter``, see
``graphcl.interop.recbole_files``) and RecBole is configured with
``benchmark_filename: [train, valid, test]``, so it skips its own filtering and
splitting and uses the three files as train / valid / test. Each library runs in
its own subprocess (peak RSS is its own) with the same settings: embedding size
64, 3 layers, Adam lr 1e-3, batch 2048, one uniform negative per positive,
full-sort evaluation excluding training items (and validation items at test),
Recall/NDCG/Precision/Hit/MRR @10/@20, model selection on valid NDCG@20,
early stopping after 10 evaluations without gain, the same maximum epochs and
seed, and the test metrics of each library's best-validation model.

Regularization keeps each library's default unless ``--same-reg`` is given:
RecBole ``reg_weight`` 1e-5 on the *unsquared* norms,
``λ (||E_u|| + ||E_i|| + ||E_j||) / B`` (``require_pow: False``); ours 1e-4 on the
squared norms, ``λ (||E_u||² + ||E_i||² + ||E_j||²) / (2B)``. ``--same-reg`` gives
RecBole ours: ``reg_weight`` 1e-4 with ``require_pow: True``, which is the same
formula.

RecBole 1.2.1 breakages are handled here only, each scoped:
  * numpy 2 aliases: ``graphcl.interop.recbole_compat.import_recbole``;
  * ``torch.load``'s ``weights_only=True`` default (torch >= 2.6) rejects
    RecBole's own checkpoint (it pickles the Config): the test evaluation
    ``Trainer.evaluate(test, load_best_model=True)`` -- which reloads the
    best-validation checkpoint, as RecBole's quick start does -- runs inside
    ``graphcl.interop.recbole_compat.torch_load_full_pickle``, which defaults
    ``weights_only`` to False and restores ``torch.load`` afterwards (the file
    is the one this run just wrote); RecBole's ``Config`` runs inside
    ``recbole_compat.argv_hidden`` (it would parse our ``--epochs`` etc.);
  * ``LightGCN.get_norm_adj_mat`` calls ``dok_matrix._update``, gone from
    current scipy: a subclass rebuilds the same ``D^-1/2 A D^-1/2`` (same
    ``+1e-7`` on the degrees, float32 COO tensor, same entry order) with
    ``coo_matrix``/``csr_matrix``.
RecBole's tensorboard writer is pointed at the temporary folder (the worker's
working directory), and nothing is written outside it.

Timing: seconds per training epoch (RecBole: its ``_train_epoch``; ours: the
trainer's epoch loop, both including negative sampling, excluding evaluation)
and seconds per full validation evaluation (RecBole: ``_valid_epoch``). By
default RecBole evaluates 1024 users per batch like ours (its default
``eval_batch_size`` 4096 means 4096 *scores*, i.e. 2 users per batch on
ml-100k); ``--recbole-eval-batch-size`` sets it. Both use ``--threads`` torch
threads (default 1: on the shared 2-core machine this was written on, two
threads per process competing with other jobs made epochs 5-30x slower).
RecBole keeps its ``metric_decimal_place`` 4, which also rounds the validation
score its early stopping compares (``--recbole-decimals``).

Results: a Markdown table on stdout and, for a full run, the table plus the
raw JSON in ``experiments/results/lightgcn_vs_recbole_<dataset>.md`` (written
atomically). ``--quick`` runs 3 epochs to check that the script works and
writes no result file unless ``--out`` is given.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from graphcl.interop.recbole_compat import argv_hidden, torch_load_full_pickle
from graphcl.io import atomic_write_text
from harness import REPO


DATASETS = ("ml-100k", "gowalla")


def default_out(dataset: str) -> Path:
    return REPO / "experiments" / "results" / f"lightgcn_vs_recbole_{dataset.replace('-', '')}.md"


def recbole_name(dataset: str) -> str:
    """Not "ml-100k": RecBole would read (or download) its own copy instead of our split."""
    return f"{dataset.replace('-', '')}_graphcl"
METRICS = ("recall", "ndcg", "precision", "hit", "mrr")
TOPK = (10, 20)
VALID_METRIC = "ndcg@20"
COMMON = {"embedding_dim": 64, "num_layers": 3, "lr": 1e-3, "batch_size": 2048,
          "eval_batch_users": 1024}
OUR_REG = 1e-4


# ------------------------------------------------------------------ helpers
def split_fingerprint(dataset) -> str:
    """sha256 over the three split tensors and the id tokens."""
    h = hashlib.sha256()
    for split in ("train", "valid", "test"):
        h.update(split.encode())
        h.update(getattr(dataset, split).contiguous().numpy().tobytes())
    for tokens in (dataset.user_tokens, dataset.item_tokens):
        h.update("\x00".join(tokens or []).encode())
    return h.hexdigest()


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_dataset(args: argparse.Namespace, expected_fingerprint: str | None = None):
    from graphcl.data import load
    ds = load(args.dataset, root=args.data_root)
    if expected_fingerprint is not None and split_fingerprint(ds) != expected_fingerprint:
        raise RuntimeError(f"the {args.dataset} split loaded in the worker differs from the exported one")
    return ds


# --------------------------------------------------------------- our worker
def run_ours(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    torch.set_num_threads(args.threads)
    from graphcl.train import train
    t0 = time.perf_counter()
    ds = load_dataset(args, args.fingerprint)
    config = {
        "epochs": args.epochs, "seed": args.seed, "lr": COMMON["lr"],
        "batch_size": COMMON["batch_size"], "embedding_dim": COMMON["embedding_dim"],
        "num_layers": COMMON["num_layers"], "patience": args.patience,
        "valid_metric": VALID_METRIC, "topk": list(TOPK), "eval_every": 1,
        "eval_batch_size": COMMON["eval_batch_users"], "reg_weight": OUR_REG,
    }
    result = train("lightgcn", ds, config=config, run_dir=Path(args.workdir) / "ours_run",
                   device="cpu", progress=False, verbose=False)
    wall = time.perf_counter() - t0
    return {
        "library": "graphcl", "config": config,
        "seconds_per_epoch": result.seconds_per_epoch, "seconds_per_eval": result.eval_seconds,
        "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
        "best_valid": {k: float(v) for k, v in result.best_valid.items()},
        "test": {k: float(v) for k, v in result.test.items()},
        "wall_seconds": wall, "peak_rss_mib": peak_rss_mib(), "torch_threads": torch.get_num_threads(),
        "valid_history": [[h["epoch"], round(float(h[VALID_METRIC]), 6)] for h in result.history],
    }


# ----------------------------------------------------------- RecBole worker
def recbole_classes():
    """Our two RecBole subclasses, defined after RecBole is imported."""
    import numpy as np
    import scipy.sparse as sp
    import torch

    from graphcl.interop.recbole_compat import import_recbole
    LightGCN = import_recbole("recbole.model.general_recommender.lightgcn").LightGCN
    Trainer = import_recbole("recbole.trainer").Trainer

    class LightGCNScipyCompat(LightGCN):
        """RecBole's LightGCN with ``get_norm_adj_mat`` rebuilt on current scipy.

        Same matrix as RecBole's: the symmetric (U+I) adjacency with every
        observed pair set to 1 (duplicates collapse), degrees counted as
        nonzeros per row plus 1e-7, ``D^-1/2 A D^-1/2``, then a float32 COO
        tensor with entries in row-major order (not coalesced, like RecBole's).
        """

        def get_norm_adj_mat(self):
            inter = self.interaction_matrix
            n = self.n_users + self.n_items
            rows = np.concatenate([inter.row, inter.col + self.n_users])
            cols = np.concatenate([inter.col + self.n_users, inter.row])
            adj = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(n, n))
            adj.sum_duplicates()
            adj.data[:] = 1.0
            degree = np.asarray((adj > 0).sum(axis=1)).ravel() + 1e-7
            d = sp.diags(np.power(degree, -0.5))
            norm = sp.coo_matrix(d @ adj @ d)
            order = np.lexsort((norm.col, norm.row))
            index = torch.as_tensor(np.stack([norm.row[order], norm.col[order]]).astype(np.int64))
            values = torch.as_tensor(norm.data[order], dtype=torch.float32)
            return torch.sparse_coo_tensor(index, values, torch.Size(norm.shape),
                                           check_invariants=False)

    class TimedTrainer(Trainer):
        """RecBole's Trainer, recording the time of each training epoch and
        validation, and the epoch of the last saved (best) checkpoint."""

        def __init__(self, config, model):
            super().__init__(config, model)
            self.train_seconds: list[float] = []
            self.valid_seconds: list[float] = []
            self.valid_history: list[list[float]] = []  # [epoch, valid score]
            self.saved_epoch = -1

        def _train_epoch(self, *a, **kw):
            t0 = time.perf_counter()
            out = super()._train_epoch(*a, **kw)
            self.train_seconds.append(time.perf_counter() - t0)
            return out

        def _valid_epoch(self, *a, **kw):
            t0 = time.perf_counter()
            out = super()._valid_epoch(*a, **kw)
            self.valid_seconds.append(time.perf_counter() - t0)
            self.valid_history.append([len(self.train_seconds) - 1, float(out[0])])
            return out

        def _save_checkpoint(self, epoch, *a, **kw):
            self.saved_epoch = epoch
            return super()._save_checkpoint(epoch, *a, **kw)

    return LightGCNScipyCompat, TimedTrainer


def recbole_config_dict(args: argparse.Namespace, data_path: Path, item_num: int) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "data_path": str(data_path),
        "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id"]},
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id",
        "eval_args": {"mode": "full", "order": "RO", "group_by": "user"},
        "metrics": ["Recall", "NDCG", "Precision", "Hit", "MRR"],
        "topk": list(TOPK), "valid_metric": "NDCG@20", "metric_decimal_place": args.recbole_decimals,
        "epochs": args.epochs, "stopping_step": args.patience, "eval_step": 1,
        "embedding_size": COMMON["embedding_dim"], "n_layers": COMMON["num_layers"],
        "learning_rate": COMMON["lr"], "train_batch_size": COMMON["batch_size"],
        "learner": "adam", "weight_decay": 0.0,
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
        "eval_batch_size": args.recbole_eval_batch_size or COMMON["eval_batch_users"] * item_num,
        "seed": args.seed, "reproducibility": True, "use_gpu": False, "worker": 0,
        "checkpoint_dir": str(Path(args.workdir) / "recbole_saved"),
        "show_progress": False, "save_dataset": False, "save_dataloaders": False, "log_wandb": False,
    }
    if args.same_reg:
        cfg.update({"reg_weight": OUR_REG, "require_pow": True})
    return cfg


def run_recbole(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    torch.set_num_threads(args.threads)
    from graphcl.interop.recbole_compat import import_recbole
    t0 = time.perf_counter()
    os.chdir(args.workdir)  # RecBole's tensorboard writer goes to ./log_tensorboard
    recbole = import_recbole("recbole")
    Config = import_recbole("recbole.config").Config
    rdata = import_recbole("recbole.data")
    init_seed = import_recbole("recbole.utils").init_seed
    LightGCNScipyCompat, TimedTrainer = recbole_classes()

    # our split's sizes, from the parent (loading our dataset here would count in RecBole's RSS)
    num_users, num_items, *expected = (int(x) for x in args.expect.split(","))
    data_path = Path(args.workdir) / "recbole_data"
    with argv_hidden():  # RecBole's Config also parses sys.argv
        config = Config(model="LightGCN", dataset=recbole_name(args.dataset),
                        config_dict=recbole_config_dict(args, data_path, num_items + 1))
    torch.set_num_threads(args.threads)  # in case RecBole changed it
    init_seed(config["seed"], config["reproducibility"])
    dataset = rdata.create_dataset(config)
    train_data, valid_data, test_data = rdata.data_preparation(config, dataset)
    sizes = [len(d._dataset.inter_feat) for d in (train_data, valid_data, test_data)]
    if sizes != expected or dataset.user_num != num_users + 1 or dataset.item_num != num_items + 1:
        raise RuntimeError(f"RecBole read {sizes} interactions, {dataset.user_num - 1} users, "
                           f"{dataset.item_num - 1} items; expected {expected}, {num_users}, {num_items}")
    init_seed(config["seed"], config["reproducibility"])
    model = LightGCNScipyCompat(config, train_data._dataset).to(config["device"])
    trainer = TimedTrainer(config, model)
    _, best_valid = trainer.fit(train_data, valid_data, verbose=False, saved=True,
                                show_progress=False)
    with torch_load_full_pickle():
        test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    # the reloaded model must be the best-validation one: its validation metrics must match
    reloaded_valid = trainer.evaluate(valid_data, load_best_model=False, show_progress=False)
    wall = time.perf_counter() - t0
    mismatch = {k: (float(v), float(reloaded_valid[k])) for k, v in best_valid.items()
                if abs(float(v) - float(reloaded_valid[k])) > 1e-5}
    if mismatch:
        raise RuntimeError(f"RecBole's reloaded checkpoint is not its best-validation model: {mismatch}")
    trainer.tensorboard.close()
    keys = ("embedding_size", "n_layers", "reg_weight", "require_pow", "learning_rate",
            "train_batch_size", "epochs", "stopping_step", "eval_batch_size", "seed", "valid_metric")
    return {
        "library": f"recbole {recbole.__version__}",
        "config": {k: config[k] for k in keys},
        "seconds_per_epoch": sum(trainer.train_seconds) / max(len(trainer.train_seconds), 1),
        "seconds_per_eval": sum(trainer.valid_seconds) / max(len(trainer.valid_seconds), 1),
        "epochs_run": len(trainer.train_seconds), "best_epoch": trainer.saved_epoch,
        "best_valid": {k: float(v) for k, v in best_valid.items()},
        "test": {k: float(v) for k, v in test.items()},
        "wall_seconds": wall, "peak_rss_mib": peak_rss_mib(), "torch_threads": torch.get_num_threads(),
        "valid_history": trainer.valid_history,
    }


# ------------------------------------------------------------------ report
def _f(v: float, digits: int = 4) -> str:
    return f"{v:.{digits}f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def summary_table(results: dict[str, dict[str, Any]]) -> str:
    """The main Markdown table: one row per library plus the RecBole / ours ratios."""
    ours, rb = results["ours"], results["recbole"]
    head = ("| library | s/epoch (train) | s/valid eval | epochs run | best epoch | "
            "test Recall@10 | test NDCG@10 | test Recall@20 | test NDCG@20 | peak RSS MiB | wall s |")
    sep = "|" + "---|" * 11
    rows = [head, sep]
    for r in (ours, rb):
        t = r["test"]
        rows.append(f"| {r['library']} | {_f(r['seconds_per_epoch'], 3)} | {_f(r['seconds_per_eval'], 3)} | "
                    f"{r['epochs_run']} | {r['best_epoch']} | {_f(t['recall@10'])} | {_f(t['ndcg@10'])} | "
                    f"{_f(t['recall@20'])} | {_f(t['ndcg@20'])} | {r['peak_rss_mib']:.0f} | "
                    f"{r['wall_seconds']:.1f} |")
    rows.append(f"| RecBole / ours | {_ratio(rb['seconds_per_epoch'], ours['seconds_per_epoch'])} | "
                f"{_ratio(rb['seconds_per_eval'], ours['seconds_per_eval'])} | "
                f"{_ratio(rb['epochs_run'], ours['epochs_run'])} | | "
                + " | ".join(_ratio(rb['test'][k], ours['test'][k])
                             for k in ("recall@10", "ndcg@10", "recall@20", "ndcg@20"))
                + f" | {_ratio(rb['peak_rss_mib'], ours['peak_rss_mib'])} | "
                f"{_ratio(rb['wall_seconds'], ours['wall_seconds'])} |")
    return "\n".join(rows)


def curve_table(results: dict[str, dict[str, Any]], every: int = 10) -> str:
    """Validation NDCG@20 of both libraries every ``every`` epochs, at each best epoch and
    at each last epoch."""
    ours, rb = results["ours"], results["recbole"]
    curves = [{int(e): float(v) for e, v in r.get("valid_history", [])} for r in (ours, rb)]
    last = max((max(c) for c in curves if c), default=-1)
    epochs = set(range(0, last + 1, every)) | {ours["best_epoch"], rb["best_epoch"]}
    epochs |= {max(c) for c in curves if c}
    rows = [f"| epoch | {ours['library']} | {rb['library']} |", "|---|---|---|"]
    for e in sorted(x for x in epochs if x >= 0):
        cells = []
        for c, r in zip(curves, (ours, rb)):
            mark = " (best)" if e == r["best_epoch"] else ""
            cells.append(f"{c[e]:.4f}{mark}" if e in c else "stopped" if c and e > max(c) else "")
        rows.append(f"| {e} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def markdown_report(results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    ours, rb = results["ours"], results["recbole"]
    metric_keys = [f"{m}@{k}" for m in METRICS for k in TOPK]
    full = ["| library | " + " | ".join(metric_keys) + " |", "|" + "---|" * (len(metric_keys) + 1)]
    for split in ("test", "best_valid"):
        for r in (ours, rb):
            full.append(f"| {r['library']} ({'test' if split == 'test' else 'valid, best epoch'}) | "
                        + " | ".join(_f(r[split].get(k, float('nan'))) for k in metric_keys) + " |")
    lines = [
        f"# LightGCN: graphcl vs RecBole on {meta.get('dataset_name', 'ml-100k')}"
        f"{' (quick smoke run)' if meta['quick'] else ''}",
        "",
        f"- date: {meta['date']}",
        f"- command: `{meta['command']}`",
        (f"- hardware: {meta['cpu_model']}, {meta['cpu_count']} CPUs visible "
        f"({meta['cpus_usable']} usable), torch {meta['torch']} with {meta['threads']} threads, "
        f"numpy {meta['numpy']}, scipy {meta['scipy']}, Python {meta['python']}; machine shared with "
         f"other jobs, so timings are noisy (both libraries ran back to back in one invocation)"),
        f"- data: {meta['dataset']}, split sha256 {meta['fingerprint'][:16]}...",
        (f"- max epochs {meta['epochs']}, early-stopping patience {meta['patience']} evaluations, "
         f"seed {meta['seed']}, regularization: {meta['reg']}"),
        "",
        summary_table(results),
        "",
        "All test metrics (full-sort ranking over all items minus the user's train and valid items):",
        "",
        *full,
        "",
        "Validation NDCG@20 by epoch (0-based; every 10th epoch, the best and the last):",
        "",
        curve_table(results),
        "",
        ("Settings shared by both: embedding 64, 3 layers, Adam lr 1e-3, batch 2048, one uniform "
        "negative per positive, full-sort evaluation (1024 users per batch unless set otherwise), "
        f"model selection on valid NDCG@20, early stopping after {meta['patience']} evaluations "
        "without gain (one evaluation per epoch), test "
        "metrics of each library's best-validation model."),
        "",
        ("Differences that remain (library defaults, kept on purpose): initialization (ours "
        "N(0, 0.1²); RecBole Xavier uniform), regularizer form and weight (see above), early-stop "
        "rule (ours stops at the 10th evaluation without a strict gain; RecBole after the 11th, an "
        f"equal score counts as a gain there, and it compares scores rounded to "
        f"{meta['recbole_decimals']} decimals), RecBole's padding user/item id 0 (isolated nodes "
        "in its graph, never scored), propagation kernel (ours CSR SpMM with a custom backward; "
        "RecBole COO `torch.sparse.mm`). Wall s: the whole worker, data loading included."),
        "",
        "Raw results:",
        "",
        "```json",
        json.dumps({"meta": meta, "results": results}, indent=2, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


# -------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=DATASETS, default="ml-100k",
                   help="our split of this dataset, written as RecBole benchmark files (default ml-100k)")
    p.add_argument("--data-root", default=None, help="folder holding the datasets (gowalla)")
    p.add_argument("--epochs", type=int, default=300, help="maximum epochs for both (default 300)")
    p.add_argument("--seed", type=int, default=2020, help="training seed for both (default 2020)")
    p.add_argument("--patience", type=int, default=10,
                   help="early stopping for both: ours `patience`, RecBole `stopping_step` (default 10)")
    p.add_argument("--same-reg", action="store_true",
                   help="give RecBole our regularizer (reg_weight 1e-4, squared norms / 2B)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for both (default 1: on a shared 2-core machine more threads "
                        "than free cores made epochs 5-30x slower and far noisier)")
    p.add_argument("--recbole-eval-batch-size", type=int, default=None,
                   help="RecBole eval_batch_size in scores (default: 1024 users x its item count)")
    p.add_argument("--recbole-decimals", type=int, default=4,
                   help="RecBole metric_decimal_place (default 4, its own): it rounds the metrics, "
                        "including the validation score its early stopping compares")
    p.add_argument("--quick", action="store_true", help="3-epoch smoke run; no result file unless --out")
    p.add_argument("--out", type=Path, default=None,
                   help="result file (default experiments/results/lightgcn_vs_recbole_<dataset>.md)")
    p.add_argument("--only", choices=("ours", "recbole"), default=None, help="run one library only")
    p.add_argument("--rerender", type=Path, default=None,
                   help="rewrite an existing result file from its raw JSON (no training)")
    # internal: worker mode
    p.add_argument("--worker", choices=("ours", "recbole"), help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--fingerprint", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    p.add_argument("--expect", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick and args.epochs == 300:
        args.epochs = 3
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    return args


def worker_main(args: argparse.Namespace) -> None:
    if args.worker == "ours":
        out = run_ours(args)
    else:
        import warnings
        with warnings.catch_warnings():  # pandas / torch deprecation noise raised inside RecBole
            warnings.filterwarnings("ignore", module=r"recbole(\.|$)")
            out = run_recbole(args)
    Path(args.result_file).write_text(json.dumps(out))


def run_worker(which: str, args: argparse.Namespace, workdir: Path, fingerprint: str,
               expect: str) -> dict[str, Any]:
    result_file = workdir / f"{which}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", which, "--workdir", str(workdir),
           "--fingerprint", fingerprint, "--result-file", str(result_file), "--epochs", str(args.epochs),
           "--seed", str(args.seed), "--threads", str(args.threads), "--expect", expect,
           "--patience", str(args.patience), "--dataset", args.dataset]
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    if args.same_reg:
        cmd.append("--same-reg")
    cmd += ["--recbole-decimals", str(args.recbole_decimals)]
    if args.recbole_eval_batch_size:
        cmd += ["--recbole-eval-batch-size", str(args.recbole_eval_batch_size)]
    print(f"# running {which} ...", file=sys.stderr, flush=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(cmd, cwd=REPO, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the {which} worker failed with exit status {proc.returncode}")
    result = json.loads(result_file.read_text())
    print(f"# {which}: {result['epochs_run']} epochs, {result['seconds_per_epoch']:.3f} s/epoch, "
          f"test ndcg@20 {result['test']['ndcg@20']:.4f}", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker_main(args)
        return
    if args.rerender is not None:
        text = args.rerender.read_text(encoding="utf-8")
        raw = json.loads(text.split("```json", 1)[1].split("```", 1)[0])
        atomic_write_text(args.rerender, markdown_report(raw["results"], raw["meta"]))
        print(f"# rewrote {args.rerender}", file=sys.stderr)
        return
    import numpy
    import scipy
    import torch

    from graphcl.interop.recbole_files import write_recbole_benchmark

    ds = load_dataset(args)
    fingerprint = split_fingerprint(ds)
    expect = ",".join(str(n) for n in (ds.num_users, ds.num_items, *(ds.num_interactions(s)
                                                                       for s in ("train", "valid", "test"))))
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_lightgcn_recbole_") as tmp:
        workdir = Path(tmp)
        write_recbole_benchmark(ds, workdir / "recbole_data", recbole_name(args.dataset))
        for which in ("ours", "recbole"):
            if args.only in (None, which):
                results[which] = run_worker(which, args, workdir, fingerprint, expect)
    if args.only:
        print(json.dumps(results, indent=2))
        return
    reg = ("same for both (--same-reg): 1e-4 x (squared norms)/(2B)" if args.same_reg else
           "library defaults: ours 1e-4 x (squared norms)/(2B), RecBole 1e-5 x (unsquared norms)/B")
    command = " ".join([".venv/bin/python", "experiments/benchmarks/bench_lightgcn_recbole.py", *sys.argv[1:]])
    meta = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command, "quick": args.quick, "dataset": str(ds), "dataset_name": args.dataset, "fingerprint": fingerprint,
        "epochs": args.epochs, "seed": args.seed, "same_reg": args.same_reg, "reg": reg,
        "patience": args.patience,
        "recbole_decimals": args.recbole_decimals,
        "recbole_eval_batch_size": args.recbole_eval_batch_size or "1024 users x item count",
        "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": args.threads, "torch": torch.__version__, "numpy": numpy.__version__,
        "scipy": scipy.__version__, "python": platform.python_version(), "platform": platform.platform(),
    }
    report = markdown_report(results, meta)
    print(summary_table(results))
    out = args.out if args.out is not None else (None if args.quick else default_out(args.dataset))
    if out is not None:
        atomic_write_text(out, report)
        print(f"# wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
