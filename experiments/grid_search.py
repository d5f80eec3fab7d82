"""Hyperparameter selection on validation, honest test reporting.

    .venv/bin/python experiments/grid_search.py METHOD --dataset ml-100k \
        --grid num_layers=1,2 --grid dropout=0.3,0.5 [--set key=value]... \
        [--epochs 100] [--patience N] [--baseline lightgcn] [--threads 1] \
        [--data-root ../shared/data] [--out experiments/results/FILE.md]

Every point of the grid (the Cartesian product of the ``--grid`` lists, on top
of the method's defaults, its dataset preset and the ``--set`` overrides) is
trained with :func:`graphcl.train.train` for the same number of epochs with the
same seed. Each run selects its epoch on the validation metric; the grid point
is then selected on that same validation value, and only the selected point's
TEST metrics are the reported result (the other test values are listed for
transparency, never used for selection). ``--baseline`` trains another method
with its own defaults under the same budget, so the table compares side by side.

Results are kept as JSON lines next to ``--out`` (``FILE.md.runs.jsonl``); a
re-run skips the grid points already there, so a killed search resumes.
Values are YAML scalars (``modalities=[]``, ``dropout=0.3``).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def parse_assignment(text: str, *, many: bool) -> tuple[str, Any]:
    if "=" not in text:
        raise SystemExit(f"expected key=value, got {text!r}")
    key, raw = text.split("=", 1)
    if not many:
        return key.strip(), yaml.safe_load(raw)
    values = [yaml.safe_load(v) for v in _split_top_level(raw)]
    if not values:
        raise SystemExit(f"--grid {key}: no values")
    return key.strip(), values


def _split_top_level(raw: str) -> list[str]:
    """Split on commas that are not inside brackets, so ``modalities=[],[text]`` works."""
    parts, depth, cur = [], 0, ""
    for ch in raw:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def point_id(method: str, point: dict[str, Any]) -> str:
    return method + ":" + json.dumps(point, sort_keys=True)


def run_point(method: str, dataset: str, config: dict[str, Any], data_root: str | None) -> dict[str, Any]:
    from graphcl.train import train
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = train(method, dataset, config=config, data_root=data_root, run_dir=Path(tmp) / "run",
                    progress=False, verbose=False)
        wall = time.perf_counter() - t0
    return {"best_epoch": res.best_epoch, "valid": res.best_valid, "test": res.test,
            "epochs_run": res.epochs_run, "s_per_epoch": res.seconds_per_epoch, "wall_s": wall,
            "peak_rss_mib_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def load_done(path: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                done[rec["id"]] = rec
    return done


def append_record(path: Path, rec: dict[str, Any]) -> None:
    """One JSON line per finished run, flushed and fsynced (a kill loses at most the run in flight)."""
    import os
    with open(path, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def render(args: argparse.Namespace, records: list[dict[str, Any]], metric: str, keys: list[str]) -> str:
    grid_recs = [r for r in records if not r.get("baseline")]
    base = [r for r in records if r.get("baseline")]
    best = max(grid_recs, key=lambda r: r["valid"].get(metric, float("-inf")))
    test_keys = ["recall@20", "ndcg@20"] if "recall@20" in best["test"] else sorted(best["test"])[:4]
    lines = [f"# {args.method} grid search on {args.dataset}", "",
             f"- date: {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
             f"- command: `{' '.join(sys.argv)}`",
             f"- hardware: {platform.machine()}, torch {args.torch_version}, {args.threads} thread(s); "
             "shared machine, timings noisy",
             f"- protocol: {args.epochs} epochs per run (patience {args.patience}), seed {args.seed}; "
             f"each run keeps its best-validation `{metric}` epoch; the grid point with the best "
             "validation value is selected; its test metrics are the result", "",
             "| run | " + " | ".join(keys) + f" | best epoch | valid {metric} | "
             + " | ".join(f"test {k}" for k in test_keys) + " | s/epoch |",
             "|" + "---|" * (len(keys) + 4 + len(test_keys))]
    for r in sorted(grid_recs, key=lambda r: -r["valid"].get(metric, float("-inf"))) + base:
        name = ("**selected**" if r is best else args.method) if not r.get("baseline") else r["method"]
        cells = [json.dumps(r["point"].get(k)) if not r.get("baseline") else "-" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {r['best_epoch']} | "
                     f"{r['valid'].get(metric, float('nan')):.4f} | "
                     + " | ".join(f"{r['test'].get(k, float('nan')):.4f}" for k in test_keys)
                     + f" | {r['s_per_epoch']:.3f} |")
    if base:
        b = base[0]
        ratios = ", ".join(f"{k} {best['test'][k] / b['test'][k]:.3f}x" for k in test_keys if b['test'].get(k))
        lines += ["", f"Selected {args.method} vs {b['method']} (test): {ratios}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("method")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--grid", action="append", default=[], help="key=v1,v2,...")
    p.add_argument("--set", action="append", default=[], help="key=value for every run")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--patience", type=int, default=None, help="default: epochs (no early stop)")
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--baseline", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    args.torch_version = torch.__version__
    args.patience = args.patience or args.epochs
    grid = dict(parse_assignment(g, many=True) for g in args.grid)
    fixed = dict(parse_assignment(s, many=False) for s in args.set)
    common = {"epochs": args.epochs, "patience": args.patience, "seed": args.seed, "eval_every": 1}

    from graphcl.registry import get_method
    metric = str({**get_method(args.method).defaults, **fixed}.get("valid_metric", "ndcg@20"))

    log = args.out.with_name(args.out.name + ".runs.jsonl")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = load_done(log)
    jobs = [(args.method, pt, {**fixed, **pt, **common}, False) for pt in grid_points(grid)]
    if args.baseline:
        jobs.append((args.baseline, {}, {**common, "valid_metric": metric}, True))
    for method, pt, cfg, is_base in jobs:
        rid = point_id(method, pt) + ("#baseline" if is_base else "")
        if rid in done:
            continue
        print(f"[grid] {method} {pt or '(defaults)'}", flush=True)
        rec = run_point(method, args.dataset, cfg, args.data_root)
        rec.update(id=rid, method=method, point=pt, baseline=is_base)
        print(f"[grid]   valid {metric} {rec['valid'].get(metric, float('nan')):.4f} "
              f"test {json.dumps({k: round(v, 4) for k, v in rec['test'].items()})}", flush=True)
        append_record(log, rec)
        done[rid] = rec
    wanted = {point_id(m, pt) + ("#baseline" if b else "") for m, pt, _, b in jobs}
    table = render(args, [r for k, r in done.items() if k in wanted], metric, list(grid))
    from graphcl.io import atomic_write_text
    atomic_write_text(args.out, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
