"""Sequence datasets: readers, leave-one-out examples, windows, real files."""
import numpy as np
import pytest
import torch

from graphcl.data import load
from graphcl.data.interactions import DataFormatError
from graphcl.data.sequences import (
    SequenceDataset,
    load_atomic_sequences,
    read_sequence_lines,
)


@pytest.fixture
def handmade(tmp_path):
    path = tmp_path / "seqs.txt"
    path.write_text("u1 5 3 9 2 7\nu2 4 1\n\nu3 8\n")
    return read_sequence_lines(path)


def test_leave_one_out_on_a_handmade_example(handmade):
    d = handmade
    assert (d.num_users, d.num_items) == (3, 9)
    assert d.user_tokens == ["u1", "u2", "u3"] and d.sequence(0) == [5, 3, 9, 2, 7]
    # training: every prefix of u1's training part [5, 3, 9]; u2 and u3 have none
    ends, starts = d.train_targets()
    seqs, lengths = d.windows(ends, starts, 4)
    assert seqs.tolist() == [[0, 0, 0, 5], [0, 0, 5, 3]]
    assert lengths.tolist() == [1, 2] and d.items[ends].tolist() == [3, 9]
    # validation: u1 only (input = training part); test: u1 and u2 (u2 has 2 items)
    users, ends, starts = d.split_targets("valid")
    assert users.tolist() == [0]
    assert d.windows(ends, starts, 4)[0].tolist() == [[0, 5, 3, 9]] and d.items[ends].tolist() == [2]
    users, ends, starts = d.split_targets("test")
    assert users.tolist() == [0, 1]
    seqs, lengths = d.windows(ends, starts, 3)            # max length 3 keeps the newest items
    assert seqs.tolist() == [[3, 9, 2], [0, 0, 4]] and lengths.tolist() == [3, 1]
    assert d.targets("test").tolist() == [[0, 1], [6, 0]]  # 0-based item columns
    assert d.history("test").tolist() == [[0, 0, 0, 0, 1], [4, 2, 8, 1, 3]]
    assert d.history("valid").tolist() == [[0, 0, 0], [4, 2, 8]]
    assert d.stats()["train_examples"] == 2


def test_first_users_remaps_items(handmade):
    small = handmade.first_users(2)
    assert small.num_items == 7 and small.sequence(0) == [5, 3, 7, 2, 6] and small.sequence(1) == [4, 1]
    assert small.item_tokens == ["1", "2", "3", "4", "5", "7", "9"]


@pytest.mark.parametrize("text, message", [
    ("u1 1 x 3\n", "'x'"),
    ("u1 1 0 3\n", "must be >= 1"),
    ("u1 1 2\nu1 3\n", "more than one line"),
    ("u1\n", "without items"),
    ("\n", "no user sequences"),
])
def test_bad_sequence_files(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        read_sequence_lines(path)


def test_missing_file_and_invalid_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_sequence_lines(tmp_path / "none.txt")
    with pytest.raises(DataFormatError, match="item ids must lie in"):
        SequenceDataset("x", 3, torch.tensor([1, 4]), torch.tensor([0, 2]))
    with pytest.raises(DataFormatError, match="empty sequence"):
        SequenceDataset("x", 3, torch.tensor([1, 2]), torch.tensor([0, 2, 2]))


def test_atomic_sequences_follow_timestamps(tmp_path):
    path = tmp_path / "toy.inter"
    path.write_text("user_id:token\titem_id:token\ttimestamp:float\n"
                    "a\tx\t30\nb\ty\t5\na\ty\t10\na\tz\t10\na\tw\t20\na\tx\t40\n")
    d = load_atomic_sequences(path)
    # item ids by first appearance: x 1, y 2, z 3, w 4; ties (y, z at 10) keep file order;
    # the repeated (a, x) row is dropped
    assert d.item_tokens == ["x", "y", "z", "w"]
    assert d.sequence(0) == [2, 3, 4, 1] and d.sequence(1) == [2]
    with pytest.raises(DataFormatError, match="timestamp"):
        bad = tmp_path / "bad.inter"
        bad.write_text("user_id:token\titem_id:token\na\tx\n")
        load_atomic_sequences(bad)


def test_ml100k_seq_is_time_ordered():
    d = load("ml-100k-seq")
    assert (d.num_users, d.num_items, d.items.numel()) == (943, 1682, 100000)
    from graphcl.data.formats import read_atomic
    raw = read_atomic(d.source)
    user0 = d.user_tokens[0]
    rows = [i for i, u in enumerate(raw["user_id"]) if u == user0]
    times = np.asarray(raw["timestamp"])[rows]
    expected = [raw["item_id"][rows[i]] for i in np.argsort(times, kind="stable")]
    assert [d.item_tokens[i - 1] for i in d.sequence(0)] == expected


def test_iclrec_beauty_statistics(shared_data):
    d = load("beauty", root=shared_data)
    assert (d.num_users, d.num_items, d.items.numel()) == (22363, 12101, 198502)
    s = d.stats()
    assert s["train_examples"] == 198502 - 3 * 22363 and s["valid"] == s["test"] == 22363
    first = (shared_data / "seqrec/iclrec/Beauty.txt").read_text().splitlines()[0].split()
    assert d.sequence(0) == [int(x) for x in first[1:]]
