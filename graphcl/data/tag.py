"""Text-attributed graphs (TAGs): node texts with the graph, as a PyG ``Data``.

The loaded object is a plain ``torch_geometric.data.Data`` so every node method
and the linear probe work on it unchanged:

* ``x``: the text embeddings of the nodes (``(N, d)`` float32; default encoder
  all-MiniLM-L6-v2 through :class:`graphcl.llm.TextEncoder`, cached on disk),
* ``edge_index``: undirected (each edge in both directions), coalesced, without
  self-loops unless ``self_loops=True``,
* ``y`` (when labels are given), ``text`` (list of the N node texts), ``name``,
  ``num_classes`` and ``label_names``.

Sources:

* WebKB from CS-TAG (``webkb-cornell``, ``webkb-texas``, ``webkb-washington``,
  ``webkb-wisconsin``): one CSV per graph with columns
  ``url,raw_text,category,node_id,label,len,neighbor_ids``; ``neighbor_ids`` is a
  Python list literal read with ``ast.literal_eval`` (never ``eval``). The
  ``.pt`` beside it is a DGL graph and is not read: the CSV holds the whole graph.
  Looked for under the data root as ``tag/cstag_webkb/<Name>/<Name>.csv`` (the
  shared layout), ``cstag_webkb/...``, ``webkb/...`` or ``<Name>/<Name>.csv``.
* Your own graph: :func:`load_text_graph` reads node texts from a CSV or JSONL
  file and an edge list (see there).

Bad input raises :class:`graphcl.data.interactions.DataFormatError` naming the
file and row: a missing file, a malformed neighbour list, a neighbour or edge id
out of range, an empty text, a non-integer label.
"""
from __future__ import annotations

import ast
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..io import iter_jsonl_objects
from .catalog import DatasetFamily
from .formats import read_csv_rows, read_text_file, text_lines
from .interactions import DataFormatError
from .root import MissingDataError, fetch, resolve_data_root

__all__ = [
    "TAG_DATASETS",
    "TAG_FAMILY",
    "TAG_OPTIONS",
    "TagFamily",
    "load_text_graph",
    "load_webkb",
    "max_classes",
    "read_webkb_csv",
    "text_attributed_graph",
]

_CSTAG = ("https://raw.githubusercontent.com/sktsherlock/TAG-Benchmark/"
          "9553c4e4a4bb9787e5c9d5622190b4730fdc4733/data/webkb")


@dataclass(frozen=True)
class TagDatasetSpec:
    name: str
    folder_name: str      # e.g. "Cornell"
    sha256: str           # of <Name>.csv
    description: str
    licence: str = "MIT badge of CS-TAG (sktsherlock/TAG-Benchmark); pages from the CMU WebKB project"

    @property
    def file_name(self) -> str:
        return f"{self.folder_name}.csv"

    @property
    def url(self) -> str:
        return f"{_CSTAG}/{self.folder_name}/{self.file_name}"


TAG_DATASETS: dict[str, TagDatasetSpec] = {s.name: s for s in [
    TagDatasetSpec("webkb-cornell", "Cornell",
                   "9df54de8059186c5a374e8dd56076f8f3422658ad48316aba684d8ffe45b95fb",
                   "WebKB Cornell web pages (CS-TAG): 191 nodes, raw page text, 5 classes"),
    TagDatasetSpec("webkb-texas", "Texas",
                   "4769410dd18a93bf0dcda643f01061a388466130232d5d458d8669b2cf06d2a6",
                   "WebKB Texas web pages (CS-TAG): 187 nodes, raw page text, 5 classes"),
    TagDatasetSpec("webkb-washington", "Washington",
                   "85c7ac53ff8e11c83e2d4b64f557b72233e3184ae5429056c64e4ce7a6c9b143",
                   "WebKB Washington web pages (CS-TAG): 229 nodes, raw page text, 5 classes"),
    TagDatasetSpec("webkb-wisconsin", "Wisconsin",
                   "49f2d7bfe9449dde2d9c583bc8a642f300b2b3de73e10e409d20cd742a5d85a8",
                   "WebKB Wisconsin web pages (CS-TAG): 265 nodes, raw page text, 5 classes"),
]}

#: options ``graphcl.data.load("webkb-...", **options)`` accepts (``--set data.<key>=...``)
TAG_OPTIONS: dict[str, Any] = {"encoder": "all-MiniLM-L6-v2", "self_loops": False}

_WEBKB_COLUMNS = ("url", "raw_text", "category", "node_id", "label", "neighbor_ids")


# ----------------------------------------------------------------- building
def max_classes(num_nodes: int) -> int:
    """The number of classes a graph of ``num_nodes`` nodes may have: labels must be
    below ``max(1024, num_nodes)``, so one absurd label cannot size the classifier."""
    return max(1024, int(num_nodes))


