"""Lazy package attributes (PEP 562): a package names what it exports and from which
module, and a module is imported only when one of its names is first used.

    __getattr__, __dir__ = lazy_exports(__name__, {"LightGCN": "graphcl.models.rec.lightgcn"})

A leaf module: it imports nothing of graphcl.
"""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, table: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``table`` maps an exported name to
    the module that defines it (or, for the name of a sub-module, ``package.name``, to
    that sub-module itself); the value is cached in the package on first use."""
    table = dict(table)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        imported = importlib.import_module(module)
        value = imported if module == f"{package}.{name}" else getattr(imported, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
