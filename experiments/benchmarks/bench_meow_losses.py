"""Benchmark: peak memory and time of MEOW's and AdaMEOW's weighted InfoNCE, dense vs blockwise.

For each (loss, form, N), one forward + backward in its own subprocess (so the
peak is its own): peak extra memory = max RSS after the loss minus max RSS once
the inputs exist; time = median of ``--repeats`` runs.

* ``hard`` (MEOW): weights w_ij = R − #{runs with i, j in one cluster} from two
  k-means label vectors (100 and 300 clusters). Dense: the (N, N) weight matrix
  and scores through autograd (``weighted_info_nce_dense``); blockwise:
  ``weighted_info_nce`` with ``ClusterWeights`` (weights rebuilt per row block).
* ``soft`` (AdaMEOW): w_ij = σ(MLP(q_i + k_j)). Dense: the (N, N, d) pair sums
  through the MLP (the authors' form); blockwise: ``soft_weighted_info_nce``.

A dense run whose estimated memory exceeds ``--mem-cap-gib`` is skipped.

    python experiments/benchmarks/bench_meow_losses.py [--sizes 1000 4019 8000 16000] [--out ...]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from harness import REPO, atomic_write_text, hardware_line, peak_rss_mib

MiB = 1 << 20
EST_BYTES = {("hard", "dense"): lambda n, d: 6 * n * n * 4,
             ("soft", "dense"): lambda n, d: 3 * n * n * (d + 32) * 4}


def _max_rss() -> int:
    return peak_rss_mib() * 1024 * 1024


def worker(loss: str, form: str, n: int, dim: int, block: int, repeats: int) -> dict:
    import torch.nn.functional as F
    from graphcl.losses.soft_weighted import (PairwiseWeightMLP, soft_weighted_info_nce,
                                              soft_weighted_info_nce_dense)
    from graphcl.losses.weighted import (ClusterWeights, cluster_weights_dense, weighted_info_nce,
                                         weighted_info_nce_dense)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(n, dim, generator=gen), dim=1).requires_grad_()
    k = F.normalize(torch.randn(n, dim, generator=gen), dim=1).requires_grad_()
    labels = torch.stack([torch.randint(100, (n,), generator=gen), torch.randint(300, (n,), generator=gen)])
    torch.manual_seed(0)
    mlp = PairwiseWeightMLP(dim)
    base = _max_rss()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        if loss == "hard":
            value = (weighted_info_nce_dense(q, k, cluster_weights_dense(labels), 0.4) if form == "dense"
                     else weighted_info_nce(q, k, ClusterWeights(labels), 0.4, block_size=block))
        else:
            value = (soft_weighted_info_nce_dense(q, k, mlp, 0.4) if form == "dense"
                     else soft_weighted_info_nce(q, k, mlp, 0.4, block_size=block))
        value.backward()
        times.append(time.perf_counter() - t0)
        q.grad = k.grad = None
        mlp.zero_grad()
    return {"peak_mib": (_max_rss() - base) / MiB, "seconds": sorted(times)[len(times) // 2],
            "loss": float(value)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=int, default=[1000, 4019, 8000, 16000])
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--mem-cap-gib", type=float, default=6.0)
    p.add_argument("--out", type=Path, default=REPO / "experiments" / "results" / "meow_losses_memory.md")
    p.add_argument("--worker", nargs=4, metavar=("LOSS", "FORM", "N", "BLOCK"))
    args = p.parse_args(argv)
    if args.worker:
        loss, form, n, block = args.worker
        print(json.dumps(worker(loss, form, int(n), args.dim, int(block), args.repeats)))
        return 0
    rows = []
    for loss, block in (("hard", 1024), ("soft", 128)):
        for n in args.sizes:
            cells = {}
            for form in ("dense", "blockwise"):
                est = EST_BYTES.get((loss, form))
                if est and est(n, args.dim) > args.mem_cap_gib * (1 << 30):
                    cells[form] = None
                    continue
                proc = subprocess.run([sys.executable, __file__, "--worker", loss, form, str(n), str(block),
                                       "--dim", str(args.dim), "--repeats", str(args.repeats)],
                                      capture_output=True, text=True, cwd=REPO,
                                      env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
                if proc.returncode != 0:
                    raise RuntimeError(proc.stderr[-2000:])
                cells[form] = json.loads(proc.stdout.strip().splitlines()[-1])
                print(loss, n, form, cells[form], flush=True)
            rows.append((loss, n, block, cells))
    lines = ["# Weighted InfoNCE of MEOW (hard weights) and AdaMEOW (soft weights): dense vs blockwise",
             "", f"- {hardware_line()}, 1 thread, d = {args.dim}; one forward + "
             f"backward per process, median of {args.repeats}; peak = max-RSS growth. Shared machine: "
             "times are noisy, compare within a row.",
             f"- Command: `python experiments/benchmarks/bench_meow_losses.py {' '.join(argv or sys.argv[1:])}`", "",
             "| loss | N | block | dense peak (MiB) | blockwise peak (MiB) | dense s | blockwise s | |Δ loss| |",
             "|---|---|---|---|---|---|---|---|"]
    skip = f"skipped (> {args.mem_cap_gib:g} GiB est.)"
    for loss, n, block, c in rows:
        d, b = c["dense"], c["blockwise"]
        dense_peak = f"{d['peak_mib']:.0f}" if d else skip
        dense_s = f"{d['seconds']:.2f}" if d else "–"
        diff = f"{abs(d['loss'] - b['loss']):.1e}" if d else "–"
        lines.append(f"| {loss} | {n} | {block} | {dense_peak} | {b['peak_mib']:.0f} | {dense_s} | "
                     f"{b['seconds']:.2f} | {diff} |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
