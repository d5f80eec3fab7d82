"""Node datasets by name (graphcl.data.nodes) and their dispatch from graphcl.data.named."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from graphcl.data import named, nodes
from graphcl.data.named import DatasetNotFoundError, describe_datasets, load
from graphcl.data.nodes import NODE_DATASETS, load_node_dataset


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("GRAPHCL_CACHE", str(folder))
    return folder


CORA_RAW = ("pyg", "Planetoid", "Cora", "raw")


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _pyg_processed(shared_data: Path, work: Path, name: str) -> Path:
    """A ``processed/`` folder made by PyG itself (no graphcl record) from the shared raw files."""
    from torch_geometric.datasets import Planetoid
    shutil.copytree(shared_data / "pyg" / "Planetoid" / name / "raw", work / name / "raw")
    Planetoid(str(work), name)
    return work / name / "processed"


def _set_read_only(folder: Path, read_only: bool) -> None:
    for p in [folder, *folder.rglob("*")]:
        if p.is_dir():
            p.chmod(0o555 if read_only else 0o755)
        else:
            p.chmod(0o444 if read_only else 0o644)


@pytest.fixture(params=["shared root as is", "read-only copy", "read-only copy with PyG's processed/"])
def read_only_root(request, shared_data, tmp_path):
    """The shared root itself (with or without a foreign processed/, whatever this machine
    holds), and read-only copies of its Cora without and with PyG's own processed/."""
    if request.param == "shared root as is":
        yield shared_data
        return
    root = tmp_path / "ro"
    shutil.copytree(shared_data.joinpath(*CORA_RAW), root.joinpath(*CORA_RAW))
    if request.param.endswith("processed/"):
        shutil.copytree(_pyg_processed(shared_data, tmp_path / "pyg-work", "Cora"),
                        root / "pyg" / "Planetoid" / "Cora" / "processed")
    _set_read_only(root, True)
    yield root
    _set_read_only(root, False)


def test_cora_from_read_only_shared_root(read_only_root, cache):
    before = _contents(read_only_root / "pyg" / "Planetoid" / "Cora")
    data = load_node_dataset("cora", root=read_only_root)
    assert (data.num_nodes, data.edge_index.shape[1], data.x.shape[1], data.num_classes) == \
        (2708, 10556, 1433, 7)
    assert [int(m.sum()) for m in (data.train_mask, data.val_mask, data.test_mask)] == \
        [140, 500, 1000]
    # nothing written beside raw/, a foreign processed/ left as it was
    assert _contents(read_only_root / "pyg" / "Planetoid" / "Cora") == before
    processed = list(cache.rglob("processed/data.pt"))
    assert len(processed) == 1 and not list(cache.rglob(".build-*"))
    record = json.loads((processed[0].parent / nodes.RAW_CHECK_FILE).read_text())
    assert record["processed"]["data.pt"] == hashlib.sha256(processed[0].read_bytes()).hexdigest()
    assert record["raw"]["ind.cora.x"]["sha256"] == hashlib.sha256(
        (read_only_root.joinpath(*CORA_RAW) / "ind.cora.x").read_bytes()).hexdigest()
    built = processed[0].stat().st_mtime_ns
    again = load("cora", root=read_only_root)  # through graphcl.data.named.load
    assert torch.equal(again.x, data.x) and torch.equal(again.edge_index, data.edge_index)
    assert list(cache.rglob("processed/data.pt")) == processed
    assert processed[0].stat().st_mtime_ns == built  # the cached build is reused, not rebuilt


def _edit_data_pt(processed: Path) -> None:
    """Change one feature of a graphcl-written processed/data.pt, in PyG's format."""
    data, slices, cls = torch.load(processed / "data.pt", weights_only=True)
    data["x"][0, 0] += 1
    torch.save((data, slices, cls), processed / "data.pt")


def _drop_first_edge(raw: Path) -> None:
    with (raw / "ind.cora.graph").open("rb") as f:
        graph = dict(pickle.load(f, encoding="latin1"))  # the genuine file (a test copy)
    other = graph[0][0]
    graph[0] = [v for v in graph[0] if v != other]
    graph[other] = [v for v in graph[other] if v != 0]
    (raw / "ind.cora.graph").write_bytes(pickle.dumps(graph, protocol=2))


