"""MEOW / AdaMEOW on ACM (HeCo splits), side by side with MEOW's plain-InfoNCE version.

    .venv/bin/python experiments/meow_acm.py --variants meow meow-plain --seeds 0 1
        --epochs 150 --eval-every 25 [--set kmeans_restarts=1] [--data-root ../shared/data]
        [--runs-file experiments/results/meow_acm.runs.json] [--out experiments/results/meow_acm.md]
    .venv/bin/python experiments/meow_acm.py --report-only --runs-file A.json B.json

Variants (method, config overrides on top of the method's ACM preset):

* ``meow``: hard k-means weights + prototypical loss (the paper's MEOW);
* ``meow-plain``: ``weighting=none``: plain InfoNCE denominator (every w = 1), the
  prototypical term kept, so the pair differs only in the negative weights;
* ``meow-plain-noproto``: ``weighting=none, lam_proto=0``: plain InfoNCE only;
* ``adameow``: learned soft weights.

Every variant of one seed trains with the same seed, epochs and evaluation
schedule (``graphcl.train.train``; selection on validation micro-F1 averaged over
the 20/40/60 splits, test reported at the selected epoch). Finished runs are kept
in the runs file (rewritten after each run; ``--resume`` skips them), so several
invocations can run in parallel on different variants and ``--report-only``
merges their files into one Markdown table. Timings on a shared machine are noisy.
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

from experiments.node_classification import atomic_write  # noqa: E402

VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "meow": ("meow", {}),
    "meow-plain": ("meow", {"weighting": "none"}),
    "meow-plain-noproto": ("meow", {"weighting": "none", "lam_proto": 0.0}),
    "adameow": ("adameow", {}),
}
RATIOS = (20, 40, 60)
# HeCo (Wang et al., KDD 2021), Tables 2 (classification) and 3 (clustering), ACM.
PUBLISHED: dict[str, list[str]] = {
    "HeCo (paper)": ["88.56", "87.61", "89.04", "88.13", "87.45", "88.71", "96.49", "96.40", "96.55",
                     "56.87", "56.94"],
}
PUBLISHED_NOTE = (
    "HeCo's nine classification figures (Ma-F1/Mi-F1/AUC at 20/40/60) match the \"Paper\" column of "
    "BUPT-GAMMA/GammaGL's examples/heco/README.md (and the 60-label row of OpenHGNN's "
    "openhgnn/output/HeCo/README.md); the paper's PDF was not reachable here. Its clustering figures "
    "(NMI 56.87, ARI 56.94) are quoted from memory and could not be confirmed: treat them as "
    "unverified. MEOW's and AdaMEOW's own published ACM tables could not be found offline; the "
    "authors' repository (jianxiangyu/MEOW) ships run logs, not the papers' tables: "
    "code_adameow/result_acm20.txt reads Ma-F1 91.69 ± 0.2, Mi-F1 91.69 ± 0.23, AUC 98.57; "
    "result_acm40.txt 90.61 / 90.76 / 98.23 (no 60-label log) — those are logs of one run "
    "configuration, not published results.")
DEFAULT_OUT = REPO / "experiments" / "results" / "meow_acm.md"


def run_one(variant: str, seed: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from graphcl.config import parse_set_options
    from graphcl.train import train
    method, overrides = VARIANTS[variant]
    config = {**parse_set_options(args.set), **overrides, "seed": seed, "epochs": args.epochs,
              "eval_every": args.eval_every}
    t0 = time.perf_counter()
    res = train(method, "acm", config=config, data_root=args.data_root, run_dir=tmp / f"{variant}-{seed}",
                device="cpu", verbose=False)
    return {"variant": variant, "method": method, "seed": seed, "config": config,
            "test": dict(res.test), "valid": dict(res.best_valid), "best_epoch": res.best_epoch,
            "epochs_run": res.epochs_run, "seconds_per_epoch": res.seconds_per_epoch,
            "wall_seconds": time.perf_counter() - t0,
            "history": [{k: float(v) for k, v in h.items()} for h in res.history]}


def _fmt(values: list[float]) -> str:
    if not values:
        return "–"
    m = statistics.fmean(values) * 100
    s = statistics.stdev(values) * 100 if len(values) > 1 else 0.0
    return f"{m:.2f} ± {s:.2f}"


def table(runs: list[dict[str, Any]]) -> str:
    cols = ["Variant", "Seeds"] + [f"{m} {r}" for r in RATIOS for m in ("Ma-F1", "Mi-F1", "AUC")] \
        + ["NMI", "ARI", "best epoch", "s/epoch"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for variant in VARIANTS:
        rs = [r for r in runs if r["variant"] == variant]
        if not rs:
            continue
        cells = [variant, ",".join(str(r["seed"]) for r in rs)]
        for r_ in RATIOS:
            for key in ("macro_f1", "micro_f1", "auc"):
                cells.append(_fmt([r["test"][f"{key}_{r_}"] for r in rs]))
        cells += [_fmt([r["test"]["nmi"] for r in rs if "nmi" in r["test"]]),
                  _fmt([r["test"]["ari"] for r in rs if "ari" in r["test"]]),
                  ",".join(str(r["best_epoch"]) for r in rs),
                  f"{statistics.fmean(r['seconds_per_epoch'] for r in rs):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired(runs: list[dict[str, Any]], a: str, b: str) -> str:
    """Per seed: a − b on the mean (over splits) Macro-F1 / Micro-F1 and NMI, in points."""
    by = {(r["variant"], r["seed"]): r for r in runs}
    seeds = sorted({s for (v, s) in by if v == a} & {s for (v, s) in by if v == b})
    if not seeds:
        return ""
    lines = [f"| seed | Δ Ma-F1 ({a} − {b}) | Δ Mi-F1 | Δ AUC | Δ NMI | Δ ARI |", "|---|---|---|---|---|---|"]
    for s in seeds:
        ta, tb = by[(a, s)]["test"], by[(b, s)]["test"]

        def mean(t: dict, key: str) -> float:
            return statistics.fmean(t[f"{key}_{r}"] for r in RATIOS)
        cells = [str(s)] + [f"{100 * (mean(ta, k) - mean(tb, k)):+.2f}" for k in ("macro_f1", "micro_f1", "auc")]
        cells += [f"{100 * (ta.get(k, float('nan')) - tb.get(k, float('nan'))):+.2f}" for k in ("nmi", "ari")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(runs: list[dict[str, Any]], commands: list[str], complete: bool) -> str:
    import torch
    settings = sorted({json.dumps({k: v for k, v in r["config"].items() if k != "seed"}, sort_keys=True)
                       for r in runs})
    out = [
        "# MEOW / AdaMEOW on ACM (HeCo splits)",
        "",
        f"- Date: {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}" + ("" if complete else " (partial)"),
        f"- Hardware: {os.cpu_count()} CPU cores, {platform.machine()}, torch {torch.__version__}, CPU only; "
        f"the machine is shared with other jobs (1-min load average {os.getloadavg()[0]:.1f} when this "
        "report was written): s/epoch is noisy.",
        "- Protocol: self-supervised training with the ACM preset (lr 7e-4, τ 0.4, feat_mask 0.3, "
        "adj_mask [0.3, 0.2], nei_max [110, 700], hidden 64, cluster counts [100, 300], λ 1) plus the "
        "overrides below; every `eval_every` epochs a logistic-regression probe per split "
        "(weight decay and input normalization chosen on validation) gives the validation micro-F1 "
        "averaged over 20/40/60, the best epoch is restored and tested: Ma-F1 / Mi-F1 / AUC "
        "(one-vs-rest) on the 1000 test papers of each split, k-means (k = 3, 5 seeds) NMI / ARI on "
        "the same embeddings. Mean ± std over training seeds.",
        "- Overrides per run: " + "; ".join(f"`{s}`" for s in settings),
        "- Commands: " + "; ".join(f"`{c}`" for c in commands),
        "",
        table(runs),
        "",
        "## Published numbers (ACM, same splits and metrics)",
        "",
        ("| Method | Ma-F1 20 | Ma-F1 40 | Ma-F1 60 | Mi-F1 20 | Mi-F1 40 | Mi-F1 60 | AUC 20 | AUC 40 | AUC 60 "
         "| NMI | ARI |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[f"| {name} | " + " | ".join(vals) + " |" for name, vals in PUBLISHED.items()],
        "",
        PUBLISHED_NOTE,
        "",
        "## MEOW vs its plain-InfoNCE version, per seed (same seed, epochs, evaluation)",
        "",
        paired(runs, "meow", "meow-plain"),
        "",
        paired(runs, "meow", "meow-plain-noproto"),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=["meow", "meow-plain"], choices=list(VARIANTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--data-root", default=None)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--runs-file", type=Path, nargs="+", default=[DEFAULT_OUT.with_suffix(".runs.json")])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--report-only", action="store_true", help="merge the runs files into --out")
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    command = " ".join([".venv/bin/python", "experiments/meow_acm.py"]
                       + [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)])
    if args.report_only:
        runs, commands = [], []
        for path in args.runs_file:
            saved = json.loads(path.read_text())
            runs += saved["runs"]
            commands += saved["commands"]
        text = report(runs, commands, complete=True)
        atomic_write(args.out, text)
        print(text)
        return 0
    runs_path = args.runs_file[0]
    runs: list[dict[str, Any]] = []
    commands = [command]
    if args.resume and runs_path.exists():
        saved = json.loads(runs_path.read_text())
        runs, commands = saved["runs"], saved["commands"] + [command]
    done = {(r["variant"], r["seed"]) for r in runs}
    with tempfile.TemporaryDirectory(prefix="graphcl-meow-") as tmp:
        for seed in args.seeds:
            for variant in args.variants:
                if (variant, seed) in done:
                    continue
                print(f"[run] {variant} seed {seed}", flush=True)
                row = run_one(variant, seed, args, Path(tmp))
                runs.append(row)
                t = row["test"]
                print(f"[done] {variant} seed {seed}: Ma-F1 {[round(100 * t[f'macro_f1_{r}'], 2) for r in RATIOS]} "
                      f"NMI {100 * t.get('nmi', float('nan')):.2f} best epoch {row['best_epoch']} "
                      f"{row['seconds_per_epoch']:.2f} s/epoch", flush=True)
                atomic_write(runs_path, json.dumps({"commands": commands, "runs": runs}, indent=1))
    print(report(runs, commands, complete=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
