"""Graph augmenters: PyG ``BaseTransform`` subclasses with functional forms.

Every transform returns a new object (the input is never mutated), runs on the
input's device and takes ``seed=`` or ``generator=`` (see :mod:`graphcl.augment.base`).
GAugLLM's parts (prompt experts, edge modifier, gate) live in :mod:`graphcl.gaugllm`.
"""
from graphcl.lazy import lazy_exports

from .communal import (CommunalAttributeVoting, CommunalEdgeDrop, cav_drop_probs, ced_keep_probs,
                       communal_attribute_voting, communal_edge_drop)
from .compose import RandomChoice
from .community import CommunityStrength, community_strength, detect_communities
from .edges import EdgeDrop, degree_drop_weights, drop_edges, weighted_drop_probs
from .features import FeatureMask, mask_feature_columns
from .interactions import drop_interaction_nodes, drop_interactions
from .nodes import NodeDrop, drop_nodes
from .svd_view import (SVDFactors, SVDView, clear_svd_cache, normalized_adjacency, svd_cache_info,
                       svd_view_factors)
from .base import Augmenter
from .sequence import (DistinctPairViews, SequenceCrop, SequenceInsert, SequenceMask, SequenceReorder,
                       SequenceSubstitute, crop_sequences, distinct_pair_views, insert_sequences,
                       item_neighbors, mask_sequences, reorder_sequences, substitute_sequences)

__all__ = [
    "Augmenter", "RandomChoice",
    "EdgeDrop", "drop_edges", "degree_drop_weights", "weighted_drop_probs",
    "FeatureMask", "mask_feature_columns",
    "NodeDrop", "drop_nodes",
    "drop_interactions", "drop_interaction_nodes",
    "SVDView", "SVDFactors", "svd_view_factors", "svd_cache_info", "clear_svd_cache",
    "normalized_adjacency",
    "CommunityStrength", "detect_communities", "community_strength",
    "CommunalEdgeDrop", "communal_edge_drop", "ced_keep_probs",
    "CommunalAttributeVoting", "communal_attribute_voting", "cav_drop_probs",
    "SequenceCrop", "crop_sequences", "SequenceMask", "mask_sequences", "SequenceReorder",
    "reorder_sequences", "SequenceInsert", "insert_sequences", "SequenceSubstitute",
    "substitute_sequences", "item_neighbors", "DistinctPairViews", "distinct_pair_views",
    "GAugLLM",
]

# GAugLLM's LLM-driven transform, from its package (imported on first use: it needs the LLM stack)
__getattr__, __dir__ = lazy_exports(__name__, {"GAugLLM": "graphcl.gaugllm.augmenter"})
