"""Sequential recommenders (one file per method): SASRec, GRU4Rec, MCLRec."""
from graphcl.models.seq.base import SEQ_DEFAULTS, SequentialRecommender, full_softmax_ce
from graphcl.models.seq.gru4rec import GRU4Rec
from graphcl.models.seq.mclrec import MCLRec
from graphcl.models.seq.sasrec import SASRec
from graphcl.models.seq.sracl import SRACL

__all__ = ["SEQ_DEFAULTS", "GRU4Rec", "MCLRec", "SASRec", "SRACL", "SequentialRecommender", "full_softmax_ce"]
