"""Heterogeneous graphs in the HeCo format as PyG ``HeteroData``.

``load("acm")`` (or :func:`load_hetero_dataset`) reads a HeCo-format folder
(Wang et al., KDD 2021, liun-online/HeCo; IMDB as in jianxiangyu/MEOW):

* ``labels.npy``: class of each target node (mapped to 0..C-1 in sorted order when
  the values are not already so: MEOW's IMDB labels are 1..3; the original values
  are in ``data.label_values``);
* ``{train,val,test}_{20,40,60}.npy``: the splits with 20/40/60 labelled nodes per class
  (a repeated id, as in MEOW's IMDB ``train_40``/``train_60``, is counted once, with a
  warning; a split overlapping its validation/test nodes is an error);
* ``<x>_feat.npz``: features of node type ``x`` (sparse ``.npz``; DBLP's ``t_feat.npz``
  is really a dense ``.npy`` file, read as such). A type without a features file
  gets the identity (one-hot) features HeCo uses there (``sp.eye`` in its loaders),
  stored as a sparse CSR identity and marked ``data[type].featureless = True``;
* ``nei_<x>.npy``: the network-schema neighbours of every target node of type ``x``
  (object arrays of integer arrays; never read with ``allow_pickle=True``: the
  pickled payload goes through an unpickler that admits only numpy integer arrays,
  see :func:`graphcl.data.safe_pickle.read_npy`, and every element is checked;
  a 2-D integer array is accepted too), or ``nei_<x>.npz`` (sparse N x n_x, IMDB);
* ``<xy>.txt``: raw relations ``x -> y`` (two integer columns);
* ``<metapath>.npz``: meta-path adjacency, e.g. ``pap.npz``;
* ``pos.npz`` (optional): HeCo's positives, a sparse N x N matrix whose row i marks the
  nodes that HeCo's loss treats as positives of node i (the ``pos_num`` nodes sharing the
  most meta-path instances with i); read into ``data[target].positive_index``.

The result, for ACM (letters p/a/s = paper/author/subject)::

    data["paper"].x            (4019, 1902) float32 (sparse CSR when the file is sparse
                               and under 10% nonzero, see ``sparse_features``)
    data["paper"].y            (4019,) long;  data.num_classes = 3
    data["paper"].train_mask   (4019, 3) bool, one column per split of data.split_ratios
    data["paper"].val_mask, .test_mask   (same; 20/40/60 -> columns 0/1/2)
    data["paper", "pa", "author"].edge_index      schema neighbours (nei_a.npy)
    data["paper", "pap", "paper"].edge_index      meta-path graph (pap.npz), with
                               .edge_weight = number of meta-path instances between
                               the two ends (the commuting matrix), see below
    data["paper"].positive_index  (2, E) long: (anchor, positive) pairs from pos.npz,
                               when the folder has it
    data.target_type = "paper";  data.metapaths = ["pap", "psp"]
    data.missing_metapaths = []; data.type_letters = {"p": "paper", ...}

Path counts: HeCo's meta-path files are binary (``bool``). PathSim (MEOW) needs
the number of path instances, so when every relation of a meta-path is present
(schema neighbours or ``<xy>.txt``) the loader composes the commuting matrix
(``pap = PA · PAᵀ``) and uses it as ``edge_weight`` after checking that its
support equals the file's exactly; otherwise (or when the file already holds
counts, as MEOW's IMDB files do) the file's values are used.
``data.metapath_weights[m]`` says which.

Missing meta-paths (partial DBLP has no ``aptpa.npz``) are skipped with a
:class:`UserWarning` naming them, and listed in ``data.missing_metapaths``.
Asking for one explicitly (``metapaths=["aptpa"]``) raises FileNotFoundError.

Homogeneous view for node methods (agreed interface, used by PamC)::

    data = load("acm", view="pap")      # torch_geometric.data.Data
    data.x            (4019, 1902) dense float32 target features (the sparse CSR
                      identity when the target type has no features file)
    data.edge_index   meta-path graph without self loops (``self_loops=True`` keeps them)
    data.edge_weight  path counts;  data.y;  data.num_classes
    data.train_mask / val_mask / test_mask   (N, 3) bool, columns = data.split_ratios
    load("acm", view="pap+psp")          # union of meta-paths, counts summed

``view=None`` (default) returns the ``HeteroData``; see :func:`metapath_view`.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from .catalog import DatasetFamily
from .heco_files import (identity_features, need_file, read_features, read_index_array, read_relation,
                         read_schema_neighbours, read_sparse, split_masks)
from .interactions import DataFormatError
from .metapath import commuting_counts_at, metapath_view
from .root import MissingDataError, fetch, resolve_data_root, sha256_file

__all__ = ["HETERO_DATASETS", "HETERO_FAMILY", "HeteroFamily", "HeteroSpec", "load_hetero_dataset",
           "metapath_view"]

SPLIT_RATIOS = (20, 40, 60)
#: options of :func:`load_hetero_dataset` (also accepted by ``graphcl.data.load``)
HETERO_OPTIONS: dict[str, Any] = {"metapaths": None, "view": None, "self_loops": False,
                                  "sparse_features": "auto", "path_counts": True}


@dataclass(frozen=True)
class HeteroSpec:
    """A HeCo-format dataset: node types (letter, name, count; target first), meta-paths
    by name, the letters of its schema-neighbour files and the folders searched."""
    name: str
    description: str
    folders: tuple[str, ...]
    types: tuple[tuple[str, str, int], ...]
    metapaths: tuple[str, ...]
    schema: tuple[str, ...]
    source: str
    licence: str

    @property
    def letters(self) -> dict[str, str]:
        return {letter: name for letter, name, _ in self.types}

    @property
    def counts(self) -> dict[str, int]:
        return {letter: n for letter, _, n in self.types}

    @property
    def target(self) -> str:
        return self.types[0][0]


_HECO = "liun-online/HeCo 20e8ca2042838877b2c815279920218b6bbea1db, data/"
HETERO_DATASETS: dict[str, HeteroSpec] = {s.name: s for s in [
    HeteroSpec("acm", "ACM papers (HeCo): paper/author/subject, meta-paths PAP, PSP",
               ("acm", "hetero/heco/acm"),
               (("p", "paper", 4019), ("a", "author", 7167), ("s", "subject", 60)),
               ("pap", "psp"), ("a", "s"), _HECO + "acm", "none stated in HeCo"),
    HeteroSpec("aminer", "AMiner papers (HeCo): paper/author/reference, meta-paths PAP, PRP",
               ("aminer", "hetero/heco/aminer"),
               (("p", "paper", 6564), ("a", "author", 13329), ("r", "reference", 35890)),
               ("pap", "prp"), ("a", "r"), _HECO + "aminer", "none stated in HeCo"),
    HeteroSpec("freebase", "Freebase movies (HeCo): movie/director/actor/writer, MAM, MDM, MWM",
               ("freebase", "hetero/heco/freebase"),
               (("m", "movie", 3492), ("d", "director", 2502), ("a", "actor", 33401),
                ("w", "writer", 4459)),
               ("mam", "mdm", "mwm"), ("a", "d", "w"), _HECO + "freebase", "none stated in HeCo"),
    HeteroSpec("dblp", "DBLP authors (HeCo): author/paper/term/conference, APA, APCPA, APTPA",
               ("dblp", "hetero/heco/dblp", "partial/HeCo_dblp_missing_aptpa/dblp"),
               (("a", "author", 4057), ("p", "paper", 14328), ("t", "term", 7723),
                ("c", "conference", 20)),
               ("apa", "apcpa", "aptpa"), ("p",), _HECO + "dblp", "none stated in HeCo"),
    HeteroSpec("imdb", "IMDB movies (MEOW): movie/actor/director/keyword, MAM, MDM, MKM",
               ("imdb", "hetero/meow/imdb", "hetero/heco/imdb"),
               (("m", "movie", 4275), ("a", "actor", 5432), ("d", "director", 2083),
                ("k", "keyword", 7313)),
               ("mam", "mdm", "mkm"), ("a", "d", "k"),
               "jianxiangyu/MEOW 6a072d79648ab83f7ec7b7482af1696ed00938a1, data/imdb", "MIT"),
]}


# --------------------------------------------------------------- the family
class HeteroFamily(DatasetFamily):
    """HeCo-format folders (``labels.npy``, splits, features, neighbours, meta-path
    matrices) under the spec's sub-folders; read by :func:`load_hetero_dataset`."""

    kind = "heterogeneous"
    noun = "heterogeneous dataset"

    @property
    def specs(self) -> dict[str, HeteroSpec]:
        return HETERO_DATASETS

    def candidates(self, spec: HeteroSpec, root: Path) -> list[Path]:
        return [root / sub for sub in spec.folders]

    def missing(self, spec: HeteroSpec, place: Path) -> list[str]:
        return [] if (place / "labels.npy").is_file() else ["labels.npy"]

    def found_note(self, spec: HeteroSpec, place: Path) -> str:
        absent = [m for m in spec.metapaths if not (place / f"{m}.npz").is_file()]
        return f" (missing meta-paths: {', '.join(absent)})" if absent else ""

    def missing_message(self, spec: HeteroSpec, root: Path) -> str:
        return (f"dataset {spec.name!r}: labels.npy not found. Searched: "
                f"{', '.join(str(c) for c in self.candidates(spec, root))}. Put the HeCo-format files "
                f"(labels.npy, {{train,val,test}}_{{20,40,60}}.npy, *_feat.npz, nei_*.npy, "
                f"{', '.join(m + '.npz' for m in spec.metapaths)}) into {root / spec.folders[0]}; "
                f"source: {spec.source}, or call load({spec.name!r}, download=True). Data root {root} "
                f"comes from the root argument / --data-root, else $GRAPHCL_DATA, else <repo>/datasets.")

    def fetch(self, spec: HeteroSpec, root: Path) -> Path:
        """The files listed in :mod:`graphcl.data.hetero_manifest` (URL + sha256) into
        ``<root>/<first folder>/``, each checked before an atomic rename."""
        from .hetero_manifest import HETERO_FILES, HETERO_SOURCES
        target = root / spec.folders[0]
        for fname, sha in HETERO_FILES[spec.name]:
            dest = target / fname
            if not (dest.is_file() and sha256_file(dest) == sha):
                fetch(f"{HETERO_SOURCES[spec.name]}/{fname}", dest, sha)
        return target

    def options(self, spec: HeteroSpec) -> dict[str, Any]:
        return HETERO_OPTIONS

    def read(self, spec: HeteroSpec, root: Path, download: bool, options: dict[str, Any]) -> Any:
        return load_hetero_dataset(spec.name, root, download=download, **options)


