"""Pickle-based data files, read so that no code from the file can run.

Two public formats store pickles:

* HeCo's ``nei_<x>.npy``: a ``.npy`` object array whose pickled payload holds one
  integer array per target node. :func:`read_npy` parses the ``.npy`` header
  itself and unpickles an object payload only through :class:`ArrayUnpickler`,
  which admits numpy arrays of the listed dtype kinds and the object array that
  holds them, and nothing else;
* Planetoid's ``ind.<name>.{x,tx,allx,y,ty,ally,graph}`` (Python-2 pickles of
  ``scipy.sparse`` CSR matrices, numpy arrays and a ``defaultdict`` of lists).
  :func:`check_planetoid_raw` reads each through :class:`PlanetoidUnpickler`
  and checks shapes, types and ids before PyG's own reader (plain
  ``pickle.load``) may touch the files.

Every refused global, malformed payload or out-of-range value raises
:class:`~graphcl.data.interactions.DataFormatError` naming the file. The
unpicklers refuse a global when the pickle names it, before any call the pickle
asks for, so a refused file runs nothing. The only callables they hand to the
pickle check their arguments: ``_reconstruct`` must get numpy's own
``(ndarray, (0,), b'b')``, ``dtype`` a numeric type code (a copy is made, as
numpy's pickles ask), and an array's state must carry exactly as many bytes (or
list entries) as its shape says, so nothing is allocated beyond what the file holds.
"""
from __future__ import annotations

import collections
import hashlib
import io
import math
import reprlib
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Optional

import numpy as np
import scipy.sparse as sp
from numpy.lib import format as npy_format

from .formats import RestrictedUnpickler
from .interactions import DataFormatError

__all__ = ["ArrayUnpickler", "MAX_DENSE_ELEMENTS", "PLANETOID_SHA256", "PlanetoidUnpickler",
           "check_npz_members", "check_planetoid_raw", "read_npy", "read_npy_header"]

#: a Planetoid feature matrix is refused when its dense form (PyG's reader calls
#: ``todense()``) would exceed this many entries (2 GiB as float64)
MAX_DENSE_ELEMENTS = 2 ** 28

_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
_SPARSE_CSR = {("scipy.sparse.csr", "csr_matrix"), ("scipy.sparse._csr", "csr_matrix"),
               ("scipy.sparse", "csr_matrix")}
_CSR_STATE_KEYS = frozenset({"_shape", "data", "indices", "indptr", "format", "maxprint",
                             "_cs_matrix__has_sorted_indices", "_has_sorted_indices",
                             "_has_canonical_format"})


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def _short(value: Any) -> str:
    """A bounded repr of a value taken from an untrusted pickle."""
    return _REPR.repr(value)


class _NdarrayMarker:
    """What the pickle gets for ``numpy.ndarray``: usable only as ``_reconstruct``'s
    first argument, not callable (calling the class would allocate any shape)."""

    def __repr__(self) -> str:
        return "numpy.ndarray (marker)"


_NDARRAY = _NdarrayMarker()


class _CheckedArray(np.ndarray):
    """An ndarray whose pickled state is checked before numpy applies it. The
    unpicklers build arrays of this class and return plain ndarray views."""

    _kinds = ""
    _objects = False
    _source = ""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise DataFormatError(f"{self._source}: malformed numpy array state in pickle")
        shape, dtype, _fortran, raw = state[-4:]
        if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape)):
            raise DataFormatError(f"{self._source}: malformed array shape {_short(shape)} in pickle")
        if not isinstance(dtype, np.dtype) or dtype.fields is not None or dtype.subdtype is not None:
            raise DataFormatError(f"{self._source}: refused array dtype {_short(dtype)} in pickle")
        count = math.prod(shape)
        if dtype == np.dtype(object):
            if not self._objects:
                raise DataFormatError(f"{self._source}: refused object array in pickle")
            if not isinstance(raw, list) or len(raw) != count:
                raise DataFormatError(f"{self._source}: object array of shape {shape} holds "
                                      f"{len(raw) if isinstance(raw, list) else type(raw).__name__}"
                                      f" entries")
            if any(isinstance(item, np.ndarray) and item.dtype == object for item in raw):
                raise DataFormatError(f"{self._source}: refused object array nested in an object "
                                      f"array in pickle")
        elif dtype.kind not in self._kinds:
            raise DataFormatError(f"{self._source}: refused array dtype {dtype} in pickle "
                                  f"(allowed kinds: {self._kinds})")
        elif not isinstance(raw, (bytes, str)) or len(raw) != count * dtype.itemsize:
            raise DataFormatError(f"{self._source}: array of shape {shape} and dtype {dtype} "
                                  f"needs {count * dtype.itemsize} bytes, the pickle holds "
                                  f"{len(raw) if isinstance(raw, (bytes, str)) else 'none'}")
        super().__setstate__(state)


