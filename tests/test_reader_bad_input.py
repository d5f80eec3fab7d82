"""Issue 18, defects 5, 7 and 8 (readers): bad ids, missing timestamps, byte-order marks,
invalid UTF-8 and crafted pickles each end in a clear DataFormatError naming the file
(and line), quickly and without a large allocation.

"Without a large allocation" is checked by running the reader under an address-space
cap (``RLIMIT_AS`` of the current size plus 2 GiB, Linux only): before the fixes these
inputs made numpy/Python ask for 8 GiB to 256 TB, which under the cap is a MemoryError
(and without it would exhaust the machine).
"""
from __future__ import annotations

import csv
import io
import pickle
import re
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from _reader_cases import OUT_OF_MEMORY, memory_cap

from graphcl.data.formats import (id_bound, read_atomic, read_lightgcn_txt, read_pickled_matrix,
                                  read_user_item_tsv)
from graphcl.data.interactions import DataFormatError
from graphcl.data.item_features import FeatureFileError, load_feature_file
from graphcl.data.item_text import read_item_text_file
from graphcl.data.loaders import load_atomic_dataset, load_lastfm_hetrec, load_lightgcn_split
from graphcl.data.sequences import load_atomic_sequences, read_sequence_lines
from graphcl.data.tag import read_webkb_csv

def refused(call, *args, within: float = 10.0, **kwargs) -> str:
    """Run ``call`` under the memory cap; it must raise DataFormatError within ``within`` s.
    Returns the message (which must not come from a MemoryError)."""
    start = time.perf_counter()
    with memory_cap():
        with pytest.raises(DataFormatError) as info:
            call(*args, **kwargs)
    assert time.perf_counter() - start < within
    message = str(info.value)
    assert OUT_OF_MEMORY.search(message) is None, message
    return message


def lightgcn_folder(root: Path, train: str, test: str) -> Path:
    root.mkdir(exist_ok=True)
    (root / "train.txt").write_text(train)
    (root / "test.txt").write_text(test)
    return root


def load_lightgcn(folder: Path):
    return load_lightgcn_split(folder, valid_ratio=0.0, seed=1, cold_users="keep")


# ------------------------------------------------------------ defect 5: ids
def test_id_bound_rule():
    assert id_bound(0) == id_bound(65536) == 2 ** 20
    assert id_bound(100_000) == 1_600_000


def test_sequence_item_id_1e10_is_refused_before_building_the_item_table(tmp_path):
    path = tmp_path / "seqs.txt"
    path.write_text("u1 1 2 3\nu2 2 10000000000 4\n")
    message = refused(read_sequence_lines, path, within=2.0)
    assert message.startswith(f"{path}:2: item id 10000000000 exceeds the id bound 1048576")


def test_lightgcn_item_id_1e12_is_refused_not_loaded(tmp_path):
    folder = lightgcn_folder(tmp_path / "g", "0 1 2 1000000000000\n1 2 3\n", "0 3\n1 1\n")
    message = refused(load_lightgcn, folder, within=2.0)
    assert message.startswith(f"{folder / 'train.txt'}:1: item id 1000000000000 exceeds")


def test_lightgcn_user_id_1e9_names_file_and_line(tmp_path):
    folder = lightgcn_folder(tmp_path / "g", "0 1 2 3\n1 2 3\n", "0 3\n1000000000 1\n")
    message = refused(load_lightgcn, folder, within=2.0)
    assert message.startswith(f"{folder / 'test.txt'}:2: user id 1000000000 exceeds")


def test_the_lightgcn_bound_counts_both_files_of_the_dataset(tmp_path):
    """A small test.txt may use any id the training file justifies (dense ids across files)."""
    n = 70_000                                 # bound: 16 * (70_000 + 1) = 1_120_016
    train = "".join(f"{u} {u}\n" for u in range(n - 1)) + f"{n - 1} 1120000\n"
    folder = lightgcn_folder(tmp_path / "g", train, "0 1120016\n")
    data = load_lightgcn(folder)
    assert (data.num_users, data.num_items) == (n, 1_120_017)
    assert data.test.tolist() == [[0], [1_120_016]]
    (folder / "test.txt").write_text("0 1120017\n")
    assert refused(load_lightgcn, folder).startswith(f"{folder / 'test.txt'}:1: item id 1120017")
    with pytest.raises(DataFormatError, match=r"test.txt:1: item id 1120017 exceeds the id "
                                              r"bound 1048576"):  # the file alone: its own bound
        read_lightgcn_txt(folder / "test.txt")


