"""No code runs from a data file: HeCo nei_*.npy, Planetoid raw and processed files,
and the RecBole full-pickle window (issue 18, defects 1 and 2, RecBole torch.load)."""
from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from numpy.lib import format as npy_format

from graphcl.data import load
from graphcl.data.interactions import DataFormatError
from graphcl.data.safe_pickle import MAX_DENSE_ELEMENTS, read_npy
from graphcl.interop.recbole_compat import (UntrustedCheckpointError, recbole_scope,
                                            recording_torch_saves, torch_load_full_pickle)

ACM = ("hetero", "heco", "acm")
CORA = ("pyg", "Planetoid", "Cora", "raw")


class ShellPayload:
    """Unpickling calls ``os.system("touch <marker>")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class ExecPayload:
    """Unpickling calls ``builtins.exec`` writing the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


class CopyPayload:
    """Unpickling calls ``shutil.copyfile`` (a module torch's weights_only does not block)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (shutil.copyfile, (__file__, str(self.marker)))


PAYLOADS = {"os.system": (ShellPayload, f"{os.system.__module__}.system"),
            "builtins.exec": (ExecPayload, "builtins.exec")}


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("GRAPHCL_CACHE", str(folder))
    return folder


# ------------------------------------------------------------------- HeCo
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_heco_nei_payload_is_refused_and_never_runs(shared_data, tmp_path, payload):
    folder = tmp_path / "acm"
    shutil.copytree(shared_data.joinpath(*ACM), folder)
    marker = tmp_path / "MARKER"
    cls, refused = PAYLOADS[payload]
    genuine = np.load(shared_data.joinpath(*ACM, "nei_a.npy"), allow_pickle=True)  # trusted copy
    crafted = genuine.copy()
    crafted[3] = cls(marker)
    np.save(folder / "nei_a.npy", crafted, allow_pickle=True)
    with pytest.raises(DataFormatError) as info:
        load("acm", root=tmp_path)
    assert not marker.exists()  # the payload did not run
    assert str(folder / "nei_a.npy") in str(info.value)
    assert f"refused to unpickle global '{refused}'" in str(info.value)


def test_heco_real_acm_neighbours_load_identically(shared_data):
    path = shared_data.joinpath(*ACM, "nei_a.npy")
    ours = read_npy(path)
    trusted = np.load(path, allow_pickle=True)  # the genuine shared file only
    assert ours.dtype == object and ours.shape == trusted.shape == (4019,)
    assert all(type(a) is np.ndarray and a.dtype == b.dtype and np.array_equal(a, b)
               for a, b in zip(ours, trusted))
    data = load("acm", root=shared_data)
    rows = np.repeat(np.arange(4019), [len(a) for a in trusted])
    expected = np.unique(np.vstack([rows, np.concatenate(trusted)]), axis=1)
    assert np.array_equal(data["paper", "pa", "author"].edge_index.numpy(), expected)
    assert data["paper", "pa", "author"].edge_index.shape == (2, 13407)


def _object_npy(path: Path, payload: bytes, shape=(2,)) -> Path:
    with path.open("wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": shape})
        f.write(payload)
    return path


@pytest.mark.parametrize("payload, message", [
    # numpy.ndarray called directly: would allocate any shape
    (b"\x80\x02cnumpy\nndarray\n(J\x00\xca\x9a;\x85X\x01\x00\x00\x00OtR.", "not callable"),
    # _reconstruct with a shape other than numpy's (0,)
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\xca\x9a;\x85C\x01b\x87R.",
     "refused _reconstruct"),
    # a float element array
    (pickle.dumps(np.array([np.zeros(2), np.zeros(1)], dtype=object), protocol=3), "refused dtype 'f8'"),
    # an array whose state claims more elements than its bytes hold
    (pickle.dumps(np.array([np.arange(2), np.arange(3)], dtype=object), protocol=3)
     .replace(b"K\x03\x85", b"J\x00\xca\x9a;\x85"), "needs 8000000000 bytes"),
])
def test_npy_refuses_crafted_numpy_calls(tmp_path, payload, message):
    path = _object_npy(tmp_path / "nei_x.npy", payload)
    with pytest.raises(DataFormatError, match=message) as info:
        read_npy(path)
    assert str(path) in str(info.value)


def _nested() -> np.ndarray:
    inner = np.empty(1, dtype=object)
    inner[0] = np.arange(2)
    outer = np.empty(2, dtype=object)
    outer[:] = [inner, np.arange(1)]
    return outer


def test_npy_refuses_object_arrays_nested_in_object_arrays(tmp_path):
    path = tmp_path / "nei_a.npy"
    np.save(path, _nested(), allow_pickle=True)
    with pytest.raises(DataFormatError, match="nei_a.npy: refused object array nested"):
        read_npy(path)


def test_ragged_or_foreign_neighbour_entries_are_clear_errors(tmp_path):
    from graphcl.data.heco_files import read_schema_neighbours
    entries = np.empty(3, dtype=object)
    entries[:] = [np.array([0, 4]), [[1, 2], [3]], np.array([1])]  # entry 1: a ragged list
    np.save(tmp_path / "nei_a.npy", entries, allow_pickle=True)
    with pytest.raises(DataFormatError, match=r"nei_a.npy: entry 1 is not a 1-D integer array"):
        read_schema_neighbours(tmp_path, "a", 3, 5)
    entries[1] = [2, 3]  # a plain list of ints is a neighbour list too
    np.save(tmp_path / "nei_a.npy", entries, allow_pickle=True)
    assert read_schema_neighbours(tmp_path, "a", 3, 5).tolist() == [[0, 0, 1, 1, 2], [0, 4, 2, 3, 1]]


def test_npy_header_larger_than_data_is_refused(tmp_path):
    path = tmp_path / "labels.npy"
    with path.open("wb") as f:  # a header announcing 10^10 int64 entries, then 4 of them
        npy_format.write_array_header_1_0(f, {"descr": "<i8", "fortran_order": False,
                                              "shape": (10 ** 10,)})
        f.write(np.arange(4, dtype=np.int64).tobytes())
    with pytest.raises(DataFormatError, match="truncated.*needs 80000000000 bytes.*holds 32") as info:
        read_npy(path)
    assert str(path) in str(info.value)


# -------------------------------------------------------------- Planetoid
def _cora_root(shared_data: Path, root: Path) -> Path:
    raw = root / "Planetoid" / "Cora" / "raw"
    shutil.copytree(shared_data.joinpath(*CORA), raw)
    return raw


@pytest.mark.parametrize("name, payload", [("x", "os.system"), ("graph", "builtins.exec")])
def test_planetoid_raw_payload_is_refused_and_never_runs(shared_data, tmp_path, cache, name, payload):
    raw = _cora_root(shared_data, tmp_path / "root")
    marker = tmp_path / "MARKER"
    cls, refused = PAYLOADS[payload]
    (raw / f"ind.cora.{name}").write_bytes(pickle.dumps(cls(marker), protocol=2, fix_imports=False))
    with pytest.raises(DataFormatError) as info:
        load("cora", root=tmp_path / "root")
    assert not marker.exists()  # the payload did not run
    assert f"ind.cora.{name}: refused to unpickle global '{refused}'" in str(info.value)
    assert str(raw) in str(info.value)
    assert sorted(p.name for p in raw.parent.iterdir()) == ["raw"]  # nothing half-built


def test_planetoid_real_cora_loads_as_pyg_reads_it(shared_data, tmp_path, cache):
    from torch_geometric.datasets import Planetoid
    _cora_root(shared_data, tmp_path / "root")
    data = load("cora", root=tmp_path / "root")
    assert (data.num_nodes, data.edge_index.shape[1], data.x.shape[1], data.num_classes) == \
        (2708, 10556, 1433, 7)
    reference = tmp_path / "reference"
    shutil.copytree(shared_data.joinpath(*CORA), reference / "Cora" / "raw")
    pyg = Planetoid(str(reference), "Cora")[0]  # PyG on a trusted copy of the genuine files
    for key in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(data[key], pyg[key]), key
    check = json.loads((tmp_path / "root" / "Planetoid" / "Cora" / "processed" / "raw_check.json")
                       .read_text())
    assert {v["check"] for v in check["raw"].values()} == {"published sha256"} and len(check["raw"]) == 8


def test_planetoid_unknown_but_clean_bytes_load(shared_data, tmp_path, cache):
    raw = _cora_root(shared_data, tmp_path / "root")
    with (shared_data.joinpath(*CORA, "ind.cora.graph")).open("rb") as f:
        graph = pickle.load(f, encoding="latin1")  # the genuine file, re-pickled below
    (raw / "ind.cora.graph").write_bytes(pickle.dumps(graph, protocol=2))
    data = load("cora", root=tmp_path / "root")
    assert data.edge_index.shape == (2, 10556)
    check = json.loads((raw.parent / "processed" / "raw_check.json").read_text())
    assert check["raw"]["ind.cora.graph"]["check"] == "checked"
    assert check["raw"]["ind.cora.x"]["check"] == "published sha256"


def _dump(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


@pytest.mark.parametrize("name, content, message", [
    ("graph", lambda g: _dump({**g, 5: [10 ** 12]}), "node id 1000000000000 is out of range"),
    ("test.index", lambda _: "".join(f"{1708 + i}\n" for i in range(999)).encode() + b"10000000000\n",
     "out of range for 2708 nodes"),
    ("test.index", lambda _: b"1708\n1708\n", r"test.index:2: test id 1708 repeats line 1"),
    ("test.index", lambda _: b"1708\n\n1709\n", r"test.index:2: blank line"),
    ("test.index", lambda _: b"1708\n1709", r"test.index:2: the last line has no line end"),
    ("test.index", lambda _: b"1708\nseven\n", r"test.index:2: 'seven'"),
    ("x", lambda _: _dump(sp.csr_matrix((140, MAX_DENSE_ELEMENTS), dtype=np.float32)),
     "dense entries"),
    ("y", lambda _: _dump(np.eye(7, dtype=np.int32)[[0, 1, 2]]), "3 rows, but ind.cora.x has 140"),
    ("y", lambda _: _dump(np.zeros((140, 7), dtype=np.int32)), r"ind.cora.y: row 0 is not a one-hot label"),
    ("y", lambda _: _dump(np.full((140, 7), np.nan)), r"row 0 is not a one-hot label.*140 such row"),
    ("ally", lambda _: _dump(np.eye(7)[np.r_[np.zeros(1707, int), [1]]] * 2),
     r"ind.cora.ally: row 0 is not a one-hot label"),
    ("ally", lambda _: _dump(np.array(["a"] * 1708)), "refused dtype 'U1'"),
])
def test_planetoid_malformed_content_is_a_clear_error(shared_data, tmp_path, cache, name, content,
                                                      message):
    raw = _cora_root(shared_data, tmp_path / "root")
    with (shared_data.joinpath(*CORA, "ind.cora.graph")).open("rb") as f:
        graph = dict(pickle.load(f, encoding="latin1"))
    (raw / f"ind.cora.{name}").write_bytes(content(graph))
    with pytest.raises(DataFormatError, match=message) as info:
        load("cora", root=tmp_path / "root")
    assert str(raw / "ind.cora.") in str(info.value)


@pytest.mark.parametrize("hostile", ["data.pt", "pre_transform.pt"])
def test_hostile_processed_file_cannot_run_code(shared_data, tmp_path, cache, hostile):
    _cora_root(shared_data, tmp_path / "root")
    genuine = load("cora", root=tmp_path / "root")
    processed = tmp_path / "root" / "Planetoid" / "Cora" / "processed"
    marker = tmp_path / "MARKER"
    torch.save(CopyPayload(marker), processed / hostile)
    # data.pt no longer has the sha256 graphcl recorded: the folder is foreign, left as it is, and
    # the dataset is rebuilt from the raw files in the cache; pre_transform.pt is never read
    assert torch.equal(load("cora", root=tmp_path / "root").x, genuine.x)
    assert not marker.exists()
    from graphcl.data.interactions import DataFormatError as Refused
    from graphcl.data.nodes import NODE_DATASETS, read_processed
    if hostile == "data.pt":  # and read directly, it is refused by name, before torch.load
        with pytest.raises(Refused, match="its sha256 differs") as info:
            read_processed(NODE_DATASETS["cora"], processed.parent)
        assert str(processed / "data.pt") in str(info.value) and f"delete {processed}" in str(info.value)
    assert not marker.exists()


def test_planetoid_download_is_checked_before_pyg_reads_it(shared_data, tmp_path, cache, monkeypatch):
    from torch_geometric.io import fs as pyg_fs
    marker = tmp_path / "MARKER"
    served = {}

    def fake_cp(url: str, folder: str) -> None:  # the network, serving a hostile ind.cora.y
        name = url.rsplit("/", 1)[1]
        served[name] = url
        target = Path(folder) / name
        if name == "ind.cora.y":
            target.write_bytes(pickle.dumps(ShellPayload(marker), protocol=2))
        else:
            shutil.copy(shared_data.joinpath(*CORA, name), target)
    monkeypatch.setattr(pyg_fs, "cp", fake_cp)
    with pytest.raises(DataFormatError, match="ind.cora.y: refused to unpickle global"):
        load("cora", root=tmp_path / "root", download=True)
    assert not marker.exists() and len(served) == 8
    assert served["ind.cora.x"] == "https://github.com/kimiyoung/planetoid/raw/master/data/ind.cora.x"
    assert not (tmp_path / "root" / "pyg" / "Planetoid" / "Cora" / "raw").exists()


# ---------------------------------------------------------------- RecBole
class Config:
    """Stands for RecBole's pickled Config: weights_only=True refuses it."""

    def __init__(self, value: int) -> None:
        self.value = value


