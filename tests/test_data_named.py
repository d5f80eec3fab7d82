"""Named datasets (graphcl.data.named): root resolution, manifest, download, load."""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from graphcl.data import named
from graphcl.data.interactions import DataFormatError
from graphcl.data.named import (MANIFEST, DatasetNotFoundError, DownloadError, MissingDataError,
                                describe_datasets, download, load, load_atomic_dataset,
                                resolve_data_root)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()



# ------------------------------------------------------------- data root
def test_resolve_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHCL_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root() == tmp_path / "env"
    monkeypatch.delenv("GRAPHCL_DATA")
    repo = Path(named.__file__).resolve().parents[2]
    expected = repo / "datasets" if (repo / "datasets").is_dir() else Path.cwd() / "datasets"
    assert resolve_data_root() == expected


# ----------------------------------------------------------- error paths
def test_unknown_name_lists_valid_names():
    with pytest.raises(DatasetNotFoundError) as info:
        load("no-such-dataset")
    assert isinstance(info.value, KeyError)
    for name in ("gowalla", "yelp", "lastfm", "lastfm-hetrec", "ml-100k"):
        assert name in str(info.value)


def test_missing_dataset_in_empty_root(tmp_path, monkeypatch):
    with pytest.raises(MissingDataError) as info:
        load("gowalla", root=tmp_path)
    msg = str(info.value)
    assert "train.txt" in msg and "test.txt" in msg
    assert str(tmp_path / "gowalla") in msg and str(tmp_path / "graphcf/lightgcn/gowalla") in msg
    assert ("https://raw.githubusercontent.com/kuandeng/LightGCN/"
            "b067ec05f16a24e0e1efe63cd82385f0c469af20/Data/gowalla/train.txt") in msg
    assert "graphcl.data.download('gowalla'" in msg
    monkeypatch.setenv("GRAPHCL_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="trnMat.pkl"):
        load("yelp")
    listing = {d["name"]: d for d in describe_datasets()}
    assert not listing["yelp"]["found"] and "trnMat.pkl" in listing["yelp"]["reason"]


def test_unknown_option_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="valid options: cold_users, seed, valid_ratio"):
        load("gowalla", root=tmp_path, valid_ration=0.2)


# -------------------------------------------------------------- download
def _toy_spec(tmp_path, payload: bytes, digest: str):
    src = tmp_path / "src" / "train.txt"
    src.parent.mkdir()
    src.write_bytes(payload)
    files = (named.RemoteFile("train.txt", src.as_uri(), digest),
             named.RemoteFile("test.txt", src.as_uri(), digest))
    return replace(MANIFEST["gowalla"], name="toy", folders=("toy",), files=files)


def test_download_verifies_and_replaces_atomically(tmp_path, monkeypatch):
    payload = b"0 0 1 2\n1 1 2\n2 0 2\n"
    monkeypatch.setitem(MANIFEST, "toy", _toy_spec(tmp_path, payload,
                                                   hashlib.sha256(payload).hexdigest()))
    root = tmp_path / "root"
    folder = download("toy", root)
    assert folder == root / "toy" and (folder / "train.txt").read_bytes() == payload
    assert sorted(p.name for p in folder.iterdir()) == ["test.txt", "train.txt"]
    ds = load("toy", root=root, valid_ratio=0.0)
    assert ds.num_users == 3 and ds.num_items == 3 and ds.num_interactions("valid") == 0


def test_download_sha_mismatch_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(MANIFEST, "toy", _toy_spec(tmp_path, b"0 1\n", "0" * 64))
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match="sha256"):
        download("toy", root)
    assert list((root / "toy").iterdir()) == []
    with pytest.raises(MissingDataError):
        load("toy", root=root)
    with pytest.raises(DownloadError):
        load("toy", root=root, download=True)


def test_download_unreachable_url_leaves_nothing(tmp_path, monkeypatch):
    spec = _toy_spec(tmp_path, b"0 1\n", "0" * 64)
    broken = tuple(replace(f, url=(tmp_path / "gone.txt").as_uri()) for f in spec.files)
    monkeypatch.setitem(MANIFEST, "toy", replace(spec, files=broken))
    with pytest.raises(DownloadError, match="could not download"):
        download("toy", tmp_path / "root")
    assert list((tmp_path / "root" / "toy").iterdir()) == []


