"""Benchmark: MCLRec against plain SASRec at equal epochs (sequential recommendation).

    .venv/bin/python experiments/bench_seqrec.py [--datasets beauty ml-100k]
        [--methods sasrec mclrec] [--epochs 2] [--data-root ../shared/data] [--threads 1]
        [--parallel 2] [--set KEY=VALUE ...] [--tag NAME] [--out FILE] [--work-dir DIR]

Each (dataset, method) is one ``graphcl train`` command line (printed in the
result file) run as a subprocess under ``/usr/bin/time -v``, so the peak RSS is
that run's own. All runs of one invocation use the same epoch budget, seed,
validation every epoch and early stopping on valid MRR@10 (patience 10, which
a budget of a few epochs never reaches); the test metrics are those of the
best-validation epoch (full ranking over all items, history not excluded: the
MCLRec protocol). ``--parallel 2`` runs two commands side by side (e.g. SASRec
and MCLRec on the same dataset), so their timings share the same machine load.

Results: a Markdown table (with the papers' figures beside ours) and per-epoch
validation curves, written to ``experiments/results/seqrec.md`` (raw numbers
in ``seqrec.json``; a new run replaces the stored row of the same dataset,
method and ``--tag``, other rows are kept). Timings on
a shared machine are noisy: compare the ratio of a side-by-side pair.

Long runs: ``--work-dir runs/seqrec`` keeps each run folder there instead of in
a temporary folder; a later invocation with the same ``--work-dir`` continues
an interrupted run from its ``last.pt`` (``graphcl train --resume``), or
extends a finished one to a larger ``--epochs`` (the trainer refuses a resume
whose config differs in anything but ``epochs``). s/epoch is then the mean over
all epochs in ``metrics.jsonl``, and the peak RSS that of the last segment.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "experiments" / "results" / "seqrec.md"

# MCLRec (SIGIR 2023) Table 2 / authors' README; SASRec row from the same table
PAPER = {
    ("beauty", "mclrec"): {"hit@5": 0.0581, "hit@10": 0.0871, "hit@20": 0.1243,
                           "ndcg@5": 0.0352, "ndcg@10": 0.0446, "ndcg@20": 0.0539, "mrr@10": 0.0316},
    ("beauty", "sasrec"): {"hit@5": 0.0377, "hit@20": 0.0894, "ndcg@5": 0.0241, "ndcg@20": 0.0386},
    ("sports", "mclrec"): {"hit@10": 0.0501, "ndcg@10": 0.0260},
    ("yelp-seq", "mclrec"): {"hit@10": 0.0647, "ndcg@10": 0.0394},
}
COLUMNS = ("hit@5", "hit@10", "hit@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr@10")


def command(method: str, dataset: str, args: argparse.Namespace, run_dir: Path) -> list[str]:
    cmd = [sys.executable, "-m", "graphcl.cli", "train", method, "--dataset", dataset,
           "--set", f"epochs={args.epochs}", "--threads", str(args.threads), "--device", "cpu",
           "--run-dir", str(run_dir), "--json", "--quiet"]
    if (run_dir / "last.pt").is_file():
        cmd += ["--resume", str(run_dir)]
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    for item in args.set:
        cmd += ["--set", item]
    return cmd


def run_one(method: str, dataset: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    run_dir = workdir / f"{method}-{dataset}"
    cmd = command(method, dataset, args, run_dir)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=REPO, env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t0
    load_end = os.getloadavg()[0]
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    result = json.loads((run_dir / "result.json").read_text())
    log = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # one record per (split, epoch): a resumed run may repeat the epoch it was interrupted in
    latest = {(r["split"], r["epoch"]): r for r in log if r["split"] != "test"}
    curve = [{"epoch": r["epoch"], "mrr@10": r["mrr@10"], "hit@10": r["hit@10"], "seconds": r["seconds"]}
             for (split, _), r in sorted(latest.items(), key=lambda kv: kv[0][1]) if split == "valid"]
    train_seconds = [r["seconds"] for (split, _), r in latest.items() if split == "train"]
    at = cmd.index("--run-dir")
    shown = ["graphcl"] + cmd[3:at] + [c for c in cmd[at + 2:] if c != "--resume" and c != str(run_dir)]
    return {"dataset": dataset, "method": method, "epochs": result["epochs_run"],
            "best_epoch": result["best_epoch"], "test": result["test"], "valid": result["valid"],
            "seconds_per_epoch": sum(train_seconds) / max(len(train_seconds), 1),
            "eval_seconds": result["eval_seconds"],
            "peak_rss_mib": int(rss.group(1)) / 1024 if rss else None, "wall_seconds": wall,
            "curve": curve, "command": " ".join(shown), "date": str(_dt.date.today()),
            "load_avg": [load_start, load_end], "cpu_percent": int(cpu.group(1)) if cpu else None,
            "tag": args.tag, "threads": args.threads}


def _load(r: dict[str, Any]) -> str:
    if not r.get("load_avg"):
        return "-"
    a, b = r["load_avg"]
    share = f" ({r['cpu_percent']}%)" if r.get("cpu_percent") is not None else ""
    return f"{a:.1f}-{b:.1f}{share}"


def table(rows: list[dict[str, Any]]) -> list[str]:
    head = ("| dataset | method | epochs (best) | " + " | ".join(COLUMNS)
            + " | s/epoch | s/eval | peak RSS (MiB) | load (CPU share) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        name = r["method"] + (f" ({r['tag']})" if r.get("tag") else "")
        vals = " | ".join(f"{r['test'][c]:.4f}" for c in COLUMNS)
        rss = f"{r['peak_rss_mib']:.0f}" if r["peak_rss_mib"] else "-"
        lines.append(f"| {r['dataset']} | {name} | {r['epochs']} ({r['best_epoch'] + 1}) | {vals} | "
                     f"{r['seconds_per_epoch']:.0f} | {r['eval_seconds']:.1f} | {rss} | {_load(r)} |")
        paper = PAPER.get((r["dataset"], r["method"]))
        if paper and not r.get("tag"):
            vals = " | ".join(f"{paper[c]:.4f}" if c in paper else "-" for c in COLUMNS)
            lines.append(f"| {r['dataset']} | {r['method']} (paper) | - | {vals} | | | | |")
    return lines


def render(rows: list[dict[str, Any]]) -> str:
    out = ["# Sequential recommendation: SASRec vs MCLRec", "",
           f"Written {_dt.date.today()}; {platform.machine()} CPU ({os.cpu_count()} cores), torch "
           "threads per run as in the commands; the machine was shared with other jobs (the 1-minute "
           "load average at the start and end of each run and the share of a core the run got are in "
           "the `load` column), so absolute times are inflated: compare runs made under similar load. "
           "Protocol: leave-one-out, "
           "full ranking over all items (history not excluded, as MCLRec's RecBole code), test "
           "metrics of the best valid MRR@10 epoch. `epochs (best)`: epochs run and the 1-based "
           "epoch selected. Paper rows: MCLRec (SIGIR 2023) Table 2 and the authors' README "
           "(trained to convergence, tens of epochs). Per training batch MCLRec makes two encoder "
           "updates (meta steps 1 and 3) and one augmenter update, SASRec one update, so at equal "
           "epochs MCLRec has made twice SASRec's encoder updates.", ""]
    out += table(rows)
    out += ["", "## Validation MRR@10 per epoch", ""]
    for r in rows:
        curve = ", ".join(f"{c['mrr@10']:.4f}" for c in r["curve"])
        name = r["method"] + (f" ({r['tag']})" if r.get("tag") else "")
        out.append(f"- {r['dataset']} {name}: {curve}")
    out += ["", "## Commands", ""]
    out += [f"- `{r['command']}` (wall {r['wall_seconds'] / 60:.1f} min)" for r in rows]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["beauty", "ml-100k"])
    parser.add_argument("--methods", nargs="+", default=["sasrec", "mclrec"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tag", default="", help="label these rows (kept beside untagged ones)")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--work-dir", help="keep run folders here and resume them (default: a temporary folder)")
    parser.add_argument("--render-only", action="store_true", help="rewrite --out from its .json; run nothing")
    args = parser.parse_args(argv)
    out = Path(args.out)
    raw = out.with_suffix(".json")
    if args.render_only:
        from graphcl.io import atomic_write_text
        atomic_write_text(out, render(json.loads(raw.read_text())))
        return 0
    jobs = [(m, d) for d in args.datasets for m in args.methods]
    with tempfile.TemporaryDirectory(prefix="bench_seqrec_") as tmp:
        work = Path(args.work_dir) if args.work_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            rows = list(pool.map(lambda job: run_one(job[0], job[1], args, work), jobs))
    if raw.is_file():   # merge: a new row replaces the stored one of the same key
        key = lambda r: (r["dataset"], r["method"], r.get("tag", ""))
        fresh = {key(r) for r in rows}
        rows = [r for r in json.loads(raw.read_text()) if key(r) not in fresh] + rows
    from graphcl.io import atomic_write_text
    atomic_write_text(raw, json.dumps(rows, indent=1))
    text = render(rows)
    atomic_write_text(out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
