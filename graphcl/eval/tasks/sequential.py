"""Full-ranking evaluation of sequential recommenders (leave-one-out).

For each user with a target in the split, the model scores all items from
its input prefix (validation: the training part; test: the training part
plus the validation item; the last ``max_len`` items, left-padded) and the
target's rank gives HR/NDCG/MRR@k through the shared
:class:`~graphcl.eval.ranking.RankingEvaluator` (RecBole's ``hit@k``,
``ndcg@k``, ``mrr@k``).

History items are **not** excluded by default: MCLRec (RecBole's
``SequentialFullDataLoader`` passes no history index; only the padding item is
masked) ranks all items. ``exclude_history=true`` removes each user's input
items from the ranking instead (a target repeated from the history then counts
as a miss): the S3-Rec / CoSeRec / ICLRec code, whose tables carry the SASRec
baseline rows later papers copy, sets the scores of the user's input items to 0
before ranking (``rating_pred[train_matrix[users] > 0] = 0``), which removes them
from the top of the list unless every other score is negative.
"""
from __future__ import annotations

from typing import Any

import torch

from graphcl.data.sequences import SequenceDataset
from graphcl.eval.dot_product_scores import DotProductScores
from graphcl.eval.ranking import RankingEvaluator
from graphcl.model_protocols import SequenceScorer

SEQ_METRICS = ("hit", "ndcg", "mrr")


class SequentialRankingTask:
    model_protocol = SequenceScorer

    def __init__(self, dataset: SequenceDataset, config: dict[str, Any], device: torch.device) -> None:
        self.data = dataset
        self.name = dataset.name
        self.device = device
        self.max_len = int(config["max_len"])
        self.exclude_history = bool(config.get("exclude_history", False))
        self.evaluator = RankingEvaluator(dataset.num_items, ks=tuple(config["topk"]),
                                          metrics=SEQ_METRICS,
                                          batch_size=int(config["eval_batch_size"]), device=device)
        has_valid, has_test = dataset.held_out()
        self.has_valid, self.has_test = bool(has_valid.any()), bool(has_test.any())
        self._inputs: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def stats(self) -> dict[str, Any]:
        return self.data.stats()

    def inputs(self, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(row of each user or -1, seqs (U_split, L), lengths)`` on the device."""
        if split not in self._inputs:
            users, ends, starts = self.data.split_targets(split)
            seqs, lengths = self.data.windows(ends.to(self.device), starts.to(self.device), self.max_len)
            row = torch.full((self.data.num_users,), -1, dtype=torch.long, device=self.device)
            row[users.to(self.device)] = torch.arange(users.numel(), device=self.device)
            self._inputs[split] = (row, seqs, lengths)
        return self._inputs[split]

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        model.eval()
        row, seqs, lengths = self.inputs(split)
        exclude = [self.data.history(split)] if self.exclude_history else []
        dot = getattr(model, "scores_are_dot_products", None)
        if callable(dot) and dot():
            # every user's sequence encoded once, ranked blockwise (graphcl.eval.DotProductScores)
            reps = model.encode_all(seqs, lengths, self.evaluator.batch_size)
            table = reps.new_zeros(self.data.num_users, reps.size(1))
            present = row >= 0
            table[present] = reps[row[present]]
            scores = DotProductScores(table, model.item_embeddings[1:])
            return self.evaluator.evaluate(scores, self.data.targets(split), exclude=exclude)

        def score(users: torch.Tensor) -> torch.Tensor:
            r = row[users.to(self.device)]
            return model.score(seqs[r], lengths[r])

        return self.evaluator.evaluate(score, self.data.targets(split), exclude=exclude)
