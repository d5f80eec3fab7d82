"""Contrastive losses: the InfoNCE family (GRACE / CSGCL two-view loss, dense and
exact blockwise; in-batch InfoNCE)."""
from graphcl.losses.infonce import DENSE_MAX_NODES, grace_loss, info_nce

__all__ = ["DENSE_MAX_NODES", "grace_loss", "info_nce"]
from graphcl.losses.clustering import (kl_clustering_loss, student_t_assignment,  # noqa: E402
                                       student_t_log_assignment, target_distribution)
from graphcl.losses.meta_node import influence_graph, meta_node_loss, pairwise_neighbor_loss  # noqa: E402

__all__ += ["kl_clustering_loss", "student_t_assignment", "student_t_log_assignment", "target_distribution",
            "influence_graph", "meta_node_loss", "pairwise_neighbor_loss"]
