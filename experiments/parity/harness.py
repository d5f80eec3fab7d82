"""Run a method's reference code and graphcl side by side; write ``<adapter>_<dataset>.json``.

    python -m experiments.parity.harness lightgcl --dataset lastfm \\
        --checkout /tmp/parity-refs/LightGCL --commit <sha> --epochs 8 --seeds 0 1 2 \\
        --data-root ../shared/data --work /tmp/parity-work [--resume]

For each seed, then each side (``reference``, ``ours``; interleaved so both see the same machine
load): the reference runs from a fresh temporary copy of the checkout with the adapter's
run-time patches and OUR split written in its format; ours runs
:mod:`experiments.parity.run_ours`. Each side is its own process: its peak RSS is read from
``os.wait4`` (``ru_maxrss`` of that child alone), its per-epoch records from the
``PARITY_JSON`` lines of its log (kept under ``--work``). The results file is rewritten
(atomically) after every run, so ``--resume`` skips the finished (side, seed) runs; it refuses a
results file written with other settings (epochs, hyperparameters, data, reference commit).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.parity.adapter import (Adapter, CheckoutError, PatchError, RunContext, apply_patches,
                                        load_adapter)
from experiments.parity.convert import NODE_MASKS, write_node_npz, write_split_npz
from experiments.parity.summary import derive_final, parse_records, summarize

__all__ = ["REPO", "run_parity", "run_process", "settings_hash", "main"]

REPO = Path(__file__).resolve().parents[2]
SCHEMA = "parity/1"


class SettingsMismatch(ValueError):
    """``--resume`` on a results file written with other settings."""


def settings_hash(settings: dict[str, Any]) -> str:
    """sha256 of the settings as canonical JSON, seeds excluded (adding seeds keeps the hash)."""
    core = {k: v for k, v in settings.items() if k != "seeds"}
    return hashlib.sha256(json.dumps(core, sort_keys=True, default=str).encode()).hexdigest()


def _git_commit(path: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_process(cmd: list[str], cwd: Path, env: dict[str, str], log_path: Path,
                timeout: float | None) -> dict[str, Any]:
    """Run ``cmd`` with stdout+stderr to ``log_path``; its return code, wall seconds and peak RSS
    (MiB, this child only: ``os.wait4``)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                status = -9
                break
            time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status) if status != -9 else -9
    return {"returncode": proc.returncode, "wall_seconds": time.perf_counter() - t0,
            "peak_rss_mib": usage.ru_maxrss / 1024.0, "log": str(log_path)}


def _base_env(threads: int, seed: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "TQDM_DISABLE": "1",
                "PARITY_SEED": str(seed), "PARITY_THREADS": str(threads), "PYTHONUNBUFFERED": "1"})
    return env


def _with_pythonpath(env: dict[str, str], *paths: Path) -> dict[str, str]:
    parts = [str(p) for p in paths] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    return {**env, "PYTHONPATH": os.pathsep.join(parts)}


def run_reference(adapter: Adapter, ctx: RunContext, data: Any, timeout: float | None) -> dict[str, Any]:
    """One reference run from a fresh patched copy of the checkout."""
    if ctx.workdir.exists():
        shutil.rmtree(ctx.workdir)
    shutil.copytree(ctx.checkout, ctx.workdir, ignore=shutil.ignore_patterns(".git"))
    patches = apply_patches(ctx.workdir, adapter.patches(ctx))
    adapter.prepare_reference(ctx, data)
    env = _with_pythonpath(_base_env(ctx.threads, ctx.seed), *adapter.reference_paths(ctx), REPO)
    if all(hasattr(data, a) for a in ("train", "valid", "test", "num_users", "num_items")):
        # interaction data: our split for the ranking hook (experiments.parity.refhook)
        split = write_split_npz(ctx.workdir / "parity_split.npz",
                                {s: getattr(data, s).numpy() for s in ("train", "valid", "test")},
                                (data.num_users, data.num_items))
        env.update({"PARITY_SPLIT": str(split),
                    "PARITY_KS": ",".join(m.split("@")[1] for m in adapter.metrics if "@" in m) or "20"})
    if adapter.task == "node":
        env.update(_node_env(adapter, ctx, data))
    env.update(adapter.reference_env(ctx))
    cmd = adapter.reference_command(ctx)
    out = run_process(cmd, ctx.workdir, env, ctx.workdir.parent / f"reference-seed{ctx.seed}.log", timeout)
    log = Path(out["log"]).read_text(encoding="utf-8", errors="replace")
    out["curves"] = adapter.parse_reference(ctx, log)
    out["command"], out["patches"] = cmd, patches
    return out


