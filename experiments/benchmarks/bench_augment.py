"""Throughput of the graph augmenters on a Gowalla-sized graph.

The graph is the Gowalla (LightGCN split) user-item training graph as a
symmetric edge_index over users + items (70,839 nodes, ~1.6M directed edges),
loaded with ``graphcl.data.load('gowalla')``; when the files are absent a random
graph of the same size is used (and the table says so). Features for the
feature augmenters are random (num_nodes x 64).

CED is also timed against a plain Python loop over edges (the authors' style,
a reference written here); the loop runs on a subset of the edges and its
time is extrapolated linearly to all edges (the table says so).

    python experiments/benchmarks/bench_augment.py [--data-root DIR] [--quick] [--louvain]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torch_geometric.data import Data

from graphcl.augment import (CommunalAttributeVoting, CommunalEdgeDrop, EdgeDrop, FeatureMask,
                             NodeDrop, SVDView, ced_keep_probs, clear_svd_cache, community_strength,
                             detect_communities)
from graphcl.sparse import interaction_matrix


def load_graph(root: str | None, quick: bool) -> tuple[torch.Tensor, int, int, int, str]:
    """(pairs (2, n) user-item, num_users, num_items, num_nodes, source)."""
    if not quick:
        try:
            from graphcl.data import load
            ds = load("gowalla", root=root)
            return ds.train, ds.num_users, ds.num_items, ds.num_users + ds.num_items, "gowalla"
        except Exception as err:  # missing files: same-size random graph
            print(f"gowalla not available ({type(err).__name__}); using a random graph of that size")
    users, items, n = (2000, 3000, 40_000) if quick else (29_858, 40_981, 810_128)
    g = torch.Generator().manual_seed(0)
    pairs = torch.stack([torch.randint(users, (n,), generator=g), torch.randint(items, (n,), generator=g)])
    pairs = torch.unique(pairs, dim=1)
    return pairs, users, items, users + items, "random"


def timeit(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time in ms over ``repeats`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def ced_loop_keep_probs(edges: list[list[int]], community: list[int], cs: list[float], p: float,
                        threshold: float = 1.0) -> list[float]:
    """Reference: CED keep probabilities with a Python loop over edges."""
    w = []
    for u, v in edges:
        cu, cv = community[u], community[v]
        w.append(cs[cu] if cu == cv else -(cs[cu] + cs[cv]))
    lo, hi = min(w), max(w)
    w = [(x - lo) / (hi - lo) for x in w]
    mean = sum(w) / len(w)
    return [min(max(x / mean * (1 - p), 1 - threshold), 1.0) for x in w]


def ced_tensor_loop_keep_probs(edge_index: torch.Tensor, community: torch.Tensor, cs: torch.Tensor,
                               p: float) -> list[float]:
    """Reference in the authors' style: iterate over edge tensor columns with ``.item()``."""
    w = []
    for u, v in edge_index.T:
        cu, cv = int(community[u.item()]), int(community[v.item()])
        w.append(float(cs[cu]) if cu == cv else -(float(cs[cu]) + float(cs[cv])))
    lo, hi = min(w), max(w)
    w = [(x - lo) / (hi - lo) for x in w]
    mean = sum(w) / len(w)
    return [min(max(x / mean * (1 - p), 0.0), 1.0) for x in w]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--quick", action="store_true", help="small random graph, 2 repeats")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--louvain", action="store_true",
                        help="also time Louvain detection (networkx; minutes on Gowalla)")
    parser.add_argument("--loop-edges", type=int, default=200_000,
                        help="edges timed with the Python CED loop (extrapolated to all)")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    torch.manual_seed(0)

    pairs, nu, ni, n, source = load_graph(args.data_root, args.quick)
    u, i = pairs[0], pairs[1] + nu
    edge_index = torch.cat([torch.stack([u, i]), torch.stack([i, u])], 1)
    e = edge_index.size(1)
    x = torch.randn(n, 64)
    data = Data(x=x, edge_index=edge_index, num_nodes=n)
    print(f"graph: {source}, {n:,} nodes, {e:,} directed edges, x {tuple(x.shape)}, "
          f"{torch.get_num_threads()} threads\n")

    if args.louvain:
        t = time.perf_counter()
        community = detect_communities(edge_index, n, seed=0)
        print(f"Louvain: {time.perf_counter() - t:.1f} s, {int(community.max()) + 1} communities")
    else:  # CED/CAV cost does not depend on partition quality: a cheap partition
        community = torch.randint(200, (n,), generator=torch.Generator().manual_seed(0))
    cs_comm, cs_node = community_strength(edge_index, community, n)
    cdata = Data(x=x, edge_index=edge_index, num_nodes=n, community=community,
                 community_strength=cs_node, cs_per_community=cs_comm)

    svd = SVDView(rank=5, niter=2, seed=0)
    rows: list[tuple[str, float, str]] = []

    def bench(name: str, fn: Callable[[], object], per: int, unit: str) -> None:
        ms = timeit(fn, repeats)
        rows.append((name, ms, f"{per / ms * 1000 / 1e6:,.1f} M {unit}/s"))

    bench("EdgeDrop(0.2, undirected=False)", lambda: EdgeDrop(0.2, undirected=False, seed=0)(data), e, "edges")
    bench("EdgeDrop(0.2, undirected=True)", lambda: EdgeDrop(0.2, undirected=True, seed=0)(data), e, "edges")
    bench("EdgeDrop(0.2) auto-detect", lambda: EdgeDrop(0.2, seed=0)(data), e, "edges")
    bench("EdgeDrop(0.2, edge_probs='degree')",
          lambda: EdgeDrop(0.2, undirected=False, edge_probs="degree", seed=0)(data), e, "edges")
    bench("FeatureMask(0.3)", lambda: FeatureMask(0.3, seed=0)(data), x.numel(), "entries")
    bench("NodeDrop(0.1)", lambda: NodeDrop(0.1, seed=0)(data), e, "edges")
    bench("community_strength", lambda: community_strength(edge_index, community, n), e, "edges")
    bench("CommunalEdgeDrop(0.3)", lambda: CommunalEdgeDrop(0.3, seed=0)(cdata), e, "edges")
    bench("CommunalAttributeVoting(0.3)", lambda: CommunalAttributeVoting(0.3, seed=0)(cdata),
          x.numel(), "entries")
    clear_svd_cache()
    t = time.perf_counter()
    svd.factors(pairs, nu, ni)
    first = 1000 * (time.perf_counter() - t)
    rows.append(("SVDView(q=5).factors, first call", first, f"{pairs.size(1) / first * 1000 / 1e6:,.2f} M nnz/s"))
    bench("SVDView(q=5).factors, cached", lambda: svd.factors(pairs, nu, ni), pairs.size(1), "nnz")
    graph = interaction_matrix(pairs, nu, ni)
    f = svd.factors(graph)
    emb = torch.randn(ni, 64)
    bench("SVDFactors.propagate_users (d=64)", lambda: f.propagate_users(emb), nu * 64, "outputs")

    print("| augmenter | ms / call | throughput |")
    print("|---|---:|---:|")
    for name, ms, thr in rows:
        print(f"| {name} | {ms:,.2f} | {thr} |")

    # CED: vectorized keep probabilities vs a Python loop over edges
    vec_ms = timeit(lambda: ced_keep_probs(edge_index, community, cs_comm, 0.3), repeats)
    k = min(args.loop_edges, e)
    sub = edge_index[:, torch.randperm(e, generator=torch.Generator().manual_seed(1))[:k]]
    edges, comm_list, cs_list = sub.T.tolist(), community.tolist(), cs_comm.double().tolist()
    t = time.perf_counter()
    ced_loop_keep_probs(edges, comm_list, cs_list, 0.3)
    loop_sub = 1000 * (time.perf_counter() - t)
    loop_ms = loop_sub * e / k
    note = "measured" if k == e else f"measured on {k:,} edges ({loop_sub:,.0f} ms), extrapolated"
    k2 = min(k, 20_000)
    t = time.perf_counter()
    ced_tensor_loop_keep_probs(sub[:, :k2], community, cs_comm, 0.3)
    tensor_sub = 1000 * (time.perf_counter() - t)
    tensor_ms = tensor_sub * e / k2
    note2 = f"measured on {k2:,} edges ({tensor_sub:,.0f} ms), extrapolated" if k2 < e else "measured"
    print("\n| CED keep probabilities | ms (all edges) | note |")
    print("|---|---:|---|")
    print(f"| vectorized (torch) | {vec_ms:,.1f} | measured |")
    print(f"| Python loop over edges | {loop_ms:,.1f} | {note} |")
    print(f"| Python loop over tensor columns, .item() (authors' style) | {tensor_ms:,.1f} | {note2} |")
    print(f"| ratio list loop / vectorized | {loop_ms / vec_ms:,.0f}x | |")
    print(f"| ratio tensor loop / vectorized | {tensor_ms / vec_ms:,.0f}x | |")


if __name__ == "__main__":
    main()
