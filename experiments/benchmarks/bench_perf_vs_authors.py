"""Benchmark: graphcl vs the authors' code, s/step, peak memory and fp32 lower bounds (issue 22).

    .venv/bin/python experiments/benchmarks/bench_perf_vs_authors.py \\
        --grace-checkout /tmp/parity-refs/GRACE --lightgcl-checkout /tmp/parity-refs/LightGCL \\
        [--threads 1 2] [--rounds 5] [--workloads grace lightgcl lightgcn eval] [--quick] \\
        [--data-root ../shared/data] [--out experiments/results/perf_vs_authors.md]

Workloads (each side in its own fresh process per thread count, so its peak RSS is its own; the
two processes of a workload stay alive side by side and are told to take one timed round in turn,
authors, ours, authors, ours, ... for ``--rounds`` rounds, after one untimed warm-up step each):

* ``grace``: Cora, one training epoch (= one full-graph step: two views, forward, loss, backward,
  Adam step) with the authors' Cora entry of their ``config.yaml``. Authors: their ``train.py``'s
  own ``train(model, x, edge_index)`` (their ``model.py``/``train.py`` imported from the checkout at
  run time, nothing patched; the module globals their ``__main__`` block would set, ``optimizer``
  and the four drop rates, are set from that entry), on PyG's ``Planetoid`` with
  ``NormalizeFeatures`` read from our raw files. Ours: graphcl's ``grace`` with
  ``GRACEAdapter.ours_config('cora')``, one step of ``model.loss`` + backward + Adam.
* ``lightgcl``: Gowalla (LightGCN split), one training step on a batch of 4,096 training pairs
  (BPR + all-user / all-item InfoNCE + L2). Authors: their ``model.LightGCL`` built by
  ``experiments.parity.stepcheck`` (CPU patches of the adapter applied to a temporary copy; same
  normalized graph, SVD factors and initial parameters as ours), ``model(uids, iids, pos, neg)``
  as their ``main.py`` calls it; ours: graphcl's ``lightgcl`` with ``LightGCLAdapter.ours_config``.
  Both sides get the same batches (graphcl's sampler with the same seed), drawn before the
  rounds: sampling is outside the timed step on both sides (the authors sample negatives once
  per epoch, ``utils.py:60-67``, ours per batch).
* ``lightgcn``: Gowalla, ours only: ``--lightgcn-steps`` training steps of batch 2,048 (registry
  defaults: 3 layers, d 64) per round; s/step, and s/epoch = s/step x batches per epoch.
* ``eval``: ours only: ``bench_eval_topk.py`` run as it is (its own process per thread count,
  ``--rounds`` rounds); its blockwise full-ranking evaluation of the test split and its floor.

Lower bounds (fp32; FLOPs = 2 per multiply-add; "rate" = the best GFLOP/s of a cache-sized
256 x 4,096 x d sgemm, ``bench_eval_topk.matmul_rate``, measured in ours' process of the same
thread count, before and after the rounds; the bound = FLOPs / rate):

* GRACE (N nodes, h = num_hidden = projection output, p = num_proj_hidden, nnz(X) feature
  nonzeros, E directed edges, views v = 1, 2 with feature / edge drop rates p_f,v / p_e,v)::

      6 * 2 N^2 h                                   # loss: z1 z2^T and the symmetric halves of
                                                    #   z1 z1^T, z2 z2^T forward (2 products),
                                                    #   4 of the same size backward
    + sum_v 3 * 2 N (2h*h + h*p + p*h)              # layer 2, fc1, fc2: forward + 2x backward
    + sum_v 2 * 2 (1 - p_f,v) nnz(X) 2h             # layer 1 on sparse X: forward + weight grad
    + sum_v 2 * 2 ((1 - p_e,v) E + N) (2h + h)      # propagation with self loops, fwd + bwd

* LightGCL (U users, I items, d, L layers, q SVD rank, R = |train| nonzeros, B'_u distinct
  users of the batch, B'_i distinct items among its positives and negatives)::

      3 * 2 d (B'_u U + B'_i I)                     # the all-user / all-item score products,
                                                    #   forward + both operand gradients
    + L * 2 * 2 * 2 R d                             # main view R E_i, R^T E_u: forward + backward
    + L * 3 * 2 * 2 (U + I) q d                     # SVD view (US)(V^T E), (VS)(U^T E): fwd + bwd

* LightGCN (not compute-bound: its products are sparse): 2L x the best time of one SpMM of its
  normalized (U+I) x (U+I) adjacency by a (U+I) x d matrix, measured in the same process (L
  forward, L backward products of the fused propagation); the BPR and Adam parts are left out.
* eval: ``bench_eval_topk``'s floor, ``2 * users * items * d`` at its own measured rate.

Each measured s/step is the median over rounds; ``ratio`` = authors / ours; ``ours / bound``.
The authors' process also builds graphcl's model for the LightGCL workload (stepcheck takes the
SVD factors and initial parameters from it; it is deleted before the first step): both sides
load the same data with graphcl.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, bench_eval_topk (also when imported)

from harness import REPO, hardware_line, markdown_table, peak_rss_mib, write_table  # noqa: E402

DEFAULT_OUT = REPO / "experiments" / "results" / "perf_vs_authors.md"
DEFAULT_DATA = REPO.parent / "shared" / "data"
WORKLOADS = ("grace", "lightgcl", "lightgcn", "eval")
MIRRORS = {"grace": Path("/work/.mirror/CRIPAC-DIG+GRACE/repo"), "lightgcl": Path("/work/.mirror/HKUDS+LightGCL/repo")}
REPOS = {"grace": "CRIPAC-DIG/GRACE", "lightgcl": "HKUDS/LightGCL"}


# ------------------------------------------------------------------------------ pure helpers
def grace_step_flops(n: int, nnz_x: int, num_edges: int, hidden: int, proj: int,
                     p_f: tuple[float, float], p_e: tuple[float, float]) -> float:
    """Minimum fp32 FLOPs of one GRACE training step (2-layer GCN of widths 2h, h; the
    formula of the module docstring; 2 FLOPs per multiply-add)."""
    if min(n, hidden, proj) <= 0 or min(nnz_x, num_edges) < 0:
        raise ValueError(f"sizes must be positive, got n={n} hidden={hidden} proj={proj} "
                         f"nnz_x={nnz_x} num_edges={num_edges}")
    h, p = hidden, proj
    flops = 6 * 2.0 * n * n * h
    for pf, pe in zip(p_f, p_e):
        flops += 3 * 2.0 * n * (2 * h * h + h * p + p * h)
        flops += 2 * 2.0 * (1 - pf) * nnz_x * 2 * h
        flops += 2 * 2.0 * ((1 - pe) * num_edges + n) * (2 * h + h)
    return flops


def lightgcl_step_flops(num_users: int, num_items: int, batch_users: int, batch_items: int, dim: int,
                        nnz: int, layers: int, rank: int) -> float:
    """Minimum fp32 FLOPs of one LightGCL training step: the all-user / all-item InfoNCE score
    products over the batch's distinct users / items (forward and both gradients), the main
    view's sparse propagation and the SVD view's low-rank products, forward and backward."""
    if min(num_users, num_items, dim) <= 0 or min(batch_users, batch_items, nnz, layers, rank) < 0:
        raise ValueError("sizes must be positive")
    scores = 3 * 2.0 * dim * (batch_users * num_users + batch_items * num_items)
    main_view = layers * 2 * 2 * 2.0 * nnz * dim
    svd_view = layers * 3 * 2 * 2.0 * (num_users + num_items) * rank * dim
    return scores + main_view + svd_view


def lightgcn_bound_seconds(spmm_seconds: float, layers: int) -> float:
    """LightGCN's lower bound per step: ``2 * layers`` SpMMs (forward and backward of the fused
    propagation) at the best measured time of one."""
    if spmm_seconds <= 0 or layers < 0:
        raise ValueError(f"need spmm_seconds > 0 and layers >= 0, got {spmm_seconds}, {layers}")
    return 2 * layers * spmm_seconds


def bound_seconds(flops: float, gflops: float) -> float:
    """Seconds of ``flops`` at ``gflops`` GFLOP/s."""
    if gflops <= 0:
        raise ValueError(f"the rate must be > 0 GFLOP/s, got {gflops}")
    return flops / (gflops * 1e9)


def parse_eval_rows(stdout: str) -> list[list[Any]]:
    """The rows ``bench_eval_topk.py`` prints per thread count (a Python list literal per line:
    ``[[threads, path, s, speed-up, peak MiB, 'GFLOP/s', floor s, s/floor], ...]``)."""
    rows: list[list[Any]] = []
    for line in stdout.splitlines():
        if line.startswith("[["):
            rows.extend(ast.literal_eval(line))
    if not rows:
        raise ValueError("no result rows in bench_eval_topk's output")
    return rows


def checkout_commit(checkout: Path, mirror: Path | None, repo: str) -> str:
    """The checkout's commit: its own git, else the bare mirror's HEAD, else the one recorded
    in experiments/parity/README.md for ``repo``."""
    for git_dir in (checkout / ".git", mirror):
        if git_dir is not None and Path(git_dir).exists():
            out = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"], capture_output=True,
                                 text=True, check=False)
            if out.returncode == 0:
                return out.stdout.strip()
    m = re.search(re.escape(repo) + r" \| `([0-9a-f]{40})`",
                  (REPO / "experiments" / "parity" / "README.md").read_text(encoding="utf-8"))
    return m.group(1) if m else "unknown"


# ------------------------------------------------------------------------------ worker side
def _rate(dim: int) -> float:
    from bench_eval_topk import matmul_rate
    return matmul_rate(dim)


def _grace_authors(args: argparse.Namespace) -> tuple[Callable[[], None], dict[str, Any]]:
    import torch
    import yaml
    from torch_geometric.datasets import Planetoid
    import torch_geometric.transforms as T
    from experiments.parity.load_module import import_from
    from experiments.parity.node_adapter import planetoid_raw
    checkout = Path(args.grace_checkout).resolve()
    sys.path.insert(0, str(checkout))  # train.py imports its model.py and eval.py
    train = import_from(checkout / "train.py", "perf_ref_grace_train")
    cfg = yaml.safe_load((checkout / "config.yaml").read_text(encoding="utf-8"))["Cora"]
    root = Path(tempfile.mkdtemp(prefix="perf_grace_"))
    shutil.copytree(planetoid_raw(Path(args.data_root), "Cora"), root / "Cora" / "raw")
    data = Planetoid(str(root), "Cora", transform=T.NormalizeFeatures())[0]
    shutil.rmtree(root, ignore_errors=True)
    torch.manual_seed(0)
    act = {"relu": torch.nn.functional.relu, "prelu": torch.nn.PReLU()}[cfg["activation"]]
    base = {"GCNConv": train.GCNConv}[cfg["base_model"]]
    encoder = train.Encoder(data.num_features, cfg["num_hidden"], act, base_model=base, k=cfg["num_layers"])
    model = train.Model(encoder, cfg["num_hidden"], cfg["num_proj_hidden"], cfg["tau"])
    # the globals their __main__ block sets before calling train()
    train.optimizer = torch.optim.Adam(model.parameters(), lr=cfg["learning_rate"], weight_decay=cfg["weight_decay"])
    for key in ("drop_edge_rate_1", "drop_edge_rate_2", "drop_feature_rate_1", "drop_feature_rate_2"):
        setattr(train, key, cfg[key])
    return (lambda: train.train(model, data.x, data.edge_index)), {"dim": int(cfg["num_hidden"])}


def _grace_ours(args: argparse.Namespace) -> tuple[Callable[[], None], dict[str, Any]]:
    import torch
    from graphcl.data import load
    from graphcl.registry import get_method
    from experiments.parity.adapters.grace import ADAPTER
    data = load("cora", root=args.data_root)
    spec = get_method("grace")
    cfg = {**spec.defaults, **spec.presets.get("cora", {}), **ADAPTER.ours_config("cora"), "seed": 0}
    torch.manual_seed(0)
    model = spec.build(data, cfg, "cpu")
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        out = model.loss(next(iter(model.batches(gen))))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
    x = data.x
    info = {"dim": int(cfg["hidden_dim"]), "n": int(x.size(0)), "nnz_x": int((x != 0).sum()),
            "num_edges": int(data.edge_index.size(1))}
    info["flops"] = grace_step_flops(info["n"], info["nnz_x"], info["num_edges"], int(cfg["hidden_dim"]),
                                     int(cfg["proj_dim"]), (float(cfg["p_f1"]), float(cfg["p_f2"])),
                                     (float(cfg["p_e1"]), float(cfg["p_e2"])))
    return step, info


def _lightgcl_setup(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    import torch
    from graphcl.data import load
    from graphcl.registry import get_method
    from experiments.parity.adapters.lightgcl import ADAPTER
    data = load(args.rec_dataset, root=args.data_root)
    spec = get_method("lightgcl")
    torch.manual_seed(0)
    ours = spec.build(data, {**spec.defaults, **ADAPTER.ours_config(args.rec_dataset), "seed": 0}, "cpu")
    ours.train()
    gen = torch.Generator().manual_seed(1)
    batches: list[Any] = []
    it = ours.batches(gen)
    for _ in range(args.rounds * args.lightgcl_steps + 1):  # warm-up + the rounds
        try:
            u, p, n = next(it)
        except StopIteration:
            it = ours.batches(gen)
            u, p, n = next(it)
        batches.append((u, p, n[:, 0] if n.dim() == 2 else n))
    return data, ours, batches


def _cycle(batches: list[Any]) -> Callable[[], Any]:
    state = {"i": 0}

    def nxt() -> Any:
        b = batches[state["i"] % len(batches)]
        state["i"] += 1
        return b
    return nxt


def _lightgcl_authors(args: argparse.Namespace) -> tuple[Callable[[], None], dict[str, Any]]:
    import gc
    import torch
    from experiments.parity.stepcheck import BUILDERS
    data, ours, batches = _lightgcl_setup(args)
    tmp = tempfile.mkdtemp(prefix="perf_lightgcl_")
    ref, _, _ = BUILDERS["lightgcl"](data, ours, Path(args.lightgcl_checkout).resolve(), Path(tmp))
    shutil.rmtree(tmp, ignore_errors=True)  # the module is imported; the copy is no longer read
    lr, dim = float(ours.config["lr"]), int(ours.config["embedding_dim"])
    del ours
    gc.collect()
    opt = torch.optim.Adam(ref.parameters(), weight_decay=0, lr=lr)  # main.py:86
    nxt = _cycle(batches)

    def step() -> None:  # main.py:101-111
        uids, pos, neg = nxt()
        iids = torch.concat([pos, neg], dim=0)
        opt.zero_grad()
        loss, _, _ = ref(uids, iids, pos, neg)
        loss.backward()
        opt.step()
    return step, {"dim": dim}


def _lightgcl_ours(args: argparse.Namespace) -> tuple[Callable[[], None], dict[str, Any]]:
    import torch
    data, ours, batches = _lightgcl_setup(args)
    c = ours.config
    opt = torch.optim.Adam(ours.parameters(), lr=float(c["lr"]), weight_decay=float(c["weight_decay"]))
    nxt = _cycle(batches)

    def step() -> None:
        out = ours.loss(nxt())
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
    timed = batches[1:]  # the warm-up batch is untimed
    bu = statistics.mean(int(torch.unique(u).numel()) for u, _, _ in timed)
    bi = statistics.mean(int(torch.unique(torch.cat([p, n])).numel()) for _, p, n in timed)
    flops = lightgcl_step_flops(data.num_users, data.num_items, round(bu), round(bi), int(c["embedding_dim"]),
                                int(data.train.size(1)), int(c["num_layers"]), int(c["svd_rank"]))
    return step, {"dim": int(c["embedding_dim"]), "flops": flops, "batch_users": bu, "batch_items": bi,
                  "num_users": data.num_users, "num_items": data.num_items, "nnz": int(data.train.size(1)),
                  "batch": int(c["batch_size"])}


def _lightgcn_ours(args: argparse.Namespace) -> tuple[Callable[[], None], dict[str, Any]]:
    import torch
    from graphcl.config import merge_config
    from graphcl.data import load
    from graphcl.registry import get_method
    data = load(args.rec_dataset, root=args.data_root)
    spec = get_method("lightgcn")
    cfg, _ = merge_config(spec.defaults, {"batch_size": 2048}, method="lightgcn")
    torch.manual_seed(0)
    model = spec.build(data, cfg, "cpu")
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    gen = torch.Generator().manual_seed(0)

    def forever() -> Any:
        while True:
            yield from model.batches(gen)
    it = forever()

    def step() -> None:
        out = model.loss(next(it))
        loss = out["loss"] if isinstance(out, dict) else out
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    dim, layers = int(cfg["embedding_dim"]), int(cfg["num_layers"])
    graph = model.graph
    x = torch.randn(graph.shape[1], dim)

    def spmm_best(repeats: int = 10) -> float:
        best = float("inf")
        with torch.no_grad():
            for _ in range(repeats):
                t0 = time.perf_counter()
                graph.matrix @ x
                best = min(best, time.perf_counter() - t0)
        return best
    return step, {"dim": dim, "layers": layers, "num_batches": int(model.num_batches()),
                  "nnz": int(graph.matrix.values().numel()), "spmm_best": spmm_best}


def bf16_rate(dim: int, rounds: int = 20) -> float:
    """Best bf16 GFLOP/s of the 256 x 4,096 x ``dim`` product of :func:`bench_eval_topk.matmul_rate`
    (bfloat16 operands, fp32 accumulation inside the GEMM)."""
    import torch
    a, b = torch.randn(256, dim).bfloat16(), torch.randn(4096, dim).bfloat16()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        torch.mm(a, b.T)
        best = min(best, time.perf_counter() - t0)
    return 2 * 256 * 4096 * dim / best / 1e9


def _in_bf16(build: Callable[[argparse.Namespace], tuple[Callable[[], None], dict[str, Any]]]
             ) -> Callable[[argparse.Namespace], tuple[Callable[[], None], dict[str, Any]]]:
    """The same workload with every step under ``matmul_precision("bf16")`` (``precision: bf16``)."""
    def builder(args: argparse.Namespace) -> tuple[Callable[[], None], dict[str, Any]]:
        from graphcl.precision import matmul_precision
        step, info = build(args)

        def bf16_step() -> None:
            with matmul_precision("bf16"):
                step()
        info["bf16_rate"] = bf16_rate(int(info["dim"]))
        return bf16_step, info
    return builder


BUILDERS: dict[str, Callable[[argparse.Namespace], tuple[Callable[[], None], dict[str, Any]]]] = {
    "grace:authors": _grace_authors, "grace:ours": _grace_ours, "lightgcl:authors": _lightgcl_authors,
    "lightgcl:ours": _lightgcl_ours, "lightgcn:ours": _lightgcn_ours,
    "grace:ours-bf16": _in_bf16(_grace_ours), "lightgcl:ours-bf16": _in_bf16(_lightgcl_ours),
    "lightgcn:ours-bf16": _in_bf16(_lightgcn_ours)}


def worker(args: argparse.Namespace) -> None:
    """Build the workload side, take one warm-up step, then answer ``round`` (one timed round of
    ``steps`` steps: ``{"seconds": s per step}``) and ``end`` (peak RSS, rate, info) on stdin."""
    import torch
    torch.set_num_threads(args.threads[0])
    t0 = time.perf_counter()
    step, info = BUILDERS[args.worker](args)
    step()  # warm-up (allocator, caches)
    spmm = info.pop("spmm_best", None)
    rates = [_rate(int(info["dim"]))]
    spmm_times = [spmm()] if spmm else []
    print(json.dumps({"ready": True, "setup_s": time.perf_counter() - t0}), flush=True)
    steps = {"grace": args.grace_steps, "lightgcl": args.lightgcl_steps, "lightgcn": args.lightgcn_steps}[
        args.worker.split(":")[0]]
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "round":
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            print(json.dumps({"seconds": (time.perf_counter() - t0) / steps}), flush=True)
        elif cmd == "end":
            rates.append(_rate(int(info["dim"])))
            if spmm:
                spmm_times.append(spmm())
            print(json.dumps({"peak_rss_mib": peak_rss_mib(), "rate": max(rates),
                              "spmm_s": min(spmm_times) if spmm_times else None, "info": info,
                              "threads": torch.get_num_threads()}), flush=True)
            return
        else:
            raise SystemExit(f"unknown command {cmd!r}")


# ------------------------------------------------------------------------------ parent side
class Side:
    """A running worker process of one workload side."""

    def __init__(self, name: str, args: argparse.Namespace, threads: int) -> None:
        self.name = name
        self.timeout = args.timeout
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self.err = tempfile.TemporaryFile(mode="w+")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--threads", str(threads),
               "--data-root", args.data_root, "--rec-dataset", args.rec_dataset, "--rounds", str(args.rounds),
               "--grace-steps", str(args.grace_steps), "--lightgcl-steps", str(args.lightgcl_steps),
               "--lightgcn-steps", str(args.lightgcn_steps)]
        if args.grace_checkout:
            cmd += ["--grace-checkout", str(args.grace_checkout)]
        if args.lightgcl_checkout:
            cmd += ["--lightgcl-checkout", str(args.lightgcl_checkout)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True, cwd=REPO, env=env)

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.proc.kill()
            self.err.seek(0)
            raise RuntimeError(f"worker {self.name} gave no answer ({'timeout' if not ready else 'exited'}, "
                               f"rc {self.proc.poll()}): {self.err.read()[-3000:]}")
        return json.loads(line)

    def send(self, cmd: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.err.close()


def run_pair(workload: str, sides: list[str], args: argparse.Namespace, threads: int) -> dict[str, Any]:
    """Interleaved rounds of the workload's sides; per side the seconds per round and its end record."""
    procs: list[Side] = []
    try:
        for side in sides:  # one at a time: each builds on a quiet machine
            procs.append(Side(f"{workload}:{side}", args, threads))
            ready = procs[-1].read()
            print(f"  {workload}:{side} ready in {ready['setup_s']:.1f} s", flush=True)
        seconds: dict[str, list[float]] = {s: [] for s in sides}
        for r in range(args.rounds):
            for side, proc in zip(sides, procs):
                seconds[side].append(proc.send("round")["seconds"])
            print(f"  round {r}: " + ", ".join(f"{s} {seconds[s][-1]:.3f} s/step" for s in sides), flush=True)
        ends = {side: proc.send("end") for side, proc in zip(sides, procs)}
    finally:
        for proc in procs:
            proc.close()
    return {"seconds": seconds, "end": ends}