HETERO_FAMILY = HeteroFamily()


# -------------------------------------------------------------------- load
def _metapath_letters_ok(spec: HeteroSpec, metapath: str) -> None:
    bad = [c for c in metapath if c not in spec.letters]
    if len(metapath) < 3 or bad or metapath[0] != spec.target or metapath[-1] != spec.target:
        raise ValueError(f"dataset {spec.name!r}: {metapath!r} is not a meta-path of the target type "
                         f"{spec.letters[spec.target]!r}; known meta-paths: {', '.join(spec.metapaths)}")


def _resolve_metapaths(spec: HeteroSpec, folder: Path,
                       metapaths: Optional[Sequence[str]]) -> tuple[list[str], list[str]]:
    """(meta-paths to load, meta-paths of the dataset whose file is missing)."""
    if metapaths is None:
        present = [m for m in spec.metapaths if (folder / f"{m}.npz").is_file()]
        missing = [m for m in spec.metapaths if m not in present]
        if not present:
            raise FileNotFoundError(f"dataset {spec.name!r}: none of the meta-path files "
                                    f"{', '.join(m + '.npz' for m in spec.metapaths)} is in {folder}")
        if missing:
            warnings.warn(f"dataset {spec.name!r}: meta-path file(s) "
                          f"{', '.join(m + '.npz' for m in missing)} missing in {folder}; loading "
                          f"only {', '.join(present)} (see data.missing_metapaths)", UserWarning,
                          stacklevel=3)
        return present, missing
    wanted = [str(m).lower() for m in ([metapaths] if isinstance(metapaths, str) else metapaths)]
    if not wanted:
        raise ValueError("metapaths is empty: give at least one meta-path name")
    for m in wanted:
        if m not in spec.metapaths:
            _metapath_letters_ok(spec, m)
            raise ValueError(f"dataset {spec.name!r} has no meta-path {m!r}; known meta-paths: "
                             f"{', '.join(spec.metapaths)}")
        need_file(folder / f"{m}.npz", f"dataset {spec.name!r}, meta-path {m!r}")
    return wanted, [m for m in spec.metapaths if not (folder / f"{m}.npz").is_file()]


