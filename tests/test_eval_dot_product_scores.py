"""The blockwise top-k of dot-product scores: the same ranking as the full score matrix."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphcl.eval import DotProductScores, RankingEvaluator


def tables(num_users: int, num_items: int, dim: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(num_users, dim, generator=g), torch.randn(num_items, dim, generator=g)


def random_pairs(num_users: int, num_items: int, n: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    m = sp.csr_matrix((np.ones(n, np.float32), (rng.integers(0, num_users, n), rng.integers(0, num_items, n))),
                      shape=(num_users, num_items))
    m.data[:] = 1.0
    return m


@pytest.mark.parametrize("rows,cols", [(256, 4096), (7, 64), (5, 100), (1, 23)])
def test_top_k_equals_full_sort(rows, cols):
    users, items = tables(40, 1000)
    exclude = random_pairs(40, 1000, 3000, seed=1).tocoo()
    scorer = DotProductScores(users, items, block_rows=rows, block_cols=cols)
    batch = torch.tensor([3, 0, 39, 17, 17, 8])
    pos = {int(u): j for j, u in enumerate(batch.tolist())}
    keep = np.isin(exclude.row, batch.numpy())
    r = torch.tensor([pos[int(u)] for u in exclude.row[keep]]) if keep.any() else torch.zeros(0, dtype=torch.long)
    # both copies of user 17 lose their excluded items
    r = torch.cat([r, torch.full((int((exclude.row == 17).sum()),), 3)])
    c = torch.cat([torch.as_tensor(exclude.col[keep], dtype=torch.long),
                   torch.as_tensor(exclude.col[exclude.row == 17], dtype=torch.long)])
    got = scorer.top_k(batch, 20, r, c)
    full = scorer(batch)
    full[r, c] = float("-inf")
    want = torch.topk(full, 20, dim=1).indices
    assert torch.equal(got, want)
    assert not bool(torch.isinf(torch.gather(full, 1, got)).any())


def test_evaluator_metrics_equal_the_materialized_path_on_ml100k_sized_data():
    # ml-100k's shape: 943 users, 1,682 items, 80% of 100,000 ratings excluded as training
    users, items = tables(943, 1682, dim=64, seed=3)
    train = random_pairs(943, 1682, 80_000, seed=4)
    test = random_pairs(943, 1682, 10_000, seed=5) - train.multiply(random_pairs(943, 1682, 10_000, seed=5))
    test.eliminate_zeros()
    ev = RankingEvaluator(1682, ks=(5, 10, 20), batch_size=300)
    plain = ev.evaluate_detailed(lambda u: users[u] @ items.T, test, exclude=train, per_user=True)
    blocked = ev.evaluate_detailed(DotProductScores(users, items, block_rows=64, block_cols=256), test,
                                   exclude=train, per_user=True)
    assert plain.metrics == blocked.metrics
    assert plain.metrics["recall@20"] > 0
    for key in plain.per_user:
        assert torch.equal(plain.per_user[key], blocked.per_user[key]), key


def test_plain_call_gives_full_score_rows():
    users, items = tables(5, 30)
    scorer = DotProductScores(users, items)
    assert torch.allclose(scorer(torch.tensor([4, 1])), users[[4, 1]] @ items.T)


def test_nan_scores_give_the_evaluator_error_naming_users():
    users, items = tables(12, 50)
    users[[2, 7]] = float("nan")
    gt = random_pairs(12, 50, 60, seed=2)
    ev = RankingEvaluator(50, ks=(5,), batch_size=100)
    with pytest.raises(ValueError, match=r"^score_fn returned NaN scores \(users \[2, 7\] \.\.\.\)$"):
        ev.evaluate(DotProductScores(users, items, block_rows=4, block_cols=16), gt)


def test_mismatched_tables_are_refused():
    users, items = tables(6, 40)
    gt = random_pairs(6, 40, 30, seed=2)
    with pytest.raises(ValueError, match="item table of the DotProductScores has 40 rows; the evaluator has num_items=41"):
        RankingEvaluator(41).evaluate(DotProductScores(users, items), random_pairs(6, 41, 30, seed=2))
    with pytest.raises(ValueError, match=r"user id 5 is outside the user table of the DotProductScores \(3 rows\)"):
        RankingEvaluator(40).evaluate(DotProductScores(users[:3], items), gt)
    with pytest.raises(ValueError, match="needs \\(num_users, d\\) and \\(num_items, d\\) tables"):
        DotProductScores(users, items[:, :3])
    with pytest.raises(ValueError, match="block_rows and block_cols must be positive"):
        DotProductScores(users, items, block_cols=0)
    with pytest.raises(ValueError, match=r"k must be in \[1, 40\], got 41"):
        DotProductScores(users, items).top_k(torch.arange(3), 41)


def test_recommender_hands_its_tables_to_the_evaluator():
    from graphcl.data import load
    from graphcl.eval.tasks.ranking import ranking_scores
    from graphcl.registry import get_method
    from graphcl.config import merge_config

    data = load("ml-100k")
    spec = get_method("lightgcn")
    cfg, _ = merge_config(spec.defaults, {}, method="lightgcn")
    model = spec.build(data, cfg, "cpu").eval()
    with torch.no_grad():
        model.prepare_scoring()
        scores = ranking_scores(model)
        assert isinstance(scores, DotProductScores)
        users = torch.arange(10)
        assert torch.allclose(scores(users), model.full_scores(users))


def test_overflowing_products_are_checked_for_nan():
    # finite tables whose products overflow to inf - inf = NaN in user 1's scores
    users = torch.tensor([[1.0, 1.0], [3e30, 3e30]])
    items = torch.tensor([[3e30, -3e30]] + [[1.0, 2.0]] * 30)
    gt = sp.csr_matrix((np.ones(2, np.float32), ([0, 1], [3, 4])), shape=(2, 31))
    scorer = DotProductScores(users, items, block_rows=1, block_cols=8)
    assert not scorer.products_are_finite
    with pytest.raises(ValueError, match=r"^score_fn returned NaN scores \(users \[1\] \.\.\.\)$"):
        RankingEvaluator(31, ks=(5,)).evaluate(scorer, gt)


def test_rows_with_fewer_than_k_allowed_items_rank_every_allowed_item_first():
    users, items = tables(3, 30)
    exclude = sp.csr_matrix(np.ones((3, 30), np.float32))
    exclude[0, [4, 9]] = 0
    exclude.eliminate_zeros()
    ex = exclude.tocoo()
    top = DotProductScores(users, items, block_rows=2, block_cols=8).top_k(
        torch.arange(3), 10, torch.as_tensor(ex.row, dtype=torch.long), torch.as_tensor(ex.col, dtype=torch.long))
    assert set(top[0, :2].tolist()) == {4, 9}
    assert ((top >= 0) & (top < 30)).all()
    assert all(len(set(row)) == 10 for row in top.tolist())   # no item twice
