"""Evaluation done right: the test ranking skips the user's training *and* validation items, the
validation ranking skips the training items only (README, "full-ranking evaluation done right")."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from graphcl.data.interactions import InteractionDataset
from graphcl.train import build_trainer
from graphcl.eval.tasks.ranking import RankingTask

from _rec_helpers import clustered_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TableScores(nn.Module):
    """A recommender whose score of (u, i) is a fixed table entry."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)

    def prepare_scoring(self) -> None:
        pass

    def full_scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.table[users].clone()


def test_a_validation_item_that_would_rank_first_is_not_counted_at_test_time():
    # user 0: train {0}, valid {1}, test {2}; user 1: train {3}, valid {4}, test {5}
    ds = InteractionDataset("hand", 2, 6, train=torch.tensor([[0, 1], [0, 3]]),
                            valid=torch.tensor([[0, 1], [1, 4]]), test=torch.tensor([[0, 1], [2, 5]]))
    table = torch.tensor([[9.0, 10.0, 8.0, 1.0, 2.0, 3.0],     # valid item first, train second, test third
                          [1.0, 2.0, 3.0, 9.0, 10.0, 8.0]])
    task = RankingTask(ds, {"topk": [1, 2, 3], "eval_batch_size": 1}, torch.device("cpu"))
    test = task.evaluate(TableScores(table), "test")
    # train and validation items skipped: each test item is at rank 1
    assert test["recall@1"] == test["hit@1"] == test["mrr@1"] == test["ndcg@1"] == 1.0
    # validation: only the training item is skipped, the validation item is at rank 1 and the
    # test item (not known yet) still competes: rank 2
    valid = task.evaluate(TableScores(table), "valid")
    assert valid["recall@1"] == valid["ndcg@1"] == 1.0
    swapped = table.clone()
    swapped[:, [1, 2, 4, 5]] = swapped[:, [2, 1, 5, 4]]       # the test item above the validation item
    valid2 = task.evaluate(TableScores(swapped), "valid")
    assert valid2["recall@1"] == 0.0 and valid2["recall@2"] == 1.0
    assert valid2["mrr@3"] == 0.5 and abs(valid2["ndcg@2"] - 1 / math.log2(3)) < 1e-12


def _literal_test_recall(scores: torch.Tensor, ds: InteractionDataset, k: int) -> tuple[float, float]:
    """Mean recall@k over users with test items, ranking all items but train + valid (and, for
    comparison, all items but train only)."""
    seen_train: dict[int, set[int]] = {}
    seen_valid: dict[int, set[int]] = {}
    for store, part in ((seen_train, ds.train), (seen_valid, ds.valid)):
        for u, i in part.t().tolist():
            store.setdefault(u, set()).add(i)
    truth: dict[int, set[int]] = {}
    for u, i in ds.test.t().tolist():
        truth.setdefault(u, set()).add(i)
    right = wrong = 0.0
    for u, items in truth.items():
        order = sorted(range(ds.num_items), key=lambda i: (-float(scores[u, i]), i))
        for total, skip in ((0, seen_train.get(u, set()) | seen_valid.get(u, set())),
                            (1, seen_train.get(u, set()))):
            top = [i for i in order if i not in skip][:k]
            recall = len(items & set(top)) / len(items)
            if total == 0:
                right += recall
            else:
                wrong += recall
    return right / len(truth), wrong / len(truth)


def test_trained_model_test_recall_is_the_masked_literal_ranking(tmp_path):
    """A real LightGCN: the reported test recall@20 is the literal ranking without training and
    validation items; ranking with the validation items in would give another number."""
    ds = clustered_dataset(60, 40, 1500, seed=2)
    trainer = build_trainer("lightgcn", ds, config={"epochs": 2, "embedding_dim": 8, "num_layers": 1,
                                                    "batch_size": 256}, run_dir=tmp_path / "r", verbose=False)
    result = trainer.fit()
    model = trainer.model
    model.eval()
    model.prepare_scoring()
    with torch.no_grad():
        scores = model.full_scores(torch.arange(ds.num_users))
    right, with_valid = _literal_test_recall(scores, ds, 20)
    assert abs(result.test["recall@20"] - right) < 1e-9
    assert abs(with_valid - right) > 0.01
