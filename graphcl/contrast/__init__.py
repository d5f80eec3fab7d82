"""Contrastive pipelines: any views (lists of augmenters) x any encoder x any objective.

* :mod:`~graphcl.contrast.graph_view`: :class:`GraphView`, what a view operation transforms;
* :mod:`~graphcl.contrast.interaction_view`: :class:`InteractionView`, the same on a user-item graph;
* :mod:`~graphcl.contrast.interaction_ops`: ``layer_edge_drop`` (SGL-RW), ``embedding_noise`` (SimGCL);
* :mod:`~graphcl.contrast.community_ops`: ``communal_edge_drop`` (CSGCL's CED, node and user-item graphs),
  ``communal_attribute_voting`` (CAV);
* :mod:`~graphcl.contrast.svd_ops`: ``svd_view`` (LightGCL's SVD view, user-item graphs);
* :mod:`~graphcl.contrast.gaugllm_ops`: ``gaugllm_features``, ``gaugllm_edge_edits`` (GAugLLM's LLM
  views, node graphs with texts);
* :mod:`~graphcl.contrast.team_up`: ``team_up``, CSGCL's community-strength InfoNCE;
* :mod:`~graphcl.contrast.propagation`: ``lightgcn``, the interaction-graph encoder;
* :mod:`~graphcl.contrast.rec_objectives`: ``infonce`` over a batch's users and items, ``all_infonce``
  (LightGCL's, every user and item a negative);
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
from graphcl.contrast.interaction_view import InteractionView
from graphcl.contrast.objectives import (OBJECTIVES, BarlowTwinsObjective, BootstrapObjective, DGIObjective,
                                         InfoNCEObjective, Objective, build_objective, register_objective)
from graphcl.contrast.pipeline import Contrast, build_projector
from graphcl.contrast.view_ops import (VIEW_OPS, CentralityEdgeDropOp, CentralityFeatureMaskOp, EdgeDropOp, FeatureMaskOp,
                                       FeatureShuffleOp, NodeDropOp, ViewOp, register_view_op)
from graphcl.contrast.views import View, parse_view_op
from graphcl.contrast.interaction_ops import EmbeddingNoiseOp, LayerEdgeDropOp
from graphcl.contrast.community_ops import (CommunalAttributeVotingOp, CommunalEdgeDropOp, CommunityStructure,
                                            community_structure)
from graphcl.contrast.team_up import TeamUpObjective
from graphcl.contrast.svd_ops import SVDViewOp
from graphcl.contrast.gaugllm_ops import GAugLLMEdgeEditsOp, GAugLLMFeaturesOp
from graphcl.contrast.propagation import LightGCNPropagation
from graphcl.contrast.rec_objectives import AllNegativesInfoNCE, InteractionInfoNCE, batch_infonce

__all__ = ["Contrast", "GraphView", "InteractionView", "LayerEdgeDropOp", "EmbeddingNoiseOp", "CommunalEdgeDropOp",
           "CommunalAttributeVotingOp", "CommunityStructure", "community_structure", "TeamUpObjective",
           "register_objective", "SVDViewOp", "GAugLLMFeaturesOp", "GAugLLMEdgeEditsOp", "AllNegativesInfoNCE",
           "LightGCNPropagation", "InteractionInfoNCE", "batch_infonce", "GRAPH_KINDS", "View", "ViewOp", "VIEW_OPS", "register_view_op",
           "parse_view_op", "EdgeDropOp", "FeatureMaskOp", "NodeDropOp", "CentralityEdgeDropOp",
           "CentralityFeatureMaskOp", "FeatureShuffleOp", "DGIObjective", "BootstrapObjective",
           "ENCODERS", "build_encoder", "MLPEncoder", "PyGEncoder", "OBJECTIVES", "Objective",
           "InfoNCEObjective", "BarlowTwinsObjective", "build_objective", "build_projector"]
