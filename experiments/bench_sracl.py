"""Benchmark: SRA-CL against plain SASRec at equal epochs, side by side.

    .venv/bin/python experiments/bench_sracl.py --dataset ml-100k-seq --epochs 3 \
        --variant sasrec --variant "sracl-fallback:sracl:semantics=fallback-cooccurrence" \
        [--variant "sracl-llm:sracl:llm_cache=runs/sracl/llm_responses.sqlite"] \
        [--parallel 2] [--threads 1] [--data-root ../shared/data] [--out experiments/results/sracl.json]

A variant is ``NAME[:METHOD[:KEY=VALUE,KEY=VALUE...]]`` (METHOD defaults to
NAME). Every variant runs as one ``graphcl train`` subprocess under
``/usr/bin/time -v`` with the same seed, epochs, ``max_len=20`` (the SRA-CL
protocol) and validation every epoch; ``--parallel`` runs them at the same time,
so their timings share the machine's load. Recorded per run: the test metrics
of the best valid MRR@10 epoch, the validation curve, wall seconds per training
epoch (the trainer's), the process CPU seconds (user + system, all of the run,
setup included) and the peak RSS. Raw rows are merged into ``--out`` (JSON; a
new row replaces the stored one of the same dataset, variant and epochs) for
``experiments/results/sracl.md`` (rewritten from all stored rows after each run;
``--render-only`` rewrites it without running anything).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def parse_variant(text: str) -> tuple[str, str, list[str]]:
    parts = text.split(":", 2)
    name = parts[0]
    method = parts[1] if len(parts) > 1 and parts[1] else name
    sets = [s for s in parts[2].split(",") if s] if len(parts) > 2 else []
    return name, method, sets


def run_variant(variant: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    name, method, sets = parse_variant(variant)
    run_dir = workdir / f"{name}-{args.dataset}"
    cmd = [sys.executable, "-m", "graphcl.cli", "train", method, "--dataset", args.dataset,
           "--set", f"epochs={args.epochs}", "--set", f"max_len={args.max_len}", "--set", "eval_every=1",
           "--threads", str(args.threads), "--device", "cpu", "--run-dir", str(run_dir), "--json"]
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    for s in sets + args.set:
        cmd += ["--set", s]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - t0
    load_end = os.getloadavg()[0]
    (workdir / f"{name}.log").write_text(proc.stdout + "\n" + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")

    def grab(pattern: str) -> float | None:
        m = re.search(pattern, proc.stderr)
        return float(m.group(1)) if m else None

    result = json.loads((run_dir / "result.json").read_text())
    log = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    curve = [{"epoch": r["epoch"], "mrr@10": r["mrr@10"], "hit@20": r["hit@20"], "ndcg@20": r["ndcg@20"]}
             for r in log if r["split"] == "valid"]
    semantics = next((line for line in proc.stdout.splitlines() if line.startswith("SRA-CL semantics")), "")
    at = cmd.index("--run-dir")
    return {"dataset": args.dataset, "variant": name, "method": method, "epochs": result["epochs_run"],
            "best_epoch": result["best_epoch"], "test": result["test"], "valid": result["valid"],
            "seconds_per_epoch": result["seconds_per_epoch"], "eval_seconds": result["eval_seconds"],
            "cpu_seconds": (grab(r"User time \(seconds\): ([\d.]+)") or 0)
            + (grab(r"System time \(seconds\): ([\d.]+)") or 0),
            "peak_rss_mib": (grab(r"Maximum resident set size \(kbytes\): (\d+)") or 0) / 1024,
            "wall_seconds": wall, "curve": curve, "semantics": semantics,
            "load_avg": [load_start, load_end],
            "cpu_percent": grab(r"Percent of CPU this job got: (\d+)%"), "threads": args.threads,
            "command": " ".join(["graphcl"] + cmd[3:at] + cmd[at + 2:]), "date": time.strftime("%Y-%m-%d")}


# SRA-CL (NeurIPS 2025) main table, max length 20 protocol (HR@20 / NDCG@20)
PAPER = {"beauty": {"hit@20": 0.1314, "ndcg@20": 0.0568},
         "sports": {"hit@20": 0.0823, "ndcg@20": 0.0347},
         "yelp-seq": {"hit@20": 0.1282, "ndcg@20": 0.0533}}
COLUMNS = ("hit@5", "hit@10", "hit@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr@10")


def render(rows: list[dict[str, Any]]) -> str:
    """``results/sracl.md`` from the raw rows (all numbers read from them)."""
    out = ["# SRA-CL vs SASRec (equal epochs, max length 20)", "",
           "Rows from `experiments/bench_sracl.py` (raw: `sracl.json`). Protocol: leave-one-out, "
           "full ranking over all items, test metrics at the best valid MRR@10 epoch; "
           "`epochs (best)` = epochs run (1-based epoch selected). Semantics: `fallback-cooccurrence` "
           "= SVD co-occurrence vectors, NOT LLM semantics; a `summaries=` variant reads a "
           "precomputed summaries JSONL (its row says which file; see the notes for what wrote it). "
           "Machine: 2-core x86_64 CPU shared with other jobs; `load` = 1-min load average at the "
           "start and end of the run (CPU share the run got); s/epoch is wall time of a training "
           "epoch under that load, CPU s the process's user+system seconds (setup included).", ""]
    head = ("| dataset | variant | epochs (best) | " + " | ".join(COLUMNS)
            + " | s/epoch | CPU s | peak RSS (MiB) | load (CPU share) | date |")
    out += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        t = r["test"]
        load = "-"
        if r.get("load_avg"):
            share = f" ({r['cpu_percent']:.0f}%)" if r.get("cpu_percent") is not None else ""
            load = f"{r['load_avg'][0]:.1f}-{r['load_avg'][1]:.1f}{share}"
        out.append(f"| {r['dataset']} | {r['variant']} | {r['epochs']} ({r['best_epoch'] + 1}) | "
                   + " | ".join(f"{t[c]:.4f}" for c in COLUMNS)
                   + f" | {r['seconds_per_epoch']:.0f} | {r['cpu_seconds']:.0f} | {r['peak_rss_mib']:.0f} | "
                   f"{load} | {r.get('date', '-')} |")
    for ds, paper in PAPER.items():
        if any(r["dataset"] == ds for r in rows):
            out.append(f"| {ds} | SRA-CL (paper, converged) | - | "
                       + " | ".join(f"{paper[c]:.4f}" if c in paper else "-" for c in COLUMNS)
                       + " | | | | | |")
    if any("template_summaries" in r["command"] for r in rows):
        out += ["", "A `summaries=...template_summaries_*.jsonl` file is written by "
                "`experiments/sracl_template_summaries.py`: fixed templates (user: the three most "
                "frequent genres and the three latest titles of the last 15 training items; item: its "
                "title, year and genres), NOT LLM answers. Those rows exercise SRA-CL's "
                "precomputed-summaries path end to end; they are not the paper's LLM semantics."]
    out += ["", "## Validation MRR@10 per epoch", ""]
    out += [f"- {r['dataset']} {r['variant']} ({r['epochs']} ep): "
            + ", ".join(f"{c['mrr@10']:.4f}" for c in r["curve"]) for r in rows]
    out += ["", "## Semantics and commands", ""]
    for r in rows:
        sem = f"; {r['semantics']}" if r.get("semantics") else ""
        out.append(f"- {r['dataset']} {r['variant']}: `{r['command']}` (wall {r['wall_seconds'] / 60:.1f} min)"
                   f"{sem}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ml-100k-seq")
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--max-len", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for every variant")
    ap.add_argument("--out", default=str(REPO / "experiments" / "results" / "sracl.json"))
    ap.add_argument("--render-only", action="store_true", help="rewrite the .md from --out; run nothing")
    args = ap.parse_args(argv)
    from graphcl.io import atomic_write_text
    if args.render_only:
        out = Path(args.out)
        atomic_write_text(out.with_suffix(".md"), render(json.loads(out.read_text())))
        return 0
    variants = args.variant or ["sasrec", "sracl-fallback:sracl:semantics=fallback-cooccurrence"]
    workdir = Path(tempfile.mkdtemp(prefix="bench_sracl_", dir=REPO / "runs"))
    print(f"logs in {workdir}", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        results = list(pool.map(lambda v: _safe(run_variant, v, args, workdir), variants))
    rows = [r for r in results if not isinstance(r, Exception)]
    failed = [(v, r) for v, r in zip(variants, results) if isinstance(r, Exception)]
    out = Path(args.out)
    stored = json.loads(out.read_text()) if out.is_file() else []
    key = lambda r: (r["dataset"], r["variant"], r["epochs"])
    fresh = {key(r) for r in rows}
    rows = [r for r in stored if key(r) not in fresh] + rows
    atomic_write_text(out, json.dumps(rows, indent=1))
    atomic_write_text(out.with_suffix(".md"), render(rows))
    for v, err in failed:
        print(f"FAILED {v}: {err}", file=sys.stderr)
    for r in rows:
        t = r["test"]
        print(f"{r['dataset']:<12} {r['variant']:<16} ep {r['epochs']} best {r['best_epoch'] + 1}  "
              f"HR@20 {t['hit@20']:.4f} N@20 {t['ndcg@20']:.4f} MRR@10 {t['mrr@10']:.4f}  "
              f"{r['seconds_per_epoch']:.0f} s/epoch  cpu {r['cpu_seconds']:.0f} s  "
              f"peak {r['peak_rss_mib']:.0f} MiB")
    return 1 if failed else 0


def _safe(fn, *args):
    """``fn(*args)``, or the exception it raised (one failed variant keeps the others' rows)."""
    try:
        return fn(*args)
    except Exception as err:  # noqa: BLE001 - reported and turned into the exit status
        return err


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