def _node_env(adapter: Adapter, ctx: RunContext, data: Any) -> dict[str, str]:
    """Our graph (labels, edges, public masks) for the node hook and its settings."""
    from experiments.parity.nodeprobe import probe_settings
    masks = {k: getattr(data, k).numpy() for k in NODE_MASKS if getattr(data, k, None) is not None}
    graph = write_node_npz(ctx.workdir / "parity_node.npz", data.y.numpy(), data.edge_index.numpy(), masks)
    return {"PARITY_NODE": str(graph), "PARITY_EPOCHS": str(ctx.epochs),
            "PARITY_EVAL_EVERY": str(adapter.eval_every),
            "PARITY_PROBE": json.dumps(probe_settings(adapter.ours_config(ctx.dataset)))}


def run_ours(adapter: Adapter, ctx: RunContext, timeout: float | None) -> dict[str, Any]:
    """One graphcl run in its own process."""
    config = {**adapter.ours_config(ctx.dataset), **ctx.extra.get("ours_overrides", {})}  # (a --variant's)
    cmd = [ctx.python, "-m", "experiments.parity.run_ours", "--method", adapter.method,
           "--dataset", adapter.ours_dataset(ctx), "--data-root", str(ctx.data_root),
           "--config", json.dumps(config), "--seed", str(ctx.seed),
           "--epochs", str(ctx.epochs), "--threads", str(ctx.threads), "--run-dir", str(ctx.workdir)]
    if adapter.eval_every != 1:
        cmd += ["--eval-every", str(adapter.eval_every)]
    env = _with_pythonpath(_base_env(ctx.threads, ctx.seed), REPO)
    out = run_process(cmd, REPO, env, ctx.workdir.parent / f"ours-seed{ctx.seed}.log", timeout)
    out["curves"] = parse_records(Path(out["log"]).read_text(encoding="utf-8", errors="replace"))
    out["command"] = cmd
    return out


def _finish_run(side: str, seed: int, out: dict[str, Any], epochs: int, metric: str,
                fixed_epochs: bool = True) -> dict[str, Any]:
    curves = out.pop("curves")
    run = {"side": side, "seed": seed, **{k: out[k] for k in ("returncode", "wall_seconds", "peak_rss_mib", "log")},
           "curves": curves}
    seconds = [c["train_seconds"] for c in curves if c.get("train_seconds") is not None]
    run["seconds_per_epoch"] = sum(seconds) / len(seconds) if seconds else None
    error = None
    if out["returncode"] != 0:
        error = f"exit code {out['returncode']}; see the log"
    elif (len(curves) != epochs) if fixed_epochs else not curves:
        error = f"{len(curves)} epoch records for {epochs} epochs; see the log"
    run["status"], run["error"] = ("failed", error) if error else ("ok", None)
    run["final"] = derive_final(curves, metric)
    return run


def _read_existing(path: Path, settings: dict[str, Any], resume: bool, overwrite: bool) -> list[dict[str, Any]]:
    if not path.exists() or overwrite:
        return []
    if not resume:
        raise FileExistsError(f"{path} exists: --resume to continue it, --overwrite to start over")
    old = json.loads(path.read_text(encoding="utf-8"))
    if old.get("settings_hash") != settings_hash(settings):
        changed = sorted(k for k in set(settings) | set(old.get("settings", {}))
                         if k != "seeds" and settings.get(k) != old.get("settings", {}).get(k))
        raise SettingsMismatch(f"{path} was written with other settings (differing: {', '.join(changed)}); "
                               f"refusing to resume: use --overwrite or another --out")
    return [r for r in old.get("runs", []) if r.get("status") == "ok"]


