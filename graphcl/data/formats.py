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
A missing file raises the ordinary :class:`FileNotFoundError`. Text files must
be UTF-8; a leading UTF-8 byte-order mark is accepted and dropped.

Id bound
--------
Integer ids index arrays (embedding tables, per-user counts), so one absurd id
would make training allocate memory for every id below it. The readers of
integer-id formats therefore refuse, naming the file and line, any id larger
than :func:`id_bound` of the number of records, ``max(2**20, 16 * records)``:
a file of ``n`` interactions can hold at most ``n`` distinct ids, so a larger
id leaves more than 15/16 of the id range unused. Pass ``max_id`` to change
the bound. Pickled matrices get the same rule for their shape against their
stored entries (:func:`read_pickled_matrix`).
"""
from __future__ import annotations

import codecs
import copyreg
import csv
import io
import math
import os
import pickle
import pickletools
import re
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import scipy.sparse as sp

from .interactions import DataFormatError

PathLike = Union[str, os.PathLike]

ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")
#: :func:`id_bound` = ``max(ID_BOUND_MIN, ID_BOUND_FACTOR * records)``
ID_BOUND_MIN = 2 ** 20
ID_BOUND_FACTOR = 16
#: ``max_id`` that switches the id bound off (the largest int64)
NO_ID_BOUND = int(np.iinfo(np.int64).max)
_ID_TEXT = re.compile(r"[0-9 \t\r\n]*")
_LONG_NUMBER = re.compile(r"[0-9]{19}")
_FIELD_SEP = re.compile(r"[ \t\r]+")


def id_bound(records: int) -> int:
    """The largest id accepted in data of ``records`` records (interactions):
    ``max(2**20, 16 * records)`` (see the module docstring)."""
    return max(ID_BOUND_MIN, ID_BOUND_FACTOR * int(records))


def read_text_file(path: PathLike) -> tuple[Path, str]:
    """``(path, text)`` of a UTF-8 text file, a leading byte-order mark dropped.

    Raises :class:`FileNotFoundError` when there is no such file and
    :class:`DataFormatError` naming the file and line of the first byte that is
    not valid UTF-8.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataFormatError(f"{path}:{line}: not valid UTF-8 (byte {raw[err.start]:#04x} at "
                              f"offset {err.start}: {err.reason})") from None
    return path, text[1:] if text.startswith("\ufeff") else text


