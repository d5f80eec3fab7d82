"""``RandomChoice``: apply one transform picked at random per call (GraphCL's
random augmentation pairing). PyG 2.8 ships ``Compose`` but no ``RandomChoice``;
this one follows the same ``BaseTransform`` protocol and takes a seed."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from .base import Augmenter

__all__ = ["RandomChoice"]


class RandomChoice(Augmenter):
    """Apply ``transforms[k]`` with ``k`` drawn with probabilities ``p``
    (uniform by default) on a CPU generator seeded with ``seed``."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]], p: Sequence[float] | None = None,
                 seed: int | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        if len(transforms) == 0:
            raise ValueError("RandomChoice needs at least one transform")
        weights = torch.ones(len(transforms)) if p is None else torch.as_tensor(p, dtype=torch.float)
        if weights.numel() != len(transforms) or bool((weights < 0).any()) or float(weights.sum()) <= 0:
            raise ValueError("p must give one non-negative weight per transform, not all zero")
        self.transforms, self.weights = list(transforms), weights / weights.sum()

    def __call__(self, data: Any) -> Any:  # each transform copies what it changes
        return self.forward(data)

    def forward(self, data: Any) -> Any:
        k = int(torch.multinomial(self.weights, 1, generator=self.rng("cpu")))
        return self.transforms[k](data)

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"RandomChoice([{inner}])"
