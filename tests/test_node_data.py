"""Node datasets by name (graphcl.data.nodes) and their dispatch from graphcl.data.named."""
from __future__ import annotations

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


def _snapshot(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_cora_from_read_only_shared_root(shared_data, cache):
    if (shared_data / "pyg" / "Planetoid" / "Cora" / "processed").exists():
        pytest.skip("the shared root holds a foreign processed/ folder (issue 18: rebuild-from-raw rule pending)")
    before = _snapshot(shared_data / "pyg")
    data = load_node_dataset("cora", root=shared_data)
    assert (data.num_nodes, data.edge_index.shape[1], data.x.shape[1], data.num_classes) == \
        (2708, 10556, 1433, 7)
    assert [int(m.sum()) for m in (data.train_mask, data.val_mask, data.test_mask)] == \
        [140, 500, 1000]
    assert _snapshot(shared_data / "pyg") == before  # nothing written beside raw/
    processed = list(cache.rglob("processed/data.pt"))
    assert len(processed) == 1 and not list(cache.rglob(".build-*"))
    again = load("cora", root=shared_data)  # through graphcl.data.named.load
    assert torch.equal(again.x, data.x) and torch.equal(again.edge_index, data.edge_index)
    assert list(cache.rglob("processed/data.pt")) == processed


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
