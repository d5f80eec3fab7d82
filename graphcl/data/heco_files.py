"""Readers of HeCo-format files, each checking what it reads and naming the file in
its error (see :mod:`graphcl.data.hetero` for the format)."""
from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from graphcl.sparse import csr_tensor, to_csr

from .interactions import DataFormatError
from .safe_pickle import check_npz_members, read_npy


def need_file(path: Path, what: str) -> Path:
    """``path`` itself; :class:`FileNotFoundError` naming ``what`` when it is no file."""
    if not path.is_file():
        raise FileNotFoundError(f"{what}: file {path} is missing")
    return path


def read_sparse(path: Path) -> sp.csr_matrix:
    """A ``scipy.sparse`` ``.npz`` file (read without pickle) as CSR; each member's
    header is checked against its size first
    (:func:`graphcl.data.safe_pickle.check_npz_members`), so a header announcing
    more data than the archive holds allocates nothing."""
    check_npz_members(path)
    try:
        return sp.load_npz(path).tocsr()
    except Exception as err:  # corrupt or not a scipy.sparse archive
        raise DataFormatError(f"{path}: not a scipy.sparse .npz file ({err})") from err


def read_index_array(path: Path, length: Optional[int] = None) -> np.ndarray:
    """A 1-D ``.npy`` array of integers (integral floats accepted) as int64; with
    ``length``, it must have that many entries. Read by
    :func:`graphcl.data.safe_pickle.read_npy` (no pickle; the header's shape is
    checked against the file's size before anything is allocated)."""
    arr = read_npy(path, objects=False)
    if arr.ndim != 1 or (length is not None and arr.size != length):
        raise DataFormatError(f"{path}: expected a 1-D array{f' of {length} entries' if length else ''}, "
                              f"got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise DataFormatError(f"{path}: holds non-integer values")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise DataFormatError(f"{path}: expected integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _check_range(idx: np.ndarray, n: int, path: Path, what: str) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise DataFormatError(f"{path}: {what} index {int(idx.max() if idx.max() >= n else idx.min())} "
                              f"is out of range for {n} nodes")


def read_schema_neighbours(folder: Path, letter: str, n_target: int, n_other: int) -> np.ndarray:
    """Schema neighbours ``nei_<letter>`` as a (2, E) array of (target, neighbour) pairs.

    ``.npy`` files hold object arrays (one integer array per target node). They are
    never read with ``allow_pickle=True``: :func:`graphcl.data.safe_pickle.read_npy`
    parses the header and unpickles the payload through an unpickler that admits
    only numpy integer arrays inside numpy's object array (any other global raises
    :class:`DataFormatError` before anything in the file runs); every element is
    then checked to be a 1-D integer array of in-range ids.
    """
    npy, npz = folder / f"nei_{letter}.npy", folder / f"nei_{letter}.npz"
    if npz.is_file() and not npy.is_file():
        coo = read_sparse(npz).tocoo()
        if coo.shape != (n_target, n_other):
            raise DataFormatError(f"{npz}: shape {coo.shape}, expected ({n_target}, {n_other})")
        pairs = np.vstack([coo.row, coo.col]).astype(np.int64)
        order = np.lexsort((pairs[1], pairs[0]))
        return pairs[:, order]
    need_file(npy, f"schema neighbours of type {letter!r} (nei_{letter}.npy or nei_{letter}.npz)")
    arr = read_npy(npy, kinds="iu")
    if not isinstance(arr, np.ndarray) or arr.shape[:1] != (n_target,):
        raise DataFormatError(f"{npy}: expected one neighbour list per target node ({n_target}), "
                              f"got {getattr(arr, 'shape', type(arr).__name__)}")
    if arr.dtype == object:
        lists = []
        for i, item in enumerate(arr):
            try:
                a = np.asarray(item)
            except Exception:  # e.g. a ragged or too deeply nested list
                a = np.empty(0, dtype=object)
            if a.ndim != 1 or a.dtype.kind not in "iu":
                raise DataFormatError(f"{npy}: entry {i} is not a 1-D integer array "
                                      f"(got {type(item).__name__} {getattr(a, 'dtype', '')})")
            lists.append(a.astype(np.int64))
        counts = np.array([a.size for a in lists])
        cols = np.concatenate(lists) if lists else np.zeros(0, np.int64)
    elif arr.dtype.kind in "iu" and arr.ndim == 2:
        counts = np.full(n_target, arr.shape[1])
        cols = arr.reshape(-1).astype(np.int64)
    else:
        raise DataFormatError(f"{npy}: expected an object array of integer arrays or a 2-D "
                              f"integer array, got dtype {arr.dtype} and shape {arr.shape}")
    _check_range(cols, n_other, npy, "neighbour")
    rows = np.repeat(np.arange(n_target, dtype=np.int64), counts)
    pairs = np.unique(np.vstack([rows, cols]), axis=1)  # sorted by (row, col), duplicates dropped
    return pairs


def read_relation(path: Path, n_src: int, n_dst: int) -> np.ndarray:
    """A raw relation file ``<xy>.txt`` (two integer columns) as a (2, E) array."""
    try:
        pairs = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except Exception as err:
        raise DataFormatError(f"{path}: expected two integer columns ({err})") from err
    if pairs.size and pairs.shape[1] != 2:
        raise DataFormatError(f"{path}: expected two columns, got {pairs.shape[1]}")
    pairs = pairs.reshape(-1, 2).T
    _check_range(pairs[0], n_src, path, "source")
    _check_range(pairs[1], n_dst, path, "destination")
    return np.unique(pairs, axis=1)


def read_features(path: Path, n: int, sparse_mode: Any) -> torch.Tensor:
    """``<x>_feat.npz`` as float32: sparse CSR (per ``sparse_mode``) or dense."""
    if zipfile.is_zipfile(path):
        mat = read_sparse(path)
        if mat.shape[0] != n:
            raise DataFormatError(f"{path}: {mat.shape[0]} rows, expected {n}")
        mat = mat.astype(np.float32)
        if not np.all(np.isfinite(mat.data)):
            raise DataFormatError(f"{path}: features contain NaN or inf")
        density = mat.nnz / max(mat.shape[0] * mat.shape[1], 1)
        if sparse_mode is True or (sparse_mode == "auto" and density < 0.1):
            mat.sum_duplicates()  # sorted, distinct columns per row (duplicates summed, as toarray)
            try:
                return csr_tensor(torch.from_numpy(mat.indptr.astype(np.int64)),
                                  torch.from_numpy(mat.indices.astype(np.int64)),
                                  torch.from_numpy(mat.data), size=mat.shape, check_invariants=True)
            except RuntimeError as err:
                raise DataFormatError(f"{path}: not a valid sparse matrix ({err})") from None
        return torch.from_numpy(mat.toarray())
    # DBLP's t_feat.npz is a plain .npy file (dense GloVe vectors)
    arr = read_npy(path, objects=False)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise DataFormatError(f"{path}: shape {arr.shape}, expected ({n}, d)")
    if arr.dtype.kind not in "biuf":
        raise DataFormatError(f"{path}: expected numeric features, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(f"{path}: features contain NaN or inf")
    x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    return to_csr(x) if sparse_mode is True else x


def identity_features(n: int) -> torch.Tensor:
    """The n x n identity as a sparse CSR float32 tensor (HeCo's one-hot features)."""
    idx = torch.arange(n)
    return csr_tensor(torch.arange(n + 1), idx, torch.ones(n), size=(n, n))


def split_masks(folder: Path, n: int, ratios: Sequence[int]) -> dict[str, torch.Tensor]:
    """``{train,val,test}_mask`` (n, len(ratios)) bool from ``<part>_<ratio>.npy``."""
    masks = {}
    for part in ("train", "val", "test"):
        cols = []
        for r in ratios:
            path = need_file(folder / f"{part}_{r}.npy", f"{part} split with {r} labels per class")
            idx = read_index_array(path)
            if idx.size == 0:
                raise DataFormatError(f"{path}: holds no node ids (an empty {part} split)")
            _check_range(idx, n, path, "node")
            repeats = idx.size - np.unique(idx).size
            if repeats:  # MEOW's IMDB train_40/train_60 repeat a few ids
                warnings.warn(f"{path}: {repeats} repeated node id(s) counted once", UserWarning,
                              stacklevel=4)
            m = torch.zeros(n, dtype=torch.bool)
            m[torch.from_numpy(idx)] = True
            cols.append(m)
        masks[f"{part}_mask"] = torch.stack(cols, 1)
    overlap = (masks["train_mask"] & (masks["val_mask"] | masks["test_mask"])).any(0)
    if bool(overlap.any()):
        raise DataFormatError(f"{folder}: train split {ratios[int(overlap.nonzero()[0])]} overlaps "
                              f"its validation or test split")
    return masks
