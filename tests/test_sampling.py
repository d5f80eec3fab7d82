"""Uniform negative sampling and BPR triples."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from graphcl.data.sampling import UniformNegativeSampler, bpr_triples


def random_pairs(num_users: int, num_items: int, density: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(num_users, num_items, generator=g) < density
    return mask.nonzero().t().contiguous()


def positives(pairs: torch.Tensor, num_users: int, num_items: int) -> torch.Tensor:
    dense = torch.zeros(num_users, num_items, dtype=torch.bool)
    dense[pairs[0], pairs[1]] = True
    return dense


@st.composite
def bipartite(draw):
    nu = draw(st.integers(1, 12))
    ni = draw(st.integers(2, 15))
    cells = draw(st.lists(st.tuples(st.integers(0, nu - 1), st.integers(0, ni - 1)), max_size=80))
    # keep at least one free item per user
    dense = np.zeros((nu, ni), dtype=bool)
    for u, i in cells:
        dense[u, i] = True
    dense[np.arange(nu), draw(st.integers(0, ni - 1))] = False
    pairs = torch.as_tensor(np.stack(np.nonzero(dense)), dtype=torch.long)
    return nu, ni, pairs, draw(st.integers(0, 2**31 - 1)), draw(st.integers(0, 4))


@settings(max_examples=60, deadline=None)
@given(bipartite())
def test_never_returns_a_positive(case):
    nu, ni, pairs, seed, max_rounds = case
    s = UniformNegativeSampler(pairs, nu, ni, max_rounds=max_rounds)
    users = torch.arange(nu).repeat(20)
    neg = s.sample(users, num_neg=3, generator=torch.Generator().manual_seed(seed))
    assert neg.shape == (users.numel(), 3) and neg.dtype == torch.long
    assert int(neg.min()) >= 0 and int(neg.max()) < ni
    dense = positives(pairs, nu, ni)
    assert not dense[users[:, None], neg].any()


def test_dense_real_size():
    nu, ni = 1000, 50
    pairs = random_pairs(nu, ni, 0.8, seed=0)
    dense = positives(pairs, nu, ni)
    free = (~dense).sum(1)
    pairs = pairs[:, free[pairs[0]] > 0]       # drop users with all items observed
    dense = positives(pairs, nu, ni)
    s = UniformNegativeSampler(pairs, nu, ni)
    users = torch.nonzero((~dense).any(1)).reshape(-1).repeat(8)
    neg = s.sample(users, num_neg=4, generator=torch.Generator().manual_seed(1))
    assert neg.shape == (users.numel(), 4)
    assert not dense[users[:, None], neg].any()


@pytest.mark.parametrize("max_rounds", [0, 2, 10])
def test_roughly_uniform(max_rounds):
    # user 0 observed items 0..9 of 30: the 20 others must each get ~1/20
    ni = 30
    pairs = torch.stack([torch.zeros(10, dtype=torch.long), torch.arange(10)])
    s = UniformNegativeSampler(pairs, 1, ni, max_rounds=max_rounds)
    n = 40000
    neg = s.sample(torch.zeros(n, dtype=torch.long), generator=torch.Generator().manual_seed(5))
    counts = torch.bincount(neg.reshape(-1), minlength=ni).double()
    assert counts[:10].sum() == 0
    expected = n / 20
    chi2 = float(((counts[10:] - expected) ** 2 / expected).sum())
    assert chi2 < 60.0          # 19 dof: mean 19, p(chi2 > 60) ~ 3e-6


def test_exact_fallback_uniform_on_nearly_full_user():
    # user observed every item but 3 scattered ones: rejection almost always fails
    ni = 200
    free = torch.tensor([0, 117, 199])
    items = torch.tensor([i for i in range(ni) if i not in free.tolist()])
    pairs = torch.stack([torch.zeros_like(items), items])
    s = UniformNegativeSampler(pairs, 1, ni, max_rounds=1)
    neg = s.sample(torch.zeros(30000, dtype=torch.long), generator=torch.Generator().manual_seed(2))
    counts = torch.bincount(neg.reshape(-1), minlength=ni)
    assert set(torch.nonzero(counts).reshape(-1).tolist()) == set(free.tolist())
    assert (counts[free].double() / 30000 - 1 / 3).abs().max() < 0.02


def test_determinism_with_seed():
    pairs = random_pairs(50, 40, 0.3, seed=3)
    s = UniformNegativeSampler(pairs, 50, 40)
    users = torch.arange(50).repeat(4)
    a = s.sample(users, 5, generator=torch.Generator().manual_seed(11))
    b = s.sample(users, 5, generator=torch.Generator().manual_seed(11))
    c = s.sample(users, 5, generator=torch.Generator().manual_seed(12))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_user_with_all_items_is_an_error():
    pairs = torch.tensor([[0, 0, 0, 1], [0, 1, 2, 0]])
    s = UniformNegativeSampler(pairs, 3, 3)
    assert s.saturated_users.tolist() == [0]
    assert s.sample(torch.tensor([1, 2]), 2).shape == (2, 2)   # others are fine
    with pytest.raises(ValueError, match=r"user\(s\) 0"):
        s.sample(torch.tensor([1, 0, 2]))


def test_bad_inputs():
    pairs = torch.tensor([[0, 1], [0, 1]])
    s = UniformNegativeSampler(pairs, 2, 3)
    with pytest.raises(ValueError, match="user ids"):
        s.sample(torch.tensor([2]))
    with pytest.raises(ValueError, match="user ids"):
        s.sample(torch.tensor([-1]))
    with pytest.raises(ValueError, match="num_neg"):
        s.sample(torch.tensor([0]), num_neg=0)
    with pytest.raises(ValueError, match="item ids"):
        UniformNegativeSampler(torch.tensor([[0], [3]]), 2, 3)
    with pytest.raises(ValueError, match=r"\(2, n\)"):
        UniformNegativeSampler(torch.tensor([0, 1]), 2, 3)
    assert s.sample(torch.zeros(0, dtype=torch.long), 4).shape == (0, 4)


def test_bpr_triples_cover_each_pair_once():
    nu, ni = 40, 30
    pairs = random_pairs(nu, ni, 0.2, seed=9)
    s = UniformNegativeSampler(pairs, nu, ni)
    g = torch.Generator().manual_seed(0)
    batches = list(bpr_triples(s, pairs, batch_size=17, generator=g))
    users = torch.cat([b[0] for b in batches])
    pos = torch.cat([b[1] for b in batches])
    neg = torch.cat([b[2] for b in batches])
    assert all(b[0].shape == b[1].shape == b[2].shape for b in batches)
    assert max(b[0].numel() for b in batches) == 17
    assert users.numel() == pairs.size(1)
    got = sorted(zip(users.tolist(), pos.tolist()))
    assert got == sorted(zip(pairs[0].tolist(), pairs[1].tolist()))
    assert not positives(pairs, nu, ni)[users, neg].any()
    # shuffled, and reproducible with the same seed
    again = list(bpr_triples(s, pairs, 17, torch.Generator().manual_seed(0)))
    assert all(torch.equal(x, y) for a, b in zip(batches, again) for x, y in zip(a, b))
    assert not torch.equal(users, pairs[0])
    multi = next(bpr_triples(s, pairs, 8, g, num_neg=3))
    assert multi[2].shape == (8, 3)
