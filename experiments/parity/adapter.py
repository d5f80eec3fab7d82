"""The adapter interface of the parity harness: what a method must say about its reference code.

An adapter module ``experiments/parity/adapters/<name>.py`` exposes ``ADAPTER``, an instance of a
subclass of :class:`Adapter`. The harness (:mod:`experiments.parity.harness`) does everything
else: copying the checkout, applying :class:`Patch` es, running both sides, measuring, resuming.
See ``experiments/parity/README.md`` for the results-file schema.
"""
from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Adapter", "CheckoutError", "Patch", "PatchError", "RunContext", "apply_patches",
           "load_adapter"]


class PatchError(RuntimeError):
    """A run-time patch did not match the checkout (wrong commit, or the code changed)."""


class CheckoutError(FileNotFoundError):
    """The reference checkout is missing or is not the expected repository."""


@dataclass(frozen=True)
class Patch:
    """Replace ``find`` by ``replace`` in ``file`` (relative to the checkout) exactly ``count``
    times (``count=0``: every occurrence, at least one); ``reason`` is one line for the report."""
    file: str
    find: str
    replace: str
    reason: str
    count: int = 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunContext:
    """One (side, seed) run as an adapter sees it."""
    dataset: str
    seed: int
    epochs: int
    workdir: Path
    checkout: Path
    data_root: Path
    python: str
    threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class Adapter:
    """Base class of a method adapter; subclasses set the attributes and override the methods."""

    name: str = ""
    method: str = ""
    reference_repo: str = ""
    #: a file that must exist in the checkout (identifies the repository)
    entry_file: str = ""
    task: str = "ranking"
    metrics: list[str] = ["recall@20", "ndcg@20"]
    #: dataset name -> adapter-specific settings
    datasets: dict[str, dict[str, Any]] = {}
    #: notes on protocol differences, copied into the results file
    protocol_notes: list[str] = []
    #: what was found comparing the two codes (file:line on both sides), copied into the results file
    findings: list[str] = []
    #: environment changes (not patches) the reference needs, as {"what", "reason"}
    environment: list[dict[str, str]] = []
    #: True: a run must report exactly ``epochs`` epoch records (no early stopping)
    fixed_epochs: bool = True
    #: evaluate both sides every this many epochs (and at the last one); node adapters raise it
    #: (one node probe per epoch costs more than the epoch)
    eval_every: int = 1

    def load_data(self, dataset: str, data_root: Path) -> tuple[Any, dict[str, Any]]:
        """graphcl's data for ``dataset`` and its description for the results file (source, the
        source files' sha256, sizes). Default: :func:`graphcl.data.load` of the graphcl name; an
        interaction dataset also gives its user/item/split counts."""
        import hashlib
        import warnings
        from graphcl.data import load
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. the cold-user note of fixed upstream splits
            data = load(str(self.datasets[dataset].get("graphcl_name", dataset)), root=str(data_root))
        source = Path(str(getattr(data, "source", "") or data_root))
        files = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else \
            ([source] if source.is_file() else [])
        desc: dict[str, Any] = {"source": str(source),
                                "files_sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}}
        if all(hasattr(data, a) for a in ("num_users", "num_items", "num_interactions")):
            desc.update({"num_users": data.num_users, "num_items": data.num_items,
                         **{s: data.num_interactions(s) for s in ("train", "valid", "test")}})
        return data, desc

    def hyper(self, dataset: str) -> dict[str, Any]:
        """The shared hyperparameters for ``dataset`` (in the reference's names)."""
        raise NotImplementedError

    def patches(self, ctx: RunContext) -> list[Patch]:
        """The run-time replacements the reference needs here."""
        return []

    def prepare_reference(self, ctx: RunContext, split: Any) -> None:
        """Write our split (an InteractionDataset or the adapter's own data) into ``ctx.workdir``."""
        raise NotImplementedError

    def reference_command(self, ctx: RunContext) -> list[str]:
        """The argv that runs the reference (cwd ``ctx.workdir``)."""
        raise NotImplementedError

    def reference_env(self, ctx: RunContext) -> dict[str, str]:
        """Extra environment variables for the reference process."""
        return {}

    def reference_paths(self, ctx: RunContext) -> list[Path]:
        """Folders put on the reference's ``PYTHONPATH`` before the repository root (e.g. shims)."""
        return []

    def parse_reference(self, ctx: RunContext, log: str) -> list[dict[str, Any]]:
        """Per-epoch records (``epoch``, ``train_seconds``, ``loss``, ``valid``, ``test``, ``own``)."""
        raise NotImplementedError

    def ours_dataset(self, ctx: RunContext) -> str:
        """graphcl's dataset name."""
        return str(self.datasets[ctx.dataset].get("graphcl_name", ctx.dataset))

    def ours_config(self, dataset: str) -> dict[str, Any]:
        """graphcl config overrides with the same hyperparameters (seed and epochs are set by
        the harness)."""
        raise NotImplementedError

    def check_checkout(self, checkout: Path) -> None:
        """Raise :class:`CheckoutError` naming what to fetch when ``checkout`` is not usable."""
        fetch = (f"get it with: git clone https://github.com/{self.reference_repo} {checkout} "
                 f"(or the fetch tool: fetch github:{self.reference_repo}, then "
                 f"git --git-dir=<that dir> archive HEAD <code files> | tar -x -C {checkout})")
        if not checkout.is_dir():
            raise CheckoutError(f"{self.name}: reference checkout {checkout} does not exist; {fetch}")
        if self.entry_file and not (checkout / self.entry_file).is_file():
            raise CheckoutError(f"{self.name}: {checkout} has no {self.entry_file}, so it is not a "
                                f"checkout of {self.reference_repo}; {fetch}")


def apply_patches(root: Path, patches: list[Patch]) -> list[dict[str, Any]]:
    """Apply ``patches`` in order to the files under ``root`` (a temporary copy); returns them as
    dicts with the number of replacements made. Raises :class:`PatchError` on a count mismatch."""
    done = []
    for p in patches:
        path = root / p.file
        if not path.is_file():
            raise PatchError(f"patch target {p.file} not found under {root} ({p.reason})")
        text = path.read_text(encoding="utf-8")
        found = text.count(p.find)
        if (p.count and found != p.count) or found == 0:
            raise PatchError(f"{p.file}: expected {p.count or '>= 1'} occurrence(s) of {p.find!r}, found "
                             f"{found}; is the checkout at the recorded commit? ({p.reason})")
        path.write_text(text.replace(p.find, p.replace), encoding="utf-8")
        done.append({**p.as_dict(), "replaced": found})
    return done


def load_adapter(name: str) -> Adapter:
    """Import ``experiments.parity.adapters.<name>`` and return its ``ADAPTER``."""
    try:
        module = importlib.import_module(f"experiments.parity.adapters.{name}")
    except ModuleNotFoundError as err:
        if err.name and err.name.endswith(name):
            raise ValueError(f"no parity adapter '{name}' (experiments/parity/adapters/{name}.py)") from None
        raise
    adapter = getattr(module, "ADAPTER", None)
    if not isinstance(adapter, Adapter):
        raise ValueError(f"experiments/parity/adapters/{name}.py defines no ADAPTER (an Adapter instance)")
    return adapter
