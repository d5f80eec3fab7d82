"""Atomic checkpoint writes and safe (``weights_only=True``) reads."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from graphcl.io import atomic_write_bytes


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    atomic_write_bytes(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from exc


class JsonlLogger:
    """Append one JSON object per line; each line is flushed and fsynced. The folder is made
    when the first line is written (a run refused before it starts leaves nothing behind)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def log(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
