"""Benchmark: PamC's meta-node loss vs the pairwise loss it approximates (SCGC*), as N grows.

Synthetic attributed graphs with K = 10 planted classes (``synthetic_graph``):
each node links to ``--partners`` others (80% inside its class), features are
class means plus Gaussian noise (``--dim-in``, USPS-sized 256 by default); the
influence graph is A^(r) = Â + ... + Â^r (``--order``, default 2).

Two measurements per N, side by side in one run, each (mode, variant, N) in its
own subprocess with 1 torch thread:

* ``loss``: forward + backward of the contrastive loss alone on random
  embeddings z (N x 10, SCGC's n_z) and soft assignments Q (N x K):
  ``pamc`` (soft meta-nodes, the default), ``pamc-hard`` (the authors' code) and
  ``pairwise`` (SCGC's O(N²) loss);
* ``epoch``: one full training step of the real models (``graphcl`` methods
  ``pamc`` and ``scgc`` built with ``pretrain_epochs: 0``): MLP encoder
  dim_in -> 500 -> 500 -> 2000 -> 10, Student-t Q, KL(P||Q), the contrastive
  loss, backward and the Adam step.

Time: median of ``--repeats`` steps after one warm-up step. Peak memory: the
torch CPU allocator's peak during one more step, from the profiler's memory
events (``torch.profiler.profile(profile_memory=True)``: the running sum of
allocations and frees, so only the step's own tensors count; parameters and
Adam state exist before it). The pairwise variant is skipped where its
estimated N x N buffers (``PAIRWISE_BYTES_PER_N2`` · N² bytes) exceed
``--mem-cap-gib``; the table says so. A least-squares line of PamC's peak
memory against N (MiB per 1k nodes, R²) and log-log slopes show the growth.

    python experiments/benchmarks/bench_pamc.py                       # N = 2.5k .. 200k
    python experiments/benchmarks/bench_pamc.py --sizes 2000 4000 --modes loss --repeats 1   # quick

Writes Markdown to experiments/results/pamc_bench.md (``--out``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from harness import REPO, atomic_write_text, hardware_line, peak_rss_mib


SIZES = (2500, 5000, 10000, 20000, 50000, 100000, 200000)
VARIANTS = {"loss": ("pamc", "pamc-hard", "pairwise"), "epoch": ("pamc", "pamc-hard", "pairwise")}
NUM_CLASSES = 10
N_Z = 10
MiB = 1 << 20
# the pairwise loss step holds about two N x N float32 buffers at its peak (measured 8.1 N² bytes at N = 4000)
PAIRWISE_BYTES_PER_N2 = 8.5


def synthetic_graph(n: int, num_classes: int = NUM_CLASSES, partners: int = 2, p_in: float = 0.8,
                    dim_in: int = 256, seed: int = 0):
    """PyG ``Data``: planted classes, ``partners`` random links per node (``p_in`` of them to
    a node of the same class), features = class mean + N(0, 1) noise. Vectorized."""
    from torch_geometric.data import Data
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(num_classes, (n,), generator=gen)
    order = torch.argsort(y)
    counts = torch.bincount(y, minlength=num_classes)
    start = torch.cumsum(counts, 0) - counts
    src = torch.arange(n).repeat_interleave(partners)
    same = torch.rand(src.numel(), generator=gen) < p_in
    within = order[start[y[src]] + (torch.rand(src.numel(), generator=gen) * counts[y[src]]).long()]
    anywhere = torch.randint(n, (src.numel(),), generator=gen)
    dst = torch.where(same, within, anywhere)
    means = torch.randn(num_classes, dim_in, generator=gen)
    x = means[y] + torch.randn(n, dim_in, generator=gen)
    return Data(x=x, edge_index=torch.stack([src, dst]), y=y)


def _max_rss() -> int:
    return peak_rss_mib() * 1024 * 1024


def _profiled_peak(step) -> float:
    """Peak bytes held by tensors allocated during ``step()`` (torch profiler memory events)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [(e.start_ns(), i, e.nbytes()) for i, e in enumerate(prof.profiler.kineto_results.events())
              if e.name() == "[memory]"]
    events.sort()
    cur = peak = 0
    for _, _, nbytes in events:
        cur += nbytes
        peak = max(peak, cur)
    return peak