def load_hetero_dataset(name: str, root: Optional[str | os.PathLike[str]] = None, *,
                        metapaths: Optional[Sequence[str]] = None, view: Optional[str] = None,
                        self_loops: bool = False, sparse_features: Any = "auto",
                        path_counts: bool = True, download: bool = False):
    """Load a HeCo-format dataset as ``HeteroData`` (or, with ``view``, a ``Data``).

    Args:
        name: ``acm``, ``aminer``, ``freebase``, ``dblp`` or ``imdb``.
        root: data root (default ``$GRAPHCL_DATA`` or ``<repo>/datasets``); each
            dataset is looked for in its candidate sub-folders (``acm`` and
            ``hetero/heco/acm``, ...), so ``../shared/data`` works as a root.
        metapaths: meta-path names to load (default: every one whose file exists).
        view: None for ``HeteroData``; a meta-path name (``"pap"``) or several
            joined by ``+`` for the homogeneous ``Data`` of :func:`metapath_view`.
        self_loops: keep the meta-path graph's diagonal in ``view``.
        sparse_features: ``"auto"`` (sparse CSR when under 10% nonzero), True, False.
        path_counts: compose path-instance counts from the relations (see module doc).
        download: fetch missing files from the authors' repositories (sha256-checked).
    """
    spec = HETERO_FAMILY.spec(name)
    if sparse_features not in ("auto", True, False):
        raise ValueError(f"sparse_features must be 'auto', true or false, got {sparse_features!r}")
    base = resolve_data_root(root)
    folder = HETERO_FAMILY.locate(spec, base)
    if folder is None:
        if not download:
            raise MissingDataError(HETERO_FAMILY.missing_message(spec, base))
        folder = HETERO_FAMILY.fetch(spec, base)
    if view is not None:
        parts = [p.strip().lower() for p in str(view).split("+")]
        metapaths = list(dict.fromkeys((metapaths or []) + parts)) if metapaths else parts
    chosen, missing = _resolve_metapaths(spec, folder, metapaths)
    data = _build(spec, folder, chosen, missing, sparse_features, path_counts)
    if view is None:
        return data
    return metapath_view(data, view, self_loops=self_loops)


