"""Shared plumbing of the augmenters: argument checks, seeded random draws and
the :class:`Augmenter` base transform.

Randomness contract (every augmenter):

* ``generator=`` a ``torch.Generator``: draws come from it, on *its* device, and
  are moved to the input's device. So a CPU generator gives bit-identical
  results for a CPU and a CUDA input.
* ``seed=`` an int: the transform owns one generator per device, seeded with
  ``seed`` the first time it sees that device; successive calls advance it, so
  two transforms built with the same seed produce the same sequence of views.
* neither: the global RNG of the input's device.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch_geometric.data import Data, HeteroData
from torch_geometric.transforms import BaseTransform

__all__ = ["Augmenter", "check_probability", "check_edge_index", "uniform", "bernoulli_mask"]


def check_probability(p: float, name: str = "p") -> float:
    """Return ``float(p)`` or raise ``ValueError`` when it is not in [0, 1]."""
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return value


def check_edge_index(edge_index: torch.Tensor, num_nodes: int | None = None,
                     *, allow_empty: bool = True) -> int:
    """Validate a (2, E) integer edge tensor; return the number of nodes.

    ``num_nodes`` defaults to ``max index + 1``. Raises ``ValueError`` for a
    wrong shape or dtype, an index outside ``[0, num_nodes)``, a graph with no
    nodes, or (``allow_empty=False``) a graph with no edges.
    """
    if not isinstance(edge_index, torch.Tensor):
        raise ValueError(f"edge_index must be a torch.Tensor, got {type(edge_index).__name__}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape (2, num_edges), got {tuple(edge_index.shape)}")
    if edge_index.dtype.is_floating_point or edge_index.dtype == torch.bool:
        raise ValueError(f"edge_index must hold integers, got dtype {edge_index.dtype}")
    num_edges = edge_index.size(1)
    if num_nodes is None:
        num_nodes = int(edge_index.max()) + 1 if num_edges else 0
    num_nodes = int(num_nodes)
    if num_nodes <= 0:
        raise ValueError("empty graph: it has no nodes")
    if num_edges == 0 and not allow_empty:
        raise ValueError("empty graph: it has no edges")
    if num_edges:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            raise ValueError(f"edge_index out of range for num_nodes={num_nodes}: "
                             f"indices span [{lo}, {hi}]")
    return num_nodes


def uniform(n: int | tuple[int, ...], device: torch.device,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """``U[0, 1)`` draws of shape ``n`` on ``device``, taken from ``generator``
    (on the generator's device) or from the global RNG of ``device``."""
    size = (n,) if isinstance(n, int) else tuple(n)
    if generator is None:
        return torch.rand(size, device=device)
    return torch.rand(size, generator=generator, device=generator.device).to(device)


def bernoulli_mask(drop_prob: torch.Tensor | float, n: int, device: torch.device,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean mask, True = kept: entry ``k`` is dropped with probability
    ``drop_prob[k]`` (``u >= p`` keeps, so ``p = 0`` keeps all, ``p = 1`` none)."""
    return uniform(n, device, generator) >= drop_prob


class Augmenter(BaseTransform):
    """Base of every augmenter: seed / generator handling and no-mutation calls.

    ``__call__`` shallow-copies a ``Data``/``HeteroData`` (its attribute store,
    never the tensors) and passes every other input through untouched; the
    subclasses build new tensors for everything they change, so the input is
    never modified.
    """

    def __init__(self, seed: int | None = None, generator: torch.Generator | None = None) -> None:
        if seed is not None and generator is not None:
            raise ValueError("give either seed or generator, not both")
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self.seed = seed
        self.generator = generator
        self._generators: dict[str, torch.Generator] = {}

    def rng(self, device: torch.device | str) -> torch.Generator | None:
        """The generator to draw with for an input on ``device`` (None: global RNG)."""
        if self.generator is not None:
            return self.generator
        if self.seed is None:
            return None
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        key = str(device)
        if key not in self._generators:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            self._generators[key] = gen
        return self._generators[key]

    def reset(self) -> None:
        """Restart the seeded sequence (no effect with ``generator=`` or no seed)."""
        self._generators.clear()

    def __call__(self, data: Any) -> Any:
        if isinstance(data, (Data, HeteroData)):
            data = copy.copy(data)
        return self.forward(data)

    def _extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._extra_repr()
        seed = f"seed={self.seed}" if self.seed is not None else ""
        args = ", ".join(a for a in (extra, seed) if a)
        return f"{self.__class__.__name__}({args})"
