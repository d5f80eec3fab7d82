"""Node-classification datasets by name, through PyTorch Geometric's classes.

``load_node_dataset("cora")`` returns the PyG ``Data`` (x, edge_index, y and,
where the dataset has one, its public split masks).

Where the files are looked for: under the data root (``root`` argument, else
``$GRAPHCL_DATA``, else ``<repo>/datasets``; see
:func:`graphcl.data.named.resolve_data_root`), in PyG's raw layout
``<root>/pyg/<Class>/<Name>/raw`` or ``<root>/<Class>/<Name>/raw`` (WikiCS has no
``<Name>`` level: ``<root>/pyg/WikiCS/raw``). So ``GRAPHCL_DATA=../shared/data``
finds Cora and CiteSeer.

Processing: PyG writes ``processed/`` beside ``raw/``. A ``processed/`` folder is
used only if graphcl wrote it for the raw files there now: its
``raw_check.json`` records the sha256 of each raw file and of the processed file,
and both match (:func:`processed_matches`). A folder without that record (PyG's
own, another tool's, an older graphcl's) or whose raw or processed bytes differ
from it is foreign: it is left untouched and the dataset is rebuilt from the
(checked) raw files into graphcl's cache, as for a read-only root. Otherwise
the dataset is built in a temporary folder and renamed into place (an atomic
rename, so a killed run never leaves a half-written ``processed/``). When the
dataset folder is read-only (a shared data root) or holds a foreign
``processed/``, the raw files are copied into a writable cache,
``$GRAPHCL_CACHE`` or ``~/.cache/graphcl``, under ``pyg/<name>-<fingerprint>/``,
where the fingerprint identifies the source folder and its raw files' sizes and
mtimes, and processed there the same atomic way; a cached build whose record
does not match the source's raw files now is replaced.

Untrusted files: the data root may hold files from anyone, so nothing read from it
may run code. Planetoid's raw files are pickles, unpickled by PyG with plain
``pickle.load``: before PyG sees them, the copies in the private build folder are
read through a restricted unpickler and checked
(:func:`graphcl.data.safe_pickle.check_planetoid_raw`); a file that refers to any
other global, or whose content does not fit, raises
:class:`~graphcl.data.interactions.DataFormatError` naming it. The result (which
files match the published sha256) is logged and written to
``processed/raw_check.json`` with the sha256 of every raw and processed file. Processed files are never handed to PyG (PyG retries
a failed ``weights_only`` load with full unpickling, and reads
``pre_transform.pt`` with full unpickling): :func:`read_processed` loads
``processed/data.pt`` itself (the bytes whose sha256 it compared with the
record) with ``torch.load(weights_only=True)`` and rebuilds the ``Data``; a file
that does not load that way is refused, naming it. The record is plain JSON in a
folder anyone may write: it tells graphcl's own builds from foreign or stale
ones, it is no signature (a forged record with a matching crafted ``data.pt``
still cannot run code, by ``weights_only``, but could change the data).

Splits: Planetoid (cora, citeseer, pubmed) keeps its public split masks
(Cora 140/500/1000, CiteSeer 120/500/1000, PubMed 60/500/1000). WikiCS has 20
train/val masks as (N, 20) columns and one test mask. Amazon (photo,
computers) and Coauthor (cs, physics) have no public split: the returned Data
carries no masks; use random splits (:func:`graphcl.eval.node.random_split_masks`).
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from .catalog import DatasetFamily
from .interactions import DataFormatError
from .root import resolve_data_root, sha256_file
from .safe_pickle import check_planetoid_raw

CACHE_ENV_VAR = "GRAPHCL_CACHE"
#: written beside PyG's processed file: how each raw file was checked and the sha256
#: of each raw file and of the processed file (what :func:`processed_matches` compares)
RAW_CHECK_FILE = "raw_check.json"
#: ``format`` of the :data:`RAW_CHECK_FILE` this version writes and accepts
RAW_CHECK_FORMAT = 2
#: a :data:`RAW_CHECK_FILE` larger than this is not graphcl's
_MAX_RAW_CHECK_BYTES = 1 << 20
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeDatasetSpec:
    """A PyG node dataset: its class, the class's ``name`` argument and raw files."""
    name: str
    pyg_class: str
    pyg_name: Optional[str]
    raw_files: tuple[str, ...]
    url: str
    description: str
    licence: str
    public_split: bool

    @property
    def relative(self) -> Path:
        """``<Class>/<Name>`` (``WikiCS`` alone), the folder holding ``raw/``."""
        return Path(self.pyg_class, self.pyg_name) if self.pyg_name else Path(self.pyg_class)


