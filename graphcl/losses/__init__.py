"""Contrastive losses: the InfoNCE family (GRACE / CSGCL two-view loss, dense and
exact blockwise; in-batch InfoNCE; NT-Xent over two view batches)."""
from graphcl.losses.infonce import DENSE_MAX_NODES, grace_loss, info_nce
from graphcl.losses.ntxent import nt_xent, nt_xent_scores

__all__ = ["DENSE_MAX_NODES", "grace_loss", "info_nce", "nt_xent", "nt_xent_scores"]
