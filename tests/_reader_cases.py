"""Malformed-input cases for every graphcl reader (issue 18).

For each reader: a hypothesis strategy that builds a set of files (generated, or
derived from the real files in ``shared/data``) and applies one or two mutations
(truncation, random bytes, flipped bytes, wrong field counts, huge / negative /
non-numeric ids, NaN, byte-order marks, invalid UTF-8, NUL, empty files, crafted
pickles, code-running payloads), a runner that feeds it to the reader, and a
validator that checks a successful result against an independent reading of the
files. :func:`run_case` classifies what happened:

``loaded``         the reader returned and the result passed its validator;
``clear error``    a graphcl ``DataFormatError`` (or the documented
                   ``FileNotFoundError``) whose message names a file of the case;
``unclear error``  such an error that names no file of the case;
``crash``          any other exception (numpy, scipy, torch, Python), an error
                   that reports a MemoryError, or a case over the time bound;
``silent wrong``   the reader returned a result its validator rejects;
``code executed``  a payload in the files ran (it creates a marker file).

Every case runs under an address-space cap (``RLIMIT_AS`` of the current size
plus 2 GiB, Linux), so an allocation beyond the bound is a MemoryError, a crash.
Used by ``tests/test_fuzz_readers.py`` and ``experiments/fuzz_readers_report.py``.
"""
from __future__ import annotations

import atexit
import contextlib
import csv
import io
import json
import math
import os
import pickle
import re
import shutil
import struct
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import torch
from hypothesis import strategies as st

from graphcl.data.formats import id_bound
from graphcl.data.interactions import DataFormatError

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux/macOS
    resource = None  # type: ignore[assignment]

REPO = Path(__file__).resolve().parents[1]
OUTCOMES = ("loaded", "clear error", "unclear error", "crash", "silent wrong", "code executed")
FAILURES = ("unclear error", "crash", "silent wrong", "code executed")
CAP_EXTRA = 2 << 30          # bytes of address space a case may add
TIME_LIMIT = 30.0            # seconds a case may take
WORK = Path(tempfile.mkdtemp(prefix="graphcl-fuzz-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
MARKER = WORK / "PAYLOAD-RAN"
#: an error message that reports an allocation failure (wrapped by a reader) is a crash
OUT_OF_MEMORY = re.compile(r"MemoryError|[Uu]nable to allocate|can't allocate|cannot allocate|"
                           r"out of memory")


def shared_data() -> Path | None:
    """The shared benchmark data (``$GRAPHCL_SHARED_DATA`` or ``../shared/data``)."""
    env = os.environ.get("GRAPHCL_SHARED_DATA")
    for c in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if c.is_dir():
            return c
    return None


# ---------------------------------------------------------------- memory cap
def _address_space() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@contextlib.contextmanager
def memory_cap(extra: int = CAP_EXTRA):
    """Cap this process's address space at its current size plus ``extra`` bytes
    (a no-op where ``RLIMIT_AS`` or ``/proc`` is missing)."""
    used = _address_space()
    if resource is None or used is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# --------------------------------------------------------------------- cases
@dataclass
class Case:
    """Files to write (``files``: relative path -> bytes) or link to unchanged
    originals (``links``), the mutated file and what was done to it."""
    files: dict[str, bytes]
    target: str
    mutation: str
    links: dict[str, Path] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))

    def __repr__(self) -> str:  # hypothesis prints this for a failing case
        sizes = {k: len(v) for k, v in self.files.items()}
        meta = {k: v for k, v in self.meta.items() if k != "original"}
        head = {k: v[:120] for k, v in self.files.items()}
        return (f"Case(target={self.target!r}, mutation={self.mutation!r}, sizes={sizes}, "
                f"meta={meta}, head={head})")


@dataclass
class Result:
    outcome: str
    detail: str
    seconds: float
    line: bool = False        # a clear error that gives a line number


def _payload_command() -> str:
    return f"touch {MARKER}"


class _Exec:
    def __reduce__(self):
        return exec, (f"import os; os.system({_payload_command()!r})",)


class _System:
    def __reduce__(self):
        return os.system, (_payload_command(),)


