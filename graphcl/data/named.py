"""Datasets by name: data-root resolution, manifest, download and loading.

``load("gowalla")`` looks for the files of a known dataset under the data root
(``root`` argument / ``--data-root``, else ``$GRAPHCL_DATA``, else
``<repo>/datasets``) in each of the dataset's candidate sub-folders, so both
``<root>/gowalla/`` and the shared layout ``<root>/graphcf/lightgcn/gowalla/``
work. When the files are missing, the error names them, the folders searched,
the download URLs and ``graphcl.data.download('<name>')``. Any other path
given to :func:`load` is read as a RecBole atomic dataset.

Every named dataset belongs to a family (:class:`graphcl.data.catalog.DatasetFamily`):
recommendation and sequence files (:data:`MANIFEST`, this module), PyG node graphs
(cora, citeseer, pubmed, amazon-photo, amazon-computers, coauthor-cs, coauthor-physics,
wikics: :mod:`graphcl.data.nodes`, PyG ``Data``), HeCo heterogeneous graphs
(:mod:`graphcl.data.hetero`) and text-attributed graphs (:mod:`graphcl.data.tag`). Each
family declares its specs, where they lie, what is missing and how to fetch and read
them; :func:`lookup`, :func:`load`, :func:`download` and :func:`describe_datasets` here
(and the family base class) do the rest, once.

Sequence datasets (``beauty``, ``sports``, ``toys``, ``yelp-seq``: the ICLRec
files; ``ml-100k-seq``: ml-100k ordered by timestamp) load as a
:class:`~graphcl.data.sequences.SequenceDataset`; sequential methods given a
general name use its ``-seq`` form (:func:`sequence_name`).

Users with validation/test but no training interactions are never kept
silently. The splits made here always leave each user a training item; the
fixed upstream splits (yelp, lastfm, ...) do contain such users: the option
``cold_users`` keeps them (default, with a warning giving the count, so the
published split sizes are reproduced), drops their pairs (with a warning), or
raises (see :func:`_assemble`).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence


from .catalog import DatasetFamily, check_options
from .interactions import InteractionDataset
from .root import (ENV_VAR, DatasetNotFoundError, DownloadError, MissingDataError, fetch,
                   resolve_data_root, sha256_file)
from .sequences import load_iclrec_file, load_ml100k_sequences
from .loaders import (load_adagcl_split, load_lastfm_hetrec, load_lightgcn_split, load_ml100k,
                      recbole_example_dirs, load_atomic_dataset)

_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    sha256: str
    required: bool = True


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    folders: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    loader: Callable[..., InteractionDataset]
    options: dict[str, Any] = field(default_factory=dict)
    licence: str = "unknown"
    source: str = ""
    extra_locations: Callable[[], list[Path]] | None = None


# ------------------------------------------------------------------ manifest
def _files(base: str, names_and_hashes: Sequence[tuple[str, str]],
           optional: Sequence[str] = ()) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(n, f"{base}/{n}", h, n not in optional) for n, h in names_and_hashes)


_LIGHTGCN = f"{_RAW}/kuandeng/LightGCN/b067ec05f16a24e0e1efe63cd82385f0c469af20/Data/gowalla"
_ADAGCL = f"{_RAW}/HKUDS/AdaGCL/bfb4cdfcf15f7f01d97fdc369a7ae5f81b9f095e/Datasets"
_LGCN_PT = f"{_RAW}/gusye1234/LightGCN-PyTorch/947ca2b3b1d2d3545b114145710cb06c4e57b3d2/data/lastfm"
_RECBOLE = f"{_RAW}/RUCAIBox/RecBole/v1.2.1/recbole/dataset_example/ml-100k"
_ICLREC = f"{_RAW}/salesforce/ICLRec/2890e6c3ff6a22c6699fc19cb863b66786c1cde4/data"
_AMAZON_TERMS = ("ICLRec: BSD-3-Clause; Amazon review data (McAuley et al.; cite He & McAuley "
                 "WWW'16, McAuley et al. SIGIR'15)")
_SPLIT_OPTIONS = {"split": "random", "ratios": (0.8, 0.1, 0.1), "seed": 2020,
                  "min_user_inter": 0, "min_item_inter": 0, "rating_threshold": None}
_ATOMIC_OPTIONS = {**_SPLIT_OPTIONS, "name": None, "user_field": "user_id", "item_field": "item_id",
                   "rating_field": "rating", "time_field": "timestamp"}

MANIFEST: dict[str, DatasetSpec] = {spec.name: spec for spec in [
    DatasetSpec(
        "ml-100k", "MovieLens 100K (RecBole atomic files); per-user random 0.8/0.1/0.1 split",
        ("ml-100k",),
        _files(_RECBOLE, [
            ("ml-100k.inter", "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"),
            ("ml-100k.item", "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532"),
            ("ml-100k.user", "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972"),
        ], optional=("ml-100k.item", "ml-100k.user")),
        load_ml100k, dict(_SPLIT_OPTIONS),
        "MovieLens terms of use (GroupLens; research use, no redistribution); RecBole: MIT",
        "RUCAIBox/RecBole v1.2.1, recbole/dataset_example/ml-100k (also in the recbole wheel)",
        recbole_example_dirs),
    DatasetSpec(
        "gowalla", "Gowalla check-ins, LightGCN/NGCF/SGL split; validation carved from train",
        ("gowalla", "graphcf/lightgcn/gowalla"),
        _files(_LIGHTGCN, [
            ("train.txt", "7244696fdeb23911319cf7b689f2e15a3c4c92549c873a5677b44e3f13cc3e62"),
            ("test.txt", "099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3"),
            ("user_list.txt", "5344c4d0deef610e1f148f23ad216a0db03b36f88834cd39a06786a672c5f5a1"),
            ("item_list.txt", "6b186f92890cc3f0c15a6dae5d6285f125a302bb8c5ea0cd9a16cf9c16347139"),
        ], optional=("user_list.txt", "item_list.txt")),
        load_lightgcn_split, {"valid_ratio": 0.1, "seed": 2020, "cold_users": "keep"},
        "none stated by kuandeng/LightGCN; raw data: SNAP loc-gowalla",
        "kuandeng/LightGCN b067ec05f16a24e0e1efe63cd82385f0c469af20, Data/gowalla"),
    DatasetSpec(
        "yelp", "Yelp (sparse_yelp), AdaGCL split: trnMat/valMat/tstMat pickles",
        ("yelp", "sparse_yelp", "graphcf/adagcl/sparse_yelp"),
        _files(f"{_ADAGCL}/sparse_yelp", [
            ("trnMat.pkl", "299c23b93952c3e4553c17d004a69651fda9419cfcbbce70df9c3f539de4ff43"),
            ("valMat.pkl", "c27cb28baba07184fa0331412ec7ec64e462b435b29483a94285f525fab74eb9"),
            ("tstMat.pkl", "289b445aab82a5059dfd9585f7dec289fd5963a56891e58ea372da5b5edd8d8a"),
        ]),
        functools.partial(load_adagcl_split, name="yelp"), {"cold_users": "keep"},
        "none in HKUDS/AdaGCL; the identical files in HKUDS/SSLRec are Apache-2.0; "
        "Yelp Open Dataset terms", "HKUDS/AdaGCL bfb4cdfcf15f7f01d97fdc369a7ae5f81b9f095e"),
    DatasetSpec(
        "lastfm", "Last.fm, AdaGCL split: trnMat/valMat/tstMat pickles",
        ("lastfm", "lastFM", "graphcf/adagcl/lastFM"),
        _files(f"{_ADAGCL}/lastFM", [
            ("trnMat.pkl", "74834e3bd07f34df9a2cab523256b0bba0990ad7cae3b3cb247397ec8b28077b"),
            ("valMat.pkl", "dc772c1ca8fc797534351e2044bc623f261ed29dbc9ac1bb5c9cf2279ff3102c"),
            ("tstMat.pkl", "1106ce4246a8b058e4f87bbcb5ccb7c7a7f5b3f580d84ac3f54b77c29a4023bf"),
        ]),
        functools.partial(load_adagcl_split, name="lastfm"), {"cold_users": "keep"},
        "none in HKUDS/AdaGCL; data: hetrec2011 Last.fm",
        "HKUDS/AdaGCL bfb4cdfcf15f7f01d97fdc369a7ae5f81b9f095e"),
    DatasetSpec(
        "lastfm-hetrec", "Last.fm hetrec2011 as in LightGCN-PyTorch; validation carved from train",
        ("lastfm-hetrec", "graphcf/lightgcn_pytorch/lastfm"),
        _files(_LGCN_PT, [
            ("data1.txt", "c82af3228cbbda2f55a39244de09ed93292894f1d0d9f1908ebb57e27598fded"),
            ("test1.txt", "de4417c0e6123284ce59a0934bcf5288ec1ec8774a18a1eef453c9952dfa48f9"),
        ]),
        load_lastfm_hetrec, {"valid_ratio": 0.1, "seed": 2020, "cold_users": "keep"},
        "none stated by gusye1234/LightGCN-PyTorch; data: hetrec2011 Last.fm (non-commercial)",
        "gusye1234/LightGCN-PyTorch 947ca2b3b1d2d3545b114145710cb06c4e57b3d2, data/lastfm"),
    # sequence datasets (graphcl.data.sequences.SequenceDataset, leave-one-out)
    DatasetSpec(
        "ml-100k-seq", "MovieLens 100K as user sequences ordered by timestamp (RecBole atomic "
        "files); leave-one-out", ("ml-100k",),
        _files(_RECBOLE, [
            ("ml-100k.inter", "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff")]),
        load_ml100k_sequences, {"min_user_inter": 0, "min_item_inter": 0},
        "MovieLens terms of use (GroupLens; research use, no redistribution); RecBole: MIT",
        "RUCAIBox/RecBole v1.2.1, recbole/dataset_example/ml-100k (also in the recbole wheel)",
        recbole_example_dirs),
    *[DatasetSpec(
        name, f"{title} sequences (ICLRec/MCLRec preprocessing, 5-core); leave-one-out",
        (name, "seqrec/iclrec"),
        _files(_ICLREC, [(file, sha)]),
        functools.partial(load_iclrec_file, file=file, name=name), {},
        licence, "salesforce/ICLRec 2890e6c3ff6a22c6699fc19cb863b66786c1cde4, data/")
      for name, title, file, sha, licence in [
        ("beauty", "Amazon Beauty", "Beauty.txt",
         "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8", _AMAZON_TERMS),
        ("sports", "Amazon Sports and Outdoors", "Sports_and_Outdoors.txt",
         "2a095e0648872beb9982408958290f5d655db5be2911c3756b5446de9f0b8de2", _AMAZON_TERMS),
        ("toys", "Amazon Toys and Games", "Toys_and_Games.txt",
         "176c680c688d497598c4a89a03b402c0fe78d795e5db335c2e78dd5f2d778a3f", _AMAZON_TERMS),
        ("yelp-seq", "Yelp", "Yelp.txt",
         "724b219106b81dd2349027da997334ddb6da9fe2f152ad6e0d97a93170f7caed",
         "ICLRec: BSD-3-Clause; Yelp Open Dataset terms")]],
]}


def sequence_name(name: str) -> str:
    """The sequence form of a dataset name for sequential methods: ``<name>-seq``
    when the manifest has it (``ml-100k`` -> ``ml-100k-seq``, ``yelp`` ->
    ``yelp-seq``), else ``name`` unchanged (``beauty``, a path, ...)."""
    key = str(name).lower()
    return f"{key}-seq" if f"{key}-seq" in MANIFEST else str(name)


# ------------------------------------------------------------ the family
class RecommendationFamily(DatasetFamily):
    """Recommendation and sequence datasets: their files (:class:`RemoteFile`, URL + sha256)
    in one of the spec's sub-folders of the data root; read by the spec's ``loader``."""

    kind = "recommendation"

    @property
    def specs(self) -> dict[str, DatasetSpec]:
        return MANIFEST

    def candidates(self, spec: DatasetSpec, root: Path) -> list[Path]:
        folders = [root / sub for sub in spec.folders]
        return folders + (spec.extra_locations() if spec.extra_locations else [])

    def missing(self, spec: DatasetSpec, place: Path) -> list[str]:
        return [f.name for f in spec.files if f.required and not (place / f.name).is_file()]

    def missing_message(self, spec: DatasetSpec, root: Path) -> str:
        required = [f for f in spec.files if f.required]
        target = root / spec.folders[0]
        lines = [f"dataset {spec.name!r}: missing file(s) {', '.join(f.name for f in required)}.",
                 "Searched: " + ", ".join(str(c) for c in self.candidates(spec, root)),
                 f"Download with graphcl.data.download({spec.name!r}, root={str(root)!r}) "
                 f"(or load({spec.name!r}, download=True)), or put these files into {target}:"]
        lines += [f"  {f.url}  (sha256 {f.sha256})" for f in spec.files]
        lines.append(f"Data root {root} comes from the root argument / --data-root, else ${ENV_VAR}, "
                     f"else <repo>/datasets.")
        return "\n".join(lines)

    def fetch(self, spec: DatasetSpec, root: Path) -> Path:
        """Each file into ``<root>/<first folder>/``: a temp file checked against the
        manifest's sha256, then renamed; a file already there with that sha256 is kept."""
        target = root / spec.folders[0]
        for remote in spec.files:
            dest = target / remote.name
            if dest.is_file() and sha256_file(dest) == remote.sha256:
                continue
            fetch(remote.url, dest, remote.sha256)
        return target

    def options(self, spec: DatasetSpec) -> dict[str, Any]:
        return spec.options

    def read(self, spec: DatasetSpec, root: Path, download: bool, options: dict[str, Any]) -> Any:
        folder = self.locate(spec, root)
        if folder is None:
            if not download:
                raise MissingDataError(self.missing_message(spec, root))
            folder = self.fetch(spec, root)
        return spec.loader(folder, **options)


