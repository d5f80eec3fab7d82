"""Node clustering with SCGC* and PamC (soft and hard meta-nodes) over training seeds.

    python experiments/pamc_clustering.py --variants scgc pamc pamc-hard
        --datasets cora citeseer --seeds 0 1 2 [--epochs N] [--data-root ../shared/data]
        [--pretrain-cache runs/pretrain_cache] [--out experiments/results/pamc_clustering.md]

Each (variant, dataset, seed) is ``graphcl.train.build_trainer(method, dataset,
config={"seed": s, "pretrain_cache": ..., **variant overrides}).fit()`` with the
dataset given by name, so the method's per-dataset preset applies (the authors'
README settings: see ``graphcl/models/node/{scgc,pamc}.py``). Variants:
``scgc`` = SCGC* (pairwise loss), ``pamc`` = PamC with soft meta-nodes (the paper,
our default), ``pamc-hard`` = PamC with the authors' argmax meta-nodes.

Evaluation: the ``cluster`` task after the final epoch (no selection): ACC
(Hungarian), NMI, ARI and macro-F1 of argmax Q, and of k-means on the
embeddings (5 k-means seeds). Table: mean ± std over training seeds.

Finished runs are kept in ``<out>.runs.json``; every invocation adds its runs
to those already there (same ``--epochs``) and rewrites the table from all of
them, so a long sweep can run as several short jobs.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_OUT = REPO / "experiments" / "results" / "pamc_clustering.md"
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "scgc": ("scgc", {}),
    "pamc": ("pamc", {}),
    "pamc-hard": ("pamc", {"assignment": "hard"}),
}
METRICS = ("acc", "nmi", "ari", "f1")


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fmt(values: list[float]) -> str:
    if not values:
        return "–"
    vals = [100 * v for v in values]
    return f"{statistics.fmean(vals):.2f} ± {statistics.stdev(vals) if len(vals) > 1 else 0.0:.2f}"


def run_one(variant: str, dataset: str, seed: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from graphcl.train import build_trainer
    method, overrides = VARIANTS[variant]
    config: dict[str, Any] = {"seed": seed, "pretrain_cache": str(args.pretrain_cache), **overrides}
    if args.epochs is not None:
        config["epochs"] = args.epochs
    t0 = time.perf_counter()
    trainer = build_trainer(method, dataset, config=config, data_root=args.data_root,
                            run_dir=tmp / f"{variant}-{dataset}-{seed}", device=args.device, verbose=False)
    result = trainer.fit()
    return {"variant": variant, "dataset": dataset, "seed": seed, "test": dict(result.test),
            "epochs_run": result.epochs_run, "seconds_per_epoch": result.seconds_per_epoch,
            "pretrain_seconds": float(trainer.model.pretrain_seconds),
            "pretrain_cached": bool(trainer.model.pretrain_cached),
            "config": {k: trainer.config[k] for k in ("alpha", "beta", "tau", "order", "lr", "epochs")},
            "wall_seconds": time.perf_counter() - t0}


def table(runs: list[dict[str, Any]]) -> str:
    cols = ["Variant", "Dataset", "Seeds", "ACC", "NMI", "ARI", "F1", "k-means ACC", "k-means NMI",
            "k-means ARI", "k-means F1", "clusters used", "s/epoch", "settings (α, β, τ, r, lr)"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    keys = sorted({(r["variant"], r["dataset"]) for r in runs},
                  key=lambda k: (k[1], list(VARIANTS).index(k[0])))
    for variant, dataset in keys:
        rs = sorted((r for r in runs if r["variant"] == variant and r["dataset"] == dataset),
                    key=lambda r: r["seed"])
        c = rs[0]["config"]
        cells = [variant, dataset, ",".join(str(r["seed"]) for r in rs)]
        cells += [fmt([r["test"][m] for r in rs]) for m in METRICS]
        cells += [fmt([r["test"][f"kmeans_{m}"] for r in rs]) for m in METRICS]
        cells.append(",".join(str(int(r["test"]["clusters_used"])) for r in rs))
        cells.append(f"{statistics.fmean(r['seconds_per_epoch'] for r in rs):.2f}")
        cells.append(f"{c['alpha']:g}, {c['beta']:g}, {c['tau']:g}, {c['order']}, {c['lr']:g}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(runs: list[dict[str, Any]], commands: list[str], epochs: int | None) -> str:
    import torch
    ep = f"{epochs}" if epochs is not None else "200 (the authors' setting, every preset)"
    return "\n".join([
        "# Node clustering: SCGC* and PamC",
        "",
        f"- Date: {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}; {os.cpu_count()} CPU cores shared with "
        f"other jobs ({platform.machine()}), torch {torch.__version__}, 1 thread: s/epoch is noisy.",
        f"- Protocol: the method's per-dataset preset, {ep} epochs, autoencoder pretrained per seed "
        "(SDCN's 30 epochs; SCGC* and PamC of one seed share it through the pretraining cache), "
        "centres by k-means on the pretrained embeddings. Metrics after the **final epoch** (no model "
        "selection, no labels used): ACC/NMI/ARI/F1 of argmax Q (the methods' own clusters) and of "
        "k-means on the embeddings (mean of 5 k-means seeds). Mean ± std (%) over training seeds.",
        "- Commands: " + "; ".join(f"`{c}`" for c in commands),
        "",
        table(runs),
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help="override the presets' 200 epochs")
    p.add_argument("--data-root", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--pretrain-cache", type=Path, default=REPO / "runs" / "pretrain_cache")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    command = " ".join(["python", "experiments/pamc_clustering.py"]
                       + [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)])
    runs_path = args.out.with_suffix(args.out.suffix + ".runs.json")
    saved = json.loads(runs_path.read_text()) if runs_path.exists() else {}
    if saved and saved.get("epochs") != args.epochs:
        print(f"{runs_path} holds runs with epochs={saved.get('epochs')}: use another --out", file=sys.stderr)
        return 2
    runs: list[dict[str, Any]] = saved.get("runs", [])
    commands: list[str] = saved.get("commands", [])
    if command not in commands:
        commands.append(command)
    done = {(r["variant"], r["dataset"], r["seed"]) for r in runs}
    with tempfile.TemporaryDirectory(prefix="graphcl-pamc-") as tmp:
        for seed in args.seeds:
            for dataset in args.datasets:
                for variant in args.variants:
                    if (variant, dataset, seed) in done:
                        print(f"[have] {variant} {dataset} seed {seed}", flush=True)
                        continue
                    print(f"[run] {variant} {dataset} seed {seed} ...", flush=True)
                    row = run_one(variant, dataset, seed, args, Path(tmp))
                    runs.append(row)
                    t = row["test"]
                    print(f"[done] {variant} {dataset} seed {seed}: " + " ".join(
                        f"{m} {100 * t[m]:.2f}" for m in METRICS)
                        + f" | k-means acc {100 * t['kmeans_acc']:.2f} | {row['seconds_per_epoch']:.2f} s/epoch, "
                        f"pretrain {row['pretrain_seconds']:.0f} s{' (cached)' if row['pretrain_cached'] else ''}",
                        flush=True)
                    atomic_write(runs_path, json.dumps({"epochs": args.epochs, "commands": commands,
                                                        "runs": runs}, indent=1))
                    atomic_write(args.out, report(runs, commands, args.epochs))
    atomic_write(runs_path, json.dumps({"epochs": args.epochs, "commands": commands, "runs": runs}, indent=1))
    text = report(runs, commands, args.epochs)
    atomic_write(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
