"""A contrastive branch's view: an ordered list of view operations, from config or objects.

In a config a view is a list whose items are an operation's name alone or a one-key
mapping of the name to its parameters, e.g. (YAML)
``view1: [edge_drop: {p: 0.2}, feature_mask: {p: 0.3}]``; an empty list is the
input graph unchanged. In Python the items may also be :class:`ViewOp` objects.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import torch

from graphcl.contrast.graph_view import GraphView
from graphcl.contrast.named import build_named
from graphcl.contrast.view_ops import VIEW_OPS, ViewOp
from graphcl.errors import ConfigError

__all__ = ["View", "parse_view_op", "as_views"]


def parse_view_op(item: Any, where: str = "view") -> ViewOp:
    """One view operation from a config item (name, ``{name: {params}}``) or a :class:`ViewOp`."""
    if isinstance(item, ViewOp):
        return item
    return build_named(item, dict(sorted(VIEW_OPS.items())), where, "view operation")


class View:
    """Operations applied in order, each drawing from the step's generator."""

    def __init__(self, ops: Iterable[Any] = (), name: str = "view") -> None:
        if isinstance(ops, (str, dict, ViewOp)):
            ops = [ops]
        if not isinstance(ops, Iterable):
            raise ConfigError(f"{name}: a view is a list of operations, got {ops!r}")
        self.name = name
        self.ops: list[ViewOp] = [parse_view_op(item, name) for item in ops]

    def check_kind(self, kind: str) -> None:
        """A clear error for an operation that has no meaning on graphs of ``kind``."""
        for op in self.ops:
            why = op.check_graph_kind(kind)
            if why is not None:
                raise ConfigError(f"{self.name}: {why}")

    def prepare(self, view: GraphView, run_seed: int = 0) -> None:
        """Each operation's precomputations on the input graph; ``run_seed``: the run's seed."""
        for op in self.ops:
            op.run_seed = int(run_seed)
            op.prepare(view)

    def __call__(self, view: GraphView, generator: torch.Generator | None = None) -> GraphView:
        for op in self.ops:
            view = op(view, generator)
        return view

    def config(self) -> list[dict[str, Any]]:
        """The view as a config list (``{name: params}`` per operation)."""
        return [{op.name: op.params()} for op in self.ops]

    def __len__(self) -> int:
        return len(self.ops)

    def __repr__(self) -> str:
        return f"View({', '.join(map(repr, self.ops))})"


def as_views(views: Sequence[Any]) -> list[View]:
    """Views from a sequence of View objects or config lists (named view1, view2, ...)."""
    return [v if isinstance(v, View) else View(v, name=f"view{i + 1}") for i, v in enumerate(views)]
