"""Sequence augmenters (CL4SRec / CoSeRec / MCLRec), batched on the device.

Input: a left-padded ``(B, L)`` integer tensor of item ids (``0`` = padding,
real items in the last ``lengths[b]`` columns) and ``lengths`` ``(B,)``. Every
function returns a new ``(seqs, lengths)`` pair in the same layout; the input
is never modified and no Python loop runs over the sequences. ``n`` below is a
row's length.

* crop (CL4SRec eq. 3): keep a random contiguous run of ``max(1, floor(η n))``
  items, ``η`` = ``keep_ratio`` (MCLRec's ``crop_ratio`` 0.5 is ``η = 1 − 0.5``).
* mask (eq. 4): set ``floor(γ n)`` distinct random positions to the mask id
  (MCLRec: the padding id 0, so attention ignores them); the length is kept.
* reorder (eq. 5): shuffle a random contiguous span of ``floor(β n)`` items.
* insert (CoSeRec): before ``floor(r n)`` random items insert a random
  neighbour of that item (``neighbors`` table) or a uniform random item; the
  most recent ``L`` items are kept when the sequence overflows.
* substitute (CoSeRec / SRA-CL): replace each item, with probability ``p``, by
  one of its ``k`` nearest items (``neighbors``, e.g. from
  :func:`item_neighbors` on item embeddings).

Randomness follows :mod:`graphcl.augment.base`: a ``generator`` (draws on its
device), a ``seed`` (class forms), or the global RNG.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .base import Augmenter, check_probability, uniform

__all__ = [
    "DistinctPairViews",
    "SequenceCrop",
    "SequenceInsert",
    "SequenceMask",
    "SequenceReorder",
    "SequenceSubstitute",
    "check_sequences",
    "crop_sequences",
    "distinct_pair_views",
    "insert_sequences",
    "item_neighbors",
    "mask_sequences",
    "reorder_sequences",
    "substitute_sequences",
]

Batch = tuple[torch.Tensor, torch.Tensor]


def check_sequences(seqs: torch.Tensor, lengths: torch.Tensor) -> Batch:
    """Validate a left-padded batch; returns ``(seqs, lengths)`` (lengths as long)."""
    if not isinstance(seqs, torch.Tensor) or seqs.dim() != 2:
        shape = tuple(seqs.shape) if isinstance(seqs, torch.Tensor) else type(seqs).__name__
        raise ValueError(f"seqs must be a (batch, max_len) tensor, got {shape}")
    if seqs.dtype.is_floating_point or seqs.dtype == torch.bool:
        raise ValueError(f"seqs must hold integer item ids, got dtype {seqs.dtype}")
    lengths = torch.as_tensor(lengths, device=seqs.device).long().reshape(-1)
    if lengths.numel() != seqs.size(0):
        raise ValueError(f"lengths has {lengths.numel()} entries for {seqs.size(0)} sequences")
    if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > seqs.size(1)):
        raise ValueError(f"lengths must lie in [0, {seqs.size(1)}], got "
                         f"[{int(lengths.min())}, {int(lengths.max())}]")
    if seqs.numel() and int(seqs.min()) < 0:
        raise ValueError("item ids must be >= 0 (0 is padding)")
    if bool((seqs.masked_fill(_real(seqs, lengths), 0) != 0).any()):
        raise ValueError("seqs must be left-padded with 0: a row has a nonzero id before its "
                         "last `lengths` columns")
    return seqs, lengths


def _real(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Bool (B, L): the columns holding a row's items (the last ``lengths`` ones)."""
    cols = torch.arange(seqs.size(1), device=seqs.device)
    return cols.unsqueeze(0) >= (seqs.size(1) - lengths).unsqueeze(1)


def _count(lengths: torch.Tensor, ratio: float) -> torch.Tensor:
    """``floor(ratio * n)`` per row, computed like Python's ``math.floor(n * ratio)``."""
    return torch.floor(lengths.double() * ratio).long()


