"""Dropping on a user-item interaction graph (SGL, Wu et al. SIGIR 2021, sec. 3.2.1).

The graph is its (2, E) tensor of ``(user, item)`` training pairs; a view keeps a subset
of the pairs over the same user and item sets (no renumbering), so the views' rows pair
up with the input's.

* :func:`drop_interactions` (SGL's edge dropout ED, eq. 4: ``s(G) = (V, M ⊙ E)``): with
  ``exact=False`` pair e is kept when u_e >= p (u_e ~ U[0, 1)); with ``exact=True`` a
  uniformly random subset of exactly ⌊E·(1 − p)⌋ pairs is kept, as the authors' code
  (wujcan/SGL's ``randint_choice(n, size=int(n * (1 - ratio)), replace=False)``) and
  SELFRec's ``GraphAugmentor.edge_dropout`` do.
* :func:`drop_interaction_nodes` (SGL's node dropout ND, eq. 3): each user and each item
  is dropped with probability p (``exact=True``: exactly ⌊U·p⌋ users and ⌊I·p⌋ items,
  uniformly, as SELFRec's ``node_dropout``), and every pair touching a dropped node goes.
"""
from __future__ import annotations

import torch

from .base import check_probability, uniform

__all__ = ["drop_interactions", "drop_interaction_nodes", "check_pairs_tensor"]


def check_pairs_tensor(pairs: torch.Tensor) -> torch.Tensor:
    """``pairs`` as a (2, E) long tensor, or a ValueError naming the shape."""
    if not isinstance(pairs, torch.Tensor) or pairs.dim() != 2 or pairs.size(0) != 2:
        shape = tuple(pairs.shape) if isinstance(pairs, torch.Tensor) else type(pairs).__name__
        raise ValueError(f"interaction pairs must be a (2, E) tensor of (user, item) ids, got {shape}")
    return pairs.long()


def _random_subset_mask(n: int, keep: int, device: torch.device,
                        generator: torch.Generator | None) -> torch.Tensor:
    """A boolean mask of length n with exactly ``keep`` True entries, uniformly placed."""
    gen_device = generator.device if generator is not None else device
    order = torch.randperm(n, generator=generator, device=gen_device).to(device)
    mask = torch.zeros(n, dtype=torch.bool, device=device)
    mask[order[:keep]] = True
    return mask


def drop_interactions(pairs: torch.Tensor, p: float, *, exact: bool = False,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(kept pairs, keep mask)``: SGL's edge dropout on the (2, E) pairs (module docstring)."""
    pairs = check_pairs_tensor(pairs)
    p = check_probability(p)
    n = pairs.size(1)
    if exact:
        keep = _random_subset_mask(n, int(n * (1.0 - p)), pairs.device, generator)
    else:
        keep = uniform(n, pairs.device, generator) >= p
    return pairs[:, keep], keep


def drop_interaction_nodes(pairs: torch.Tensor, num_users: int, num_items: int, p: float, *,
                           exact: bool = False, generator: torch.Generator | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(kept pairs, kept users mask (U,), kept items mask (I,))``: SGL's node dropout."""
    pairs = check_pairs_tensor(pairs)
    p = check_probability(p)
    if num_users < 1 or num_items < 1:
        raise ValueError(f"num_users and num_items must be positive, got {num_users} and {num_items}")
    if pairs.numel() and (int(pairs[0].max()) >= num_users or int(pairs[1].max()) >= num_items
                          or int(pairs.min()) < 0):
        raise ValueError(f"interaction pairs hold ids outside [0, {num_users}) x [0, {num_items})")
    device = pairs.device
    if exact:
        keep_users = ~_random_subset_mask(num_users, int(num_users * p), device, generator)
        keep_items = ~_random_subset_mask(num_items, int(num_items * p), device, generator)
    else:
        keep_users = uniform(num_users, device, generator) >= p
        keep_items = uniform(num_items, device, generator) >= p
    keep = keep_users[pairs[0]] & keep_items[pairs[1]]
    return pairs[:, keep], keep_users, keep_items
