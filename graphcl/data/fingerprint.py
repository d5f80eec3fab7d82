"""A content fingerprint of a loaded dataset: the same split gives the same digest.

``--resume`` compares the fingerprint stored in ``last.pt`` with the dataset it is given,
so a resumed run cannot silently train on another split (another ``data.seed``, a changed
file on disk): test items of the first split would become training items. The digest is a
SHA-256 over every tensor, array, number and string the dataset object holds (PyG ``Data``
and ``HeteroData`` stores, dataclass fields, dicts and lists), in a fixed order. Integer
tensors are hashed exactly; floating tensors at float16 precision, so a feature matrix
recomputed with another thread count (last-bit differences) keeps its fingerprint.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np
import torch

_MAX_DEPTH = 8


def dataset_fingerprint(data: Any) -> str:
    """The hex SHA-256 of ``data``'s content (see the module docstring)."""
    digest = hashlib.sha256()
    _feed(digest, data, 0)
    return digest.hexdigest()


def _feed(h: "hashlib._Hash", obj: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        h.update(b"<deep>")
        return
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        h.update(f"{type(obj).__name__}:{obj!r};".encode("utf-8", "surrogatepass"))
    elif isinstance(obj, torch.Tensor):
        _feed_array(h, obj.detach().cpu())
    elif isinstance(obj, np.ndarray):
        _feed_array(h, torch.from_numpy(np.ascontiguousarray(obj)) if obj.dtype != object
                    else None, fallback=obj)
    elif isinstance(obj, dict):
        h.update(b"{")
        for key in sorted(obj, key=str):
            h.update(f"{key!s}=".encode("utf-8", "surrogatepass"))
            _feed(h, obj[key], depth + 1)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(f"[{len(obj)}".encode())
        for item in obj:
            _feed(h, item, depth + 1)
        h.update(b"]")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(type(obj).__name__.encode())
        _feed(h, {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}, depth + 1)
    elif hasattr(obj, "stores") and hasattr(obj, "to_dict"):  # PyG Data / HeteroData
        h.update(type(obj).__name__.encode())
        for store in obj.stores:
            key = getattr(store, "_key", None)
            h.update(f"<store {key!r}>".encode())
            _feed(h, dict(store.items()) if hasattr(store, "items") else store.to_dict(), depth + 1)
    else:
        h.update(f"<{type(obj).__name__}>".encode())


def _feed_array(h: "hashlib._Hash", tensor: torch.Tensor | None, fallback: Any = None) -> None:
    if tensor is None:  # a numpy object array: hash its elements
        _feed(h, list(fallback.reshape(-1)), 1)
        return
    if tensor.layout == torch.sparse_coo:
        tensor = tensor.coalesce()
        for part in (tensor.indices(), tensor.values()):
            _feed_array(h, part)
        return
    if tensor.layout == torch.sparse_csr:
        for part in (tensor.crow_indices(), tensor.col_indices(), tensor.values()):
            _feed_array(h, part)
        return
    h.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
    if tensor.is_floating_point() or tensor.is_complex():
        tensor = torch.view_as_real(tensor) if tensor.is_complex() else tensor
        tensor = tensor.to(torch.float16)
    elif tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8)
    h.update(tensor.contiguous().numpy().tobytes())
