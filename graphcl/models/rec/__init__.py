"""General recommenders (one file per method), imported on first use."""
from graphcl.lazy import lazy_exports

__all__ = ["Recommender", "bpr_loss", "LightGCN", "LightGCL", "DCCF", "BM3"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "Recommender": "graphcl.models.rec.base", "bpr_loss": "graphcl.models.rec.base",
    "LightGCN": "graphcl.models.rec.lightgcn", "LightGCL": "graphcl.models.rec.lightgcl",
    "DCCF": "graphcl.models.rec.dccf", "BM3": "graphcl.models.rec.bm3",
})