def plain(value: Any) -> Any:
    """``value`` with every array built by an unpickler of this module as a plain
    ``numpy.ndarray`` (an object array's entries too: the unpicklers refuse object
    arrays inside object arrays)."""
    if not isinstance(value, _CheckedArray):
        return value
    arr = value.view(np.ndarray)
    if arr.dtype != object:
        return arr
    out = np.empty(arr.shape, dtype=object)
    for idx, item in np.ndenumerate(arr):
        out[idx] = item.view(np.ndarray) if isinstance(item, _CheckedArray) else item
    return out


class ArrayUnpickler(RestrictedUnpickler):
    """Rebuilds only numpy arrays whose dtype kind is in ``kinds`` (``"iu"``: integers)
    and, with ``objects=True``, object arrays holding such arrays (numpy's container).

    The allowed globals are numpy's ``_reconstruct`` (under its numpy 1 and 2 module
    names), ``ndarray`` and ``dtype``; anything else raises
    :class:`DataFormatError` naming ``source`` and the refused global. Subclass it and
    extend :meth:`find_class` for more types (see :class:`PlanetoidUnpickler`).
    """

    def __init__(self, file: BinaryIO, source: str, *, kinds: str = "iu",
                 objects: bool = False) -> None:
        super().__init__(file, source)
        self.kinds = kinds
        self.codes = {np.dtype(f"{kind}{size}").str[1:] for kind in kinds
                      for size in (1, 2, 4, 8, 16) if _valid_dtype(f"{kind}{size}")}
        if objects:
            self.codes |= {"O4", "O8"}
        self.array_class = type("CheckedArray", (_CheckedArray,),
                                {"_kinds": kinds, "_objects": objects, "_source": source})
        self.admitted = f"numpy arrays of dtype kinds {kinds!r}" + (" in object arrays" if objects else "")

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _RECONSTRUCT:
            return self._reconstruct
        if (module, name) == ("numpy", "ndarray"):
            return _NDARRAY
        if (module, name) == ("numpy", "dtype"):
            return self._dtype
        return self.refuse(module, name)

    def refuse(self, module: str, name: str) -> Any:
        """Raise the :class:`DataFormatError` for a refused global."""
        raise DataFormatError(f"{self.source}: refused to unpickle global '{module}.{name}' "
                              f"(only {self.admitted} are allowed)")

    def _reconstruct(self, subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
        if subtype is not _NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
            raise DataFormatError(f"{self.source}: refused _reconstruct{_short((subtype, shape, typecode))}"
                                  f" in pickle (numpy writes (ndarray, (0,), b'b'))")
        return np.ndarray.__new__(self.array_class, (0,), "b")

    def _dtype(self, code: Any, align: Any = False, copy: Any = True) -> np.dtype:
        if not isinstance(code, str) or code not in self.codes:
            raise DataFormatError(f"{self.source}: refused dtype {_short(code)} in pickle (allowed: "
                                  f"{', '.join(sorted(self.codes))})")
        return np.dtype(code, bool(align), True)  # always a copy: BUILD must not touch numpy's own


def _valid_dtype(code: str) -> bool:
    try:
        np.dtype(code)
    except TypeError:
        return False
    return True


def _unpickle(unpickler: RestrictedUnpickler, source: str) -> Any:
    try:
        return unpickler.load()
    except DataFormatError:
        raise
    except Exception as err:  # truncated or corrupt pickles raise many types
        raise DataFormatError(f"{source}: not a readable pickle ({type(err).__name__}: {err})") \
            from None


# ------------------------------------------------------------------- .npy
def read_npy_header(fh: BinaryIO, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from the ``.npy`` header at ``fh``'s position
    (left just after it); :class:`DataFormatError` naming ``path`` when it is none."""
    try:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            return npy_format.read_array_header_1_0(fh)
        if version == (2, 0):
            return npy_format.read_array_header_2_0(fh)
    except Exception as err:
        raise DataFormatError(f"{path}: not a .npy file ({err})") from None
    raise DataFormatError(f"{path}: .npy format version {version} is not supported "
                          f"(1.0 and 2.0 are)")


def _check_data_size(path: Path, shape: tuple[int, ...], dtype: np.dtype, available: int) -> None:
    need = math.prod(shape) * dtype.itemsize
    if available < need:
        raise DataFormatError(f"{path}: truncated: shape {shape} of {dtype} needs {need} bytes, "
                              f"the file holds {available}")


def read_npy(path: Path, *, kinds: str = "iu", objects: bool = True) -> np.ndarray:
    """Read a ``.npy`` file without ``allow_pickle=True``.

    A plain array comes back as numpy stores it, after checking that the file holds
    as many bytes as its header's shape needs (so a header announcing more than the
    file holds allocates nothing). An object array (dtype ``object``, HeCo's
    ``nei_*.npy``) is refused when ``objects`` is false, before anything is
    unpickled; otherwise it is unpickled through :class:`ArrayUnpickler` admitting
    arrays of dtype kinds ``kinds`` inside the object array; its entries come back
    as plain ndarrays (or whatever plain Python values the pickle holds, for the
    caller to check). Raises :class:`DataFormatError` naming the file.
    """
    raw = path.read_bytes()
    buf = io.BytesIO(raw)
    shape, _fortran, dtype = read_npy_header(buf, path)
    if not dtype.hasobject:
        _check_data_size(path, shape, dtype, len(raw) - buf.tell())
        buf.seek(0)
        try:
            return npy_format.read_array(buf, allow_pickle=False)
        except Exception as err:
            raise DataFormatError(f"{path}: cannot read as a numpy array ({err})") from None
    if not objects:
        raise DataFormatError(f"{path}: refused object array (dtype {dtype}): a plain numeric "
                              f"array is expected")
    if dtype != np.dtype(object):
        raise DataFormatError(f"{path}: refused structured dtype {dtype} with object fields")
    arr = _unpickle(ArrayUnpickler(buf, str(path), kinds=kinds, objects=True), str(path))
    if not isinstance(arr, _CheckedArray) or arr.dtype != object or arr.shape != shape:
        raise DataFormatError(f"{path}: the pickled payload is not the object array of shape "
                              f"{shape} the header announces")
    return plain(arr)


def check_npz_members(path: Path) -> None:
    """Check that every ``.npy`` member of the ``.npz`` archive ``path`` holds as many
    bytes as its header announces (``np.load`` allocates the announced size before
    reading) and has no object dtype. :class:`DataFormatError` naming the file and
    member otherwise (also for an archive that is no zip file)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                where = Path(f"{path}[{info.filename}]")
                with archive.open(info) as member:
                    shape, _fortran, dtype = read_npy_header(member, where)
                    header = member.tell()
                if dtype.hasobject:
                    raise DataFormatError(f"{where}: refused object array (dtype {dtype})")
                _check_data_size(where, shape, dtype, info.file_size - header)
    except DataFormatError:
        raise
    except Exception as err:  # not a zip file, a corrupt member, ...
        raise DataFormatError(f"{path}: not a readable .npz archive ({type(err).__name__}: "
                              f"{err})") from None


# -------------------------------------------------------------- Planetoid
#: sha256 of the Planetoid raw files as published in kimiyoung/planetoid
#: (commit af6abf468a772cc055bec88c52e4d6f51b7c37e3, the files PyG downloads)
PLANETOID_SHA256: dict[str, str] = {
    "ind.cora.x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
    "ind.cora.tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
    "ind.cora.allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
    "ind.cora.y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
    "ind.cora.ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
    "ind.cora.ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
    "ind.cora.graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
    "ind.cora.test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
    "ind.citeseer.x": "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
    "ind.citeseer.tx": "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
    "ind.citeseer.allx": "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
    "ind.citeseer.y": "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924",
    "ind.citeseer.ty": "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce",
    "ind.citeseer.ally": "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95",
    "ind.citeseer.graph": "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
    "ind.citeseer.test.index": "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4",
    "ind.pubmed.x": "fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33",
    "ind.pubmed.tx": "4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d",
    "ind.pubmed.allx": "508e538e2abdccdd54c4d3e9f49d638b4af7107d85845f66ddea5a5152658b7e",
    "ind.pubmed.y": "e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3",
    "ind.pubmed.ty": "ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd",
    "ind.pubmed.ally": "0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e",
    "ind.pubmed.graph": "5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9",
    "ind.pubmed.test.index": "b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5",
}


class _PickledCSR(sp.csr_matrix):
    """What the pickle gets for ``csr_matrix``: NEWOBJ + BUILD (how the files store
    it) work, with the state's keys checked; calling the class is refused."""

    _source = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise DataFormatError(f"{self._source}: refused a call of csr_matrix in pickle")

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not set(state) <= _CSR_STATE_KEYS:
            keys = _short(list(state)) if isinstance(state, dict) else type(state).__name__
            raise DataFormatError(f"{self._source}: unexpected csr_matrix state {keys} in pickle")
        self.__dict__.update(state)


class PlanetoidUnpickler(ArrayUnpickler):
    """:class:`ArrayUnpickler` for Planetoid's raw files: numeric numpy arrays,
    ``scipy.sparse`` CSR matrices (stored as NEWOBJ + BUILD), ``defaultdict(list)``,
    ``list`` and, for Python-3 protocol-2 bytes, ``_codecs.encode`` with latin-1 and
    ``bytes()`` without arguments (the empty bytes)."""

    def __init__(self, file: BinaryIO, source: str) -> None:
        super().__init__(file, source, kinds="biuf")
        self.csr_class = type("PickledCSR", (_PickledCSR,), {"_source": source})
        self.admitted = ("numeric numpy arrays, scipy.sparse CSR matrices and a "
                         "defaultdict(list) of int lists")

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SPARSE_CSR:
            return self.csr_class
        if (module, name) == ("collections", "defaultdict"):
            return self._defaultdict
        if module in ("builtins", "__builtin__") and name == "list":
            return list
        if module in ("builtins", "__builtin__") and name == "bytes":
            return self._empty_bytes
        if (module, name) == ("_codecs", "encode"):
            return self.allowed[(module, name)]
        return super().find_class(module, name)

    def _empty_bytes(self, *args: Any) -> bytes:
        if args:  # bytes(n) would allocate n bytes
            raise DataFormatError(f"{self.source}: refused bytes{_short(args)} in pickle (only bytes())")
        return b""

    def _defaultdict(self, factory: Any = None) -> collections.defaultdict:
        if factory is not list:
            raise DataFormatError(f"{self.source}: refused defaultdict({_short(factory)}) in pickle "
                                  f"(only defaultdict(list))")
        return collections.defaultdict(list)


def _planetoid_csr(obj: Any, path: Path) -> sp.csr_matrix:
    if not isinstance(obj, _PickledCSR):
        raise DataFormatError(f"{path}: expected a pickled scipy.sparse csr_matrix, got "
                              f"{type(obj).__name__}")
    state = vars(obj)
    shape = state.get("_shape")
    if not (isinstance(shape, tuple) and len(shape) == 2
            and all(type(d) is int and d >= 0 for d in shape)):
        raise DataFormatError(f"{path}: malformed csr_matrix shape {_short(shape)}")
    if shape[0] * shape[1] > MAX_DENSE_ELEMENTS:
        raise DataFormatError(f"{path}: a {shape[0]} x {shape[1]} feature matrix exceeds "
                              f"{MAX_DENSE_ELEMENTS} dense entries (PyG densifies it)")
    parts = [state.get(k) for k in ("data", "indices", "indptr")]
    if not all(isinstance(p, np.ndarray) for p in parts):
        raise DataFormatError(f"{path}: csr_matrix without data/indices/indptr arrays")
    data, indices, indptr = (plain(p) for p in parts)
    if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
        raise DataFormatError(f"{path}: csr_matrix indices are not integers")
    try:
        mat = sp.csr_matrix((data, indices, indptr), shape=shape)
        mat.check_format(full_check=True)
    except Exception as err:
        raise DataFormatError(f"{path}: inconsistent csr_matrix ({err})") from None
    if data.dtype.kind not in "biuf" or (data.dtype.kind == "f" and not np.isfinite(data).all()):
        raise DataFormatError(f"{path}: features are not finite numbers")
    return mat


def _planetoid_labels(obj: Any, path: Path) -> np.ndarray:
    """A 2-D one-hot label array: finite 0/1 entries, exactly one 1 per row (as in
    every published Planetoid file; PyG takes each row's argmax, so a row of NaN,
    zeros or several ones would silently become class 0 or the first of them)."""
    arr = plain(obj)
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise DataFormatError(f"{path}: expected a 2-D numeric label array, got "
                              f"{getattr(arr, 'shape', type(arr).__name__)}")
    if arr.size == 0:
        return arr
    values = arr.astype(np.float64)
    bad = ~np.isfinite(values).all(1) | ~((values == 0) | (values == 1)).all(1)
    bad |= values.sum(1, where=np.isfinite(values)) != 1
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataFormatError(f"{path}: row {row} is not a one-hot label "
                              f"({_short(arr[row].tolist())}; every row needs one 1 and 0 "
                              f"elsewhere); {int(bad.sum())} such row(s)")
    return arr


def _planetoid_graph(obj: Any, path: Path) -> dict[int, list[int]]:
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: expected a dict of neighbour lists, got {type(obj).__name__}")
    for key, value in obj.items():
        if type(key) is not int or key < 0 or not isinstance(value, list) \
                or not all(type(v) is int and v >= 0 for v in value):
            raise DataFormatError(f"{path}: entry {_short(key)} is not a non-negative int with a list "
                                  f"of non-negative ints")
    return obj


def _planetoid_test_index(raw: bytes, path: Path) -> np.ndarray:
    """The test ids of ``ind.<name>.test.index``, one per line, parsed as PyG reads the
    file (text mode, ``split('\\n')[:-1]``: the last line must end in a newline or
    PyG drops it). Refuses, naming ``file:line``, a blank or malformed line, a last
    line without newline and a repeated id."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not ASCII text ({err})") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1].strip():
        raise DataFormatError(f"{path}:{len(lines)}: the last line has no line end (PyG's "
                              f"reader would drop id {_short(lines[-1].strip())})")
    first_seen: dict[int, int] = {}
    for lineno, line in enumerate(lines[:-1], start=1):
        token = line.strip()
        if not token:
            raise DataFormatError(f"{path}:{lineno}: blank line (one test node id per line "
                                  f"expected)")
        if not token.isdigit() or len(token) > 18:
            raise DataFormatError(f"{path}:{lineno}: {_short(token)} is not a non-negative node id")
        value = int(token)
        if value in first_seen:
            raise DataFormatError(f"{path}:{lineno}: test id {value} repeats line "
                                  f"{first_seen[value]}")
        first_seen[value] = lineno
    if not first_seen:
        raise DataFormatError(f"{path}: no test node ids")
    return np.array(list(first_seen), dtype=np.int64)


def check_planetoid_raw(folder: Path, prefix: str, *, shown_as: Optional[Path] = None) -> dict[str, str]:
    """Check the Planetoid raw files ``folder/ind.<prefix>.*`` before PyG unpickles them.

    Each pickle is read through :class:`PlanetoidUnpickler` (refusing any other
    global), then checked: ``x``/``tx``/``allx`` CSR matrices with one column count
    and at most :data:`MAX_DENSE_ELEMENTS` dense entries, ``y``/``ty``/``ally``
    2-D one-hot label arrays (finite 0/1 entries, one 1 per row) with the rows of
    their features, ``graph`` a dict of int -> int list and ``test.index`` one
    distinct id per line (no blank line, the last one ending in a newline; errors
    give ``file:line``), the test ids following the ``allx`` rows and every id
    below the node count PyG derives (``ally`` rows plus the test range). Files whose sha256 equals
    the published one (:data:`PLANETOID_SHA256`) go through the same checks and
    are reported as such. Returns ``{file name: "published sha256" | "checked"}``;
    raises :class:`DataFormatError` naming the file otherwise, as
    ``shown_as/<file>`` when given (the folder the user knows, when ``folder`` is a
    private copy).
    """
    prefix = prefix.lower()
    report: dict[str, str] = {}
    objs: dict[str, Any] = {}
    shown_folder = folder if shown_as is None else shown_as
    for name in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"):
        raw = (folder / f"ind.{prefix}.{name}").read_bytes()
        path = shown_folder / f"ind.{prefix}.{name}"
        published = PLANETOID_SHA256.get(path.name) == hashlib.sha256(raw).hexdigest()
        report[path.name] = "published sha256" if published else "checked"
        if name == "test.index":
            objs[name] = _planetoid_test_index(raw, path)
            continue
        obj = _unpickle(PlanetoidUnpickler(io.BytesIO(raw), str(path)), str(path))
        if name in ("x", "tx", "allx"):
            objs[name] = _planetoid_csr(obj, path)
        elif name == "graph":
            objs[name] = _planetoid_graph(obj, path)
        else:
            objs[name] = _planetoid_labels(obj, path)
    _check_planetoid_consistency(shown_folder, prefix, objs)
    return report


def _check_planetoid_consistency(folder: Path, prefix: str, objs: dict[str, Any]) -> None:
    def where(name: str) -> Path:
        return folder / f"ind.{prefix}.{name}"

    for feats, labels in (("x", "y"), ("tx", "ty"), ("allx", "ally")):
        if objs[feats].shape[0] != objs[labels].shape[0]:
            raise DataFormatError(f"{where(labels)}: {objs[labels].shape[0]} rows, but "
                                  f"{where(feats).name} has {objs[feats].shape[0]}")
    for group in (("x", "tx", "allx"), ("y", "ty", "ally")):
        widths = {objs[n].shape[1] for n in group}
        if len(widths) != 1:
            raise DataFormatError(f"{where(group[1])}: column counts differ across "
                                  f"{', '.join(where(n).name for n in group)}: "
                                  f"{[objs[n].shape[1] for n in group]}")
    test = objs["test.index"]
    if test.size != objs["tx"].shape[0]:
        raise DataFormatError(f"{where('test.index')}: {test.size} test ids, but "
                              f"{where('tx').name} has {objs['tx'].shape[0]} rows")
    graph = objs["graph"]
    if prefix == "citeseer":  # PyG pads CiteSeer's test rows to the whole id range
        span = int(test.max() - test.min()) + 1
        if span > len(graph) or test.min() < objs["allx"].shape[0]:
            raise DataFormatError(f"{where('test.index')}: test ids {int(test.min())}.."
                                  f"{int(test.max())} do not follow the {objs['allx'].shape[0]} "
                                  f"allx rows within the {len(graph)} graph nodes")
        nodes = objs["ally"].shape[0] + span
    else:
        nodes = objs["ally"].shape[0] + objs["ty"].shape[0]
    rows = objs["allx"].shape[0] + objs["tx"].shape[0]
    if nodes * objs["x"].shape[1] > MAX_DENSE_ELEMENTS:
        raise DataFormatError(f"{where('allx')}: {nodes} x {objs['x'].shape[1]} features exceed "
                              f"{MAX_DENSE_ELEMENTS} dense entries")
    if int(test.max()) >= (nodes if prefix == "citeseer" else rows):
        raise DataFormatError(f"{where('test.index')}: test id {int(test.max())} is out of range "
                              f"for {nodes} nodes")
    if int(test.min()) < objs["allx"].shape[0]:  # PyG puts the tx rows at the test ids
        raise DataFormatError(f"{where('test.index')}: test id {int(test.min())} is one of the "
                              f"{objs['allx'].shape[0]} allx rows (test ids follow them)")
    ids = [k for k in graph] + [v for vs in graph.values() for v in vs]
    top = max(ids, default=-1)
    if top >= nodes:
        raise DataFormatError(f"{where('graph')}: node id {top} is out of range for {nodes} nodes "
                              f"({where('ally').name} rows plus the test rows)")