def _encode(texts: Sequence[str], encoder: Any) -> torch.Tensor:
    from graphcl.llm import (
        TextEncoder,  # lazy: sentence-transformers loads only when encoding
    )
    enc = encoder if isinstance(encoder, TextEncoder) else TextEncoder(encoder)
    x = enc.encode(list(texts)).float()
    if x.dim() != 2 or x.size(0) != len(texts):
        raise ValueError(f"the text encoder returned shape {tuple(x.shape)} for {len(texts)} texts")
    return x


def _undirected(edge_index: torch.Tensor, num_nodes: int, self_loops: bool) -> torch.Tensor:
    """Both directions of every edge, duplicates removed, sorted by (row, col)."""
    row, col = edge_index[0].long(), edge_index[1].long()
    if not self_loops:
        keep = row != col
        row, col = row[keep], col[keep]
    key = torch.unique(torch.cat([row * num_nodes + col, col * num_nodes + row]))
    return torch.stack([key // num_nodes, key % num_nodes])


def text_attributed_graph(texts: Sequence[str], edge_index: torch.Tensor | Sequence[Sequence[int]],
                          y: Sequence[int] | torch.Tensor | None = None, *, name: str = "tag",
                          encoder: Any = "all-MiniLM-L6-v2", label_names: Sequence[str] | None = None,
                          self_loops: bool = False, source: str = "texts") -> Any:
    """A PyG ``Data`` from node texts, a ``(2, E)`` edge tensor (0-based node
    positions; made undirected) and optional integer labels.

    ``encoder``: a :class:`graphcl.llm.TextEncoder`, a model name/folder, or any
    object with ``encode(list[str])`` (wrapped in a cached ``TextEncoder``).
    """
    from torch_geometric.data import Data

    texts = list(texts)
    n = len(texts)
    if n == 0:
        raise DataFormatError(f"{source}: the graph has no nodes")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise DataFormatError(f"{source}: node {i} has an empty text")
    ei = torch.as_tensor(edge_index, dtype=torch.long)
    if ei.numel() == 0:
        ei = ei.reshape(2, 0)
    if ei.dim() != 2 or ei.size(0) != 2:
        raise DataFormatError(f"{source}: edge_index must have shape (2, E), got {tuple(ei.shape)}")
    if ei.numel():
        bad = ((ei < 0) | (ei >= n)).any(0).nonzero().reshape(-1)
        if bad.numel():
            e = int(bad[0])
            raise DataFormatError(f"{source}: edge {e} ({int(ei[0, e])}, {int(ei[1, e])}) refers to a "
                                  f"node outside 0..{n - 1} ({bad.numel()} such edges)")
    data = Data(edge_index=_undirected(ei, n, self_loops), num_nodes=n)
    if y is not None:
        yt = torch.as_tensor(y, dtype=torch.long).reshape(-1)
        if yt.numel() != n:
            raise DataFormatError(f"{source}: {yt.numel()} labels for {n} nodes")
        if yt.numel() and int(yt.min()) < 0:
            raise DataFormatError(f"{source}: labels must be >= 0, found {int(yt.min())}")
        if yt.numel() and int(yt.max()) >= max_classes(n):
            raise DataFormatError(f"{source}: label {int(yt.max())} is not a class index in "
                                  f"0..{max_classes(n) - 1} (max(1024, number of nodes))")
        data.y = yt
        data.num_classes = int(yt.max()) + 1
    if label_names is not None:
        data.label_names = list(label_names)
    data.x = _encode(texts, encoder)
    data.text = texts
    data.name = name
    return data


# -------------------------------------------------------------------- WebKB
def _int(value: Any, what: str, where: str) -> int:
    """A decimal integer (optional sign, surrounding spaces) of at most 18 digits."""
    text = str(value).strip() if value is not None else ""
    digits = text[1:] if text[:1] in "+-" else text
    if not (digits.isascii() and digits.isdigit()) or len(digits.lstrip("0")) > 18:
        raise DataFormatError(f"{where}: {what} must be an integer, got {str(value)[:40]!r}")
    return int(text)


def read_webkb_csv(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a CS-TAG WebKB CSV: ``texts``, ``labels``, ``categories`` (label -> name),
    ``neighbors`` (list per node) and ``urls``, validated (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"WebKB file not found: {path}")
    fields, rows = read_csv_rows(path)
    missing = [c for c in _WEBKB_COLUMNS if c not in fields]
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                              f"url,raw_text,category,node_id,label,len,neighbor_ids")
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    n = len(rows)
    texts, labels, urls, neighbors = [], [], [], []
    names: dict[int, str] = {}
    for r, row in enumerate(rows):
        where = f"{path}:{row['__line']}, data row {r + 1}"
        node_id = _int(row["node_id"], "node_id", where)
        if node_id != r:
            raise DataFormatError(f"{where}: node_id {node_id} where {r} was expected (rows must be "
                                  f"ordered by node_id 0..N-1)")
        text = row["raw_text"] or ""
        if not text.strip():
            raise DataFormatError(f"{where}: node {r} has an empty raw_text")
        label = _int(row["label"], "label", where)
        if not 0 <= label < max_classes(n):
            raise DataFormatError(f"{where}: label {label} is not a class index in "
                                  f"0..{max_classes(n) - 1} (max(1024, number of nodes))")
        cat = (row.get("category") or "").strip()
        if names.setdefault(label, cat) != cat:
            raise DataFormatError(f"{where}: label {label} is category {cat!r} here but "
                                  f"{names[label]!r} before")
        raw = row["neighbor_ids"]
        try:
            nb = ast.literal_eval(raw.strip()) if raw and raw.strip() else []
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            raise DataFormatError(f"{where}: malformed neighbor_ids {raw[:80]!r} ({exc})") from None
        if not isinstance(nb, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                        for v in nb):
            raise DataFormatError(f"{where}: neighbor_ids must be a list of integers, got {raw[:80]!r}")
        out = [v for v in nb if not 0 <= v < n]
        if out:
            raise DataFormatError(f"{where}: neighbour id {out[0]} out of range 0..{n - 1}")
        texts.append(text)
        labels.append(label)
        urls.append(row["url"])
        neighbors.append(list(nb))
    categories = [names.get(k, str(k)) for k in range(max(labels) + 1)]
    return {"texts": texts, "labels": labels, "categories": categories, "neighbors": neighbors,
            "urls": urls}


class TagFamily(DatasetFamily):
    """Text-attributed graphs: one CSV per graph (CS-TAG's WebKB files) under
    ``tag/cstag_webkb/<Name>/`` or a shorter layout; read by :func:`load_webkb`."""

    kind = "text-attributed graph"
    noun = "text-attributed graph"

    @property
    def specs(self) -> dict[str, TagDatasetSpec]:
        return TAG_DATASETS

    def candidates(self, spec: TagDatasetSpec, root: Path) -> list[Path]:
        sub = Path(spec.folder_name, spec.file_name)
        return [root / "tag" / "cstag_webkb" / sub, root / "cstag_webkb" / sub, root / "webkb" / sub,
                root / sub]

    def missing(self, spec: TagDatasetSpec, place: Path) -> list[str]:
        return [] if place.is_file() else [spec.file_name]

    def folder(self, place: Path) -> Path:
        return place.parent

    def missing_message(self, spec: TagDatasetSpec, root: Path) -> str:
        return (f"text-attributed graph {spec.name!r}: {spec.file_name} not found. Searched: "
                + ", ".join(str(c) for c in self.candidates(spec, root))
                + f". Put {spec.url} (sha256 {spec.sha256}) at {self.candidates(spec, root)[0]}, or load "
                f"with download=True. Data root {root} comes from the root argument / --data-root, "
                f"else $GRAPHCL_DATA, else <repo>/datasets.")

    def fetch(self, spec: TagDatasetSpec, root: Path) -> Path:
        """The CSV (sha256-checked, atomic rename) into ``<root>/tag/cstag_webkb/<Name>/``."""
        path = self.candidates(spec, root)[0]
        fetch(spec.url, path, spec.sha256)
        return path

    def options(self, spec: TagDatasetSpec) -> dict[str, Any]:
        return TAG_OPTIONS

    def read(self, spec: TagDatasetSpec, root: Path, download: bool, options: dict[str, Any]) -> Any:
        return load_webkb(spec.name, root, download=download, encoder=options["encoder"],
                          self_loops=bool(options["self_loops"]))


TAG_FAMILY = TagFamily()


def load_webkb(name: str, root: str | os.PathLike[str] | None = None, *, download: bool = False,
               encoder: Any = "all-MiniLM-L6-v2", self_loops: bool = False) -> Any:
    """Load ``webkb-cornell`` / ``-texas`` / ``-washington`` / ``-wisconsin`` as a ``Data``.

    ``download=True`` fetches the CSV from the CS-TAG repository (sha256-checked,
    atomic) into ``<root>/tag/cstag_webkb/<Name>/`` when it is missing.
    """
    spec = TAG_FAMILY.spec(name)
    base = resolve_data_root(root)
    path = TAG_FAMILY.locate(spec, base)
    if path is None:
        if not download:
            raise MissingDataError(TAG_FAMILY.missing_message(spec, base))
        path = TAG_FAMILY.fetch(spec, base)
    parsed = read_webkb_csv(path)
    src = [i for i, nb in enumerate(parsed["neighbors"]) for _ in nb]
    dst = [j for nb in parsed["neighbors"] for j in nb]
    data = text_attributed_graph(parsed["texts"], torch.tensor([src, dst], dtype=torch.long).reshape(2, -1),
                                 parsed["labels"], name=spec.name, encoder=encoder,
                                 label_names=parsed["categories"], self_loops=self_loops, source=str(path))
    data.url = parsed["urls"]
    return data


# ---------------------------------------------------------- your own files
def _read_nodes(path: Path, text_field: str, label_field: str | None,
                id_field: str | None) -> list[dict[str, Any]]:
    if not path.is_file():
        raise MissingDataError(f"node file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = [{**obj, "__line": "line " + where.rsplit(":", 1)[1]}
                 for where, obj in iter_jsonl_objects(path, DataFormatError)]
    elif suffix in (".csv", ".tsv"):
        _, rows = read_csv_rows(path, delimiter="\t" if suffix == ".tsv" else ",")
        for r, row in enumerate(rows, 1):
            row["__line"] = f"line {row['__line']}, data row {r}"
    else:
        raise DataFormatError(f"{path}: node file must be .csv, .tsv or .jsonl, got {path.suffix!r}")
    if not rows:
        raise DataFormatError(f"{path}: no nodes")
    for field in (text_field, label_field, id_field):
        if field is not None and field not in rows[0]:
            raise DataFormatError(f"{path}: no field {field!r} (fields: "
                                  f"{', '.join(k for k in rows[0] if k != '__line')})")
    return rows


def _read_edges(path: Path, lookup: dict[str, int] | None, n: int) -> torch.Tensor:
    if not path.is_file():
        raise MissingDataError(f"edge file not found: {path}")
    src, dst = [], []
    first = True
    _, text = read_text_file(path)
    for ln, line in enumerate(text_lines(text), 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        parts = [p.strip("\"'") for p in re.split(r"[,\s]+", body) if p]
        if len(parts) < 2:
            raise DataFormatError(f"{path}, line {ln}: expected 'source target', got {body[:80]!r}")
        header, first = first, False
        if lookup is not None:
            known = [p in lookup for p in parts[:2]]
            if header and not any(known):
                continue  # a header line such as "source,target"
            if not all(known):
                bad = parts[0] if not known[0] else parts[1]
                raise DataFormatError(f"{path}, line {ln}: unknown node id {bad!r}")
            src.append(lookup[parts[0]])
            dst.append(lookup[parts[1]])
            continue
        try:
            u, v = int(parts[0]), int(parts[1])
        except ValueError:
            if header:
                continue
            raise DataFormatError(f"{path}, line {ln}: node ids must be integers, got "
                                  f"{body[:80]!r}") from None
        if not (0 <= u < n and 0 <= v < n):
            raise DataFormatError(f"{path}, line {ln}: node id out of range 0..{n - 1} in "
                                  f"{body[:80]!r}")
        src.append(u)
        dst.append(v)
    return torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)


def load_text_graph(nodes: str | os.PathLike[str], edges: str | os.PathLike[str], *,
                    text_field: str = "text", label_field: str | None = "label",
                    id_field: str | None = None, name: str | None = None,
                    encoder: Any = "all-MiniLM-L6-v2", self_loops: bool = False) -> Any:
    """A TAG from your own files.

    ``nodes``: a CSV/TSV (header row) or JSONL file, one node per row, with the
    text in ``text_field`` and (unless ``label_field=None``) an integer label.
    ``edges``: one edge per line, ``source target`` separated by whitespace or a
    comma; ``#`` starts a comment; a header line is skipped. Ids are 0-based row
    positions, or, with ``id_field``, the values of that node field.
    """
    npath, epath = Path(nodes), Path(edges)
    rows = _read_nodes(npath, text_field, label_field, id_field)
    texts = []
    labels: list[int] = []
    for r, row in enumerate(rows):
        text = row.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise DataFormatError(f"{npath}, {row['__line']}: node {r} has an empty or missing "
                                  f"{text_field!r}")
        texts.append(text)
        if label_field is not None:
            labels.append(_int(row.get(label_field), label_field, f"{npath}, {row['__line']}"))
    lookup = None
    if id_field is not None:
        lookup = {}
        for r, row in enumerate(rows):
            key = str(row.get(id_field)).strip()
            if key in lookup:
                raise DataFormatError(f"{npath}, {row['__line']}: duplicate node id {key!r}")
            lookup[key] = r
    edge_index = _read_edges(epath, lookup, len(rows))
    return text_attributed_graph(texts, edge_index, labels if label_field is not None else None,
                                 name=name or npath.stem, encoder=encoder, self_loops=self_loops,
                                 source=str(npath))
