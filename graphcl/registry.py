"""The method registry shared by the CLI, the experiments and the RecBole adapter.

A method registers a builder ``build(dataset, config, device) -> model`` and its
default configuration. Look methods up with :func:`get_method`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class MethodSpec:
    name: str
    kind: str  # "rec" (general recommendation), "seq", "node"
    build: Callable[..., Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    # per-dataset overrides of the defaults (the paper's settings), applied
    # before any user config; keys must be valid config keys
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    paper: str = ""
    # the data it trains on: "interactions" (rec), "sequences" (seq), "graph" (node: a PyG Data),
    # "hetero" (a HeteroData of the HeCo format); empty: derived from ``kind``
    data: str = ""
    # ranges of keys this method reads differently from graphcl.config_ranges.RANGES
    ranges: dict[str, Any] = field(default_factory=dict)


    @property
    def data_kind(self) -> str:
        return self.data or {"rec": "interactions", "seq": "sequences", "node": "graph"}.get(self.kind, "")


class UnknownMethodError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


_REGISTRY: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    key = spec.name.lower()
    if key in _REGISTRY and _REGISTRY[key] is not spec:
        raise ValueError(f"method '{spec.name}' is already registered")
    _REGISTRY[key] = spec
    return spec


def _ensure_loaded() -> None:
    import graphcl.models  # noqa: F401  (registers the built-in methods)


def get_method(name: str) -> MethodSpec:
    _ensure_loaded()
    key = name.lower()
    if key not in _REGISTRY:
        raise UnknownMethodError(f"unknown method '{name}'; available: {', '.join(list_methods())}")
    return _REGISTRY[key]


def list_methods(kind: str | None = None) -> list[str]:
    _ensure_loaded()
    return sorted(n for n, s in _REGISTRY.items() if kind is None or s.kind == kind)