def run_parity(adapter_name: str, dataset: str, checkout: Path, epochs: int, seeds: list[int], *,
               data_root: Path, work: Path, out_dir: Path, threads: int = 1, commit: str | None = None,
               sides: tuple[str, ...] = ("reference", "ours"), resume: bool = False,
               overwrite: bool = False, timeout: float | None = None,
               import_runs: list[Path] | None = None, variant: str | None = None,
               ours_overrides: dict[str, Any] | None = None,
               import_reference_runs: list[Path] | None = None) -> Path:
    """Run every missing (side, seed); write and return the results file. ``import_runs``: other
    results files of the SAME settings (e.g. one side run in parallel into another ``--out``) whose
    ``ok`` runs are taken over (and then skipped) where this file has none for that (side, seed).

    A variant of graphcl's side (``variant`` = a name, ``ours_overrides`` = graphcl config keys
    merged over ``adapter.ours_config``, recorded in the settings and under ``variant``) writes
    ``<adapter>_<dataset>_<variant>.json``; ``import_reference_runs``: results files whose settings
    differ from this one's in ``ours_config`` (and seeds) only, whose ``ok`` REFERENCE runs are taken
    over (the reference side does not read graphcl's config), their paths recorded."""
    from graphcl.reproduce import hardware_description
    adapter = load_adapter(adapter_name)
    if dataset not in adapter.datasets:
        raise ValueError(f"adapter {adapter.name} knows datasets {sorted(adapter.datasets)}, not {dataset!r}")
    checkout, data_root = checkout.resolve(), data_root.resolve()
    if "reference" in sides:
        adapter.check_checkout(checkout)
    overrides = dict(ours_overrides or {})
    if overrides and not variant:
        raise ValueError("ours_overrides (--ours-set) need a variant name (--variant), so that the default "
                         "results file is not written with another graphcl config")
    if variant is not None and not (variant and all(ch.isalnum() or ch in "-_" for ch in variant)):
        raise ValueError(f"variant must be a non-empty name of letters, digits, '-' or '_', got {variant!r}")
    data, data_desc = adapter.load_data(dataset, data_root)
    commit = commit or _git_commit(checkout) or "unknown"
    settings = {"epochs": epochs, "seeds": seeds, "threads": threads, "hyper": adapter.hyper(dataset),
                "ours_config": {**adapter.ours_config(dataset), **overrides}, "data": data_desc,
                "reference_commit": commit}
    if adapter.eval_every != 1:  # (absent = 1: the files written before the key keep their hash)
        settings["eval_every"] = adapter.eval_every
    path = out_dir / (f"{adapter.name}_{dataset}_{variant}.json" if variant else f"{adapter.name}_{dataset}.json")
    runs = _read_existing(path, settings, resume, overwrite)
    imported_ref = [Path(p) for p in import_reference_runs or []]
    for other in imported_ref:
        have = {(r["side"], r["seed"]) for r in runs}
        runs += [r for r in _read_reference_runs(other, settings) if (r["side"], r["seed"]) not in have]
    for other in import_runs or []:  # (resume-like: refuses another file's settings)
        have = {(r["side"], r["seed"]) for r in runs}
        runs += [r for r in _read_existing(Path(other), settings, True, False) if (r["side"], r["seed"]) not in have]
    for run in runs:  # the selection rule may have changed since they were written
        run["final"] = derive_final(run.get("curves", []), adapter.metrics[0])
    done = {(r["side"], r["seed"]) for r in runs}
    settings["seeds"] = sorted(set(seeds) | {int(r["seed"]) for r in runs})  # the file's seeds, all kept
    doc: dict[str, Any] = {
        "schema": SCHEMA, "adapter": adapter.name, "method": adapter.method, "dataset": dataset,
        "task": adapter.task, "metrics": list(adapter.metrics), "settings": settings,
        "settings_hash": settings_hash(settings),
        "reference": {"repo": adapter.reference_repo, "commit": commit, "checkout": str(checkout),
                      "command": None, "patches": [], "environment": list(adapter.environment)},
        "ours": {"graphcl_commit": _git_commit(REPO), "command": None},
        "hardware": hardware_description("cpu") + f"; {threads} torch thread(s) per side",
        "protocol": {"notes": list(adapter.protocol_notes), "findings": list(adapter.findings)}, "runs": runs}
    if variant:
        doc["variant"] = {"name": variant, "ours_overrides": overrides}
    if path.exists() and resume:
        old = json.loads(path.read_text(encoding="utf-8"))
        doc["reference"].update({k: old["reference"].get(k) for k in ("command", "patches")})
        doc["ours"]["command"] = old.get("ours", {}).get("command")
        if old["reference"].get("imported_from"):
            doc["reference"]["imported_from"] = list(old["reference"]["imported_from"])
    for other in imported_ref:  # the imported reference runs' command, patches and origin
        odoc = json.loads(other.read_text(encoding="utf-8"))
        if not doc["reference"].get("command"):
            doc["reference"].update({k: odoc["reference"].get(k) for k in ("command", "patches")})
        origin = doc["reference"].setdefault("imported_from", [])
        if str(other) not in origin:
            origin.append(str(other))
    for other in import_runs or []:  # their commands, where this file has none yet
        odoc = json.loads(Path(other).read_text(encoding="utf-8"))
        if not doc["reference"].get("command") and odoc.get("reference", {}).get("command"):
            doc["reference"].update({k: odoc["reference"].get(k) for k in ("command", "patches")})
        doc["ours"]["command"] = doc["ours"]["command"] or odoc.get("ours", {}).get("command")
    for seed in seeds:
        for side in sides:
            if (side, seed) in done:
                print(f"[parity] {adapter.name}/{dataset} {side} seed {seed}: finished before, skipped")
                continue
            ctx = RunContext(dataset=dataset, seed=seed, epochs=epochs, checkout=checkout,
                             data_root=data_root.resolve(), python=sys.executable, threads=threads,
                             workdir=work / (f"{adapter.name}_{dataset}_{variant}" if variant
                                             else f"{adapter.name}_{dataset}") / f"{side}-seed{seed}",
                             extra={"ours_overrides": overrides} if overrides else {})
            print(f"[parity] {adapter.name}/{dataset} {side} seed {seed}: running ({epochs} epochs)", flush=True)
            out = run_reference(adapter, ctx, data, timeout) if side == "reference" else run_ours(adapter, ctx, timeout)
            if side == "reference":
                doc["reference"]["command"], doc["reference"]["patches"] = out.pop("command"), out.pop("patches")
            else:
                doc["ours"]["command"] = out.pop("command")
            run = _finish_run(side, seed, out, epochs, adapter.metrics[0], adapter.fixed_epochs)
            print(f"[parity]   {run['status']} in {run['wall_seconds']:.0f}s, "
                  f"{run['seconds_per_epoch'] or float('nan'):.2f} s/epoch, peak {run['peak_rss_mib']:.0f} MiB"
                  + (f" ({run['error']})" if run["error"] else ""), flush=True)
            doc["runs"] = [r for r in doc["runs"] if (r["side"], r["seed"]) != (side, seed)] + [run]
            doc["summary"] = summarize(doc["runs"], adapter.metrics)
            _write(path, doc)
    doc["summary"] = summarize(doc["runs"], adapter.metrics)
    _write(path, doc)
    return path


