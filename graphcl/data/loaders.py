"""Loaders of the named datasets' file layouts and of user-supplied RecBole atomic data.

Each loader reads one layout into an :class:`InteractionDataset`; the manifest
in :mod:`graphcl.data.named` maps names to these loaders. Users with
validation/test but no training interactions are never kept silently (see
:func:`_assemble`).
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .filtering import dedupe_pairs, k_core
from .formats import (NO_ID_BOUND, align_table, factorize, finite_column, id_bound, id_fields,
                      parse_id, read_atomic, read_lightgcn_txt, read_pickled_matrix,
                      read_text_file, read_user_item_tsv, text_lines, token_column)
from .interactions import DataFormatError, InteractionDataset
from .splits import carve_validation, leave_one_out_split, random_split_per_user


def _assemble(name: str, num_users: int, num_items: int, train: np.ndarray, valid: np.ndarray,
              test: np.ndarray, source: Path, cold_users: str = "error",
              **extra: Any) -> InteractionDataset:
    """Build the dataset, handling users with valid/test but no training interactions.

    ``cold_users``: ``"keep"`` (warn with the count; the fixed upstream splits
    of yelp/lastfm/gowalla/lastfm-hetrec have such users and their published
    counts include them), ``"drop"`` (drop their valid/test pairs, warn with
    the count) or ``"error"`` (raise :class:`DataFormatError`).
    """
    if cold_users not in ("keep", "drop", "error"):
        raise ValueError(f"cold_users must be 'keep', 'drop' or 'error', got {cold_users!r}")
    has_train = np.zeros(num_users, dtype=bool)
    has_train[train[0]] = True
    splits = {"valid": valid, "test": test}
    for split, pairs in splits.items():
        cold = ~has_train[pairs[0]]
        if not cold.any():
            continue
        what = (f"{name} ({source}): {int(cold.sum())} {split} interactions of "
                f"{np.unique(pairs[0, cold]).size} users that have no training interaction")
        if cold_users == "error":
            raise DataFormatError(what)
        if cold_users == "drop":
            splits[split] = pairs[:, ~cold]
        warnings.warn(f"{what}: {'dropped' if cold_users == 'drop' else 'kept'} "
                      f"(option cold_users='keep'|'drop'|'error')", stacklevel=4)
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))  # noqa: E731
    return InteractionDataset(name=name, num_users=num_users, num_items=num_items,
                              train=as_tensor(train), valid=as_tensor(splits["valid"]),
                              test=as_tensor(splits["test"]), source=str(source), **extra)


def _read_id_list(path: Path) -> list[str] | None:
    """``org_id remap_id`` lines (LightGCN ``user_list.txt``) -> tokens by remap id."""
    if not path.is_file():
        return None
    path, text = read_text_file(path)
    rows = [(n, id_fields(line)) for n, line in enumerate(text_lines(text), start=1)][1:]
    rows = [(n, r) for n, r in rows if r]
    tokens: list[str | None] = [None] * len(rows)
    for lineno, row in rows:
        if len(row) != 2:
            raise DataFormatError(f"{path}:{lineno}: expected 'org_id remap_id' after the "
                                  f"header, found {len(row)} fields")
        remap = parse_id(path, lineno, row[1], "remap id")
        if remap >= len(rows) or tokens[remap] is not None:
            raise DataFormatError(f"{path}:{lineno}: remap id {remap} repeats or lies outside "
                                  f"0..{len(rows) - 1}; the remap ids must be a permutation")
        tokens[remap] = row[0]
    return tokens  # type: ignore[return-value]


def _read_bounded(paths: Sequence[Path], reader: Any) -> list[np.ndarray]:
    """Read the id files of one dataset with ``reader(path, max_id)``; the id bound
    counts the interactions of all of them (:func:`~graphcl.data.formats.id_bound`),
    so a small test file may use every id of a large training file. A file with
    an id above it is read again with the bound, which names the line."""
    pairs = [reader(path, NO_ID_BOUND) for path in paths]
    bound = id_bound(sum(p.shape[1] for p in pairs))
    for path, p in zip(paths, pairs):
        if p.size and int(p.max()) > bound:
            reader(path, bound)  # raises, naming the line
    return pairs


def load_lightgcn_split(folder: Path, *, valid_ratio: float, seed: int, cold_users: str,
                        name: str = "gowalla") -> InteractionDataset:
    """A LightGCN split folder (``train.txt``, ``test.txt``, optional ``user_list.txt`` /
    ``item_list.txt``). Its ids are dense across the files, so they are kept as written;
    an id above ``max(2**20, 16 x the interactions of both files)`` is refused naming the
    file and line (:func:`~graphcl.data.formats.id_bound`)."""
    train, test = _read_bounded([folder / "train.txt", folder / "test.txt"], read_lightgcn_txt)
    train, test = dedupe_pairs(train)[0], dedupe_pairs(test)[0]
    both = np.concatenate([train, test], axis=1)
    if both.shape[1] == 0:
        raise DataFormatError(f"{folder}: train.txt and test.txt hold no interactions")
    num_users, num_items = int(both[0].max()) + 1, int(both[1].max()) + 1
    user_tokens = _read_id_list(folder / "user_list.txt")
    item_tokens = _read_id_list(folder / "item_list.txt")
    for tokens, count, what in ((user_tokens, num_users, "user"), (item_tokens, num_items, "item")):
        if tokens is not None and len(tokens) < count:
            raise DataFormatError(f"{folder}: {what} ids reach {count - 1} but {what}_list.txt "
                                  f"lists only {len(tokens)} {what}s")
    num_users = len(user_tokens) if user_tokens else num_users
    num_items = len(item_tokens) if item_tokens else num_items
    train, valid = carve_validation(train, valid_ratio, seed, num_users)
    return _assemble(name, num_users, num_items, train, valid, test, folder, cold_users,
                     user_tokens=user_tokens, item_tokens=item_tokens)


def load_adagcl_split(folder: Path, *, name: str, cold_users: str) -> InteractionDataset:
    """AdaGCL ``trnMat.pkl``/``valMat.pkl``/``tstMat.pkl``, read by
    :func:`~graphcl.data.formats.read_pickled_matrix` (restricted unpickler; indices,
    values and the shape bound checked per file); the three shapes must agree."""
    mats = [read_pickled_matrix(folder / f) for f in ("trnMat.pkl", "valMat.pkl", "tstMat.pkl")]
    if len({m.shape for m in mats}) != 1:
        raise DataFormatError(f"{folder}: train/valid/test matrices differ in shape: "
                              f"{[m.shape for m in mats]}")
    splits = [dedupe_pairs(np.stack([m.row[m.data != 0], m.col[m.data != 0]]))[0] for m in mats]
    num_users, num_items = mats[0].shape
    return _assemble(name, num_users, num_items, *splits, folder, cold_users)


def load_lastfm_hetrec(folder: Path, *, valid_ratio: float, seed: int,
                        cold_users: str) -> InteractionDataset:
    """LightGCN-PyTorch lastfm: ids in the files start at 1 (its loader subtracts 1); the
    id bound counts the interactions of both files, as for :func:`load_lightgcn_split`."""
    train, test = _read_bounded([folder / "data1.txt", folder / "test1.txt"],
                                lambda path, bound: read_user_item_tsv(path, bound)[0])
    for pairs, fname in ((train, "data1.txt"), (test, "test1.txt")):
        if pairs.size and pairs.min() < 1:
            raise DataFormatError(f"{folder / fname}: ids must start at 1 in this format")
    train, test = dedupe_pairs(train - 1)[0], dedupe_pairs(test - 1)[0]
    both = np.concatenate([train, test], axis=1)
    if both.shape[1] == 0:
        raise DataFormatError(f"{folder}: data1.txt and test1.txt hold no interactions")
    num_users, num_items = int(both[0].max()) + 1, int(both[1].max()) + 1
    train, valid = carve_validation(train, valid_ratio, seed, num_users)
    return _assemble("lastfm-hetrec", num_users, num_items, train, valid, test, folder, cold_users)


def _atomic_files(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such RecBole atomic dataset folder or .inter file")
    named = path / f"{path.name}.inter"
    found = [named] if named.is_file() else sorted(path.glob("*.inter"))
    if len(found) != 1:
        raise DataFormatError(f"{path}: expected one .inter file (preferably {named.name}), "
                              f"found {[p.name for p in found] or 'none'}")
    return found[0]


def load_atomic_dataset(path: str | os.PathLike[str], *, split: str = "random",
                        ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 2020,
                        min_user_inter: int = 0, min_item_inter: int = 0,
                        rating_threshold: float | None = None, name: str | None = None,
                        user_field: str = "user_id", item_field: str = "item_id",
                        rating_field: str = "rating", time_field: str = "timestamp"
                        ) -> InteractionDataset:
    """Load a RecBole atomic dataset (a folder with ``<name>.inter``, or the ``.inter`` file).

    Steps: keep rows with ``rating >= rating_threshold`` (when given), drop
    repeated (user, item) pairs (first kept), k-core filter with RecBole's
    ``min_user_inter``/``min_item_inter``, map tokens to dense ids in order of
    first appearance (RecBole's internal id minus its padding id 0), then split:
    ``"random"`` per user by ``ratios`` (seeded) or ``"loo"`` chronological
    leave-one-out on ``time_field``. Sibling ``.item``/``.user`` files become
    ``item_table``/``user_table`` aligned to the dense ids.

    With ``split="loo"`` every row must have a finite ``time_field`` value (an empty
    one would be NaN, sort last and become the user's test item): an empty, NaN,
    infinite or non-numeric time raises :class:`DataFormatError` naming the file and
    line, as :func:`~graphcl.data.sequences.load_atomic_sequences` does. An empty
    user or item id is refused the same way.
    """
    if split not in ("random", "loo"):
        raise ValueError(f"split must be 'random' or 'loo', got {split!r}")
    inter_path = _atomic_files(Path(path).expanduser())
    inter = read_atomic(inter_path)
    for needed in (user_field, item_field):
        if needed not in inter:
            raise DataFormatError(f"{inter_path}: no {needed!r} field (fields: {sorted(inter)})")
    if split == "loo" and time_field not in inter:
        raise DataFormatError(f"{inter_path}: split='loo' needs a {time_field!r} column, but the "
                              f"fields are {sorted(inter)}; use split='random'")
    if split == "loo":  # every row, as the sequence loader checks them (before filtering)
        times_all = finite_column(inter_path, inter, time_field,
                                  "split='loo' orders each user's items by it")
    user_codes, user_uniques = factorize(token_column(inter_path, inter, user_field))
    item_codes, item_uniques = factorize(token_column(inter_path, inter, item_field))
    keep = np.ones(user_codes.size, dtype=bool)
    if rating_threshold is not None:
        if not isinstance(inter.get(rating_field), np.ndarray):
            raise DataFormatError(f"{inter_path}: rating_threshold needs a float "
                                  f"{rating_field!r} column (fields: {sorted(inter)})")
        keep = np.asarray(inter[rating_field]) >= rating_threshold
    rows = np.flatnonzero(keep)
    pairs, user_map, item_map, kept = k_core(np.stack([user_codes[rows], item_codes[rows]]),
                                             min_user_inter, min_item_inter, return_index=True)
    rows = rows[kept]
    if pairs.shape[1] == 0:
        raise DataFormatError(f"{inter_path}: no interactions left after filtering")
    num_users, num_items = user_map.size, item_map.size
    if split == "loo":
        times = times_all[rows]
        train, valid, test = leave_one_out_split(pairs, times, num_users)
    else:
        train, valid, test = random_split_per_user(pairs, num_users, ratios, seed)
    user_tokens = [str(t) for t in user_uniques[user_map]]
    item_tokens = [str(t) for t in item_uniques[item_map]]
    tables = {}
    for suffix, key, tokens in ((".item", item_field, item_tokens),
                                (".user", user_field, user_tokens)):
        side = inter_path.with_suffix(suffix)
        tables[suffix] = align_table(read_atomic(side), key, tokens, side) if side.is_file() else {}
    return _assemble(name or inter_path.stem, num_users, num_items, train, valid, test, inter_path,
                     user_tokens=user_tokens, item_tokens=item_tokens,
                     item_table=tables[".item"], user_table=tables[".user"])


def load_ml100k(folder: Path, **options: Any) -> InteractionDataset:
    return load_atomic_dataset(folder / "ml-100k.inter", name="ml-100k", **options)


def recbole_example_dirs() -> list[Path]:
    """``recbole/dataset_example/ml-100k`` of an installed recbole, found without importing it."""
    try:
        spec = importlib.util.find_spec("recbole")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) / "dataset_example" / "ml-100k" for p in spec.submodule_search_locations]
