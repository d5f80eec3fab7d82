"""Peak RSS and s/step of a sequential method with and without ``malloc_trim_every``.

    .venv/bin/python experiments/benchmarks/bench_malloc_trim.py --method sracl --dataset ml-100k-seq \\
        --steps 60 --trim 0 1 [--set semantics=fallback-cooccurrence] [--data-root ../shared/data]

Each setting runs in its own fresh process (so peaks do not mix), one after the
other, with 1 thread: the first ``--steps`` training steps of epoch 0 through the
model's own step (the trainer's inner loop), trimming the C heap after every N-th
step when N > 0. Reports the process' peak RSS (ru_maxrss), RSS after the last
step, and s/step; the table is written atomically to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from harness import REPO, hardware_line, peak_rss_mib



def child(args: argparse.Namespace) -> None:
    import torch
    from graphcl.train import build_trainer
    from graphcl.train.utils import release_freed_memory
    torch.set_num_threads(1)
    config = {"epochs": 1, **args.overrides}
    with tempfile.TemporaryDirectory() as tmp:
        tr = build_trainer(args.method, args.dataset, config=config, data_root=args.data_root,
                           run_dir=Path(tmp) / "run", verbose=False, progress=False)
        model = tr.model
        model.train()
        step_fn = getattr(model, "train_step", None)
        t0, done = time.perf_counter(), 0
        for batch in model.batches(tr.generator):
            if done >= args.steps:
                break
            if callable(step_fn):
                step_fn(batch, tr.optimizers)
            else:
                out = model.loss(batch)
                loss = out["loss"] if isinstance(out, dict) else out
                for opt in tr.optimizers.values():
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                for opt in tr.optimizers.values():
                    opt.step()
            done += 1
            if args.child_trim and done % args.child_trim == 0:
                release_freed_memory()
        seconds = time.perf_counter() - t0
    rss_now = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    print(json.dumps({"trim": args.child_trim, "steps": done, "s_per_step": seconds / max(done, 1),
                      "peak_rss_mib": peak_rss_mib(),
                      "rss_end_mib": rss_now}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", default="sracl")
    p.add_argument("--dataset", default="ml-100k-seq")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--trim", type=int, nargs="+", default=[0, 1])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", type=Path, default=REPO / "experiments" / "results" / "malloc_trim.md")
    p.add_argument("--child-trim", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from graphcl.config import ConfigError, parse_set_options
    try:
        args.overrides = parse_set_options(args.set)
    except ConfigError as exc:
        p.error(str(exc))
    if args.child_trim is not None:
        child(args)
        return 0
    rows = []
    base = [sys.executable, str(Path(__file__).resolve()), "--method", args.method, "--dataset", args.dataset,
            "--steps", str(args.steps)] + sum((["--set", s] for s in args.set), [])
    if args.data_root:
        base += ["--data-root", args.data_root]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for trim in args.trim:
        out = subprocess.run(base + ["--child-trim", str(trim)], capture_output=True, text=True, env=env,
                             cwd=REPO, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    ref = rows[0]
    command = " ".join(["python", "experiments/benchmarks/bench_malloc_trim.py"] + (sys.argv[1:] if argv is None else argv))
    lines = [f"# malloc_trim_every: {args.method} on {args.dataset}, first {args.steps} training steps", "",
             f"- {hardware_line()}, 1 thread per run, runs one after another in fresh processes; "
             "shared machine (timings noisy)",
             f"- command: `{command}`", "",
             "| malloc_trim_every | steps | s/step | peak RSS MiB | RSS after last step MiB | peak vs first row |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['trim']} | {r['steps']} | {r['s_per_step']:.3f} | {r['peak_rss_mib']:.0f} | "
                     f"{r['rss_end_mib']:.0f} | {r['peak_rss_mib'] / ref['peak_rss_mib']:.2f}x |")
    text = "\n".join(lines) + "\n"
    from graphcl.io import atomic_write_text
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
