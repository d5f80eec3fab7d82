"""Per-user splits (graphcl.data.splits) and k-core filtering (graphcl.data.filtering)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from graphcl.data.filtering import dedupe_pairs, k_core
from graphcl.data.splits import (carve_validation, leave_one_out_split, random_split_per_user,
                                 split_counts)


def random_pairs(num_users=50, num_items=40, n=800, seed=0):
    rng = np.random.default_rng(seed)
    pairs = np.stack([rng.integers(0, num_users, n), rng.integers(0, num_items, n)])
    return dedupe_pairs(pairs)[0]


def as_set(pairs):
    return set(map(tuple, np.asarray(pairs).T.tolist()))


def test_split_counts_rule():
    sizes = split_counts(np.array([0, 1, 2, 3, 9, 10, 20, 101]), (0.8, 0.1, 0.1))
    # floors, remainder to train; bump test then valid for 0 < r*n < 1 while train > 1
    assert sizes.T.tolist() == [[0, 0, 0], [1, 0, 0], [1, 0, 1], [1, 1, 1], [7, 1, 1],
                                [8, 1, 1], [16, 2, 2], [81, 10, 10]]
    assert (sizes.sum(0) == [0, 1, 2, 3, 9, 10, 20, 101]).all()
    with pytest.raises(ValueError, match="positive train ratio, got \\(0.0, 0.5, 0.5\\)"):
        split_counts(np.array([3]), (0.0, 0.5, 0.5))


def test_random_split_partition_and_ratios():
    pairs = random_pairs()
    train, valid, test = random_split_per_user(torch.from_numpy(pairs), 50, (0.8, 0.1, 0.1), 7)
    for part in (train, valid, test):
        assert part.dtype == np.int64 and part.shape[0] == 2
    assert as_set(train) | as_set(valid) | as_set(test) == as_set(pairs)
    assert train.shape[1] + valid.shape[1] + test.shape[1] == pairs.shape[1]
    assert not (as_set(train) & as_set(valid) or as_set(train) & as_set(test)
                or as_set(valid) & as_set(test))
    counts = np.bincount(pairs[0], minlength=50)
    expected = split_counts(counts, (0.8, 0.1, 0.1))
    for k, part in enumerate((train, valid, test)):
        assert (np.bincount(part[0], minlength=50) == expected[k]).all()
    assert abs(train.shape[1] / pairs.shape[1] - 0.8) < 0.05


def test_random_split_seeded():
    pairs = random_pairs()
    a = random_split_per_user(pairs, 50, seed=3)
    b = random_split_per_user(pairs, 50, seed=3)
    c = random_split_per_user(pairs, 50, seed=4)
    assert all((x == y).all() for x, y in zip(a, b))
    assert any(x.shape != y.shape or (x != y).any() for x, y in zip(a, c))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 30)), min_size=1, max_size=120),
       st.integers(0, 2**31), st.floats(0.05, 0.5))
def test_random_split_properties(raw, seed, eval_ratio):
    pairs = dedupe_pairs(np.array(raw, dtype=np.int64).T)[0]
    ratios = (1 - 2 * eval_ratio, eval_ratio, eval_ratio) if eval_ratio < 0.5 else (0.5, 0.25, 0.25)
    train, valid, test = random_split_per_user(pairs, 10, ratios, seed)
    assert as_set(train) | as_set(valid) | as_set(test) == as_set(pairs)
    assert train.shape[1] + valid.shape[1] + test.shape[1] == pairs.shape[1]
    users = np.unique(pairs[0])
    assert set(np.unique(train[0]).tolist()) == set(users.tolist())  # everyone keeps a train item


def test_carve_validation():
    pairs = random_pairs(seed=1)
    train, valid = carve_validation(pairs, 0.1, seed=5)
    assert as_set(train) | as_set(valid) == as_set(pairs) and not as_set(train) & as_set(valid)
    assert set(np.unique(train[0]).tolist()) == set(np.unique(pairs[0]).tolist())
    again = carve_validation(pairs, 0.1, seed=5)
    assert (again[1] == valid).all()
    train0, valid0 = carve_validation(pairs, 0.0)
    assert valid0.shape == (2, 0) and as_set(train0) == as_set(pairs)
    with pytest.raises(ValueError, match=r"validation ratio must be in \[0, 1\), got 1.0"):
        carve_validation(pairs, 1.0)


def test_leave_one_out_hand_made():
    # user 0: items 10,11,12,13 at times 5,1,3,3 (tie 12/13: input order) -> order 11,12,13,10
    # user 1: 2 interactions -> earlier to train, later to test; user 2: 1 -> train
    pairs = np.array([[0, 0, 0, 0, 1, 1, 2], [10, 11, 12, 13, 20, 21, 30]])
    times = np.array([5, 1, 3, 3, 9, 8, 1])
    train, valid, test = leave_one_out_split(pairs, times, 3)
    assert as_set(test) == {(0, 10), (1, 20)}
    assert as_set(valid) == {(0, 13)}
    assert as_set(train) == {(0, 11), (0, 12), (1, 21), (2, 30)}
    with pytest.raises(ValueError, match="one timestamp per pair"):
        leave_one_out_split(pairs, times[:3], 3)


def test_dedupe_keeps_first():
    pairs = np.array([[0, 1, 0, 2, 1], [5, 6, 5, 7, 6]])
    unique, index = dedupe_pairs(pairs)
    assert unique.tolist() == [[0, 1, 2], [5, 6, 7]] and index.tolist() == [0, 1, 3]


def test_k_core_hand_made():
    # users 0,1,2 with 3 items each on items 0..2; user 3 has only item 3 (twice: a duplicate);
    # user 4 has items 0 and 4. 2-core for users and items: drop user 3 (1 unique item),
    # then item 3 and item 4 (1 user each), then user 4 keeps only item 0 -> dropped.
    pairs = np.array([[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4],
                      [0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 3, 0, 4]])
    out, user_map, item_map, index = k_core(pairs, 2, 2, return_index=True)
    assert user_map.tolist() == [0, 1, 2] and item_map.tolist() == [0, 1, 2]
    assert out.shape == (2, 9) and index.tolist() == list(range(9))
    assert (np.bincount(out[0]) >= 2).all() and (np.bincount(out[1]) >= 2).all()


def test_k_core_remaps_densely():
    pairs = np.array([[10, 10, 30, 30], [7, 9, 7, 9]])
    out, user_map, item_map = k_core(pairs, 0, 0)
    assert out.tolist() == [[0, 0, 1, 1], [0, 1, 0, 1]]
    assert user_map.tolist() == [10, 30] and item_map.tolist() == [7, 9]
    assert (user_map[out[0]] == pairs[0]).all() and (item_map[out[1]] == pairs[1]).all()


def test_k_core_can_empty():
    out, user_map, item_map = k_core(np.array([[0, 1], [0, 1]]), 2, 1)
    assert out.shape == (2, 0) and user_map.size == 0 and item_map.size == 0


def test_first_users_subset_is_consistent():
    from graphcl.data import load
    full = load("ml-100k")
    small = full.first_users(50)
    assert small.num_users == 50 and small.num_items <= full.num_items
    assert small.num_interactions("train") == int((full.train[0] < 50).sum())
    import pytest
    with pytest.raises(ValueError, match="num_users must be in"):
        full.first_users(0)
