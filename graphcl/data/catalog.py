"""The dataset catalog: what every family of named datasets shares, written once.

A family (recommendation and sequence files, PyG node graphs, HeCo heterogeneous graphs,
text-attributed graphs) is a :class:`DatasetFamily`. It declares its specs (each with
``name``, ``description`` and ``licence``), where a dataset may lie under the data root
(:meth:`~DatasetFamily.candidates`), what a place lacks (:meth:`~DatasetFamily.missing`),
the error for a dataset not found (:meth:`~DatasetFamily.missing_message`), how to fetch
it (:meth:`~DatasetFamily.fetch`) and how to read it (:meth:`~DatasetFamily.read`). Name
lookup, locating, the options check, download-unless-found, loading and the description
that ``graphcl datasets`` prints are here, once. :mod:`graphcl.data.named` holds the
ordered list of families (the front door: ``load``, ``download``, ``describe_datasets``).

Imports nothing of :mod:`graphcl.data` but :mod:`graphcl.data.root`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Mapping

from .root import DatasetNotFoundError

__all__ = ["DatasetFamily", "check_options"]


def check_options(dataset: str, options: Mapping[str, Any], valid: Mapping[str, Any]) -> dict[str, Any]:
    """``valid`` (the options and their defaults) updated with ``options``; a ``ValueError``
    naming the dataset and the valid options for an unknown key."""
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for dataset "
                         f"{dataset!r}; valid options: {', '.join(sorted(valid)) or '(none)'}")
    return {**valid, **options}


class DatasetFamily(ABC):
    """A family of named datasets; subclasses declare, this class does the mechanics."""

    #: the ``kind`` that :meth:`describe` reports ("recommendation", "node", ...)
    kind: str = "dataset"
    #: how an unknown name is called in :meth:`spec`'s error ("node dataset", ...)
    noun: str = "dataset"

    @property
    @abstractmethod
    def specs(self) -> Mapping[str, Any]:
        """Name (lower case) -> spec."""

    @abstractmethod
    def candidates(self, spec: Any, root: Path) -> list[Path]:
        """The places under ``root`` where the dataset may lie, in search order."""

    @abstractmethod
    def missing(self, spec: Any, place: Path) -> list[str]:
        """What ``place`` lacks of the dataset (empty: the dataset is there)."""

    @abstractmethod
    def missing_message(self, spec: Any, root: Path) -> str:
        """The error text for a dataset not found under ``root``: files, folders, sources."""

    @abstractmethod
    def fetch(self, spec: Any, root: Path) -> Path:
        """Download the dataset under ``root`` (checked, atomic) and return its place."""

    @abstractmethod
    def read(self, spec: Any, root: Path, download: bool, options: dict[str, Any]) -> Any:
        """The dataset object, ``options`` already checked (:meth:`options`)."""

    # ------------------------------------------------------------------ hooks
    def options(self, spec: Any) -> Mapping[str, Any]:
        """The load options of ``spec`` and their defaults (default: none)."""
        return {}

    def searched(self, spec: Any, root: Path) -> list[Path]:
        """The places named in a "not found" reason (default: the candidates)."""
        return self.candidates(spec, root)

    def found_note(self, spec: Any, place: Path) -> str:
        """Appended to the found place by :meth:`describe` (default: nothing)."""
        return ""

    def folder(self, place: Path) -> Path:
        """The folder :meth:`download` returns for a place (default: the place itself)."""
        return place

    # -------------------------------------------------------- written once
    def spec(self, name: str) -> Any:
        """The spec of ``name``; :class:`DatasetNotFoundError` listing the family's names."""
        spec = self.specs.get(str(name).lower())
        if spec is None:
            raise DatasetNotFoundError(f"unknown {self.noun} {name!r}; known: {', '.join(sorted(self.specs))}")
        return spec

    def locate(self, spec: Any, root: Path) -> Path | None:
        """The first candidate that lacks nothing, else None."""
        return next((c for c in self.candidates(spec, root) if not self.missing(spec, c)), None)

    def download(self, spec: Any, root: Path, force: bool = False) -> Path:
        """The dataset's folder under ``root``: where it is found, else (or with ``force``) fetched."""
        found = self.locate(spec, root)
        return self.folder(found if found is not None and not force else self.fetch(spec, root))

    def load(self, spec: Any, root: Path, download: bool, options: Mapping[str, Any]) -> Any:
        """Check ``options`` against :meth:`options`, then :meth:`read`."""
        return self.read(spec, root, download, check_options(spec.name, options, self.options(spec)))

    def describe(self, root: Path) -> list[dict[str, Any]]:
        """One dict per dataset: ``name``, ``description``, ``licence``, ``kind``, ``found``,
        and ``path`` (found) or ``reason`` (what is missing and where it was looked for)."""
        out = []
        for spec in self.specs.values():
            entry: dict[str, Any] = {"name": spec.name, "description": spec.description,
                                     "licence": spec.licence, "kind": self.kind}
            place = self.locate(spec, root)
            entry["found"] = place is not None
            if place is not None:
                entry["path"] = str(place) + self.found_note(spec, place)
            else:
                missing = self.missing(spec, self.candidates(spec, root)[0])
                entry["reason"] = (f"{', '.join(missing)} not found; searched "
                                   + ", ".join(str(p) for p in self.searched(spec, root)))
            out.append(entry)
        return out