BF16_COLUMNS = ["workload", "threads", "ours fp32 s/step", "ours bf16 s/step", "fp32 / bf16",
                "bf16 peak RSS (MiB)", "bf16 GFLOP/s", "bf16 bound s/step", "bf16 / bound"]


def bf16_row(workload: str, threads: int, med: dict[str, float], end: dict[str, Any]) -> list[Any]:
    """One row of the bf16 table from a run with sides ``ours`` and ``ours-bf16``."""
    info = end["info"]
    rate = float(info["bf16_rate"])
    if workload == "lightgcn":
        bound = lightgcn_bound_seconds(float(end["spmm_s"]), int(info["layers"]))
    else:
        bound = bound_seconds(float(info["flops"]), rate)
    return [workload, threads, med["ours"], med["ours-bf16"], med["ours"] / med["ours-bf16"], end["peak_rss_mib"],
            rate, bound, med["ours-bf16"] / bound]


def run_eval(args: argparse.Namespace, threads: int) -> list[Any]:
    """``bench_eval_topk.py`` in its own process at ``threads``: its blockwise row."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(Path(__file__).resolve().parent / "bench_eval_topk.py"), "--dataset",
               args.rec_dataset, "--data-root", args.data_root, "--threads", str(threads), "--rounds",
               str(args.eval_rounds), "--train-steps", str(args.eval_train_steps), "--out", str(Path(tmp) / "e.md")]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, check=False,
                              timeout=args.timeout * 4)
    if proc.returncode != 0:
        raise RuntimeError(f"bench_eval_topk failed ({proc.returncode}): {proc.stderr[-3000:]}")
    rows = {row[1]: row for row in parse_eval_rows(proc.stdout)}
    return [rows["blockwise"], rows["materialized"]]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grace-checkout", type=Path)
    ap.add_argument("--lightgcl-checkout", type=Path)
    ap.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds per side")
    ap.add_argument("--grace-steps", type=int, default=5, help="GRACE epochs per round")
    ap.add_argument("--lightgcl-steps", type=int, default=1, help="LightGCL steps per round")
    ap.add_argument("--lightgcn-steps", type=int, default=20, help="LightGCN steps per round")
    ap.add_argument("--eval-rounds", type=int, default=3)
    ap.add_argument("--eval-train-steps", type=int, default=60)
    ap.add_argument("--rec-dataset", default="gowalla")
    ap.add_argument("--data-root", default=str(DEFAULT_DATA))
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds one worker answer may take")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 rounds of 1 step, 2 LightGCN steps, "
                                                         "1 evaluation round after 2 training steps")
    ap.add_argument("--bf16", action="store_true",
                    help="also time graphcl with precision: bf16 (a third interleaved side; its own table)")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--worker", choices=sorted(BUILDERS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))  # experiments.parity (adapters, stepcheck, node_adapter)
    if args.quick:
        args.rounds, args.grace_steps, args.lightgcl_steps, args.lightgcn_steps = 2, 1, 1, 2
        args.eval_rounds, args.eval_train_steps = 1, 2
    if min(args.rounds, args.grace_steps, args.lightgcl_steps, args.lightgcn_steps, args.eval_rounds) < 1:
        ap.error("rounds and steps must be >= 1")
    if args.worker:
        worker(args)
        return
    for w, ck in (("grace", args.grace_checkout), ("lightgcl", args.lightgcl_checkout)):
        if w in args.workloads and (ck is None or not ck.is_dir()):
            ap.error(f"--{w}-checkout must be the reference checkout folder for the {w} workload, got {ck}")
    commits = {w: checkout_commit(ck.resolve(), MIRRORS[w], REPOS[w])
               for w, ck in (("grace", args.grace_checkout), ("lightgcl", args.lightgcl_checkout))
               if w in args.workloads}
    if "grace" in args.workloads:  # the authors' Cora entry must be the one the adapter records
        import yaml
        from experiments.parity.adapters.grace import ADAPTER
        entry = yaml.safe_load((args.grace_checkout / "config.yaml").read_text(encoding="utf-8"))["Cora"]
        differ = {k: (entry.get(k), v) for k, v in ADAPTER.hyper("cora").items() if entry.get(k) != v}
        if differ:
            sys.exit(f"the checkout's config.yaml Cora entry differs from GRACEAdapter's (authors', ours): {differ}")

    cols = ["workload", "threads", "authors s/step", "ours s/step", "authors / ours", "authors peak RSS (MiB)",
            "ours peak RSS (MiB)", "min GFLOP/step", "fp32 GFLOP/s", "bound s/step", "ours / bound"]
    rows: list[list[Any]] = []
    notes: list[str] = []
    bf16_rows: list[list[Any]] = []
    t_start = time.perf_counter()
    for threads in args.threads:
        for w in args.workloads:
            print(f"{w}, {threads} thread(s)", flush=True)
            if w == "eval":
                block, mat = run_eval(args, threads)
                rows.append(["eval (full ranking, test split)", threads, "—", block[2], "—", "—",
                             f"{block[4]:.0f} (above baseline)", "—", float(block[5]), block[6], block[7]])
                notes.append(f"eval, {threads} thread(s): bench_eval_topk best of {args.eval_rounds} rounds after "
                             f"{args.eval_train_steps} LightGCN steps; blockwise {block[2]:.3f} s vs materialized "
                             f"{mat[2]:.3f} s ({block[3]:.2f}x); floor = the score matmul alone.")
                continue
            sides = (["ours"] if w == "lightgcn" else ["authors", "ours"]) + (["ours-bf16"] if args.bf16 else [])
            res = run_pair(w, sides, args, threads)
            med = {s: statistics.median(v) for s, v in res["seconds"].items()}
            ours_end = res["end"]["ours"]
            info, rate = ours_end["info"], float(ours_end["rate"])
            if args.bf16:
                bf16_rows.append(bf16_row(w, threads, med, res["end"]["ours-bf16"]))
            if w == "lightgcn":
                bound = lightgcn_bound_seconds(float(ours_end["spmm_s"]), int(info["layers"]))
                rows.append(["lightgcn (step of 2048)", threads, "—", med["ours"], "—", "—",
                             ours_end["peak_rss_mib"], "—", rate, bound, med["ours"] / bound])
                notes.append(f"lightgcn, {threads} thread(s): {info['num_batches']} batches per epoch: ours "
                             f"{med['ours'] * info['num_batches']:.1f} s/epoch, bound "
                             f"{bound * info['num_batches']:.1f} s/epoch (2 x {info['layers']} SpMMs of "
                             f"{info['nnz']:,} nonzeros x d {info['dim']}, best {ours_end['spmm_s'] * 1e3:.1f} ms "
                             f"each); rounds of {args.lightgcn_steps} steps: "
                             + ", ".join(f"{s:.3f}" for s in res["seconds"]["ours"]) + " s/step.")
                continue
            flops = float(info["flops"])
            bound = bound_seconds(flops, rate)
            label = {"grace": "grace (Cora epoch)", "lightgcl": "lightgcl (step of 4096)"}[w]
            rows.append([label, threads, med["authors"], med["ours"], med["authors"] / med["ours"],
                         res["end"]["authors"]["peak_rss_mib"], ours_end["peak_rss_mib"], flops / 1e9, rate, bound,
                         med["ours"] / bound])
            extra = (f" (N {info['n']}, nnz(X) {info['nnz_x']:,}, E {info['num_edges']:,}, h {info['dim']})"
                     if w == "grace" else
                     f" (U {info['num_users']:,}, I {info['num_items']:,}, R {info['nnz']:,}, pairs {info['batch']}, "
                     f"mean distinct users {info['batch_users']:.0f}, items {info['batch_items']:.0f}, d {info['dim']})")
            notes.append(f"{w}, {threads} thread(s){extra}: rounds authors "
                         + ", ".join(f"{s:.3f}" for s in res["seconds"]["authors"]) + "; ours "
                         + ", ".join(f"{s:.3f}" for s in res["seconds"]["ours"]) + " s/step.")
    wall = time.perf_counter() - t_start
    cmd = " ".join(["python experiments/benchmarks/bench_perf_vs_authors.py", *(argv if argv is not None
                                                                                else sys.argv[1:])])
    hardware = re.sub(r"\d+ thread\(s\)", "threads per row", hardware_line())
    header = [f"`{cmd}` ({wall / 60:.1f} min)", "", f"Hardware: {hardware}.",
              "References: " + ", ".join(f"{REPOS[w]}@{c}" for w, c in commits.items()) + "." if commits else "",
              f"Rounds: {args.rounds} interleaved (authors, ours, ...) per thread count, medians; GRACE "
              f"{args.grace_steps} epoch(s), LightGCL {args.lightgcl_steps} step(s), LightGCN {args.lightgcn_steps} "
              "step(s) per round, after one untimed step. Each side in its own process per thread count; peak RSS = "
              "that process's lifetime peak (data, model, steps). The LightGCL authors' process loads the data "
              "with graphcl and builds graphcl's model once (experiments.parity.stepcheck takes the normalized "
              "graph, SVD factors and initial parameters from it; deleted before the warm-up step). The eval "
              "row's peak is bench_eval_topk's (above the process's baseline during one evaluation).",
              "Bounds (fp32, 2 FLOPs per multiply-add, at the best 256 x 4,096 x d sgemm rate of ours' process): "
              "GRACE 6·2N²h (loss: z1 z2ᵀ and the symmetric halves of z1 z1ᵀ, z2 z2ᵀ forward, 2 products; 4 backward) + per view 3·2N(2h·h+h·p+p·h) + "
              "2·2(1-p_f)nnz(X)·2h + 2·2((1-p_e)E+N)·3h; LightGCL 3·2d(B'_u·U + B'_i·I) (all-user/all-item "
              "score products over the batch's distinct users/items, forward + both gradients) + 8·L·R·d + "
              "12·L·(U+I)·q·d; LightGCN 2L x the best time of one SpMM of its adjacency (sparse: not "
              "compute-bound); eval: bench_eval_topk's floor (the score matmul alone)."]
    if bf16_rows:
        notes += ["", "## precision: bf16 (graphcl, fp32 vs bf16 products, interleaved in the same rounds)", "",
                  *markdown_table(BF16_COLUMNS, bf16_rows), "",
                  "bf16 bound: the same minimum FLOPs at the best bf16 rate of the 256 x 4,096 x d product "
                  "measured in the bf16 process (only the dense products can take it; LightGCN's bound stays "
                  "its SpMM time: torch's CPU CSR SpMM has no bfloat16 kernel, so its products stay fp32)."]
    text = write_table(args.out, "Performance vs the authors' code and fp32 bounds (issue 22)",
                       [h for h in header if h], cols, rows, notes)
    print(text)


if __name__ == "__main__":
    main()
