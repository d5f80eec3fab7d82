"""`make gpu-check`: what a machine with CUDA must confirm, in one command of at most ~8 minutes.

1. the CUDA tests (every test whose name says ``cuda``, on the GPU instead of skipped);
2. ``torchrun --nproc_per_node 1`` against the single-process run of the same LightGCN training
   (same seed, 3 epochs): the test metrics must agree (max |difference| <= ``--tolerance``;
   sparse kernels on GPUs may sum in another order, so exact equality is not required);
3. seconds per training epoch on the GPU of LightGCN, LightGCL, GRACE and SimGCL (a pipeline
   recommender): ml-100k and Cora, and Gowalla for LightGCN/LightGCL/SimGCL when ``--data-root``
   holds it (``graphcl train ... --set epochs=E``, the mean of the epochs after the first).

It writes ``experiments/results/gpu_check.md`` (or ``--out``) and exits 1 if a step failed.
On a machine without CUDA it refuses at once (exit 2) with the reason. ``--dry-run`` prints
the commands without running them.

    python experiments/gpu_check.py --data-root ../shared/data
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

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "experiments" / "results" / "gpu_check.md"
CUDA_TEST_FILES = ["tests/test_sparse.py", "tests/test_train_safety.py", "tests/test_augment_compose.py",
                   "tests/test_augment_svd.py"]
#: (method, dataset, needs --data-root, epochs)
TIMINGS = [("lightgcn", "ml-100k", False, 4), ("lightgcl", "ml-100k", False, 4), ("simgcl", "ml-100k", False, 4),
           ("grace", "cora", True, 20), ("lightgcn", "gowalla", True, 2), ("lightgcl", "gowalla", True, 2),
           ("simgcl", "gowalla", True, 2)]


def cuda_refusal() -> str | None:
    """Why this machine cannot run the check (None: it can)."""
    import torch
    if torch.cuda.is_available():
        return None
    built = torch.version.cuda or "no CUDA (a CPU-only build)"
    return (f"gpu-check needs a CUDA GPU: torch.cuda.is_available() is False here (torch {torch.__version__}, "
            f"built with {built}). Run `make gpu-check` on a machine with an NVIDIA GPU and a CUDA build of torch.")


def train_command(method: str, dataset: str, epochs: int, run_dir: Path, data_root: str | None,
                  torchrun: bool = False) -> list[str]:
    args = ["train", method, "--dataset", dataset, "--set", f"epochs={epochs}", "--set", "seed=0",
            "--device", "cuda", "--quiet", "--json", "--run-dir", str(run_dir)]
    if data_root:
        args += ["--data-root", data_root]
    if torchrun:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                "-m", "graphcl.cli", *args]
    return [sys.executable, "-m", "graphcl.cli", *args]


def plan(data_root: str | None, work: Path) -> list[tuple[str, list[str]]]:
    """Every step's (name, command)."""
    steps = [("cuda tests", [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-k", "cuda", *CUDA_TEST_FILES])]
    steps.append(("single process", train_command("lightgcn", "ml-100k", 3, work / "single", data_root)))
    steps.append(("torchrun 1 GPU", train_command("lightgcn", "ml-100k", 3, work / "torchrun", data_root, True)))
    for method, dataset, needs_root, epochs in TIMINGS:
        if needs_root and not (data_root and _held(dataset, data_root)):
            continue
        steps.append((f"epoch {method} {dataset}", train_command(method, dataset, epochs,
                                                                 work / f"{method}-{dataset}", data_root)))
    return steps


def _held(dataset: str, data_root: str) -> bool:
    sub = {"cora": "pyg/Planetoid/Cora", "gowalla": "graphcf/lightgcn/gowalla"}[dataset]
    return (Path(data_root) / sub).is_dir()


def _epoch_seconds(run_dir: Path) -> float | None:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    seconds = [r["seconds"] for r in rows if r.get("split") == "train" and "seconds" in r]
    later = seconds[1:] or seconds
    return sum(later) / len(later) if later else None


def _test_metrics(output: str) -> dict[str, float]:
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line).get("test", {})
    return {}


def run(data_root: str | None, out: Path, tolerance: float, budget_s: float) -> int:
    import torch
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    rows, failed, outputs = [], False, {}
    start = time.monotonic()
    for name, cmd in plan(data_root, work):
        left = budget_s - (time.monotonic() - start)
        if left <= 5:
            rows.append((name, "not run: the time budget is spent", ""))
            failed = True
            continue
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=left)
            ok, text = proc.returncode == 0, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired:
            ok, text = False, "timed out"
        wall = time.monotonic() - t0
        outputs[name] = text
        detail = f"{wall:.1f} s wall"
        if name.startswith("epoch ") and ok:
            per_epoch = _epoch_seconds(work / name.split(" ", 1)[1].replace(" ", "-"))
            detail += f"; {per_epoch:.3f} s/epoch" if per_epoch is not None else "; no epoch times found"
        if name == "cuda tests":
            detail += "; " + (text.strip().splitlines() or ["(no output)"])[-1]
        rows.append((name, "ok" if ok else "FAILED", detail))
        failed |= not ok
    single, multi = _test_metrics(outputs.get("single process", "")), _test_metrics(outputs.get("torchrun 1 GPU", ""))
    if single and multi and set(single) == set(multi):
        diff = max(abs(single[k] - multi[k]) for k in single)
        agree = diff <= tolerance
        rows.append(("torchrun = single process", "ok" if agree else "FAILED",
                     f"max |test metric difference| {diff:.2e} (tolerance {tolerance:g})"))
        failed |= not agree
    else:
        rows.append(("torchrun = single process", "FAILED", "a run gave no test metrics"))
        failed = True
    lines = [f"# GPU check ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `python experiments/gpu_check.py{' --data-root ' + data_root if data_root else ''}`; "
             f"device {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}; "
             f"total {time.monotonic() - start:.0f} s.", "", "| step | result | detail |", "|---|---|---|"]
    lines += [f"| {name} | {status} | {detail} |" for name, status, detail in rows]
    for name, text in outputs.items():
        if any(r[0] == name and r[1] != "ok" for r in rows):
            lines += ["", f"## {name}: output tail", "", "```", *text.strip().splitlines()[-30:], "```"]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    print("\n".join(lines))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=None, help="shared data folder (Cora, Gowalla)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for all steps (default 8 min)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    if args.dry_run:
        for name, cmd in plan(args.data_root, Path("<work>")):
            print(f"{name}: {' '.join(cmd)}")
        return 0
    why = cuda_refusal()
    if why is not None:
        print(why, file=sys.stderr)
        return 2
    return run(args.data_root, args.out, args.tolerance, args.budget)


if __name__ == "__main__":
    sys.exit(main())
