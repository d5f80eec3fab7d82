"""SQLite plumbing shared by the on-disk caches (embeddings, LLM responses).

:func:`open_wal` opens (creating if needed) one SQLite file in WAL mode with
autocommit off-by-default semantics (``isolation_level=None``: we issue
``BEGIN IMMEDIATE``/``COMMIT`` ourselves) and a busy timeout, then runs the
schema statements. Two processes opening a *new* file at once can get
SQLITE_BUSY from the journal-mode switch without SQLite's busy handler being
called, so the setup is retried with exponential backoff until ``timeout``.

:func:`write_rows` writes many rows in one ``BEGIN IMMEDIATE`` transaction: all
rows or none, so a process killed mid-write leaves every committed batch and
nothing of the batch it was writing (SQLite rolls the unfinished transaction
back on the next open). Concurrent writers are serialized by SQLite; each waits
up to the busy timeout for the write lock.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["open_wal", "write_rows", "is_busy_error", "CacheError", "ConnectionHolder"]


class CacheError(OSError):
    """The cache file cannot be opened or read; the message names the file."""


class ConnectionHolder:
    """Closing plumbing of the caches: the connection lives in ``self._conn`` (None when closed);
    ``close()`` (under ``self._lock`` when the subclass has one), ``with`` support, and a
    best-effort close when the object is collected."""

    _conn: sqlite3.Connection | None = None

    def close(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is None:
            self._close_connection()
        else:
            with lock:
                self._close_connection()

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


def is_busy_error(exc: BaseException) -> bool:
    """True for SQLite's 'database is locked' / 'busy' operational errors."""
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _setup(conn: sqlite3.Connection, schema: Sequence[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in schema:
                conn.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            if not is_busy_error(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def open_wal(path: str | Path, schema: Sequence[str], timeout: float = 60.0,
             check_same_thread: bool = True) -> sqlite3.Connection:
    """Open ``path`` (creating its folder) in WAL mode and run the ``schema``
    statements (``CREATE TABLE IF NOT EXISTS ...``), retrying on a busy database.

    Raises ``sqlite3.Error``/``OSError``; callers wrap them in their own error
    naming the file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None,
                           check_same_thread=check_same_thread)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        _setup(conn, schema, timeout)
    except BaseException:
        conn.close()
        raise
    return conn


def write_rows(conn: sqlite3.Connection, sql: str, rows: Iterable[Sequence]) -> None:
    """``executemany(sql, rows)`` inside one ``BEGIN IMMEDIATE`` transaction
    (rolled back on any error, so the file never holds part of the rows)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(sql, rows)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
