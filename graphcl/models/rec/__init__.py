"""General recommenders (one file per method)."""
from graphcl.models.rec.base import Recommender, bpr_loss
from graphcl.models.rec.lightgcn import LightGCN
from graphcl.models.rec.lightgcl import LightGCL
from graphcl.models.rec.bm3 import BM3
from graphcl.models.rec.dccf import DCCF

__all__ = ["Recommender", "bpr_loss", "LightGCN", "LightGCL", "DCCF", "BM3"]
