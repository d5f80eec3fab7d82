"""Readers of graphcl.data.formats on small hand-made files (good and malformed)."""
from __future__ import annotations

import pickle
import pickletools

import numpy as np
import pytest
import scipy.sparse as sp

from graphcl.data.formats import (align_table, factorize, read_atomic, read_lightgcn_txt,
                                  read_pickled_matrix, read_user_item_tsv)
from graphcl.data.interactions import DataFormatError


def write(path, text: str, mode: str = "w"):
    path.write_text(text) if mode == "w" else path.write_bytes(text)  # type: ignore[arg-type]
    return path


# ------------------------------------------------------------------- atomic
def test_read_atomic_types(tmp_path):
    f = write(tmp_path / "toy.inter",
              "user_id:token\titem_id:token\trating:float\ttags:token_seq\temb:float_seq\n"
              "u1\ti1\t4\ta b\t0.5 1.5\r\n"
              "\n"
              "u2\ti2\t\t\t\n")
    cols = read_atomic(f)
    assert cols["user_id"] == ["u1", "u2"]
    assert cols["item_id"] == ["i1", "i2"]
    assert cols["rating"].dtype == np.float64
    assert cols["rating"][0] == 4.0 and np.isnan(cols["rating"][1])
    assert cols["tags"] == [["a", "b"], []]
    np.testing.assert_array_equal(cols["emb"][0], [0.5, 1.5])
    assert cols["emb"][1].size == 0


def test_read_atomic_header_only(tmp_path):
    cols = read_atomic(write(tmp_path / "e.inter", "user_id:token\trating:float\n"))
    assert cols["user_id"] == [] and cols["rating"].size == 0


@pytest.mark.parametrize("body, fragment", [
    ("u1\ti1\n", "e.inter:3: expected 3 tab-separated fields"),
    ("u1\ti1\t1\textra\n", "e.inter:3: expected 3"),
    ("u1\ti1\tfour\n", "e.inter:3: field 'rating' is a float field but holds 'four'"),
])
def test_read_atomic_malformed(tmp_path, body, fragment):
    f = write(tmp_path / "e.inter", "user_id:token\titem_id:token\trating:float\nu0\ti0\t1\n" + body)
    with pytest.raises(DataFormatError, match=fragment):
        read_atomic(f)


@pytest.mark.parametrize("header", ["user_id\titem_id:token", "user_id:int\titem_id:token",
                                    "a:token\ta:token", ""])
def test_read_atomic_bad_header(tmp_path, header):
    with pytest.raises(DataFormatError, match=r"e\.inter:1:"):
        read_atomic(write(tmp_path / "e.inter", header + "\n1\t2\n"))


def test_read_atomic_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.inter"):
        read_atomic(tmp_path / "nope.inter")


def test_factorize_and_align_table():
    codes, uniques = factorize(["b", "a", "b", "c"])
    assert codes.tolist() == [0, 1, 0, 2] and uniques.tolist() == ["b", "a", "c"]
    table = {"item_id": ["a", "c"], "year": np.array([1.0, 2.0]), "title": [["A"], ["C"]]}
    aligned = align_table(table, "item_id", ["c", "x", "a"])
    assert set(aligned) == {"year", "title"}
    np.testing.assert_array_equal(aligned["year"], [2.0, np.nan, 1.0])
    assert aligned["title"] == [["C"], None, ["A"]]


# ----------------------------------------------------------------- LightGCN
def test_read_lightgcn_txt(tmp_path):
    f = write(tmp_path / "train.txt", "0 1 2 3\n1\n\n2 0\n3 5 5\n")
    pairs = read_lightgcn_txt(f)
    assert pairs.dtype == np.int64 and pairs.shape == (2, 6)
    assert pairs.tolist() == [[0, 0, 0, 2, 3, 3], [1, 2, 3, 0, 5, 5]]


def test_read_lightgcn_txt_empty(tmp_path):
    assert read_lightgcn_txt(write(tmp_path / "t.txt", "\n")).shape == (2, 0)


@pytest.mark.parametrize("text, fragment", [
    ("0 1 2\n1 x 3\n", r"t\.txt:2: item id 'x' is not a non-negative integer"),
    ("0 1 2\n1 2.5\n", r"t\.txt:2: item id '2\.5'"),
    ("0 1\n\n-1 2\n", r"t\.txt:3: negative user id '-1'"),
    ("0 1 -7\n", r"t\.txt:1: negative item id '-7'"),
    ("0 1\n3 99999999999999999999\n", r"t\.txt:2: item id '99999999999999999999' is too large"),
])
def test_read_lightgcn_txt_malformed(tmp_path, text, fragment):
    with pytest.raises(DataFormatError, match=fragment):
        read_lightgcn_txt(write(tmp_path / "t.txt", text))


