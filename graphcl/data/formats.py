"""Readers for the interaction file formats used by public recommendation code.

* RecBole atomic files (``.inter`` / ``.item`` / ``.user``): :func:`read_atomic`.
* LightGCN text splits (``train.txt`` / ``test.txt``): :func:`read_lightgcn_txt`.
* Pickled ``scipy.sparse`` matrices (LightGCL, DCCF, SSLRec, AdaGCL ``trnMat.pkl``):
  :func:`read_pickled_matrix`, through an unpickler that refuses every global
  outside a short allow-list, so a malicious pickle cannot run code.
* Tab-separated ``user item [count]`` lines (LightGCN-PyTorch lastfm):
  :func:`read_user_item_tsv`.

Every malformed input raises :class:`~graphcl.data.interactions.DataFormatError`
whose message names the file and, for text formats, the 1-based line number.
A missing file raises the ordinary :class:`FileNotFoundError`.
"""
from __future__ import annotations

import codecs
import copyreg
import os
import pickle
import re
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import scipy.sparse as sp

from .interactions import DataFormatError

PathLike = Union[str, os.PathLike]

ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")
_ONLY_DIGITS_AND_SPACE = re.compile(r"[0-9\s]*")


def _read_text(path: PathLike) -> tuple[Path, str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return path, path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not valid UTF-8 ({err})") from None


# --------------------------------------------------------------- atomic files
def read_atomic(path: PathLike) -> dict[str, list | np.ndarray]:
    """Read a RecBole atomic file into ``{field name: column}``.

    The first line is a tab-separated header of ``name:type`` with ``type`` in
    ``token`` (column of ``str``), ``token_seq`` (list of lists of ``str``,
    split on spaces), ``float`` (``float64`` array; an empty field is NaN) and
    ``float_seq`` (list of ``float64`` arrays). Blank lines are skipped; a
    trailing ``\\r`` is ignored. A line with the wrong number of fields or a
    non-number in a float field raises :class:`DataFormatError`.
    """
    path, text = _read_text(path)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataFormatError(f"{path}:1: missing the 'name:type' header")
    names: list[str] = []
    types: list[str] = []
    for spec in lines[0].split("\t"):
        name, sep, kind = spec.strip().rpartition(":")
        if not sep or not name or kind not in ATOMIC_TYPES:
            raise DataFormatError(f"{path}:1: header field {spec!r} is not 'name:type' with type "
                                  f"in {ATOMIC_TYPES}")
        if name in names:
            raise DataFormatError(f"{path}:1: duplicate field {name!r}")
        names.append(name)
        types.append(kind)
    width = len(names)
    numbered = [(n, line) for n, line in enumerate(lines[1:], start=2) if line.strip()]
    line_numbers = [n for n, _ in numbered]
    body = [line for _, line in numbered]
    for lineno, line, tabs in zip(line_numbers, body, [line.count("\t") for line in body]):
        if tabs != width - 1:
            raise DataFormatError(f"{path}:{lineno}: expected {width} tab-separated fields "
                                  f"({', '.join(names)}), found {tabs + 1}")
    flat = "\t".join(body).split("\t") if body else []
    columns = [flat[k::width] for k in range(width)]
    out: dict[str, list | np.ndarray] = {}
    for name, kind, column in zip(names, types, columns):
        if kind == "token":
            out[name] = column
        elif kind == "token_seq":
            out[name] = [value.split() for value in column]
        elif kind == "float":
            out[name] = _float_column(path, name, column, line_numbers)
        else:
            out[name] = [_float_column(path, name, value.split(), [lineno] * len(value.split()))
                         for value, lineno in zip(column, line_numbers)]
    return out


def _float_column(path: Path, name: str, values: list[str],
                  line_numbers: list[int]) -> np.ndarray:
    cleaned = [v.strip() or "nan" for v in values]
    try:
        return np.array(cleaned, dtype=np.float64)
    except ValueError:
        for value, lineno in zip(cleaned, line_numbers):
            try:
                float(value)
            except ValueError:
                raise DataFormatError(f"{path}:{lineno}: field {name!r} is a float field but "
                                      f"holds {value!r}") from None
        raise  # pragma: no cover - numpy and float() disagree


# ------------------------------------------------------------ integer helpers
def _parse_id(path: Path, lineno: int, token: str, what: str = "id") -> int:
    if token.isascii() and token.isdigit():
        value = int(token)
        if value > np.iinfo(np.int64).max:
            raise DataFormatError(f"{path}:{lineno}: {what} {token!r} is too large")
        return value
    if token.startswith("-") and token[1:].isascii() and token[1:].isdigit():
        raise DataFormatError(f"{path}:{lineno}: negative {what} {token!r}")
    raise DataFormatError(f"{path}:{lineno}: {what} {token!r} is not a non-negative integer")


def read_lightgcn_txt(path: PathLike) -> np.ndarray:
    """Read a LightGCN split file: each line ``uid iid iid ...``.

    Returns a ``(2, n)`` ``int64`` array of (user, item) pairs in file order.
    A line holding only a uid is a user without items; blank lines are
    skipped. Ids must be non-negative decimal integers.
    """
    path, text = _read_text(path)
    lines = text.splitlines()
    if _ONLY_DIGITS_AND_SPACE.fullmatch(text) is not None:
        try:
            tokens = text.split()
            flat = np.fromiter(map(int, tokens), dtype=np.int64, count=len(tokens))
        except OverflowError:
            pass  # locate the offending line below
        else:
            lengths = np.fromiter((len(line.split()) for line in lines), dtype=np.int64,
                                  count=len(lines))
            lengths = lengths[lengths > 0]
            heads = np.cumsum(lengths) - lengths
            is_head = np.zeros(flat.size, dtype=bool)
            is_head[heads] = True
            users = np.repeat(flat[heads], lengths - 1)
            return np.stack([users, flat[~is_head]])
    users_out: list[int] = []
    items_out: list[int] = []
    for lineno, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        user = _parse_id(path, lineno, tokens[0], "user id")
        for token in tokens[1:]:
            items_out.append(_parse_id(path, lineno, token, "item id"))
            users_out.append(user)
    return np.array([users_out, items_out], dtype=np.int64).reshape(2, -1)


def read_user_item_tsv(path: PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read tab-separated ``user item [count]`` lines (LightGCN-PyTorch lastfm).

    Returns ``(pairs, counts)``: a ``(2, n)`` ``int64`` array and, when the
    file has a third column, a ``float64`` array of counts (``None`` otherwise).
    Every non-blank line must have the same number of fields (2 or 3); ids
    are taken as written (no offset is applied). Windows line ends are fine.
    """
    path, text = _read_text(path)
    users: list[int] = []
    items: list[int] = []
    counts: list[float] = []
    width = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split("\t")
        if width == 0:
            width = len(fields)
            if width not in (2, 3):
                raise DataFormatError(f"{path}:{lineno}: expected 'user<TAB>item[<TAB>count]', "
                                      f"found {len(fields)} fields")
        elif len(fields) != width:
            raise DataFormatError(f"{path}:{lineno}: expected {width} tab-separated fields "
                                  f"like the first line, found {len(fields)}")
        users.append(_parse_id(path, lineno, fields[0].strip(), "user id"))
        items.append(_parse_id(path, lineno, fields[1].strip(), "item id"))
        if width == 3:
            try:
                counts.append(float(fields[2]))
            except ValueError:
                raise DataFormatError(f"{path}:{lineno}: count {fields[2]!r} is not a number") \
                    from None
    pairs = np.array([users, items], dtype=np.int64).reshape(2, -1)
    return pairs, (np.array(counts, dtype=np.float64) if width == 3 else None)


# ---------------------------------------------------------- pickled matrices
_SPARSE_CLASSES = frozenset(
    f"{fmt}_{kind}" for fmt in ("coo", "csr", "csc", "bsr", "dia", "lil", "dok")
    for kind in ("matrix", "array"))
_SPARSE_MODULES = frozenset(
    ["scipy.sparse"]
    + [f"scipy.sparse.{p}{fmt}" for p in ("", "_") for fmt in
       ("coo", "csr", "csc", "bsr", "dia", "lil", "dok", "base", "compressed", "data")])


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes, limited to latin-1."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"refused codec {encoding!r} in _codecs.encode")
    return codecs.encode(text, encoding, errors)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray, numeric

    allowed: dict[tuple[str, str], Any] = {}
    for prefix in ("numpy.core", "numpy._core"):
        allowed[(f"{prefix}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{prefix}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{prefix}.numeric", "_frombuffer")] = numeric._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds scipy.sparse matrices/arrays and numpy arrays.

    Allowed globals: the scipy.sparse matrix and array classes (under
    ``scipy.sparse`` and its old and new private module names), numpy's
    ``ndarray``, ``dtype``, ``_reconstruct``, ``scalar`` and ``_frombuffer``,
    ``copyreg._reconstructor`` with ``object`` (protocol 0/1 pickles) and
    ``_codecs.encode`` restricted to latin-1 (protocol 2 bytes). Anything else
    raises :class:`DataFormatError` naming the file and the refused global,
    before any of the pickle's code could run.
    """

    def __init__(self, file: Any, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source
        self.allowed = _numpy_globals()
        for module in ("copyreg", "copy_reg"):  # copy_reg / __builtin__: Python 2 names
            self.allowed[(module, "_reconstructor")] = copyreg._reconstructor
        for module in ("builtins", "__builtin__"):
            self.allowed[(module, "object")] = object
        self.allowed[("_codecs", "encode")] = _latin1_encode

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        if module in _SPARSE_MODULES and name in _SPARSE_CLASSES:
            return getattr(sp, name)
        raise DataFormatError(f"{self.source}: refused to unpickle global '{module}.{name}' "
                              f"(only scipy.sparse matrices and numpy arrays are allowed)")

    def persistent_load(self, pid: Any) -> Any:
        raise DataFormatError(f"{self.source}: refused persistent id {pid!r} in pickle")


def read_pickled_matrix(path: PathLike) -> sp.coo_matrix:
    """Load a pickled scipy sparse matrix (e.g. ``trnMat.pkl``) as a ``coo_matrix``.

    Uses :class:`RestrictedUnpickler`; a pickle that is not a sparse matrix,
    is truncated, or refers to any other global raises :class:`DataFormatError`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open("rb") as handle:
        try:
            obj = RestrictedUnpickler(handle, str(path)).load()
        except DataFormatError:
            raise
        except Exception as err:  # truncated or corrupt pickles raise many types
            raise DataFormatError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") \
                from None
    if not sp.issparse(obj):
        raise DataFormatError(f"{path}: expected a pickled scipy.sparse matrix, "
                              f"got {type(obj).__name__}")
    return sp.coo_matrix(obj)


# ------------------------------------------------------- atomic-table helpers
def factorize(tokens: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``0..k-1`` in order of first appearance, and the unique tokens in that order."""
    arr = np.asarray(tokens, dtype=str)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64), arr
    uniques, first, inverse = np.unique(arr, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.reshape(-1)].astype(np.int64), uniques[order]


def align_table(table: dict[str, list | np.ndarray], key_field: str,
                tokens: Sequence[str]) -> dict[str, list | np.ndarray]:
    """Reorder an atomic side table (``.item``/``.user``) to follow ``tokens``.

    Row ``k`` of each returned column belongs to ``tokens[k]``; tokens absent
    from the table get NaN (float columns) or ``None``. The key column itself
    is left out (the tokens already hold it). The first row wins on repeats.
    """
    if key_field not in table:
        raise DataFormatError(f"side table has no {key_field!r} field (fields: {sorted(table)})")
    position: dict[str, int] = {}
    for row, key in enumerate(table[key_field]):
        position.setdefault(key, row)
    index = np.array([position.get(t, -1) for t in tokens], dtype=np.int64)
    present = index >= 0
    out: dict[str, list | np.ndarray] = {}
    for name, column in table.items():
        if name == key_field:
            continue
        if isinstance(column, np.ndarray):
            values = np.full(index.size, np.nan)
            values[present] = column[index[present]]
            out[name] = values
        else:
            out[name] = [column[j] if j >= 0 else None for j in index]
    return out
