"""Where datasets live and how a file gets there: the data root, downloads checked by
sha256, and the errors of a dataset that is unknown, missing or failed to download.

Imports nothing else of :mod:`graphcl.data`, so every dataset family can use it.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

__all__ = ["ENV_VAR", "DatasetNotFoundError", "MissingDataError", "DownloadError",
           "resolve_data_root", "sha256_file", "fetch"]

#: the environment variable naming the data root
ENV_VAR = "GRAPHCL_DATA"


class DatasetNotFoundError(KeyError):
    """Unknown dataset name; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class MissingDataError(FileNotFoundError):
    """A known dataset whose files are not under the data root."""


class DownloadError(OSError):
    """A download failed or its sha256 did not match the manifest."""


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$GRAPHCL_DATA``, else ``<repo>/datasets``.

    ``<repo>`` is the folder holding the ``graphcl`` package when it has a
    ``datasets/`` sub-folder (a source checkout); otherwise ``./datasets``.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    if (repo / "datasets").is_dir():
        return repo / "datasets"
    return Path.cwd() / "datasets"


def sha256_file(path: Path) -> str:
    """The hex sha256 of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, dest: Path, sha256: str, timeout: float = 60.0) -> None:
    """Download ``url`` to a temp file beside ``dest``, check its sha256, then rename it
    into place atomically; :class:`DownloadError` (nothing written) otherwise."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    done = False
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for block in iter(lambda: resp.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise DownloadError(f"{url}: sha256 {digest.hexdigest()} does not match the "
                                f"manifest's {sha256}; nothing was written to {dest}")
        os.replace(tmp, dest)
        done = True
    except DownloadError:
        raise
    except Exception as err:
        raise DownloadError(f"could not download {url} to {dest}: {err}") from err
    finally:
        if not done:
            tmp.unlink(missing_ok=True)
