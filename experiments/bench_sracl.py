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
``experiments/results/sracl.md``.
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
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - t0
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
            "command": " ".join(["graphcl"] + cmd[4:at] + cmd[at + 2:]), "date": time.strftime("%Y-%m-%d")}


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
    args = ap.parse_args(argv)
    variants = args.variant or ["sasrec", "sracl-fallback:sracl:semantics=fallback-cooccurrence"]
    workdir = Path(tempfile.mkdtemp(prefix="bench_sracl_", dir=REPO / "runs"))
    print(f"logs in {workdir}", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        rows = list(pool.map(lambda v: run_variant(v, args, workdir), variants))
    out = Path(args.out)
    stored = json.loads(out.read_text()) if out.is_file() else []
    key = lambda r: (r["dataset"], r["variant"], r["epochs"])
    fresh = {key(r) for r in rows}
    rows = [r for r in stored if key(r) not in fresh] + rows
    from graphcl.io import atomic_write_text
    atomic_write_text(out, json.dumps(rows, indent=1))
    for r in rows:
        t = r["test"]
        print(f"{r['dataset']:<12} {r['variant']:<16} ep {r['epochs']} best {r['best_epoch'] + 1}  "
              f"HR@20 {t['hit@20']:.4f} N@20 {t['ndcg@20']:.4f} MRR@10 {t['mrr@10']:.4f}  "
              f"{r['seconds_per_epoch']:.0f} s/epoch  cpu {r['cpu_seconds']:.0f} s  "
              f"peak {r['peak_rss_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
