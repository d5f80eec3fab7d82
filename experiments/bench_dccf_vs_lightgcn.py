"""Benchmark: DCCF against LightGCN at equal epochs on ml-100k; DCCF timing on Gowalla.

    .venv/bin/python experiments/bench_dccf_vs_lightgcn.py [--epochs 20] [--gowalla-epochs 0] [--gowalla-batches 0]
        [--data-root /work/shared/data] [--threads 1] [--seed 2020] [--quick] [--out FILE]

ml-100k (``--epochs E``, 0 skips it): three runs, each in its own subprocess (so the
peak RSS is that run's own) through ``graphcl.train.train(method, "ml-100k", config=...)``
with the registered defaults, ``E`` epochs, the same seed, validation every epoch and
no early stopping (patience = E); reported: test Recall@20 / NDCG@20 of the
best-validation (NDCG@20) model, seconds per training epoch (excluding evaluation),
peak RSS.

* ``lightgcn``: d 64, 3 layers, batch 2048, one pass over the training pairs per epoch;
* ``dccf``: the authors' settings, 40 sampled batches of 10240 triples per epoch
  (409,600 triples: ~5 passes over ml-100k's 80,808 training pairs, so an "epoch"
  holds ~5x LightGCN's samples, the same number of optimizer steps: 40);
* ``dccf [one pass]``: ``batches_per_epoch=0``, one pass over the training pairs per
  epoch (8 steps of 10240), the same samples per epoch as LightGCN.

Gowalla (``--gowalla-epochs N``, default 0 = skip): DCCF with its defaults for ``N``
epochs on the LightGCN split (``--data-root``), evaluation after the last epoch
only; reported: s/epoch and peak RSS (its metrics after N epochs mean little).

Results accumulate in ``experiments/results/dccf_vs_lightgcn.json`` (one entry per
section, so the two modes can run separately) and are rendered to
``experiments/results/dccf_vs_lightgcn.md`` with the paper's figures beside.
``--quick``: 1 epoch, 2 batches per DCCF epoch, Gowalla cut to its first 2,000 users;
a smoke test of the code path that writes nothing unless ``--out`` is given.
Timings on this shared 2-core machine are noisy; "process CPU s" (user + system time
of the whole worker: loading, training, evaluation) is less sensitive to other jobs than
the wall-clock s/epoch.
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

RESULTS = REPO / "experiments" / "results"
DEFAULT_MD = RESULTS / "dccf_vs_lightgcn.md"
QUICK_USERS = 2000

#: DCCF paper (Ren et al., SIGIR 2023), Table 2 (Recall@20, NDCG@20) and its timing
PAPER = {"gowalla": (0.1876, 0.1123), "amazon-book": (0.0889, 0.0680), "tmall": (0.0668, 0.0469)}
PAPER_SECONDS_GOWALLA = 12.4  # per epoch, RTX 3090


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far (less sensitive than wall time to other
    jobs on a shared machine)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def subsample_users(ds, num_users: int):
    """The first ``num_users`` users (see ``InteractionDataset.first_users``)."""
    return ds.first_users(num_users)


# ---------------------------------------------------------------------- worker
def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    torch.set_num_threads(args.threads)
    from graphcl.data import load
    from graphcl.train import train
    ds = load(args.dataset, root=args.data_root) if args.data_root else load(args.dataset)
    if args.quick and ds.num_users > QUICK_USERS:
        ds = subsample_users(ds, QUICK_USERS)
    rss_data = peak_rss_mib()
    config: dict[str, Any] = {"epochs": args.epochs, "patience": max(args.epochs, 1), "seed": args.seed,
                              "eval_every": args.eval_every, "valid_metric": "ndcg@20", "topk": [10, 20]}
    config.update(json.loads(args.overrides or "{}"))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = train(args.method, ds, config=config, run_dir=Path(tmp) / "run", device="cpu",
                    verbose=False, progress=False)
    return {"method": args.method + (f" [{args.label}]" if args.label else ""),
            "dataset": args.dataset, "data": repr(ds), "config": config,
            "test": {k: float(v) for k, v in res.test.items()},
            "best_valid": {k: float(v) for k, v in res.best_valid.items()},
            "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
            "seconds_per_epoch": res.seconds_per_epoch, "eval_seconds": res.eval_seconds,
            "wall_seconds": time.perf_counter() - t0, "peak_rss_mib": peak_rss_mib(),
            "cpu_seconds": _cpu_seconds(),
            "rss_after_loading_mib": rss_data, "threads": torch.get_num_threads(),
            "valid_history": [[h["epoch"], round(float(h["ndcg@20"]), 5)] for h in res.history]}


def spawn(method: str, dataset: str, epochs: int, args: argparse.Namespace, label: str = "",
          overrides: dict[str, Any] | None = None, eval_every: int = 1) -> dict[str, Any]:
    print(f"running {method}{f' [{label}]' if label else ''} on {dataset} for {epochs} epoch(s) ...",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--dataset", dataset,
               "--result-file", str(out), "--epochs", str(epochs), "--seed", str(args.seed),
               "--threads", str(args.threads), "--eval-every", str(eval_every),
               "--overrides", json.dumps(overrides or {})]
        if args.data_root:
            cmd += ["--data-root", args.data_root]
        if args.quick:
            cmd.append("--quick")
        if label:
            cmd += ["--label", label]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{method} on {dataset} failed:\n{proc.stderr[-4000:]}")
        return json.loads(out.read_text())


# --------------------------------------------------------------------- report
def _row(r: dict[str, Any]) -> str:
    t = r["test"]
    cpu = f"{r['cpu_seconds']:.0f}" if "cpu_seconds" in r else "-"
    return (f"| {r['dataset']} | {r['method']} | {r['epochs_run']} | {r['best_epoch']} | "
            f"{t.get('recall@20', float('nan')):.4f} | {t.get('ndcg@20', float('nan')):.4f} | "
            f"{r['seconds_per_epoch']:.2f} | {r['peak_rss_mib']:.0f} | {cpu} |")


def render(sections: dict[str, Any]) -> str:
    head = ("| dataset | method | epochs | best epoch | test Recall@20 | test NDCG@20 | s/epoch | "
            "peak RSS MiB | process CPU s |\n|" + "---|" * 9)
    lines = ["# DCCF vs LightGCN", ""]
    for name, sec in sections.items():
        lines += [f"## {name}", "", f"- date: {sec['date']}", f"- command: `{sec['command']}`",
                  f"- machine: {sec['machine']}", f"- protocol: {sec['protocol']}", "", head]
        lines += [_row(r) for r in sec["results"]]
        lines += [""] + [f"Note: {n}" for n in sec.get("notes", [])] + [""]
        lines += ["Data: " + "; ".join(sorted({f"{r['dataset']}: {r['data']}" for r in sec["results"]})), ""]
    lines += ["## Paper (Ren et al., SIGIR 2023, Table 2; their splits, last-epoch model, GPU)", "",
              "| dataset | Recall@20 | NDCG@20 |", "|---|---|---|"]
    lines += [f"| {d} | {r:.4f} | {n:.4f} |" for d, (r, n) in PAPER.items()]
    lines += ["", f"Paper timing: {PAPER_SECONDS_GOWALLA} s/epoch on Gowalla (RTX 3090). The paper's Gowalla "
              "split differs from the LightGCN split used here, and it reports no ml-100k numbers, so no row "
              "above is directly comparable to the paper.", ""]
    lines += ["Raw results:", "", "```json", json.dumps(sections, indent=1), "```", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20, help="epochs on ml-100k (0: skip the comparison)")
    p.add_argument("--gowalla-epochs", type=int, default=0, help="DCCF epochs on Gowalla (0: skip)")
    p.add_argument("--gowalla-batches", type=int, default=0,
                   help="batches per Gowalla epoch (0: DCCF's 40); fewer gives a partial epoch whose time "
                        "is also reported scaled to 40 batches")
    p.add_argument("--data-root", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None, help="Markdown output (default experiments/results/...md)")
    p.add_argument("--worker", choices=("lightgcn", "dccf"), help=argparse.SUPPRESS)
    p.add_argument("--dataset", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    p.add_argument("--label", default="", help=argparse.SUPPRESS)
    p.add_argument("--overrides", default="", help=argparse.SUPPRESS)
    p.add_argument("--eval-every", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.method = args.worker
        Path(args.result_file).write_text(json.dumps(run_worker(args)))
        return

    import torch
    quick_dccf = {"batches_per_epoch": 2} if args.quick else {}
    command = " ".join(["python", "experiments/bench_dccf_vs_lightgcn.py", *sys.argv[1:]])
    common = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "command": command,
              "machine": (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
                          f"{torch.__version__}, {args.threads} thread(s) per run, runs one after another; "
                          f"shared with other jobs, timings noisy")}
    sections: dict[str, Any] = {}
    if args.epochs > 0:
        e = 1 if args.quick else args.epochs
        results = [spawn("lightgcn", "ml-100k", e, args),
                   spawn("dccf", "ml-100k", e, args, overrides=quick_dccf),
                   spawn("dccf", "ml-100k", e, args, label="one pass", overrides={"batches_per_epoch": 0})]
        sections["ml-100k: equal epochs"] = {**common, "results": results, "protocol": (
            f"our random 80/10/10 split, registered defaults, seed {args.seed}, {e} epochs, validation every "
            f"epoch, no early stopping, test metrics of the best-validation (NDCG@20) epoch, full-sort ranking "
            f"excluding train (and valid) items"), "notes": [
            "a DCCF epoch (authors' sampling: 40 batches x 10240 triples, uniform user then uniform positive) "
            "holds 409,600 triples, ~5 passes over the 80,808 training pairs, in 40 optimizer steps; LightGCN "
            "(batch 2048) and `dccf [one pass]` (batches_per_epoch=0) see each training pair once per epoch, "
            "in 40 and 8 steps."]}
    if args.gowalla_epochs > 0:
        n = 1 if args.quick else args.gowalla_epochs
        per_epoch = 2 if args.quick else (args.gowalla_batches or 40)
        res = spawn("dccf", "gowalla", n, args, overrides={"batches_per_epoch": per_epoch}, eval_every=0)
        notes = []
        if per_epoch != 40:
            scaled = res["seconds_per_epoch"] * 40 / per_epoch
            res["seconds_per_40_batches"] = scaled
            notes.append(f"partial epochs of {per_epoch} of DCCF's 40 batches: the s/epoch column is for "
                         f"{per_epoch} batches; scaled to a full epoch (40 x 10240 triples): {scaled:.0f} s")
        sections["gowalla: DCCF timing"] = {**common, "results": [res], "protocol": (
            f"LightGCN split (validation carved from train), DCCF defaults (40 x 10240 triples per epoch), "
            f"{n} epoch(s), seed {args.seed}, evaluation after the last epoch only; s/epoch is training only, "
            f"peak RSS of the whole process (data loading and evaluation included)"), "notes": notes + [
            f"paper: {PAPER_SECONDS_GOWALLA} s/epoch on an RTX 3090 and Recall@20 / NDCG@20 "
            f"{PAPER['gowalla'][0]} / {PAPER['gowalla'][1]} after 150 epochs on its own split; the metrics "
            f"here after {n} epoch(s) only show that the run works."]}
    for sec in sections.values():
        for r in sec["results"]:
            print(_row(r))
    if args.quick and not args.out:
        return
    store = RESULTS / "dccf_vs_lightgcn.json"
    old = json.loads(store.read_text()) if store.exists() and not args.out else {}
    old.update(sections)
    out = Path(args.out) if args.out else DEFAULT_MD
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.out:
        store.write_text(json.dumps(old, indent=1))
    tmp = out.with_suffix(".tmp")
    tmp.write_text(render(old))
    os.replace(tmp, out)
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