def text_lines(text: str) -> list[str]:
    """The lines of ``text`` split on ``\\n`` only (a trailing ``\\r`` dropped), so line
    numbers are the ones an editor shows; ``str.splitlines`` would also split on
    form feeds, ``\\x1c``-``\\x1e``, ``\\x85`` and U+2028 inside a field."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def read_csv_rows(path: PathLike, **reader_options: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """``(field names, rows)`` of a UTF-8 CSV file (a byte-order mark is dropped).
    Invalid UTF-8, a malformed CSV or a row whose field count differs from the
    header's raises :class:`DataFormatError` naming the file and line; each row
    carries its line number under the key ``"__line"``."""
    path, text = read_text_file(path)
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))
    reader = csv.DictReader(io.StringIO(text, newline=""), **reader_options)
    rows = []
    try:
        fields = list(reader.fieldnames or [])
        for row in reader:
            if None in row:
                raise DataFormatError(f"{path}:{reader.line_num}: more fields than the "
                                      f"{len(fields)} of the header")
            if None in row.values():
                raise DataFormatError(f"{path}:{reader.line_num}: fewer fields than the "
                                      f"{len(fields)} of the header")
            row["__line"] = reader.line_num
            rows.append(row)
    except csv.Error as err:
        raise DataFormatError(f"{path}:{reader.line_num}: malformed CSV ({err})") from None
    return fields, rows


# --------------------------------------------------------------- atomic files
def _atomic_body(path: PathLike) -> tuple[Path, list[str], list[str], list[int], list[str]]:
    path, text = read_text_file(path)
    lines = text_lines(text)
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
    numbered = [(n, line) for n, line in enumerate(lines[1:], start=2) if line.strip()]
    return path, names, types, [n for n, _ in numbered], [line for _, line in numbered]


def read_atomic(path: PathLike) -> dict[str, list | np.ndarray]:
    """Read a RecBole atomic file into ``{field name: column}``.

    The first line is a tab-separated header of ``name:type`` with ``type`` in
    ``token`` (column of ``str``), ``token_seq`` (list of lists of ``str``,
    split on spaces), ``float`` (``float64`` array; an empty field is NaN) and
    ``float_seq`` (list of ``float64`` arrays). Blank lines are skipped; a
    trailing ``\\r`` is ignored and a leading byte-order mark dropped. A line
    with the wrong number of fields or a non-number in a float field raises
    :class:`DataFormatError` naming the file and line.
    """
    path, names, types, line_numbers, body = _atomic_body(path)
    width = len(names)
    for lineno, line in zip(line_numbers, body):
        tabs = line.count("\t")
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


def atomic_row_lines(path: PathLike) -> list[int]:
    """The 1-based line number of each data row :func:`read_atomic` returns."""
    return _atomic_body(path)[3]


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
        raise DataFormatError(f"{path}: field {name!r} holds values that are not "
                              f"numbers") from None


def finite_column(path: PathLike, table: dict[str, list | np.ndarray], field: str,
                  why: str = "") -> np.ndarray:
    """Column ``field`` of the atomic table read from ``path`` as finite ``float64``.

    A ``float`` column is used as read; a ``token`` column must hold numbers.
    An empty, NaN or infinite value raises :class:`DataFormatError` naming the
    file and line (``why`` is appended to say what needs the value).
    """
    path = Path(path)
    column = table[field]
    suffix = f" ({why})" if why else ""
    if isinstance(column, np.ndarray):
        values = column
    elif any(not isinstance(v, str) for v in column):
        raise DataFormatError(f"{path}: field {field!r} holds sequences, not one number per "
                              f"row{suffix}")
    else:
        values = np.empty(len(column), dtype=np.float64)
        for row, value in enumerate(column):
            try:
                values[row] = float(value) if value.strip() else math.nan
            except ValueError:
                line = atomic_row_lines(path)[row]
                raise DataFormatError(f"{path}:{line}: field {field!r} holds {value!r}, not a "
                                      f"number{suffix}") from None
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        line = atomic_row_lines(path)[int(bad[0])]
        what = "is empty" if np.isnan(values[bad[0]]) else f"is {values[bad[0]]}"
        raise DataFormatError(f"{path}:{line}: field {field!r} {what}; it must be a finite "
                              f"number{suffix} ({bad.size} such rows)")
    return values


# ------------------------------------------------------------ integer helpers
def parse_id(path: PathLike, lineno: int, token: str, what: str = "id",
             max_id: int = NO_ID_BOUND) -> int:
    """``token`` as a non-negative decimal id of at most ``max_id``; otherwise a
    :class:`DataFormatError` naming ``path``, ``lineno`` and ``what``."""
    if token.isascii() and token.isdigit():
        if len(token.lstrip("0")) > 19 or int(token) > NO_ID_BOUND:
            raise DataFormatError(f"{path}:{lineno}: {what} {token[:40]!r} is too large "
                                  f"(beyond int64)")
        value = int(token)
        if value > max_id:
            raise DataFormatError(f"{path}:{lineno}: {what} {value} exceeds the id bound "
                                  f"{max_id} (ids must be at most max(2**20, 16 x the number "
                                  f"of interactions); remap the ids to dense ones 0..n-1)")
        return value
    if token.startswith("-") and token[1:].isascii() and token[1:].isdigit():
        raise DataFormatError(f"{path}:{lineno}: negative {what} {token[:40]!r}")
    raise DataFormatError(f"{path}:{lineno}: {what} {token[:40]!r} is not a non-negative integer")


def id_fields(line: str) -> list[str]:
    """The fields of a line of ids, split on spaces, tabs and ``\\r`` only."""
    stripped = line.strip(" \t\r")
    return _FIELD_SEP.split(stripped) if stripped else []


def read_lightgcn_txt(path: PathLike, max_id: int | None = None) -> np.ndarray:
    """Read a LightGCN split file: each line ``uid iid iid ...``.

    Returns a ``(2, n)`` ``int64`` array of (user, item) pairs in file order.
    A line holding only a uid is a user without items; blank lines are
    skipped. Ids must be non-negative decimal integers of at most ``max_id``
    (default :func:`id_bound` of the file's interactions).
    """
    path, text = read_text_file(path)
    lines = text_lines(text)
    if _ID_TEXT.fullmatch(text) is not None and _LONG_NUMBER.search(text) is None:
        tokens = text.split()
        flat = np.fromiter(map(int, tokens), dtype=np.int64, count=len(tokens))
        lengths = np.fromiter((len(line.split()) for line in lines), dtype=np.int64,
                              count=len(lines))
        lengths = lengths[lengths > 0]
        bound = id_bound(flat.size - lengths.size) if max_id is None else max_id
        if not flat.size or int(flat.max()) <= bound:
            heads = np.cumsum(lengths) - lengths
            is_head = np.zeros(flat.size, dtype=bool)
            is_head[heads] = True
            users = np.repeat(flat[heads], lengths - 1)
            return np.stack([users, flat[~is_head]])
    records: list[tuple[int, int, list[int]]] = []
    for lineno, line in enumerate(lines, start=1):
        tokens = id_fields(line)
        if tokens:
            records.append((lineno, parse_id(path, lineno, tokens[0], "user id"),
                            [parse_id(path, lineno, token, "item id") for token in tokens[1:]]))
    bound = id_bound(sum(len(items) for _, _, items in records)) if max_id is None else max_id
    for lineno, user, items in records:
        for value, what in [(user, "user id"), *((item, "item id") for item in items)]:
            if value > bound:
                parse_id(path, lineno, str(value), what, bound)
    users = [user for _, user, items in records for _ in items]
    flat_items = [item for _, _, items in records for item in items]
    return np.array([users, flat_items], dtype=np.int64).reshape(2, -1)


def read_user_item_tsv(path: PathLike, max_id: int | None = None
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """Read tab-separated ``user item [count]`` lines (LightGCN-PyTorch lastfm).

    Returns ``(pairs, counts)``: a ``(2, n)`` ``int64`` array and, when the
    file has a third column, a ``float64`` array of counts (``None`` otherwise).
    Every non-blank line must have the same number of fields (2 or 3); ids
    are taken as written (no offset is applied) and must be at most ``max_id``
    (default :func:`id_bound` of the number of lines); counts must be finite.
    Windows line ends are fine.
    """
    path, text = read_text_file(path)
    users: list[int] = []
    items: list[int] = []
    counts: list[float] = []
    pair_lines: list[int] = []
    width = 0
    for lineno, line in enumerate(text_lines(text), start=1):
        if not line.strip(" \t\r"):
            continue
        fields = line.strip(" \r").split("\t")
        if width == 0:
            width = len(fields)
            if width not in (2, 3):
                raise DataFormatError(f"{path}:{lineno}: expected 'user<TAB>item[<TAB>count]', "
                                      f"found {len(fields)} fields")
        elif len(fields) != width:
            raise DataFormatError(f"{path}:{lineno}: expected {width} tab-separated fields "
                                  f"like the first line, found {len(fields)}")
        users.append(parse_id(path, lineno, fields[0].strip(" "), "user id"))
        items.append(parse_id(path, lineno, fields[1].strip(" "), "item id"))
        pair_lines.append(lineno)
        if width == 3:
            try:
                count = float(fields[2])
            except ValueError:
                count = math.nan
            if not math.isfinite(count):
                raise DataFormatError(f"{path}:{lineno}: count {fields[2][:40]!r} is not a "
                                      f"finite number")
            counts.append(count)
    bound = id_bound(len(users)) if max_id is None else max_id
    for lineno, user, item in zip(pair_lines, users, items):
        if user > bound:
            parse_id(path, lineno, str(user), "user id", bound)
        if item > bound:
            parse_id(path, lineno, str(item), "item id", bound)
    pairs = np.array([users, items], dtype=np.int64).reshape(2, -1)
    return pairs, (np.array(counts, dtype=np.float64) if width == 3 else None)


# ---------------------------------------------------------- pickled matrices
#: the sparse formats :class:`RestrictedUnpickler` rebuilds (as ``*_matrix`` and ``*_array``)
PICKLED_SPARSE_FORMATS = ("coo", "csr", "csc")
_SPARSE_CLASSES = frozenset(f"{fmt}_{kind}" for fmt in PICKLED_SPARSE_FORMATS
                            for kind in ("matrix", "array"))
_SPARSE_MODULES = frozenset(
    ["scipy.sparse"]
    + [f"scipy.sparse.{p}{fmt}" for p in ("", "_") for fmt in
       ("coo", "csr", "csc", "base", "compressed", "data", "matrix", "arrays")])
_NUMPY_MODULES = ("numpy.core", "numpy._core")


class _NdarrayMarker:
    """What a pickle gets for ``numpy.ndarray``: only usable as ``_reconstruct``'s
    first argument (calling the class would allocate an array of any shape)."""

    def __repr__(self) -> str:
        return "numpy.ndarray (marker)"


_NDARRAY = _NdarrayMarker()


class _ByteBudget:
    """Bytes an unpickler may still materialize into arrays and byte strings: about
    the size of the pickle, so that references to one blob cannot multiply it."""

    def __init__(self, source: str, limit: int | None) -> None:
        self.source, self.left = source, limit

    def spend(self, count: int, what: str) -> None:
        if self.left is None:
            return
        self.left -= count
        if self.left < 0:
            raise DataFormatError(f"{self.source}: the pickle builds more {what} data than the "
                                  f"file holds (refused: it would multiply one blob)")


class _PickledArray(np.ndarray):
    """An ndarray built by :class:`RestrictedUnpickler`: its pickled state is checked
    (numeric dtype, exactly as many bytes as the shape needs) before numpy applies
    it, since numpy itself allocates the shape first and crashes on object arrays
    whose state is short."""

    _source = ""
    _budget: _ByteBudget | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise DataFormatError(f"{self._source}: malformed numpy array state in pickle")
        shape, dtype, _fortran, raw = state[-4:]
        if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape)):
            raise DataFormatError(f"{self._source}: malformed array shape {shape!r} in pickle")
        if (not isinstance(dtype, np.dtype) or dtype.kind not in "biufc"
                or dtype.fields is not None or dtype.subdtype is not None):
            raise DataFormatError(f"{self._source}: refused array dtype {dtype!r} in pickle "
                                  f"(only numeric arrays)")
        need = math.prod(shape) * dtype.itemsize
        if not isinstance(raw, (bytes, str)) or len(raw) != need:
            held = len(raw) if isinstance(raw, (bytes, str)) else type(raw).__name__
            raise DataFormatError(f"{self._source}: array of shape {shape} and dtype {dtype} "
                                  f"needs {need} bytes, the pickle holds {held}")
        if self._budget is not None:
            self._budget.spend(need, "array")
        super().__setstate__(state)


def _refuse_call(self: Any, *args: Any, **kwargs: Any) -> None:
    raise DataFormatError(f"{type(self)._source}: refused a call of {type(self).__name__} in "
                          f"pickle (scipy pickles never call the class)")


def _remaining_bytes(file: Any) -> int | None:
    try:
        here = file.tell()
        end = file.seek(0, io.SEEK_END)
        file.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return max(0, end - here)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds scipy.sparse matrices/arrays and numpy arrays.

    Allowed globals: the scipy.sparse COO, CSR and CSC matrix and array classes
    (under ``scipy.sparse`` and its old and new private module names), numpy's
    ``ndarray``, ``dtype``, ``_reconstruct``, ``scalar`` and ``_frombuffer``,
    ``copyreg._reconstructor`` with ``object`` (protocol 0/1 pickles),
    ``_codecs.encode`` restricted to latin-1 and ``bytes()`` without arguments
    (protocol 0-2 byte strings). Anything else
    raises :class:`DataFormatError` naming the file and the refused global,
    before any of the pickle's code could run.

    The admitted callables check their arguments so that nothing is allocated
    beyond what the file holds: ``_reconstruct`` only as numpy writes it
    (``(ndarray, (0,), b'b')``), array states must be numeric with exactly the
    bytes their shape needs, the sparse classes may be instantiated
    (``NEWOBJ``/``_reconstructor``) but not called, and the arrays and byte
    strings built in all may not exceed the pickle's own size (plus 64 KiB).
    """

    def __init__(self, file: Any, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source
        remaining = _remaining_bytes(file)
        self.byte_budget = _ByteBudget(source, None if remaining is None else remaining + 2 ** 16)
        self.pickled_array_class = type("PickledArray", (_PickledArray,),
                                        {"_source": source, "_budget": self.byte_budget})
        self.sparse_classes: dict[str, type] = {}
        self.allowed = self._numpy_globals()
        for module in ("copyreg", "copy_reg"):  # copy_reg / __builtin__: Python 2 names
            self.allowed[(module, "_reconstructor")] = self._object_reconstructor
        for module in ("builtins", "__builtin__"):
            self.allowed[(module, "object")] = object
            self.allowed[(module, "bytes")] = self._empty_bytes
        self.allowed[("_codecs", "encode")] = self._latin1_encode

    def _numpy_globals(self) -> dict[tuple[str, str], Any]:
        try:
            from numpy._core import multiarray, numeric  # numpy >= 2
        except ImportError:  # pragma: no cover - numpy 1.x
            from numpy.core import multiarray, numeric
        allowed: dict[tuple[str, str], Any] = {}
        for prefix in _NUMPY_MODULES:
            allowed[(f"{prefix}.multiarray", "_reconstruct")] = self._rebuild_array
            allowed[(f"{prefix}.multiarray", "scalar")] = multiarray.scalar
            allowed[(f"{prefix}.numeric", "_frombuffer")] = numeric._frombuffer
        allowed[("numpy", "ndarray")] = _NDARRAY
        allowed[("numpy", "dtype")] = np.dtype
        return allowed

    def _rebuild_array(self, subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
        if subtype is not _NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
            raise DataFormatError(f"{self.source}: refused _reconstruct{(subtype, shape, typecode)!r}"
                                  f" in pickle (numpy writes (ndarray, (0,), b'b'))")
        return np.ndarray.__new__(self.pickled_array_class, (0,), "b")

    def _object_reconstructor(self, cls: Any, base: Any, state: Any) -> Any:
        if base is not object or state is not None:
            raise DataFormatError(f"{self.source}: refused copyreg._reconstructor with base "
                                  f"{base!r} in pickle (only object)")
        return copyreg._reconstructor(cls, base, state)

    def _latin1_encode(self, text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        """``_codecs.encode`` as protocol-2 pickles use it for bytes, limited to latin-1."""
        if not isinstance(text, str) or not isinstance(encoding, str) \
                or codecs.lookup(encoding).name != "iso8859-1":
            raise DataFormatError(f"{self.source}: refused _codecs.encode with {encoding!r} in "
                                  f"pickle (only latin-1)")
        self.byte_budget.spend(len(text), "byte string")
        return codecs.encode(text, encoding, errors)

    def _empty_bytes(self, *args: Any) -> bytes:
        """``bytes()``, as protocol 0-2 pickles write an empty byte string."""
        if args:  # bytes(n) would allocate n bytes
            raise DataFormatError(f"{self.source}: refused bytes{args!r} in pickle (only bytes())")
        return b""

    def _sparse_class(self, name: str) -> type:
        if name not in self.sparse_classes:
            self.sparse_classes[name] = type(name, (getattr(sp, name),),
                                             {"__init__": _refuse_call, "_source": self.source})
        return self.sparse_classes[name]

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        if module in _SPARSE_MODULES and name in _SPARSE_CLASSES:
            return self._sparse_class(name)
        raise DataFormatError(f"{self.source}: refused to unpickle global '{module}.{name}' "
                              f"(only scipy.sparse COO/CSR/CSC matrices and numpy arrays are "
                              f"allowed)")

    def persistent_load(self, pid: Any) -> Any:
        raise DataFormatError(f"{self.source}: refused persistent id {pid!r} in pickle")


def _check_pickle_framing(raw: bytes, source: Path) -> None:
    """Walk the opcodes once without building anything: a length field beyond the
    end of the file (which would make the unpickler allocate that length) or a
    truncated pickle raises :class:`DataFormatError`."""
    try:
        for op, arg, pos in pickletools.genops(raw):
            if op.name == "FRAME" and arg > len(raw) - pos:
                raise DataFormatError(f"{source}: not a readable pickle (a frame of {arg} bytes "
                                      f"at offset {pos} runs past the end of the file)")
    except DataFormatError:
        raise
    except Exception as err:  # pickletools raises ValueError for truncated / unknown opcodes
        raise DataFormatError(f"{source}: not a readable pickle ({type(err).__name__}: "
                              f"{err})") from None


def read_pickled_matrix(path: PathLike, max_dim: int | None = None) -> sp.coo_matrix:
    """Load a pickled scipy sparse matrix (e.g. ``trnMat.pkl``) as a ``coo_matrix``.

    Uses :class:`RestrictedUnpickler`; a pickle that is not a COO/CSR/CSC
    matrix, is truncated, or refers to any other global raises
    :class:`DataFormatError` naming the file. The rebuilt matrix is checked:
    integer indices inside its shape, consistent CSR/CSC pointers, finite
    values, and no dimension above ``max_dim`` (default :func:`id_bound` of
    its stored entries, see the module docstring).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    raw = path.read_bytes()
    _check_pickle_framing(raw, path)
    try:
        obj = RestrictedUnpickler(io.BytesIO(raw), str(path)).load()
    except DataFormatError:
        raise
    except Exception as err:  # truncated or corrupt pickles raise many types
        raise DataFormatError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") \
            from None
    return _checked_sparse(obj, path, max_dim)


def _component(state: dict[str, Any], key: str, path: Path, kinds: str) -> np.ndarray:
    value = state.get(key)
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind not in kinds:
        got = (f"shape {value.shape}, dtype {value.dtype}" if isinstance(value, np.ndarray)
               else type(value).__name__)
        raise DataFormatError(f"{path}: the matrix's {key!r} is not a 1-D array of dtype kind "
                              f"{kinds!r} ({got})")
    return np.asarray(value)


def _checked_sparse(obj: Any, path: Path, max_dim: int | None) -> sp.coo_matrix:
    fmt = next((f for f in PICKLED_SPARSE_FORMATS
                if isinstance(obj, (getattr(sp, f"{f}_matrix"), getattr(sp, f"{f}_array")))), None)
    if fmt is None:
        raise DataFormatError(f"{path}: expected a pickled scipy.sparse matrix, "
                              f"got {type(obj).__name__}")
    state = vars(obj)
    shape = state.get("_shape")
    if not (isinstance(shape, tuple) and len(shape) == 2
            and all(isinstance(d, (int, np.integer)) and 0 <= d <= NO_ID_BOUND for d in shape)):
        raise DataFormatError(f"{path}: malformed matrix shape {shape!r}")
    shape = (int(shape[0]), int(shape[1]))
    data = _component(state, "data", path, "biuf")
    if fmt == "coo":
        coords = state.get("coords")
        if not isinstance(coords, tuple) or len(coords) != 2:
            raise DataFormatError(f"{path}: malformed coo_matrix coordinates")
        row, col = (_component({"row": c}, "row", path, "iu") for c in coords)
        if not row.size == col.size == data.size:
            raise DataFormatError(f"{path}: coo_matrix with {row.size} rows, {col.size} columns "
                                  f"and {data.size} values")
    else:
        indices = _component(state, "indices", path, "iu")
        indptr = _component(state, "indptr", path, "iu")
        major = shape[0] if fmt == "csr" else shape[1]
        if indptr.size != major + 1 or indices.size != data.size:
            raise DataFormatError(f"{path}: {fmt}_matrix of shape {shape} needs {major + 1} "
                                  f"index pointers and one index per value, found "
                                  f"{indptr.size} pointers, {indices.size} indices, "
                                  f"{data.size} values")
        if indptr[0] != 0 or indptr[-1] != data.size or bool((np.diff(indptr) < 0).any()):
            raise DataFormatError(f"{path}: {fmt}_matrix index pointers do not run from 0 to "
                                  f"{data.size} in order")
        major_index = np.repeat(np.arange(major, dtype=np.int64), np.diff(indptr))
        row, col = (major_index, indices) if fmt == "csr" else (indices, major_index)
    bound = id_bound(data.size) if max_dim is None else max_dim
    if max(shape) > bound:
        raise DataFormatError(f"{path}: a {shape[0]} x {shape[1]} matrix with {data.size} "
                              f"stored entries exceeds the dimension bound {bound} (max(2**20, "
                              f"16 x stored entries)); remap its ids to dense ones")
    for name, index, size in (("row", row, shape[0]), ("column", col, shape[1])):
        if index.size and (int(index.min()) < 0 or int(index.max()) >= size):
            bad = int(index.min()) if int(index.min()) < 0 else int(index.max())
            raise DataFormatError(f"{path}: {name} index {bad} is outside the matrix shape "
                                  f"{shape[0]} x {shape[1]}")
    if data.dtype.kind == "f" and not bool(np.isfinite(data).all()):
        raise DataFormatError(f"{path}: the matrix holds NaN or infinite values")
    return sp.coo_matrix((data, (row.astype(np.int64), col.astype(np.int64))), shape=shape)


# ------------------------------------------------------- atomic-table helpers
def factorize(tokens: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``0..k-1`` in order of first appearance, and the unique tokens in that order.

    The uniques are an object array of ``str`` (a fixed-width string array would
    take ``len(tokens) x longest token`` memory, so one long token in a large file
    would exhaust it); non-string tokens are taken as ``str(token)``.
    """
    codes: dict[str, int] = {}
    out = np.fromiter((codes.setdefault(t if isinstance(t, str) else str(t), len(codes))
                       for t in tokens), dtype=np.int64, count=len(tokens))
    uniques = np.empty(len(codes), dtype=object)
    uniques[:] = list(codes)
    return out, uniques


def token_column(path: PathLike, table: dict[str, list | np.ndarray], field: str) -> list[str]:
    """Column ``field`` of the atomic table read from ``path`` as id tokens.

    A ``float`` column gives ``str(value)``; a sequence column, or an empty or
    NaN id, raises :class:`DataFormatError` naming the file (and line).
    """
    column = table[field]
    if isinstance(column, np.ndarray):
        tokens = ["" if math.isnan(v) else str(v) for v in column.tolist()]
    elif any(not isinstance(v, str) for v in column):
        raise DataFormatError(f"{path}: field {field!r} is a sequence field; ids must be a "
                              f"'token' (or 'float') field")
    else:
        tokens = list(column)
    empty = next((row for row, t in enumerate(tokens) if not t.strip()), None)
    if empty is not None:
        line = atomic_row_lines(path)[empty]
        raise DataFormatError(f"{path}:{line}: empty {field!r}")
    return tokens


def align_table(table: dict[str, list | np.ndarray], key_field: str,
                tokens: Sequence[str], source: PathLike = "side table"
                ) -> dict[str, list | np.ndarray]:
    """Reorder an atomic side table (``.item``/``.user``) to follow ``tokens``.

    Row ``k`` of each returned column belongs to ``tokens[k]``; tokens absent
    from the table get NaN (float columns) or ``None``. The key column itself
    is left out (the tokens already hold it). The first row wins on repeats.
    ``source`` (the side file) names the table in errors.
    """
    if key_field not in table:
        raise DataFormatError(f"{source}: no {key_field!r} field (fields: {sorted(table)})")
    keys = table[key_field]
    if isinstance(keys, np.ndarray):
        keys = [str(k) for k in keys.tolist()]
    elif any(not isinstance(k, str) for k in keys):
        raise DataFormatError(f"{source}: field {key_field!r} is a sequence field; it must be "
                              f"a 'token' field")
    position: dict[str, int] = {}
    for row, key in enumerate(keys):
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
