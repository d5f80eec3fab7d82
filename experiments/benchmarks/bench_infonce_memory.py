"""Benchmark: peak memory and time of GRACE's loss, dense vs exact blockwise.

For each (method, N) one forward + backward of ``graphcl.losses.grace_loss`` on
random (N, d) views, each in its own subprocess so its peak is its own:
peak extra memory = max RSS (``resource.getrusage``) after the loss minus max
RSS once the inputs exist (on CUDA: ``torch.cuda.max_memory_allocated`` minus
the allocation before the loss). The dense form holds several N x N matrices
(estimated 20 · N² · 4 bytes, as measured at N = 2000); it is skipped where
that estimate exceeds ``--mem-cap-gib`` and the table says so. A least-squares line of the
blockwise peak extra memory vs N (slope in MiB per 1k nodes, R²) shows the
linear growth (O(block_size · N)) against the dense quadratic one.

    python experiments/benchmarks/bench_infonce_memory.py                 # N = 1k .. 50k
    python experiments/benchmarks/bench_infonce_memory.py --sizes 1000 5000 10000 20000 50000 100000
    python experiments/benchmarks/bench_infonce_memory.py --quick         # N = 1k, 2k, 4k; block 256
    python experiments/benchmarks/bench_infonce_memory.py --device cuda

Writes the Markdown table to experiments/results/infonce_memory.md (``--out``).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from harness import atomic_write_text, hardware_line

FULL_SIZES = (1000, 5000, 10000, 20000, 50000)
QUICK_SIZES = (1000, 2000, 4000)
QUICK_BLOCK = 256
METHODS = ("dense", "blockwise")
MiB = 1 << 20


def _max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def worker(method: str, n: int, dim: int, block: int, tau: float, device: str,
           repeats: int) -> dict:
    """One process, one (method, N): peak extra memory and median fwd+bwd time."""
    from graphcl.losses import grace_loss

    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(0)
    z1 = torch.randn(n, dim, device=dev, generator=gen, requires_grad=True)
    z2 = torch.randn(n, dim, device=dev, generator=gen, requires_grad=True)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    else:
        base = _max_rss_bytes()
    times = []
    for _ in range(repeats):
        z1.grad = z2.grad = None
        start = time.perf_counter()
        loss = grace_loss(z1, z2, tau, method=method, block_size=block)
        loss.backward()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else _max_rss_bytes()
    times.sort()
    return {"method": method, "n": n, "time_s": times[len(times) // 2], "loss": float(loss),
            "peak_extra_mib": (peak - base) / MiB}


def run_one(args: argparse.Namespace, method: str, n: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, str(n), "--dim", str(args.dim),
           "--block-size", str(args.block_size), "--tau", str(args.tau), "--device", args.device,
           "--repeats", str(args.repeats)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"method": method, "n": n, "error": f"exit {proc.returncode}: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x; returns (a, b, R²)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    b = sxy / sxx if sxx else 0.0
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    return a, b, (1 - ss_res / ss_tot) if ss_tot else 1.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=None)
    p.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--block-size", type=int, default=None,
                   help="rows per block (default 1024; 256 with --quick)")
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--mem-cap-gib", type=float, default=16.0,
                   help="skip dense where its estimated 20·N²·4 B exceeds this")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "infonce_memory.md"))
    p.add_argument("--worker", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        args.block_size = args.block_size or 1024
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.dim, args.block_size,
                                args.tau, args.device, args.repeats)))
        return
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    if args.block_size is None:
        args.block_size = QUICK_BLOCK if args.quick else 1024
    rows = []
    for n in sizes:
        for method in METHODS:
            est_gib = 20 * n * n * 4 / (1 << 30)
            if method == "dense" and est_gib > args.mem_cap_gib:
                rows.append({"method": method, "n": n,
                             "skipped": f"skipped: est. {est_gib:.1f} GiB > cap "
                                        f"{args.mem_cap_gib:g} GiB"})
                print(f"{method:9s} N={n:6d}  {rows[-1]['skipped']}", flush=True)
                continue
            rows.append(run_one(args, method, n))
            r = rows[-1]
            print(f"{method:9s} N={n:6d}  " + (r.get("error") or
                  f"{r['time_s']:.3f} s  {r['peak_extra_mib']:.1f} MiB  loss {r['loss']:.5f}"),
                  flush=True)
    lines = [f"# GRACE loss: dense vs blockwise, forward + backward (d = {args.dim}, "
             f"block {args.block_size}, float32, {args.device})", "",
             f"Machine: {hardware_line(args.device)}. Peak extra memory: "
             + ("max allocated minus allocated before the loss." if args.device != "cpu" else
                "max RSS after the loss minus max RSS once the inputs exist."), "",
             "| method | N | fwd+bwd time (s) | peak extra memory (MiB) | note |",
             "|---|---:|---:|---:|---|"]
    for r in rows:
        if "time_s" in r:
            lines.append(f"| {r['method']} | {r['n']} | {r['time_s']:.3f} | "
                         f"{r['peak_extra_mib']:.1f} | |")
        else:
            lines.append(f"| {r['method']} | {r['n']} | – | – | "
                         f"{r.get('skipped') or r.get('error')} |")
    block = [(r["n"], r["peak_extra_mib"]) for r in rows
             if r["method"] == "blockwise" and "time_s" in r]
    if len(block) >= 2:
        a, b, r2 = linear_fit([n for n, _ in block], [m for _, m in block])
        lines += ["", f"Blockwise peak extra memory ≈ {a:.1f} MiB + {1000 * b:.2f} MiB per 1k "
                      f"nodes (least squares over N = {', '.join(str(n) for n, _ in block)}; "
                      f"R² = {r2:.4f}). The dense form grows as N² (four N x N score matrices "
                      f"plus their softmax/autograd buffers)."]
    dense = {r["n"]: r for r in rows if r["method"] == "dense" and "time_s" in r}
    ratios = [f"N={n}: {dense[n]['peak_extra_mib'] / max(m, 1e-9):.1f}x" for n, m in block
              if n in dense]
    if ratios:
        lines.append("Dense / blockwise peak memory: " + ", ".join(ratios) + ".")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    out = Path(args.out)
    atomic_write_text(out, text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
