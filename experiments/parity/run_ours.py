"""graphcl's side of a parity run, in its own process (so its peak RSS is its own).

    python -m experiments.parity.run_ours --method lightgcl --dataset lastfm --data-root DIR \\
        --config '{"embedding_dim": 64, ...}' --seed 0 --epochs 15 --threads 1 --run-dir DIR

It builds the trainer with :func:`graphcl.train.build_trainer` (validation every epoch, no early
stop: ``patience`` above the epoch count, as the references train a fixed number of epochs),
evaluates the test split after every validation as well (for the curves; the trainer's own final
test of the best-validation model is unchanged), and prints one ``PARITY_JSON {...}`` line per
epoch in the format of :mod:`experiments.parity.refhook`.
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
        threads: int, run_dir: Path) -> dict[str, Any]:
    """Train and emit per-epoch records; returns the trainer's result as a dict."""
    import torch
    from graphcl.train import build_trainer
    torch.set_num_threads(threads)
    cfg = {**config, "seed": seed, "epochs": epochs, "eval_every": 1, "patience": epochs + 1}
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a parity run always starts fresh
    trainer = build_trainer(method, dataset, config=cfg, data_root=data_root, device="cpu",
                            run_dir=run_dir, progress=False, verbose=False)
    validate = trainer._validate  # wrapped: the test curve too, timed apart from training

    def validate_and_test(epoch: int, loss: float, seconds: float, eval_seconds: list[float]) -> bool:
        stop = validate(epoch, loss, seconds, eval_seconds)
        t0 = time.perf_counter()
        test = trainer.evaluate("test")
        valid = trainer.history[-1] if trainer.history else {}
        _emit({"epoch": epoch, "train_seconds": seconds, "loss": loss,
               "valid": _last_valid(trainer), "test": test,
               "eval_seconds": (eval_seconds[-1] if eval_seconds else 0.0) + time.perf_counter() - t0,
               "selected": bool(valid) and valid.get("epoch") == trainer.best_epoch})
        return stop

    trainer._validate = validate_and_test
    result = trainer.fit()
    return {"best_epoch": result.best_epoch, "valid": result.best_valid, "test": result.test,
            "seconds_per_epoch": result.seconds_per_epoch}


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
    args = ap.parse_args(argv)
    out = run(args.method, args.dataset, args.data_root, json.loads(args.config), args.seed, args.epochs,
              args.threads, Path(args.run_dir))
    sys.stdout.write("PARITY_RESULT " + json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