def payload_pickles() -> dict[str, bytes]:
    """Pickles whose loading would run ``touch MARKER``."""
    cmd = _payload_command().encode()
    return {
        "os.system": pickle.dumps(_System(), protocol=2),
        "builtins.exec": pickle.dumps(_Exec(), protocol=4),
        "posix.system": b"cposix\nsystem\n(S'" + cmd + b"'\ntR.",
        "builtins.eval": b"cbuiltins\neval\n(S'__import__(\"os\").system(\"" + cmd + b"\")'\ntR.",
        "subprocess.call": b"\x80\x02csubprocess\ncall\n]q\x00(X\x05\x00\x00\x00touchX"
                           + struct.pack("<I", len(str(MARKER))) + str(MARKER).encode() + b"e\x85R.",
        "nested in reduce": b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncos\nsystem\n(S'"
                            + cmd + b"'\ntRK\x00\x85C\x01b\x87R.",
    }


def npy_object_payload(pickled: bytes) -> bytes:
    """A ``.npy`` file whose header says object dtype and whose body is ``pickled``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False,
                                               "shape": (3,)})
    return buf.getvalue() + pickled


# ----------------------------------------------------------------- mutations
BAD_TOKENS = ["-1", "-0", "10000000000", "1000000000000", str(2 ** 63), "9" * 30, "0" * 25 + "1",
              "1.5", "1e3", "nan", "NaN", "inf", "-inf", "x", "", " ", "\uff11", "\u00b2", "\u0663",
              "1_0", "+1", "0x10", "\u2028", "\x1c", "\x00", "\ufeff1", "1" * 5000]
BINARY_KINDS = ["truncate", "flip", "insert", "random_bytes", "empty", "bom", "invalid_utf8",
                "nul", "none"]
TEXT_KINDS = ["token", "token", "token", "drop_field", "add_field", "dup_line", "blank_lines",
              "crlf", "unicode_sep", "truncate", "flip", "random_bytes", "empty", "bom",
              "invalid_utf8", "nul", "none"]


@st.composite
def binary_mutation(draw, data: bytes, kinds: list[str] = BINARY_KINDS) -> tuple[bytes, str]:
    """One byte-level mutation of ``data``."""
    kind = draw(st.sampled_from(kinds))
    pos = draw(st.integers(0, max(len(data) - 1, 0)))
    if kind == "truncate":
        return data[:pos], f"truncate at {pos}/{len(data)}"
    if kind == "flip":
        count = draw(st.integers(1, 4))
        out = bytearray(data)
        for k in range(count if out else 0):
            out[(pos + k * 7919) % len(out)] = draw(st.integers(0, 255))
        return bytes(out), f"flip {count} bytes from {pos}"
    if kind == "insert":
        extra = draw(st.binary(min_size=1, max_size=8))
        return data[:pos] + extra + data[pos:], f"insert {extra!r} at {pos}"
    if kind == "random_bytes":
        return draw(st.binary(min_size=1, max_size=256)), "random bytes"
    if kind == "empty":
        return b"", "empty file"
    if kind == "bom":
        return b"\xef\xbb\xbf" + data, "UTF-8 BOM"
    if kind == "invalid_utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
        return data[:pos] + bad + data[pos:], f"invalid UTF-8 {bad!r} at {pos}"
    if kind == "nul":
        return data[:pos] + b"\x00" + data[pos:], f"NUL at {pos}"
    return data, "none"


@st.composite
def text_mutation(draw, text: str, sep: str = " ") -> tuple[bytes, str]:
    """One line/field-level or byte-level mutation of a line-oriented text file."""
    kind = draw(st.sampled_from(TEXT_KINDS))
    lines = text.split("\n")
    body = [k for k, line in enumerate(lines) if line.strip()]
    if kind in ("token", "drop_field", "add_field", "dup_line") and body:
        k = draw(st.sampled_from(body))
        fields = lines[k].split(sep)
        j = draw(st.integers(0, len(fields) - 1))
        if kind == "token":
            bad = draw(st.one_of(st.sampled_from(BAD_TOKENS),
                                 st.integers(-10 ** 12, 10 ** 12).map(str),
                                 st.text(min_size=1, max_size=6)))
            fields[j] = bad
            what = f"line {k + 1} field {j}: {bad[:20]!r}"
        elif kind == "drop_field":
            del fields[j]
            what = f"line {k + 1}: drop field {j}"
        elif kind == "add_field":
            fields.insert(j, draw(st.sampled_from(["1", "x", "", "0"])))
            what = f"line {k + 1}: add a field at {j}"
        else:
            lines.insert(k, lines[k])
            what = f"line {k + 1} twice"
        if kind != "dup_line":
            lines[k] = sep.join(fields)
        return "\n".join(lines).encode("utf-8", "surrogatepass"), what
    if kind == "blank_lines":
        k = draw(st.integers(0, len(lines)))
        return "\n".join(lines[:k] + ["", "  ", ""] + lines[k:]).encode(), f"blank lines at {k}"
    if kind == "crlf":
        return text.replace("\n", "\r\n").encode(), "CRLF line ends"
    if kind == "unicode_sep":
        ch = draw(st.sampled_from(["\x0c", "\x1c", "\x85", "\u2028", "\xa0", "\u3000"]))
        pos = draw(st.integers(0, max(len(text) - 1, 0)))
        return (text[:pos] + ch + text[pos:]).encode(), f"{ch!r} at {pos}"
    kinds = [kind if kind in BINARY_KINDS else "none"]
    return draw(binary_mutation(text.encode(), kinds))


def _decode(raw: bytes) -> str:
    """The oracle's reading of a text file (UTF-8, BOM dropped)."""
    text = raw.decode("utf-8")
    return text[1:] if text.startswith("\ufeff") else text


def _lines(text: str) -> list[str]:
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


# ============================================================ atomic files
@st.composite
def atomic_cases(draw) -> Case:
    n = draw(st.integers(1, 25))
    users = draw(st.lists(st.sampled_from(["1", "2", "3", "u4", "u5", "6"]), min_size=n, max_size=n))
    items = draw(st.lists(st.sampled_from([f"i{k}" for k in range(8)]), min_size=n, max_size=n))
    times = draw(st.lists(st.integers(0, 50), min_size=n, max_size=n))
    ratings = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    rows = "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in zip(users, items, ratings, times))
    text = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + rows
    mode = draw(st.sampled_from(["read_atomic", "random", "loo", "sequences"]))
    files = {"toy/toy.inter": text}
    target = "toy/toy.inter"
    if draw(st.booleans()):
        files["toy/toy.item"] = "item_id:token\ttitle:token\tclass:token_seq\n" + "".join(
            f"i{k}\tTitle {k}\tA B\n" for k in range(8))
        if draw(st.booleans()):
            target = "toy/toy.item"
    raw, what = draw(text_mutation(files[target], sep="\t"))
    out = {k: v.encode() for k, v in files.items()}
    out[target] = raw
    return Case(out, target, what, meta={"mode": mode})


def run_atomic(folder: Path, case: Case) -> Any:
    from graphcl.data.formats import read_atomic
    from graphcl.data.loaders import load_atomic_dataset
    from graphcl.data.sequences import load_atomic_sequences
    inter = folder / "toy" / "toy.inter"
    mode = case.meta["mode"]
    if mode == "read_atomic":
        return read_atomic(folder / case.target)
    if mode == "sequences":
        return load_atomic_sequences(inter)
    return load_atomic_dataset(folder / "toy", split=mode, ratios=(0.6, 0.2, 0.2))


def _oracle_atomic(raw: bytes) -> tuple[list[str], list[list[str]]]:
    lines = _lines(_decode(raw))
    header = [h.strip().rpartition(":")[0] for h in lines[0].split("\t")]
    return header, [line.split("\t") for line in lines[1:] if line.strip()]


def check_atomic(result: Any, folder: Path, case: Case) -> str | None:
    mode = case.meta["mode"]
    if mode == "read_atomic":
        header, rows = _oracle_atomic(case.files[case.target])
        if list(result) != header:
            return f"fields {list(result)} != header {header}"
        for name, col in result.items():
            if len(col) != len(rows):
                return f"column {name} has {len(col)} rows, the file {len(rows)}"
        for k, name in enumerate(header):
            col = result[name]
            if isinstance(col, np.ndarray):
                want = np.array([float(r[k]) if r[k].strip() else np.nan for r in rows])
                if not np.array_equal(col, want, equal_nan=True):
                    return f"float column {name} differs from the file"
            elif col and isinstance(col[0], str) and col != [r[k] for r in rows]:
                return f"token column {name} differs from the file"
        return None
    header, rows = _oracle_atomic(case.files["toy/toy.inter"])
    pos = {name: k for k, name in enumerate(header)}
    first: dict[tuple[str, str], float] = {}
    order: dict[tuple[str, str], int] = {}
    for n, r in enumerate(rows):
        key = (r[pos["user_id"]], r[pos["item_id"]])
        if key not in first:
            first[key], order[key] = float(r[pos["timestamp"]]), n
    if any(not math.isfinite(t) for t in first.values()):
        return "a non-finite timestamp was accepted"
    if mode == "sequences":
        for u, token in enumerate(result.user_tokens):
            mine = sorted((k for k in first if k[0] == token), key=lambda k: (first[k], order[k]))
            got = [result.item_tokens[i - 1] for i in result.sequence(u)]
            if got != [k[1] for k in mine]:
                return f"user {token}: sequence {got} != {[k[1] for k in mine]}"
        return None
    pairs = set()
    for split in ("train", "valid", "test"):
        for u, i in getattr(result, split).T.tolist():
            pairs.add((result.user_tokens[u], result.item_tokens[i]))
    if pairs != set(first) or sum(result.num_interactions(s) for s in ("train", "valid", "test")) \
            != len(first):
        return f"the splits hold {len(pairs)} pairs, the file {len(first)} distinct pairs"
    if mode == "loo":
        for u, i in result.test.T.tolist():
            token = result.user_tokens[u]
            latest = max((k for k in first if k[0] == token), key=lambda k: (first[k], order[k]))
            if result.item_tokens[i] != latest[1]:
                return f"user {token}: test item {result.item_tokens[i]}, latest is {latest[1]}"
    return None


# ============================================================ LightGCN text
@st.composite
def lightgcn_cases(draw) -> Case:
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(1, 10))
    train = {u: draw(st.lists(st.integers(0, n_items - 1), min_size=1, max_size=5))
             for u in range(n_users)}
    test = {u: draw(st.lists(st.integers(0, n_items - 1), max_size=2)) for u in range(n_users)}
    test[0] = test[0] or [0]
    files = {"train.txt": "".join(f"{u} {' '.join(map(str, v))}\n" for u, v in train.items()),
             "test.txt": "".join(f"{u} {' '.join(map(str, v))}\n" for u, v in test.items() if v)}
    if draw(st.booleans()):
        files["user_list.txt"] = "org_id remap_id\n" + "".join(f"user{u} {u}\n"
                                                               for u in range(n_users))
    target = draw(st.sampled_from(sorted(files)))
    raw, what = draw(text_mutation(files[target], sep=" "))
    out = {k: v.encode() for k, v in files.items()}
    out[target] = raw
    return Case(out, target, what)