RECOMMENDATION_FAMILY = RecommendationFamily()


def families() -> list[DatasetFamily]:
    """Every family of named datasets, in the order their names are looked up and
    described: recommendation (and sequence) files, PyG node graphs, HeCo heterogeneous
    graphs, text-attributed graphs. The last three are imported on first use."""
    from .hetero import HETERO_FAMILY
    from .nodes import NODE_FAMILY
    from .tag import TAG_FAMILY
    return [RECOMMENDATION_FAMILY, NODE_FAMILY, HETERO_FAMILY, TAG_FAMILY]


def lookup(name: str) -> tuple[DatasetFamily, Any]:
    """The family and spec of a dataset name (case-insensitive); :class:`DatasetNotFoundError`
    listing every known name otherwise. Recommendation names are found without importing
    the other families."""
    key = str(name).lower()
    if key in MANIFEST:
        return RECOMMENDATION_FAMILY, MANIFEST[key]
    for family in families()[1:]:
        if key in family.specs:
            return family, family.specs[key]
    names = {f.kind: ", ".join(sorted(f.specs)) for f in families()}
    raise DatasetNotFoundError(f"unknown dataset {name!r}; known datasets: {names['recommendation']}; "
                               f"node datasets: {names['node']}; heterogeneous datasets: "
                               f"{names['heterogeneous']}; text-attributed graphs: "
                               f"{names['text-attributed graph']} (or pass the path of a RecBole "
                               f"atomic dataset folder or .inter file)")