def _planetoid(name: str, pyg_name: str, desc: str) -> NodeDatasetSpec:
    files = tuple(f"ind.{pyg_name.lower()}.{s}"
                  for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"))
    return NodeDatasetSpec(name, "Planetoid", pyg_name, files,
                           "https://github.com/kimiyoung/planetoid/raw/master/data", desc,
                           "MIT (kimiyoung/planetoid)", True)


_SHCHUR = "https://github.com/shchur/gnn-benchmark/raw/master/data/npz"
NODE_DATASETS: dict[str, NodeDatasetSpec] = {s.name: s for s in [
    _planetoid("cora", "Cora", "Planetoid Cora citation graph, public split 140/500/1000"),
    _planetoid("citeseer", "CiteSeer", "Planetoid CiteSeer citation graph, public split 120/500/1000"),
    _planetoid("pubmed", "PubMed", "Planetoid PubMed citation graph, public split 60/500/1000"),
    NodeDatasetSpec("amazon-photo", "Amazon", "Photo", ("amazon_electronics_photo.npz",), _SHCHUR,
                    "Amazon Photo co-purchase graph (no public split)", "MIT (shchur/gnn-benchmark)",
                    False),
    NodeDatasetSpec("amazon-computers", "Amazon", "Computers",
                    ("amazon_electronics_computers.npz",), _SHCHUR,
                    "Amazon Computers co-purchase graph (no public split)",
                    "MIT (shchur/gnn-benchmark)", False),
    NodeDatasetSpec("coauthor-cs", "Coauthor", "CS", ("ms_academic_cs.npz",), _SHCHUR,
                    "Coauthor CS graph (no public split)", "MIT (shchur/gnn-benchmark)", False),
    NodeDatasetSpec("coauthor-physics", "Coauthor", "Physics", ("ms_academic_phy.npz",), _SHCHUR,
                    "Coauthor Physics graph (no public split)", "MIT (shchur/gnn-benchmark)", False),
    NodeDatasetSpec("wikics", "WikiCS", None, ("data.json",),
                    "https://github.com/pmernyei/wiki-cs-dataset/raw/master/dataset",
                    "Wiki-CS hyperlink graph, undirected; 20 train/val masks, one test mask",
                    "MIT (pmernyei/wiki-cs-dataset)", True),
]}


# --------------------------------------------------------------- the family
class NodeFamily(DatasetFamily):
    """PyG node graphs: a folder holding ``raw/`` with the class's raw files, under
    ``<root>/pyg/<Class>/<Name>`` or ``<root>/<Class>/<Name>``; read through
    :func:`load_node_dataset` (checked raw files, graphcl's own ``processed/``)."""

    kind = "node"
    noun = "node dataset"

    @property
    def specs(self) -> dict[str, NodeDatasetSpec]:
        return NODE_DATASETS

    def candidates(self, spec: NodeDatasetSpec, root: Path) -> list[Path]:
        return [root / "pyg" / spec.relative, root / spec.relative]

    def missing(self, spec: NodeDatasetSpec, place: Path) -> list[str]:
        return [f for f in spec.raw_files if not (place / "raw" / f).is_file()]

    def searched(self, spec: NodeDatasetSpec, root: Path) -> list[Path]:
        return [f / "raw" for f in self.candidates(spec, root)]

    def missing_message(self, spec: NodeDatasetSpec, root: Path) -> str:
        searched = ", ".join(str(f) for f in self.searched(spec, root))
        return (f"node dataset {spec.name!r}: raw file(s) {', '.join(spec.raw_files)} not found. "
                f"Searched: {searched}. Put the files into {self.searched(spec, root)[0]} "
                f"or call load_node_dataset({spec.name!r}, download=True) to fetch them from PyG's "
                f"source {spec.url}. Data root {root} comes from the root argument / --data-root, "
                f"else $GRAPHCL_DATA, else <repo>/datasets.")

    def fetch(self, spec: NodeDatasetSpec, root: Path) -> Path:
        return prepare_node_dataset(spec.name, root, download=True)

    def read(self, spec: NodeDatasetSpec, root: Path, download: bool, options: dict[str, Any]) -> Any:
        return load_node_dataset(spec.name, root, download=download)


NODE_FAMILY = NodeFamily()


def cache_root() -> Path:
    """Writable cache for processed PyG data: ``$GRAPHCL_CACHE`` or ``~/.cache/graphcl``."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "graphcl"


def _fingerprint(spec: NodeDatasetSpec, source: Optional[Path]) -> str:
    if source is None:
        return "download"
    h = hashlib.sha256(str(source.resolve()).encode())
    for f in spec.raw_files:
        st = (source / "raw" / f).stat()
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


# -------------------------------------------------------------- processing
def _make_pyg(spec: NodeDatasetSpec, folder: Path):
    """Instantiate the PyG dataset whose ``raw/`` and ``processed/`` live in ``folder``."""
    import torch_geometric.datasets as pygd

    root = str(folder.parent if spec.pyg_name else folder)
    if spec.pyg_class == "WikiCS":
        return pygd.WikiCS(root, is_undirected=True)
    return getattr(pygd, spec.pyg_class)(root, spec.pyg_name)


def processed_file(spec: NodeDatasetSpec, folder: Path) -> Path:
    """The processed file PyG writes for the dataset in ``folder``."""
    return folder / "processed" / ("data_undirected.pt" if spec.pyg_class == "WikiCS" else "data.pt")


def write_raw_check(spec: NodeDatasetSpec, folder: Path, report: dict[str, str]) -> dict[str, Any]:
    """Write ``folder/processed/raw_check.json`` for the build just made in ``folder``:
    per raw file its sha256 and how it was checked (``report``, from
    :func:`verify_raw_files`; ``"not a pickle"`` for the others), and the sha256 of
    the processed file. Returns the record."""
    processed = processed_file(spec, folder)
    record = {
        "format": RAW_CHECK_FORMAT,
        "raw": {f: {"sha256": sha256_file(folder / "raw" / f), "check": report.get(f, "not a pickle")}
                for f in spec.raw_files},
        "processed": {processed.name: sha256_file(processed)},
    }
    (processed.parent / RAW_CHECK_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return record


def read_raw_check(spec: NodeDatasetSpec, folder: Path) -> Optional[dict[str, Any]]:
    """The record in ``folder/processed/raw_check.json`` if it is one graphcl writes
    (format :data:`RAW_CHECK_FORMAT`, a sha256 for every raw file and for the
    processed file), else None."""
    path = processed_file(spec, folder).parent / RAW_CHECK_FILE
    try:
        if not path.is_file() or path.stat().st_size > _MAX_RAW_CHECK_BYTES:
            return None
        record = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None

    def digest(value: Any) -> bool:
        return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)

    if not (isinstance(record, dict) and record.get("format") == RAW_CHECK_FORMAT
            and isinstance(record.get("raw"), dict) and isinstance(record.get("processed"), dict)):
        return None
    raw = record["raw"]
    if not all(isinstance(raw.get(f), dict) and digest(raw[f].get("sha256")) for f in spec.raw_files):
        return None
    if not digest(record["processed"].get(processed_file(spec, folder).name)):
        return None
    return record


def processed_matches(spec: NodeDatasetSpec, folder: Path, raw: Optional[Path] = None) -> bool:
    """Whether ``folder/processed`` is graphcl's build of the raw files in ``raw``
    (default ``folder/raw``) as they are now: its ``raw_check.json`` (see
    :func:`read_raw_check`) records the sha256 of each raw file and of the
    processed file, and all of them match. Logs why a ``processed/`` folder that
    exists is not used."""
    processed = processed_file(spec, folder)
    if not processed.parent.exists():
        return False
    raw = folder / "raw" if raw is None else raw
    record = read_raw_check(spec, folder)
    if record is None:
        reason = f"no {RAW_CHECK_FILE} written by graphcl (format {RAW_CHECK_FORMAT})"
    elif not processed.is_file() or sha256_file(processed) != record["processed"][processed.name]:
        reason = f"{processed.name} differs from the sha256 in {RAW_CHECK_FILE}"
    else:
        changed = [f for f in spec.raw_files if not (raw / f).is_file()
                   or sha256_file(raw / f) != record["raw"][f]["sha256"]]
        if not changed:
            return True
        reason = f"raw file(s) {', '.join(changed)} in {raw} differ from the sha256 in {RAW_CHECK_FILE}"
    _log.warning("%s: not used (%s); building %s from the raw files instead", processed.parent,
                 reason, spec.name)
    return False


def verify_raw_files(spec: NodeDatasetSpec, raw: Path, shown_as: Optional[Path] = None) -> dict[str, str]:
    """Check the raw files in ``raw`` before PyG reads them; ``{file: how}``. Errors
    name the files as ``shown_as/<file>`` when given (``raw`` being a private copy).

    Planetoid's pickles go through :func:`graphcl.data.safe_pickle.check_planetoid_raw`
    (a :class:`DataFormatError` naming the file when refused). The other datasets'
    raw files are ``.npz`` (read by PyG with ``np.load``, pickle disabled) or JSON,
    which cannot run code: ``{}``.
    """
    if spec.pyg_class != "Planetoid":
        return {}
    report = check_planetoid_raw(raw, str(spec.pyg_name), shown_as=shown_as)
    _log.info("%s raw files: %s", spec.name, ", ".join(f"{k} {v}" for k, v in report.items()))
    return report


def _download_raw(spec: NodeDatasetSpec, raw: Path) -> None:
    """Fetch the raw files from PyG's source into ``raw`` (as PyG's ``download`` does),
    so that they can be checked before PyG processes them."""
    from torch_geometric.io import fs as pyg_fs

    raw.mkdir(parents=True, exist_ok=True)
    for f in spec.raw_files:
        pyg_fs.cp(f"{spec.url}/{f}", str(raw))


def _build(spec: NodeDatasetSpec, target: Path, source: Optional[Path]) -> None:
    """Process (downloading first when ``source`` is None) in a temp folder inside
    ``target``, record the raw and processed files' sha256 (:func:`write_raw_check`),
    then rename ``raw/`` (if new) and ``processed/`` into ``target``.
    Raises OSError when ``target`` is not writable."""
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target, prefix=".build-"))
    try:
        work = tmp / spec.relative
        if source is not None:
            (work / "raw").mkdir(parents=True)
            for f in spec.raw_files:
                shutil.copy2(source / "raw" / f, work / "raw" / f)
        elif spec.pyg_class == "Planetoid":  # fetched here, to be checked before PyG reads them
            _download_raw(spec, work / "raw")
        # the private copies are checked, so the files cannot change between check and use
        report = verify_raw_files(spec, work / "raw",
                                  source / "raw" if source is not None else None)
        _make_pyg(spec, work)
        write_raw_check(spec, work, report)
        for sub in ("raw", "processed"):
            if not (target / sub).exists():
                try:
                    os.rename(work / sub, target / sub)
                except OSError:  # a concurrent build won the race
                    if not (target / sub).exists():
                        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _writable(folder: Path) -> bool:
    """Whether ``folder`` (or its nearest existing ancestor) may be written. Permission
    bits are honoured even for root, so a data root marked read-only stays untouched."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return os.access(probe, os.W_OK) and bool(probe.stat().st_mode & 0o222)


