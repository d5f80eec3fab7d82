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
the numpy scalar type they used to mean, then imports the requested module; the
names stay set (process-wide).

Scoped alternatives (context managers that restore what they change on exit):

* :func:`numpy_aliases` -- the same names, removed again on exit, together with
  the ones RecBole's own ``Config.compatibility_settings`` sets on numpy
  (``np.bool``, ``np.int``, ``np.float``, ``np.long``, ...). RecBole reads the
  aliases at call time (``Config()``, dataset building, the ranking metrics of
  every evaluation), so they must stay set for as long as RecBole code runs:
  wrap the whole run, not only the import;
* :func:`recording_torch_saves` -- records the path and sha256 of every file
  ``torch.save`` writes inside the block (RecBole's checkpoints);
* :func:`torch_load_full_pickle` -- inside the block, ``torch.load`` of a trusted
  file (by default one that ``torch.save`` wrote inside a :func:`recbole_scope`
  of this process, byte-identical to what was written) defaults to
  ``weights_only=False``: RecBole's checkpoints pickle its ``Config``, which
  torch >= 2.6's default ``weights_only=True`` rejects. Every other
  ``torch.load`` in the process, inside the block too, behaves as outside it
  (``weights_only=True`` unless the caller says otherwise);
* :func:`argv_hidden` -- ``sys.argv`` holds only the program name (RecBole's
  ``Config`` parses ``--key=value`` command-line arguments as settings);
* :func:`working_directory` -- a temporary ``chdir`` (RecBole's Trainer writes
  ``log_tensorboard/`` into the current directory);
* :func:`recbole_scope` -- numpy aliases and :func:`recording_torch_saves` plus,
  optionally, the other three.

All of them change process-wide state while active, so they are not meant for
threads running other numpy/torch code at the same time.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import pickle
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType
from typing import Any, Optional, Union

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

#: numpy names RecBole 1.2.1's ``Config.compatibility_settings`` assigns on every ``Config()``
RECBOLE_SETS: tuple[str, ...] = ("bool", "int", "float", "complex", "object", "str", "long", "unicode")

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


_MISSING = object()


@contextlib.contextmanager
def numpy_aliases() -> Iterator[list[str]]:
    """Within the block, the aliases of :data:`NUMPY_ALIASES` exist on numpy; on exit
    every name of :data:`NUMPY_ALIASES` and :data:`RECBOLE_SETS` is put back as it
    was (removed when numpy did not have it, its old value otherwise), so RecBole's
    own assignments do not outlive the block either. Yields the names it added.
    Nested blocks restore their own entry state."""
    names = dict.fromkeys([*NUMPY_ALIASES, *RECBOLE_SETS])
    saved = {name: np.__dict__.get(name, _MISSING) for name in names}
    try:
        yield install_numpy_aliases()
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                np.__dict__.pop(name, None)
            else:
                setattr(np, name, value)


#: files ``torch.save`` wrote inside a :func:`recbole_scope` of this process: real path -> sha256
RECORDED_SAVES: dict[str, str] = {}

PathLike = Union[str, "os.PathLike[str]"]


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A trusted checkpoint's bytes are not the ones recorded when it was saved."""


def _real_path(f: Any) -> Optional[str]:
    """The real path of a ``torch.save``/``torch.load`` target, None for a file object."""
    return os.path.realpath(os.fspath(f)) if isinstance(f, (str, os.PathLike)) else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def recording_torch_saves(into: Optional[dict[str, str]] = None) -> Iterator[dict[str, str]]:
    """Within the block, every ``torch.save`` to a path records ``{real path: sha256
    of the file written}`` in ``into`` (default :data:`RECORDED_SAVES`), which it
    yields. Saves to file objects are not recorded. ``torch.save`` is restored on exit."""
    import torch
    record = RECORDED_SAVES if into is None else into
    original = torch.save

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(obj, f, *args, **kwargs)
        path = _real_path(f)
        if path is not None and os.path.isfile(path):
            with open(path, "rb") as handle:
                record[path] = _sha256(handle.read())
        return result

    save.__wrapped__ = original  # type: ignore[attr-defined]
    torch.save = save
    try:
        yield record
    finally:
        torch.save = original


@contextlib.contextmanager
def torch_load_full_pickle(
        trusted: Union[Mapping[PathLike, str], Iterable[PathLike], None] = None) -> Iterator[None]:
    """Within the block, ``torch.load(path)`` of a trusted file defaults to
    ``weights_only=False`` (RecBole's checkpoints pickle its ``Config``).

    ``trusted``: ``None`` -- the files :data:`RECORDED_SAVES` holds (written by
    ``torch.save`` inside a :func:`recbole_scope`, or a :func:`recording_torch_saves`
    block, of this process; files saved while this block is open count too); a
    mapping ``{path: sha256}``, such as the dict :func:`recording_torch_saves`
    yields; or paths you vouch for, admitted by path alone.

    The exact window: only a call whose first argument is a path (``str`` or
    ``os.PathLike``) naming a trusted file (compared by real path), and which
    passes neither ``weights_only`` nor ``pickle_module``, is changed: the file is
    read once, its sha256 compared with the recorded one
    (:class:`UntrustedCheckpointError` when it differs), and those bytes are
    unpickled in full. Every other ``torch.load`` anywhere in the process, inside
    the block too, is passed through unchanged (``weights_only=True`` by torch's
    default); an explicit ``weights_only`` is always respected. ``torch.load`` is
    restored on exit.
    """
    import torch
    if isinstance(trusted, (str, os.PathLike)):
        trusted = [trusted]
    if trusted is None:
        table: Mapping[str, Optional[str]] = RECORDED_SAVES  # live: later saves count
    elif isinstance(trusted, Mapping):
        table = {os.path.realpath(os.fspath(p)): str(h) for p, h in trusted.items()}
    else:
        table = {os.path.realpath(os.fspath(p)): None for p in trusted}
    original = torch.load

    def load(f: Any, *args: Any, **kwargs: Any) -> Any:
        path = _real_path(f)
        if (path is None or path not in table or "weights_only" in kwargs
                or kwargs.get("pickle_module") is not None or (len(args) > 1 and args[1] is not None)):
            return original(f, *args, **kwargs)
        with open(path, "rb") as handle:
            data = handle.read()
        expected = table[path]
        if expected is not None and _sha256(data) != expected:
            raise UntrustedCheckpointError(
                f"{path}: changed since it was saved in this process (sha256 {_sha256(data)}, "
                f"recorded {expected}); refusing to unpickle it in full")
        return original(io.BytesIO(data), *args, weights_only=False, **kwargs)

    load.__wrapped__ = original  # type: ignore[attr-defined]
    torch.load = load
    try:
        yield
    finally:
        torch.load = original


@contextlib.contextmanager
def argv_hidden() -> Iterator[None]:
    """Within the block, ``sys.argv`` holds only the program name."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


@contextlib.contextmanager
def working_directory(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """``chdir`` to ``path`` (created if missing) for the block; ``None``: stay."""
    if path is None:
        yield
        return
    previous = os.getcwd()
    os.makedirs(path, exist_ok=True)
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def recbole_scope(*, hide_argv: bool = False, full_pickle_load: bool = False,
                  workdir: str | os.PathLike[str] | None = None) -> Iterator[None]:
    """Run RecBole 1.2.1 code under numpy 2 / torch >= 2.6 without lasting changes.

    Always :func:`numpy_aliases` and :func:`recording_torch_saves` (so RecBole's
    checkpoints saved inside are known as this process's own); with ``hide_argv``
    also :func:`argv_hidden`, with ``full_pickle_load`` :func:`torch_load_full_pickle`
    for those recorded files only (needed by
    ``Trainer.evaluate(load_best_model=True)``), with ``workdir`` a
    :func:`working_directory`. Everything is restored on exit.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(numpy_aliases())
        stack.enter_context(recording_torch_saves())
        if hide_argv:
            stack.enter_context(argv_hidden())
        if full_pickle_load:
            stack.enter_context(torch_load_full_pickle())
        stack.enter_context(working_directory(workdir))
        yield
