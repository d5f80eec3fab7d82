"""Our split in the references' file formats, and back.

* :func:`write_coo_pickle` / :func:`read_coo_pickle`: a pickled ``scipy.sparse.coo_matrix``
  (users x items, value 1.0), the format of LightGCL (``trnMat.pkl``/``tstMat.pkl``), DCCF
  (``train.pkl``/``test.pkl``) and AdaGCL.
* :func:`write_split_npz` / :func:`read_split_npz`: the whole split (train/valid/test pairs and the
  shape) for the evaluation hook that runs inside the reference process.
* :func:`write_reference_split`: several splits at once under the reference's file names.
* :func:`write_node_npz` / :func:`read_node_npz`: a node-classification graph (labels, edges,
  optional public masks) for the node evaluation hook and the graph check inside the reference.
* :func:`same_edge_set`: whether two ``edge_index`` arrays hold the same directed edges (any order).

Pairs are ``(2, n)`` integer arrays of ``(user, item)``; writers sort them (row-major) so a
round trip compares with :func:`canonical_pairs`.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Mapping

import numpy as np
import scipy.sparse as sp

__all__ = ["canonical_pairs", "read_coo_pickle", "read_node_npz", "read_split_npz", "same_edge_set",
           "write_coo_pickle", "write_node_npz", "write_reference_split", "write_split_npz"]

NODE_MASKS = ("train_mask", "val_mask", "test_mask")


def canonical_pairs(pairs: np.ndarray) -> np.ndarray:
    """``pairs`` as an int64 ``(2, n)`` array sorted by user, then item; duplicates are an error."""
    arr = np.asarray(pairs, dtype=np.int64)
    if arr.ndim != 2 or arr.shape[0] != 2:
        raise ValueError(f"pairs must have shape (2, n), got {arr.shape}")
    order = np.lexsort((arr[1], arr[0]))
    arr = arr[:, order]
    same = (np.diff(arr[0]) == 0) & (np.diff(arr[1]) == 0)
    if same.any():
        raise ValueError(f"pairs hold {int(same.sum())} duplicate (user, item) pairs")
    return np.ascontiguousarray(arr)


def write_coo_pickle(path: Path, pairs: np.ndarray, shape: tuple[int, int]) -> Path:
    """Pickle a binary ``coo_matrix`` of ``pairs`` (float64 ones, AdaGCL's dtype) to ``path``."""
    arr = canonical_pairs(pairs)
    n_users, n_items = int(shape[0]), int(shape[1])
    if arr.size and (arr[0].max() >= n_users or arr[1].max() >= n_items or arr.min() < 0):
        raise ValueError(f"pairs out of range for shape {shape}")
    mat = sp.coo_matrix((np.ones(arr.shape[1], dtype=np.float64), (arr[0], arr[1])),
                        shape=(n_users, n_items))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(mat, fh, protocol=4)
    return path


def read_coo_pickle(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """The ``(pairs, shape)`` of a pickled scipy matrix (nonzero entries only)."""
    with open(path, "rb") as fh:
        mat = pickle.load(fh)  # noqa: S301 (files this module wrote)
    if not sp.issparse(mat):
        raise ValueError(f"{path}: expected a pickled scipy sparse matrix, got {type(mat).__name__}")
    coo = sp.coo_matrix(mat)
    keep = coo.data != 0
    return canonical_pairs(np.stack([coo.row[keep], coo.col[keep]])), (int(coo.shape[0]), int(coo.shape[1]))


def write_split_npz(path: Path, splits: Mapping[str, np.ndarray], shape: tuple[int, int]) -> Path:
    """Save ``splits`` (name -> pairs) and the shape to one ``.npz``."""
    arrays = {name: canonical_pairs(p) for name, p in splits.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, shape=np.asarray(shape, dtype=np.int64), **arrays)
    return path


def read_split_npz(path: Path) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """The ``(splits, shape)`` written by :func:`write_split_npz`."""
    with np.load(path) as data:
        shape = tuple(int(x) for x in data["shape"])
        return {k: data[k] for k in data.files if k != "shape"}, (shape[0], shape[1])


def write_reference_split(folder: Path, files: Mapping[str, np.ndarray],
                          shape: tuple[int, int]) -> dict[str, int]:
    """Write each ``file name -> pairs`` as a coo pickle under ``folder``; returns the
    interaction count per file."""
    return {name: int(canonical_pairs(p).shape[1])
            for name, p in files.items() if write_coo_pickle(Path(folder) / name, p, shape)}


def write_node_npz(path: Path, y: np.ndarray, edge_index: np.ndarray,
                   masks: Mapping[str, np.ndarray] | None = None) -> Path:
    """Save a node-classification graph: labels ``y`` (N,), ``edge_index`` (2, E) and the
    optional public ``train_mask``/``val_mask``/``test_mask`` (N,) or (N, k) booleans."""
    y = np.asarray(y).reshape(-1).astype(np.int64)
    edges = np.asarray(edge_index, dtype=np.int64)
    if edges.ndim != 2 or edges.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {edges.shape}")
    if edges.size and (edges.min() < 0 or edges.max() >= y.size):
        raise ValueError(f"edge_index refers to nodes outside 0..{y.size - 1}")
    arrays: dict[str, np.ndarray] = {"y": y, "edge_index": edges}
    for name, mask in (masks or {}).items():
        if name not in NODE_MASKS:
            raise ValueError(f"unknown mask {name!r}; known: {', '.join(NODE_MASKS)}")
        m = np.asarray(mask).astype(bool)
        if m.shape[0] != y.size:
            raise ValueError(f"{name} has {m.shape[0]} rows for {y.size} nodes")
        arrays[name] = m
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def read_node_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays written by :func:`write_node_npz` (``y``, ``edge_index``, masks present)."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def same_edge_set(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` and ``b`` ((2, E) arrays) hold the same directed edges, in any order
    (duplicates count: a multigraph differs from its simple graph)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if a.shape != b.shape:
        return False
    n = int(max(a.max(initial=0), b.max(initial=0))) + 1
    return bool(np.array_equal(np.sort(a[0] * n + a[1]), np.sort(b[0] * n + b[1])))
