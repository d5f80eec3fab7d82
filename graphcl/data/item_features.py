"""Item feature tables (modalities) for multimodal recommenders such as BM3.

A modality is a ``(num_items, dim)`` float32 tensor whose row ``i`` describes the
item with dense id ``i``. Sources:

* built-in modalities computed from the dataset's item table (the ``.item``
  file of an atomic dataset): ``"text"`` -- sentence embeddings of the item
  text (:func:`item_texts`: for ml-100k ``"<title> (<year>). Genres: a, b."``)
  by :class:`graphcl.llm.TextEncoder` (default all-MiniLM-L6-v2, the encoder of
  BM3's own text features); ``"genre"`` -- the multi-hot genre/category vector
  (:func:`genre_matrix`);
* user-supplied files (``.npy``, or ``.pt``/``.pth`` holding one tensor or
  array), e.g. MMRec's ``image_feat.npy`` and ``text_feat.npy``, checked against
  the item count (:func:`load_feature_file`). Row ``i`` must belong to dense
  item ``i`` (``dataset.item_tokens[i]``).

:func:`build_item_features` turns a config list such as ``["text", "genre"]``,
``["auto"]`` (every built-in the item table supports), ``["data/image_feat.npy"]``
or ``[]`` (none) into an :class:`ItemFeatures`. :func:`register_item_modality`
adds more built-ins.
"""
from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from numpy.lib import format as npy_format

from graphcl.data.interactions import DataFormatError, InteractionDataset

__all__ = ["item_texts", "ml100k_item_texts", "genre_matrix", "load_feature_file", "text_features",
           "ItemFeatures", "build_item_features", "register_item_modality", "available_modalities",
           "FeatureFileError", "FEATURE_FILE_SUFFIXES", "field_text"]

TITLE_FIELDS = ("movie_title", "title", "item_name", "name")
YEAR_FIELDS = ("release_year", "year")
CATEGORY_FIELDS = ("class", "genre", "genres", "categories", "category")
EXTRA_TEXT_FIELDS = ("brand", "description")
FEATURE_FILE_SUFFIXES = (".npy", ".pt", ".pth")


class FeatureFileError(DataFormatError):
    """A feature file is missing, unreadable or does not fit the dataset."""


# ---------------------------------------------------------------- item text
def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, (list, tuple)) and len(value) == 0:
        return True
    return isinstance(value, str) and not value.strip()


def field_text(value: Any) -> str:
    """One item-table value as text: ``""`` when missing, a token list joined by
    spaces, an integral float without ``.0``."""
    if _is_missing(value):
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _as_tokens(value: Any) -> list[str]:
    if _is_missing(value):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if not _is_missing(v)]
    return [t for t in str(value).replace("|", " ").split() if t]


def _first_field(table: dict[str, Any], names: Sequence[str]) -> str | None:
    return next((n for n in names if n in table), None)


def item_texts(dataset: InteractionDataset) -> list[str]:
    """One text per item from the item table: ``"<title> (<year>). Genres: a, b."``
    (plus brand/description when present). Items without any text get ``""``
    replaced by ``"item <token>"`` so every item has a non-empty text."""
    table = dataset.item_table or {}
    title_f = _first_field(table, TITLE_FIELDS)
    year_f = _first_field(table, YEAR_FIELDS)
    cat_f = _first_field(table, CATEGORY_FIELDS)
    extra_f = [f for f in EXTRA_TEXT_FIELDS if f in table]
    if title_f is None and cat_f is None and not extra_f:
        raise DataFormatError(f"{dataset.name}: the item table has no text fields (looked for "
                              f"{', '.join(TITLE_FIELDS + CATEGORY_FIELDS + EXTRA_TEXT_FIELDS)}; "
                              f"fields: {sorted(table) or 'none'})")
    texts = []
    for i in range(dataset.num_items):
        head = field_text(table[title_f][i]) if title_f else ""
        if year_f:
            year = field_text(table[year_f][i])
            if len(year) == 4 and year.isdigit():  # ml-100k has 'unkonwn' and 'V' years
                head = f"{head} ({year})" if head else year
        parts = [head] if head else []
        if cat_f:
            cats = _as_tokens(table[cat_f][i])
            if cats:
                parts.append("Genres: " + ", ".join(cats))
        for f in extra_f:
            extra = field_text(table[f][i])
            if extra:
                parts.append(extra)
        text = ". ".join(parts)
        if not text:
            token = dataset.item_tokens[i] if dataset.item_tokens else str(i)
            text = f"item {token}"
        texts.append(text + ("" if text.endswith(".") else "."))
    return texts


def ml100k_item_texts(dataset: InteractionDataset) -> list[str]:
    """ml-100k item texts: title + release year + genres (see :func:`item_texts`)."""
    return item_texts(dataset)


