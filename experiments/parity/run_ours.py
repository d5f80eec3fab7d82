"""graphcl's side of a parity run, in its own process (so its peak RSS is its own).

    python -m experiments.parity.run_ours --method lightgcl --dataset lastfm --data-root DIR \\
        --config '{"embedding_dim": 64, ...}' --seed 0 --epochs 15 --threads 1 --run-dir DIR

It builds the trainer with :func:`graphcl.train.build_trainer` (validation every epoch, no early
stop: ``patience`` above the epoch count, as the references train a fixed number of epochs),
evaluates the test split after every validation as well (for the curves; the trainer's own final
test of the best-validation model is unchanged), and prints one ``PARITY_JSON {...}`` line per
epoch in the format of :mod:`experiments.parity.refhook`.

``--eval-every K`` (node methods: a probe per epoch is dear) validates and tests every K epochs
and at the last one; the other epochs get a record with their training seconds and loss only
(read from the trainer's ``metrics.jsonl`` after training). A node-probe task fits its probe
once for both splits (:func:`experiments.parity.nodeprobe.memoize_probe`). A task without a
validation split that clusters (SCGC*, PamC) gets one record per epoch, with graphcl's clustering
metrics on the evaluated epochs (:func:`experiments.parity.nodecluster.attach_ours`).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from experiments.parity.refhook import MARKER


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(MARKER + json.dumps(record) + "\n")
    sys.stdout.flush()


def run(method: str, dataset: str, data_root: str, config: dict[str, Any], seed: int, epochs: int,
        threads: int, run_dir: Path, eval_every: int = 1) -> dict[str, Any]:
    """Train and emit per-epoch records; returns the trainer's result as a dict."""
    import torch
    from graphcl.train import build_trainer
    torch.set_num_threads(threads)
    cfg = {**config, "seed": seed, "epochs": epochs, "eval_every": eval_every, "patience": epochs + 1}
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a parity run always starts fresh
    trainer = build_trainer(method, dataset, config=cfg, data_root=data_root, device="cpu",
                            run_dir=run_dir, progress=False, verbose=False)
    if hasattr(trainer.task, "_probe"):  # node probe: one fit for the valid and the test numbers
        from experiments.parity.nodeprobe import memoize_probe
        memoize_probe(trainer.task)
    validate = trainer._validate  # wrapped: the test curve too, timed apart from training
    emitted: set[int] = set()
    if not trainer.has_valid and hasattr(trainer.model, "soft_assignments"):
        # node clustering (SCGC*, PamC): no validation split; one record per epoch, the same
        # evaluation as the reference hook (experiments.parity.nodecluster)
        from experiments.parity.nodecluster import attach_ours
        attach_ours(trainer, eval_every, _emit, emitted)

    def validate_and_test(epoch: int, loss: float, seconds: float, eval_seconds: list[float]) -> bool:
        stop = validate(epoch, loss, seconds, eval_seconds)
        t0 = time.perf_counter()
        test = trainer.evaluate("test")
        valid = trainer.history[-1] if trainer.history else {}
        _emit({"epoch": epoch, "train_seconds": seconds, "loss": loss,
               "valid": _last_valid(trainer), "test": test,
               "eval_seconds": (eval_seconds[-1] if eval_seconds else 0.0) + time.perf_counter() - t0,
               "selected": bool(valid) and valid.get("epoch") == trainer.best_epoch})
        emitted.add(epoch)
        return stop

    trainer._validate = validate_and_test
    result = trainer.fit()
    for rec in _train_records(Path(trainer.run_dir)):  # the epochs without evaluation
        if rec["epoch"] not in emitted:
            _emit(rec)
    return {"best_epoch": result.best_epoch, "valid": result.best_valid, "test": result.test,
            "seconds_per_epoch": result.seconds_per_epoch}


def _train_records(run_dir: Path) -> list[dict[str, Any]]:
    """``{"epoch", "train_seconds", "loss"}`` of every ``train`` line of the run's metric log."""
    out = []
    with open(run_dir / "metrics.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("split") == "train":
                out.append({"epoch": int(rec["epoch"]), "train_seconds": rec.get("seconds"),
                            "loss": rec.get("loss")})
    return out


def _last_valid(trainer: Any) -> dict[str, float]:
    """The validation metrics just logged (the trainer keeps only the selection metric in
    ``history``; the full dict is the last ``valid`` line of its metric log)."""
    path = Path(trainer.run_dir) / "metrics.jsonl"
    last: dict[str, float] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("split") == "valid":
                last = {k: v for k, v in rec.items() if k not in ("epoch", "split", "seconds")}
    return last


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--config", default="{}", help="JSON object of config overrides")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--eval-every", type=int, default=1, help="validate and test every K epochs (and the last)")
    args = ap.parse_args(argv)
    out = run(args.method, args.dataset, args.data_root, json.loads(args.config), args.seed, args.epochs,
              args.threads, Path(args.run_dir), args.eval_every)
    sys.stdout.write("PARITY_RESULT " + json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
