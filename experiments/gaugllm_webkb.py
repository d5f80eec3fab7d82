"""GRACE with GAugLLM views vs GRACE with plain feature masking and edge dropping,
on the WebKB text-attributed graphs (same MiniLM text features for both).

    PYTHONPATH=. .venv/bin/python experiments/gaugllm_webkb.py \
        [--datasets webkb-cornell ...] [--seeds 0 1 2 3 4] [--epochs 200] \
        [--cache runs/gaugllm/llm_responses.sqlite] [--out experiments/results/gaugllm_webkb.md]

Run ``experiments/gaugllm_generate.py`` first: this script builds GAugLLM with
``llm_offline: true``, so it reads every LLM answer from the response cache and
never generates; a dataset whose generation is incomplete is reported as such
and skipped.

Protocol. Both methods share GRACE's settings (``GRACE_DEFAULTS``: 2-layer GCN,
hidden 128, lr 5e-4, 200 epochs, view 1 p_e 0.2 / p_f 0.3); plain GRACE's view 2
is p_e 0.4 / p_f 0.4, GAugLLM's view 2 is the gated expert features with the
LLM-approved edge edits (p_add = p_del = 0.5, the authors' values). The grid is
τ ∈ {0.4, 0.8} × lr ∈ {5e-4, 5e-3} for both, and for GAugLLM also which features the evaluated
encoder reads (original text embeddings or the gated expert mix; both are
evaluated from the same trained model). A logistic-regression probe on the
frozen embeddings, 5 random 60/20/20 splits (the Geom-GCN WebKB proportions),
the classifier chosen on validation; per training seed the test accuracy is the
mean over the 5 splits. Each grid point is selected on mean validation
accuracy over the training seeds; the reported number is its test accuracy,
mean ± std (population) over the training seeds. Raw rows are kept in
``<out>.runs.jsonl``; a re-run skips finished rows (resumable).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

WEBKB = ["webkb-cornell", "webkb-texas", "webkb-washington", "webkb-wisconsin"]
PROBE = {"probe_train_ratio": 0.6, "probe_val_ratio": 0.2, "probe_seeds": 5}
TAUS = (0.4, 0.8)
LRS = (5e-4, 5e-3)


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def load_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_one(method: str, data: Any, seed: int, tau: float, lr: float, epochs: int,
            cache: str) -> list[dict[str, Any]]:
    """Train one model; one row per evaluated feature set."""
    from graphcl.models.node.gaugllm import GAUGLLM_DEFAULTS, GAugLLMGRACE
    from graphcl.models.node.grace import GRACE, GRACE_DEFAULTS
    from graphcl.train import Trainer

    base = GAUGLLM_DEFAULTS if method == "gaugllm" else GRACE_DEFAULTS
    cfg = {**base, **PROBE, "seed": seed, "tau": tau, "lr": lr, "epochs": epochs}
    if method == "gaugllm":
        cfg.update({"llm_offline": True, "llm_cache": cache})
    build = GAugLLMGRACE if method == "gaugllm" else GRACE
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        trainer = Trainer(method, build, data, cfg, device="cpu", run_dir=Path(tmp) / "run", verbose=False,
                          progress=False)
        built = time.perf_counter() - t0
        result = trainer.fit()
        rows = [{"features": "original", "valid": result.best_valid["acc"], "test": result.test["acc"],
                 "test_probe_std": result.test["acc_std"]}]
        if method == "gaugllm":
            trainer.model.config["embed_features"] = "mixed"
            valid = trainer.task.evaluate(trainer.model, "valid")
            test = trainer.task.evaluate(trainer.model, "test")
            rows.append({"features": "mixed", "valid": valid["acc"], "test": test["acc"],
                         "test_probe_std": test["acc_std"]})
            for r in rows:
                r["llm_stats"] = {k: trainer.model.stats[k] for k in
                                  ("llm_calls", "cache_hits", "cache_hit_rate", "unique_prompts")}
    for r in rows:
        r.update({"method": method, "seed": seed, "tau": tau, "lr": lr, "epochs": epochs,
                  "seconds_per_epoch": result.seconds_per_epoch, "build_seconds": built})
    return rows


def features_only(data: Any) -> dict[str, float]:
    from graphcl.eval.node import linear_probe
    res = linear_probe(data.x, data.y, train_ratio=PROBE["probe_train_ratio"],
                       val_ratio=PROBE["probe_val_ratio"], seeds=tuple(range(PROBE["probe_seeds"])))
    return {"valid": float(res["val_mean"]), "test": float(res["mean"]), "test_probe_std": float(res["std"])}


def generation_summary(log: Path, runs_dir: Path, dataset: str) -> dict[str, Any] | None:
    """LLM calls and seconds summed over every logged chunk of the generation runs."""
    info_path = runs_dir / f"generation_{dataset}.json"
    lines = [r for r in load_rows(log) if r.get("dataset") == dataset]
    if not lines:
        return None
    calls = sum(r["calls"] for r in lines)
    seconds = sum(r["seconds"] for r in lines if r["calls"] > 0)
    by_phase = {p: (sum(r["calls"] for r in lines if r["phase"] == p),
                    sum(r["seconds"] for r in lines if r["phase"] == p and r["calls"] > 0))
                for p in ("experts", "edge decisions")}
    threads = sorted({str(r.get("threads", "?")) for r in lines if r["calls"] > 0})
    out = {"calls": calls, "llm_seconds": seconds, "by_phase": by_phase, "threads": threads,
           "llm": lines[-1].get("llm"), "complete": info_path.exists()}
    if info_path.exists():
        out["stats"] = json.loads(info_path.read_text())["stats"]
    return out


def fmt(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{100 * statistics.fmean(values):.1f} ± {100 * statistics.pstdev(values):.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=WEBKB)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--cache", default=str(REPO / "runs" / "gaugllm" / "llm_responses.sqlite"))
    ap.add_argument("--gen-log", default=str(REPO / "runs" / "gaugllm" / "generation_log.jsonl"))
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(REPO / "experiments" / "results" / "gaugllm_webkb.md"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--methods", nargs="+", default=["grace", "gaugllm"], choices=["grace", "gaugllm"])
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from graphcl.data import load
    from graphcl.llm import TextEncoder
    if "gaugllm" in args.methods:
        from graphcl.llm import UncachedCallError
    else:
        class UncachedCallError(Exception):  # nothing to catch without GAugLLM
            pass

    out = Path(args.out)
    runs_path = out.with_name(out.name + ".runs.jsonl")
    rows = load_rows(runs_path)
    done = {(r["dataset"], r["method"], r["seed"], r["tau"], r.get("lr", 0.0), r["epochs"]) for r in rows}
    encoder = TextEncoder()
    skipped: dict[str, str] = {}
    for name in args.datasets:
        data = load(name, root=args.data_root, encoder=encoder)
        if (name, "features", -1, 0.0, 0.0, 0) not in done:
            row = {"dataset": name, "method": "features", "seed": -1, "tau": 0.0, "lr": 0.0, "epochs": 0,
                   "features": "original", **features_only(data)}
            rows.append(row)
            with runs_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
        for seed in args.seeds:
            for tau, lr, method in ((t, r, m) for t in TAUS for r in LRS for m in args.methods):
                if (name, method, seed, tau, lr, args.epochs) in done:
                    continue
                if method == "gaugllm" and name in skipped:
                    continue
                try:
                    new = run_one(method, data, seed, tau, lr, args.epochs, args.cache)
                except UncachedCallError as exc:
                    skipped[name] = f"generation incomplete ({str(exc).split(';')[0]})"
                    print(f"[skip] {name}: {skipped[name]}", flush=True)
                    continue
                for r in new:
                    r["dataset"] = name
                    rows.append(r)
                    with runs_path.open("a") as fh:
                        fh.write(json.dumps(r) + "\n")
                print(f"{name} {method} seed {seed} tau {tau} lr {lr}: " + ", ".join(
                    f"{r['features']} val {r['valid']:.3f} test {r['test']:.3f}" for r in new), flush=True)
    report = render(rows, args, skipped)
    atomic_write(out, report)
    print(report)
    return 0


def render(rows: list[dict[str, Any]], args: argparse.Namespace, skipped: dict[str, str]) -> str:
    lines = ["# GAugLLM vs GRACE on WebKB (text-attributed graphs)", "",
             f"Command: `{' '.join(shlex.quote(a) for a in sys.argv)}`  ",
             (f"Date: {_dt.datetime.now().isoformat(timespec='seconds')}; host: {platform.node()} "
             f"({os.cpu_count()} CPUs, shared with other jobs); torch threads: {args.threads}"), "",
             ("Linear-probe test accuracy (%), mean ± std over training seeds "
             f"{', '.join(map(str, args.seeds))}; grid point selected on validation (see the script's "
             "docstring). Features: all-MiniLM-L6-v2 embeddings of the raw page text."), "",
             "| dataset | MiniLM features only | GRACE (mask + drop) | GRACE + GAugLLM | GAugLLM selected |",
             "|---|---|---|---|---|"]
    selected_info = []
    for name in args.datasets:
        feats = [r for r in rows if r["dataset"] == name and r["method"] == "features"]
        cells = [f"{100 * feats[0]['test']:.1f} ± {100 * feats[0]['test_probe_std']:.1f} (splits)"
                 if feats else "–"]
        chosen = ""
        for method in ("grace", "gaugllm"):
            mine = [r for r in rows if r["dataset"] == name and r["method"] == method
                    and r["epochs"] == args.epochs and r["seed"] in args.seeds]
            groups: dict[tuple, list[dict]] = {}
            for r in mine:
                groups.setdefault((r["tau"], r.get("lr", 5e-4), r["features"]), []).append(r)
            full = {k: v for k, v in groups.items() if len(v) == len(args.seeds)}
            if not full:
                cells.append(skipped.get(name, "not run") if method == "gaugllm" else "not run")
                continue
            best = max(full, key=lambda k: statistics.fmean(r["valid"] for r in full[k]))
            cells.append(fmt([r["test"] for r in full[best]]))
            note = f"τ={best[0]}, lr={best[1]:g}, features={best[2]}"
            if method == "gaugllm":
                chosen = note
            selected_info.append(f"- {name} {method}: {note}; all grid points (valid / test): " + "; ".join(
                f"τ={k[0]} lr={k[1]:g} {k[2]}: {fmt([r['valid'] for r in v])} / {fmt([r['test'] for r in v])}"
                for k, v in sorted(full.items())))
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {chosen or '–'} |")
    lines += ["", ("Selected grid points and every grid point's validation / test accuracy "
              "(the test column is shown for transparency, never used for selection):"), ""] + selected_info
    lines += ["", "## LLM generation (embedded Gemma-3-270M Q4_K_M via llama.cpp)", "",
              ("LLM calls and seconds are summed over every logged chunk of the generation runs "
               "(`--gen-log`); threads: llama.cpp threads of the runs that made calls (`?`: not logged)."), "",
              ("| dataset | nodes | expert prompts | edge-decision prompts | unique prompts | LLM calls made "
              "| LLM seconds | s / call | s per 100 nodes | threads | cache hit rate on re-run | complete |"),
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    runs_dir = Path(args.gen_log).parent
    for name in args.datasets:
        g = generation_summary(Path(args.gen_log), runs_dir, name)
        if g is None:
            lines.append(f"| {name} | – | – | – | – | 0 | – | – | – | – | – | no |")
            continue
        s = g.get("stats", {})
        n = s.get("nodes")
        per_call = g["llm_seconds"] / g["calls"] if g["calls"] else float("nan")
        per100 = (100 * per_call * s["unique_prompts"] / n) if n else float("nan")
        rerun = [(r["llm_stats"]["cache_hit_rate"], r["llm_stats"]["llm_calls"]) for r in rows
                 if r["dataset"] == name and r.get("llm_stats")]
        lines.append(f"| {name} | {n or '–'} | {s.get('expert_prompts', '–')} | {s.get('decision_prompts', '–')} "
                     f"| {s.get('unique_prompts', '–')} | {g['calls']} | {g['llm_seconds']:.0f} | {per_call:.2f} "
                     f"| {per100:.0f} | {', '.join(g['threads']) or '–'} | {f'{100 * min(h for h, _ in rerun):.0f}% ({max(c for _, c in rerun)} calls)' if rerun else '–'} "
                     f"| {'yes' if g['complete'] else 'no'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
