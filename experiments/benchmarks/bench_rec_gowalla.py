"""Benchmark: s/epoch and peak memory of each recommender against LightGCN on Gowalla (issue 21).

    .venv/bin/python experiments/benchmarks/bench_rec_gowalla.py [--methods lightgcn sgl simgcl xsimgcl ncl
        lightgcl dccf] [--steps 5] [--batch-size 2048] [--threads 1] [--data-root ../shared/data]
        [--out experiments/results/rec_methods_gowalla.md]

Gowalla, the LightGCN split (29,858 users, 40,981 items, graphcl's train part), every method with
its registry defaults except the batch size (equal for all, so an epoch is the same number of
steps). Each method runs in its own process (its own peak RSS). Per method:

* ``epoch start``: the time of ``model.batches(generator)``, where the methods do their once-an-
  epoch work (SGL draws its two graph views, NCL runs k-means; NCL with ``warm_up 0`` so its
  E-step is due in the timed epoch, as in every epoch after its warm-up), plus the first step's
  excess over the median step (the views' adjacencies are built lazily in the first step; this
  also counts one-time warm-up costs, so it errs high);
* ``s/step``: the median of ``--steps`` training steps after one warm-up step (a batch from the
  method's own sampler, the loss, backward, an Adam step);
* ``s/epoch = epoch start + ceil(train pairs / batch) x s/step`` (every step of an epoch does the
  same work), and its ratio to LightGCN's; the peak RSS and its ratio.

Evaluation is not included (the same full-ranking pass for every method).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from harness import REPO, hardware_line, peak_rss_mib, run_worker, write_table

DEFAULT_METHODS = ["lightgcn", "sgl", "simgcl", "xsimgcl", "ncl", "lightgcl", "dccf"]
DEFAULT_OUT = REPO / "experiments" / "results" / "rec_methods_gowalla.md"
#: per-method settings beside the registry defaults (see the module docstring)
OVERRIDES: dict[str, dict[str, Any]] = {"ncl": {"warm_up": 0}}


def worker(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from graphcl.config import merge_config
    from graphcl.data import load
    from graphcl.registry import get_method
    from graphcl.train.utils import make_generator, seed_everything
    torch.set_num_threads(args.threads)
    data = load("gowalla", root=args.data_root)
    spec = get_method(args.worker)
    cfg, _ = merge_config(spec.defaults, {"batch_size": args.batch_size, **OVERRIDES.get(args.worker, {})},
                          method=spec.name)
    seed_everything(0)
    t0 = time.perf_counter()
    model = spec.build(data, cfg, "cpu")
    build_seconds = time.perf_counter() - t0
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]))
    t0 = time.perf_counter()
    batches = model.batches(make_generator(0, "cpu"))
    epoch_start = time.perf_counter() - t0
    times, first = [], 0.0
    for step in range(args.steps + 1):
        t0 = time.perf_counter()
        out = model.loss(next(batches))
        loss = out["loss"] if isinstance(out, dict) else out
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step:
            times.append(time.perf_counter() - t0)
        else:
            first = time.perf_counter() - t0
        if not math.isfinite(float(loss)):
            raise RuntimeError(f"{args.worker}: non-finite loss at step {step}")
    per_step = sorted(times)[len(times) // 2]
    epoch_start += max(0.0, first - per_step)
    steps_per_epoch = math.ceil(int(data.train.size(1)) / args.batch_size)
    return {"method": args.worker, "s_per_step": per_step, "step_times": times, "epoch_start": epoch_start,
            "steps_per_epoch": steps_per_epoch, "s_per_epoch": epoch_start + steps_per_epoch * per_step,
            "build_seconds": build_seconds, "peak_mib": peak_rss_mib(), "train_pairs": int(data.train.size(1))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    if args.steps < 1 or args.batch_size < 1:
        parser.error("--steps and --batch-size must be >= 1")
    if "lightgcn" not in args.methods:
        parser.error("--methods must include lightgcn (the baseline of the ratios)")
    import torch
    torch.set_num_threads(args.threads)         # the header's thread count is the workers'
    rows = []
    for method in args.methods:
        row = run_worker(Path(__file__), ["--worker", method, "--steps", str(args.steps), "--batch-size",
                                          str(args.batch_size), "--threads", str(args.threads),
                                          "--data-root", args.data_root], threads=args.threads)
        print(f"{method:9s} {row['s_per_step']:.3f} s/step, epoch start {row['epoch_start']:.2f} s, "
              f"{row['s_per_epoch']:.0f} s/epoch, {row['peak_mib']:.0f} MiB", flush=True)
        rows.append(row)
    base = next(r for r in rows if r["method"] == "lightgcn")
    table = [[r["method"], r["s_per_step"], r["epoch_start"], r["steps_per_epoch"], r["s_per_epoch"],
              r["s_per_epoch"] / base["s_per_epoch"], r["peak_mib"], r["peak_mib"] / base["peak_mib"]]
             for r in rows]
    header = [f"{hardware_line()}. Command: `python experiments/benchmarks/bench_rec_gowalla.py {' '.join(raw)}`.",
              f"Gowalla (LightGCN split), {base['train_pairs']:,} training pairs, batch {args.batch_size}; "
              f"median of {args.steps} steps after one warm-up; registry defaults otherwise "
              f"(overrides: {OVERRIDES}). See the script's docstring for what each column measures."]
    from graphcl.io import atomic_write_text
    text = write_table(args.out, "Recommenders against LightGCN on Gowalla: s/epoch and peak memory", header,
                       ["method", "s/step", "epoch start (s)", "steps/epoch", "s/epoch", "x LightGCN",
                        "peak RSS (MiB)", "x LightGCN"], table)
    atomic_write_text(Path(args.out).with_suffix(".json"), json.dumps(rows, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
