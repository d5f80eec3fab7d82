"""Item texts of sequence datasets (for LLM prompts such as SRA-CL's summaries).

A :class:`~graphcl.data.sequences.SequenceDataset` holds item ids only. Its
item text comes from one of:

* a side file given by the user (:func:`read_item_text_file`): CSV with a
  header holding an item-id column (``item``, ``item_id``, ``id`` or
  ``item_id:token``) and a text column (``text``, ``title``, ``description``),
  or JSONL lines ``{"item": id, "text": ...}`` (``title`` is accepted for
  ``text``). Ids are the dataset's *source* item ids (``dataset.item_tokens``:
  for the ICLRec files the numbers in the file, for ml-100k the ``item_id``
  tokens);
* the RecBole ``.item`` file beside the dataset's ``.inter`` file (ml-100k:
  ``"<title> (<year>). Genres: a, b."``, built by
  :func:`graphcl.data.item_features.item_texts`; the title alone, with year, is
  the *title*).

The ICLRec files (Beauty, Sports, Toys, Yelp) ship no item text at all:
:func:`sequence_item_texts` then raises :class:`MissingItemTextError`, which
says so and names the side-file formats.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from ..io import iter_jsonl_objects
from .formats import align_table, read_atomic, read_csv_rows, read_text_file
from .interactions import DataFormatError
from .sequences import SequenceDataset

__all__ = ["ItemText", "MissingItemTextError", "read_item_text_file", "sequence_item_texts"]

ID_COLUMNS = ("item", "item_id", "id", "item_id:token", "iid")
TEXT_COLUMNS = ("text", "title", "description", "item_text")


class MissingItemTextError(DataFormatError):
    """The dataset has no item text and none was given."""


@dataclass(frozen=True)
class ItemText:
    """Per dense item id ``1..n`` (list index ``i - 1``): the full text (title and
    attributes) and a short title for lists of items; ``source`` says where they came from."""
    texts: list[str]
    titles: list[str]
    source: str


def _clean(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def read_item_text_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{source item id: text}`` from a CSV or JSONL side file (see the module docstring).

    Raises :class:`DataFormatError` naming the file and line for a malformed
    line, a missing column, an empty text or a repeated id.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"item text file {path}: no such file")
    out: dict[str, str] = {}

    def add(key: object, text: object, where: str) -> None:
        if key is None or _clean(key) == "":
            raise DataFormatError(f"{where}: empty item id")
        k, t = _clean(key), _clean(text)
        if not t:
            raise DataFormatError(f"{where}: empty text for item {k!r}")
        if k in out:
            raise DataFormatError(f"{where}: item {k!r} appears twice")
        out[k] = t

    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for where, row in iter_jsonl_objects(path, DataFormatError):
            key = next((row[c] for c in ID_COLUMNS if c in row), None)
            text = next((row[c] for c in TEXT_COLUMNS if c in row), None)
            if key is None or text is None:
                raise DataFormatError(f"{where}: needs an item id ({'/'.join(ID_COLUMNS)}) and a "
                                      f"text ({'/'.join(TEXT_COLUMNS)}); keys: {sorted(row)}")
            add(key, text, where)
    else:
        _, sample = read_text_file(path)
        sample = sample[:4096]
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
        raw_fields, rows = read_csv_rows(path, delimiter=delimiter)
        by_name = {f.strip(): f for f in raw_fields}
        id_col = next((by_name[c] for c in ID_COLUMNS if c in by_name), None)
        text_col = next((by_name[c] for c in TEXT_COLUMNS if c in by_name), None)
        if id_col is None or text_col is None:
            raise DataFormatError(f"{path}: the header needs an item id column "
                                  f"({'/'.join(ID_COLUMNS)}) and a text column "
                                  f"({'/'.join(TEXT_COLUMNS)}); got {list(by_name)}")
        for row in rows:
            add(row.get(id_col), row.get(text_col), f"{path}:{row['__line']}")
    if not out:
        raise DataFormatError(f"{path}: no item texts")
    return out


def _from_side_file(dataset: SequenceDataset, path: str | os.PathLike[str]) -> ItemText:
    table = read_item_text_file(path)
    tokens = dataset.item_tokens or [str(i) for i in range(1, dataset.num_items + 1)]
    missing = [t for t in tokens if t not in table]
    if missing:
        raise DataFormatError(f"item text file {path}: no text for {len(missing)} of {len(tokens)} "
                              f"items of {dataset.name} (first missing ids: {missing[:5]}); ids are the "
                              f"dataset's source item ids")
    texts = [table[t] for t in tokens]
    titles = [t if len(t) <= 80 else t[:77].rsplit(" ", 1)[0] + "..." for t in texts]
    return ItemText(texts, titles, str(path))


def _from_item_file(dataset: SequenceDataset) -> ItemText | None:
    src = Path(dataset.source) if dataset.source else None
    if src is None or src.suffix != ".inter" or not src.with_suffix(".item").is_file():
        return None
    from .item_features import TITLE_FIELDS, YEAR_FIELDS, field_text, item_texts
    side = src.with_suffix(".item")
    raw = read_atomic(side)
    key = next((k for k in raw if k == "item_id"), None)
    if key is None:
        return None
    table = align_table(raw, key, dataset.item_tokens or [], side)
    view = SimpleNamespace(item_table=table, num_items=dataset.num_items,
                           item_tokens=dataset.item_tokens, name=dataset.name)
    texts = item_texts(view)  # type: ignore[arg-type]
    title_f = next((f for f in TITLE_FIELDS if f in table), None)
    year_f = next((f for f in YEAR_FIELDS if f in table), None)
    titles = []
    for i, text in enumerate(texts):
        title = field_text(table[title_f][i]) if title_f else ""
        year = field_text(table[year_f][i]) if year_f else ""
        if title and len(year) == 4 and year.isdigit():
            title = f"{title} ({year})"
        titles.append(title or text.rstrip("."))
    return ItemText(texts, titles, str(side))


def sequence_item_texts(dataset: SequenceDataset,
                        side_file: str | os.PathLike[str] | None = None) -> ItemText:
    """The item texts of ``dataset``: from ``side_file`` when given, else from the
    ``.item`` file beside its ``.inter`` file; :class:`MissingItemTextError` otherwise."""
    if not isinstance(dataset, SequenceDataset):
        raise TypeError(f"expected a SequenceDataset, got {type(dataset).__name__}")
    if side_file:
        return _from_side_file(dataset, side_file)
    found = _from_item_file(dataset)
    if found is not None:
        return found
    raise MissingItemTextError(
        f"{dataset.name} has no item text (the ICLRec files of Beauty, Sports, Toys and Yelp hold "
        f"item ids only; source: {dataset.source or 'in memory'}). Give a side file mapping each "
        f"source item id to its text: CSV with columns item_id,text or JSONL lines "
        f'{{"item": id, "text": ...}} (SRA-CL: --set item_text=FILE), or use the labelled '
        f"non-LLM fallback --set semantics=fallback-cooccurrence")