def _read_reference_runs(path: Path, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``ok`` reference runs of another results file whose settings equal ``settings`` except
    ``ours_config`` and ``seeds`` (else :class:`SettingsMismatch` naming the differing keys)."""
    other = json.loads(Path(path).read_text(encoding="utf-8")).get("settings", {})
    changed = sorted(k for k in set(settings) | set(other)
                     if k not in ("seeds", "ours_config") and settings.get(k) != other.get(k))
    if changed:
        raise SettingsMismatch(f"{path}: cannot take over its reference runs, its settings differ in more than "
                               f"graphcl's config (differing: {', '.join(changed)})")
    return [r for r in json.loads(Path(path).read_text(encoding="utf-8")).get("runs", [])
            if r.get("side") == "reference" and r.get("status") == "ok"]


def _parse_set(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (VALUE read as JSON, else kept as a string) as a dict."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--ours-set wants KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _write(path: Path, doc: dict[str, Any]) -> None:
    from graphcl.io import atomic_write_text
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(doc, indent=1, default=_json_default) + "\n")


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("adapter", help="adapter name (experiments/parity/adapters/<name>.py)")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--checkout", required=True, type=Path, help="the reference checkout (outside this repo)")
    ap.add_argument("--commit", help="the checkout's commit (default: git rev-parse in the checkout)")
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--work", type=Path, default=Path("/tmp/parity-work"), help="temp copies and logs")
    ap.add_argument("--out", type=Path, default=REPO / "experiments" / "results" / "parity")
    ap.add_argument("--sides", nargs="+", default=["reference", "ours"], choices=["reference", "ours"])
    ap.add_argument("--timeout", type=float, default=None, help="seconds per run (killed after)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="skip finished runs (same settings only)")
    group.add_argument("--overwrite", action="store_true", help="discard an existing results file")
    ap.add_argument("--import-runs", type=Path, nargs="+", default=None,
                    help="take over the ok runs of these results files (same settings; e.g. one side run "
                         "in parallel into another --out)")
    ap.add_argument("--variant", default=None,
                    help="name of a variant of graphcl's side: writes <adapter>_<dataset>_<variant>.json")
    ap.add_argument("--ours-set", nargs="+", default=None, metavar="KEY=VALUE",
                    help="graphcl config overrides of the variant (VALUE as JSON, else a string); needs --variant")
    ap.add_argument("--import-reference-runs", type=Path, nargs="+", default=None,
                    help="take over the ok REFERENCE runs of these results files (settings equal except "
                         "graphcl's config), e.g. the default file for a --variant of graphcl's side")
    args = ap.parse_args(argv)
    try:
        path = run_parity(args.adapter, args.dataset, args.checkout, args.epochs, args.seeds,
                          data_root=args.data_root, work=args.work, out_dir=args.out, threads=args.threads,
                          commit=args.commit, sides=tuple(args.sides), resume=args.resume,
                          overwrite=args.overwrite, timeout=args.timeout, import_runs=args.import_runs,
                          variant=args.variant, ours_overrides=_parse_set(args.ours_set),
                          import_reference_runs=args.import_reference_runs)
    except (CheckoutError, PatchError, SettingsMismatch, FileExistsError, ValueError) as err:
        print(f"parity: error: {err}", file=sys.stderr)
        return 2
    print(f"[parity] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
