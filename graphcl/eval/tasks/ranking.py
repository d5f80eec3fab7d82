"""Full-ranking evaluation of a general recommender (the ``ranking`` task)."""
from __future__ import annotations

from typing import Any

import torch

from graphcl.data.interactions import InteractionDataset
from graphcl.eval.ranking import RankingEvaluator, ScoreFn
from graphcl.model_protocols import Ranker


class RankingTask:
    """Full-ranking metrics on ``valid``/``test``; training items (and for test,
    validation items) are excluded from the ranking."""

    model_protocol = Ranker

    def __init__(self, dataset: InteractionDataset, config: dict[str, Any], device: torch.device) -> None:
        self.data = dataset
        self.name = dataset.name
        self.evaluator = RankingEvaluator(dataset.num_items, ks=tuple(config["topk"]),
                                          batch_size=int(config["eval_batch_size"]), device=device)
        self._train = dataset.matrix("train")
        self._valid = dataset.matrix("valid")
        self.has_valid = dataset.num_interactions("valid") > 0
        self.has_test = dataset.num_interactions("test") > 0

    def stats(self) -> dict[str, Any]:
        return self.data.stats()

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        model.eval()
        model.prepare_scoring()
        exclude = [self._train] + ([self._valid] if split == "test" else [])
        return self.evaluator.evaluate(ranking_scores(model), self.data.matrix(split), exclude=exclude)


def ranking_scores(model: torch.nn.Module) -> ScoreFn:
    """The model's :class:`DotProductScores` where it offers one (blockwise top-k), else
    its ``full_scores``."""
    tables = getattr(model, "dot_product_scores", None)
    scores = tables() if callable(tables) else None
    return scores if scores is not None else model.full_scores