def _materialize(spec: NodeDatasetSpec, folder: Optional[Path], download_to: Path) -> Path:
    """A folder with complete ``raw/`` and graphcl's ``processed/`` for the dataset:
    ``folder`` itself when its ``processed/`` matches its raw files; else, built
    there (or in ``download_to`` when downloading) when that folder is writable and
    holds no ``processed/``; else a cache folder (a foreign ``processed/`` is never
    touched)."""
    if folder is not None and processed_matches(spec, folder):
        return folder
    target = folder if folder is not None else download_to
    if not (target / "processed").exists() and _writable(target):
        try:
            _build(spec, target, folder)
            return target
        except OSError as err:
            if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
    cached = cache_root() / "pyg" / f"{spec.name}-{_fingerprint(spec, folder)}" / spec.relative
    raw = folder / "raw" if folder is not None else cached / "raw"
    if not processed_matches(spec, cached, raw):
        # graphcl's own cache: a stale build (or a copy of raw files that changed since) goes
        shutil.rmtree(cached / "processed", ignore_errors=True)
        if folder is not None:
            shutil.rmtree(cached / "raw", ignore_errors=True)
        source = folder if folder is not None else (
            cached if not NODE_FAMILY.missing(spec, cached) else None)
        _build(spec, cached, source)
    return cached


