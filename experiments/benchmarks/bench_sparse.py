"""Benchmark: one propagation layer ``Y = Â X`` forward + backward on a Gowalla-sized graph.

Compares, side by side in one run (each variant in its own subprocess so peak
memory is its own):
  * ``ours``       graphcl.sparse.SparseGraph (CSR, custom backward through a precomputed Â^T)
  * ``csr_naive``  plain autograd through a torch CSR ``Â @ X``
  * ``coo_naive``  plain autograd through ``torch.sparse.mm`` on a COO ``Â``
and reports time per forward, per forward+backward, the ratio to one forward
SpMM of ours, and peak memory (max RSS on CPU, max allocated on CUDA).

    python experiments/benchmarks/bench_sparse.py --data-root ../shared/data [--device cuda] [--repeats 10]

Without the Gowalla files a random bipartite graph of the same size is used.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
from harness import peak_rss_mib

VARIANTS = ("ours", "csr_naive", "coo_naive")


def build_graph(data_root: str | None):
    from graphcl.sparse import bipartite_adjacency
    try:
        from graphcl.data import load
        ds = load("gowalla", root=data_root, valid_ratio=0.0)
        pairs, nu, ni, name = ds.train, ds.num_users, ds.num_items, "gowalla (LightGCN split)"
    except Exception as exc:  # no data here: same-sized random graph
        print(f"# gowalla not found ({type(exc).__name__}); using a random graph of its size", file=sys.stderr)
        g = torch.Generator().manual_seed(0)
        nu, ni, n = 29858, 40981, 810128
        pairs = torch.stack([torch.randint(0, nu, (n,), generator=g), torch.randint(0, ni, (n,), generator=g)])
        name = "random, gowalla-sized"
    return bipartite_adjacency(pairs, nu, ni), name


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_variant(variant: str, data_root: str | None, device: str, dim: int, repeats: int) -> dict:
    dev = torch.device(device)
    graph, name = build_graph(data_root)
    graph = graph.to(dev)
    if variant == "ours":
        fwd = lambda x: graph @ x  # noqa: E731
    elif variant == "csr_naive":
        mat = graph.matrix
        fwd = lambda x: mat @ x  # noqa: E731
    elif variant == "coo_naive":
        mat = graph.matrix.to_sparse_coo().coalesce()
        fwd = lambda x: torch.sparse.mm(mat, x)  # noqa: E731
    else:
        raise ValueError(variant)
    x = torch.randn(graph.shape[1], dim, device=dev, requires_grad=True)
    w = torch.randn(graph.shape[0], dim, device=dev)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    def time_it(fn):
        fn(); _sync(dev)
        times = []
        for _ in range(repeats):
            t = time.perf_counter(); fn(); _sync(dev); times.append(time.perf_counter() - t)
        times.sort()
        return times[len(times) // 2]
    def forward_only():
        with torch.no_grad():
            fwd(x)
    def forward_backward():
        x.grad = None
        (fwd(x) * w).sum().backward()
    t_fwd = time_it(forward_only)
    t_fb = time_it(forward_backward)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda"
            else peak_rss_mib())
    return {"variant": variant, "graph": name, "nodes": graph.shape[0], "nnz": graph.nnz, "dim": dim,
            "device": str(dev), "forward_ms": t_fwd * 1e3, "fwd_bwd_ms": t_fb * 1e3, "peak_mib": peak,
            "rss_before_mib": base_rss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.data_root, args.device, args.dim, args.repeats)))
        return
    rows = []
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--variant", variant, "--device", args.device,
               "--dim", str(args.dim), "--repeats", str(args.repeats)]
        if args.data_root:
            cmd += ["--data-root", args.data_root]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    ours_fwd = rows[0]["forward_ms"]
    r0 = rows[0]
    print(f"graph: {r0['graph']}, {r0['nodes']} nodes, {r0['nnz']} nonzeros, d={r0['dim']}, device {r0['device']}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'variant':<10} {'fwd ms':>8} {'fwd+bwd ms':>11} {'fwd+bwd / our fwd':>18} {'vs ours':>8} {'peak MiB':>9}")
    for r in rows:
        print(f"{r['variant']:<10} {r['forward_ms']:8.1f} {r['fwd_bwd_ms']:11.1f} "
              f"{r['fwd_bwd_ms'] / ours_fwd:18.2f} {r['fwd_bwd_ms'] / r0['fwd_bwd_ms']:8.2f} {r['peak_mib']:9.0f}")


if __name__ == "__main__":
    main()
