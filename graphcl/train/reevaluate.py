"""Re-evaluate a finished run's saved model, optionally under another evaluation protocol.

``graphcl evaluate RUN_DIR [--split test] [--set exclude_history=true]`` rebuilds the run
(:func:`graphcl.train.run_folder.load_run`: its method, dataset, config and data options),
loads ``best.pt`` and evaluates it. Only keys that change how the saved model is scored may be
overridden (:data:`EVALUATION_KEYS`); a key that would change what the model is (its training,
architecture or data) is refused, naming the key, since the checkpoint was not trained with it.
Nothing is written to the run folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from graphcl.train.run_folder import load_run

__all__ = ["EVALUATION_KEYS", "SPLITS", "evaluate_run"]

#: config keys that only change the evaluation of a trained model
EVALUATION_KEYS = ("exclude_history", "topk", "eval_batch_size")
SPLITS = ("valid", "test")


def evaluate_run(run_dir: str | Path, split: str = "test", overrides: Mapping[str, Any] | None = None, *,
                 data_root: str | Path | None = None, device: str = "cpu") -> dict[str, float]:
    """The metrics of ``run_dir``'s best checkpoint on ``split`` with the evaluation keys in
    ``overrides`` replaced (``ValueError`` for any other key or an unknown split)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    overrides = dict(overrides or {})
    refused = sorted(k for k in overrides if k not in EVALUATION_KEYS)
    if refused:
        raise ValueError(f"cannot re-evaluate with {', '.join(refused)}: only evaluation keys "
                         f"({', '.join(EVALUATION_KEYS)}) may change after training")
    trainer, _ = load_run(run_dir, data_root=data_root, device=device, overrides=overrides)
    return trainer.task.evaluate(trainer.model, split)   # the valid metric may be outside a new topk
