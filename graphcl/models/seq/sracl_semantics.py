"""SRA-CL's semantic side: units, LLM summaries, their embeddings, top-k retrieval.

A *unit* is what gets a preference summary (:func:`semantic_units`):

* ``level="user"`` (default, our simplification): one unit per user with a
  non-empty training part; its sequence is the training part (the last
  ``max_len`` items are fed to the encoder), its summary prompt shows the last
  ``user_history`` items;
* ``level="prefix"`` (the paper): one unit per training example (the input
  prefix of a next-item target).

Each training example maps to a unit (``example_unit``, aligned with
``dataset.train_targets()``). :func:`generate_summaries` asks the LLM (through a
:class:`graphcl.llm.CachedGenerator`, so a re-run makes no call) for every
unit's and item's summary; :func:`summaries_from_file` takes them from a JSONL
file instead. :func:`build_semantics` embeds the texts with the text encoder
and retrieves, by cosine similarity, the ``k`` nearest units of each unit and
the ``k`` nearest items of each item (self excluded; computed in row blocks,
never an ``N x N`` matrix).

Fallback without LLM text (``semantics="fallback-cooccurrence"``): *not*
SRA-CL's LLM semantics. Item vectors are the rank-``r`` SVD factors of the
binary user x item matrix of the training parts (items bought by the same
users are close), unit vectors the mean of their items' vectors.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from graphcl.augment.sequence import item_neighbors
from graphcl.data.item_text import ItemText
from graphcl.data.sequences import SequenceDataset
from graphcl.llm.summaries import (
    Summaries,
    SummaryFileError,
    SummarySettings,
    answer_prime,
    item_prompt,
    run_prompts,
    tidy_summary,
    user_prompt,
)

__all__ = [
    "SemanticUnits",
    "Semantics",
    "build_semantics",
    "cooccurrence_semantics",
    "generate_summaries",
    "semantic_neighbors",
    "semantic_units",
    "summaries_from_file",
    "summary_prompts",
]

SEMANTICS = ("llm", "fallback-cooccurrence")


@dataclass
class SemanticUnits:
    """Units (see the module docstring): unit ``j`` is ``items[starts[j]:ends[j]]`` of
    user ``users[j]``; ``keys[j]`` its id in summary files (user token, or
    ``(user token, length)`` at prefix level); ``example_unit[e]`` the unit of
    training example ``e``."""
    level: str
    keys: list
    users: torch.Tensor
    starts: torch.Tensor
    ends: torch.Tensor
    example_unit: torch.Tensor

    def __len__(self) -> int:
        return self.users.numel()


def _user_tokens(dataset: SequenceDataset) -> list[str]:
    return dataset.user_tokens or [str(u) for u in range(dataset.num_users)]


def semantic_units(dataset: SequenceDataset, level: str = "user") -> SemanticUnits:
    """The units of ``dataset`` at ``level`` (``user`` or ``prefix``)."""
    ex_ends, ex_starts = dataset.train_targets()
    offsets = dataset.offsets
    ex_user = torch.searchsorted(offsets, ex_starts, right=True) - 1
    tokens = _user_tokens(dataset)
    if level == "user":
        train_len = dataset.train_lengths()
        users = torch.nonzero(train_len >= 1).reshape(-1)
        row = torch.full((dataset.num_users,), -1, dtype=torch.long)
        row[users] = torch.arange(users.numel())
        starts = offsets[users]
        return SemanticUnits("user", [tokens[u] for u in users.tolist()], users, starts,
                             starts + train_len[users], row[ex_user])
    if level == "prefix":
        lengths = (ex_ends - ex_starts).tolist()
        keys = [(tokens[u], n) for u, n in zip(ex_user.tolist(), lengths)]
        return SemanticUnits("prefix", keys, ex_user, ex_starts.clone(), ex_ends.clone(),
                             torch.arange(ex_ends.numel()))
    raise ValueError(f"summary level must be 'user' or 'prefix', got {level!r}")


def summary_prompts(dataset: SequenceDataset, units: SemanticUnits, item_text: ItemText,
                    settings: SummarySettings, chat: bool = False) -> tuple[list[str], list[str]]:
    """``(unit prompts, item prompts)``: one per unit (its items' texts, the last
    ``user_history``) and one per item ``1..n`` (its text)."""
    nouns = settings.nouns(dataset.name)
    items = dataset.items.tolist()
    h = settings.user_history
    unit_prompts = [user_prompt([item_text.texts[i - 1] for i in items[max(s, e - h):e]], nouns,
                                settings, chat)
                    for s, e in zip(units.starts.tolist(), units.ends.tolist())]
    item_prompts = [item_prompt(t, nouns, settings, chat) for t in item_text.texts]
    return unit_prompts, item_prompts


SUMMARY_ORDERS = ("users-first", "items-first", "users-first-reversed", "items-first-reversed")


def generate_summaries(dataset: SequenceDataset, units: SemanticUnits, item_text: ItemText, llm: Any,
                       settings: SummarySettings | None = None, *, order: str = "users-first",
                       chunk_size: int | None = None, log: bool = False,
                       on_chunk: Callable[[dict[str, Any]], None] | None = None
                       ) -> tuple[Summaries, dict[str, Any]]:
    """Every unit's and item's summary from ``llm`` (a cached generator), and stats
    (calls, cache hits, seconds, empty answers). An empty answer falls back to the
    prompt's own text (the item list / the item text) and is counted. ``order``: which phase
    first, and ``*-reversed`` walks each phase from its last prompt (two processes on one
    cache, one reversed, split the calls instead of repeating them); the result is the same."""
    settings = settings or SummarySettings()
    chat = bool(getattr(llm, "chat", False))
    nouns = settings.nouns(dataset.name)
    unit_prompts, item_prompts = summary_prompts(dataset, units, item_text, settings, chat)
    calls0, hits0, t0 = getattr(llm, "calls", 0), getattr(llm, "hits", 0), time.perf_counter()
    if order not in SUMMARY_ORDERS:
        raise ValueError(f"order must be one of {', '.join(SUMMARY_ORDERS)}, got {order!r}")
    phases = [("user summaries", unit_prompts), ("item summaries", item_prompts)]
    if order.startswith("items-first"):
        phases.reverse()
    backwards = order.endswith("-reversed")  # a second worker on the same cache meets the first one
    answers = {label: run_prompts(llm, prompts[::-1] if backwards else prompts, settings.max_tokens,
                                  label=label, chunk_size=chunk_size, log=log, on_chunk=on_chunk)
               for label, prompts in phases}
    if backwards:
        answers = {label: a[::-1] for label, a in answers.items()}
    out, empty = Summaries(), {"users": 0, "items": 0}
    items = dataset.items.tolist()
    h = settings.user_history
    for j, (key, a) in enumerate(zip(units.keys, answers["user summaries"])):
        text = tidy_summary(answer_prime("user", nouns, chat), a)
        if not text:
            empty["users"] += 1
            s, e = int(units.starts[j]), int(units.ends[j])
            text = "; ".join(item_text.titles[i - 1] for i in items[max(s, e - h):e])
        (out.prefixes if units.level == "prefix" else out.users)[key] = text
    tokens = dataset.item_tokens or [str(i) for i in range(1, dataset.num_items + 1)]
    for i, a in enumerate(answers["item summaries"]):
        text = tidy_summary(answer_prime("item", nouns, chat), a)
        if not text:
            empty["items"] += 1
            text = item_text.texts[i]
        out.items[tokens[i]] = text
    stats = {"unit_prompts": len(unit_prompts), "item_prompts": len(item_prompts),
             "llm_calls": getattr(llm, "calls", 0) - calls0,
             "cache_hits": getattr(llm, "hits", 0) - hits0,
             "seconds": time.perf_counter() - t0, "empty_answers": empty}
    return out, stats


def summaries_from_file(dataset: SequenceDataset, units: SemanticUnits,
                        summaries: Summaries, source: str = "summaries file"
                        ) -> tuple[list[str], list[str]]:
    """``(unit texts, item texts)`` in unit / item order from loaded summaries; a
    missing id raises :class:`SummaryFileError` naming how many and the first ones."""
    table = summaries.prefixes if units.level == "prefix" else summaries.users
    if not table:
        other = "user" if units.level == "prefix" else "user prefix (with 'length')"
        raise SummaryFileError(f"{source}: no {'user prefix' if units.level == 'prefix' else 'user'} "
                               f"summaries for summary_level={units.level!r} (it has {other} ones?)")
    missing = [k for k in units.keys if k not in table]
    if missing:
        raise SummaryFileError(f"{source}: no summary for {len(missing)} of {len(units)} "
                               f"{'prefixes' if units.level == 'prefix' else 'users'} of {dataset.name} "
                               f"(first missing: {missing[:5]})")
    tokens = dataset.item_tokens or [str(i) for i in range(1, dataset.num_items + 1)]
    missing_items = [t for t in tokens if t not in summaries.items]
    if missing_items:
        raise SummaryFileError(f"{source}: no summary for {len(missing_items)} of {len(tokens)} items "
                               f"of {dataset.name} (first missing: {missing_items[:5]})")
    known = set(units.keys)
    unknown = [k for k in table if k not in known]
    if unknown:
        raise SummaryFileError(f"{source}: {len(unknown)} summaries for users that are not units of "
                               f"{dataset.name} (first: {unknown[:5]}); is it the file of another dataset?")
    return [table[k] for k in units.keys], [summaries.items[t] for t in tokens]


@torch.no_grad()
def semantic_neighbors(emb: torch.Tensor, k: int, block_size: int = 1024) -> torch.Tensor:
    """``(N, k)`` indices of the ``k`` rows of ``emb`` with the highest cosine
    similarity to each row, itself excluded; row blocks of ``block_size`` (memory
    ``block_size x N``)."""
    if emb.dim() != 2 or emb.size(0) < 2:
        raise ValueError(f"semantic embeddings must be (N >= 2, d), got {tuple(emb.shape)}")
    padded = torch.cat([emb.new_zeros(1, emb.size(1)), emb])  # item_neighbors' padding-row layout
    return item_neighbors(padded, int(k), similarity="cosine", block_size=int(block_size))[1:] - 1


@dataclass
class Semantics:
    """What SRA-CL's losses need: unit semantic vectors ``(U, d_s)``, the ``k``
    nearest units of each unit ``(U, k)`` and items of each item ``(n + 1, k)``
    (row 0 padding), plus a label and stats."""
    units: SemanticUnits
    unit_emb: torch.Tensor
    unit_neighbors: torch.Tensor
    item_neighbors: torch.Tensor
    kind: str
    stats: dict[str, Any] = field(default_factory=dict)


def cooccurrence_semantics(dataset: SequenceDataset, units: SemanticUnits, rank: int = 64,
                           seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Fallback (not LLM semantics): ``(unit vectors, item vectors (n, r))`` from a
    rank-``r`` SVD of the binary user x item matrix of the training parts."""
    train_len = dataset.train_lengths()
    pos = torch.repeat_interleave(dataset.offsets[:-1], train_len)
    first = torch.cumsum(train_len, 0) - train_len
    pos = pos + torch.arange(pos.numel()) - torch.repeat_interleave(first, train_len)
    rows = torch.repeat_interleave(torch.arange(dataset.num_users), train_len)
    cols = dataset.items[pos] - 1
    a = torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.ones(rows.numel()),
                                (dataset.num_users, dataset.num_items)).coalesce()
    a = torch.sparse_coo_tensor(a.indices(), torch.ones_like(a.values()), a.shape)
    r = max(1, min(int(rank), dataset.num_items - 1, dataset.num_users - 1))
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        _, s, v = torch.svd_lowrank(a, q=r, niter=4)
    finally:
        torch.random.set_rng_state(state)
    item_vec = v * s.sqrt()
    counts = (units.ends - units.starts).clamp_min(1)
    unit_of = torch.repeat_interleave(torch.arange(len(units)), units.ends - units.starts)
    starts = torch.repeat_interleave(units.starts, units.ends - units.starts)
    firsts = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, units.ends - units.starts)
    member = dataset.items[starts + torch.arange(unit_of.numel()) - firsts] - 1
    unit_vec = torch.zeros(len(units), r).index_add_(0, unit_of, item_vec[member])
    return unit_vec / counts.unsqueeze(1), item_vec