def genre_matrix(dataset: InteractionDataset, field: str | None = "class") -> torch.Tensor:
    """Multi-hot ``(num_items, num_genres)`` float32 matrix of a token-list field
    (ml-100k: ``class``); columns follow the sorted genre names. ``field=None``
    takes the first of ``class``, ``genre``, ``genres``, ``categories``, ``category``."""
    table = dataset.item_table or {}
    if field is None or field not in table:
        found = _first_field(table, CATEGORY_FIELDS) if field is None else None
        if found is None:
            raise DataFormatError(f"{dataset.name}: the item table has no genre field "
                                  f"'{field or '/'.join(CATEGORY_FIELDS)}' (fields: {sorted(table) or 'none'})")
        field = found
    tokens = [_as_tokens(v) for v in table[field]]
    vocab = sorted({t for row in tokens for t in row})
    if not vocab:
        raise DataFormatError(f"{dataset.name}: the item field '{field}' is empty for every item")
    index = {t: k for k, t in enumerate(vocab)}
    rows = [i for i, row in enumerate(tokens) for _ in row]
    cols = [index[t] for row in tokens for t in row]
    out = torch.zeros(dataset.num_items, len(vocab))
    out[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)] = 1.0
    return out


def text_features(dataset: InteractionDataset, encoder: Any = None, **encoder_options: Any) -> torch.Tensor:
    """Sentence embeddings of :func:`item_texts`, ``(num_items, dim)``. ``encoder``: a
    :class:`graphcl.llm.TextEncoder`, a model name/path (default all-MiniLM-L6-v2)
    or an object with ``encode``; ``encoder_options`` go to ``TextEncoder``."""
    from graphcl.llm import TextEncoder
    if not isinstance(encoder, TextEncoder):
        encoder = TextEncoder(encoder, **encoder_options) if encoder is not None else TextEncoder(**encoder_options)
    return encoder.encode(item_texts(dataset))


# -------------------------------------------------------------- feature files
def _read_npy(path: Path) -> np.ndarray:
    """A ``.npy`` array, its header checked first: ``np.load`` allocates the shape the
    header announces before reading, so a header claiming more data than the file
    holds (or an object dtype, which needs pickle) is refused with the file named."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        try:
            version = npy_format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(handle)
            else:
                raise FeatureFileError(f"feature file {path}: .npy format version {version} is "
                                       f"not supported (1.0 and 2.0 are)")
        except FeatureFileError:
            raise
        except Exception as exc:
            raise FeatureFileError(f"feature file {path}: not a .npy file ({exc})") from None
        offset = handle.tell()
    if dtype.hasobject:
        raise FeatureFileError(f"feature file {path}: object arrays are refused (they need "
                               f"pickle); save a numeric array")
    need = math.prod(shape) * dtype.itemsize
    if size - offset < need:
        raise FeatureFileError(f"feature file {path}: truncated: shape {shape} of {dtype} needs "
                               f"{need} bytes, the file holds {size - offset}")
    return np.load(path, allow_pickle=False)


def load_feature_file(path: str | os.PathLike, num_items: int) -> torch.Tensor:
    """Read a ``(num_items, dim)`` feature table from ``.npy`` or ``.pt``/``.pth``;
    errors name the file and the expected shape. Returns float32.

    ``.npy`` files are read without pickle, after checking that the file holds the
    bytes its header announces; ``.pt`` files must be ``torch.save`` zip archives
    (read with ``weights_only=True``; legacy non-zip files are refused).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FeatureFileError(f"feature file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            data: Any = _read_npy(path)
        elif suffix in (".pt", ".pth"):
            if not zipfile.is_zipfile(path):
                raise FeatureFileError(f"feature file {path}: not a torch.save zip archive (the "
                                       f"format since torch 1.6); legacy torch files are refused "
                                       f"(torch reserves whatever storage size they declare): "
                                       f"re-save it with torch.save")
            data = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise FeatureFileError(f"feature file {path}: unsupported format '{suffix}' "
                                   f"(use {', '.join(FEATURE_FILE_SUFFIXES)})")
    except FeatureFileError:
        raise
    except Exception as exc:
        raise FeatureFileError(f"cannot read feature file {path}: {type(exc).__name__}: {exc}") from exc
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in "fiub":
            raise FeatureFileError(f"feature file {path}: expected a numeric array, got dtype {data.dtype}")
        tensor = torch.from_numpy(np.asarray(data, dtype=np.float32))
    elif isinstance(data, torch.Tensor):
        tensor = data.detach().to(torch.float32)
    else:
        raise FeatureFileError(f"feature file {path}: expected one array or tensor, got {type(data).__name__}")
    if tensor.dim() != 2:
        raise FeatureFileError(f"feature file {path}: expected a 2-D (num_items={num_items}, dim) table, "
                               f"got shape {tuple(tensor.shape)}")
    if tensor.size(0) != num_items:
        raise FeatureFileError(f"feature file {path} has {tensor.size(0)} rows but the dataset has "
                               f"{num_items} items: expected shape ({num_items}, dim), one row per "
                               f"dense item id")
    if tensor.size(1) == 0:
        raise FeatureFileError(f"feature file {path}: zero feature columns")
    bad = ~torch.isfinite(tensor).all(dim=1)
    if bool(bad.any()):
        rows = torch.nonzero(bad).flatten()
        raise FeatureFileError(f"feature file {path}: {rows.numel()} rows hold NaN or infinite values "
                               f"(first at row {int(rows[0])})")
    return tensor.contiguous()


# ----------------------------------------------------------------- registry
ModalityBuilder = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class _Modality:
    build: ModalityBuilder
    available: Callable[[InteractionDataset], bool]


def _has_text(ds: InteractionDataset) -> bool:
    t = ds.item_table or {}
    return any(f in t for f in TITLE_FIELDS + CATEGORY_FIELDS + EXTRA_TEXT_FIELDS)


def _has_genre(ds: InteractionDataset) -> bool:
    return _first_field(ds.item_table or {}, CATEGORY_FIELDS) is not None


_MODALITIES: dict[str, _Modality] = {}


def register_item_modality(name: str, build: ModalityBuilder,
                           available: Callable[[InteractionDataset], bool] = lambda ds: True) -> None:
    """Add a built-in modality ``build(dataset, **options) -> (num_items, dim)``."""
    key = name.lower()
    if key == "auto" or Path(key).suffix in FEATURE_FILE_SUFFIXES:
        raise ValueError(f"'{name}' cannot name a modality")
    _MODALITIES[key] = _Modality(build, available)


register_item_modality("text", lambda ds, text_encoder=None, progress=None, **_: text_features(
    ds, text_encoder, progress=progress), _has_text)
register_item_modality("genre", lambda ds, **_: genre_matrix(ds, None), _has_genre)


def available_modalities(dataset: InteractionDataset) -> list[str]:
    """The built-in modalities the dataset's item table supports."""
    return [n for n, m in _MODALITIES.items() if m.available(dataset)]


def _is_file_spec(spec: str) -> bool:
    return Path(spec).suffix.lower() in FEATURE_FILE_SUFFIXES or "/" in spec or os.sep in spec


@dataclass
class ItemFeatures:
    """Named item feature tables, in config order."""
    names: list[str] = field(default_factory=list)
    tables: list[torch.Tensor] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tables)

    def __iter__(self):
        return iter(zip(self.names, self.tables))

    @property
    def dims(self) -> list[int]:
        return [int(t.size(1)) for t in self.tables]

    def describe(self) -> str:
        if not self.tables:
            return "no item features (ID only)"
        return ", ".join(f"{n} {tuple(t.shape)}" for n, t in self)


