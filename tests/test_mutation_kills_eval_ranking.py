"""Tests written against the mutants of ``graphcl/eval/ranking.py`` that survived
``tests/test_eval_ranking.py`` (see experiments/results/mutation.md).

Expected values are worked out by hand in the comments; error cases are matched by
their full message.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphcl.eval.ranking import RankingEvaluator, format_metrics_table, metrics_from_hits


def fixed_scores(table):
    """A score_fn returning rows of a fixed (num_users, num_items) table."""
    table = torch.as_tensor(table, dtype=torch.float32)
    return lambda users: table[users].clone()


# ------------------------------------------------------------ validation
def test_cutoff_and_metric_validation_messages():
    hits = torch.ones(1, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"^ks is empty: give at least one cutoff k >= 1, e\.g\. ks=\(10, 20\)$"):
        metrics_from_hits(hits, [1], ks=())
    with pytest.raises(ValueError, match=r"^invalid cutoff k=True: every k must be an integer >= 1$"):
        metrics_from_hits(hits, [1], ks=(True,))
    with pytest.raises(ValueError, match=r"^invalid cutoff k=2\.0"):
        metrics_from_hits(hits, [1], ks=(2.0,))
    with pytest.raises(ValueError, match=r"^unknown ranking metric 'auc'; valid metrics: recall, ndcg, precision, "
                                         r"hit, mrr$"):
        metrics_from_hits(hits, [1], ks=(1,), metrics=("auc",))
    with pytest.raises(ValueError, match=r"^no metric given; valid metrics: recall, ndcg, precision, hit, mrr$"):
        metrics_from_hits(hits, [1], ks=(1,), metrics=())


def test_a_single_int_cutoff_and_a_single_metric_name():
    hits = torch.tensor([[False, True, False]])
    out = metrics_from_hits(hits, [2], ks=2, metrics="RECALL")
    assert list(out) == ["recall@2"] and out["recall@2"].tolist() == [0.5]
    out = metrics_from_hits(hits, [2], ks=np.int64(3), metrics=["hit", "hit"])
    assert list(out) == ["hit@3"]


def test_metrics_from_hits_errors():
    with pytest.raises(ValueError, match=r"^hits must be a \(B, K\) matrix, got shape \(3,\)$"):
        metrics_from_hits(torch.ones(3, dtype=torch.bool), [1], ks=(1,))
    with pytest.raises(ValueError, match=r"^hits has 2 columns but the largest cutoff is k=3$"):
        metrics_from_hits(torch.ones(1, 2, dtype=torch.bool), [1], ks=(1, 3))
    with pytest.raises(ValueError, match=r"^num_pos has 2 entries for 1 rows of hits$"):
        metrics_from_hits(torch.ones(1, 2, dtype=torch.bool), [1, 1], ks=(1,))


def test_metrics_from_hits_hand_computed_with_integer_hits_wider_than_k():
    # user 0: hits at ranks 2 and 4 (4 is past k=3), 3 positives; user 1: hit at rank 1, 1 positive
    hits = torch.tensor([[0, 1, 0, 1], [1, 0, 0, 0]])
    out = metrics_from_hits(hits, torch.tensor([3, 1]), ks=(3,))
    assert out["recall@3"].tolist() == pytest.approx([1 / 3, 1.0])
    assert out["precision@3"].tolist() == pytest.approx([1 / 3, 1 / 3])
    assert out["hit@3"].tolist() == [1.0, 1.0]
    assert out["mrr@3"].tolist() == pytest.approx([0.5, 1.0])
    idcg0 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert out["ndcg@3"].tolist() == pytest.approx([(1 / math.log2(3)) / idcg0, 1.0])
    assert all(v.dtype == torch.float64 for v in out.values())


def test_mrr_is_zero_when_the_first_hit_is_past_k():
    hits = torch.tensor([[False, False, True]])
    out = metrics_from_hits(hits, [1], ks=(2, 3), metrics=("mrr",))
    assert out["mrr@2"].tolist() == [0.0] and out["mrr@3"].tolist() == pytest.approx([1 / 3])


# ------------------------------------------------------------- formatting
def test_format_metrics_table_exact_text():
    flat = {"recall@20": 0.25, "recall@5": torch.tensor(0.5), "ndcg@20": 0.125, "num_users": 7}
    assert format_metrics_table(flat) == (
        "metric         @5     @20  value\n"
        "---------  ------  ------  -----\n"
        "recall     0.5000  0.2500      -\n"
        "ndcg            -  0.1250      -\n"
        "num_users       -       -      7")
    assert format_metrics_table({}) == "(no metrics)"
    two = format_metrics_table({"valid": {"hit@1": 1.0}, "test": {"hit@1": 0.0}})
    assert two == ("[valid]\nmetric      @1\n------  ------\nhit     1.0000\n\n"
                   "[test]\nmetric      @1\n------  ------\nhit     0.0000")


def test_format_metrics_table_sorts_cutoffs_numerically_and_splits_at_the_first_at():
    text = format_metrics_table({"a@100": 1.0, "a@9": 2.0, "b@x@y": 3.0})
    header = text.splitlines()[0].split()
    # non-numeric cutoffs first (key 0), then 9 before 100 (numeric, not text, order)
    assert header == ["metric", "@x@y", "@9", "@100"]


# -------------------------------------------------------------- evaluator
def test_evaluator_argument_checks():
    with pytest.raises(ValueError, match="^num_items must be positive, got 0$"):
        RankingEvaluator(0)
    RankingEvaluator(1, ks=(1,))
    with pytest.raises(ValueError, match="^batch_size must be positive, got 0$"):
        RankingEvaluator(3, batch_size=0)
    ev = RankingEvaluator(3, ks=(1,), batch_size=1)
    assert ev.device == torch.device("cpu") and ev.last_num_users == 0 and ev.batch_size == 1
    assert RankingEvaluator(3, device="cpu").device == torch.device("cpu")


def test_exclude_masks_train_and_validation_at_test_time():
    # 1 user, 4 items; the model ranks item 0 (train), item 1 (valid), item 2 (test), item 3
    scores = fixed_scores([[4.0, 3.0, 2.0, 1.0]])
    ev = RankingEvaluator(4, ks=(1,), metrics=("hit", "recall"))
    train, valid, test = np.array([[0], [0]]), np.array([[0], [1]]), np.array([[0], [2]])
    assert ev.evaluate(scores, test, exclude=[train, valid]) == {"hit@1": 1.0, "recall@1": 1.0}
    assert ev.evaluate(scores, test, exclude=train) == {"hit@1": 0.0, "recall@1": 0.0}
    assert ev.evaluate(scores, test, exclude=[valid]) == {"hit@1": 0.0, "recall@1": 0.0}


def test_ground_truth_forms_numpy_torch_and_short_sparse_matrices():
    table = [[0.0, 3.0, 1.0], [5.0, 0.0, 1.0], [1.0, 2.0, 3.0]]
    ev = RankingEvaluator(3, ks=(1,), metrics=("hit",))
    gt_pairs = np.array([[0, 2], [1, 2]])  # user 0 -> item 1 (rank 1), user 2 -> item 2 (rank 1)
    assert ev.evaluate(fixed_scores(table), gt_pairs) == {"hit@1": 1.0}
    assert ev.evaluate(fixed_scores(table), torch.as_tensor(gt_pairs)) == {"hit@1": 1.0}
    assert ev.last_num_users == 2
    # a ground-truth matrix with fewer rows than the exclusions: padded with empty users
    gt = sp.csr_matrix(([1.0], ([0], [2])), shape=(1, 3))
    ex = np.array([[2], [0]])  # user 2 (only in exclude) widens the user range
    res = ev.evaluate_detailed(fixed_scores(table), gt, exclude=ex)
    assert res.metrics == {"hit@1": 0.0} and res.users.tolist() == [0] and res.num_users == 1
    with pytest.raises(ValueError, match=r"^ground_truth has 4 item columns, the evaluator has num_items=3$"):
        ev.evaluate(fixed_scores(table), sp.csr_matrix((2, 4)))


def test_pair_validation_messages_and_boundaries():
    ev = RankingEvaluator(3, ks=(1,))
    f = fixed_scores(torch.zeros(4, 3))
    ev.evaluate(f, np.array([[0], [2]]))  # the last item id is valid
    with pytest.raises(ValueError, match=r"^ground_truth has item ids outside \[0, 3\)$"):
        ev.evaluate(f, np.array([[0], [3]]))
    with pytest.raises(ValueError, match=r"^ground_truth has item ids outside \[0, 3\)$"):
        ev.evaluate(f, np.array([[0], [-1]]))
    with pytest.raises(ValueError, match=r"^exclude\[1\] has negative user ids$"):
        ev.evaluate(f, np.array([[0], [1]]), exclude=[np.array([[0], [0]]), np.array([[-1, 0], [0, 2]])])
    with pytest.raises(ValueError, match=r"^ground_truth must be a scipy sparse users x items matrix or a \(2, n\) "
                                         r"tensor of \(user, item\) pairs, got shape \(3, 1\)$"):
        ev.evaluate(f, np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(ValueError, match=r"got shape \(2,\)$"):
        ev.evaluate(f, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^user ids must be >= 0, got -1$"):
        ev.evaluate(f, np.array([[0], [1]]), users=[-1])
    float_pairs = np.array([[0.0], [1.0]])
    ev.evaluate(f, float_pairs)


def test_explicit_users_beyond_the_ground_truth_and_per_user_values():
    table = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    gt = np.array([[0, 1, 3], [0, 0, 1]])  # users 0, 1, 3 have ground truth; user 2 none
    ev = RankingEvaluator(2, ks=(1,), metrics=("hit",), batch_size=2)
    res = ev.evaluate_detailed(fixed_scores(table), gt, users=[0, 2, 3])
    assert res.users.tolist() == [0, 3] and res.metrics == {"hit@1": 1.0}
    assert res.per_user == {}
    assert ev.evaluate(fixed_scores(table), gt, users=[1]) == {"hit@1": 0.0}
    per = ev.evaluate_detailed(fixed_scores(table), gt, users=torch.tensor([1.0, 3.0]), per_user=True)
    assert per.per_user["hit@1"].tolist() == [0.0, 1.0]
    assert per.per_user["hit@1"].device == torch.device("cpu")
    # a user id past every matrix is still a valid (empty) user
    assert ev.evaluate(fixed_scores(table + [[0.0, 0.0]]), gt, users=[4]) == {"hit@1": 0.0}


def test_no_evaluated_user_gives_zeros():
    ev = RankingEvaluator(2, ks=(1,), metrics=("hit", "ndcg"))
    res = ev.evaluate_detailed(fixed_scores([[1.0, 0.0]]), np.zeros((2, 0), dtype=np.int64), per_user=True)
    assert res.metrics == {"hit@1": 0.0, "ndcg@1": 0.0} and res.num_users == 0
    assert res.per_user["hit@1"].dtype == torch.float64 and res.per_user["hit@1"].numel() == 0


def test_fewer_items_than_the_cutoff_pads_with_misses():
    ev = RankingEvaluator(2, ks=(1, 4), metrics=("precision", "recall"))
    out = ev.evaluate(fixed_scores([[2.0, 1.0]]), np.array([[0, 0], [0, 1]]))
    assert out == pytest.approx({"precision@1": 1.0, "precision@4": 0.5, "recall@1": 0.5, "recall@4": 1.0})


def test_sharded_evaluation_scores_every_world_th_user():
    table = torch.eye(4)
    gt = np.array([[0, 1, 2, 3], [0, 1, 3, 2]])  # users 0, 1 hit at rank 1; users 2, 3 miss
    ev = RankingEvaluator(4, ks=(1,), metrics=("hit",))
    ev.shard = (1, 2)  # this process: users 1 and 3
    res = ev.evaluate_detailed(fixed_scores(table), gt)
    assert res.users.tolist() == [1, 3]
    assert res.metrics == {"hit@1": 0.5} and res.num_users == 2 and ev.last_num_users == 2
    ev.shard = (0, 3)  # users 0 and 3
    assert ev.evaluate(fixed_scores(table), gt) == {"hit@1": 0.5}


def test_score_function_contract():
    ev = RankingEvaluator(3, ks=(1,), metrics=("hit",))
    gt = np.array([[0, 1], [2, 0]])
    with pytest.raises(TypeError, match="^score_fn must return a torch.Tensor, got list$"):
        ev.evaluate(lambda u: [[0.0] * 3] * len(u), gt)
    with pytest.raises(ValueError, match=r"^score_fn returned NaN scores \(users \[1\] \.\.\.\)$"):
        ev.evaluate(lambda u: torch.tensor([[0.0, 0.0, 1.0], [float("nan"), 0.0, 0.0]]), gt)
    # +inf without NaN is a valid (if odd) score
    assert ev.evaluate(lambda u: torch.tensor([[0.0, 0.0, float("inf")], [float("inf"), 0.0, 0.0]]), gt) == \
        {"hit@1": 1.0}
    # integer scores are accepted
    assert ev.evaluate(lambda u: torch.tensor([[0, 0, 5], [3, 0, 0]]), gt) == {"hit@1": 1.0}


def test_the_callers_scores_are_left_untouched_even_expanded_or_with_grad():
    gt = np.array([[0, 1], [1, 1]])
    ex = np.array([[0, 1], [2, 0]])
    ev = RankingEvaluator(3, ks=(1,), metrics=("hit",))
    base = torch.tensor([3.0, 2.0, 1.0])
    expanded = base.expand(2, 3)
    assert ev.evaluate(lambda u: expanded, gt, exclude=ex) == {"hit@1": 0.5}
    assert base.tolist() == [3.0, 2.0, 1.0]
    shared = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    assert ev.evaluate(lambda u: shared, gt, exclude=ex) == {"hit@1": 0.5}
    assert shared.tolist() == [[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]]
    leaf = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]], requires_grad=True)
    assert ev.evaluate(lambda u: leaf, gt, exclude=ex) == {"hit@1": 0.5}
    assert leaf.detach().tolist() == [[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]]


# ------------------------------------------------- second round (after the rerun)
def test_padding_a_short_ground_truth_keeps_every_item_column():
    # 2 users x 3 items, items 1 and 2 never seen; the exclusion names user 2, so both rows
    # are padded to 3 users; user 0 ranks item 1 first (a miss), user 1 ranks item 0 first (a hit)
    gt = sp.csr_matrix(([1.0, 1.0], ([0, 1], [0, 0])), shape=(2, 3))
    scores = fixed_scores([[0.0, 5.0, 1.0], [5.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    ev = RankingEvaluator(3, ks=(1,), metrics=("hit",))
    assert ev.evaluate(scores, gt, exclude=np.array([[2], [2]])) == {"hit@1": 0.5}


def test_exclusions_of_different_heights_are_padded_and_overlaps_stay_masked():
    scores = fixed_scores([[4.0, 3.0, 2.0, 1.0]] * 3)
    ev = RankingEvaluator(4, ks=(1,), metrics=("hit",))
    gt = np.array([[0], [2]])
    short = sp.csr_matrix(([1.0, 1.0], ([0, 0], [0, 1])), shape=(1, 4))  # items 0 and 1 of user 0
    tall = sp.csr_matrix(([1.0], ([0], [0])), shape=(3, 4))               # item 0 again: an overlap
    assert ev.evaluate(scores, gt, exclude=[short, tall]) == {"hit@1": 1.0}
    assert ev.evaluate(scores, gt, exclude=[tall, short]) == {"hit@1": 1.0}


def test_float_num_pos_and_the_message_names_the_largest_cutoff():
    out = metrics_from_hits(torch.tensor([[True, False]]), torch.tensor([2.0]), ks=(2,), metrics=("ndcg",))
    assert out["ndcg@2"].tolist() == pytest.approx([1.0 / (1.0 + 1.0 / math.log2(3))])
    with pytest.raises(ValueError, match=r"^hits has 3 columns but the largest cutoff is k=5$"):
        metrics_from_hits(torch.ones(1, 3, dtype=torch.bool), [1], ks=(1, 2, 5))


def test_nan_message_lists_the_first_ten_users():
    ev = RankingEvaluator(2, ks=(1,), metrics=("hit",))
    gt = np.array([list(range(12)), [0] * 12])
    bad = torch.full((12, 2), float("nan"))
    with pytest.raises(ValueError, match=r"^score_fn returned NaN scores \(users \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\] "
                                         r"\.\.\.\)$"):
        ev.evaluate(lambda u: bad[u], gt)


def test_float64_scores_keep_their_precision():
    ev = RankingEvaluator(2, ks=(1,), metrics=("hit",))
    scores = torch.tensor([[1.0, 1.0 + 1e-12]], dtype=torch.float64)  # equal in float32
    assert ev.evaluate(lambda u: scores, np.array([[0], [1]])) == {"hit@1": 1.0}


def test_sharded_counts_with_several_metrics():
    table = torch.eye(4)
    gt = np.array([[0, 1, 2, 3], [0, 1, 3, 2]])
    ev = RankingEvaluator(4, ks=(1,), metrics=("hit", "precision", "mrr"))
    ev.shard = (1, 2)
    res = ev.evaluate_detailed(fixed_scores(table), gt)
    assert res.num_users == 2 and res.metrics == {"hit@1": 0.5, "precision@1": 0.5, "mrr@1": 0.5}


def test_non_numeric_cutoff_columns_come_before_numeric_ones():
    header = format_metrics_table({"a@1": 1.0, "a@x": 2.0}).splitlines()[0].split()
    assert header == ["metric", "@x", "@1"]
