"""Full-ranking metrics: hand-computed cases, masking, batching, RecBole cross-check."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphcl.eval.ranking import (RANKING_METRICS, RankingEvaluator, format_metrics_table,
                                  metrics_from_hits)


def csr(rows: list[list[int]], num_items: int) -> sp.csr_matrix:
    u = [i for i, r in enumerate(rows) for _ in r]
    it = [j for r in rows for j in r]
    return sp.csr_matrix((np.ones(len(u)), (u, it)), shape=(len(rows), num_items))


def table_fn(scores: torch.Tensor):
    return lambda users: scores[users]


def L(i: int) -> float:
    return 1.0 / math.log2(i + 1)


# ------------------------------------------------------------ hand computed
def test_metrics_from_hits_by_hand():
    hits = torch.tensor([[False, True, False, True],    # pos = 3
                         [True, False, False, False],   # pos = 1
                         [False, False, False, False]])  # pos = 2
    num_pos = torch.tensor([3, 1, 2])
    v = metrics_from_hits(hits, num_pos, ks=(1, 2, 4), metrics=RANKING_METRICS)
    exp = {
        "hit@1": [0, 1, 0], "hit@2": [1, 1, 0], "hit@4": [1, 1, 0],
        "precision@1": [0, 1, 0], "precision@2": [0.5, 0.5, 0], "precision@4": [0.5, 0.25, 0],
        "recall@1": [0, 1, 0], "recall@2": [1 / 3, 1, 0], "recall@4": [2 / 3, 1, 0],
        "mrr@1": [0, 1, 0], "mrr@2": [0.5, 1, 0], "mrr@4": [0.5, 1, 0],
        "ndcg@1": [0, 1, 0],
        "ndcg@2": [L(2) / (L(1) + L(2)), 1, 0],
        "ndcg@4": [(L(2) + L(4)) / (L(1) + L(2) + L(3)), 1, 0],
    }
    assert set(v) == set(exp)
    for key, e in exp.items():
        assert torch.allclose(v[key], torch.tensor(e, dtype=torch.float64), atol=1e-12), key


def test_evaluator_by_hand():
    # 2 users, 6 items; ranking of user 0: items 5,4,3,2,1,0 ; user 1: 0,1,2,3,4,5
    scores = torch.tensor([[0., 1, 2, 3, 4, 5], [6., 5, 4, 3, 2, 1]])
    gt = csr([[4, 0], [2]], 6)
    ev = RankingEvaluator(6, ks=(1, 3), batch_size=1)
    r = ev.evaluate(table_fn(scores), gt)
    # user 0: hits at rank 2 (item 4); pos=2. user 1: hit at rank 3 (item 2); pos=1
    assert r["hit@1"] == 0 and r["hit@3"] == 1
    assert r["precision@3"] == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert r["recall@3"] == pytest.approx((0.5 + 1) / 2)
    assert r["mrr@3"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert r["ndcg@3"] == pytest.approx((L(2) / (L(1) + L(2)) + L(3) / L(1)) / 2)
    assert ev.last_num_users == 2
    assert set(r) == {f"{m}@{k}" for m in RANKING_METRICS for k in (1, 3)}


def test_masking_excludes_training_items():
    scores = torch.tensor([[9., 8, 1, 0, 0]])
    gt = csr([[0]], 5)       # the top item is a ground truth item ...
    train = csr([[0]], 5)    # ... but it is also a training item: must not count
    ev = RankingEvaluator(5, ks=(1, 2), metrics=("hit", "recall"))
    assert ev.evaluate(table_fn(scores), gt)["hit@1"] == 1.0
    r = ev.evaluate(table_fn(scores), gt, exclude=[train])
    assert r == {"hit@1": 0.0, "hit@2": 0.0, "recall@1": 0.0, "recall@2": 0.0}
    # excluding item 0 moves item 1 (a ground-truth item now) to rank 1
    gt2 = csr([[1]], 5)
    r = ev.evaluate(table_fn(scores), gt2, exclude=train)
    assert r["hit@1"] == 1.0


def test_exclude_does_not_mutate_caller_scores():
    scores = torch.tensor([[9., 8, 1, 0, 0]])
    ev = RankingEvaluator(5, ks=(1,))
    ev.evaluate(lambda u: scores, csr([[1]], 5), exclude=csr([[0]], 5))
    assert torch.isfinite(scores).all()
    row = torch.tensor([9., 8, 1, 0, 0], requires_grad=True)
    gt, train = csr([[1], [1]], 5), csr([[0], [0]], 5)
    r = ev.evaluate(lambda u: row.expand(len(u), -1), gt, exclude=train)   # expanded view
    assert r["hit@1"] == 1.0 and torch.isfinite(row).all()
    r = ev.evaluate(lambda u: row * torch.ones(len(u), 1), gt, exclude=train)  # autograd graph
    assert r["hit@1"] == 1.0


def test_pair_tensor_inputs_match_sparse():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(9, 30, generator=g)
    gt_pairs = torch.tensor([[0, 0, 3, 5, 8], [1, 7, 2, 2, 29]])
    tr_pairs = torch.tensor([[0, 3, 8], [3, 4, 0]])
    ev = RankingEvaluator(30, ks=(5,))
    gt_sp = sp.csr_matrix((np.ones(5), gt_pairs.numpy()), shape=(9, 30))
    tr_sp = sp.csr_matrix((np.ones(3), tr_pairs.numpy()), shape=(9, 30))
    a = ev.evaluate(table_fn(scores), gt_pairs, exclude=[tr_pairs])
    b = ev.evaluate(table_fn(scores), gt_sp, exclude=[tr_sp])
    assert a == b


def test_users_without_ground_truth_are_skipped():
    scores = torch.tensor([[3., 2, 1], [3., 2, 1], [3., 2, 1]])
    gt = csr([[0], [], [2]], 3)
    ev = RankingEvaluator(3, ks=(1,), metrics=("hit",))
    det = ev.evaluate_detailed(table_fn(scores), gt)
    assert det.num_users == 2 and det.users.tolist() == [0, 2]
    assert det.metrics["hit@1"] == 0.5          # not 1/3
    # also when users are given explicitly
    det = ev.evaluate_detailed(table_fn(scores), gt, users=[1, 2])
    assert det.num_users == 1 and det.metrics["hit@1"] == 0.0


def test_batch_size_independence_and_exact_mean():
    g = torch.Generator().manual_seed(1)
    nu, ni = 23, 40
    scores = torch.randn(nu, ni, generator=g)
    gt = sp.random(nu, ni, density=0.1, format="csr", random_state=3)
    train = sp.random(nu, ni, density=0.2, format="csr", random_state=4)
    res = [RankingEvaluator(ni, ks=(1, 5, 10), batch_size=b).evaluate_detailed(
        table_fn(scores), gt, exclude=[train], per_user=True) for b in (1, 7, nu)]
    assert res[0].metrics == res[1].metrics == res[2].metrics
    for key, v in res[1].per_user.items():   # exact mean of per-user values
        assert res[1].metrics[key] == pytest.approx(v.mean().item(), abs=1e-12)
    assert res[0].num_users == int((np.diff(gt.indptr) > 0).sum())


def test_fewer_items_than_k():
    scores = torch.tensor([[1., 2, 3]])
    r = RankingEvaluator(3, ks=(5,)).evaluate(table_fn(scores), csr([[0]], 3))
    assert r["hit@5"] == 1.0 and r["precision@5"] == pytest.approx(0.2)


# ------------------------------------------------------------------ errors
def test_errors():
    with pytest.raises(ValueError, match="valid metrics"):
        RankingEvaluator(5, metrics=("recall", "auc"))
    with pytest.raises(ValueError, match="k"):
        RankingEvaluator(5, ks=(0, 10))
    with pytest.raises(ValueError, match="k"):
        metrics_from_hits(torch.zeros(1, 3, dtype=torch.bool), torch.ones(1), ks=(-1,))
    ev = RankingEvaluator(5, ks=(1,))
    gt = csr([[1]], 5)
    with pytest.raises(ValueError, match="shape"):
        ev.evaluate(lambda u: torch.zeros(len(u), 4), gt)
    with pytest.raises(ValueError, match="NaN"):
        ev.evaluate(lambda u: torch.full((len(u), 5), float("nan")), gt)
    with pytest.raises(ValueError, match="item"):
        ev.evaluate(lambda u: torch.zeros(len(u), 5), csr([[1]], 6))


def test_format_metrics_table():
    flat = {"recall@10": 0.1, "recall@20": 0.2, "ndcg@10": 0.05, "ndcg@20": 0.07}
    text = format_metrics_table(flat)
    lines = text.splitlines()
    assert "@10" in lines[0] and "@20" in lines[0]
    assert any(l.startswith("recall") and "0.1000" in l and "0.2000" in l for l in lines)
    both = format_metrics_table({"valid": flat, "test": flat})
    assert "[valid]" in both and "[test]" in both


# ------------------------------------------------------- RecBole cross-check
def recbole_values(pos_index: np.ndarray, pos_len: np.ndarray, ks) -> dict[str, float]:
    from graphcl.interop.recbole_compat import import_recbole
    metrics = import_recbole("recbole.evaluator.metrics")
    collector = import_recbole("recbole.evaluator.collector")
    config = {"topk": list(ks), "metric_decimal_place": 12}
    rec_topk = torch.cat([torch.as_tensor(pos_index, dtype=torch.int64),
                          torch.as_tensor(pos_len, dtype=torch.int64).reshape(-1, 1)], dim=1)
    data = collector.DataStruct()
    data.set("rec.topk", rec_topk)
    out = {}
    for cls in (metrics.Recall, metrics.NDCG, metrics.Precision, metrics.Hit, metrics.MRR):
        out.update(cls(config).calculate_metric(data))
    return out


def test_matches_recbole():
    pytest.importorskip("recbole")
    rng = np.random.default_rng(7)
    nu, ni, ks = 50, 200, (1, 5, 10, 20)
    scores = torch.as_tensor(rng.standard_normal((nu, ni)), dtype=torch.float32)
    train = sp.csr_matrix((rng.random((nu, ni)) < 0.1).astype(np.float32))
    gt_dense = (rng.random((nu, ni)) < 0.08) & ~train.toarray().astype(bool)
    gt_dense[:3] = False                          # some users without ground truth
    gt_dense[3, :] = ~train.toarray()[3].astype(bool)  # one user: everything unseen is relevant
    gt = sp.csr_matrix(gt_dense.astype(np.float32))
    ev = RankingEvaluator(ni, ks=ks, batch_size=16)
    ours = ev.evaluate(table_fn(scores), gt, exclude=[train])

    # the same top-k positions, computed independently with numpy
    masked = scores.numpy().copy()
    masked[train.toarray().astype(bool)] = -np.inf
    keep = gt_dense.sum(1) > 0
    top = np.argsort(-masked, axis=1, kind="stable")[:, :max(ks)]
    pos_index = np.take_along_axis(gt_dense, top, axis=1)[keep]
    pos_len = gt_dense.sum(1)[keep]
    theirs = recbole_values(pos_index, pos_len, ks)
    assert set(theirs) == set(ours)
    for key in ours:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-6), key
    assert ev.last_num_users == int(keep.sum())


def test_recbole_on_hit_matrix_directly():
    pytest.importorskip("recbole")
    g = torch.Generator().manual_seed(3)
    hits = torch.rand(300, 20, generator=g) < 0.15
    num_pos = torch.randint(1, 30, (300,), generator=g)
    num_pos = torch.maximum(num_pos, hits.sum(1))
    ours = {k: v.mean().item() for k, v in metrics_from_hits(hits, num_pos, (1, 5, 10, 20)).items()}
    theirs = recbole_values(hits.numpy(), num_pos.numpy(), (1, 5, 10, 20))
    for key in ours:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-9), key
