"""What a method is, as the registry knows it: :class:`MethodSpec`.

A leaf module (it imports nothing of graphcl), so any module may describe a method
without pulling in the rest of the library.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["MethodSpec", "UnknownMethodError", "DATA_KINDS", "DEFAULT_TASKS"]

#: the data a method trains on, by ``MethodSpec.kind`` when ``MethodSpec.data`` is empty
DATA_KINDS = {"rec": "interactions", "seq": "sequences", "node": "graph"}
#: the evaluation task (a name of :data:`graphcl.eval.tasks.TASKS`) of each kind of data,
#: when ``MethodSpec.task`` is empty
DEFAULT_TASKS = {"interactions": "ranking", "sequences": "sequential-ranking", "graph": "node-probe",
                 "hetero": "hetero-probe"}


@dataclass(frozen=True)
class MethodSpec:
    """A method: its builder ``build(dataset, config, device) -> model``, defaults and presets.

    name: the registry key (case-insensitive).
    kind: ``"rec"`` (general recommendation), ``"seq"`` (sequential) or ``"node"``.
    defaults: the full default configuration (every valid key).
    presets: per-dataset overrides of the defaults (the paper's settings), applied
        before any user config; keys must be valid config keys.
    data: what it trains on: ``"interactions"``, ``"sequences"``, ``"graph"`` (a PyG
        ``Data``), ``"hetero"`` (a HeCo-format ``HeteroData``); empty: from ``kind``.
    ranges: ranges of keys this method reads differently from
        :data:`graphcl.config_ranges.RANGES`.
    task: the evaluation task it is selected and tested by (see :mod:`graphcl.eval.tasks`);
        empty: the default task of its data (:data:`DEFAULT_TASKS`).
    """

    name: str
    kind: str
    build: Callable[..., Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    paper: str = ""
    data: str = ""
    ranges: dict[str, Any] = field(default_factory=dict)
    task: str = ""

    @property
    def data_kind(self) -> str:
        return self.data or DATA_KINDS.get(self.kind, "")

    @property
    def task_name(self) -> str:
        return self.task or DEFAULT_TASKS.get(self.data_kind, "")


class UnknownMethodError(KeyError):
    """No method of that name is registered (the message lists the known ones)."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])