def _weights_only_reason(err: Exception) -> str:
    text = str(err)
    for marker in ("WeightsUnpickler error: ", "Trying to load "):
        if marker in text:
            text = text[text.index(marker) + len(marker):]
            break
    return f"{type(err).__name__}: {text.strip().splitlines()[0] if text.strip() else ''}"


def read_processed(spec: NodeDatasetSpec, folder: Path):
    """The ``Data`` in ``folder``'s processed file, read with ``torch.load(weights_only=True)``
    (tensors, plain containers and the PyG classes PyG allow-lists), never by PyG itself.

    The file is read once; its bytes must have the sha256 that graphcl recorded in
    ``processed/raw_check.json`` when it built them (:func:`read_raw_check`; the raw
    files are compared by :func:`processed_matches`, before). Raises
    :class:`DataFormatError` naming the file, and saying to delete the
    ``processed/`` folder to rebuild it, when the record is missing or differs, when
    the file needs anything beyond ``weights_only`` or is not PyG's
    ``(data dict, slices, Data)`` of one graph.
    """
    from torch_geometric.data import Data  # importing PyG registers its safe globals

    path = processed_file(spec, folder)
    fix = f"delete {path.parent} to rebuild it from {folder / 'raw'}"
    record = read_raw_check(spec, folder)
    try:
        content = path.read_bytes()
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read ({err}); {fix}") from None
    if record is None:
        raise DataFormatError(f"{path}: refused: not written by graphcl (no graphcl "
                              f"{RAW_CHECK_FILE} beside it); {fix}")
    if hashlib.sha256(content).hexdigest() != record["processed"][path.name]:
        raise DataFormatError(f"{path}: refused: its sha256 differs from the one graphcl "
                              f"recorded in {RAW_CHECK_FILE}; {fix}")
    try:
        out = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataFormatError(f"{path}: refused: not loadable with torch.load(weights_only=True) "
                              f"({_weights_only_reason(err)}); {fix}") from None
    if not isinstance(out, tuple) or len(out) not in (2, 3):
        raise DataFormatError(f"{path}: not a PyG processed file (expected a (data, slices[, "
                              f"class]) tuple, got {type(out).__name__}); {fix}")
    data, slices = out[0], out[1]
    if len(out) == 3 and out[2] is not Data:
        raise DataFormatError(f"{path}: holds a {getattr(out[2], '__name__', out[2])!r}, not a "
                              f"torch_geometric Data; {fix}")
    if slices is not None and not (isinstance(slices, dict) and all(
            isinstance(v, torch.Tensor) and v.numel() == 2 for v in slices.values())):
        raise DataFormatError(f"{path}: holds more than one graph; {fix}")
    if isinstance(data, dict):
        try:
            data = Data.from_dict(data)
        except Exception as err:
            raise DataFormatError(f"{path}: malformed data dict ({err}); {fix}") from None
    if not isinstance(data, Data):
        raise DataFormatError(f"{path}: holds a {type(data).__name__}, not a Data; {fix}")
    x, y, edges = (getattr(data, k, None) for k in ("x", "y", "edge_index"))
    if not (isinstance(x, torch.Tensor) and x.dim() == 2 and isinstance(y, torch.Tensor)
            and y.dim() == 1 and y.numel() == x.size(0) > 0 and not torch.is_floating_point(y)
            and isinstance(edges, torch.Tensor) and edges.dim() == 2 and edges.size(0) == 2
            and not torch.is_floating_point(edges)):
        raise DataFormatError(f"{path}: not a node dataset (needs x (N, d), integer y (N,) and "
                              f"integer edge_index (2, E)); {fix}")
    if edges.numel() and int(edges.min()) < 0 or y.numel() and int(y.min()) < 0:
        raise DataFormatError(f"{path}: negative node id or label; {fix}")
    return data