def run_lightgcn(folder: Path, case: Case) -> Any:
    from graphcl.data.loaders import load_lightgcn_split
    return load_lightgcn_split(folder, valid_ratio=0.0, seed=1, cold_users="keep")


def _oracle_id_lines(raw: bytes) -> list[list[int]]:
    out = []
    for line in _lines(_decode(raw)):
        fields = [f for f in re.split(r"[ \t]+", line.strip(" \t")) if f]
        if fields:
            if not all(f.isascii() and f.isdigit() for f in fields):
                raise AssertionError(f"the oracle reads {line!r} as malformed")
            out.append([int(f) for f in fields])
    return out


def check_lightgcn(result: Any, folder: Path, case: Case) -> str | None:
    try:
        train = {(r[0], i) for r in _oracle_id_lines(case.files["train.txt"]) for i in r[1:]}
        test = {(r[0], i) for r in _oracle_id_lines(case.files["test.txt"]) for i in r[1:]}
    except AssertionError as err:
        return f"loaded a file the oracle finds malformed: {err}"
    if {tuple(p) for p in result.train.T.tolist()} != train:
        return "train pairs differ from train.txt"
    if {tuple(p) for p in result.test.T.tolist()} != test:
        return "test pairs differ from test.txt"
    count = sum(len(r) - 1 for name in ("train.txt", "test.txt")
                for r in _oracle_id_lines(case.files[name]))
    top = max(max(u, i) for u, i in train | test)
    if top > id_bound(count):
        return f"an id {top} beyond the bound {id_bound(count)} was accepted"
    if "user_list.txt" in case.files:
        rows = [[f for f in re.split(r"[ \t]+", line.strip(" \t")) if f]
                for line in _lines(_decode(case.files["user_list.txt"]))[1:]]
        rows = [r for r in rows if r]
        if result.num_users != len(rows) or sorted(int(r[1]) for r in rows) != list(range(len(rows))):
            return f"{result.num_users} users but user_list.txt lists {len(rows)}"
        if result.user_tokens != [r[0] for r in sorted(rows, key=lambda r: int(r[1]))]:
            return "user tokens differ from user_list.txt"
    return None


# ----------------------------------------------------- lastfm (tab-separated)
@st.composite
def tsv_cases(draw) -> Case:
    n = draw(st.integers(1, 12))
    rows = [(draw(st.integers(1, 6)), draw(st.integers(1, 9)), draw(st.integers(1, 99)))
            for _ in range(n)]
    files = {"data1.txt": "".join(f"{u}\t{i}\t{c}\n" for u, i, c in rows),
             "test1.txt": "".join(f"{u}\t{i}\t1\n" for u, i, _ in rows[:2])}
    target = draw(st.sampled_from(sorted(files)))
    raw, what = draw(text_mutation(files[target], sep="\t"))
    out = {k: v.encode() for k, v in files.items()}
    out[target] = raw
    return Case(out, target, what)


