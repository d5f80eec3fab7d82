"""The RecBole benchmark files written by ``write_recbole_benchmark`` give back exactly our split."""
from __future__ import annotations

import re

import pytest
import torch

from graphcl.data.interactions import InteractionDataset
from graphcl.interop.recbole_files import (
    HEADER,
    read_recbole_benchmark,
    write_recbole_benchmark,
)


def small_dataset(**overrides) -> InteractionDataset:
    g = torch.Generator().manual_seed(3)
    nu, ni = 12, 20
    pairs = torch.stack([torch.randint(0, nu, (90,), generator=g), torch.randint(0, ni, (90,), generator=g)])
    pairs = torch.unique(pairs, dim=1)
    pairs = pairs[:, torch.randperm(pairs.size(1), generator=g)]  # not sorted: file order must follow
    n = pairs.size(1)
    kwargs = {"name": "toy", "num_users": nu, "num_items": ni, "train": pairs[:, : n - 20],
              "valid": pairs[:, n - 20: n - 10], "test": pairs[:, n - 10:],
              "user_tokens": [f"u{k * 7}" for k in range(nu)],
              "item_tokens": [str(1000 - k) for k in range(ni)]}
    kwargs.update(overrides)
    return InteractionDataset(**kwargs)


def as_token_pairs(ds: InteractionDataset, split: str) -> list[tuple[str, str]]:
    users = ds.user_tokens or [str(i) for i in range(ds.num_users)]
    items = ds.item_tokens or [str(i) for i in range(ds.num_items)]
    u, i = getattr(ds, split).tolist()
    return [(users[a], items[b]) for a, b in zip(u, i)]


def test_files_round_trip(tmp_path):
    ds = small_dataset()
    folder = write_recbole_benchmark(ds, tmp_path, "toy")
    assert folder == tmp_path / "toy"
    assert sorted(p.name for p in folder.iterdir()) == ["toy.test.inter", "toy.train.inter", "toy.valid.inter"]
    for split in ("train", "valid", "test"):
        lines = (folder / f"toy.{split}.inter").read_text(encoding="utf-8").splitlines()
        assert lines[0] == HEADER == "user_id:token\titem_id:token"
        assert len(lines) == 1 + ds.num_interactions(split)
    back = read_recbole_benchmark(folder, "toy")
    for split in ("train", "valid", "test"):
        assert back[split] == as_token_pairs(ds, split)


def test_dense_ids_without_tokens(tmp_path):
    ds = small_dataset(user_tokens=None, item_tokens=None)
    back = read_recbole_benchmark(write_recbole_benchmark(ds, tmp_path, "toy"), "toy")
    for split in ("train", "valid", "test"):
        u, i = getattr(ds, split).tolist()
        assert back[split] == [(str(a), str(b)) for a, b in zip(u, i)]


@pytest.mark.parametrize("bad,message", [
    ("NA", "would be read back by RecBole as missing"),
    ("", "would be read back by RecBole as missing"),
    ("a\tb", "holds a tab, newline or double quote"),
    ('q"x', "holds a tab, newline or double quote"),
    ("[PAD]", "is reserved by RecBole for padding"),
    ("u0", None),                                   # a duplicate of users[0]
])
def test_rejects_tokens_recbole_would_misread(tmp_path, bad, message):
    ds = small_dataset()
    users = list(ds.user_tokens)
    users[1] = bad  # "u0" duplicates users[0]
    # the message names the dataset, the field and the token (as Python writes it), and why
    expected = f"toy: duplicate user token {bad!r}" if message is None else f"toy: user token {bad!r} {message}"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        write_recbole_benchmark(small_dataset(user_tokens=users), tmp_path, "toy")
    assert not (tmp_path / "toy").exists() or not any((tmp_path / "toy").iterdir())  # nothing half-written


def test_recbole_reads_back_our_split(tmp_path):
    """RecBole itself, configured with benchmark_filename, builds exactly our three splits."""
    pytest.importorskip("recbole")
    from graphcl.interop.recbole_compat import import_recbole
    Config = import_recbole("recbole.config").Config
    create_dataset = import_recbole("recbole.data").create_dataset
    ds = small_dataset()
    write_recbole_benchmark(ds, tmp_path / "data", "toy")
    config = Config(model="LightGCN", dataset="toy", config_dict={
        "data_path": str(tmp_path / "data"), "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id"]}, "eval_args": {"mode": "full"},
        "use_gpu": False, "checkpoint_dir": str(tmp_path / "saved"), "show_progress": False})
    dataset = create_dataset(config)
    built = dataset.build()
    assert len(built) == 3
    for split, part in zip(("train", "valid", "test"), built):
        uid = dataset.id2token(dataset.uid_field, part.inter_feat[dataset.uid_field].numpy())
        iid = dataset.id2token(dataset.iid_field, part.inter_feat[dataset.iid_field].numpy())
        assert list(zip(uid.tolist(), iid.tolist())) == as_token_pairs(ds, split)
    assert dataset.user_num == ds.num_users + 1  # + RecBole's padding id 0
    assert dataset.item_num == ds.num_items + 1


def test_ml100k_split_round_trip(tmp_path):
    """The embedded ml-100k split (the one the LightGCN benchmark exports) round-trips."""
    pytest.importorskip("recbole", reason="the recbole wheel ships the embedded ml-100k files")
    from graphcl.data import load
    ds = load("ml-100k")                     # any other failure is a failure, not a skip
    assert (ds.num_users, ds.num_items) == (943, 1682)
    assert ds.train.size(1) + ds.valid.size(1) + ds.test.size(1) == 100_000
    back = read_recbole_benchmark(write_recbole_benchmark(ds, tmp_path, "ml100k"), "ml100k")
    for split in ("train", "valid", "test"):
        assert len(back[split]) == getattr(ds, split).size(1)
        assert back[split] == as_token_pairs(ds, split)
