"""A run folder written by ``graphcl train``: its ``config.json``, and the model rebuilt from it.

:func:`load_run` rebuilds the run's trainer through the trainer's own build path
(:func:`graphcl.train.build_trainer` with the saved method, dataset, merged config and data
options) and loads ``best.pt`` (else ``last.pt``). Used by ``graphcl plot`` and
``graphcl evaluate``. A malformed ``config.json`` is an error naming the file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

__all__ = ["run_folder", "run_config", "load_run"]


def run_folder(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    return run_dir


def run_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no config.json: not a graphcl run folder "
                                f"(one written by `graphcl train`)")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(saved, dict) or "method" not in saved or "config" not in saved:
        raise ValueError(f"{path}: expected the keys 'method' and 'config' of a graphcl run")
    return saved


def load_run(run_dir: str | Path, *, data_root: str | Path | None = None, dataset: Any = None,
             device: str = "cpu", overrides: Mapping[str, Any] | None = None) -> tuple[Any, Path]:
    """Rebuild a run's trainer (task and model) from its ``config.json`` and load its best
    checkpoint (``best.pt``, else ``last.pt``). Returns ``(trainer, checkpoint path)``.

    ``dataset`` replaces the saved dataset name (needed when the run trained on an
    in-memory dataset object); ``data_root`` is where named datasets are found;
    ``overrides`` replace saved config keys (:func:`graphcl.train.reevaluate.evaluate_run`
    allows only evaluation keys).
    Nothing is written to the run folder.
    """
    from graphcl.train import build_trainer
    from graphcl.train.checkpoint import load_checkpoint

    run_dir = run_folder(run_dir)
    saved = run_config(run_dir)
    ckpt_path = next((run_dir / n for n in ("best.pt", "last.pt") if (run_dir / n).is_file()), None)
    if ckpt_path is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}: neither best.pt nor last.pt "
                                f"(the run stopped before its first epoch ended?)")
    config = dict(saved["config"])
    if dataset is None:  # loader options apply to a dataset loaded by name only
        config.update({f"data.{k}": v for k, v in (saved.get("data_options") or {}).items()})
    config.update(overrides or {})
    trainer = build_trainer(saved["method"], saved.get("dataset") if dataset is None else dataset,
                            config=config, data_root=data_root, device=device, run_dir=run_dir,
                            progress=False, verbose=False)
    ckpt = load_checkpoint(ckpt_path, map_location=trainer.device)
    trainer.model.load_state_dict(ckpt["model"])
    trainer.model.eval()
    trainer.checkpoint_epoch = int(ckpt.get("epoch", -1))
    return trainer, ckpt_path
