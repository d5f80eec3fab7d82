"""Benchmark: LightGCL against LightGCN at equal epochs, on our loop and splits.

    .venv/bin/python experiments/bench_lightgcl_vs_lightgcn.py [--epochs 30]
        [--datasets ml-100k[,gowalla]] [--data-root /work/shared/data] [--gowalla-epochs 2]
        [--threads 1] [--seed 2020] [--variant NAME:key=value[,key=value]]... [--quick] [--out FILE]

For each dataset and method, one subprocess (so peak RSS is that run's own) calls
``graphcl.train.train(method, dataset, config=..., run_dir=<tmp>, verbose=False)``
with each method's registered defaults (LightGCL: d 64, 2 layers, q 5, τ 0.2,
λ1 0.2, λ2 1e-7, batch 4096, plus the authors' per-dataset settings of
``LIGHTGCL_DATASET_SETTINGS``, e.g. λ2 0 on Gowalla; LightGCN: d 64, 3 layers,
batch 2048, reg 1e-4), the same number of epochs, the same seed, validation
every epoch, no early stopping (patience = epochs), and reports the test
Recall@20 / NDCG@20 of the best-validation (NDCG@20) model, seconds per training
epoch (excluding evaluation) and the process's peak RSS.

``--variant``: an extra LightGCL row with config overrides on top of the
defaults, e.g. ``--variant "tau0.5:temperature=0.5"`` (the authors' ML-10M
temperature); values are read as YAML scalars.

``--quick``: 1 epoch; Gowalla is then cut to its first 3,000 users (and the items
they touch) so the smoke run takes minutes: it checks the code path, its numbers
mean nothing. A quick run writes no result file unless ``--out`` is given.
Results: Markdown table on stdout and in
``experiments/results/lightgcl_vs_lightgcn.md``. Timings on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import datetime as _dt
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

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_OUT = REPO / "experiments" / "results" / "lightgcl_vs_lightgcn.md"
METHODS = ("lightgcn", "lightgcl")
QUICK_USERS = 3000


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_data(name: str, root: str | None, quick: bool):
    from graphcl.data import load
    ds = load(name, root=root) if root else load(name)
    if quick and ds.num_users > QUICK_USERS:
        ds = subsample_users(ds, QUICK_USERS)
    return ds


def subsample_users(ds, num_users: int):
    """The first ``num_users`` users (see ``InteractionDataset.first_users``)."""
    return ds.first_users(num_users)


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    torch.set_num_threads(args.threads)
    from graphcl.models.rec.lightgcl import LIGHTGCL_DATASET_SETTINGS
    from graphcl.train import train
    ds = load_data(args.dataset, args.data_root, args.quick)
    config: dict[str, Any] = {"epochs": args.epochs, "patience": args.epochs, "seed": args.seed,
                              "eval_every": 1, "valid_metric": "ndcg@20", "topk": [10, 20]}
    if args.method == "lightgcl":
        config.update(LIGHTGCL_DATASET_SETTINGS.get(args.dataset, {}))
        config.update(json.loads(args.overrides or "{}"))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = train(args.method, ds, config=config, run_dir=Path(tmp) / "run", device="cpu",
                    verbose=False, progress=False)
    label = args.method + (f" [{args.label}]" if args.label else "")
    return {"method": label, "dataset": args.dataset, "data": repr(ds), "config": config,
            "test": {k: float(v) for k, v in res.test.items()},
            "best_valid": {k: float(v) for k, v in res.best_valid.items()},
            "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
            "seconds_per_epoch": res.seconds_per_epoch, "eval_seconds": res.eval_seconds,
            "wall_seconds": time.perf_counter() - t0, "peak_rss_mib": peak_rss_mib(),
            "threads": torch.get_num_threads(),
            "valid_history": [[h["epoch"], round(float(h["ndcg@20"]), 5)] for h in res.history]}


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"name:key=value,key=value"`` -> ``(name, {key: value})``."""
    from graphcl.config import parse_set_options
    name, _, sets = text.partition(":")
    if not name or not sets:
        raise SystemExit(f"--variant expects NAME:key=value[,key=value], got {text!r}")
    return name, parse_set_options(sets.split(","))


def spawn(method: str, dataset: str, epochs: int, args: argparse.Namespace,
          label: str = "", overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--dataset", dataset,
               "--result-file", str(out), "--epochs", str(epochs), "--seed", str(args.seed),
               "--threads", str(args.threads)]
        if args.data_root:
            cmd += ["--data-root", args.data_root]
        if args.quick:
            cmd.append("--quick")
        if label:
            cmd += ["--label", label, "--overrides", json.dumps(overrides or {})]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{method} on {dataset} failed:\n{proc.stderr[-4000:]}")
        return json.loads(out.read_text())


def table(results: list[dict[str, Any]]) -> str:
    head = ("| dataset | method | epochs | best epoch | test Recall@20 | test NDCG@20 | s/epoch | "
            "peak RSS MiB |")
    rows = [head, "|" + "---|" * 8]
    for r in results:
        rows.append(f"| {r['dataset']} | {r['method']} | {r['epochs_run']} | {r['best_epoch']} | "
                    f"{r['test']['recall@20']:.4f} | {r['test']['ndcg@20']:.4f} | "
                    f"{r['seconds_per_epoch']:.2f} | {r['peak_rss_mib']:.0f} |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=30, help="epochs on ml-100k (and any dataset but gowalla)")
    p.add_argument("--gowalla-epochs", type=int, default=2)
    p.add_argument("--datasets", default="ml-100k", help="comma-separated, e.g. ml-100k,gowalla")
    p.add_argument("--data-root", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--variant", action="append", default=[], help="extra LightGCL row NAME:key=value,...")
    p.add_argument("--label", default="", help=argparse.SUPPRESS)
    p.add_argument("--overrides", default="", help=argparse.SUPPRESS)
    p.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--dataset", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.method = args.worker
        Path(args.result_file).write_text(json.dumps(run_worker(args)))
        return

    results = []
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        epochs = 1 if args.quick else (args.gowalla_epochs if dataset == "gowalla" else args.epochs)
        for method in METHODS:
            print(f"running {method} on {dataset} for {epochs} epoch(s) ...", file=sys.stderr, flush=True)
            results.append(spawn(method, dataset, epochs, args))
        for name, overrides in map(parse_variant, args.variant):
            print(f"running lightgcl [{name}] on {dataset} for {epochs} epoch(s) ...", file=sys.stderr, flush=True)
            results.append(spawn("lightgcl", dataset, epochs, args, label=name, overrides=overrides))
    import torch
    command = " ".join(["python", "experiments/bench_lightgcl_vs_lightgcn.py", *sys.argv[1:]])
    text = "\n".join([
        f"# LightGCL vs LightGCN at equal epochs{' (quick smoke run)' if args.quick else ''}", "",
        f"- date: {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- command: `{command}`",
        (f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
         f"{torch.__version__}, {args.threads} thread(s) per run; shared with other jobs, timings noisy"),
        (f"- protocol: our splits, each method's registered defaults (+ LightGCL's per-dataset settings), "
         f"seed {args.seed}, validation every epoch, no early stopping, test of the best-validation "
         f"(NDCG@20) epoch; full-sort ranking excluding train (and valid) items"),
        "", table(results), "",
        "Data: " + "; ".join(sorted({f"{r['dataset']}: {r['data']}" for r in results})), "",
        "Raw results:", "", "```json", json.dumps(results, indent=1), "```", ""])
    print(table(results))
    if not args.quick or args.out:
        out = Path(args.out) if args.out else DEFAULT_OUT
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, out)
        print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
