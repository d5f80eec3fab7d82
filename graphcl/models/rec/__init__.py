"""General recommenders (one file per method)."""
from graphcl.models.rec.base import Recommender, bpr_loss
from graphcl.models.rec.lightgcn import LightGCN
from graphcl.models.rec.lightgcl import LightGCL

__all__ = ["Recommender", "bpr_loss", "LightGCN"]
