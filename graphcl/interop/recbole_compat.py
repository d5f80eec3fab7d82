"""Import RecBole 1.2.1 modules under numpy 2.

RecBole 1.2.1 still refers to numpy names that numpy 1.24 / 2.0 removed:

* ``np.float`` / ``np.int`` / ``np.object`` / ``np.complex`` / ``np.unicode`` /
  ``np.str`` -- the builtin-type aliases removed in numpy 1.24
  (``recbole/evaluator/metrics.py`` uses ``np.float`` in MRR, MAP and NDCG;
  ``recbole/data/interaction.py`` and ``dataset.py`` use ``np.float``);
* ``np.float_`` / ``np.complex_`` / ``np.unicode_`` -- removed in numpy 2.0 and
  read by ``Config.compatibility_settings`` (so building any ``Config`` fails);
* ``np.bool8`` -- removed in numpy 2.0, read by the tensorboard/ray loggers
  RecBole pulls in.

:func:`import_recbole` sets exactly these names, each only when it is missing, to
the numpy scalar type they used to mean, then imports the requested module.
"""
from __future__ import annotations

import importlib
import warnings
from types import ModuleType

import numpy as np

#: alias name -> the numpy type it meant before numpy removed it
NUMPY_ALIASES: dict[str, type] = {
    "float_": np.float64,
    "complex_": np.complex128,
    "unicode_": np.str_,
    "bool8": np.bool_,
    "float": float,
    "int": int,
    "object": object,
    "complex": complex,
    "unicode": str,
    "str": str,
}

INSTALL_HINT = "pip install graphcl[recbole]"


def _has(name: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns on some expired names
        try:
            getattr(np, name)
        except AttributeError:
            return False
    return True


def install_numpy_aliases() -> list[str]:
    """Set the missing numpy aliases of :data:`NUMPY_ALIASES`; return the names set."""
    added = []
    for name, value in NUMPY_ALIASES.items():
        if not _has(name):
            setattr(np, name, value)
            added.append(name)
    return added


def import_recbole(module: str = "recbole") -> ModuleType:
    """Import ``module`` (a ``recbole`` module path) after installing numpy aliases.

    Raises:
        ImportError: RecBole is not installed; the message gives the install command.
        ValueError: ``module`` is not inside the ``recbole`` package.
    """
    if module != "recbole" and not module.startswith("recbole."):
        raise ValueError(f"import_recbole only imports recbole modules, got {module!r}")
    install_numpy_aliases()
    try:
        importlib.import_module("recbole")
    except ModuleNotFoundError as exc:
        if exc.name == "recbole":
            raise ImportError(f"RecBole is not installed; install it with `{INSTALL_HINT}`") from exc
        raise
    return importlib.import_module(module)