@pytest.mark.parametrize("foreign", ["PyG-processed CiteSeer", "edited data.pt", "raw file changed",
                                     "graphcl record copied to other raw"])
def test_processed_not_matching_raw_is_not_used(shared_data, tmp_path, cache, foreign):
    folder = tmp_path / "root" / "pyg" / "Planetoid" / "Cora"
    shutil.copytree(shared_data.joinpath(*CORA_RAW), folder / "raw")
    if foreign == "PyG-processed CiteSeer":  # PyG's processed/ of other raw files, no record
        shutil.copytree(_pyg_processed(shared_data, tmp_path / "pyg-work", "CiteSeer"),
                        folder / "processed")
    else:
        assert load_node_dataset("cora", root=tmp_path / "root").num_nodes == 2708  # graphcl's build
        assert not cache.exists()
        if foreign == "edited data.pt":
            _edit_data_pt(folder / "processed")
        elif foreign == "raw file changed":
            _drop_first_edge(folder / "raw")
        else:  # data.pt and record of a build from other raw files, beside the genuine raw
            other = tmp_path / "other" / "pyg" / "Planetoid" / "Cora"
            shutil.copytree(shared_data.joinpath(*CORA_RAW), other / "raw")
            _drop_first_edge(other / "raw")
            load_node_dataset("cora", root=tmp_path / "other")
            shutil.rmtree(folder / "processed")
            shutil.copytree(other / "processed", folder / "processed")
    before = _contents(folder / "processed")
    data = load_node_dataset("cora", root=tmp_path / "root")
    reference_root = tmp_path / "reference"
    shutil.copytree(folder / "raw", reference_root.joinpath(*CORA_RAW))  # the raw files as they are now
    reference = load_node_dataset("cora", root=reference_root)
    for key in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(data[key], reference[key]), key
    assert data.num_nodes == 2708
    assert data.edge_index.shape[1] == (10554 if foreign == "raw file changed" else 10556)
    assert _contents(folder / "processed") == before  # the foreign processed/ left untouched
    assert len(list(cache.rglob("processed/data.pt"))) == 1  # rebuilt into graphcl's cache
    again = load_node_dataset("cora", root=tmp_path / "root")  # the cached build now matches
    assert torch.equal(again.x, reference.x) and len(list(cache.rglob("processed/data.pt"))) == 1