def test_read_lightgcn_txt_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_lightgcn_txt(tmp_path / "train.txt")


# ---------------------------------------------------------------------- tsv
def test_read_user_item_tsv(tmp_path):
    f = write(tmp_path / "data1.txt", "1\t2\t10\r\n3\t4\t3.2e+05\r\n\r\n")
    pairs, counts = read_user_item_tsv(f)
    assert pairs.tolist() == [[1, 3], [2, 4]]
    assert counts.tolist() == [10.0, 320000.0]
    pairs, counts = read_user_item_tsv(write(tmp_path / "two.txt", "0\t1\n2\t3\n"))
    assert pairs.tolist() == [[0, 2], [1, 3]] and counts is None


@pytest.mark.parametrize("text, fragment", [
    ("1\t2\t3\n4\t5\n", r"d\.txt:2: expected 3 tab-separated fields"),
    ("1\n", r"d\.txt:1: expected 'user<TAB>item"),
    ("1\t2\n1\tb\n", r"d\.txt:2: item id 'b'"),
    ("1\t2\n-1\t2\n", r"d\.txt:2: negative user id"),
    ("1\t2\tmany\n", r"d\.txt:1: count 'many'"),
])
def test_read_user_item_tsv_malformed(tmp_path, text, fragment):
    with pytest.raises(DataFormatError, match=fragment):
        read_user_item_tsv(write(tmp_path / "d.txt", text))


# ------------------------------------------------------------------ pickles
@pytest.mark.parametrize("make", [sp.coo_matrix, sp.csr_matrix, sp.csc_matrix, sp.csr_array])
@pytest.mark.parametrize("protocol", [0, 2, 3, 5])
def test_read_pickled_matrix_roundtrip(tmp_path, make, protocol):
    dense = np.array([[0, 1, 0], [1, 0, 1]], dtype=np.float64)
    f = tmp_path / "trnMat.pkl"
    f.write_bytes(pickle.dumps(make(dense), protocol=protocol))
    mat = read_pickled_matrix(f)
    assert isinstance(mat, sp.coo_matrix)
    np.testing.assert_array_equal(mat.toarray(), dense)


def _evil_pickles(marker):
    cmd = f"touch {marker}"
    return {
        "os.system": b"cos\nsystem\n(S'" + cmd.encode() + b"'\ntR.",
        "posix.system": b"cposix\nsystem\n(S'" + cmd.encode() + b"'\ntR.",
        "builtins.eval": b"cbuiltins\neval\n(S'__import__(\"os\").system(\"" + cmd.encode()
                         + b"\")'\ntR.",
        "builtins.exec": pickle.dumps(_Exec(cmd), protocol=4),
    }


class _Exec:
    """Pickles into ``builtins.exec(code)``: what a real attack would ship."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        return exec, (f"import os; os.system({self.cmd!r})",)


@pytest.mark.parametrize("refused", ["os.system", "posix.system", "builtins.eval", "builtins.exec"])
def test_read_pickled_matrix_refuses_malicious(tmp_path, refused):
    marker = tmp_path / "pwned"
    payload = _evil_pickles(marker)[refused]
    assert any(op.name in ("GLOBAL", "STACK_GLOBAL") for op, _, _ in pickletools.genops(payload))
    f = tmp_path / "evil.pkl"
    f.write_bytes(payload)
    with pytest.raises(DataFormatError) as info:
        read_pickled_matrix(f)
    assert str(f) in str(info.value)
    assert f"refused to unpickle global '{refused}'" in str(info.value)
    assert not marker.exists()


def test_read_pickled_matrix_refuses_sneaky_numpy_global(tmp_path):
    f = tmp_path / "evil.pkl"
    f.write_bytes(b"cnumpy\nload\n(S'/etc/passwd'\ntR.")
    with pytest.raises(DataFormatError, match="refused to unpickle global 'numpy.load'"):
        read_pickled_matrix(f)


def test_read_pickled_matrix_not_sparse_or_corrupt(tmp_path):
    f = tmp_path / "dense.pkl"
    f.write_bytes(pickle.dumps(np.eye(2)))
    with pytest.raises(DataFormatError, match="expected a pickled scipy.sparse matrix"):
        read_pickled_matrix(f)
    good = pickle.dumps(sp.coo_matrix(np.eye(2)))
    f.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFormatError, match="not a readable pickle"):
        read_pickled_matrix(f)
    with pytest.raises(FileNotFoundError):
        read_pickled_matrix(tmp_path / "missing.pkl")
