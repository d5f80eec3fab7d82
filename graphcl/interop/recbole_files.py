"""Export an :class:`InteractionDataset` split as RecBole benchmark files.

RecBole reads a pre-split dataset from ``<data_path>/<name>/<name>.<suffix>.inter``
when its config has ``benchmark_filename: [train, valid, test]``; it then skips
its own filtering and splitting and uses the three files, in that order, as the
train / validation / test splits (``Dataset.build`` cuts the concatenated
interactions at the file lengths). :func:`write_recbole_benchmark` writes those
three files so RecBole trains and evaluates on exactly our split.

Each file has the header ``user_id:token\\titem_id:token`` and one
``user<TAB>item`` line per interaction, in the order of the split tensor.
Tokens are the dataset's original ids (``user_tokens`` / ``item_tokens``), or
the dense ids when the dataset has none.

RecBole reads these files with ``pandas.read_csv`` (string dtype, default NA
handling, ``"`` as quote character) and reserves the token ``[PAD]`` for id 0,
so tokens that would not come back unchanged -- empty, containing a tab, a
newline or a double quote, pandas NA spellings such as ``NA`` or ``null``, or
``[PAD]`` -- are rejected with an error naming the token.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from graphcl.data.interactions import SPLITS, InteractionDataset
from graphcl.io import atomic_write_text

__all__ = ["BENCHMARK_SUFFIXES", "HEADER", "read_recbole_benchmark", "write_recbole_benchmark"]

HEADER = "user_id:token\titem_id:token"
#: the ``benchmark_filename`` list that matches the files written here
BENCHMARK_SUFFIXES: tuple[str, ...] = SPLITS

# pandas.read_csv's default NA spellings (pandas._libs.parsers.STR_NA_VALUES)
_PANDAS_NA = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
_RESERVED = frozenset({"[PAD]"})


def _tokens(tokens: Sequence[str] | None, count: int, what: str, dataset: str) -> list[str]:
    if tokens is None:
        return [str(i) for i in range(count)]
    tokens = [str(t) for t in tokens]
    if len(tokens) != count:
        raise ValueError(f"{dataset}: {len(tokens)} {what} tokens for {count} {what}s")
    seen: set[str] = set()
    for t in tokens:
        if t in seen:
            raise ValueError(f"{dataset}: duplicate {what} token {t!r}")
        seen.add(t)
        if t in _PANDAS_NA or t.strip() in _PANDAS_NA:
            raise ValueError(f"{dataset}: {what} token {t!r} would be read back by RecBole as missing")
        if t in _RESERVED:
            raise ValueError(f"{dataset}: {what} token {t!r} is reserved by RecBole for padding")
        if any(c in t for c in "\t\n\r\""):
            raise ValueError(f"{dataset}: {what} token {t!r} holds a tab, newline or double quote")
    return tokens


def write_recbole_benchmark(dataset: InteractionDataset, folder: str | os.PathLike[str],
                            name: str) -> Path:
    """Write ``dataset``'s train/valid/test splits as RecBole benchmark files.

    The files go to ``<folder>/<name>/<name>.{train,valid,test}.inter``, the
    layout RecBole expects for ``data_path: <folder>``, ``dataset: <name>``
    and ``benchmark_filename: [train, valid, test]``.

    Returns:
        The dataset folder ``<folder>/<name>``.
    """
    if not name or any(c in name for c in "/\\") or name in (".", ".."):
        raise ValueError(f"invalid RecBole dataset name {name!r}")
    users = _tokens(dataset.user_tokens, dataset.num_users, "user", dataset.name)
    items = _tokens(dataset.item_tokens, dataset.num_items, "item", dataset.name)
    out = Path(folder) / name
    out.mkdir(parents=True, exist_ok=True)
    for split in BENCHMARK_SUFFIXES:
        pairs = getattr(dataset, split)
        lines = [HEADER]
        lines.extend(f"{users[u]}\t{items[i]}" for u, i in zip(pairs[0].tolist(), pairs[1].tolist()))
        atomic_write_text(out / f"{name}.{split}.inter", "\n".join(lines) + "\n")
    return out


def read_recbole_benchmark(folder: str | os.PathLike[str], name: str) -> dict[str, list[tuple[str, str]]]:
    """Read the files written by :func:`write_recbole_benchmark` back as token pairs.

    ``folder`` is the dataset folder returned by the writer. Returns
    ``{split: [(user token, item token), ...]}`` in file order.
    """
    folder = Path(folder)
    result: dict[str, list[tuple[str, str]]] = {}
    for split in BENCHMARK_SUFFIXES:
        path = folder / f"{name}.{split}.inter"
        with open(path, encoding="utf-8", newline="") as f:
            header = f.readline().rstrip("\n")
            if header != HEADER:
                raise ValueError(f"{path}: header {header!r}, expected {HEADER!r}")
            pairs = []
            for lineno, line in enumerate(f, start=2):
                fields = line.rstrip("\n").split("\t")
                if len(fields) != 2:
                    raise ValueError(f"{path}:{lineno}: expected 2 tab-separated fields, got {len(fields)}")
                pairs.append((fields[0], fields[1]))
        result[split] = pairs
    return result