def worker(mode: str, variant: str, n: int, args: argparse.Namespace) -> dict:
    from graphcl.losses import influence_graph, meta_node_loss, pairwise_neighbor_loss
    from graphcl.registry import get_method

    data = synthetic_graph(n, partners=args.partners, dim_in=args.dim_in, seed=0)
    t0 = time.perf_counter()
    if mode == "loss":
        graph = influence_graph(data.edge_index, n, args.order)
        gen = torch.Generator().manual_seed(1)
        z = torch.randn(n, N_Z, generator=gen, requires_grad=True)
        logits = torch.randn(n, NUM_CLASSES, generator=gen, requires_grad=True)

        def step():
            z.grad = logits.grad = None
            q = torch.softmax(logits, 1)
            if variant == "pairwise":
                loss = pairwise_neighbor_loss(z, graph, args.tau)
            else:
                loss = meta_node_loss(z, graph, q, args.tau, "hard" if variant == "pamc-hard" else "soft")
            loss.backward()
            return float(loss)
        nnz = graph.nnz
    else:
        method = "scgc" if variant == "pairwise" else "pamc"
        spec = get_method(method)
        config = {**spec.defaults, "order": args.order, "tau": args.tau, "pretrain_epochs": 0,
                  "kmeans_init_n": 1, "seed": 0}
        if variant != "pairwise":
            config["assignment"] = "hard" if variant == "pamc-hard" else "soft"
        torch.manual_seed(0)
        model = spec.build(data, config, "cpu")
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        gen = torch.Generator()

        def step():
            out = model.loss(gen)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt.step()
            return float(out["loss"])
        nnz = model.graph.nnz
    setup = time.perf_counter() - t0
    rss0 = _max_rss()
    loss = step()                                    # warm-up (allocates Adam state)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t)
    times.sort()
    peak = _profiled_peak(step)
    return {"mode": mode, "variant": variant, "n": n, "nnz": nnz, "time_s": times[len(times) // 2],
            "peak_mib": peak / MiB, "rss_growth_mib": (_max_rss() - rss0) / MiB, "loss": loss,
            "setup_s": setup}


def run_one(args: argparse.Namespace, mode: str, variant: str, n: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, variant, str(n), "--order", str(args.order),
           "--tau", str(args.tau), "--repeats", str(args.repeats), "--partners", str(args.partners),
           "--dim-in", str(args.dim_in)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"mode": mode, "variant": variant, "n": n, "error": f"exit {proc.returncode}: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x; returns (a, b, R²)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    return a, b, (1 - ss_res / ss_tot) if ss_tot else 1.0


def loglog_slope(points: list[tuple[int, float]]) -> float:
    return linear_fit([math.log(n) for n, _ in points], [math.log(max(v, 1e-12)) for _, v in points])[1]


def report(rows: list[dict], args: argparse.Namespace, command: str) -> str:
    lines = ["# PamC vs pairwise contrastive loss: time and peak memory as N grows", "",
             f"- Commands: `{command}`",
             f"- {hardware_line()}; shared with other jobs (absolute times are noisy; the variants of one "
             f"N run one after the other in the same job, so compare ratios); 1 thread per measurement.",
             f"- Graphs: synthetic, K = {NUM_CLASSES} planted classes, {args.partners} links per node "
             f"(80% inside the class), features {args.dim_in}-d; influence order r = {args.order}; "
             f"τ = {args.tau}; n_z = {N_Z}.",
             "- `loss`: contrastive loss forward + backward on random z (N x 10) and Q (N x 10). "
             "`epoch`: one full training step of the `pamc` / `scgc` methods (MLP 500-500-2000-10, "
             "KL, loss, backward, Adam). Time: median of the timed steps. Peak: torch allocator peak "
             "during one step (profiler memory events); RSS growth: max RSS of the worker process "
             "after the steps minus before them (allocator caching and page reuse make it coarser).",
             "- `pamc` = soft meta-nodes (the paper, our default); `pamc-hard` = the authors' argmax "
             "meta-nodes; `pairwise` = SCGC*'s O(N²) loss (what PamC approximates).", ""]
    for mode in args.modes:
        lines += [f"## {mode}", "", "| variant | N | nnz(A^(r)) | time (s) | peak (MiB) | RSS growth (MiB) | note |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for r in [r for r in rows if r["mode"] == mode]:
            if "time_s" in r:
                lines.append(f"| {r['variant']} | {r['n']} | {r['nnz']} | {r['time_s']:.3f} | "
                             f"{r['peak_mib']:.1f} | {r['rss_growth_mib']:.1f} | |")
            else:
                lines.append(f"| {r['variant']} | {r['n']} | | – | – | – | {r.get('skipped') or r.get('error')} |")
        lines.append("")
        ok = {(r["variant"], r["n"]): r for r in rows if r["mode"] == mode and "time_s" in r}
        ratio_lines = []
        for n in sorted({n for (_, n) in ok}):
            pw = ok.get(("pairwise", n))
            for v in ("pamc", "pamc-hard"):
                if pw and (v, n) in ok:
                    ratio_lines.append(f"| {v} | {n} | {pw['time_s'] / ok[(v, n)]['time_s']:.1f}x | "
                                       f"{pw['peak_mib'] / max(ok[(v, n)]['peak_mib'], 1e-9):.1f}x |")
        if ratio_lines:
            lines += ["Pairwise / PamC, same N:", "", "| PamC variant | N | time ratio | peak memory ratio |",
                      "|---|---:|---:|---:|", *ratio_lines, ""]
        for v in VARIANTS[mode]:
            pts = sorted((n, r["peak_mib"]) for (vv, n), r in ok.items() if vv == v)
            tpts = sorted((n, r["time_s"]) for (vv, n), r in ok.items() if vv == v)
            if len(pts) >= 2:
                a, b, r2 = linear_fit([n for n, _ in pts], [m for _, m in pts])
                lines.append(f"- {v}: peak memory ≈ {a:.1f} MiB + {1000 * b:.2f} MiB per 1k nodes "
                             f"(least squares over N = {', '.join(str(n) for n, _ in pts)}; R² = {r2:.4f}); "
                             f"log-log slopes: memory {loglog_slope(pts):.2f}, time {loglog_slope(tpts):.2f} "
                             f"(1 = linear, 2 = quadratic).")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--modes", nargs="+", default=["loss", "epoch"], choices=["loss", "epoch"])
    p.add_argument("--order", type=int, default=2)
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--partners", type=int, default=2)
    p.add_argument("--dim-in", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--mem-cap-gib", type=float, default=6.0,
                   help=f"skip pairwise where {PAIRWISE_BYTES_PER_N2:g}·N² bytes exceed this")
    p.add_argument("--epoch-max-n", type=int, default=100000, help="largest N for the epoch mode")
    p.add_argument("--out", default=str(REPO / "experiments" / "results" / "pamc_bench.md"))
    p.add_argument("--worker", nargs=3, metavar=("MODE", "VARIANT", "N"), help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.worker:
        mode, variant, n = args.worker
        print(json.dumps(worker(mode, variant, int(n), args)))
        return
    command = "python experiments/benchmarks/bench_pamc.py " + " ".join(sys.argv[1:])
    # rows of earlier invocations with the same graph settings are kept in <out>.rows.json (a
    # new measurement of the same (mode, variant, N) replaces its row): the modes can run as
    # separate short jobs and still land in one report
    rows_path = Path(args.out + ".rows.json")
    settings = {k: getattr(args, k) for k in ("order", "tau", "partners", "dim_in")}
    saved = json.loads(rows_path.read_text()) if rows_path.exists() else {}
    keep = saved.get("settings") == settings
    rows: list[dict] = saved.get("rows", []) if keep else []
    commands: list[str] = (saved.get("commands", []) if keep else []) + [command]

    def save() -> None:
        atomic_write_text(rows_path, json.dumps({"settings": settings, "commands": commands, "rows": rows}, indent=1))
        modes = [m for m in ("loss", "epoch") if any(r["mode"] == m for r in rows)]
        atomic_write_text(Path(args.out), report(rows, argparse.Namespace(**{**vars(args), "modes": modes}),
                                            "; ".join(commands)))

    for mode in args.modes:
        for n in args.sizes:
            if mode == "epoch" and n > args.epoch_max_n:
                continue
            for variant in VARIANTS[mode]:
                est = PAIRWISE_BYTES_PER_N2 * n * n / (1 << 30)
                if variant == "pairwise" and est > args.mem_cap_gib:
                    row = {"mode": mode, "variant": variant, "n": n,
                           "skipped": f"not run: its N x N buffers need ~{est:.1f} GiB "
                                      f"(> cap {args.mem_cap_gib:g} GiB)"}
                else:
                    row = run_one(args, mode, variant, n)
                rows[:] = [r for r in rows if (r["mode"], r["variant"], r["n"]) != (mode, variant, n)]
                rows.append(row)
                rows.sort(key=lambda r: (("loss", "epoch").index(r["mode"]), r["n"],
                                         VARIANTS[r["mode"]].index(r["variant"])))
                print(f"{mode:5s} {variant:9s} N={n:6d} " + (
                    f"{row['time_s']:.3f} s  peak {row['peak_mib']:.1f} MiB  nnz {row['nnz']}" if "time_s" in row
                    else str(row.get("skipped") or row.get("error"))), flush=True)
                save()
    save()
    print("\n" + Path(args.out).read_text())


if __name__ == "__main__":
    main()
