"""Benchmark: LightGCL's all-user InfoNCE denominator, blockwise vs materialized.

    .venv/bin/python experiments/benchmarks/bench_lightgcl_infonce.py [--n 4096] [--m 29858] [--d 64]
        [--tau 0.2] [--block-size 256] [--repeats 3] [--threads 1]

Computes ``lse_i = log Σ_j exp(q_i · k_j / τ)`` for ``n`` anchors and ``m`` keys
(defaults: a 4096-user batch against Gowalla's 29,858 users, d 64) plus its
backward (gradients w.r.t. ``q`` and ``k``), two ways:

* ``dense``: ``torch.logsumexp(q @ k.T / tau, 1)`` (what the authors' code does,
  with ``log(exp(.).sum())``);
* ``blockwise``: :func:`graphcl.losses.logsumexp.blockwise_logsumexp_matmul` with the scores
  recomputed in the backward pass (``keep_bytes=0``);
* ``kept``: the same function keeping the softmax for the backward pass (``keep_bytes``
  unlimited), the default when the ``n x m`` matrix fits its budget.

Each variant runs in its own subprocess so its peak RSS is its own; the peak
reported is ``ru_maxrss`` minus the resident size right after the inputs were
built (so it is the extra memory of forward + backward). Time is the median of
``--repeats`` forward+backward passes after one warm-up pass. The two results
are checked against each other (values and gradients). Markdown table on stdout.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from harness import peak_rss_mib



def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return peak_rss_mib()


def worker(args: argparse.Namespace) -> dict:
    import torch

    from graphcl.losses.logsumexp import blockwise_logsumexp_matmul
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    q = (0.3 * torch.randn(args.n, args.d, generator=g)).requires_grad_()
    k = (0.3 * torch.randn(args.m, args.d, generator=g)).requires_grad_()
    w = torch.randn(args.n, generator=g) / args.n
    q.grad = torch.zeros_like(q)
    k.grad = torch.zeros_like(k)

    def step():
        if args.worker == "dense":
            out = torch.logsumexp(q @ k.T / args.tau, 1)
        else:
            keep = 0 if args.worker == "blockwise" else 1 << 62
            out = blockwise_logsumexp_matmul(q, k, args.tau, args.block_size, keep_bytes=keep)
        (out * w).sum().backward()
        return out.detach()

    base = _rss_mib()
    out = step()  # first pass: peak memory
    peak = _peak_mib() - base
    times = []
    for _ in range(args.repeats):
        q.grad.zero_()
        k.grad.zero_()
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    torch.save({"out": out, "gq": q.grad, "gk": k.grad}, args.dump)
    return {"variant": args.worker, "seconds": statistics.median(times), "all_seconds": times,
            "peak_extra_mib": peak, "threads": torch.get_num_threads()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--m", type=int, default=29858)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--tau", type=float, default=0.2)
    p.add_argument("--block-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--worker", choices=["dense", "blockwise", "kept"], help=argparse.SUPPRESS)
    p.add_argument("--dump", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    import tempfile

    import torch
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in ("blockwise", "kept", "dense"):
            dump = str(Path(tmp) / f"{variant}.pt")
            cmd = [sys.executable, __file__, "--worker", variant, "--dump", dump] + \
                [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("worker", "dump")]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[variant]["tensors"] = torch.load(dump)
    b = results["dense"]["tensors"]
    err = {v: {key: float((a[key] - b[key]).abs().max() / b[key].abs().max().clamp_min(1e-30)) for key in a}
           for v in ("blockwise", "kept") for a in [results[v]["tensors"]]}
    print(f"n={args.n} m={args.m} d={args.d} tau={args.tau} block={args.block_size} "
          f"threads={args.threads} float32, forward+backward (median of {args.repeats})\n")
    print("| variant | s (fwd+bwd) | peak extra MiB |")
    print("|---|---|---|")
    for v in ("dense", "blockwise", "kept"):
        r = results[v]
        print(f"| {v} | {r['seconds']:.3f} | {r['peak_extra_mib']:.0f} |")
    d = results["dense"]
    for v in ("blockwise", "kept"):
        r, e = results[v], err[v]
        print(f"\n{v}: speed-up over dense {d['seconds'] / r['seconds']:.2f}x, memory "
              f"{d['peak_extra_mib'] / max(r['peak_extra_mib'], 1e-9):.1f}x less; max relative difference "
              f"(to the max |value|): lse {e['out']:.1e}, dq {e['gq']:.1e}, dk {e['gk']:.1e}")
    print("raw seconds:", {v: [round(t, 3) for t in results[v]["all_seconds"]] for v in results})


if __name__ == "__main__":
    main()