def test_stale_cache_build_is_replaced(shared_data, tmp_path, cache):
    """A cached build whose record no longer matches the source's raw files (changed with
    the same size and mtime, so the same cache folder) is rebuilt."""
    root = tmp_path / "ro"
    raw = root.joinpath(*CORA_RAW)
    shutil.copytree(shared_data.joinpath(*CORA_RAW), raw)
    _set_read_only(root, True)
    try:
        first = load_node_dataset("cora", root=root)
        _set_read_only(root, False)
        graph = raw / "ind.cora.graph"
        stat = graph.stat()
        content = bytearray(graph.read_bytes())
        with graph.open("rb") as f:
            genuine = dict(pickle.load(f, encoding="latin1"))
        _drop_first_edge(raw)
        new = graph.read_bytes()
        graph.write_bytes(new + b"." * (len(content) - len(new)))  # pickle ignores trailing bytes
        assert graph.stat().st_size == stat.st_size and len(genuine) == 2708
        os.utime(graph, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        _set_read_only(root, True)
        second = load_node_dataset("cora", root=root)
    finally:
        _set_read_only(root, False)
    assert first.edge_index.shape[1] == 10556 and second.edge_index.shape[1] == 10554
    assert len(list(cache.rglob("processed/data.pt"))) == 1


def test_citeseer_via_env_root(shared_data, cache, monkeypatch):
    monkeypatch.setenv("GRAPHCL_DATA", str(shared_data))
    data = load("citeseer")
    assert (data.num_nodes, data.edge_index.shape[1], data.x.shape[1], data.num_classes) == \
        (3327, 9104, 3703, 6)
    assert [int(m.sum()) for m in (data.train_mask, data.val_mask, data.test_mask)] == \
        [120, 500, 1000]
    assert not torch.isnan(data.x).any()


def test_writable_root_processes_in_place(shared_data, tmp_path, cache):
    root = tmp_path / "root"
    shutil.copytree(shared_data / "pyg" / "Planetoid" / "Cora" / "raw",
                    root / "Planetoid" / "Cora" / "raw")  # the <root>/<Class>/<Name> layout
    data = load_node_dataset("cora", root=root)
    assert data.num_nodes == 2708
    assert (root / "Planetoid" / "Cora" / "processed" / "data.pt").is_file()
    assert not list((root / "Planetoid" / "Cora").glob(".build-*"))
    assert not cache.exists()


def test_killed_processing_leaves_no_partial_folder(shared_data, tmp_path, cache, monkeypatch):
    root = tmp_path / "root"
    shutil.copytree(shared_data / "pyg" / "Planetoid" / "Cora" / "raw",
                    root / "pyg" / "Planetoid" / "Cora" / "raw")
    real = nodes._make_pyg

    def crash(spec, folder):
        (folder / "processed").mkdir(parents=True)
        (folder / "processed" / "data.pt").write_bytes(b"half")
        raise KeyboardInterrupt
    monkeypatch.setattr(nodes, "_make_pyg", crash)
    with pytest.raises(KeyboardInterrupt):
        load_node_dataset("cora", root=root)
    dataset_dir = root / "pyg" / "Planetoid" / "Cora"
    assert sorted(p.name for p in dataset_dir.iterdir()) == ["raw"]
    monkeypatch.setattr(nodes, "_make_pyg", real)
    assert load_node_dataset("cora", root=root).num_nodes == 2708


def test_missing_dataset_error(tmp_path, cache):
    with pytest.raises(FileNotFoundError) as info:
        load_node_dataset("amazon-photo", root=tmp_path)
    msg = str(info.value)
    assert "amazon_electronics_photo.npz" in msg and "download=True" in msg
    assert str(tmp_path / "pyg" / "Amazon" / "Photo" / "raw") in msg
    assert str(tmp_path / "Amazon" / "Photo" / "raw") in msg
    with pytest.raises(FileNotFoundError, match="ind.pubmed.allx"):
        load("pubmed", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="data.json"):
        load("wikics", root=tmp_path)
    with pytest.raises(ValueError, match="valid options"):
        load("cora", root=tmp_path, split="random")


def test_unknown_name_lists_node_datasets():
    with pytest.raises(DatasetNotFoundError) as info:
        load_node_dataset("cora2")
    for name in NODE_DATASETS:
        assert name in str(info.value)
    with pytest.raises(DatasetNotFoundError) as info:
        load("no-such-dataset")
    assert "coauthor-cs" in str(info.value) and "gowalla" in str(info.value)


def test_describe_includes_node_datasets(shared_data, tmp_path):
    listing = {d["name"]: d for d in describe_datasets(shared_data)}
    assert listing["cora"]["found"] and listing["citeseer"]["found"]
    assert Path(listing["cora"]["path"]) == shared_data / "pyg" / "Planetoid" / "Cora"
    assert not listing["pubmed"]["found"] and "ind.pubmed.allx" in listing["pubmed"]["reason"]
    assert listing["gowalla"]["kind"] == "recommendation" and listing["cora"]["kind"] == "node"
    empty = {d["name"]: d for d in describe_datasets(tmp_path)}
    assert not empty["wikics"]["found"] and "data.json" in empty["wikics"]["reason"]


def test_nan_features_rejected():
    from torch_geometric.data import Data
    x = torch.ones(4, 2)
    x[2, 0] = float("nan")
    data = Data(x=x, y=torch.zeros(4, dtype=torch.long), edge_index=torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match="NaN"):
        nodes._validate(NODE_DATASETS["cora"], data)


def test_named_download_dispatch(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(nodes, "prepare_node_dataset",
                        lambda name, root, download: seen.update(n=name, d=download) or tmp_path)
    assert named.download("coauthor-cs", tmp_path) == tmp_path and seen == {"n": "coauthor-cs",
                                                                            "d": True}