# ------------------------------------------------------- atomic datasets
def _write_atomic(folder: Path, with_time: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    header = "user_id:token\titem_id:token\trating:float" + ("\ttimestamp:float" if with_time else "")
    rows = []
    rng = np.random.default_rng(0)
    for u in range(6):
        for k, i in enumerate(rng.choice(8, size=5, replace=False)):
            rows.append(f"u{u}\ti{i}\t{1 + (u + k) % 5}" + (f"\t{100 * u + k}" if with_time else ""))
    (folder / f"{folder.name}.inter").write_text(header + "\n" + "\n".join(rows) + "\n")
    (folder / f"{folder.name}.item").write_text(
        "item_id:token\ttitle:token_seq\tyear:float\n" + "".join(f"i{i}\tT {i}\t{1990 + i}\n"
                                                                for i in range(7)))
    return folder


def test_load_atomic_dataset_random_and_loo(tmp_path):
    folder = _write_atomic(tmp_path / "toy")
    ds = load(folder, ratios=(0.6, 0.2, 0.2), seed=1)
    assert ds.name == "toy" and ds.num_users == 6
    assert ds.num_interactions("train") + ds.num_interactions("valid") + ds.num_interactions("test") == 30
    assert ds.user_tokens == [f"u{u}" for u in range(6)]
    titles = ds.item_table["title"]
    for dense, token in enumerate(ds.item_tokens):
        k = int(token[1:])
        assert (titles[dense] == ["T", str(k)]) if k < 7 else titles[dense] is None
    loo = load_atomic_dataset(folder / "toy.inter", split="loo")
    assert loo.num_interactions("test") == 6 and loo.num_interactions("valid") == 6
    rows = [line.split("\t") for line in (folder / "toy.inter").read_text().splitlines()[1:]]
    by_time = {(u, it): float(t) for u, it, _, t in rows}  # timestamps 100u + k
    for split, k in (("test", 4), ("valid", 3)):
        got = {(loo.user_tokens[u], loo.item_tokens[i]) for u, i in getattr(loo, split).T.tolist()}
        assert {key for key, t in by_time.items() if t % 100 == k} == got
    kept = load(folder, rating_threshold=4)
    assert kept.num_interactions("train") + kept.num_interactions("valid") + \
        kept.num_interactions("test") == 12


def test_load_atomic_dataset_errors(tmp_path):
    folder = _write_atomic(tmp_path / "notime", with_time=False)
    with pytest.raises(DataFormatError, match="needs a 'timestamp' column"):
        load(folder, split="loo")
    with pytest.raises(ValueError, match="valid options"):
        load(folder, min_user_interactions=5)
    with pytest.raises(ValueError, match="split must be"):
        load(folder, split="temporal")


# --------------------------------------------------------------- real data
def test_shared_files_match_manifest(shared_data):
    checked = 0
    for spec in MANIFEST.values():
        folder = named.RECOMMENDATION_FAMILY.locate(spec, shared_data)
        if folder is None or "site-packages" in str(folder):
            continue
        for remote in spec.files:
            if (folder / remote.name).is_file():
                assert sha256(folder / remote.name) == remote.sha256, remote.name
                checked += 1
    assert checked == 16  # gowalla 4, yelp 3, lastfm 3, lastfm-hetrec 2, beauty/sports/toys/yelp-seq 1 each


def test_describe_shared(shared_data):
    listing = {d["name"]: d for d in describe_datasets(shared_data)}
    for name in ("gowalla", "yelp", "lastfm", "lastfm-hetrec"):
        assert listing[name]["found"], listing[name]
        assert Path(listing[name]["path"]).is_relative_to(shared_data)


def test_env_root_finds_shared(shared_data, monkeypatch):
    monkeypatch.setenv("GRAPHCL_DATA", str(shared_data))
    found = {d["name"] for d in describe_datasets() if d["found"]}
    assert {"gowalla", "yelp", "lastfm", "lastfm-hetrec"} <= found
    with pytest.warns(UserWarning, match="kept"):
        assert load("lastfm").num_users == 1892


def test_gowalla(shared_data):
    ds = load("gowalla", root=shared_data)
    assert (ds.num_users, ds.num_items) == (29_858, 40_981)
    assert ds.num_interactions("train") + ds.num_interactions("valid") == 810_128
    assert ds.num_interactions("test") == 217_242
    assert 0.09 < ds.num_interactions("valid") / 810_128 < 0.11
    keys = [(t[0] * ds.num_items + t[1]).numpy() for t in (ds.train, ds.valid)]
    assert np.intersect1d(*keys).size == 0
    assert len(ds.user_tokens) == 29_858 and ds.user_tokens[0] == "343"
    paper = load("gowalla", root=shared_data, valid_ratio=0)
    assert paper.num_interactions("train") == 810_128 and paper.num_interactions("valid") == 0


def test_yelp(shared_data):
    with pytest.warns(UserWarning, match="no training interaction"):
        ds = load("yelp", root=shared_data)
    assert (ds.num_users, ds.num_items) == (42_712, 26_822)
    assert [ds.num_interactions(s) for s in ("train", "valid", "test")] == [182_357, 13_025, 65_128]


def test_lastfm(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load("lastfm", root=shared_data)
        dropped = load("lastfm", root=shared_data, cold_users="drop")
    assert (ds.num_users, ds.num_items) == (1_892, 17_632)
    assert [ds.num_interactions(s) for s in ("train", "valid", "test")] == [64_983, 18_566, 9_285]
    assert dropped.num_interactions("valid") == 18_566 - 4
    with pytest.raises(DataFormatError, match="no training interaction"):
        load("lastfm", root=shared_data, cold_users="error")


def test_lastfm_hetrec(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load("lastfm-hetrec", root=shared_data)
    assert (ds.num_users, ds.num_items) == (1_892, 4_489)
    assert ds.num_interactions("train") + ds.num_interactions("valid") == 42_135
    assert ds.num_interactions("test") == 10_533


def test_ml100k_embedded(tmp_path):
    if not named.recbole_example_dirs():
        pytest.skip("recbole is not installed: no embedded ml-100k")
    ds = load("ml-100k", root=tmp_path)  # empty root: falls back to the recbole wheel
    assert (ds.num_users, ds.num_items) == (943, 1_682)
    total = sum(ds.num_interactions(s) for s in ("train", "valid", "test"))
    assert total == 100_000
    assert len(ds.item_table["movie_title"]) == 1_682
    assert set(ds.user_table) == {"age", "gender", "occupation", "zip_code"}
    again = load("ml-100k", root=tmp_path)
    assert torch.equal(ds.test, again.test)
    src = Path(ds.source).parent
    for remote in MANIFEST["ml-100k"].files:
        assert sha256(src / remote.name) == remote.sha256
    local = tmp_path / "ml-100k"
    local.mkdir()
    (local / "ml-100k.inter").write_bytes((src / "ml-100k.inter").read_bytes())
    assert load("ml-100k", root=tmp_path).source == str(local / "ml-100k.inter")
