"""Import one file of a reference checkout as a module, without writing into the checkout."""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

__all__ = ["import_from"]


def import_from(path: Path, name: str) -> types.ModuleType:
    """The module at ``path``, imported under ``name`` (no ``__pycache__`` is written)."""
    sys.dont_write_bytecode = True  # nothing written into the checkout
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path} as a module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
