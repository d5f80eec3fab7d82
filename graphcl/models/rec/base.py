"""Base class of the general (non-sequential) recommenders.

A recommender is an ``nn.Module`` that

* yields its training batches for one epoch (:meth:`Recommender.batches`, by
  default BPR triples from the uniform negative sampler),
* turns a batch into a loss (:meth:`Recommender.loss`: a scalar tensor, or a
  dict with a ``"loss"`` entry plus named parts to log),
* scores all items for a batch of users (:meth:`Recommender.full_scores`),
  after :meth:`Recommender.prepare_scoring` cached whatever the scoring needs.
  By default the cache is ``embeddings()`` (final user and item embeddings)
  and the score is their dot product, which :meth:`Recommender.dot_product_scores`
  hands to the evaluator for its blockwise top-k; the cache is dropped whenever
  the model goes back to training.

The trainer (``graphcl.train``) drives these four calls and nothing else.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import nn

from graphcl.data.interactions import InteractionDataset
from graphcl.eval.dot_product_scores import DotProductScores


class Recommender(nn.Module):
    def __init__(self, dataset: InteractionDataset, config: dict[str, Any],
                 device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.num_users = dataset.num_users
        self.num_items = dataset.num_items
        self.config = dict(config)
        self.device_ = torch.device(device)
        self._train_pairs = dataset.train.to(self.device_)
        self._sampler = None
        self._cache: Any = None

    # ---------------------------------------------------------------- training
    @property
    def sampler(self):
        if self._sampler is None:
            from graphcl.data.sampling import UniformNegativeSampler
            self._sampler = UniformNegativeSampler(self._train_pairs, self.num_users, self.num_items,
                                                   device=self.device_)
        return self._sampler

    def batches(self, generator: torch.Generator) -> Iterator[Any]:
        """One epoch of ``(users, positive items, negative items)`` triples."""
        from graphcl.data.sampling import bpr_triples
        return bpr_triples(self.sampler, self._train_pairs, int(self.config["batch_size"]), generator)

    def num_batches(self) -> int:
        b = int(self.config["batch_size"])
        return (self._train_pairs.size(1) + b - 1) // b

    def loss(self, batch: Any) -> torch.Tensor | dict[str, torch.Tensor]:
        raise NotImplementedError

    # ----------------------------------------------------------------- scoring
    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (user, item) embeddings used for scoring."""
        raise NotImplementedError

    def prepare_scoring(self) -> None:
        """Cache what :meth:`full_scores` needs (called under ``no_grad``)."""
        self._cache = self.embeddings()

    def full_scores(self, users: torch.Tensor) -> torch.Tensor:
        """``e_u · e_i`` for every item (LightGCN eq. 9 and most graph recommenders)."""
        if self._cache is None:
            self.prepare_scoring()
        user_emb, item_emb = self._cache
        return user_emb[users] @ item_emb.T

    def dot_product_scores(self) -> DotProductScores | None:
        """The scoring tables as a :class:`DotProductScores`, which the ranking evaluator
        ranks blockwise without materializing all scores; ``None`` when a subclass
        overrides :meth:`full_scores` (its score is then not known to be ``e_u · e_i``)."""
        if type(self).full_scores is not Recommender.full_scores:
            return None
        if self._cache is None:
            self.prepare_scoring()
        user_emb, item_emb = self._cache
        return DotProductScores(user_emb, item_emb)

    def train(self, mode: bool = True):
        self._cache = None
        return super().train(mode)


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """BPR (Rendle et al. 2009): ``mean(-log sigmoid(s_pos - s_neg))``, stably as softplus."""
    return nn.functional.softplus(neg_scores - pos_scores).mean()
