"""Contrastive losses: the InfoNCE family (GRACE / CSGCL two-view loss, dense and
exact blockwise; in-batch InfoNCE; NT-Xent over two view batches; MEOW's
weighted InfoNCE with hard cluster weights and AdaMEOW's soft weights, blockwise),
and the clustering losses of SCGC / PamC (Student-t assignments, KL to the target
distribution, pairwise neighbour loss, meta-node loss)."""
from graphcl.losses.clustering import (kl_clustering_loss, student_t_assignment,
                                       student_t_log_assignment, target_distribution)
from graphcl.losses.infonce import DENSE_MAX_NODES, grace_loss, info_nce
from graphcl.losses.meta_node import influence_graph, meta_node_loss, pairwise_neighbor_loss
from graphcl.losses.ntxent import nt_xent, nt_xent_scores
from graphcl.losses.soft_weighted import PairwiseWeightMLP, soft_weighted_info_nce
from graphcl.losses.weighted import ClusterWeights, weighted_info_nce

__all__ = ["DENSE_MAX_NODES", "grace_loss", "info_nce", "nt_xent", "nt_xent_scores",
           "kl_clustering_loss", "student_t_assignment", "student_t_log_assignment", "target_distribution",
           "influence_graph", "meta_node_loss", "pairwise_neighbor_loss",
           "weighted_info_nce", "ClusterWeights", "soft_weighted_info_nce", "PairwiseWeightMLP"]
