"""Sequential recommenders (one file per method): SASRec, GRU4Rec, MCLRec, SRA-CL,
imported on first use."""
from graphcl.lazy import lazy_exports

__all__ = ["SEQ_DEFAULTS", "GRU4Rec", "MCLRec", "SASRec", "SRACL", "SequentialRecommender", "full_softmax_ce"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "SEQ_DEFAULTS": "graphcl.models.seq.base", "SequentialRecommender": "graphcl.models.seq.base",
    "full_softmax_ce": "graphcl.models.seq.base", "GRU4Rec": "graphcl.models.seq.gru4rec",
    "MCLRec": "graphcl.models.seq.mclrec", "SASRec": "graphcl.models.seq.sasrec",
    "SRACL": "graphcl.models.seq.sracl",
})