def build_item_features(dataset: InteractionDataset, specs: Sequence[Any] | str | None, *,
                        text_encoder: Any = None, progress: bool | None = None,
                        **options: Any) -> ItemFeatures:
    """Resolve a modality list (built-in names, ``"auto"``, feature file paths or
    ready tensors/arrays) into checked ``(num_items, dim)`` tables."""
    if specs is None:
        specs = []
    if isinstance(specs, (str, os.PathLike)) or isinstance(specs, (torch.Tensor, np.ndarray)):
        specs = [specs]
    out = ItemFeatures()
    seen: set[str] = set()

    def add(name: str, table: torch.Tensor, source: str) -> None:
        base, k = name, 2
        while name in seen:
            name, k = f"{base}{k}", k + 1
        seen.add(name)
        out.names.append(name)
        out.tables.append(table)
        out.sources.append(source)

    for n, spec in enumerate(specs):
        if isinstance(spec, (torch.Tensor, np.ndarray)):
            table = torch.as_tensor(np.asarray(spec) if isinstance(spec, np.ndarray) else spec).float()
            if table.dim() != 2 or table.size(0) != dataset.num_items:
                raise FeatureFileError(f"modality {n}: expected shape ({dataset.num_items}, dim), "
                                       f"got {tuple(table.shape)}")
            if not bool(torch.isfinite(table).all()):
                raise FeatureFileError(f"modality {n}: the feature table holds NaN or infinite values")
            add(f"m{n}", table.contiguous(), "tensor")
            continue
        if not isinstance(spec, (str, os.PathLike)):
            raise ValueError(f"modality {spec!r}: expected a name, a file path or a tensor")
        text = str(spec)
        key = text.lower()
        if key == "auto":
            names = available_modalities(dataset)
            for name in names:
                add(name, _MODALITIES[name].build(dataset, text_encoder=text_encoder,
                                                  progress=progress, **options), "built-in")
            continue
        if key in _MODALITIES:
            if not _MODALITIES[key].available(dataset):
                raise DataFormatError(f"{dataset.name}: modality '{key}' needs item-table fields this "
                                      f"dataset lacks (item fields: {sorted(dataset.item_table or {}) or 'none'})")
            add(key, _MODALITIES[key].build(dataset, text_encoder=text_encoder, progress=progress,
                                            **options), "built-in")
            continue
        if _is_file_spec(text) or Path(text).expanduser().is_file():
            add(Path(text).stem, load_feature_file(text, dataset.num_items), str(Path(text).expanduser()))
            continue
        raise ValueError(f"unknown modality '{text}': use one of {', '.join(sorted(_MODALITIES))}, 'auto', "
                         f"or a feature file path ending in {', '.join(FEATURE_FILE_SUFFIXES)}")
    return out