# ------------------------------------------------------------ the front door
def download_dataset(name: str, root: str | os.PathLike[str] | None = None, *,
                     force: bool = False) -> Path:
    """Fetch the files of dataset ``name`` under the data root and return its folder.

    If the dataset is already found under the root (or embedded, for ml-100k) and
    ``force`` is false, nothing is fetched. Each file goes to a temp file in the same
    folder, is checked against the manifest sha256 and only then renamed to its final
    name; a mismatch deletes the temp file and raises :class:`DownloadError`.
    """
    family, spec = lookup(name)
    return family.download(spec, resolve_data_root(root), force=force)


#: the public name (inside :func:`load`, its ``download`` argument shadows it)
download = download_dataset


def load(name_or_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, *,
         download: bool = False, **options: Any) -> Any:
    """Load a known dataset by name, or a RecBole atomic dataset by path.

    Recommendation datasets return an :class:`InteractionDataset`; node
    datasets (``cora``, ``citeseer``, ...; see :mod:`graphcl.data.nodes`) a PyG
    ``Data`` and take no options; sequence datasets (``beauty``, ``sports``,
    ``toys``, ``yelp-seq``, ``ml-100k-seq``) a
    :class:`~graphcl.data.sequences.SequenceDataset`. Heterogeneous datasets (``acm``, ``aminer``,
    ``freebase``, ``dblp``, ``imdb``; see :mod:`graphcl.data.hetero`) return a PyG
    ``HeteroData``, or with ``view="pap"`` the homogeneous ``Data`` of a meta-path;
    options: ``metapaths``, ``view``, ``self_loops``, ``sparse_features``, ``path_counts``.

    ``options`` are the dataset's own (see ``MANIFEST[name].options``, e.g.
    ``valid_ratio``/``seed`` for gowalla, ``split``/``ratios``/``seed``/
    ``min_user_inter``/``min_item_inter``/``rating_threshold`` for ml-100k).
    ``valid_ratio=0`` gives gowalla's paper protocol (no validation split).
    """
    key = str(name_or_path).lower()
    known = key in MANIFEST or any(key in f.specs for f in families()[1:])
    if not known:
        path = Path(name_or_path).expanduser()
        if path.exists():
            check_options(str(path), options, _ATOMIC_OPTIONS)
            return load_atomic_dataset(path, **options)
    family, spec = lookup(key)
    return family.load(spec, resolve_data_root(root), download, options)


def list_datasets() -> list[str]:
    """Names of every dataset known by name (recommendation, sequence, node,
    heterogeneous and text-attributed), sorted; nothing is read from disk (see
    :func:`describe_datasets` for where each is found)."""
    return sorted(name for family in families() for name in family.specs)


def describe_datasets(root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """One dict per known dataset: ``name``, ``found``, ``path`` or ``reason``, and metadata."""
    base = resolve_data_root(root)
    return [entry for family in families() for entry in family.describe(base)]
