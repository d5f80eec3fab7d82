"""Benchmark: GRACE full batch vs mini-batch with neighbor sampling.

For each dataset and mode (full batch; mini-batch with ``--minibatch-sizes`` seeds
and fan-out ``--num-neighbors``) one training run through
``graphcl.train.build_trainer(...).fit()`` (the dataset's GRACE preset, with
``--epochs`` and ``--lr`` overrides, the same for every mode), each in its own
subprocess at one thread so its memory peak is its own. Reported:

* s/epoch: the trainer's mean training seconds per epoch;
* train peak: the process's peak resident memory (``VmHWM``, reset through
  ``/proc/self/clear_refs`` once the trainer is built) read when training ends
  (at the first ``embed()`` call of the final evaluation), minus the resident
  memory before training: what the training epochs added. Falls back to
  ``ru_maxrss`` minus the RSS before training where ``clear_refs`` is unavailable;
* test accuracy of the linear probe (mean ± std over ``probe_seeds``);
* ratios against the full-batch run of the same dataset.

    python experiments/bench_node_minibatch.py                      # Cora, CiteSeer
    python experiments/bench_node_minibatch.py --datasets cora --epochs 20
    python experiments/bench_node_minibatch.py --datasets cora pubmed amazon-photo   # where present

Datasets missing from the data root are skipped with a note. Writes the Markdown
table to experiments/results/node_minibatch.md (``--out``), atomically.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1 << 20
ROOT = Path(__file__).resolve().parents[1]


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def worker(dataset: str, data_root: str, minibatch_size: int, num_neighbors: list[int], epochs: int,
           lr: float, probe_seeds: int) -> dict:
    import torch
    torch.set_num_threads(1)
    from graphcl.train import build_trainer

    config = {"epochs": epochs, "lr": lr, "probe_seeds": probe_seeds, "minibatch_size": minibatch_size}
    if minibatch_size:
        config["num_neighbors"] = num_neighbors
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer("grace", dataset, config=config, data_root=data_root, run_dir=Path(tmp) / "run",
                                verbose=False, progress=False)
        model = trainer.model
        peak: dict[str, float] = {}
        embed = model.embed

        def embed_and_mark():
            if "train" not in peak:   # training has ended: the final evaluation starts here
                hwm = _status_kib("VmHWM")
                peak["train"] = hwm * 1024 if hwm is not None else resource.getrusage(
                    resource.RUSAGE_SELF).ru_maxrss * 1024
            return embed()

        model.embed = embed_and_mark
        base = (_status_kib("VmRSS") or 0) * 1024
        reset = _reset_peak()
        t0 = time.perf_counter()
        result = trainer.fit()
        wall = time.perf_counter() - t0
        stats = trainer.task.stats()
    return {"dataset": dataset, "minibatch_size": minibatch_size,
            "num_neighbors": num_neighbors if minibatch_size else None,
            "steps_per_epoch": model.num_batches(), "epochs": result.epochs_run,
            "s_per_epoch": result.seconds_per_epoch, "fit_seconds": wall,
            "train_peak_mib": (peak["train"] - base) / MiB, "peak_reset": reset,
            "acc": result.test["acc"], "acc_std": result.test.get("acc_std", 0.0),
            "nodes": stats["nodes"], "edges": stats["edges"], "config": trainer.config}


def run_one(args: argparse.Namespace, dataset: str, size: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--datasets", dataset, "--data-root", args.data_root,
           "--minibatch-sizes", str(size), "--num-neighbors", *map(str, args.num_neighbors),
           "--epochs", str(args.epochs), "--lr", str(args.lr), "--probe-seeds", str(args.probe_seeds)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {dataset} minibatch_size={size} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def available(dataset: str, data_root: str) -> str | None:
    """None when the dataset loads, else why not."""
    from graphcl.data import load
    try:
        load(dataset, root=data_root)
    except Exception as err:  # noqa: BLE001 - reported in the table notes
        return f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
    return None


def table(rows: list[dict], args: argparse.Namespace, skipped: dict[str, str], seconds: float) -> str:
    lines = [
        "# GRACE: full batch vs mini-batch with neighbor sampling",
        "",
        f"Command: `OMP_NUM_THREADS=1 python experiments/bench_node_minibatch.py "
        f"--datasets {' '.join(args.datasets)} --epochs {args.epochs} --lr {args.lr} "
        f"--minibatch-sizes {' '.join(map(str, args.minibatch_sizes))} "
        f"--num-neighbors {' '.join(map(str, args.num_neighbors))}` "
        f"({seconds:.0f} s in all).",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared with "
        f"other jobs while this ran: timings are indicative), one thread per run, CPU. GRACE with the "
        f"dataset's preset (hidden/projection sizes, τ, drop rates), lr {args.lr}, {args.epochs} epochs for "
        f"every mode; linear probe over {args.probe_seeds} random 10/10/80 splits. Train peak: peak resident "
        f"memory during the training epochs above the resident memory before them.",
        "",
        "| dataset | nodes | mode | steps/epoch | s/epoch | time ratio | train peak (MiB) | memory ratio "
        "| test acc |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    full = {r["dataset"]: r for r in rows if r["minibatch_size"] == 0}
    for r in rows:
        ref = full.get(r["dataset"])
        mode = ("full batch" if r["minibatch_size"] == 0 else
                f"mini-batch {r['minibatch_size']}, fan-out {r['num_neighbors']}")
        t_ratio = f"{r['s_per_epoch'] / ref['s_per_epoch']:.2f}" if ref else "-"
        m_ratio = (f"{r['train_peak_mib'] / ref['train_peak_mib']:.2f}"
                   if ref and ref["train_peak_mib"] > 0 else "-")
        lines.append(f"| {r['dataset']} | {r['nodes']} | {mode} | {r['steps_per_epoch']} | "
                     f"{r['s_per_epoch']:.3f} | {t_ratio} | {r['train_peak_mib']:.0f} | {m_ratio} | "
                     f"{r['acc']:.3f} ± {r['acc_std']:.3f} |")
    if skipped:
        lines += ["", "Not found under the data root, so not run:", ""]
        lines += [f"- {name}: {why}" for name, why in skipped.items()]
    lines += ["", "Ratios: mini-batch over full batch of the same dataset (below 1: faster / smaller).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--minibatch-sizes", nargs="+", type=int, default=[256, 1024])
    parser.add_argument("--num-neighbors", nargs="+", type=int, default=[10, 10])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--probe-seeds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "node_minibatch.md"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        out = worker(args.datasets[0], args.data_root, args.minibatch_sizes[0], args.num_neighbors,
                     args.epochs, args.lr, args.probe_seeds)
        print(json.dumps(out))
        return
    from graphcl.io import atomic_write_text
    t0 = time.perf_counter()
    rows, skipped = [], {}
    for dataset in args.datasets:
        why = available(dataset, args.data_root)
        if why is not None:
            skipped[dataset] = why
            print(f"skip {dataset}: {why}", flush=True)
            continue
        for size in [0, *args.minibatch_sizes]:
            row = run_one(args, dataset, size)
            rows.append(row)
            print(f"{dataset:10s} minibatch={size:5d}  {row['s_per_epoch']:.3f} s/epoch  "
                  f"peak +{row['train_peak_mib']:.0f} MiB  acc {row['acc']:.3f}", flush=True)
    text = table(rows, args, skipped, time.perf_counter() - t0)
    atomic_write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