def test_lastfm_hetrec_user_id_1e9_is_refused(tmp_path):
    (tmp_path / "data1.txt").write_text("1\t1\t3\n1000000000\t2\t1\n")
    (tmp_path / "test1.txt").write_text("1\t2\t1\n")
    message = refused(load_lastfm_hetrec, tmp_path, valid_ratio=0.0, seed=1, cold_users="keep")
    assert message.startswith(f"{tmp_path / 'data1.txt'}:2: user id 1000000000 exceeds")


def test_tsv_counts_must_be_finite(tmp_path):
    path = tmp_path / "data1.txt"
    path.write_text("1\t1\t3\n2\t2\tnan\n")
    with pytest.raises(DataFormatError, match=r"data1.txt:2: count 'nan' is not a finite number"):
        read_user_item_tsv(path)


def _webkb_copy(shared_data: Path, dest: Path, **changes: str) -> tuple[Path, list[dict]]:
    src = shared_data / "tag" / "cstag_webkb" / "Cornell" / "Cornell.csv"
    with open(src, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for key, value in changes.items():
        rows[1][key] = value
    with open(dest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return dest, rows


def test_webkb_label_1e9_is_refused_naming_the_row(shared_data, tmp_path):
    path, _ = _webkb_copy(shared_data, tmp_path / "Cornell.csv", label="1000000000")
    message = refused(read_webkb_csv, path, within=5.0)
    assert f"{path}:" in message and "data row 2: label 1000000000 is not a class index" in message


def test_pickled_matrix_with_a_huge_shape_is_refused(tmp_path):
    mat = sp.coo_matrix((np.ones(2), (np.array([0, 5]), np.array([0, 1]))), shape=(10, 10))
    mat._shape = (10 ** 12, 10)
    path = tmp_path / "trnMat.pkl"
    path.write_bytes(pickle.dumps(mat))
    message = refused(read_pickled_matrix, path)
    assert message.startswith(f"{path}: a 1000000000000 x 10 matrix with 2 stored entries "
                              f"exceeds the dimension bound 1048576")
    assert read_pickled_matrix(path, max_dim=10 ** 12).shape == (10 ** 12, 10)  # opt-in


def test_one_long_token_does_not_blow_up_the_atomic_loader(tmp_path):
    """np.asarray(tokens, dtype=str) took rows x longest token x 4 bytes (here 40 GB)."""
    rows = [f"u{k % 5000}\ti{k % 97}" for k in range(100_000)] + ["x" * 100_000 + "\ti1"]
    path = tmp_path / "big.inter"
    path.write_text("user_id:token\titem_id:token\n" + "\n".join(rows) + "\n")
    with memory_cap():
        data = load_atomic_dataset(path)
    assert (data.num_users, data.num_items) == (5001, 97)
    assert data.user_tokens[-1] == "x" * 100_000


# ----------------------------------------------- defect 7: missing timestamps
LOO_FILE = ("user_id:token\titem_id:token\ttimestamp:float\n"
            "1\t10\t1\n1\t11\t\n1\t12\t2\n2\t10\t5\n")


def test_loo_refuses_an_empty_timestamp_naming_file_and_line(tmp_path):
    path = tmp_path / "toy.inter"
    path.write_text(LOO_FILE)
    with pytest.raises(DataFormatError, match=r"toy.inter:3: field 'timestamp' is empty") as info:
        load_atomic_dataset(path, split="loo")
    assert str(info.value).startswith(f"{path}:3:")
    with pytest.raises(DataFormatError, match=r"toy.inter:3: field 'timestamp' is empty"):
        load_atomic_sequences(path)              # the sequence loader: the same error
    assert load_atomic_dataset(path, split="random").num_interactions("train") >= 1


@pytest.mark.parametrize("kind, value, fragment", [
    ("float", "inf", "is inf"), ("token", "nan", "is empty"), ("token", "soon", "holds 'soon'")])
def test_loo_refuses_non_finite_or_non_numeric_times(tmp_path, kind, value, fragment):
    path = tmp_path / "toy.inter"
    path.write_text(LOO_FILE.replace("timestamp:float", f"timestamp:{kind}")
                    .replace("1\t11\t\n", f"\n1\t11\t{value}\n"))   # blank line 3: row on line 4
    with pytest.raises(DataFormatError, match=rf"toy.inter:4: field 'timestamp' {fragment}"):
        load_atomic_dataset(path, split="loo")


def test_loo_with_complete_timestamps_still_holds_out_the_latest(tmp_path):
    path = tmp_path / "toy.inter"
    path.write_text(LOO_FILE.replace("1\t11\t\n", "1\t11\t3\n"))
    data = load_atomic_dataset(path, split="loo")
    test = {data.user_tokens[u]: data.item_tokens[i] for u, i in data.test.T.tolist()}
    assert test == {"1": "11"}                  # the row with time 3 is user 1's latest


# ------------------------------------------------- defect 8: clear errors
def test_sequence_id_beyond_int64(tmp_path):
    path = tmp_path / "seqs.txt"
    path.write_text("u1 1 2\nu2 3 100000000000000000000\n")
    with pytest.raises(DataFormatError) as info:
        read_sequence_lines(path)
    assert str(info.value).startswith(f"{path}:2: item id '100000000000000000000' is too large")


def test_invalid_utf8_in_a_sequence_file(tmp_path):
    path = tmp_path / "seqs.txt"
    path.write_bytes(b"u1 1 2\nu\xff 3 4\n")
    with pytest.raises(DataFormatError) as info:
        read_sequence_lines(path)
    assert str(info.value).startswith(f"{path}:2: not valid UTF-8")


def test_invalid_utf8_in_user_list(tmp_path):
    folder = lightgcn_folder(tmp_path / "g", "0 1 2\n1 0\n", "0 0\n1 1\n")
    (folder / "user_list.txt").write_bytes(b"org_id remap_id\nalice 0\nb\xc3 1\n")
    with pytest.raises(DataFormatError) as info:
        load_lightgcn(folder)
    assert str(info.value).startswith(f"{folder / 'user_list.txt'}:3: not valid UTF-8")


def test_user_list_errors_name_the_line(tmp_path):
    folder = lightgcn_folder(tmp_path / "g", "0 1 2\n1 0\n", "0 0\n1 1\n")
    (folder / "user_list.txt").write_text("org_id remap_id\nalice 0\nbob 0\n")
    with pytest.raises(DataFormatError, match=r"user_list.txt:3: remap id 0 repeats"):
        load_lightgcn(folder)
    (folder / "user_list.txt").write_text("org_id remap_id\nalice 0\nbob \u00b2\n")  # '²'.isdigit()
    with pytest.raises(DataFormatError, match=r"user_list.txt:3: remap id '\u00b2' is not a"):
        load_lightgcn(folder)


def test_pickled_matrix_index_beyond_its_shape(tmp_path):
    mat = sp.coo_matrix((np.ones(2), (np.array([0, 5]), np.array([0, 1]))), shape=(10, 10))
    mat.row[1] = 50
    path = tmp_path / "tstMat.pkl"
    path.write_bytes(pickle.dumps(mat))
    with pytest.raises(DataFormatError) as info:
        read_pickled_matrix(path)
    assert str(info.value) == f"{path}: row index 50 is outside the matrix shape 10 x 10"


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_an_empty_matrix_pickled_with_an_old_protocol_loads(tmp_path, protocol):
    """Protocols 0-2 write an empty byte string as ``bytes()``."""
    path = tmp_path / "valMat.pkl"
    path.write_bytes(pickle.dumps(sp.coo_matrix((3, 4)), protocol=protocol))
    mat = read_pickled_matrix(path)
    assert mat.shape == (3, 4) and mat.nnz == 0


def test_pickled_csr_with_inconsistent_pointers(tmp_path):
    mat = sp.csr_matrix(np.eye(3))
    mat.indptr = np.array([0, 1, 5, 3], dtype=mat.indptr.dtype)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(mat))
    with pytest.raises(DataFormatError, match=r"m.pkl: csr_matrix index pointers do not run"):
        read_pickled_matrix(path)


def test_webkb_csv_with_a_byte_order_mark_keeps_its_url_column(shared_data, tmp_path):
    src = shared_data / "tag" / "cstag_webkb" / "Cornell" / "Cornell.csv"
    path = tmp_path / "Cornell.csv"
    path.write_bytes(b"\xef\xbb\xbf" + src.read_bytes())
    parsed = read_webkb_csv(path)
    assert parsed["urls"][0] == "http://cam.cornell.edu/ph/index.html"
    assert parsed["urls"] == read_webkb_csv(src)["urls"] and len(parsed["urls"]) == 191


def test_webkb_csv_with_invalid_utf8_or_a_short_row(shared_data, tmp_path):
    src = shared_data / "tag" / "cstag_webkb" / "Cornell" / "Cornell.csv"
    path = tmp_path / "Cornell.csv"
    raw = src.read_bytes()
    cut = raw.index(b"\n") + 1
    path.write_bytes(raw[:cut] + b"\xff" + raw[cut:])
    with pytest.raises(DataFormatError) as info:
        read_webkb_csv(path)
    assert str(info.value).startswith(f"{path}:2: not valid UTF-8")
    path.write_bytes(raw[:cut] + b"http://x,only two\n" + raw[cut:])
    with pytest.raises(DataFormatError, match=r"Cornell.csv:2: fewer fields than the 7 of the"):
        read_webkb_csv(path)


def test_webkb_csv_without_its_url_column_is_refused(shared_data, tmp_path):
    src = shared_data / "tag" / "cstag_webkb" / "Cornell" / "Cornell.csv"
    path = tmp_path / "Cornell.csv"
    path.write_bytes(b"\x00" + src.read_bytes()[1:])       # header 'url' -> '\x00rl'
    with pytest.raises(DataFormatError, match=r"Cornell.csv: missing column\(s\) url;"):
        read_webkb_csv(path)


def test_atomic_file_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "toy.inter"
    path.write_bytes("\ufeffuser_id:token\titem_id:token\n1\t10\n1\t11\n2\t10\n".encode())
    assert list(read_atomic(path)) == ["user_id", "item_id"]
    data = load_atomic_dataset(path, ratios=(1, 0, 1))
    assert (data.num_users, data.num_items) == (2, 2)


def test_lightgcn_and_sequence_files_with_a_byte_order_mark(tmp_path):
    (tmp_path / "train.txt").write_bytes(b"\xef\xbb\xbf0 1 2\n1 0\n")
    assert read_lightgcn_txt(tmp_path / "train.txt").tolist() == [[0, 0, 1], [1, 2, 0]]
    (tmp_path / "s.txt").write_bytes(b"\xef\xbb\xbfu1 1 2\n")
    assert read_sequence_lines(tmp_path / "s.txt").user_tokens == ["u1"]


def test_atomic_line_numbers_count_newlines_only(tmp_path):
    """str.splitlines() also split on \\x0c, \\x1c and U+2028 inside a title field."""
    path = tmp_path / "toy.item"
    path.write_text("item_id:token\ttitle:token\ttimestamp:float\n"
                    "1\tA\u2028B\t1\n2\tC\x0cD\tx\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"toy.item:3: field 'timestamp' is a float field "
                                              r"but holds 'x'"):
        read_atomic(path)


def test_empty_user_id_in_an_atomic_file(tmp_path):
    path = tmp_path / "toy.inter"
    path.write_text("user_id:token\titem_id:token\n1\t10\n\t11\n")
    with pytest.raises(DataFormatError, match=r"toy.inter:3: empty 'user_id'"):
        load_atomic_dataset(path)


# ------------------------------------------------------------ crafted pickles
def test_pickled_array_state_with_a_huge_shape_is_refused_before_allocating(tmp_path):
    arr = np.arange(3, dtype=np.int64)
    raw = pickle.dumps(sp.coo_matrix((arr.astype(float), (arr, arr))), protocol=2)
    path = tmp_path / "m.pkl"
    needle = b"K\x03\x85"                          # the (3,) shape tuples of the arrays
    assert needle in raw
    path.write_bytes(raw.replace(needle, b"\x8a\x06\x00\x00\x00\x00\x00\x01\x85", 1))  # 2**40
    message = refused(read_pickled_matrix, path)
    assert re.search(r"m.pkl: array of shape \(1099511627776,\) and dtype (int|float)\d+ needs "
                     r"\d{13} bytes, the pickle holds \d\d$", message), message


def test_a_call_of_a_sparse_class_in_a_pickle_is_refused(tmp_path):
    """csr_matrix((10**9, 10**9)) allocates an 8 GB index pointer."""
    payload = b"cscipy.sparse\ncsr_matrix\n((J\x00\xca\x9a;J\x00\xca\x9a;tt" b"R."
    path = tmp_path / "m.pkl"
    path.write_bytes(payload)
    assert "refused a call of csr_matrix" in refused(read_pickled_matrix, path)


def test_a_length_beyond_the_end_of_the_pickle_is_refused(tmp_path):
    path = tmp_path / "m.pkl"
    path.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 2 ** 40) + b"abc")
    message = refused(read_pickled_matrix, path)
    assert message.startswith(f"{path}: not a readable pickle")


