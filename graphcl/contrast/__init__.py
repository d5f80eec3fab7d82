"""Contrastive pipelines: any views (lists of augmenters) x any encoder x any objective.

* :mod:`~graphcl.contrast.graph_view`: :class:`GraphView`, what a view operation transforms;
* :mod:`~graphcl.contrast.view_ops`: the operations by name (:data:`VIEW_OPS`);
* :mod:`~graphcl.contrast.views`: :class:`View`, a list of operations from config or objects;
* :mod:`~graphcl.contrast.encoders`: ``gcn``, ``mlp``, any PyG conv (``pyg``);
* :mod:`~graphcl.contrast.objectives`: ``infonce``, ``barlow_twins``, ``dgi``, ``bootstrap``;
* :mod:`~graphcl.contrast.pipeline`: :class:`Contrast`, the pipeline (a ``nn.Module``).

The node-level method ``contrast`` (:mod:`graphcl.models.node.contrast`) trains one from a
config: ``graphcl train contrast --dataset cora --config views.yaml``.
"""
from graphcl.contrast.encoders import ENCODERS, MLPEncoder, PyGEncoder, build_encoder
from graphcl.contrast.graph_view import GRAPH_KINDS, GraphView
from graphcl.contrast.objectives import (OBJECTIVES, BarlowTwinsObjective, BootstrapObjective, DGIObjective,
                                         InfoNCEObjective, Objective, build_objective)
from graphcl.contrast.pipeline import Contrast, build_projector
from graphcl.contrast.view_ops import (VIEW_OPS, CentralityEdgeDropOp, CentralityFeatureMaskOp, EdgeDropOp, FeatureMaskOp,
                                       FeatureShuffleOp, NodeDropOp, ViewOp, register_view_op)
from graphcl.contrast.views import View, parse_view_op

__all__ = ["Contrast", "GraphView", "GRAPH_KINDS", "View", "ViewOp", "VIEW_OPS", "register_view_op",
           "parse_view_op", "EdgeDropOp", "FeatureMaskOp", "NodeDropOp", "CentralityEdgeDropOp",
           "CentralityFeatureMaskOp", "FeatureShuffleOp", "DGIObjective", "BootstrapObjective",
           "ENCODERS", "build_encoder", "MLPEncoder", "PyGEncoder", "OBJECTIVES", "Objective",
           "InfoNCEObjective", "BarlowTwinsObjective", "build_objective", "build_projector"]
