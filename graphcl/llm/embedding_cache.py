"""An on-disk cache of text embeddings, keyed by (encoder id, sha256 of the text).

Storage is one SQLite file (``embeddings.sqlite3`` in the cache folder) in WAL
mode with one row per (encoder, text hash): the vector as a little-endian
float32 blob and its dimension. Rows are written in transactions, so a process
killed mid-write leaves the rows of every committed batch and nothing of the
batch it was writing (SQLite rolls the unfinished transaction back on the next
open). Several processes may write at once: SQLite serializes the writers and
each waits up to ``timeout`` seconds for the lock. A row whose blob length is not
``dim * 4`` bytes (it cannot come from this code, but a foreign writer could
leave one) is reported as missing, so the caller re-encodes and overwrites it.

Default folder: ``$GRAPHCL_CACHE/embeddings``, else ``~/.cache/graphcl/embeddings``.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from graphcl.llm.sqlite_store import CacheError, ConnectionHolder, open_wal, write_rows

__all__ = ["EmbeddingCache", "default_cache_dir", "text_key", "CacheError"]

DB_NAME = "embeddings.sqlite3"
_CHUNK = 500  # host parameters per query (SQLite's default limit is >= 999)
_SCHEMA = (("CREATE TABLE IF NOT EXISTS embeddings ("
            " encoder TEXT NOT NULL, text_sha256 TEXT NOT NULL,"
            " dim INTEGER NOT NULL, vector BLOB NOT NULL,"
            " PRIMARY KEY (encoder, text_sha256)) WITHOUT ROWID"),)


def default_cache_dir() -> Path:
    root = os.environ.get("GRAPHCL_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "graphcl"
    return base / "embeddings"


def text_key(text: str) -> str:
    """The hex sha256 of the UTF-8 text (the cache key of one text)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache(ConnectionHolder):
    """``get``/``put`` many embeddings of one or more encoders in one SQLite file."""

    def __init__(self, directory: str | Path | None = None, timeout: float = 60.0) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.path = self.directory / DB_NAME
        self.timeout = float(timeout)
        self._conn: sqlite3.Connection | None = None

    # -------------------------------------------------------------- plumbing
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            conn = open_wal(self.path, _SCHEMA, timeout=self.timeout)
        except (sqlite3.Error, OSError) as exc:
            raise CacheError(f"cannot open the embedding cache {self.path}: {exc} "
                             f"(delete the file to start an empty cache, or pass cache_dir=False)") from exc
        self._conn = conn
        return conn

    # ------------------------------------------------------------------- API
    def get(self, encoder: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``keys`` (text hashes) as float32 arrays; entries
        whose blob does not hold exactly ``dim`` float32 values are left out."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, np.ndarray] = {}
        if not keys:
            return out
        conn = self._connect()
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(f"SELECT text_sha256, dim, vector FROM embeddings "
                                    f"WHERE encoder = ? AND text_sha256 IN ({marks})",
                                    [encoder, *chunk]).fetchall()
                for key, dim, blob in rows:
                    if not isinstance(blob, (bytes, bytearray, memoryview)) or dim is None \
                            or int(dim) <= 0 or len(blob) != int(dim) * 4:
                        continue  # truncated or foreign entry: treat as missing
                    out[key] = np.frombuffer(bytes(blob), dtype="<f4").copy()
        except sqlite3.Error as exc:
            raise CacheError(f"cannot read the embedding cache {self.path}: {exc} "
                             f"(delete the file to start an empty cache)") from exc
        return out

    def put(self, encoder: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Write ``{text hash: vector}`` in one transaction (all rows or none)."""
        rows = []
        for key, vec in vectors.items():
            arr = np.ascontiguousarray(np.asarray(vec, dtype="<f4").reshape(-1))
            rows.append((encoder, key, int(arr.size), arr.tobytes()))
        if not rows:
            return
        conn = self._connect()
        try:
            write_rows(conn, "INSERT OR REPLACE INTO embeddings (encoder, text_sha256, dim, vector) "
                             "VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise CacheError(f"cannot write to the embedding cache {self.path}: {exc}") from exc

    def count(self, encoder: str | None = None) -> int:
        conn = self._connect()
        if encoder is None:
            return int(conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
        return int(conn.execute("SELECT COUNT(*) FROM embeddings WHERE encoder = ?",
                                (encoder,)).fetchone()[0])

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` when sound)."""
        return str(self._connect().execute("PRAGMA integrity_check").fetchone()[0])

    def __repr__(self) -> str:
        return f"EmbeddingCache({self.path})"
