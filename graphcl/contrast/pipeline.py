"""The contrastive pipeline: views x encoder x (projector) x objective.

:class:`Contrast` draws each branch's view of the input graph (its list of view
operations, from one ``torch.Generator`` in order: view 1's operations, then view 2's),
encodes every view with the one shared encoder f, projects with the head g (none:
identity) and compares the branches' outputs with the objective:
``L = objective(g(f(t_1(G))), g(f(t_2(G))))``. Node i of every view is node i of G,
so rows pair up. The embeddings for evaluation are ``f(G)`` (no view, no head).

Python::

    from graphcl.contrast import Contrast
    model = Contrast(views=([{"edge_drop": {"p": 0.2}}, {"feature_mask": {"p": 0.3}}],
                            [{"edge_drop": {"p": 0.4}}, {"feature_mask": {"p": 0.4}}]),
                     encoder={"gcn": {"out": 128}}, projector={"mlp": {"hidden": 128}},
                     loss={"infonce": {"tau": 0.4}}, in_dim=data.num_features)
    loss = model(GraphView.of(data), generator)

Everything may also be given as objects (``View``/``ViewOp`` lists, an ``nn.Module``
encoder and head, an :class:`~graphcl.contrast.objectives.Objective`). Bad combinations
fail here, at build time: an operation without meaning on the graph kind, an objective
given the wrong number of views, an unknown name or parameter.
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, Sequence

import torch
from torch import nn

from graphcl.contrast.encoders import build_encoder
from graphcl.contrast.graph_view import GRAPH_KINDS, GraphView
from graphcl.contrast.objectives import build_objective
from graphcl.contrast.views import View, as_views
from graphcl.errors import ConfigError
from graphcl.nn.heads import ProjectionHead

__all__ = ["Contrast", "build_projector", "reset_parameters"]


def reset_parameters(module: nn.Module) -> None:
    """Fresh random weights for every submodule that can reset itself (``reset_parameters``)."""
    for sub in module.modules():
        if sub is not module and hasattr(sub, "reset_parameters"):
            sub.reset_parameters()


def build_projector(spec: Any, dim: int | None) -> nn.Module:
    """The projection head: ``None`` (identity), ``{mlp: {hidden: H}}`` (GRACE's
    ``dim -> H -> dim`` head with ELU, :class:`graphcl.nn.heads.ProjectionHead`) or a module."""
    if spec is None:
        return nn.Identity()
    if isinstance(spec, nn.Module):
        return spec
    if not (isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) == "mlp"):
        raise ConfigError(f"projector: expected null or {{mlp: {{hidden: H}}}}, got {spec!r}")
    params = dict(next(iter(spec.values())) or {})
    if set(params) - {"hidden"}:
        raise ConfigError(f"projector mlp takes (hidden); got {params!r}")
    if dim is None:
        raise ConfigError("projector mlp: the encoder's output width is unknown (an encoder module without "
                          "`out_dim`): give the projector as a module too")
    return ProjectionHead(int(dim), int(params.get("hidden", dim)))


class Contrast(nn.Module):
    """Two (or more, as the objective asks) views, a shared encoder, a head and an objective."""

    def __init__(self, views: Sequence[Any], encoder: Any, loss: Any, projector: Any = None,
                 in_dim: int | None = None, graph_kind: str = "node", total_steps: int | None = None) -> None:
        super().__init__()
        if graph_kind not in GRAPH_KINDS:
            raise ConfigError(f"graph_kind must be one of {', '.join(GRAPH_KINDS)}, got {graph_kind!r}")
        if isinstance(views, (str, dict, View)):
            views = [views]
        self.views: list[View] = as_views([v for v in views if v is not None])
        for view in self.views:
            view.check_kind(graph_kind)
        if not isinstance(encoder, nn.Module) and in_dim is None:
            raise ConfigError("an encoder given by config needs in_dim (the input feature width)")
        self.encoder = build_encoder(encoder, int(in_dim or 0))
        operator_ops = [op.name for view in self.views for op in view.ops if getattr(op, "sets_operator", False)]
        if operator_ops and "operator" not in inspect.signature(self.encoder.forward).parameters:
            raise ConfigError(f"{operator_ops[0]} replaces the graph's propagation by its own operator; the encoder "
                              f"{type(self.encoder).__name__} cannot take one (use the gcn encoder)")
        out_dim = getattr(self.encoder, "out_dim", None)
        self.projector = build_projector(projector, out_dim)
        head_dim = out_dim if isinstance(self.projector, (nn.Identity, ProjectionHead)) else None
        self.objective = build_objective(loss, head_dim, total_steps)
        if len(self.views) != self.objective.num_views:
            raise ConfigError(f"loss {self.objective.name} compares {self.objective.num_views} views, "
                              f"got {len(self.views)}")
        self.target_encoder: nn.Module | None = None
        if getattr(self.objective, "uses_target", False):
            self.target_encoder = copy.deepcopy(self.encoder)
            if self.objective.target_init == "reinit":
                reset_parameters(self.target_encoder)
            self.target_encoder.requires_grad_(False)
        self.graph_kind = graph_kind

    def prepare(self, graph: GraphView, run_seed: int = 0) -> None:
        """Per-graph precomputations of the view operations and the objective (once, before
        training); ``run_seed`` seeds what they draw once (e.g. community detection) where their
        own ``seed`` is None."""
        for view in self.views:
            view.prepare(graph, run_seed)
        # trainable parts of view operations (GAugLLM's expert gate), built by their prepare
        self.view_modules = nn.ModuleList([op.module for view in self.views for op in view.ops
                                           if isinstance(getattr(op, "module", None), nn.Module)])
        self.objective.run_seed = int(run_seed)
        self.objective.prepare(graph)

    @property
    def needs_text_augmentation(self) -> bool:
        """Whether a view operation reads the LLM augmentation of the graph's texts
        (``GraphView.extras["gaugllm"]``, :mod:`graphcl.contrast.gaugllm_ops`)."""
        return any(getattr(op, "needs_text_augmentation", False) for view in self.views for op in view.ops)

    def encode(self, view: GraphView, encoder: nn.Module | None = None) -> torch.Tensor:
        """The encoder (default: the online one) on a view; a view with a propagation
        ``operator`` (the SVD view) passes it on."""
        encoder = self.encoder if encoder is None else encoder
        if view.operator is not None:
            return encoder(view.x, view.edge_index, view.edge_weight, operator=view.operator)
        return encoder(view.x, view.edge_index, view.edge_weight)

    def forward(self, graph: GraphView, generator: torch.Generator | None = None) -> torch.Tensor:
        """The objective on the views of ``graph`` drawn from ``generator``."""
        drawn = [view(graph, generator) for view in self.views]
        online = [self.projector(self.encode(v)) for v in drawn]
        if self.target_encoder is None:
            return self.objective(*online)
        self.objective.update_target(self.encoder, self.target_encoder)
        with torch.no_grad():
            target = [self.encode(v, self.target_encoder) for v in drawn]
        return self.objective(*online, *target)

    @torch.no_grad()
    def embed(self, graph: GraphView) -> torch.Tensor:
        """f(G): the encoder on the input graph."""
        return self.encode(graph)

    def config(self) -> dict[str, Any]:
        """The views and objective as config entries (encoder and head are modules)."""
        return {**{f"view{i + 1}": v.config() for i, v in enumerate(self.views)},
                "loss": {self.objective.name: self.objective.params()}}
