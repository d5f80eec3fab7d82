"""User item sequences for sequential recommendation, and their readers.

A :class:`SequenceDataset` holds one chronological item sequence per user.
Item ids are ``1..num_items`` (``0`` is the padding id). Users are ``0..U-1``.
The sequences are stored flat (``items``) with CSR-style ``offsets``, so user
``u``'s sequence is ``items[offsets[u]:offsets[u + 1]]``.

Leave-one-out protocol (SASRec, ICLRec, and MCLRec through RecBole's
``leave_one_num: 2``): the last item of each sequence is the test target, the
second-to-last the validation target, the rest is training. Training uses
*every prefix* of the training part (RecBole's ``prepare_data_augmentation``,
which MCLRec uses): for a training part ``i1 .. im`` the examples are
``<i1> -> i2``, ``<i1, i2> -> i3``, ..., ``<i1 .. i(m-1)> -> im``; the validation
input is ``i1 .. im`` and the test input ``i1 .. im, i(m+1)`` (it includes the
validation item). Every input keeps its last ``max_len`` items and is
left-padded with 0. Short sequences: 2 items give only a test target (input
``<i1>``), 1 item gives nothing to predict.

Readers: the one-line-per-user text format of ICLRec/CoSeRec/MCLRec
(``user_id item item ...``, items already ordered in time;
:func:`read_sequence_lines`) and RecBole atomic ``.inter`` files ordered by
their timestamp (:func:`load_atomic_sequences`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .filtering import k_core
from .formats import (factorize, finite_column, id_bound, id_fields, parse_id, read_atomic,
                      read_text_file, text_lines, token_column)
from .interactions import DataFormatError

PAD = 0
SEQ_SPLITS = ("valid", "test")


@dataclass
class SequenceDataset:
    name: str
    num_items: int
    items: torch.Tensor      # (nnz,) long, ids 1..num_items, users' sequences back to back
    offsets: torch.Tensor    # (num_users + 1,) long
    user_tokens: list[str] | None = None
    item_tokens: list[str] | None = None   # item_tokens[i - 1] is the source id of item i
    source: str = ""

    def __post_init__(self) -> None:
        self.items = torch.as_tensor(self.items, dtype=torch.long).reshape(-1)
        self.offsets = torch.as_tensor(self.offsets, dtype=torch.long).reshape(-1)
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`DataFormatError` on anything that would corrupt training; the
        message names the dataset and its source file when known."""
        where = f"{self.name} ({self.source})" if self.source else self.name
        if self.num_items <= 0:
            raise DataFormatError(f"{where}: no items (num_items={self.num_items})")
        if self.offsets.numel() < 2:
            raise DataFormatError(f"{where}: no user sequences")
        if int(self.offsets[0]) != 0 or int(self.offsets[-1]) != self.items.numel():
            raise DataFormatError(f"{where}: offsets must start at 0 and end at len(items) = "
                                  f"{self.items.numel()}, got {int(self.offsets[0])}..{int(self.offsets[-1])}")
        lengths = self.lengths
        if bool((lengths <= 0).any()):
            bad = torch.nonzero(lengths <= 0).reshape(-1)[:5].tolist()
            raise DataFormatError(f"{where}: empty sequence for user(s) {bad}")
        if int(self.items.min()) < 1 or int(self.items.max()) > self.num_items:
            raise DataFormatError(f"{where}: item ids must lie in [1, {self.num_items}] "
                                  f"(0 is padding), got min {int(self.items.min())}, "
                                  f"max {int(self.items.max())}")

    # ------------------------------------------------------------------ basics
    @property
    def num_users(self) -> int:
        return self.offsets.numel() - 1

    @property
    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def sequence(self, user: int) -> list[int]:
        return self.items[int(self.offsets[user]):int(self.offsets[user + 1])].tolist()

    def held_out(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per user: (has a validation target, has a test target)."""
        n = self.lengths
        return n >= 3, n >= 2

    def train_lengths(self) -> torch.Tensor:
        """Length of each user's training part (the sequence minus held-out items)."""
        has_valid, has_test = self.held_out()
        return self.lengths - has_valid.long() - has_test.long()

    # ---------------------------------------------------------------- examples
    def train_targets(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every training prefix as ``(target position, user start)`` into ``items``.

        The input of example ``k`` is ``items[start[k]:target[k]]`` (its last
        ``max_len`` entries) and its label ``items[target[k]]``.
        """
        starts = self.offsets[:-1]
        per_user = (self.train_lengths() - 1).clamp_min(0)
        user = torch.repeat_interleave(torch.arange(self.num_users), per_user)
        first = torch.cumsum(per_user, 0) - per_user
        rank = torch.arange(user.numel()) - first[user]
        return starts[user] + 1 + rank, starts[user]

    def split_targets(self, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(users, target position, user start)`` of the ``valid`` or ``test`` split."""
        if split not in SEQ_SPLITS:
            raise ValueError(f"split must be one of {SEQ_SPLITS}, got {split!r}")
        has_valid, has_test = self.held_out()
        users = torch.nonzero(has_valid if split == "valid" else has_test).reshape(-1)
        back = 2 if split == "valid" else 1
        return users, self.offsets[users + 1] - back, self.offsets[users]

    def windows(self, ends: torch.Tensor, starts: torch.Tensor, max_len: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded inputs ``items[max(start, end - L):end]`` as ``(B, L)`` and lengths.

        Runs on the device of ``ends`` (``items`` is moved there once and cached).
        """
        items = self.items_on(ends.device)
        pos = ends.unsqueeze(1) - max_len + torch.arange(max_len, device=ends.device)
        real = pos >= starts.unsqueeze(1)
        seqs = torch.where(real, items[pos.clamp_min(0)], torch.zeros((), dtype=torch.long,
                                                                        device=ends.device))
        return seqs, (ends - starts).clamp_max(max_len)

    def items_on(self, device: torch.device) -> torch.Tensor:
        cache = self.__dict__.setdefault("_device_items", {})
        key = str(device)
        if key not in cache:
            cache[key] = self.items.to(device)
        return cache[key]

    def history(self, split: str) -> torch.Tensor:
        """``(2, n)`` (user, item - 1) pairs of each user's input items for ``split``:
        the training part, plus the validation item for ``test`` (for optional
        history exclusion in the ranking; columns are 0-based item indices)."""
        users, ends, starts = self.split_targets(split)
        counts = ends - starts
        rows = torch.repeat_interleave(users, counts)
        first = torch.cumsum(counts, 0) - counts
        pos = torch.repeat_interleave(starts - first, counts) + torch.arange(int(counts.sum()))
        return torch.stack([rows, self.items[pos] - 1])

    def targets(self, split: str) -> torch.Tensor:
        """``(2, n)`` (user, target item - 1) pairs of ``split`` (0-based item columns)."""
        users, ends, _ = self.split_targets(split)
        return torch.stack([users, self.items[ends] - 1])

    # ----------------------------------------------------------------- helpers
    def first_users(self, num_users: int) -> SequenceDataset:
        """The first ``num_users`` users, items remapped densely (a quick smaller copy)."""
        if not 0 < num_users <= self.num_users:
            raise ValueError(f"num_users must be in [1, {self.num_users}], got {num_users}")
        flat = self.items[:int(self.offsets[num_users])]
        used, dense = torch.unique(flat, return_inverse=True)
        tokens = [self.item_tokens[i - 1] for i in used.tolist()] if self.item_tokens else None
        return SequenceDataset(f"{self.name}-first{num_users}", int(used.numel()), dense + 1,
                               self.offsets[:num_users + 1].clone(),
                               self.user_tokens[:num_users] if self.user_tokens else None, tokens,
                               self.source)

    def stats(self) -> dict[str, Any]:
        n = self.lengths.float()
        return {"dataset": self.name, "users": self.num_users, "items": self.num_items,
                "interactions": int(self.items.numel()), "avg_length": round(float(n.mean()), 2),
                "train_examples": int((self.train_lengths() - 1).clamp_min(0).sum()),
                "valid": int(self.held_out()[0].sum()), "test": int(self.held_out()[1].sum())}

    def __repr__(self) -> str:
        s = self.stats()
        return (f"SequenceDataset({s['dataset']}: {s['users']} users, {s['items']} items, "
                f"{s['interactions']} interactions, avg length {s['avg_length']})")


# --------------------------------------------------------------------- readers
def read_sequence_lines(path: str | os.PathLike[str], name: str | None = None) -> SequenceDataset:
    """Read ``user_id item item ...`` lines (ICLRec/MCLRec format; items in time order).

    Item ids must be positive decimal integers; they are kept as they are
    (``0`` is padding), and ``num_items`` is the largest id, which may not
    exceed :func:`~graphcl.data.formats.id_bound` of the number of item
    entries, ``max(2**20, 16 * entries)`` (an absurd id would otherwise size the
    item table). Each user id must appear on one line only; blank lines are
    skipped. The file must be UTF-8 (a leading byte-order mark is dropped).
    Every malformed line raises :class:`DataFormatError` naming the file and line.
    """
    path, text = read_text_file(path)
    users: list[str] = []
    user_lines: list[int] = []
    rows: list[list[str]] = []
    for lineno, line in enumerate(text_lines(text), start=1):
        parts = id_fields(line)
        if not parts:
            continue
        if len(parts) < 2:
            raise DataFormatError(f"{path}:{lineno}: a user without items ({parts[0][:40]!r})")
        users.append(parts[0])
        user_lines.append(lineno)
        rows.append(parts[1:])
    if not rows:
        raise DataFormatError(f"{path}: no user sequences")
    first_line: dict[str, int] = {}
    for user, lineno in zip(users, user_lines):
        if first_line.setdefault(user, lineno) != lineno:
            raise DataFormatError(f"{path}:{lineno}: user {user[:40]!r} appears on more than one "
                                  f"line (first on line {first_line[user]})")
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat_tokens = [t for r in rows for t in r]
    bound = id_bound(len(flat_tokens))
    flat = _item_ids(flat_tokens)
    if flat is None or int(flat.min()) < 1 or int(flat.max()) > bound:
        for lineno, row in zip(user_lines, rows):
            for token in row:
                if parse_id(path, lineno, token, "item id", bound) < 1:
                    raise DataFormatError(f"{path}:{lineno}: item id {token!r}: item ids must "
                                          f"be >= 1 (0 is the padding id)")
        flat = np.array([int(t) for t in flat_tokens], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    num_items = int(flat.max())
    return SequenceDataset(name or path.stem, num_items, torch.from_numpy(flat),
                           torch.from_numpy(offsets), users,
                           [str(i) for i in range(1, num_items + 1)], str(path))


def _item_ids(tokens: list[str]) -> np.ndarray | None:
    """``tokens`` as int64 when all are short ASCII decimal numbers, else None."""
    if not all(len(t) <= 18 for t in tokens) or not "".join(tokens).isascii() \
            or not "".join(tokens).isdigit():
        return None
    return np.fromiter(map(int, tokens), dtype=np.int64, count=len(tokens))


def load_atomic_sequences(path: str | os.PathLike[str], *, name: str | None = None,
                          user_field: str = "user_id", item_field: str = "item_id",
                          time_field: str = "timestamp", min_user_inter: int = 0,
                          min_item_inter: int = 0) -> SequenceDataset:
    """User sequences from a RecBole ``.inter`` file, each ordered by ``time_field``.

    Repeated (user, item) rows are dropped (first kept) before the optional
    k-core filter, as in :func:`graphcl.data.load_atomic_dataset`; the sort by
    time is stable, so ties keep the file order (RecBole sorts by user, then
    time). Items get ids ``1..n`` in order of first appearance in the file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / f"{path.name}.inter"
    inter = read_atomic(path)
    for needed in (user_field, item_field, time_field):
        if needed not in inter:
            raise DataFormatError(f"{path}: no {needed!r} field (fields: {sorted(inter)}); a "
                                  f"sequence dataset needs users, items and timestamps")
    user_codes, user_uniques = factorize(token_column(path, inter, user_field))
    item_codes, item_uniques = factorize(token_column(path, inter, item_field))
    times = finite_column(path, inter, time_field, "each user's items are ordered by it")
    pairs, user_map, item_map, kept = k_core(np.stack([user_codes, item_codes]), min_user_inter,
                                             min_item_inter, return_index=True)
    if pairs.shape[1] == 0:
        raise DataFormatError(f"{path}: no interactions left after filtering")
    times = times[kept]
    # items numbered by first appearance in the file among the kept rows
    first_row = np.full(item_map.size, np.iinfo(np.int64).max)
    np.minimum.at(first_row, pairs[1], np.arange(pairs.shape[1]))
    order_items = np.argsort(first_row, kind="stable")
    item_id = np.empty(item_map.size, dtype=np.int64)
    item_id[order_items] = np.arange(1, item_map.size + 1)
    order = np.lexsort((times, pairs[0]))           # by user, then time; stable
    users_sorted = pairs[0, order]
    counts = np.bincount(users_sorted, minlength=user_map.size)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    flat = item_id[pairs[1, order]]
    item_tokens = [str(t) for t in item_uniques[item_map[order_items]]]
    user_tokens = [str(t) for t in user_uniques[user_map]]
    return SequenceDataset(name or path.stem, int(item_map.size), torch.from_numpy(flat),
                           torch.from_numpy(offsets), user_tokens, item_tokens, str(path))


def load_iclrec_file(folder: Path, *, file: str, name: str) -> SequenceDataset:
    return read_sequence_lines(Path(folder) / file, name=name)


def load_ml100k_sequences(folder: Path, **options: Any) -> SequenceDataset:
    return load_atomic_sequences(Path(folder) / "ml-100k.inter", name="ml-100k-seq", **options)


def load_sequences(path: str | os.PathLike[str], **options: Any) -> SequenceDataset:
    """A sequence dataset from a path: a ``.txt`` file of ``user item item ...``
    lines, or a RecBole atomic ``.inter`` file / folder (ordered by timestamp;
    ``options`` as :func:`load_atomic_sequences`)."""
    path = Path(path).expanduser()
    if path.suffix == ".txt":
        if options:
            raise ValueError(f"no options for a sequence text file, got {sorted(options)}")
        return read_sequence_lines(path)
    return load_atomic_sequences(path, **options)
