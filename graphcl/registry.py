"""The method registry shared by the CLI, the experiments and the RecBole adapter.

Built-in methods are listed in :data:`BUILTIN_METHODS`, an explicit table from a
method name to the one module that defines (and registers) it. :func:`get_method`
imports only that module, so training LightGCN never imports the LLM stack of
GAugLLM or SRA-CL; :func:`list_methods` with a ``kind`` imports them all. A third
party registers its own :class:`~graphcl.method_spec.MethodSpec` with
:func:`register_method`.
"""
from __future__ import annotations

import importlib

from graphcl.method_spec import MethodSpec, UnknownMethodError

__all__ = ["BUILTIN_METHODS", "MethodSpec", "UnknownMethodError", "get_method", "list_methods",
           "register_method"]

#: method name -> the module that registers it (importing it calls :func:`register_method`)
BUILTIN_METHODS: dict[str, str] = {
    "lightgcn": "graphcl.models.rec.lightgcn",
    "lightgcl": "graphcl.models.rec.lightgcl",
    "dccf": "graphcl.models.rec.dccf",
    "bm3": "graphcl.models.rec.bm3",
    "contrast_rec": "graphcl.models.rec.contrast_rec",
    "sgl": "graphcl.models.rec.contrast_rec",
    "simgcl": "graphcl.models.rec.contrast_rec",
    "xsimgcl": "graphcl.models.rec.contrast_rec",
    "ncl": "graphcl.models.rec.ncl",
    "sasrec": "graphcl.models.seq.sasrec",
    "gru4rec": "graphcl.models.seq.gru4rec",
    "mclrec": "graphcl.models.seq.mclrec",
    "sracl": "graphcl.models.seq.sracl",
    "grace": "graphcl.models.node.grace",
    "contrast": "graphcl.models.node.contrast",
    "csgcl": "graphcl.models.node.csgcl",
    "scgc": "graphcl.models.node.scgc",
    "pamc": "graphcl.models.node.pamc",
    "meow": "graphcl.models.node.meow",
    "adameow": "graphcl.models.node.adameow",
    "gaugllm": "graphcl.gaugllm.model",
}

_REGISTERED: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` under ``spec.name`` (case-insensitive); a second, different spec of
    the same name is an error."""
    key = spec.name.lower()
    if key in _REGISTERED and _REGISTERED[key] is not spec:
        raise ValueError(f"method '{spec.name}' is already registered")
    _REGISTERED[key] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    """The spec of method ``name``, importing its module on first use."""
    key = name.lower()
    if key not in _REGISTERED and key in BUILTIN_METHODS:
        importlib.import_module(BUILTIN_METHODS[key])
    if key not in _REGISTERED:
        raise UnknownMethodError(f"unknown method '{name}'; available: {', '.join(list_methods())}")
    return _REGISTERED[key]


def list_methods(kind: str | None = None) -> list[str]:
    """Names of the known methods, sorted; with ``kind``, only those of that kind (this
    imports every built-in method to read its kind)."""
    names = set(BUILTIN_METHODS) | set(_REGISTERED)
    if kind is None:
        return sorted(names)
    return sorted(n for n in names if get_method(n).kind == kind)