def _validate(spec: NodeDatasetSpec, data: Any) -> Any:
    if getattr(data, "x", None) is None or getattr(data, "y", None) is None:
        raise ValueError(f"node dataset {spec.name!r}: processed data has no x or y")
    if torch.is_floating_point(data.x) and torch.isnan(data.x).any():
        rows = torch.isnan(data.x).any(1).nonzero().reshape(-1)
        raise ValueError(f"node dataset {spec.name!r}: node features contain NaN in "
                         f"{rows.numel()} rows (first: {rows[:5].tolist()}); the raw files "
                         f"may be corrupt")
    if data.edge_index.numel() and int(data.edge_index.max()) >= data.num_nodes:
        raise ValueError(f"node dataset {spec.name!r}: edge_index refers to a missing node")
    return data


def load_node_dataset(name: str, root: Optional[str | os.PathLike[str]] = None,
                      download: bool = False):
    """Load a node dataset by name as a ``torch_geometric.data.Data``.

    Names: cora, citeseer, pubmed (Planetoid; public masks kept), amazon-photo,
    amazon-computers (Amazon), coauthor-cs, coauthor-physics (Coauthor; these
    four have no split masks), wikics (WikiCS, undirected; masks (N, 20) for
    train/val). ``download=True`` lets PyG fetch missing raw files from its
    source URL into ``<root>/pyg/<Class>/<Name>/raw`` (or the cache when the
    root is read-only). Raises :class:`FileNotFoundError` naming the raw files
    and the folders searched when offline and missing, ``ValueError`` on NaN
    features, and :class:`DataFormatError` (a ``ValueError``) naming the file for a
    refused raw or processed file (see the module docstring).
    """
    spec = NODE_FAMILY.spec(name)
    data = read_processed(spec, prepare_node_dataset(spec.name, root, download=download))
    data.num_classes = int(data.y.max()) + 1
    return _validate(spec, data)


def prepare_node_dataset(name: str, root: Optional[str | os.PathLike[str]] = None,
                         download: bool = False) -> Path:
    """The folder holding the dataset's complete ``raw/`` and ``processed/`` (the
    found folder, or its cache copy when read-only), processing (and, with
    ``download``, fetching) as needed. Raises FileNotFoundError when missing offline."""
    spec = NODE_FAMILY.spec(name)
    base = resolve_data_root(root)
    folder = NODE_FAMILY.locate(spec, base)
    if folder is None:
        cached = cache_root() / "pyg" / f"{spec.name}-download" / spec.relative
        if not NODE_FAMILY.missing(spec, cached) and processed_matches(spec, cached):
            return cached
        if not download:
            raise FileNotFoundError(NODE_FAMILY.missing_message(spec, base))
    return _materialize(spec, folder, NODE_FAMILY.candidates(spec, base)[0])