def test_one_string_encoded_many_times_is_refused(tmp_path):
    """_codecs.encode(s, 'latin1') copies: 3000 references to a 1 MB string build 3 GB."""
    blob = "\x00" * (1 << 20)
    body = (b"\x80\x02c_codecs\nencode\nq\x00X" + struct.pack("<I", len(blob)) + blob.encode()
            + b"q\x01X\x06\x00\x00\x00latin1q\x02(" + b"h\x00h\x01h\x02\x86R" * 3000 + b"l.")
    path = tmp_path / "m.pkl"
    path.write_bytes(body)
    assert "builds more byte string data than the file holds" in refused(read_pickled_matrix,
                                                                         path)


def test_object_array_with_a_short_state_does_not_crash_the_interpreter(tmp_path):
    """numpy segfaults when an object array's pickled list is shorter than its shape."""
    path = tmp_path / "m.pkl"
    payload = pickle.dumps(np.array([1, 2], dtype=object), protocol=2)
    assert payload.count(b"K\x01K\x02\x85") == 1                 # state: version 1, shape (2,)
    payload = payload.replace(b"K\x01K\x02\x85", b"K\x01J\x00\xca\x9a;\x85")  # (10**9,)
    path.write_bytes(payload)
    code = textwrap.dedent(f"""
        from graphcl.data.formats import read_pickled_matrix
        from graphcl.data.interactions import DataFormatError
        try:
            read_pickled_matrix({str(path)!r})
        except DataFormatError as err:
            print("DataFormatError:", err)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert f"DataFormatError: {path}: refused array dtype dtype('O')" in done.stdout


# -------------------------------------------------------------- feature files
def test_npy_header_claiming_huge_shape_is_refused_without_allocating(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                               "shape": (10 ** 6, 10 ** 5)})
    path = tmp_path / "image_feat.npy"
    path.write_bytes(buf.getvalue() + b"\0" * 64)
    start = time.perf_counter()
    with memory_cap(), pytest.raises(FeatureFileError) as info:
        load_feature_file(path, 10 ** 6)
    assert time.perf_counter() - start < 5
    assert "truncated: shape (1000000, 100000) of float32 needs 400000000000 bytes, the file " \
           "holds 64" in str(info.value)


def test_legacy_torch_file_declaring_a_huge_storage_is_refused(tmp_path):
    path = tmp_path / "feat.pt"
    torch.save(torch.ones(4, 2), path, _use_new_zipfile_serialization=False)
    raw = path.read_bytes()
    assert b"cpuq\x04K\x08N" in raw                       # the storage's 8 elements
    path.write_bytes(raw.replace(b"cpuq\x04K\x08N", b"cpuq\x04J\xff\xff\xff\x7fN"))
    with memory_cap(), pytest.raises(FeatureFileError, match="not a torch.save zip archive"):
        load_feature_file(path, 4)
    zipped = tmp_path / "ok.pt"
    torch.save(torch.ones(4, 2), zipped)
    assert zipfile.is_zipfile(zipped) and load_feature_file(zipped, 4).shape == (4, 2)


# ----------------------------------------------------------- item text files
def test_item_text_csv_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "items.csv"
    path.write_bytes("\ufeffitem_id,text\n1,Red shoes\n2,Blue hat\n".encode())
    assert read_item_text_file(path) == {"1": "Red shoes", "2": "Blue hat"}


def test_item_text_jsonl_nested_too_deeply(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"item": 1, "text": "a"}\n' + "[" * 100_000 + "\n")
    with pytest.raises(DataFormatError, match=r"items.jsonl:2: not usable JSON \(RecursionError"):
        read_item_text_file(path)