def run_tsv(folder: Path, case: Case) -> Any:
    from graphcl.data.loaders import load_lastfm_hetrec
    return load_lastfm_hetrec(folder, valid_ratio=0.0, seed=1, cold_users="keep")


def check_tsv(result: Any, folder: Path, case: Case) -> str | None:
    for name, split in (("data1.txt", result.train), ("test1.txt", result.test)):
        want = set()
        for line in _lines(_decode(case.files[name])):
            if not line.strip(" \t"):
                continue
            f = [x.strip(" ") for x in line.strip(" ").split("\t")]
            if not (f[0].isascii() and f[0].isdigit() and f[1].isascii() and f[1].isdigit()):
                return f"{name}: loaded the malformed line {line!r}"
            if len(f) == 3 and not math.isfinite(float(f[2])):
                return f"{name}: loaded the non-finite count in {line!r}"
            want.add((int(f[0]) - 1, int(f[1]) - 1))
        if {tuple(p) for p in split.T.tolist()} != want:
            return f"{name}: pairs differ from the file"
    return None


# ========================================================== pickled matrices
def _matrix_variants() -> dict[str, Callable[[sp.spmatrix], Any]]:
    def set_attr(m, **kw):
        for k, v in kw.items():
            setattr(m, k, v)
        return m

    def coo(m):
        return sp.coo_matrix(m)

    return {
        "row beyond shape": lambda m: set_attr(coo(m), row=coo(m).row + m.shape[0]),
        "negative col": lambda m: set_attr(coo(m), col=-coo(m).col - 1),
        "huge shape": lambda m: set_attr(coo(m), _shape=(10 ** 12, m.shape[1])),
        "huge shape csr": lambda m: set_attr(sp.csr_matrix(m), _shape=(m.shape[0], 10 ** 12)),
        "NaN data": lambda m: set_attr(coo(m), data=np.full(coo(m).nnz, np.nan)),
        "inf data": lambda m: set_attr(coo(m), data=np.full(coo(m).nnz, np.inf)),
        "object data": lambda m: set_attr(coo(m), data=np.array(list(coo(m).data) + [None],
                                                                dtype=object)[:coo(m).nnz]),
        "length mismatch": lambda m: set_attr(coo(m), row=np.append(coo(m).row, 0)),
        "bad indptr": lambda m: set_attr(sp.csr_matrix(m), indptr=sp.csr_matrix(m).indptr[::-1].copy()),
        "short indptr": lambda m: set_attr(sp.csr_matrix(m), indptr=sp.csr_matrix(m).indptr[:-1].copy()),
        "float indices": lambda m: set_attr(coo(m), row=coo(m).row.astype(float)),
        "2-D data": lambda m: set_attr(coo(m), data=coo(m).data.reshape(1, -1)),
        "complex data": lambda m: set_attr(coo(m), data=coo(m).data.astype(complex)),
        "bsr matrix": lambda m: sp.bsr_matrix(m),
        "lil matrix": lambda m: sp.lil_matrix(m),
        "dense array": lambda m: np.asarray(m.todense()),
        "dict": lambda m: {"row": coo(m).row},
    }


@st.composite
def pickle_cases(draw) -> Case:
    base = shared_data()
    real = base / "graphcf" / "adagcl" / "lastFM" / "valMat.pkl" if base else None
    source = draw(st.sampled_from(["generated"] * 4 + (["real"] if real and real.is_file() else [])))
    if source == "real":
        raw = real.read_bytes()
        mutated, what = draw(binary_mutation(raw))
        return Case({"valMat.pkl": mutated}, "valMat.pkl", f"lastFM valMat.pkl: {what}",
                     meta={"original": raw})
    rows, cols = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    nnz = draw(st.integers(0, 30))
    r = draw(st.lists(st.integers(0, rows - 1), min_size=nnz, max_size=nnz))
    c = draw(st.lists(st.integers(0, cols - 1), min_size=nnz, max_size=nnz))
    mat = sp.coo_matrix((np.ones(nnz), (r, c)), shape=(rows, cols))
    mat.sum_duplicates()
    fmt = draw(st.sampled_from(["coo_matrix", "csr_matrix", "csc_matrix", "coo_array", "csr_array"]))
    obj = getattr(sp, fmt)(mat)
    protocol = draw(st.integers(0, 5))
    kind = draw(st.sampled_from(["structure", "structure", "bytes", "bytes", "payload", "none"]))
    if kind == "payload":
        name = draw(st.sampled_from(sorted(payload_pickles())))
        return Case({"trnMat.pkl": payload_pickles()[name]}, "trnMat.pkl", f"payload {name}")
    if kind == "structure":
        name = draw(st.sampled_from(sorted(_matrix_variants())))
        try:
            obj = _matrix_variants()[name](obj)
        except Exception as err:  # a variant that does not apply to this matrix
            name = f"{name} (not applicable: {type(err).__name__})"
        raw = pickle.dumps(obj, protocol=protocol)
        return Case({"trnMat.pkl": raw}, "trnMat.pkl", f"{fmt} p{protocol}: {name}")
    raw = pickle.dumps(obj, protocol=protocol)
    mutated, what = draw(binary_mutation(raw)) if kind == "bytes" else (raw, "none")
    return Case({"trnMat.pkl": mutated}, "trnMat.pkl", f"{fmt} p{protocol}: {what}",
                meta={"original": raw})


def run_pickle(folder: Path, case: Case) -> Any:
    from graphcl.data.formats import read_pickled_matrix
    return read_pickled_matrix(folder / case.target)


def check_pickle(result: Any, folder: Path, case: Case) -> str | None:
    if not isinstance(result, sp.coo_matrix):
        return f"returned {type(result).__name__}"
    rows, cols = result.shape
    if max(rows, cols) > id_bound(result.nnz):
        return f"shape {result.shape} beyond the bound for {result.nnz} entries"
    if result.nnz and (result.row.min() < 0 or result.row.max() >= rows
                       or result.col.min() < 0 or result.col.max() >= cols):
        return "an index outside the shape"
    if result.data.dtype.kind not in "biuf" or not np.isfinite(result.data).all():
        return f"values of dtype {result.data.dtype} or not finite"
    original = case.meta.get("original")
    if original is not None and case.files[case.target] == original:
        want = sp.coo_matrix(pickle.loads(original))  # the unmutated, trusted pickle
        if want.shape != result.shape or (want != result).nnz:
            return "the unmutated matrix did not round-trip"
    return None