def test_recbole_full_pickle_only_for_checkpoints_saved_in_scope(tmp_path):
    load_before, save_before = torch.load, torch.save
    own, other = tmp_path / "saved" / "model.pth", tmp_path / "other.pth"
    own.parent.mkdir()
    marker = tmp_path / "MARKER"
    torch.save({"config": Config(7)}, other)
    torch.save(CopyPayload(marker), tmp_path / "hostile.pth")
    with recbole_scope():  # where RecBole's Trainer.fit runs and saves its checkpoint
        torch.save({"config": Config(3), "state_dict": {"w": torch.ones(2)}}, own)
    with recbole_scope(full_pickle_load=True):
        assert torch.load(own)["config"].value == 3  # full pickle for our own checkpoint
        with pytest.raises(pickle.UnpicklingError, match="Config"):
            torch.load(other)  # another file stays weights_only
        with pytest.raises(pickle.UnpicklingError):
            torch.load(tmp_path / "hostile.pth")
        with pytest.raises(pickle.UnpicklingError):
            torch.load(io.BytesIO(own.read_bytes()))  # a file object is never trusted
        with pytest.raises(pickle.UnpicklingError):
            torch.load(own, weights_only=True)  # an explicit weights_only is respected
        assert not marker.exists()
    assert torch.load is load_before and torch.save is save_before
    with pytest.raises(pickle.UnpicklingError):
        torch.load(own)  # outside the scope: torch's default again
    own.write_bytes(other.read_bytes())  # replaced after it was saved
    with recbole_scope(full_pickle_load=True), pytest.raises(UntrustedCheckpointError, match="changed"):
        torch.load(own)


def test_explicit_trusted_files_and_recording(tmp_path):
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    with recording_torch_saves({}) as saved:
        torch.save(Config(1), a)
        torch.save(Config(2), io.BytesIO())  # not a path: not recorded
    assert list(saved) == [os.path.realpath(a)] and len(saved[os.path.realpath(a)]) == 64
    torch.save(Config(2), b)
    with torch_load_full_pickle(saved):
        assert torch.load(a).value == 1
        with pytest.raises(pickle.UnpicklingError):
            torch.load(b)
    with torch_load_full_pickle([b]):  # paths the caller vouches for
        assert torch.load(b).value == 2
        with pytest.raises(pickle.UnpicklingError):
            torch.load(a)
