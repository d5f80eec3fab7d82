"""An on-disk cache of LLM answers: one SQLite file (WAL) of ``key -> text``.

The key is :func:`graphcl.llm.generation.cache_key` (sha256 of backend, model,
prompt and generation parameters). Every :meth:`ResponseCache.put_many` is one
transaction (all entries or none), so a killed run leaves each committed batch
intact and nothing torn; several processes may write at once (SQLite serializes
the writers, each waiting up to ``timeout`` seconds for the lock). The backend
and model of each entry are stored beside it for :meth:`ResponseCache.stats`.

Default file: ``$GRAPHCL_CACHE/llm_responses.sqlite``, else
``~/.cache/graphcl/llm_responses.sqlite``.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence

from graphcl.llm.sqlite_store import CacheError, ConnectionHolder, open_wal, write_rows

__all__ = ["ResponseCache", "default_response_cache_path", "CacheError"]

FILE_NAME = "llm_responses.sqlite"
_CHUNK = 500  # host parameters per query
_SCHEMA = (("CREATE TABLE IF NOT EXISTS responses ("
            " key TEXT PRIMARY KEY NOT NULL, response TEXT NOT NULL,"
            " backend TEXT, model TEXT, created REAL) WITHOUT ROWID"),)


def default_response_cache_path() -> Path:
    root = os.environ.get("GRAPHCL_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "graphcl"
    return base / FILE_NAME


class ResponseCache(ConnectionHolder):
    """``get_many``/``put_many`` LLM answers by cache key (see the module docstring).

    ``path``: the SQLite file (None: the default file; an existing folder: the
    default file name inside it). One connection per object, guarded by a lock,
    so one object may be shared by threads.
    """

    def __init__(self, path: str | Path | None = None, timeout: float = 60.0) -> None:
        p = Path(path).expanduser() if path is not None else default_response_cache_path()
        self.path = p / FILE_NAME if p.is_dir() else p
        self.timeout = float(timeout)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self._conn = open_wal(self.path, _SCHEMA, timeout=self.timeout, check_same_thread=False)
            except (sqlite3.Error, OSError) as exc:
                raise CacheError(f"cannot open the LLM response cache {self.path}: {exc} "
                                 f"(delete the file to start an empty cache)") from exc
        return self._conn

    # ------------------------------------------------------------------- API
    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The cached answers among ``keys``."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, str] = {}
        if not keys:
            return out
        with self._lock:
            conn = self._connect()
            try:
                for start in range(0, len(keys), _CHUNK):
                    chunk = keys[start:start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    for key, text in conn.execute(
                            f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk):
                        if isinstance(text, str):  # a foreign non-text value counts as missing
                            out[key] = text
            except sqlite3.Error as exc:
                raise CacheError(f"cannot read the LLM response cache {self.path}: {exc} "
                                 f"(delete the file to start an empty cache)") from exc
        return out

    def put_many(self, items: Mapping[str, str], *, backend: str | None = None,
                 model: str | None = None) -> None:
        """Write ``{key: answer}`` in one transaction (all entries or none)."""
        now = time.time()
        rows = []
        for key, text in items.items():
            if not isinstance(text, str):
                raise TypeError(f"cached answers must be strings, got {type(text).__name__} for key {key}")
            rows.append((key, text, backend, model, now))
        if not rows:
            return
        with self._lock:
            conn = self._connect()
            try:
                write_rows(conn, "INSERT OR REPLACE INTO responses (key, response, backend, model, created) "
                                 "VALUES (?, ?, ?, ?, ?)", rows)
            except sqlite3.Error as exc:
                raise CacheError(f"cannot write to the LLM response cache {self.path}: {exc}") from exc

    def count(self) -> int:
        with self._lock:
            return int(self._connect().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def stats(self) -> dict:
        """Path, file size, entry count and entries per (backend, model)."""
        with self._lock:
            conn = self._connect()
            rows = conn.execute("SELECT backend, model, COUNT(*), SUM(LENGTH(response)) FROM responses "
                                "GROUP BY backend, model ORDER BY COUNT(*) DESC").fetchall()
        size = sum(f.stat().st_size for f in self.path.parent.glob(self.path.name + "*") if f.is_file())
        return {"path": str(self.path), "bytes": size, "entries": sum(r[2] for r in rows),
                "by_model": [{"backend": b, "model": m, "entries": n, "chars": int(c or 0)}
                             for b, m, n, c in rows]}

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` when sound)."""
        with self._lock:
            return str(self._connect().execute("PRAGMA integrity_check").fetchone()[0])

    def __repr__(self) -> str:
        return f"ResponseCache({self.path})"