# ============================================================ sequence files
@st.composite
def sequence_cases(draw) -> Case:
    base = shared_data()
    beauty = base / "seqrec" / "iclrec" / "Beauty.txt" if base else None
    if beauty and beauty.is_file() and draw(st.booleans()):
        text = "\n".join(beauty.read_text().split("\n")[:40]) + "\n"
    else:
        n = draw(st.integers(1, 10))
        text = "".join(f"u{u} " + " ".join(map(str, draw(st.lists(st.integers(1, 30), min_size=1,
                                                                    max_size=6)))) + "\n"
                       for u in range(n))
    raw, what = draw(text_mutation(text, sep=" "))
    return Case({"seqs.txt": raw}, "seqs.txt", what)


def run_sequences(folder: Path, case: Case) -> Any:
    from graphcl.data.sequences import read_sequence_lines
    return read_sequence_lines(folder / case.target)


def check_sequences(result: Any, folder: Path, case: Case) -> str | None:
    rows = []
    for line in _lines(_decode(case.files[case.target])):
        fields = [f for f in re.split(r"[ \t]+", line.strip(" \t")) if f]
        if fields:
            rows.append(fields)
    if [r[0] for r in rows] != result.user_tokens:
        return "user ids differ from the file"
    for u, r in enumerate(rows):
        if not all(t.isascii() and t.isdigit() and int(t) >= 1 for t in r[1:]):
            return f"loaded the malformed line {' '.join(r)!r}"
        if result.sequence(u) != [int(t) for t in r[1:]]:
            return f"user {r[0]}: sequence differs from the file"
    top = max(int(t) for r in rows for t in r[1:])
    if result.num_items != top or top > id_bound(sum(len(r) - 1 for r in rows)):
        return f"num_items {result.num_items}, largest id {top}"
    return None


# ========================================================= item feature files
@st.composite
def feature_cases(draw) -> Case:
    n, d = draw(st.integers(1, 10)), draw(st.integers(1, 6))
    dtype = draw(st.sampled_from(["float32", "float64", "int64", "bool"]))
    arr = (np.arange(n * d).reshape(n, d) % 7).astype(dtype)
    suffix = draw(st.sampled_from([".npy", ".pt"]))
    kind = draw(st.sampled_from(["bytes", "bytes", "structure", "payload", "none"]))
    name = f"feat{suffix}"
    meta = {"num_items": n + draw(st.sampled_from([0, 0, 0, 1, -1])), "dim": d}

    def save(value: Any) -> bytes:
        buf = io.BytesIO()
        if suffix == ".npy":
            np.save(buf, value, allow_pickle=True)
        else:
            torch.save(torch.as_tensor(value) if isinstance(value, np.ndarray)
                       and value.dtype != object else value, buf)
        return buf.getvalue()

    if kind == "payload":
        pname = draw(st.sampled_from(sorted(payload_pickles())))
        raw = payload_pickles()[pname]
        if suffix == ".npy":
            return Case({name: npy_object_payload(raw)}, name, f"npy payload {pname}", meta=meta)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("feat/data.pkl", raw)
            z.writestr("feat/version", "3\n")
        return Case({name: buf.getvalue()}, name, f"pt payload {pname}", meta=meta)
    if kind == "structure":
        variant = draw(st.sampled_from(["nan", "inf", "1-D", "3-D", "object", "empty", "huge header",
                                        "zero columns"]))
        if variant == "huge header" and suffix == ".npy":
            head = io.BytesIO()
            np.lib.format.write_array_header_1_0(head, {"descr": "<f4", "fortran_order": False,
                                                        "shape": (10 ** 6, 10 ** 5)})
            return Case({name: head.getvalue() + arr.astype("<f4").tobytes()}, name,
                        "npy header claims 4e11 bytes", meta=meta)
        value: Any = {"nan": lambda: np.where(arr == 0, np.nan, arr.astype(float)),
                      "inf": lambda: np.where(arr == 0, np.inf, arr.astype(float)),
                      "1-D": lambda: arr.reshape(-1), "3-D": lambda: arr.reshape(1, n, d),
                      "object": lambda: arr.astype(object), "empty": lambda: arr[:0],
                      "huge header": lambda: arr, "zero columns": lambda: arr[:, :0]}[variant]()
        return Case({name: save(value)}, name, f"{dtype}{suffix}: {variant}", meta=meta)
    raw = save(arr)
    meta["original"] = arr
    mutated, what = draw(binary_mutation(raw)) if kind == "bytes" else (raw, "none")
    return Case({name: mutated}, name, f"{dtype}{suffix}: {what}", meta=meta)


def run_features(folder: Path, case: Case) -> Any:
    from graphcl.data.item_features import load_feature_file
    return load_feature_file(folder / case.target, case.meta["num_items"])


def check_features(result: Any, folder: Path, case: Case) -> str | None:
    if not isinstance(result, torch.Tensor) or result.dtype != torch.float32 or result.dim() != 2:
        return f"returned {type(result).__name__} {getattr(result, 'dtype', '')}"
    if result.size(0) != case.meta["num_items"] or result.size(1) == 0:
        return f"shape {tuple(result.shape)} for {case.meta['num_items']} items"
    if not bool(torch.isfinite(result).all()):
        return "non-finite features"
    original = case.meta.get("original")
    if original is not None and case.mutation.endswith(": none"):
        if not np.array_equal(result.numpy(), original.astype(np.float32)):
            return "the unmutated table did not round-trip"
    return None


