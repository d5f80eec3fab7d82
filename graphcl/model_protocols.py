"""What the trainer and the evaluation tasks ask of a model: small ``typing.Protocol`` s.

=====================  ========================================  ===========================
protocol               methods                                   who needs it
=====================  ========================================  ===========================
:class:`Trainable`     ``batches(generator)``, ``num_batches()``,  every method (the trainer)
                       ``loss(batch)``
:class:`OwnsOptimization` ``configure_optimizers(lr, wd)``,       methods with their own
                       ``train_step(batch, optimizers)``          update (MCLRec's meta step)
:class:`Ranker`        ``prepare_scoring()``, ``full_scores(u)``  the ``ranking`` task
:class:`SequenceScorer` ``score(batch)``                          ``sequential-ranking``
:class:`Embedder`      ``embed()``                                the node and hetero tasks
=====================  ========================================  ===========================

:func:`check_protocol` is called once, when the trainer is built, so a model that lacks a
method fails before training with the names of what is missing. A leaf module.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol, runtime_checkable

import torch

__all__ = ["Trainable", "OwnsOptimization", "Ranker", "SequenceScorer", "Embedder", "check_protocol"]


@runtime_checkable
class Trainable(Protocol):
    """An epoch is ``batches(generator)`` (``num_batches()`` of them); each batch's
    ``loss(batch)`` is a scalar tensor or a dict with key ``"loss"`` (the other keys are logged)."""

    def batches(self, generator: torch.Generator) -> Iterable[Any]: ...

    def num_batches(self) -> int: ...

    def loss(self, batch: Any) -> torch.Tensor | Mapping[str, torch.Tensor]: ...


@runtime_checkable
class OwnsOptimization(Protocol):
    """A model that makes its own optimizer steps: the trainer builds its optimizers with
    ``configure_optimizers`` and calls ``train_step`` instead of ``loss`` + backward + step."""

    def configure_optimizers(self, lr: float, weight_decay: float) -> Mapping[str, torch.optim.Optimizer]: ...

    def train_step(self, batch: Any, optimizers: Mapping[str, torch.optim.Optimizer]
                   ) -> Mapping[str, torch.Tensor]: ...


@runtime_checkable
class Ranker(Protocol):
    """Scores every item for a batch of users (full ranking)."""

    def prepare_scoring(self) -> None: ...

    def full_scores(self, users: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class SequenceScorer(Protocol):
    """Scores every item as the next one of each sequence of a batch."""

    def score(self, batch: Any) -> torch.Tensor: ...


@runtime_checkable
class Embedder(Protocol):
    """Embeds every node (frozen embeddings for probes and clustering)."""

    def embed(self) -> torch.Tensor: ...


def check_protocol(model: Any, protocol: type, who: str) -> None:
    """A ``TypeError`` naming ``who``, the protocol and its missing methods when ``model``
    does not provide them."""
    if isinstance(model, protocol):
        return
    wanted = [name for name in vars(protocol) if not name.startswith("_") and callable(vars(protocol)[name])]
    missing = [name for name in wanted if not callable(getattr(model, name, None))]
    raise TypeError(f"{who}: {type(model).__name__} is not {protocol.__name__}: it lacks "
                    f"{', '.join(f'{m}()' for m in missing)} (see graphcl.model_protocols)")