def _randint(high: torch.Tensor, device: torch.device, generator: torch.Generator | None,
             shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Uniform integers in ``[0, high)`` (``high >= 1``; broadcast over ``shape``)."""
    u = uniform(shape or tuple(high.shape), device, generator)
    return torch.minimum((u * high).long(), high - 1)


def _rank_random(eligible: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """A random rank 0.. for each eligible entry of each row (ineligible rank last)."""
    keys = uniform(tuple(eligible.shape), eligible.device, generator)
    keys = keys.masked_fill(~eligible, 2.0)
    order = torch.argsort(keys, dim=1)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(eligible.size(1), device=eligible.device).expand_as(order))
    return rank


def crop_sequences(seqs: torch.Tensor, lengths: torch.Tensor, keep_ratio: float = 0.5,
                   generator: torch.Generator | None = None) -> Batch:
    """A random contiguous run of ``max(1, floor(keep_ratio * n))`` items (n >= 1)."""
    keep_ratio = check_probability(keep_ratio, "keep_ratio")
    seqs, lengths = check_sequences(seqs, lengths)
    L = seqs.size(1)
    k = torch.where(lengths > 0, _count(lengths, keep_ratio).clamp(min=1), lengths)
    k = torch.minimum(k, lengths)
    start = _randint(lengths - k + 1, seqs.device, generator)
    cols = torch.arange(L, device=seqs.device).unsqueeze(0)
    src = (L - lengths).unsqueeze(1) + start.unsqueeze(1) + cols - (L - k).unsqueeze(1)
    keep = cols >= (L - k).unsqueeze(1)
    out = torch.where(keep, seqs.gather(1, src.clamp(0, L - 1)), torch.zeros_like(seqs))
    return out, k


def mask_sequences(seqs: torch.Tensor, lengths: torch.Tensor, ratio: float = 0.5,
                   mask_id: int = 0, generator: torch.Generator | None = None) -> Batch:
    """Set ``floor(ratio * n)`` distinct random positions of each row to ``mask_id``."""
    ratio = check_probability(ratio, "ratio")
    seqs, lengths = check_sequences(seqs, lengths)
    rank = _rank_random(_real(seqs, lengths), generator)
    masked = rank < _count(lengths, ratio).unsqueeze(1)
    return seqs.masked_fill(masked, int(mask_id)), lengths.clone()


def reorder_sequences(seqs: torch.Tensor, lengths: torch.Tensor, ratio: float = 0.8,
                      generator: torch.Generator | None = None) -> Batch:
    """Shuffle a random contiguous span of ``floor(ratio * n)`` items of each row."""
    ratio = check_probability(ratio, "ratio")
    seqs, lengths = check_sequences(seqs, lengths)
    B, L = seqs.shape
    k = _count(lengths, ratio)
    start = (L - lengths) + _randint(lengths - k + 1, seqs.device, generator)   # first column
    cols = torch.arange(L, device=seqs.device).unsqueeze(0).expand(B, L).double()
    in_span = (cols >= start.unsqueeze(1)) & (cols < (start + k).unsqueeze(1))
    # span keys fall in [start - 0.5, start + k - 0.5): a permutation inside the span only
    u = uniform((B, L), seqs.device, generator).double()
    keys = torch.where(in_span, start.double().unsqueeze(1) - 0.5 + u * k.unsqueeze(1), cols)
    order = torch.argsort(keys, dim=1, stable=True)
    return seqs.gather(1, order), lengths.clone()


def insert_sequences(seqs: torch.Tensor, lengths: torch.Tensor, ratio: float = 0.3, *,
                     num_items: int | None = None, neighbors: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> Batch:
    """Insert an item before ``floor(ratio * n)`` random non-padding items of each row.

    The inserted item is a random entry of ``neighbors[item]`` (a
    ``(num_items + 1, K)`` table, CoSeRec's correlated items) or, without a
    table, uniform in ``[1, num_items]``. Rows longer than ``L`` afterwards keep
    their last ``L`` items.
    """
    ratio = check_probability(ratio, "ratio")
    seqs, lengths = check_sequences(seqs, lengths)
    if neighbors is None and (num_items is None or int(num_items) < 1):
        raise ValueError("insert_sequences needs num_items >= 1 or a neighbors table")
    B, L = seqs.shape
    eligible = _real(seqs, lengths) & (seqs != 0)
    m = torch.minimum(_count(lengths, ratio), eligible.sum(1))
    chosen = _rank_random(eligible, generator) < m.unsqueeze(1)
    if neighbors is not None:
        new = _neighbor_draw(seqs, neighbors, generator)
    else:
        new = 1 + _randint(torch.tensor(int(num_items), device=seqs.device), seqs.device,
                           generator, (B, L))
    both = torch.stack([new, seqs], dim=2).reshape(B, 2 * L)          # slot 0 before each item
    valid = torch.stack([chosen, _real(seqs, lengths)], dim=2).reshape(B, 2 * L)
    order = torch.argsort(valid.to(torch.int8), dim=1, stable=True)    # valid entries last
    out = torch.where(valid.gather(1, order), both.gather(1, order), torch.zeros_like(both))
    return out[:, -L:].contiguous(), (lengths + m).clamp_max(L)


def substitute_sequences(seqs: torch.Tensor, lengths: torch.Tensor, p: float,
                         neighbors: torch.Tensor, generator: torch.Generator | None = None
                         ) -> Batch:
    """Replace each non-padding item with probability ``p`` by a uniformly chosen one
    of its neighbours ``neighbors[item]`` (a ``(num_items + 1, K)`` id table)."""
    p = check_probability(p)
    seqs, lengths = check_sequences(seqs, lengths)
    eligible = _real(seqs, lengths) & (seqs != 0)
    swap = eligible & (uniform(tuple(seqs.shape), seqs.device, generator) < p)
    return torch.where(swap, _neighbor_draw(seqs, neighbors, generator), seqs), lengths.clone()


def _neighbor_draw(seqs: torch.Tensor, neighbors: torch.Tensor,
                   generator: torch.Generator | None) -> torch.Tensor:
    if not isinstance(neighbors, torch.Tensor) or neighbors.dim() != 2 or neighbors.size(1) < 1:
        raise ValueError("neighbors must be a (num_items + 1, K) tensor of item ids, K >= 1")
    if seqs.numel() and int(seqs.max()) >= neighbors.size(0):
        raise ValueError(f"item id {int(seqs.max())} has no row in the neighbors table "
                         f"({neighbors.size(0)} rows)")
    neighbors = neighbors.to(seqs.device)
    pick = _randint(torch.tensor(neighbors.size(1), device=seqs.device), seqs.device,
                    generator, tuple(seqs.shape))
    return neighbors[seqs, pick]


@torch.no_grad()
def item_neighbors(item_embeddings: torch.Tensor, k: int, *, similarity: str = "cosine",
                   block_size: int = 4096) -> torch.Tensor:
    """The ``k`` most similar items of every item (itself excluded), ``(n + 1, k)``.

    ``item_embeddings`` is the ``(num_items + 1, d)`` table whose row 0 is the
    padding id (as in :attr:`SequentialRecommender.item_embeddings`). Row 0 of
    the result is all 0; other entries are ids in ``1..num_items``. Computed in
    row blocks, so memory is ``block_size x num_items``.
    """
    if item_embeddings.dim() != 2 or item_embeddings.size(0) < 2:
        raise ValueError("item_embeddings must be (num_items + 1, d) with row 0 the padding row")
    n = item_embeddings.size(0) - 1
    if not 1 <= int(k) <= n - 1:
        raise ValueError(f"k must be in [1, {n - 1}] for {n} items, got {k}")
    if similarity not in ("cosine", "dot"):
        raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
    emb = item_embeddings[1:].float()
    if bool(torch.isnan(emb).any()):
        raise ValueError("item_embeddings contain NaN")
    if similarity == "cosine":
        emb = F.normalize(emb, dim=1)
    out = torch.zeros(n + 1, int(k), dtype=torch.long, device=emb.device)
    for start in range(0, n, block_size):
        rows = torch.arange(start, min(start + block_size, n), device=emb.device)
        sims = emb[rows] @ emb.T
        sims[torch.arange(rows.numel(), device=emb.device), rows] = float("-inf")
        out[rows + 1] = torch.topk(sims, int(k), dim=1).indices + 1
    return out


Op = Callable[[torch.Tensor, torch.Tensor, "torch.Generator | None"], Batch]


def distinct_pair_views(seqs: torch.Tensor, lengths: torch.Tensor, ops: Sequence[Op],
                        generator: torch.Generator | None = None, min_length: int = 2
                        ) -> tuple[Batch, Batch]:
    """Two views per row from two *distinct* ops drawn uniformly (MCLRec / CL4SRec).

    Each op runs once on the whole batch; a row takes op ``a`` for view 1 and
    op ``b != a`` for view 2 (an ordered pair, uniform). Rows shorter than
    ``min_length`` are copied unchanged into both views (MCLRec leaves
    length-1 sequences untouched).
    """
    if len(ops) < 2:
        raise ValueError("distinct_pair_views needs at least two ops")
    seqs, lengths = check_sequences(seqs, lengths)
    B, dev = seqs.size(0), seqs.device
    results = [op(seqs, lengths, generator) for op in ops]
    n_ops = torch.tensor(len(ops), device=dev)
    first = _randint(n_ops.expand(B), dev, generator)
    second = (first + 1 + _randint((n_ops - 1).expand(B), dev, generator)) % len(ops)
    keep = lengths < min_length
    views = []
    for choice in (first, second):
        s, n = seqs.clone(), lengths.clone()
        for j, (s_j, n_j) in enumerate(results):
            pick = (choice == j) & ~keep
            s = torch.where(pick.unsqueeze(1), s_j, s)
            n = torch.where(pick, n_j, n)
        views.append((s, n))
    return views[0], views[1]


# ------------------------------------------------------------------ classes
class _SequenceAugmenter(Augmenter):
    """Class form: call on a ``(seqs, lengths)`` pair; returns a new pair."""

    def apply(self, seqs: torch.Tensor, lengths: torch.Tensor,
              generator: torch.Generator | None) -> Batch:
        raise NotImplementedError

    def forward(self, data: Batch) -> Batch:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError(f"{type(self).__name__} expects a (seqs, lengths) pair, "
                            f"got {type(data).__name__}")
        seqs, lengths = data
        return self.apply(seqs, lengths, self.rng(seqs.device))

    def __call__(self, seqs, lengths=None):  # type: ignore[override]
        return self.forward((seqs, lengths) if lengths is not None else seqs)


class SequenceCrop(_SequenceAugmenter):
    def __init__(self, keep_ratio: float = 0.5, seed: int | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        self.keep_ratio = check_probability(keep_ratio, "keep_ratio")

    def apply(self, seqs, lengths, generator):
        return crop_sequences(seqs, lengths, self.keep_ratio, generator)

    def _extra_repr(self) -> str:
        return f"keep_ratio={self.keep_ratio}"


class SequenceMask(_SequenceAugmenter):
    def __init__(self, ratio: float = 0.5, mask_id: int = 0, seed: int | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        self.ratio, self.mask_id = check_probability(ratio, "ratio"), int(mask_id)

    def apply(self, seqs, lengths, generator):
        return mask_sequences(seqs, lengths, self.ratio, self.mask_id, generator)

    def _extra_repr(self) -> str:
        return f"ratio={self.ratio}"


class SequenceReorder(_SequenceAugmenter):
    def __init__(self, ratio: float = 0.8, seed: int | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        self.ratio = check_probability(ratio, "ratio")

    def apply(self, seqs, lengths, generator):
        return reorder_sequences(seqs, lengths, self.ratio, generator)

    def _extra_repr(self) -> str:
        return f"ratio={self.ratio}"


class SequenceInsert(_SequenceAugmenter):
    def __init__(self, ratio: float = 0.3, num_items: int | None = None,
                 neighbors: torch.Tensor | None = None, seed: int | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        self.ratio, self.num_items, self.neighbors = check_probability(ratio, "ratio"), num_items, neighbors

    def apply(self, seqs, lengths, generator):
        return insert_sequences(seqs, lengths, self.ratio, num_items=self.num_items,
                                neighbors=self.neighbors, generator=generator)

    def _extra_repr(self) -> str:
        return f"ratio={self.ratio}"


class SequenceSubstitute(_SequenceAugmenter):
    """Semantic substitution; give ``neighbors`` or ``item_embeddings`` and ``k``."""

    def __init__(self, p: float = 0.2, neighbors: torch.Tensor | None = None,
                 item_embeddings: torch.Tensor | None = None, k: int = 10,
                 seed: int | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        if (neighbors is None) == (item_embeddings is None):
            raise ValueError("give exactly one of neighbors or item_embeddings")
        self.p = check_probability(p)
        self.neighbors = neighbors if neighbors is not None else item_neighbors(item_embeddings, k)

    def apply(self, seqs, lengths, generator):
        return substitute_sequences(seqs, lengths, self.p, self.neighbors, generator)

    def _extra_repr(self) -> str:
        return f"p={self.p}, k={self.neighbors.size(1)}"


class DistinctPairViews(_SequenceAugmenter):
    """Two views from two distinct augmenters per row; see :func:`distinct_pair_views`."""

    def __init__(self, augmenters: Sequence[_SequenceAugmenter], min_length: int = 2,
                 seed: int | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        self.augmenters, self.min_length = list(augmenters), int(min_length)
        if len(self.augmenters) < 2:
            raise ValueError("DistinctPairViews needs at least two augmenters")

    def apply(self, seqs, lengths, generator):
        return distinct_pair_views(seqs, lengths, [a.apply for a in self.augmenters], generator,
                                   self.min_length)

    def __repr__(self) -> str:
        return f"DistinctPairViews([{', '.join(repr(a) for a in self.augmenters)}])"