# ============================================================ item text files
@st.composite
def item_text_cases(draw) -> Case:
    n = draw(st.integers(1, 8))
    texts = [draw(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                          min_size=1, max_size=20)) for _ in range(n)]
    if draw(st.booleans()):
        name = "items.jsonl"
        text = "".join(json.dumps({"item": k, "text": t}) + "\n" for k, t in enumerate(texts))
        sep = ","
    else:
        name = "items.csv"
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["item_id", "text"])
        writer.writerows([[k, t] for k, t in enumerate(texts)])
        text, sep = buf.getvalue(), ","
    raw, what = draw(text_mutation(text, sep=sep))
    if draw(st.integers(0, 9)) == 0:
        raw, what = raw + b"[" * 50_000 + b"\n", what + " + deeply nested line"
    return Case({name: raw}, name, what)


def run_item_text(folder: Path, case: Case) -> Any:
    from graphcl.data.item_text import read_item_text_file
    return read_item_text_file(folder / case.target)


def check_item_text(result: Any, folder: Path, case: Case) -> str | None:
    if not isinstance(result, dict) or not result:
        return f"returned {type(result).__name__}"
    for k, t in result.items():
        if not (isinstance(k, str) and k.strip() and isinstance(t, str) and t.strip()):
            return f"empty id or text {k!r}: {t!r}"
        if "\ufeff" in k:
            return f"a byte-order mark in item id {k!r}"
    return None


# ================================================================ WebKB CSV
@st.composite
def webkb_cases(draw) -> Case:
    base = shared_data()
    src = base / "tag" / "cstag_webkb" / "Cornell" / "Cornell.csv"
    raw = src.read_bytes()
    target = "tag/cstag_webkb/Cornell/Cornell.csv"
    kind = draw(st.sampled_from(["field", "field", "field", "bytes", "none"]))
    if kind == "bytes":
        mutated, what = draw(binary_mutation(raw))
        return Case({target: mutated}, target, what)
    if kind == "none":
        return Case({target: raw}, target, "none")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    r = draw(st.integers(1, len(rows) - 1))
    column = draw(st.sampled_from(["label", "node_id", "neighbor_ids", "raw_text", "category",
                                   "url", "row length"]))
    header = rows[0]
    if column == "row length":
        rows[r] = rows[r][:draw(st.integers(0, len(header) - 1))] if draw(st.booleans()) \
            else rows[r] + ["extra"]
        what = f"row {r}: {len(rows[r])} fields"
    else:
        value = draw(st.one_of(
            st.sampled_from(BAD_TOKENS),
            st.sampled_from(["[999]", "[-1]", "[1e5]", "[True]", "[[1]]", "(1, 2)", "{1: 2}",
                             "[" * 300 + "]" * 300, "[" * 5000, "__import__('os').system('touch "
                             + str(MARKER) + "')", "[10**10]", "[" + ", ".join(["0"] * 2000) + "]",
                             "1000000000", "5", "0"]),
            st.integers(-10 ** 10, 10 ** 10).map(str)))
        rows[r][header.index(column)] = value
        what = f"row {r} {column} = {value[:30]!r}"
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return Case({target: buf.getvalue().encode()}, target, what)


def run_webkb(folder: Path, case: Case) -> Any:
    from _tag_helpers import HashEncoder

    from graphcl.data import load
    from graphcl.llm import TextEncoder
    return load("webkb-cornell", root=folder, encoder=TextEncoder(HashEncoder(), cache_dir=False))


def check_webkb(result: Any, folder: Path, case: Case) -> str | None:
    from graphcl.data.tag import max_classes
    rows = list(csv.DictReader(io.StringIO(_decode(case.files[case.target]), newline="")))
    n = len(rows)
    if result.num_nodes != n or len(result.text) != n or len(result.url) != n:
        return f"{result.num_nodes} nodes, the file has {n} rows"
    if result.url != [r["url"] for r in rows]:
        return "urls differ from the file"
    if result.text != [r["raw_text"] for r in rows]:
        return "texts differ from the file"
    if int(result.y.min()) < 0 or int(result.y.max()) >= max_classes(n):
        return "a label outside the class range"
    if result.y.tolist() != [int(r["label"]) for r in rows]:
        return "labels differ from the file"
    ei = result.edge_index
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= n):
        return "an edge outside the node range"
    return None


# =============================================================== HeCo (ACM)
#: the ACM files ``load("acm")`` reads (``pos.npz``: HeCo's positives, optional)
HECO_FILES = ["labels.npy", "nei_a.npy", "nei_s.npy", "pap.npz", "psp.npz", "p_feat.npz",
              "a_feat.npz", "pa.txt", "ps.txt", "train_20.npy", "val_40.npy", "test_60.npy", "pos.npz"]


def _npz_replace(raw: bytes, key: str, value: np.ndarray) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(raw))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in src.namelist():
            if name == f"{key}.npy":
                buf = io.BytesIO()
                np.save(buf, value)
                z.writestr(name, buf.getvalue())
            else:
                z.writestr(name, src.read(name))
    return out.getvalue()