def _encode(encoder: Any, texts: list[str]) -> torch.Tensor:
    out = encoder.encode(texts)
    out = out.detach().cpu() if isinstance(out, torch.Tensor) else torch.from_numpy(np.asarray(out))
    if out.dim() != 2 or out.size(0) != len(texts):
        raise ValueError(f"the text encoder returned shape {tuple(out.shape)} for {len(texts)} texts")
    return out.float()


def build_semantics(dataset: SequenceDataset, units: SemanticUnits, *, k: int = 10,
                    unit_texts: list[str] | None = None, item_texts: list[str] | None = None,
                    encoder: Any = None, fallback_rank: int = 64, block_size: int = 1024,
                    stats: dict[str, Any] | None = None, text_source: str = "llm summaries"
                    ) -> Semantics:
    """Semantic vectors and top-``k`` neighbours: from the summary texts embedded by
    ``encoder`` (a :class:`graphcl.llm.TextEncoder`), or, when no texts are given,
    the co-occurrence fallback. ``text_source`` names where the texts came from in
    the ``kind`` label (a precomputed file need not hold LLM answers)."""
    if (unit_texts is None) != (item_texts is None):
        raise ValueError("give both unit_texts and item_texts, or neither (fallback)")
    if len(units) <= k or dataset.num_items <= k:
        raise ValueError(f"k={k} needs more than k units and items; {dataset.name} has {len(units)} "
                         f"units and {dataset.num_items} items")
    if unit_texts is None:
        unit_emb, item_emb = cooccurrence_semantics(dataset, units, fallback_rank)
        kind = f"fallback-cooccurrence (SVD rank {unit_emb.size(1)}; NOT LLM semantics)"
    else:
        if encoder is None:
            from graphcl.llm import TextEncoder
            encoder = TextEncoder()
        unit_emb, item_emb = _encode(encoder, unit_texts), _encode(encoder, item_texts)
        kind = f"{text_source} embedded by {getattr(encoder, 'encoder_id', type(encoder).__name__)}"
    for name, e in (("unit", unit_emb), ("item", item_emb)):
        if not bool(torch.isfinite(e).all()):
            raise ValueError(f"the {name} semantic embeddings contain NaN or inf")
    item_padded = torch.cat([item_emb.new_zeros(1, item_emb.size(1)), item_emb])
    return Semantics(units, F.normalize(unit_emb, dim=1) if unit_texts is None else unit_emb,
                     semantic_neighbors(unit_emb, k, block_size),
                     item_neighbors(item_padded, k, similarity="cosine", block_size=block_size),
                     kind, dict(stats or {}))
