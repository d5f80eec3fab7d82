"""Sequence augmenters: invariants, identities, determinism, no mutation, errors."""
import math
from collections import Counter

import pytest
import torch

from graphcl.augment import (
    DistinctPairViews,
    SequenceCrop,
    SequenceMask,
    SequenceReorder,
    SequenceSubstitute,
    crop_sequences,
    distinct_pair_views,
    insert_sequences,
    item_neighbors,
    mask_sequences,
    reorder_sequences,
    substitute_sequences,
)

L, NUM_ITEMS = 12, 40


def _batch(seed=0, rows=64):
    """Left-padded rows of distinct items 1..NUM_ITEMS with lengths 0..L (all lengths present)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.cat([torch.arange(L + 1), torch.randint(0, L + 1, (rows - L - 1,), generator=g)])
    items = torch.stack([torch.randperm(NUM_ITEMS, generator=g)[:L] + 1 for _ in range(rows)])
    cols = torch.arange(L)
    seqs = torch.where(cols >= L - lengths.unsqueeze(1), items, 0)
    return seqs, lengths


def _real(row, n):
    return row[L - n:].tolist() if n else []


def _gen(seed=1):
    return torch.Generator().manual_seed(seed)


def _assert_left_padded(seqs, lengths):
    cols = torch.arange(seqs.size(1))
    pad = cols < seqs.size(1) - lengths.unsqueeze(1)
    assert bool((seqs[pad] == 0).all())


def test_crop_is_a_contiguous_run_of_the_right_length():
    seqs, lengths = _batch()
    before = seqs.clone()
    out, n = crop_sequences(seqs, lengths, 0.5, generator=_gen())
    assert torch.equal(seqs, before)                                  # input untouched
    _assert_left_padded(out, n)
    for b in range(seqs.size(0)):
        m = int(lengths[b])
        assert int(n[b]) == (max(1, math.floor(0.5 * m)) if m else 0)
        src, got = _real(seqs[b], m), _real(out[b], int(n[b]))
        assert any(src[i:i + len(got)] == got for i in range(m - len(got) + 1))


def test_mask_sets_exactly_floor_gamma_n_positions():
    seqs, lengths = _batch()
    out, n = mask_sequences(seqs, lengths, 0.5, generator=_gen())
    assert torch.equal(n, lengths)
    _assert_left_padded(out, n)
    changed = out != seqs
    assert bool((out[changed] == 0).all())                            # masked to the padding id
    assert changed.sum(1).tolist() == [math.floor(0.5 * int(m)) for m in lengths]
    out7, _ = mask_sequences(seqs, lengths, 0.5, mask_id=NUM_ITEMS + 1, generator=_gen())
    assert bool((out7[out7 != seqs] == NUM_ITEMS + 1).all())


def test_reorder_keeps_the_multiset_and_moves_one_span():
    seqs, lengths = _batch()
    out, n = reorder_sequences(seqs, lengths, 0.8, generator=_gen())
    assert torch.equal(n, lengths)
    _assert_left_padded(out, n)
    moved_rows = 0
    for b in range(seqs.size(0)):
        m = int(lengths[b])
        src, got = _real(seqs[b], m), _real(out[b], m)
        assert Counter(src) == Counter(got)
        diff = [i for i in range(m) if src[i] != got[i]]
        if diff:
            moved_rows += 1
            assert diff[-1] - diff[0] + 1 <= math.floor(0.8 * m)     # inside one span
    assert moved_rows > seqs.size(0) // 2


def test_insert_keeps_the_original_order_and_uses_neighbours():
    seqs, lengths = _batch()
    neighbors = torch.stack([torch.arange(NUM_ITEMS + 1) + 100, torch.arange(NUM_ITEMS + 1) + 200], 1)
    out, n = insert_sequences(seqs, lengths, 0.5, neighbors=neighbors, generator=_gen())
    _assert_left_padded(out, n)
    for b in range(seqs.size(0)):
        m = int(lengths[b])
        k = math.floor(0.5 * m)
        assert int(n[b]) == min(m + k, L)
        got = _real(out[b], int(n[b]))
        originals = [x for x in got if x <= NUM_ITEMS]
        if m + k <= L:
            assert originals == _real(seqs[b], m)
        else:                                                         # overflow keeps the newest
            assert originals == _real(seqs[b], m)[-len(originals):]
        for i, x in enumerate(got):                                   # inserted right before its item
            if x > NUM_ITEMS:
                assert x - (100 if x < 200 else 200) == got[i + 1]
    uniform, _ = insert_sequences(seqs, lengths, 0.5, num_items=NUM_ITEMS, generator=_gen())
    assert int(uniform.max()) <= NUM_ITEMS


def test_substitute_replaces_with_a_neighbour():
    seqs, lengths = _batch()
    emb = torch.randn(NUM_ITEMS + 1, 8, generator=_gen(3))
    neighbors = item_neighbors(emb, 3)
    out, n = substitute_sequences(seqs, lengths, 1.0, neighbors, generator=_gen())
    assert torch.equal(n, lengths)
    real = seqs != 0
    assert bool((out[~real] == 0).all())
    assert bool((neighbors[seqs[real]] == out[real].unsqueeze(1)).any(1).all())
    half, _ = substitute_sequences(seqs, lengths, 0.5, neighbors, generator=_gen())
    frac = float((half != seqs)[real].float().mean())
    assert 0.35 < frac < 0.65


def test_item_neighbors_match_brute_force():
    emb = torch.randn(NUM_ITEMS + 1, 8, generator=_gen(5))
    got = item_neighbors(emb, 4, block_size=7)
    unit = torch.nn.functional.normalize(emb[1:], dim=1)
    sims = unit @ unit.T
    sims.fill_diagonal_(float("-inf"))
    assert torch.equal(got[1:], sims.topk(4, dim=1).indices + 1)
    assert got[0].tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="k must be in"):
        item_neighbors(emb, NUM_ITEMS)


@pytest.mark.parametrize("fn", [
    lambda s, n, g: crop_sequences(s, n, 1.0, g),
    lambda s, n, g: mask_sequences(s, n, 0.0, generator=g),
    lambda s, n, g: reorder_sequences(s, n, 0.0, g),
    lambda s, n, g: insert_sequences(s, n, 0.0, num_items=NUM_ITEMS, generator=g),
    lambda s, n, g: substitute_sequences(s, n, 0.0, torch.ones(NUM_ITEMS + 1, 2, dtype=torch.long), g),
])
def test_zero_strength_is_the_identity(fn):
    seqs, lengths = _batch()
    out, n = fn(seqs, lengths, _gen())
    assert torch.equal(out, seqs) and torch.equal(n, lengths)


@pytest.mark.parametrize("fn", [
    lambda s, n, g: crop_sequences(s, n, 0.5, g),
    lambda s, n, g: mask_sequences(s, n, 0.5, generator=g),
    lambda s, n, g: reorder_sequences(s, n, 0.8, g),
    lambda s, n, g: insert_sequences(s, n, 0.5, num_items=NUM_ITEMS, generator=g),
    lambda s, n, g: substitute_sequences(s, n, 0.5, item_neighbors(torch.randn(NUM_ITEMS + 1, 4), 3), g),
])
def test_seed_determinism_and_no_mutation(fn):
    seqs, lengths = _batch()
    before = (seqs.clone(), lengths.clone())
    torch.manual_seed(0)
    a = fn(seqs, lengths, _gen(7))
    torch.manual_seed(0)
    b = fn(seqs, lengths, _gen(7))
    c = fn(seqs, lengths, _gen(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert torch.equal(seqs, before[0]) and torch.equal(lengths, before[1])


def test_class_forms_take_a_seed():
    seqs, lengths = _batch()
    a1, a2 = SequenceCrop(0.5, seed=3), SequenceCrop(0.5, seed=3)
    first = a1(seqs, lengths)
    assert torch.equal(first[0], a2(seqs, lengths)[0])
    assert not torch.equal(first[0], a1(seqs, lengths)[0])            # the sequence advances
    assert torch.equal(SequenceMask(0.5, seed=1)((seqs, lengths))[0],
                       mask_sequences(seqs, lengths, 0.5, generator=_gen(1))[0])
    sub = SequenceSubstitute(0.3, item_embeddings=torch.randn(NUM_ITEMS + 1, 4), k=2, seed=0)
    assert sub.neighbors.shape == (NUM_ITEMS + 1, 2)
    assert "keep_ratio=0.5" in repr(a1)


def test_distinct_pair_views_use_two_different_ops():
    seqs, lengths = _batch(rows=3000)
    tag = lambda j: (lambda s, n, g: (torch.where(s != 0, torch.full_like(s, j), s), n))
    (s1, _), (s2, _) = distinct_pair_views(seqs, lengths, [tag(101), tag(102), tag(103)], _gen())
    long_rows = lengths >= 2
    op1 = s1[long_rows, -1]
    op2 = s2[long_rows, -1]
    assert bool((op1 != op2).all()) and set(op1.tolist()) == {101, 102, 103}
    pairs = Counter(zip(op1.tolist(), op2.tolist()))
    assert len(pairs) == 6 and min(pairs.values()) > long_rows.sum() / 6 * 0.8
    assert torch.equal(s1[~long_rows], seqs[~long_rows]) and torch.equal(s2[~long_rows], seqs[~long_rows])
    views = DistinctPairViews([SequenceCrop(0.5), SequenceMask(0.5), SequenceReorder(0.8)], seed=0)
    (v1, m1), (v2, m2) = views(seqs, lengths)
    _assert_left_padded(v1, m1)
    _assert_left_padded(v2, m2)


def test_bad_input_is_rejected():
    seqs, lengths = _batch()
    right_padded = torch.tensor([[1, 2, 0]])
    with pytest.raises(ValueError, match="left-padded"):
        crop_sequences(right_padded, torch.tensor([2]))
    with pytest.raises(ValueError, match="lengths must lie"):
        mask_sequences(seqs, lengths + L)
    with pytest.raises(ValueError, match="integer item ids"):
        reorder_sequences(seqs.float(), lengths)
    with pytest.raises(ValueError, match="probability"):
        crop_sequences(seqs, lengths, 1.5)
    with pytest.raises(ValueError, match="no row in the neighbors"):
        substitute_sequences(seqs, lengths, 0.5, torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="num_items"):
        insert_sequences(seqs, lengths, 0.5)
    with pytest.raises(TypeError, match="pair"):
        SequenceCrop(0.5)(seqs)