@st.composite
def heco_cases(draw) -> Case:
    folder = shared_data() / "hetero" / "heco" / "acm"
    rel = "hetero/heco/acm"
    name = draw(st.sampled_from(HECO_FILES))
    raw = (folder / name).read_bytes()
    links = {f"{rel}/{p.name}": p for p in folder.iterdir() if p.name != name}
    kind = draw(st.sampled_from(["bytes", "bytes", "structure", "structure", "payload", "none"]))
    target = f"{rel}/{name}"
    if kind == "payload" and name.startswith("nei_"):
        pname = draw(st.sampled_from(sorted(payload_pickles())))
        return Case({target: npy_object_payload(payload_pickles()[pname])}, target,
                    f"{name}: payload {pname}", links)
    if kind == "structure":
        if name.endswith(".txt"):
            mutated, what = draw(text_mutation(raw.decode(), sep="\t"))
            return Case({target: mutated}, target, f"{name}: {what}", links)
        if name.endswith(".npz"):
            key = draw(st.sampled_from(["indices", "indptr", "shape", "data", "row", "col"]))
            value = draw(st.sampled_from([np.array([10 ** 12]), np.array([-1, 5]),
                                          np.array([10 ** 6, 10 ** 6]), np.array([np.nan]),
                                          np.array(["x"]), np.zeros(0)]))
            present = f"{key}.npy" in zipfile.ZipFile(io.BytesIO(raw)).namelist()
            return Case({target: _npz_replace(raw, key, value)}, target,
                        f"{name}: {key} = {value!r}", links, {"must_fail": present})
        if name.startswith("nei_"):
            value = draw(st.sampled_from(["huge id", "negative", "float", "short"]))
            arr = np.empty(4019, dtype=object)
            for k in range(4019):
                arr[k] = np.array([k % 7], dtype=np.int64)
            if value == "huge id":
                arr[5] = np.array([10 ** 12])
            elif value == "negative":
                arr[5] = np.array([-3])
            elif value == "float":
                arr[5] = np.array([0.5])
            else:
                arr = arr[:100]
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=True)
            return Case({target: buf.getvalue()}, target, f"{name}: {value}", links,
                        {"must_fail": True})
        value = draw(st.sampled_from(["huge", "negative", "NaN", "2-D", "strings", "empty",
                                      "header lies"]))
        # labels.npy values are remapped to 0..C-1 in sorted order (documented): a huge or
        # negative label is one more class; every other variant must be refused
        must_fail = {"must_fail": not (name == "labels.npy" and value in ("huge", "negative"))}
        arr = np.load(io.BytesIO(raw))
        if value == "header lies":
            head = io.BytesIO()
            np.lib.format.write_array_header_1_0(head, {"descr": arr.dtype.str, "fortran_order": False,
                                                        "shape": (arr.size * 10 ** 6,)})
            return Case({target: head.getvalue() + arr.tobytes()}, target, f"{name}: {value}",
                        links, must_fail)
        new = {"huge": lambda: np.where(np.arange(arr.size) == 3, 10 ** 12, arr),
               "negative": lambda: np.where(np.arange(arr.size) == 3, -2, arr),
               "NaN": lambda: np.where(np.arange(arr.size) == 3, np.nan, arr.astype(float)),
               "2-D": lambda: arr.reshape(1, -1), "strings": lambda: arr.astype(str),
               "empty": lambda: arr[:0]}[value]()
        buf = io.BytesIO()
        np.save(buf, new)
        return Case({target: buf.getvalue()}, target, f"{name}: {value}", links, must_fail)
    mutated, what = draw(binary_mutation(raw)) if kind != "none" else (raw, "none")
    return Case({target: mutated}, target, f"{name}: {what}", links)


def run_heco(folder: Path, case: Case) -> Any:
    from graphcl.data import load
    return load("acm", root=folder)


def check_heco(result: Any, folder: Path, case: Case) -> str | None:
    if not result.validate(raise_on_error=False):
        return "HeteroData.validate() fails"
    paper = result["paper"]
    if paper.y.numel() != paper.num_nodes or int(paper.y.min()) < 0 \
            or int(paper.y.max()) >= result.num_classes:
        return "labels outside 0..num_classes-1"
    for store in result.node_stores:
        x = store.x
        dense = x.to_dense() if x.is_sparse or x.layout != torch.strided else x
        if not bool(torch.isfinite(dense.float()).all()):
            return "non-finite features"
    return None


# ============================================================ Planetoid Cora
PLANETOID = ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"]


def _trusted_planetoid(path: Path) -> Any:
    """The published file, unpickled to derive a crafted variant (trusted input:
    ``shared/data`` is checked against its SHA256SUMS)."""
    with path.open("rb") as fh:
        return pickle.load(fh, encoding="latin1")


@st.composite
def planetoid_cases(draw) -> Case:
    raw_dir = shared_data() / "pyg" / "Planetoid" / "Cora" / "raw"
    rel = "pyg/Planetoid/Cora/raw"
    part = draw(st.sampled_from(PLANETOID))
    name = f"ind.cora.{part}"
    raw = (raw_dir / name).read_bytes()
    links = {f"{rel}/{p.name}": p for p in raw_dir.iterdir() if p.name != name}
    target = f"{rel}/{name}"
    kind = draw(st.sampled_from(["bytes", "bytes", "structure", "payload", "none"]))
    if kind == "payload" and part != "test.index":
        pname = draw(st.sampled_from(sorted(payload_pickles())))
        return Case({target: payload_pickles()[pname]}, target, f"{name}: payload {pname}", links)
    if kind == "structure":
        if part == "test.index":
            mutated, what = draw(text_mutation(raw.decode(), sep=" "))
            return Case({target: mutated}, target, f"{name}: {what}", links)
        obj = _trusted_planetoid(raw_dir / name)
        if part == "graph":
            variant = draw(st.sampled_from(["node id 1e12", "negative id", "list instead"]))
            obj = dict(obj)
            obj[5] = [-4] if variant == "negative id" else [10 ** 12]
            if variant == "list instead":
                obj = list(obj.values())
        elif part in ("x", "tx", "allx"):
            variant = draw(st.sampled_from(["huge shape", "wrong rows", "NaN", "dense array"]))
            if variant == "huge shape":
                obj._shape = (obj.shape[0], 10 ** 9)
            elif variant == "wrong rows":
                obj = obj[:-1]
            elif variant == "NaN":
                obj = obj.astype(float)
                obj.data[0] = np.nan
            else:
                obj = np.asarray(obj.todense())
        else:
            variant = draw(st.sampled_from(["wrong rows", "labels 1-D", "NaN labels"]))
            obj = {"wrong rows": lambda: obj[:-1], "labels 1-D": lambda: obj.argmax(1),
                   "NaN labels": lambda: obj.astype(float) * np.nan}[variant]()
        return Case({target: pickle.dumps(obj, protocol=2)}, target, f"{name}: {variant}", links,
                    {"must_fail": True})  # every crafted variant breaks the format
    mutated, what = draw(binary_mutation(raw)) if kind != "none" else (raw, "none")
    return Case({target: mutated}, target, f"{name}: {what}", links)


def run_planetoid(folder: Path, case: Case) -> Any:
    from graphcl.data import load
    old = os.environ.get("GRAPHCL_CACHE")
    os.environ["GRAPHCL_CACHE"] = str(folder / "cache")
    try:
        return load("cora", root=folder)
    finally:
        if old is None:
            os.environ.pop("GRAPHCL_CACHE", None)
        else:
            os.environ["GRAPHCL_CACHE"] = old


