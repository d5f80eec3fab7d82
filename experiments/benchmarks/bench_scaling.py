"""Benchmark: full-graph LightGCN / LightGCL training cost against the number of edges.

    .venv/bin/python experiments/benchmarks/bench_scaling.py [--edges 1250000 2500000 5000000 10000000]
        [--methods lightgcn lightgcl] [--steps 4] [--batch-size 4096] [--threads 1]
        [--device cpu] [--out experiments/results/scaling.md]

Synthetic user-item graphs with a fixed shape: ``E`` distinct training pairs,
``E / 20`` users and ``E / 40`` items (average degrees 20 and 40, so the graph
grows in nodes and edges together, like a bigger dataset of the same kind),
users drawn uniformly and items from a Zipf-like popularity (exponent 0.8),
duplicates removed. Each (method, E) runs in its own subprocess, so the peak
memory (max RSS on CPU; max allocated on CUDA) is that configuration's own.

Per configuration: the model is built as ``graphcl train`` builds it (graph
normalization, LightGCL's rank-q SVD), then ``--steps`` + 1 training steps
(the first is warm-up and not timed) of the trainer's step: a batch of
``--batch-size`` BPR triples from the model's own sampler, the full-graph
propagation (every layer over all E edges, both directions), the loss,
backward and an Adam step. A full epoch is ``ceil(E / batch)`` such steps, so
``s/epoch = s/step · ceil(E / batch)`` (an epoch of 10M edges is 2442 steps;
running it whole on this CPU would take hours, timing a few steps gives the
same figure because every step does the same work).

The slope: a least-squares fit of ``log(s/step)`` on ``log(E)`` (1.0 means the
step cost is linear in the edges) and a linear fit ``s/step = a + b·E``, with
its R²; the same for peak memory.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from harness import REPO, peak_rss_mib

DEFAULT_OUT = REPO / "experiments" / "results" / "scaling.md"


def synthetic_dataset(num_edges: int, seed: int = 0):
    """``num_edges`` distinct (user, item) training pairs, E/20 users, E/40 items."""
    import torch

    from graphcl.data.interactions import InteractionDataset
    num_users, num_items = max(num_edges // 20, 2), max(num_edges // 40, 2)
    gen = torch.Generator().manual_seed(seed)
    popularity = torch.arange(1, num_items + 1, dtype=torch.float64).pow(-0.8)
    keys = torch.empty(0, dtype=torch.long)
    while keys.numel() < num_edges:  # draw, dedupe, top up
        need = int((num_edges - keys.numel()) * 1.1) + 1024
        users = torch.randint(num_users, (need,), generator=gen)
        items = torch.multinomial(popularity, need, replacement=True, generator=gen)
        keys = torch.unique(torch.cat([keys, users * num_items + items]))
    keys = keys[torch.randperm(keys.numel(), generator=gen)[:num_edges]]
    pairs = torch.stack([keys // num_items, keys % num_items])
    held = pairs[:, :1000]                       # a token valid/test split (never evaluated here)
    return InteractionDataset(f"synthetic-{num_edges}", num_users, num_items, train=pairs,
                              valid=held, test=held)


def worker(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from graphcl.config import merge_config
    from graphcl.registry import get_method
    from graphcl.train.utils import make_generator, seed_everything
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t0 = time.perf_counter()
    data = synthetic_dataset(args.worker_edges)
    data_seconds = time.perf_counter() - t0
    spec = get_method(args.worker_method)
    cfg, _ = merge_config(spec.defaults, {"batch_size": args.batch_size}, method=spec.name)
    seed_everything(0)
    t0 = time.perf_counter()
    model = spec.build(data, cfg, device).to(device)
    build_seconds = time.perf_counter() - t0
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]))
    batches = model.batches(make_generator(0, device))
    times = []
    for step in range(args.steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        batch = next(batches)
        out = model.loss(batch)
        loss = out["loss"] if isinstance(out, dict) else out
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - t0)
        if not math.isfinite(float(loss)):
            raise RuntimeError(f"non-finite loss at step {step}")
    peak = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
            else peak_rss_mib())
    steps_per_epoch = math.ceil(data.train.size(1) / args.batch_size)
    per_step = sorted(times)[len(times) // 2]    # median
    return {"method": args.worker_method, "edges": int(data.train.size(1)), "users": data.num_users,
            "items": data.num_items, "s_per_step": per_step, "step_times": times,
            "steps_per_epoch": steps_per_epoch, "s_per_epoch": per_step * steps_per_epoch,
            "build_seconds": build_seconds, "data_seconds": data_seconds, "peak_mib": peak,
            "device": str(device), "threads": args.threads, "batch_size": args.batch_size}


def fit(xs: list[float], ys: list[float]) -> dict[str, float]:
    """log-log slope, and ``y = a + b x`` with its R²."""
    n = len(xs)
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / n, sum(ly) / n
    slope = sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    a = my - b * mx
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return {"loglog_slope": slope, "intercept": a, "per_edge": b,
            "r2": 1 - ss_res / ss_tot if ss_tot else 1.0}


def render(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    from graphcl.reproduce import hardware_description
    out = ["# Full-graph training cost against the number of edges", "",
           f"Written {_dt.date.today()}; {hardware_description(args.device)}, {args.threads} torch "
           f"thread(s), device {args.device}; "
           f"batch {args.batch_size} BPR triples per step, median of {args.steps} timed steps after "
           "one warm-up step; each configuration in its own process. Synthetic graphs: E/20 users, "
           "E/40 items, Zipf(0.8) item popularity. s/epoch = s/step x ceil(E / batch) (every step "
           "propagates over the whole graph, so an epoch is that many equal steps). Command: "
           f"`python experiments/benchmarks/bench_scaling.py {' '.join(args.argv)}`.", "",
           "What grows linearly is the step: one full-graph propagation (every layer over all "
           "edges, both directions, forward and backward) plus the loss, and for LightGCL the "
           "all-user/all-item InfoNCE, whose cost is linear in the node count (here proportional "
           "to E). An epoch at a fixed batch size has E / batch such steps, as in the authors' "
           "code, so its cost grows as E²; with the batch grown with E (a fixed number of steps per "
           "epoch) it is linear too.", "",
           "| method | edges | users | items | s/step | s/epoch | peak memory (MiB) | build (s) |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['method']} | {r['edges']:,} | {r['users']:,} | {r['items']:,} | "
                   f"{r['s_per_step']:.3f} | {r['s_per_epoch']:.0f} | {r['peak_mib']:.0f} | "
                   f"{r['build_seconds']:.1f} |")
    out += ["", "## Fits (s/step and peak memory against edges)", "",
            "| method | quantity | log-log slope | same, without the smallest graph | per million edges "
            "| intercept | R² (linear) |",
            "|---|---|---|---|---|---|---|"]
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        if len(mine) < 2:
            continue
        xs = [float(r["edges"]) for r in mine]
        for label, key, unit in (("s/step", "s_per_step", "s"), ("peak memory", "peak_mib", "MiB")):
            ys = [float(r[key]) for r in mine]
            f = fit(xs, ys)
            tail = f"{fit(xs[1:], ys[1:])['loglog_slope']:.3f}" if len(xs) > 2 else "-"
            out.append(f"| {method} | {label} | {f['loglog_slope']:.3f} | {tail} | "
                       f"{f['per_edge'] * 1e6:.3f} {unit} | {f['intercept']:.3f} {unit} | {f['r2']:.4f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, nargs="+", default=[1_250_000, 2_500_000, 5_000_000, 10_000_000])
    parser.add_argument("--methods", nargs="+", default=["lightgcn", "lightgcl"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--render-only", action="store_true", help="rewrite --out from its .json; run nothing")
    parser.add_argument("--worker-method", help=argparse.SUPPRESS)
    parser.add_argument("--worker-edges", type=int, help=argparse.SUPPRESS)
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    if args.worker_method:
        print(json.dumps(worker(args)))
        return 0
    if args.steps < 1 or args.batch_size < 1 or min(args.edges) < 1000:
        parser.error("--steps and --batch-size must be >= 1 and every --edges >= 1000")
    args.argv = raw
    if args.render_only:
        from graphcl.io import atomic_write_text
        rows = json.loads(Path(args.out).with_suffix(".json").read_text())
        args.argv = rows[0].get("argv", raw) if rows else raw
        atomic_write_text(Path(args.out), render(rows, args))
        return 0
    rows = []
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": str(args.threads)}
    for method in args.methods:
        for edges in sorted(args.edges):
            cmd = [sys.executable, __file__, "--worker-method", method, "--worker-edges", str(edges),
                   "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                   "--threads", str(args.threads), "--device", args.device]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise RuntimeError(f"{method} at {edges} edges failed:\n{proc.stderr[-3000:]}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{method:9s} {edges:>11,} edges  {row['s_per_step']:.3f} s/step  "
                  f"{row['peak_mib']:.0f} MiB", flush=True)
            row["argv"] = raw
            rows.append(row)
    from graphcl.io import atomic_write_text
    text = render(rows, args)
    atomic_write_text(Path(args.out), text)
    atomic_write_text(Path(args.out).with_suffix(".json"), json.dumps(rows, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
