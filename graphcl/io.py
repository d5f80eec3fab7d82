"""File helpers. Atomic writes: a killed process leaves the old file or the new one, never a
torn one. JSON-lines reading with errors that name the file and line."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def atomic_write_bytes(path: str | Path, write) -> None:
    """Call ``write(file_object)`` on a temp file beside ``path``, fsync, then rename.

    A killed process leaves either the old file or the new one, never a torn one. The file
    gets the permissions a plain ``open(path, "w")`` would give (an existing file keeps its
    mode; a new one ``0o666`` minus the umask), not ``mkstemp``'s private ``0o600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _target_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _target_mode(path: Path) -> int:
    """The mode of the existing ``path``, else ``0o666`` minus the process umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)   # read it: os.umask can only be read by setting it
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, lambda fh: fh.write(text.encode(encoding)))


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True))


def iter_jsonl_objects(path: str | Path, error: type[Exception]) -> Iterator[tuple[str, dict]]:
    """Yield ``(where, obj)`` for every non-blank line of a JSON-lines file, ``where`` being
    ``"<path>:<line>"``. A leading UTF-8 byte-order mark is dropped. Invalid UTF-8, a line that
    is not valid JSON (nested too deeply, or an integer of more digits than Python converts,
    included) or a line that is not a JSON object raises ``error`` naming the file (and line)."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise error(f"{path}: not valid UTF-8 (line {line}, byte offset {err.start}: "
                    f"{err.reason})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise error(f"{where}: not valid JSON ({err.msg})") from None
        except (ValueError, RecursionError) as err:  # int digit limit, deep nesting
            raise error(f"{where}: not usable JSON ({type(err).__name__}: {str(err)[:120]})") \
                from None
        if not isinstance(obj, dict):
            raise error(f"{where}: expected a JSON object, got {type(obj).__name__}")
        yield where, obj