def check_planetoid(result: Any, folder: Path, case: Case) -> str | None:
    if not result.validate(raise_on_error=False):
        return "Data.validate() fails"
    n = result.num_nodes
    if result.x.size(0) != n or not bool(torch.isfinite(result.x).all()):
        return "features not (N, F) finite"
    if int(result.y.min()) < 0 or int(result.y.max()) >= result.num_classes:
        return "labels outside 0..num_classes-1"
    for mask in ("train_mask", "val_mask", "test_mask"):
        if getattr(result, mask).numel() != n:
            return f"{mask} of the wrong size"
    if case.mutation.endswith(": none") and (n, result.edge_index.size(1)) != (2708, 10556):
        return f"the unmutated Cora has {n} nodes / {result.edge_index.size(1)} edges"
    return None


# ================================================================== registry
@dataclass(frozen=True)
class Reader:
    name: str
    cases: Callable[[], st.SearchStrategy]
    run: Callable[[Path, Case], Any]
    check: Callable[[Any, Path, Case], str | None]
    examples: int                # max_examples in CI
    needs_shared: bool = False


READERS: dict[str, Reader] = {r.name: r for r in [
    Reader("atomic (RecBole)", atomic_cases, run_atomic, check_atomic, 300),
    Reader("LightGCN text", lightgcn_cases, run_lightgcn, check_lightgcn, 250),
    Reader("lastfm tsv", tsv_cases, run_tsv, check_tsv, 120),
    Reader("pickled matrix", pickle_cases, run_pickle, check_pickle, 400),
    Reader("sequence file", sequence_cases, run_sequences, check_sequences, 250),
    Reader("item feature file", feature_cases, run_features, check_features, 250),
    Reader("item text file", item_text_cases, run_item_text, check_item_text, 150),
    Reader("WebKB CSV", webkb_cases, run_webkb, check_webkb, 100, needs_shared=True),
    Reader("HeCo folder (acm)", heco_cases, run_heco, check_heco, 40, needs_shared=True),
    Reader("Planetoid raw (cora)", planetoid_cases, run_planetoid, check_planetoid, 60,
           needs_shared=True),
]}


def _names_case_file(message: str, folder: Path) -> bool:
    return str(folder) in message


def run_case(reader: Reader, case: Case) -> Result:
    """Write the case into a fresh folder, run the reader under the memory cap and
    classify the outcome (see the module docstring)."""
    folder = Path(tempfile.mkdtemp(prefix="case-", dir=WORK))
    for rel, data in case.files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    for rel, src in case.links.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).symlink_to(src)
    start = time.perf_counter()
    line = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with memory_cap():
                result = reader.run(folder, case)
            seconds = time.perf_counter() - start
            try:
                problem = ("loaded a crafted file that must be refused"
                       if case.meta.get("must_fail") else reader.check(result, folder, case))
            except Exception as err:  # the oracle cannot read what the reader accepted
                problem = f"the validator failed on the result: {type(err).__name__}: {err}"
        outcome, detail = ("silent wrong", problem) if problem else ("loaded", "")
    except (DataFormatError, FileNotFoundError) as err:
        seconds = time.perf_counter() - start
        detail = f"{type(err).__name__}: {err}"
        if OUT_OF_MEMORY.search(detail):
            outcome = "crash"
        elif _names_case_file(str(err), folder):
            outcome = "clear error"
            line = re.search(r"(:\d+[:,]|line \d+|row \d+)", str(err)) is not None
        else:
            outcome = "unclear error"
    except Exception as err:  # numpy, scipy, torch, Python: a crash
        seconds = time.perf_counter() - start
        outcome, detail = "crash", f"{type(err).__name__}: {str(err)[:300]}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if MARKER.exists():
        MARKER.unlink()
        outcome, detail = "code executed", f"the payload ran ({case.mutation})"
    if seconds > TIME_LIMIT and outcome not in ("code executed",):
        outcome, detail = "crash", f"took {seconds:.1f} s (limit {TIME_LIMIT} s): {detail}"
    return Result(outcome, detail.replace(str(folder), "<case>"), seconds, line)


class Tally:
    """Outcome counts per reader, and the first example of each failure."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter] = {name: Counter() for name in READERS}
        self.lines: Counter = Counter()
        self.slowest: dict[str, float] = {name: 0.0 for name in READERS}
        self.examples: dict[tuple[str, str], str] = {}

    def add(self, reader: str, case: Case, result: Result, verbose: bool = False) -> None:
        if verbose:
            print(f"{reader} | {result.outcome} | {case.mutation[:70]} | {result.detail[:160]}")
        self.counts[reader][result.outcome] += 1
        self.lines[reader] += int(result.line)
        self.slowest[reader] = max(self.slowest[reader], result.seconds)
        if result.outcome in FAILURES:
            self.examples.setdefault((reader, result.outcome), f"{case!r}\n    -> {result.detail}")

    def table(self) -> str:
        head = ("reader", "cases", "loaded", "clear errors", "(with line)", "unclear errors",
                "crashes", "silent wrong", "code executed", "slowest s")
        rows = [head]
        total = Counter()
        for name, c in self.counts.items():
            n = sum(c.values())
            if not n:
                continue
            total.update(c)
            total["__lines"] += self.lines[name]
            rows.append((name, n, c["loaded"], c["clear error"], self.lines[name], c["unclear error"],
                         c["crash"], c["silent wrong"], c["code executed"],
                         f"{self.slowest[name]:.2f}"))
        rows.append(("total", sum(v for k, v in total.items() if k != "__lines"), total["loaded"],
                     total["clear error"], total["__lines"], total["unclear error"], total["crash"],
                     total["silent wrong"], total["code executed"], ""))
        widths = [max(len(str(r[k])) for r in rows) for k in range(len(head))]
        fmt = lambda r: "| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |"  # noqa: E731
        lines = [fmt(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        return "\n".join(lines + [fmt(r) for r in rows[1:]])
