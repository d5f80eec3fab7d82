"""Node classification (and optionally clustering) of GRACE / CSGCL on Cora and CiteSeer.

    .venv/bin/python experiments/node_classification.py --methods grace csgcl
        --datasets cora citeseer --seeds 0 1 2 [--epochs N] [--eval-every K] [--cluster]
        [--set KEY=VALUE ...] [--data-root /work/shared/data]
        [--out experiments/results/node_classification.md]

For each (method, dataset, training seed) this calls
``graphcl.train.train(method, dataset, config={"seed": s, "cluster": ...}, run_dir=<tmp>)``
(plus ``epochs`` when ``--epochs`` is given, and ``--set`` overrides). Without
``--eval-every`` the model after the last epoch is tested (the papers' protocol);
with ``--eval-every K`` the probe's validation accuracy is measured every K epochs
and the best checkpoint is tested (model selection on validation). Datasets are given by name, so each
method's per-dataset preset (the GRACE paper's settings; CSGCL reuses them on
Cora/CiteSeer, i.e. the same budget) applies. The evaluation is the package's
node task: a logistic-regression probe on the frozen embeddings over random
10/10/80 splits, 5 probe seeds, each probe's classifier chosen on validation,
test accuracy averaged over the probe seeds; with ``--cluster`` also k-means
ACC/NMI/ARI (5 k-means seeds).

Reported per (method, dataset): mean ± std over training seeds of the probe test
accuracy, macro-F1, clustering metrics, seconds per training epoch and epochs.
The Markdown table is printed and written atomically to ``--out``. Results of
finished runs are also kept in ``<out>.runs.json`` (rewritten after each run);
``--resume`` reuses them (when ``--epochs``/``--cluster`` match) and runs the rest.
Runs go seed by seed, so an interrupted sweep still covers every (method, dataset).
Timings on a shared machine are noisy.
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

DEFAULT_OUT = REPO / "experiments" / "results" / "node_classification.md"

# Paper test accuracy (%), linear probe, random 10% train split.
PAPER_ACC: dict[tuple[str, str], float | None] = {
    ("grace", "cora"): 83.3,      # GRACE paper (Zhu et al., 2020), Table 2
    ("grace", "citeseer"): 72.1,
    ("csgcl", "cora"): None,      # CSGCL paper reports no Cora/CiteSeer number
    ("csgcl", "citeseer"): None,
}


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


def mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt_pct(values: list[float]) -> str:
    if not values:
        return "–"
    m, s = mean_std([100 * v for v in values])
    return f"{m:.2f} ± {s:.2f}"


def run_one(method: str, dataset: str, seed: int, args: argparse.Namespace, tmp_root: Path) -> dict[str, Any]:
    from graphcl.train import train
    config: dict[str, Any] = {"seed": seed, "cluster": bool(args.cluster),
                              "probe_normalize": args.probe_normalize}
    if args.epochs is not None:
        config["epochs"] = int(args.epochs)
    if args.eval_every:
        # validation-selected checkpoint: evaluate every N epochs (and after the last one),
        # keep the best validation accuracy, test that model; no early stop
        config["eval_every"] = int(args.eval_every)
        config["patience"] = 10 ** 9
    config.update(args.overrides)
    run_dir = tmp_root / f"{method}-{dataset}-seed{seed}"
    t0 = time.perf_counter()
    res = train(method, dataset, config=config, data_root=args.data_root, run_dir=run_dir,
                device=args.device, verbose=False)
    wall = time.perf_counter() - t0
    row = {"method": method, "dataset": dataset, "seed": seed, "test": dict(res.test),
           "best_valid": dict(res.best_valid), "epochs_run": int(res.epochs_run),
           "best_epoch": int(res.best_epoch),
           "seconds_per_epoch": float(res.seconds_per_epoch), "wall_seconds": wall}
    return row


def summarize(runs: list[dict[str, Any]], methods: list[str], datasets: list[str],
              cluster: bool) -> str:
    cols = ["Method", "Dataset", "Seeds", "Probe acc (%)", "Paper acc (%)", "Macro-F1 (%)"]
    if cluster:
        cols += ["k-means ACC (%)", "NMI (%)", "ARI (%)"]
    cols += ["s/epoch", "Epochs"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for method in methods:
        for dataset in datasets:
            rs = [r for r in runs if r["method"] == method and r["dataset"] == dataset]
            if not rs:
                continue
            paper = PAPER_ACC.get((method, dataset))
            cells = [method.upper(), dataset, ",".join(str(r["seed"]) for r in rs),
                     fmt_pct([r["test"]["acc"] for r in rs]),
                     f"{paper:.1f}" if paper is not None else "n/a",
                     fmt_pct([r["test"]["f1_mean"] for r in rs if "f1_mean" in r["test"]])]
            if cluster:
                for key in ("cluster_acc_mean", "cluster_nmi_mean", "cluster_ari_mean"):
                    cells.append(fmt_pct([r["test"][key] for r in rs if key in r["test"]]))
            spe = mean_std([r["seconds_per_epoch"] for r in rs])
            cells.append(f"{spe[0]:.3f} ± {spe[1]:.3f}")
            eps = sorted({r["epochs_run"] for r in rs})
            cells.append(",".join(str(e) for e in eps))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_run_table(runs: list[dict[str, Any]], cluster: bool) -> str:
    cols = ["Method", "Dataset", "Seed", "Probe acc (%)", "probe std (%)", "Macro-F1 (%)"]
    if cluster:
        cols += ["k-means ACC (%)", "NMI (%)", "ARI (%)"]
    cols += ["best epoch", "s/epoch", "wall (s)"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in runs:
        t = r["test"]
        cells = [r["method"].upper(), r["dataset"], str(r["seed"]), f"{100 * t['acc']:.2f}",
                 f"{100 * t.get('acc_std', float('nan')):.2f}", f"{100 * t.get('f1_mean', float('nan')):.2f}"]
        if cluster:
            cells += [f"{100 * t.get(k, float('nan')):.2f}"
                      for k in ("cluster_acc_mean", "cluster_nmi_mean", "cluster_ari_mean")]
        best = r.get("best_epoch")
        cells += [str(best + 1) if best is not None else "–",  # 1-based: epochs trained
                  f"{r['seconds_per_epoch']:.3f}", f"{r['wall_seconds']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(runs: list[dict[str, Any]], args: argparse.Namespace, command: str, device: str,
           complete: bool) -> str:
    import torch
    epochs = (str(args.epochs) if args.epochs is not None
              else "each method's preset for the dataset (GRACE paper: 200 on Cora and CiteSeer; "
                   "CSGCL uses the same)")
    out = [
        "# Node classification: GRACE and CSGCL on Cora / CiteSeer",
        "",
        f"- Date: {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}" + ("" if complete else " (partial: still running)"),
        f"- Hardware: {os.cpu_count()} CPU cores (`os.cpu_count()`), {platform.machine()}, device `{device}`; "
        f"torch {torch.__version__}; Python {platform.python_version()}. The machine is shared with "
        "other jobs: timings are noisy.",
        "- Protocol: self-supervised training with the method's per-dataset preset (datasets given by "
        "name), then a logistic-regression probe on the frozen encoder output "
        + {"standard": "(z-scored with the training rows' mean/std) ",
           "l2": "(L2-normalized rows, as in the GRACE authors' evaluation) ",
           "none": "(raw) "}[args.probe_normalize]
        + "over random "
        "10/10/80 train/valid/test splits, 5 probe seeds, each probe's classifier selected on "
        "validation, test accuracy reported (mean over probe seeds). Table: mean ± std over "
        f"training seeds {list(args.seeds)}. Epochs: {epochs}"
        + (f", evaluated every {args.eval_every} epochs (and after the last), the checkpoint with "
           "the best validation accuracy is tested ('best epoch' below = epochs trained)" if args.eval_every
           else " (the last epoch's model is tested)") + ". "
        + (f"Config overrides for every run: `{json.dumps(args.overrides, sort_keys=True)}`. "
           if args.overrides else "")
        + ("k-means (k = #classes, 5 k-means seeds, n_init 10) on the same embeddings: "
           "ACC (Hungarian), NMI, ARI. " if args.cluster else "")
        + "s/epoch: training only (no evaluation).",
        "- Paper figures: GRACE paper (Zhu et al., 2020), linear probe on a random 10% train split: "
        "Cora 83.3, CiteSeer 72.1. The CSGCL paper (Chen et al., IJCAI 2023) reports no Cora/CiteSeer "
        "number (n/a); its Amazon-Photo/Computers etc. results are not run here.",
        f"- Command: `{command}`",
        "",
        summarize(runs, list(args.methods), list(args.datasets), bool(args.cluster)),
        "",
        "## Per run",
        "",
        per_run_table(runs, bool(args.cluster)),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=["grace", "csgcl"])
    p.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help="override the presets' epochs")
    p.add_argument("--cluster", action="store_true", help="also report k-means ACC/NMI/ARI")
    p.add_argument("--probe-normalize", choices=["standard", "l2", "none"], default="standard",
                   help="embedding normalization before the probe: z-score on the training rows "
                        "(default) or L2 rows (the GRACE authors' evaluation)")
    p.add_argument("--eval-every", type=int, default=0,
                   help="evaluate on validation every N epochs and test the best checkpoint "
                        "(default 0: test the last epoch's model, the papers' protocol)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every run (VALUE read as YAML: numbers, true/false, [lists]; else a string)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--resume", action="store_true",
                   help="reuse the finished runs recorded in <out>.runs.json (same --epochs/--cluster)")
    args = p.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        p.error("--epochs must be >= 1")
    if args.eval_every < 0:
        p.error("--eval-every must be >= 0")
    from graphcl.config import ConfigError, parse_set_options
    try:
        args.overrides = parse_set_options(args.set)
    except ConfigError as exc:
        p.error(str(exc))

    from graphcl.train import resolve_device
    device = str(resolve_device(args.device))
    command = " ".join([".venv/bin/python", "experiments/node_classification.py"]
                       + [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)])
    runs: list[dict[str, Any]] = []
    runs_path = args.out.with_suffix(args.out.suffix + ".runs.json")
    settings = {"epochs": args.epochs, "cluster": bool(args.cluster)}
    if args.probe_normalize != "standard":  # older runs files have no key: they used "standard"
        settings["probe_normalize"] = args.probe_normalize
    if args.eval_every:
        settings["eval_every"] = args.eval_every
    if args.overrides:
        settings["overrides"] = args.overrides
    done: dict[tuple[str, str, int], dict[str, Any]] = {}
    if args.resume and runs_path.exists():
        saved = json.loads(runs_path.read_text())
        if saved.get("settings") == settings:
            done = {(r["method"], r["dataset"], int(r["seed"])): r for r in saved.get("runs", [])}
            print(f"[resume] {len(done)} finished runs in {runs_path}", flush=True)
        else:
            print(f"[resume] {runs_path} was written with other settings "
                  f"({saved.get('settings')}): starting afresh", flush=True)
    # seeds outermost: an interrupted sweep still covers every (method, dataset)
    with tempfile.TemporaryDirectory(prefix="graphcl-nodecls-") as tmp:
        for seed in args.seeds:
            for dataset in args.datasets:
                for method in args.methods:
                    if (method, dataset, seed) in done:
                        runs.append(done[(method, dataset, seed)])
                        print(f"[reuse] {method} {dataset} seed {seed}", flush=True)
                        continue
                    print(f"[run] {method} {dataset} seed {seed} ...", flush=True)
                    row = run_one(method, dataset, seed, args, Path(tmp))
                    runs.append(row)
                    t = row["test"]
                    print(f"[done] {method} {dataset} seed {seed}: acc {100 * t['acc']:.2f} "
                          f"(probe std {100 * t.get('acc_std', 0):.2f})"
                          + (f" k-means acc {100 * t['cluster_acc_mean']:.2f} nmi "
                             f"{100 * t['cluster_nmi_mean']:.2f}" if "cluster_acc_mean" in t else "")
                          + f"  {row['seconds_per_epoch']:.3f} s/epoch, {row['wall_seconds']:.0f} s",
                          flush=True)
                    atomic_write(runs_path, json.dumps({"command": command, "settings": settings, "runs": runs}, indent=1))
                    atomic_write(args.out, report(runs, args, command, device, complete=False))
    runs.sort(key=lambda r: (args.methods.index(r["method"]), args.datasets.index(r["dataset"]),
                             r["seed"]))
    text = report(runs, args, command, device, complete=True)
    atomic_write(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