def _build(spec: HeteroSpec, folder: Path, chosen: list[str], missing: list[str],
           sparse_features: Any, path_counts: bool):
    from torch_geometric.data import HeteroData

    counts, letters = spec.counts, spec.letters
    n = counts[spec.target]
    target = letters[spec.target]
    data = HeteroData()
    labels = read_index_array(need_file(folder / "labels.npy", "labels"), n)
    if labels.min() < 0:
        raise DataFormatError(f"{folder / 'labels.npy'}: negative class label {labels.min()}")
    label_values, labels = np.unique(labels, return_inverse=True)  # IMDB's classes are 1..3
    for letter, tname, count in spec.types:
        path = folder / f"{letter}_feat.npz"
        if path.is_file():
            data[tname].x = read_features(path, count, sparse_features)
            data[tname].featureless = False
        else:
            data[tname].x = identity_features(count)
            data[tname].featureless = True
        data[tname].num_nodes = count
    data[target].y = torch.from_numpy(labels)
    for key, mask in split_masks(folder, n, SPLIT_RATIOS).items():
        data[target][key] = mask
    # relations: schema neighbours (target -> x), then raw <xy>.txt files
    relations: dict[str, np.ndarray] = {}
    for letter in spec.schema:
        relations[spec.target + letter] = read_schema_neighbours(folder, letter, n, counts[letter])
    for path in sorted(folder.glob("*.txt")):
        rel = path.stem.lower()
        if len(rel) != 2 or any(c not in letters for c in rel):
            continue
        pairs = read_relation(path, counts[rel[0]], counts[rel[1]])
        known = relations.get(rel)
        if known is None and rel[::-1] in relations:  # the reverse of a schema relation
            known = relations[rel[::-1]][::-1]
            known = known[:, np.lexsort((known[1], known[0]))]
        if known is not None:
            if pairs.shape != known.shape or not np.array_equal(pairs, known):
                warnings.warn(f"{path} differs from the schema-neighbour file of the same "
                              f"relation; using the schema-neighbour file", UserWarning, stacklevel=3)
            continue
        relations[rel] = pairs
    for rel, pairs in relations.items():
        data[letters[rel[0]], rel, letters[rel[1]]].edge_index = torch.from_numpy(pairs)
    weights_info: dict[str, str] = {}
    for m in chosen:
        path = folder / f"{m}.npz"
        adj = read_sparse(path)
        if adj.shape != (n, n):
            raise DataFormatError(f"{path}: shape {adj.shape}, expected ({n}, {n})")
        adj.eliminate_zeros()
        adj.sort_indices()
        values = adj.data.astype(np.float64)
        info = "values of " + path.name
        steps = [m[i:i + 2] for i in range(len(m) - 1)]
        if path_counts and (adj.dtype == bool or np.all(values == 1)):
            if not all(st in relations or st[::-1] in relations for st in steps):
                info = f"binary {path.name} (a relation of {m} is missing: no path counts)"
            else:
                composed = commuting_counts_at(m, relations, counts, adj)
                if composed is not None:
                    values = composed
                    info = f"path counts composed from relations {', '.join(steps)}"
                else:
                    warnings.warn(f"{path}: the commuting matrix composed from the relations "
                                  f"{', '.join(steps)} has a different support; using the file's "
                                  f"binary values", UserWarning, stacklevel=3)
                    info = f"binary {path.name} (composed counts disagree)"
        if not np.all(np.isfinite(values)) or (values < 0).any():
            raise DataFormatError(f"{path}: negative or non-finite meta-path values")
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(adj.indptr))
        store = data[target, m, target]
        store.edge_index = torch.from_numpy(np.vstack([rows, adj.indices.astype(np.int64)]))
        store.edge_weight = torch.from_numpy(values.astype(np.float32))
        weights_info[m] = info
    positives = folder / "pos.npz"
    if positives.is_file():
        data[target].positive_index = read_positives(positives, n)
    data.name = spec.name
    data.target_type = target
    data.type_letters = dict(letters)
    data.metapaths = list(chosen)
    data.missing_metapaths = list(missing)
    data.metapath_weights = weights_info
    data.split_ratios = list(SPLIT_RATIOS)
    data.num_classes = int(label_values.size)
    data.label_values = label_values.tolist()
    return data


def read_positives(path: Path, n: int) -> torch.Tensor:
    """HeCo's ``pos.npz`` (row i: the positives of node i) as a (2, E) (anchor, positive) index.

    Refuses a matrix of another shape, negative or non-finite entries, and a node without a
    positive (HeCo's loss would divide by zero for it)."""
    pos = read_sparse(path)
    if pos.shape != (n, n):
        raise DataFormatError(f"{path}: shape {pos.shape}, expected ({n}, {n})")
    values = pos.data.astype(np.float64)
    if not np.all(np.isfinite(values)) or (values < 0).any():
        raise DataFormatError(f"{path}: negative or non-finite entries")
    pos.eliminate_zeros()
    pos.sort_indices()
    empty = np.flatnonzero(np.diff(pos.indptr) == 0)
    if empty.size:
        raise DataFormatError(f"{path}: {empty.size} node(s) have no positive (first: row {int(empty[0])})")
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(pos.indptr))
    return torch.from_numpy(np.vstack([rows, pos.indices.astype(np.int64)]))
