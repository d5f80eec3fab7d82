"""Contrastive losses: the InfoNCE family (GRACE / CSGCL two-view loss, dense and
exact blockwise; in-batch InfoNCE)."""
from graphcl.losses.infonce import DENSE_MAX_NODES, grace_loss, info_nce
from graphcl.losses.weighted import (ClusterWeights, PairwiseWeightMLP, soft_weighted_info_nce,
                                     weighted_info_nce)

__all__ = ["DENSE_MAX_NODES", "grace_loss", "info_nce", "weighted_info_nce", "ClusterWeights",
           "soft_weighted_info_nce", "PairwiseWeightMLP"]
